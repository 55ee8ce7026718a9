//! Failure kinds as data: every detector records the kind of what it found, where it finds
//! it, in the run's [`CheckContext`]; the runners read it back instead of guessing a kind
//! from the text of a panic.
//!
//! Two sources record a kind:
//!
//! - racekit's own detectors (lock order, [`RaceCell`](crate::sync::RaceCell), leaked
//!   tasks, a facade call that cannot run on this backend) fail through [`fail`], which
//!   records the kind with the message before it panics;
//! - the checker (loom, shuttle, or the tokio runtime a model reaches) reports a deadlock, an
//!   exceeded step bound or a setup mistake by panicking in its own code. A process-wide
//!   panic hook ([`install`]) records those: only a panic whose source location lies in the
//!   checker's own crate is attributed to the checker, so a user's `panic!("deadlock")` is
//!   never mistaken for one. (tokio's "no runtime" panic is the one exception, see
//!   [`TOKIO_OUTSIDE_A_RUNTIME`].)
//!
//! Every other panic of a run is the body's: [`FailureKind::Panic`]. (Hangs are timed by the
//! std runner itself, which knows their kind.)
//!
//! # Invariants
//!
//! - A detection is looked up by the exact message of the panic that became the run's
//!   failure, so a detector's panic that the program caught and survived (a worker running
//!   handlers) lends its kind to nothing else.
//! - Recording needs the check's context on the panicking thread: under loom and shuttle
//!   every model thread has it; on real threads every facade thread does. A panic on a
//!   thread outside the check (a foreign tokio runtime's worker) is a plain panic.

use super::context::{self, CheckContext};
use super::FailureKind;
use std::panic::{Location, PanicHookInfo};

/// One failure a detector or the checker recorded in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Detection {
    pub kind: FailureKind,
    pub message: String,
    /// Raised by the checker itself (recorded by the panic hook), not by a racekit detector.
    pub by_checker: bool,
}

/// Fails the run with `message`, recording `kind` for it first: how racekit's detectors
/// report what they found.
#[track_caller]
pub(crate) fn fail(kind: FailureKind, message: String) -> ! {
    if let Some(context) = context::current() {
        context.record_detection(Detection { kind, message: message.clone(), by_checker: false });
    }
    std::panic::panic_any(message)
}

/// The kind of the run's failure whose panic message is `message`: what its detector
/// recorded, or [`FailureKind::Panic`] when no detector raised it.
pub(crate) fn kind_of(context: &CheckContext, message: &str) -> FailureKind {
    context.detected_kind(message).unwrap_or(FailureKind::Panic)
}

/// Whether the panic with `message` was the checker ending the execution (a deadlock or an
/// exceeded step bound it found), as the panic hook recorded it in the current check.
#[cfg(racekit_loom)]
pub(crate) fn raised_by_the_checker_in_this_run(message: &str) -> bool {
    context::current().is_some_and(|context| context.detected_by_checker(message))
}

/// Whether the panic with `message` is a failure one of racekit's detectors (lock order,
/// race cells, leaked tasks, setup) raised in the current check. Such a panic is the bug the
/// check looks for: code that catches the panics of user callbacks lets it through, so a
/// pattern's worker cannot turn a detected deadlock or data race into a counted error.
pub(crate) fn raised_by_a_detector_in_this_run(message: &str) -> bool {
    context::current().is_some_and(|context| context.detected_kind(message).is_some())
}

/// A failure the checker (or the runtime a model reaches) reports by panicking in its own
/// code: the crates that raise it, a fragment of its message, and its kind.
struct CheckerFailure {
    crates: &'static [&'static str],
    fragment: &'static str,
    kind: FailureKind,
}

const LOOM: &[&str] = &["loom"];
const SHUTTLE: &[&str] = &["shuttle-engine", "shuttle"];

/// What the checkers raise, as their sources spell it (loom 0.7, shuttle 0.9, tokio 1).
const CHECKER_FAILURES: &[CheckerFailure] = &[
    CheckerFailure { crates: LOOM, fragment: "deadlock; threads =", kind: FailureKind::Deadlock },
    CheckerFailure {
        crates: LOOM,
        fragment: "Model exceeded maximum number of branches",
        kind: FailureKind::StepBound,
    },
    CheckerFailure { crates: LOOM, fragment: "Causality violation", kind: FailureKind::DataRace },
    CheckerFailure { crates: SHUTTLE, fragment: "deadlock", kind: FailureKind::Deadlock },
    CheckerFailure { crates: SHUTTLE, fragment: "exceeded max_steps bound", kind: FailureKind::StepBound },
    CheckerFailure { crates: SHUTTLE, fragment: "exceeded the step bound", kind: FailureKind::StepBound },
    CheckerFailure { crates: SHUTTLE, fragment: "outside of a Shuttle test", kind: FailureKind::Setup },
];

