//! The bad-input table: one row per bad input or fault, each with its name, the call and
//! the outcome it must have, run on a thread of its own under a time limit, so that a
//! panic, a hang or a wrong outcome fails with the row's name and its class.
//!
//! A row also records how it failed before the fix that made it pass (`before`), so the
//! count in `docs/bad-inputs.md` is produced from the rows themselves by
//! `BAD_INPUTS_WRITE=1 cargo test --test stress bad_inputs::summary`.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

/// How long one row may run before it is reported as a hang: every timed call in a row
/// uses timeouts of milliseconds, so a row still running after this broke its bound.
pub const ROW_LIMIT: Duration = Duration::from_secs(20);

/// What a row expects: the outcome class the table counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expect {
    /// A typed error whose message says what to do.
    TypedError,
    /// The documented value or behaviour.
    Documented,
    /// A wait that returns within its bound.
    Bounded,
    /// A user callback's panic caught and counted.
    CaughtPanic,
}

impl Expect {
    const ALL: [Expect; 4] = [Expect::TypedError, Expect::Documented, Expect::Bounded, Expect::CaughtPanic];

    fn label(self) -> &'static str {
        match self {
            Expect::TypedError => "typed error",
            Expect::Documented => "documented result",
            Expect::Bounded => "bounded wait",
            Expect::CaughtPanic => "caught panic",
        }
    }
}

/// How a row fails (or failed before its fix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// The call panicked on the caller's thread.
    Panic,
    /// The process aborted (a row is printed before it runs, so the last name printed is
    /// the culprit).
    Abort,
    /// The call did not return within its bound, or [`ROW_LIMIT`].
    Hang,
    /// The bad input was accepted, or something was lost, without an error.
    SilentAcceptance,
    /// An error came back, but not the typed one, or its message does not say what to do.
    UnclearError,
}

impl Class {
    const ALL: [Class; 5] = [Class::Panic, Class::Abort, Class::Hang, Class::SilentAcceptance, Class::UnclearError];

    fn label(self) -> &'static str {
        match self {
            Class::Panic => "panic",
            Class::Abort => "abort",
            Class::Hang => "hang",
            Class::SilentAcceptance => "silent acceptance",
            Class::UnclearError => "unclear error",
        }
    }
}

/// A row's outcome that differs from what it expects.
#[derive(Debug)]
pub struct Miss {
    class: Class,
    detail: String,
}

impl Miss {
    /// The bad input was accepted, or a count is off.
    pub fn silent(detail: impl Into<String>) -> Miss {
        Miss { class: Class::SilentAcceptance, detail: detail.into() }
    }

    /// The wrong error, or a message that does not say what to do.
    pub fn unclear(detail: impl Into<String>) -> Miss {
        Miss { class: Class::UnclearError, detail: detail.into() }
    }

    /// A child process that died of a signal.
    pub fn abort(detail: impl Into<String>) -> Miss {
        Miss { class: Class::Abort, detail: detail.into() }
    }

    /// A wait that outlived its bound (measured by the row itself).
    pub fn hang(detail: impl Into<String>) -> Miss {
        Miss { class: Class::Hang, detail: detail.into() }
    }
}

/// What a row returns.
pub type Check = Result<(), Miss>;

