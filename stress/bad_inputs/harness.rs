//! Rows for the harness: `Model` settings of 0 and `usize::MAX`, replay tokens that were
//! not copied whole, mutants that do not exist, bodies that panic, hang or leak, every
//! `RACEKIT_*` variable with garbage (each in a child process of this test binary, since
//! the environment is shared by every test), report files that cannot be written,
//! linearizability shapes, litmus grades, the facade's timed waits, clocks and probes.

use super::collections::SHORT;
use super::table::{ensure, fixed, refused, row, same, within, Check, Class, Expect, Miss, Row};
use racekit::linearizability::{Shape, ShapeError};
use racekit::litmus::Litmus;
use racekit::model::{FailureKind, Model, SettingsError};
use racekit::probe::{HighWater, Ledger};
use racekit::sync::{mpsc, thread, Arc, Barrier, Condvar, Deadline, Latch, Mutex};
use racekit::time::{Clock, ManualClock};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::Command;
use std::time::Duration;

/// The name of the test the environment rows run in a child process.
const PROBE: &str = "bad_inputs::harness::environment_probe";

/// Set in the child: what the probe does.
const PROBE_MODE: &str = "RACEKIT_BAD_INPUTS_PROBE";

/// Runs the probe in a child process with `variable` set to `value` (and every other
/// variable racekit reads removed); returns its stdout and stderr. `mode` is `settings`
/// (print the resolved settings or their error) or `run` (also run a check).
fn probe(variable: &str, value: impl Into<OsString>, mode: &str) -> Result<String, Miss> {
    let mut command = Command::new(std::env::current_exe().map_err(|e| Miss::unclear(e.to_string()))?);
    command.args(["--exact", PROBE, "--ignored", "--nocapture", "--test-threads", "1"]);
    for (name, _) in racekit::model::ENVIRONMENT {
        command.env_remove(name);
    }
    command.env_remove("PROPTEST_CASES").env(PROBE_MODE, mode).env(variable, value.into());
    let output = within(PROBE, Duration::from_secs(15), move || command.output())?
        .map_err(|e| Miss::unclear(format!("the probe did not start: {e}")))?;
    if output.status.code().is_none() {
        return Err(Miss::abort(format!("the probe was killed by a signal: {:?}", output.status)));
    }
    Ok(format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

/// `variable=value` is refused with a message naming the variable and what it expects.
fn env_refused(variable: &'static str, value: impl Into<OsString>, hint: &str) -> Check {
    let output = probe(variable, value, "settings")?;
    if output.contains("settings: Ok") {
        return Err(Miss::silent(format!("{variable} accepted: {}", first_line(&output, "settings:"))));
    }
    ensure(output.contains(&format!("settings: Err {variable}")) && output.contains(hint), || {
        format!("unclear: {}", first_line(&output, "settings:"))
    })
    .map_err(|miss| Miss::unclear(format!("{miss:?}")))
}

/// `variable=value` is accepted and a check runs with it.
fn env_accepted(variable: &'static str, value: &str, shown: &str) -> Check {
    let output = probe(variable, value, "run")?;
    ensure(output.contains("settings: Ok") && output.contains(shown) && output.contains("run: passed"), || {
        format!("{}; {}", first_line(&output, "settings:"), first_line(&output, "run:"))
    })
}

/// A check run under `variable=value` fails, saying `hint`.
fn env_run_fails(variable: &'static str, value: impl Into<OsString>, hint: &str) -> Check {
    let output = probe(variable, value, "run")?;
    if output.contains("run: passed") {
        return Err(Miss::silent(format!("the check passed: {}", first_line(&output, "settings:"))));
    }
    ensure(output.contains(hint), || {
        format!("no {hint:?} in: {}", output.lines().rev().take(8).collect::<Vec<_>>().join(" | "))
    })
    .map_err(|miss| Miss::unclear(format!("{miss:?}")))
}

fn first_line<'a>(output: &'a str, prefix: &str) -> &'a str {
    // libtest prints the test's name without a line break before the test's own output.
    output.lines().find_map(|line| line.find(prefix).map(|at| &line[at..])).unwrap_or("(no such line)")
}