/// tokio's panic when it is called outside a runtime. tokio raises it at its caller's line
/// (`#[track_caller]`), so its location cannot tell it from the caller's own panic: it is
/// recognised by tokio's whole error text, which the message must start with.
const TOKIO_OUTSIDE_A_RUNTIME: &str =
    "there is no reactor running, must be called from the context of a Tokio 1.x runtime";

/// The kind of a panic raised at `location` with `message`, when the checker raised it.
fn raised_by_the_checker(location: &Location<'_>, message: &str) -> Option<FailureKind> {
    if message.starts_with(TOKIO_OUTSIDE_A_RUNTIME) {
        return Some(FailureKind::Setup);
    }
    CHECKER_FAILURES
        .iter()
        .find(|failure| message.contains(failure.fragment) && in_crate(location.file(), failure.crates))
        .map(|failure| failure.kind)
}

/// Whether `file` lies in the sources of one of `crates`: a path component that is the
/// crate's name, alone (a vendored or path dependency) or followed by its version (the
/// registry's `loom-0.7.3`).
fn in_crate(file: &str, crates: &[&str]) -> bool {
    file.split(['/', '\\']).any(|component| {
        crates.iter().any(|name| match component.strip_prefix(name) {
            Some("") => true,
            Some(rest) => {
                rest.strip_prefix('-').is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
            }
            None => false,
        })
    })
}

/// Installs, once per process, the panic hook that records the checker's own failures in
/// the check running on the panicking thread. Every panic then goes on to the hook that was
/// installed before.
pub(crate) fn install() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            record_checker_failure(info);
            previous(info);
        }));
    });
}

fn record_checker_failure(info: &PanicHookInfo<'_>) {
    let message = super::panic_message(info.payload());
    let context = context::current();
    let from_a_checker =
        info.location().is_some_and(|location| [LOOM, SHUTTLE].iter().any(|c| in_crate(location.file(), c)));
    let users = context.as_ref().is_some_and(|context| context.detected_kind(&message).is_none()) && !from_a_checker;
    // Ignored during the thread's teardown: there is no facade object left to drop then.
    let _ = USERS_PANIC.try_with(|flag| flag.set(users));
    let Some(location) = info.location() else { return };
    if let Some(kind) = raised_by_the_checker(location, &message) {
        if let Some(context) = context {
            context.record_detection(Detection { kind, message, by_checker: true });
        }
    }
}

thread_local! {
    /// Whether the panic this thread raised last is the program's own, inside a check: not
    /// a checker's (raised in its code) nor one of racekit's detectors, nor raised outside
    /// every check. Set by the panic hook, before the panic unwinds.
    static USERS_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Held across the body of a model thread (the check's body, or a thread spawned through
/// the facade): a panic that unwinds past it leaves the thread, and the checker's own code
/// unwinds from there (under loom its scheduler, dropping what it still holds outside any
/// execution). From that point the panic counts as one that ends the execution.
#[cfg(any(racekit_loom, racekit_shuttle))]
pub(crate) struct ThreadBoundary;

#[cfg(any(racekit_loom, racekit_shuttle))]
impl Drop for ThreadBoundary {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = USERS_PANIC.try_with(|flag| flag.set(false));
        }
    }
}

/// Whether this thread is unwinding from a panic that ends the execution: one the checker
/// or one of racekit's detectors raised (or any panic the hook could not classify, or one
/// that has left the model thread it was raised on: see [`ThreadBoundary`]). A
/// panic of the program's own, which it may catch and carry on from, is not one.
pub(crate) fn unwinding_from_a_failure() -> bool {
    std::thread::panicking() && !USERS_PANIC.try_with(std::cell::Cell::get).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crate_is_recognised_by_its_source_directory_not_by_a_prefix_of_its_name() {
        let registry = "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        assert!(in_crate(&format!("{registry}/loom-0.7.3/src/rt/execution.rs"), LOOM));
        assert!(in_crate(&format!("{registry}/shuttle-engine-0.1.7/src/runtime/execution.rs"), SHUTTLE));
        assert!(in_crate("vendor/loom/src/rt/path.rs", LOOM));
        assert!(!in_crate(&format!("{registry}/shuttle-tokio-1.0.0/src/lib.rs"), SHUTTLE));
        assert!(!in_crate("tests/loom_models.rs", LOOM));
    }

    #[test]
    fn a_users_panic_that_speaks_of_a_deadlock_is_not_the_checkers() {
        let user = Location::caller();
        assert_eq!(raised_by_the_checker(user, "deadlock; threads = [main]"), None);
        assert_eq!(raised_by_the_checker(user, "exceeded max_steps bound 10"), None);
    }

    #[test]
    fn a_detection_is_found_by_its_exact_message_only() {
        let context = CheckContext::new(1);
        let detection =
            Detection { kind: FailureKind::LockOrder, message: "lock order inversion".into(), by_checker: false };
        context.record_detection(detection);
        assert_eq!(kind_of(&context, "lock order inversion"), FailureKind::LockOrder);
        assert_eq!(kind_of(&context, "assertion failed: lock order inversion"), FailureKind::Panic);
    }
}