/// One bad input or fault.
pub struct Row {
    /// What is fed to what.
    pub name: &'static str,
    /// The outcome it must have.
    pub expect: Expect,
    /// How it failed before its fix, and the fix (`None`: it passed as first written).
    pub before: Option<(Class, &'static str)>,
    /// The call and the check of its outcome.
    pub run: fn() -> Check,
}

/// A row that passed as first written.
pub fn row(name: &'static str, expect: Expect, run: fn() -> Check) -> Row {
    Row { name, expect, before: None, run }
}

/// A row that failed as `class` until `fix`.
pub fn fixed(name: &'static str, expect: Expect, class: Class, fix: &'static str, run: fn() -> Check) -> Row {
    Row { name, expect, before: Some((class, fix)), run }
}

/// Passes when `condition` holds; otherwise a silent acceptance described by `detail`.
pub fn ensure(condition: bool, detail: impl FnOnce() -> String) -> Check {
    if condition {
        Ok(())
    } else {
        Err(Miss::silent(detail()))
    }
}

/// Passes when `got == want`.
pub fn same<T: PartialEq + fmt::Debug>(got: T, want: T) -> Check {
    ensure(got == want, || format!("got {got:?}, expected {want:?}"))
}

/// Passes when `result` is an error `is_expected` accepts whose message contains `hint`
/// (the part that says what to do).
pub fn refused<T: fmt::Debug, E: fmt::Display + fmt::Debug>(
    result: Result<T, E>,
    is_expected: impl FnOnce(&E) -> bool,
    hint: &str,
) -> Check {
    match result {
        Ok(value) => Err(Miss::silent(format!("accepted: {value:?}"))),
        Err(error) if !is_expected(&error) => Err(Miss::unclear(format!("wrong error: {error:?}"))),
        Err(error) if !error.to_string().contains(hint) => {
            Err(Miss::unclear(format!("the message {:?} does not say {hint:?}", error.to_string())))
        }
        Err(_) => Ok(()),
    }
}

/// Runs `call` on a thread of its own and gives up after `limit`: a hang is a miss named
/// `what`, and the thread is left behind.
pub fn within<T: Send + 'static>(
    what: &str,
    limit: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Miss> {
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name(what.to_owned())
        .spawn(move || {
            let _ = sender.send(catch_unwind(AssertUnwindSafe(call)));
        })
        .map_err(|error| Miss::unclear(format!("cannot start a thread: {error}")))?;
    match receiver.recv_timeout(limit) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(payload)) => Err(Miss { class: Class::Panic, detail: panic_message(payload.as_ref()) }),
        Err(_) => Err(Miss::hang(format!("{what} did not return within {limit:?}"))),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".to_owned())
}

/// Runs every row of `area`, each under [`ROW_LIMIT`], and fails naming every row that
/// missed, with its class.
pub fn run_rows(area: &str, rows: Vec<Row>) {
    let mut misses = Vec::new();
    for row in rows {
        eprintln!("bad input: {area}: {}", row.name);
        let outcome = within(row.name, ROW_LIMIT, row.run).and_then(|check| check);
        if let Err(miss) = outcome {
            misses.push(format!("  {} [{}]: {}", row.name, miss.class.label(), miss.detail));
        }
    }
    assert!(misses.is_empty(), "{area}: {} row(s) missed:\n{}", misses.len(), misses.join("\n"));
}

/// The table of `areas` (name and rows) as Markdown: rows per area and outcome, failures
/// before the fixes by class, and the fixes.
pub fn summary(areas: &[(&str, Vec<Row>)]) -> String {
    let mut out = String::new();
    let total: usize = areas.iter().map(|(_, rows)| rows.len()).sum();
    out.push_str(&format!("{total} rows in `stress/bad_inputs/`.\n\n"));
    out.push_str("| area | rows |");
    for expect in Expect::ALL {
        out.push_str(&format!(" {} |", expect.label()));
    }
    for class in Class::ALL {
        out.push_str(&format!(" failed before fix: {} |", class.label()));
    }
    out.push('\n');
    out.push_str(&"|---".repeat(2 + Expect::ALL.len() + Class::ALL.len()));
    out.push_str("|\n");
    let mut fixes = Vec::new();
    let count = |rows: &[&Row], keep: &dyn Fn(&Row) -> bool| rows.iter().filter(|row| keep(row)).count();
    let all: Vec<&Row> = areas.iter().flat_map(|(_, rows)| rows.iter()).collect();
    let mut lines: Vec<(&str, Vec<&Row>)> = areas.iter().map(|(area, rows)| (*area, rows.iter().collect())).collect();
    lines.push(("**total**", all));
    for (area, rows) in &lines {
        out.push_str(&format!("| {area} | {} |", rows.len()));
        for expect in Expect::ALL {
            out.push_str(&format!(" {} |", count(rows, &|row| row.expect == expect)));
        }
        for class in Class::ALL {
            out.push_str(&format!(" {} |", count(rows, &|row| row.before.is_some_and(|(c, _)| c == class))));
        }
        out.push('\n');
    }
    for (area, rows) in areas {
        for row in rows {
            if let Some((class, fix)) = row.before {
                fixes.push(format!("| {area} | {} | {} | {fix} |", row.name, class.label()));
            }
        }
    }
    out.push_str("\nRows that failed before their fix:\n\n| area | row | failed as | fix |\n|---|---|---|---|\n");
    out.push_str(&fixes.join("\n"));
    out.push('\n');
    out
}