/// The child side of the environment rows: prints the resolved settings, and with mode
/// `run` runs a check of an empty body and prints how it ended.
#[test]
#[ignore = "run by the environment rows in a child process, with the variable under test set"]
fn environment_probe() {
    let mode = std::env::var(PROBE_MODE).expect("run by the environment rows only");
    match Model::named("environment probe").settings() {
        Ok(settings) => println!("settings: Ok {settings:?}"),
        Err(error) => println!("settings: Err {error}"),
    }
    if mode == "scenarios" {
        match std::panic::catch_unwind(|| racekit::model::scenario::config(10).cases) {
            Ok(cases) => println!("scenarios: Ok {cases}"),
            Err(payload) => println!("scenarios: Err {}", panic_text(&*payload)),
        }
    }
    if mode == "run" {
        let outcome = racekit::sync::catch_unwind(|| Model::named("environment probe").iterations(1).run(|| ()));
        match outcome {
            Ok(Ok(_)) => println!("run: passed"),
            Ok(Err(failure)) => println!("run: failed {:?} {}", failure.kind, failure.message),
            Err(_) => println!("run: panicked"),
        }
    }
}

/// The text of a panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_default()
}

/// `PROPTEST_CASES=value`, read by the scenario runners: refused saying `hint`, or with
/// `hint` of the form `Ok N`, accepted as N scenarios.
fn scenario_cases(value: &str, hint: &str) -> Check {
    let output = probe("PROPTEST_CASES", value, "scenarios")?;
    let line = first_line(&output, "scenarios:");
    if !hint.starts_with("Ok") && line.starts_with("scenarios: Ok") {
        return Err(Miss::silent(format!("PROPTEST_CASES={value:?} accepted: {line}")));
    }
    ensure(line.contains(hint) && (hint.starts_with("Ok") || line.contains("PROPTEST_CASES")), || line.to_owned())
}

/// A check of `body` on real threads, one run, a short hang limit.
fn one_run(
    name: &str,
    body: impl Fn() + Send + Sync + 'static,
) -> Result<racekit::model::Report, racekit::model::Failure> {
    Model::named(name).iterations(1).std_run_timeout(Duration::from_secs(5)).run(body)
}

/// `call` panics, with a message that contains `hint`.
fn panics_saying<T>(call: impl FnOnce() -> T, hint: &str) -> Check {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(_) => Err(Miss::silent("accepted")),
        Err(payload) => {
            let message = panic_text(&*payload);
            ensure(message.contains(hint), || format!("the panic {message:?} does not say {hint:?}"))
                .map_err(|miss| Miss::unclear(format!("{miss:?}")))
        }
    }
}

/// A replay token refused: running with it panics, saying where whole tokens come from.
fn token_refused(token: String) -> Check {
    panics_saying(move || Model::named("bad token").iterations(1).replay(token).run(|| ()), "copy the whole")
}

/// A shape with `threads` threads and `per_thread` operations each.
fn shape(threads: std::ops::RangeInclusive<usize>, per_thread: std::ops::RangeInclusive<usize>) -> Shape {
    Shape { threads, operations_per_thread: per_thread, ..Shape::default() }
}

/// A failure in a model named `name` replays through its own token.
fn replays_under_name(name: &'static str) -> Check {
    let failure = Model::named(name).iterations(1).run(|| panic!("planted")).err();
    let failure = failure.ok_or_else(|| Miss::silent("the planted panic was not reported"))?;
    let replayed = Model::named(name).replay(failure.replay.token.clone()).run(|| panic!("planted"));
    match replayed {
        Err(again) if again.replayed => Ok(()),
        other => Err(Miss::silent(format!("the token {:?} did not replay: {other:?}", failure.replay.token))),
    }
}

pub fn rows() -> Vec<Row> {
    use Expect::*;
    let mut rows = vec![
        row("model: iterations 0", TypedError, || {
            refused(
                Model::named("zero").iterations(0).settings(),
                |e| matches!(e, SettingsError::ZeroBudget { .. }),
                "use at least 1",
            )
        }),
        row("model: iterations 0 at run time", TypedError, || {
            panics_saying(|| Model::named("zero").iterations(0).run(|| ()), "use at least 1")
        }),
        row("model: PCT depth 0", TypedError, || {
            refused(
                Model::named("zero").pct_depth(0).settings(),
                |e| *e == SettingsError::ZeroPctDepth,
                "depth of at least 1",
            )
        }),
        row("model: iterations usize::MAX stopped by a time budget", Bounded, || {
            let report = Model::named("endless").iterations(usize::MAX).time_budget(SHORT).run(|| ());
            ensure(report.is_ok_and(|report| report.ran()), || "the budget-bound check did not pass".into())
        }),
        row("model: a time budget of 0 still runs the body", Documented, || {
            let report = Model::named("no time").iterations(3).time_budget(Duration::ZERO).run(|| ());
            ensure(report.as_ref().is_ok_and(|report| report.ran()), || format!("{report:?}"))
        }),
        fixed(
            "model: a std run timeout of 0",
            TypedError,
            Class::SilentAcceptance,
            "a zero std run timeout is refused",
            || {
                let settings = Model::named("no run time").std_run_timeout(Duration::ZERO).settings();
                refused(settings, |e| *e == SettingsError::ZeroBudget { what: "the std run timeout" }, "use at least 1")
            },
        ),
        row("model: a std run timeout of 1 ns", Documented, || {
            let report = Model::named("a nanosecond").iterations(1).std_run_timeout(Duration::from_nanos(1)).run(|| ());
            // The documented result of a limit no run can meet: every run is reported as hung,
            // naming the limit.
            ensure(
                report.as_ref().is_err_and(|f| f.kind == FailureKind::Hang && f.message.contains("within 1ns")),
                || format!("{report:?}"),
            )
        }),
        row("model: budgets of Duration::MAX", Documented, || {
            let report = Model::named("forever")
                .iterations(2)
                .time_budget(Duration::MAX)
                .std_run_timeout(Duration::MAX)
                .run(|| ());
            ensure(report.is_ok(), || format!("{report:?}"))
        }),
        row("model: preemption bound and seed of usize::MAX and u64::MAX", Documented, || {
            let report =
                Model::named("huge knobs").iterations(2).preemption_bound(usize::MAX).seed(u64::MAX).run(|| ());
            ensure(report.is_ok(), || format!("{report:?}"))
        }),
        row("model: a body that panics is a failure of kind panic", Documented, || {
            let failure = one_run("panics", || panic!("the body fails")).err();
            ensure(
                failure.is_some_and(|f| f.kind == FailureKind::Panic && f.message.contains("the body fails")),
                || "not reported".into(),
            )
        }),
        row("model: a body that panics with a non-string payload", Documented, || {
            let failure = one_run("panics with a number", || std::panic::panic_any(42u32)).err();
            ensure(failure.is_some_and(|f| f.kind == FailureKind::Panic), || "not reported".into())
        }),
        row("model: a body that hangs is reported within the run timeout", Bounded, || {
            let gate = Arc::new(Latch::new());
            let held = gate.clone();
            let failure = Model::named("hangs").iterations(1).std_run_timeout(SHORT).run(move || held.wait()).err();
            gate.set();
            ensure(failure.is_some_and(|f| f.kind == FailureKind::Hang), || "the hang was not reported".into())
        }),
        row("model: a body that leaves a thread running", Documented, || {
            let gate = Arc::new(Latch::new());
            let held = gate.clone();
            let failure = one_run("leaks", move || {
                let held = held.clone();
                drop(thread::spawn(move || held.wait()));
            })
            .err();
            gate.set();
            ensure(failure.is_some_and(|f| f.kind == FailureKind::LeakedTasks), || "the leak was not reported".into())
        }),
        row("model: a check inside a check runs the inner one", Documented, || {
            let outcome = one_run("outer", || {
                Model::named("inner").iterations(1).check(|| ());
            });
            ensure(outcome.is_ok(), || format!("{outcome:?}"))
        }),
        row("model: a mutant that does not exist", TypedError, || {
            panics_saying(
                || Model::named("no mutant").iterations(1).mutant("queue.no.such.point").run(|| ()),
                "queue.no.such.point",
            )
        }),
        row("model: an empty mutant name", TypedError, || {
            panics_saying(|| Model::named("empty mutant").iterations(1).mutant("").run(|| ()), "CATALOG")
        }),
        row("model: choose() outside a check", Documented, || {
            let chosen = racekit::sync::catch_unwind(racekit::model::choose);
            ensure(chosen.is_ok(), || "choose panicked outside a check".into())
        }),
        row("replay: an empty token", TypedError, || token_refused(String::new())),
        row("replay: a token of one word", TypedError, || token_refused("garbage".into())),
        row("replay: a token naming no backend", TypedError, || token_refused("fiber|src/lib.rs:1:1|7".into())),
        row("replay: a token whose check is not file:line:column", TypedError, || {
            token_refused("std|nowhere|7".into())
        }),
        row("replay: a std token whose payload is not a seed", TypedError, || {
            token_refused("std|stress/x.rs:1:1|seven".into())
        }),
        row("replay: a token cut in half", TypedError, || token_refused("std|stress/x.rs:1:1|".into())),
        row("replay: a token with a line break inside", TypedError, || {
            token_refused("std|stress/x.rs:1:1|12\n34".into())
        }),
        row("replay: a one-megabyte token", TypedError, || {
            token_refused(format!("std|stress/x.rs:1:1|{}", "9".repeat(1 << 20)))
        }),
        row("replay: a non-UTF-8-looking token (replacement characters)", TypedError, || {
            token_refused("std|\u{fffd}|\u{fffd}".into())
        }),
        row("replay: a model named with `|` replays its own failure", Documented, || replays_under_name("a|b|c")),
        row("replay: a model named with a line break replays its own failure", Documented, || {
            replays_under_name("two\nlines")
        }),
        row("replay: a model with an empty name replays its own failure", Documented, || replays_under_name("")),
        row("replay: a model with a one-megabyte name replays its own failure", Documented, || {
            replays_under_name(Box::leak("n".repeat(1 << 20).into_boxed_str()))
        }),
        row("linearizability: zero threads", TypedError, || {
            refused(shape(0..=0, 1..=2).validate(), |e| matches!(e, ShapeError::Threads { .. }), "1 to 4 threads")
        }),
        row("linearizability: more threads than loom can model", TypedError, || {
            refused(shape(2..=9, 1..=2).validate(), |e| matches!(e, ShapeError::Threads { .. }), "1 to 4 threads")
        }),
        row("linearizability: an empty range", TypedError, || {
            #[allow(clippy::reversed_empty_ranges)]
            let reversed = 3..=1;
            refused(shape(reversed, 1..=2).validate(), |e| matches!(e, ShapeError::EmptyRange { .. }), "min <= max")
        }),
        fixed(
            "linearizability: usize::MAX operations per thread",
            TypedError,
            Class::Panic,
            "saturating operation count",
            || {
                refused(
                    shape(2..=2, 1..=usize::MAX).validate(),
                    |e| matches!(e, ShapeError::TooLarge { .. }),
                    "lower the threads",
                )
            },
        ),
        fixed(
            "linearizability: usize::MAX operations in the initial part",
            TypedError,
            Class::Panic,
            "saturating operation count",
            || {
                let shape = Shape { init: 0..=usize::MAX, ..Shape::default() };
                refused(shape.validate(), |e| matches!(e, ShapeError::TooLarge { .. }), "lower the threads")
            },
        ),
        row("litmus: an outcome nobody graded fails the test", Documented, || {
            let outcome = Litmus::new(Model::named("ungraded").iterations(2), || 1u8).run();
            ensure(outcome.is_err_and(|f| f.failure.message.contains("not listed")), || {
                "an ungraded outcome passed".into()
            })
        }),
        row("litmus: an outcome graded twice keeps the last grade", Documented, || {
            let outcome = Litmus::new(Model::named("regraded").iterations(2), || 1u8)
                .acceptable(1, "fine")
                .forbidden(1, "not fine")
                .run();
            ensure(outcome.is_err(), || "the later forbidden grade was ignored".into())
        }),
        row("litmus: a body that panics fails the test", Documented, || {
            let outcome =
                Litmus::new(Model::named("panicking litmus").iterations(2), || -> u8 { panic!("the body fails") })
                    .acceptable(1, "fine")
                    .run();
            ensure(outcome.is_err_and(|f| f.failure.kind == FailureKind::Panic), || "the panic passed".into())
        }),
        row("facade: latch waits of 0, 1 ns and Duration::MAX", Bounded, || {
            let latch = Arc::new(Latch::new());
            same((latch.wait_timeout(Duration::ZERO), latch.wait_timeout(Duration::from_nanos(1))), (false, false))?;
            let setter = latch.clone();
            let handle = thread::spawn(move || {
                thread::sleep(SHORT);
                setter.set();
            });
            let woke = latch.wait_timeout(Duration::MAX);
            handle.join().unwrap();
            same(woke, true)
        }),
        row("facade: a condvar wait of Duration::MAX, ended by a notify", Bounded, || {
            let pair = Arc::new((Mutex::new(false), Condvar::new()));
            let other = pair.clone();
            let notifier = thread::spawn(move || {
                thread::sleep(SHORT);
                *other.0.lock() = true;
                other.1.notify_all();
            });
            let mut ready = pair.0.lock();
            while !*ready {
                ready = pair.1.wait_timeout(ready, Duration::MAX).0;
            }
            drop(ready);
            notifier.join().unwrap();
            Ok(())
        }),
        row("facade: recv_timeout(Duration::MAX) ended by the sender's drop", Bounded, || {
            let (sender, receiver) = mpsc::channel::<u8>();
            let dropper = thread::spawn(move || {
                thread::sleep(SHORT);
                drop(sender);
            });
            let received = receiver.recv_timeout(Duration::MAX);
            dropper.join().unwrap();
            same(received, Err(mpsc::RecvTimeoutError::Disconnected))
        }),
        row("facade: recv_timeout(0) on an empty channel", Bounded, || {
            let (_sender, receiver) = mpsc::channel::<u8>();
            same(receiver.recv_timeout(Duration::ZERO), Err(mpsc::RecvTimeoutError::Timeout))
        }),
        row("facade: a rendezvous channel whose receiver is gone", Documented, || {
            let (sender, receiver) = mpsc::sync_channel::<u8>(0);
            drop(receiver);
            ensure(sender.send(1).is_err(), || "a send into nothing succeeded".into())
        }),
        row("facade: Deadline::after(Duration::MAX) is no deadline", Documented, || {
            let deadline = Deadline::after(Duration::MAX);
            same((deadline.is_never(), Deadline::within(Duration::MAX).is_none()), (true, true))
        }),
        row("facade: Deadline::after(0) has passed", Documented, || {
            same(Deadline::after(Duration::ZERO).remaining(), Duration::ZERO)
        }),
        row("facade: park_timeout(Duration::MAX), ended by an unpark", Bounded, || {
            let parked = thread::current();
            let unparker = thread::spawn(move || {
                thread::sleep(SHORT);
                parked.unpark();
            });
            thread::park_timeout(Duration::MAX);
            unparker.join().unwrap();
            Ok(())
        }),
        row("facade: sleep(0)", Bounded, || {
            thread::sleep(Duration::ZERO);
            Ok(())
        }),
        row("facade: a barrier of 0 and of 1 does not wait", Bounded, || {
            Barrier::new(0).wait();
            Barrier::new(1).wait();
            Ok(())
        }),
        row("facade: a lock whose holder panicked stays usable", CaughtPanic, || {
            let lock = Arc::new(Mutex::new(1));
            let holder = lock.clone();
            let _ = thread::spawn(move || {
                let _guard = holder.lock();
                panic!("the holder fails");
            })
            .join();
            let value = *lock.lock();
            same(value, 1)
        }),
        row("facade: a OnceLock whose initializer panicked can be initialized again", CaughtPanic, || {
            let once = racekit::sync::OnceLock::new();
            let failed = racekit::sync::catch_unwind(|| *once.get_or_init(|| -> u8 { panic!("init fails") }));
            ensure(failed.is_err(), || "the initializer's panic vanished".into())?;
            same(*once.get_or_init(|| 2u8), 2)
        }),
        row("time: a manual clock advanced by Duration::MAX", Documented, || {
            let clock = ManualClock::new();
            let start = clock.now();
            let advanced = racekit::sync::catch_unwind(|| {
                clock.advance(Duration::MAX);
                clock.advance(Duration::MAX);
            });
            ensure(advanced.is_ok(), || "advance panicked".into())?;
            ensure(clock.now() >= start, || "time went backwards".into())
        }),
        row("probe: a high-water mark of usize::MAX against a bound", TypedError, || {
            let mark = HighWater::new();
            mark.record(usize::MAX);
            refused(mark.check_at_most(usize::MAX - 1), |e| e.max == usize::MAX, "above the bound")
        }),
        row("probe: a ledger of names never added", Documented, || {
            let ledger = Ledger::new();
            same((ledger.get("nothing"), ledger.check_conserved(&["in"], &["out"]).is_ok()), (0, true))
        }),
        row("probe: a ledger added past u64::MAX panics naming the counter", Documented, || {
            let ledger = Ledger::new();
            ledger.add("in", u64::MAX);
            panics_saying(|| ledger.add("in", 1), "ledger counter `in` overflowed")
        }),
    ];
    rows.extend(environment_rows());
    rows
}

fn environment_rows() -> Vec<Row> {
    use Expect::*;
    vec![
        row("env: RACEKIT_ITERATIONS=abc", TypedError, || {
            env_refused("RACEKIT_ITERATIONS", "abc", "a number of schedules")
        }),
        row("env: RACEKIT_ITERATIONS=-1", TypedError, || {
            env_refused("RACEKIT_ITERATIONS", "-1", "a number of schedules")
        }),
        row("env: RACEKIT_ITERATIONS=0", TypedError, || {
            let output = probe("RACEKIT_ITERATIONS", "0", "settings")?;
            ensure(output.contains("settings: Err") && output.contains("use at least 1"), || {
                first_line(&output, "settings:").to_owned()
            })
        }),
        row("env: RACEKIT_ITERATIONS=1e19", TypedError, || {
            env_refused("RACEKIT_ITERATIONS", "1e19", "a number of schedules")
        }),
        row("env: RACEKIT_ITERATIONS=2^64", TypedError, || {
            env_refused("RACEKIT_ITERATIONS", "18446744073709551616", "a number")
        }),
        fixed(
            "env: RACEKIT_ITERATIONS not UTF-8",
            TypedError,
            Class::SilentAcceptance,
            "a variable that is not Unicode is refused by name",
            || env_refused("RACEKIT_ITERATIONS", OsString::from_vec(vec![b'1', 0xff]), "a number"),
        ),
        row("env: RACEKIT_ITERATIONS=\" 3 \" (padded)", Documented, || {
            env_accepted("RACEKIT_ITERATIONS", " 3 ", "iterations: 3")
        }),
        row("env: RACEKIT_SCHEDULER=fifo", TypedError, || {
            env_refused("RACEKIT_SCHEDULER", "fifo", "portfolio, pct or random")
        }),
        row("env: RACEKIT_SCHEDULER=PCT (any case)", Documented, || {
            env_accepted("RACEKIT_SCHEDULER", "PCT", "scheduler: Pct")
        }),
        fixed(
            "env: RACEKIT_SCHEDULER not UTF-8",
            TypedError,
            Class::SilentAcceptance,
            "a variable that is not Unicode is refused by name",
            || env_refused("RACEKIT_SCHEDULER", OsString::from_vec(vec![b'p', 0xff]), "portfolio"),
        ),
        row("env: RACEKIT_PCT_DEPTH=0", TypedError, || {
            let output = probe("RACEKIT_PCT_DEPTH", "0", "settings")?;
            ensure(output.contains("settings: Err") && output.contains("depth of at least 1"), || {
                first_line(&output, "settings:").to_owned()
            })
        }),
        row("env: RACEKIT_PCT_DEPTH=deep", TypedError, || env_refused("RACEKIT_PCT_DEPTH", "deep", "a PCT depth")),
        row("env: RACEKIT_SEED=0x10", TypedError, || env_refused("RACEKIT_SEED", "0x10", "a number, or `random`")),
        row("env: RACEKIT_SEED=-1", TypedError, || env_refused("RACEKIT_SEED", "-1", "a number, or `random`")),
        row("env: RACEKIT_SEED of 40 digits", TypedError, || env_refused("RACEKIT_SEED", "9".repeat(40), "a number")),
        row("env: RACEKIT_SEED=Random (any case)", Documented, || env_accepted("RACEKIT_SEED", "Random", "seed:")),
        row("env: RACEKIT_TIME_BUDGET=0", TypedError, || {
            env_refused("RACEKIT_TIME_BUDGET", "0", "a positive number of seconds")
        }),
        row("env: RACEKIT_TIME_BUDGET=-3", TypedError, || {
            env_refused("RACEKIT_TIME_BUDGET", "-3", "a positive number of seconds")
        }),
        row("env: RACEKIT_TIME_BUDGET=NaN", TypedError, || {
            env_refused("RACEKIT_TIME_BUDGET", "NaN", "a positive number of seconds")
        }),
        row("env: RACEKIT_TIME_BUDGET=inf", TypedError, || {
            env_refused("RACEKIT_TIME_BUDGET", "inf", "a positive number of seconds")
        }),
        row("env: RACEKIT_TIME_BUDGET=1e30", TypedError, || {
            env_refused("RACEKIT_TIME_BUDGET", "1e30", "up to 1000000000")
        }),
        row("env: RACEKIT_TIME_BUDGET=30s (a unit)", TypedError, || {
            env_refused("RACEKIT_TIME_BUDGET", "30s", "such as 30 or 0.5")
        }),
        row("env: RACEKIT_STD_RUN_TIMEOUT=0", TypedError, || {
            env_refused("RACEKIT_STD_RUN_TIMEOUT", "0", "a positive number of seconds")
        }),
        row("env: RACEKIT_STD_RUN_TIMEOUT=soon", TypedError, || {
            env_refused("RACEKIT_STD_RUN_TIMEOUT", "soon", "a positive number of seconds")
        }),
        fixed(
            "env: PROPTEST_CASES=many (scenario runners)",
            TypedError,
            Class::SilentAcceptance,
            "a number of scenarios that does not parse is refused by name, not replaced by the default",
            || scenario_cases("many", "whole number of scenarios"),
        ),
        fixed(
            "env: PROPTEST_CASES=0 (scenario runners)",
            TypedError,
            Class::SilentAcceptance,
            "zero scenarios would pass vacuously: refused",
            || scenario_cases("0", "use at least 1"),
        ),
        fixed(
            "env: PROPTEST_CASES=2^40 (scenario runners)",
            TypedError,
            Class::SilentAcceptance,
            "a count above u32::MAX is refused, not replaced by the default",
            || scenario_cases("1099511627776", "whole number of scenarios"),
        ),
        row("env: PROPTEST_CASES=7 (scenario runners)", Documented, || scenario_cases("7", "Ok 7")),
        row("env: LOOM_MAX_PREEMPTIONS=two", TypedError, || {
            env_refused("LOOM_MAX_PREEMPTIONS", "two", "a preemption bound")
        }),
        row("env: RACEKIT_REPLAY=garbage fails the check, saying where tokens come from", TypedError, || {
            env_run_fails("RACEKIT_REPLAY", "garbage", "copy the whole")
        }),
        row("env: RACEKIT_REPLAY of a 100 kB token", TypedError, || {
            env_run_fails("RACEKIT_REPLAY", "x".repeat(100_000), "copy the whole")
        }),
        row("env: RACEKIT_REPORT_FILE in a missing directory", TypedError, || {
            env_refused("RACEKIT_REPORT_FILE", "/nonexistent/racekit/checks.jsonl", "create the directory")
        }),
        row("env: RACEKIT_REPORT_FILE naming a directory", TypedError, || {
            env_run_fails("RACEKIT_REPORT_FILE", "/tmp", "RACEKIT_REPORT_FILE")
        }),
        row("env: RACEKIT_REPORT_FILE on a full device", TypedError, || {
            env_run_fails("RACEKIT_REPORT_FILE", "/dev/full", "RACEKIT_REPORT_FILE")
        }),
        row("env: RACEKIT_REPORT_FILE in a read-only directory", TypedError, || {
            env_run_fails("RACEKIT_REPORT_FILE", "/proc/racekit-checks.jsonl", "RACEKIT_REPORT_FILE")
        }),
        fixed(
            "env: RACEKIT_REPORT_FILE not UTF-8",
            TypedError,
            Class::SilentAcceptance,
            "a variable that is not Unicode is refused by name",
            || {
                env_refused(
                    "RACEKIT_REPORT_FILE",
                    OsString::from_vec(b"/nonexistent/\xff/x.jsonl".to_vec()),
                    "RACEKIT_REPORT_FILE",
                )
            },
        ),
    ]
}
