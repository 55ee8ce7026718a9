//! Meta-tests: the harness explores, catches, reports and replays.

use crate::support::{expect_caught, MODEL_CHECKER};
use racekit::model::{FailureKind, Model, SchedulerChoice};
use racekit::sync::atomic::{AtomicUsize, Ordering};
use racekit::sync::{thread, Arc, Mutex};
use std::time::Duration;

/// Two threads do a read-modify-write with separate load and store: a lost update.
fn lost_update() {
    let value = Arc::new(AtomicUsize::new(0));
    let other = {
        let value = value.clone();
        thread::spawn(move || {
            let seen = value.load(Ordering::SeqCst);
            value.store(seen + 1, Ordering::SeqCst);
        })
    };
    let seen = value.load(Ordering::SeqCst);
    value.store(seen + 1, Ordering::SeqCst);
    other.join().unwrap();
    assert_eq!(value.load(Ordering::SeqCst), 2, "an increment was lost");
}

/// The same increment done under a lock: correct in every schedule.
fn locked_update() {
    let value = Arc::new(Mutex::new(0));
    let other = {
        let value = value.clone();
        thread::spawn(move || *value.lock() += 1)
    };
    *value.lock() += 1;
    other.join().unwrap();
    assert_eq!(*value.lock(), 2);
}

/// The one model both the replay test and its child process run (same call site, same id).
fn lost_update_model() -> Model {
    Model::named("lost update").preemption_bound(1).iterations(1_000)
}

#[test]
#[cfg_attr(
    not(any(racekit_loom, racekit_shuttle)),
    ignore = "real threads lose the update only by chance; the model-checking job counts how often"
)]
fn a_racy_body_fails_under_each_model_checker() {
    let failure = expect_caught(lost_update_model(), lost_update);
    assert_eq!(failure.kind, FailureKind::Panic);
    assert!(failure.message.contains("an increment was lost"), "{failure}");
    assert!(failure.replay.command.contains("RACEKIT_REPLAY="), "{failure}");
    assert!(failure.replay.command.contains("--test models"), "{failure}");
}

#[test]
fn a_correct_body_passes_and_runs_more_than_once() {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let report = Model::named("locked update").iterations(200).check(|| {
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        locked_update();
    });
    let runs = RUNS.load(std::sync::atomic::Ordering::Relaxed);
    assert!(report.schedules > 1, "{report}");
    assert_eq!(report.schedules as usize, runs, "the report counts every run of the body");
    assert_eq!(report.tasks_spawned, 1, "the facade counted the spawned thread");
}

#[test]
fn loom_explores_bounds_in_turn_and_shuttle_runs_a_portfolio() {
    let model = Model::named("locked update phases").preemption_bound(2).iterations(400);
    // The environment may raise the bound (the model-checking job does).
    let bound = model.settings().unwrap().preemption_bound;
    let report = model.check(locked_update);
    let labels: Vec<&str> = report.phases.iter().map(|p| p.label.as_str()).collect();
    match racekit::sync::Backend::CURRENT {
        racekit::sync::Backend::Loom => {
            let expected: Vec<String> =
                (1..=bound.max(1)).map(|b| format!("loom bound {}", if bound == 0 { 0 } else { b })).collect();
            assert_eq!(labels, expected);
        }
        racekit::sync::Backend::Shuttle => {
            assert!(labels.iter().any(|l| l.contains("random")), "{labels:?}");
            assert!(labels.iter().any(|l| l.contains("pct")), "{labels:?}");
        }
        racekit::sync::Backend::Std => assert_eq!(labels.len(), 1),
    }
}

#[test]
#[cfg_attr(
    not(any(racekit_loom, racekit_shuttle)),
    ignore = "a std replay fixes the seed, not the interleaving: it need not fail again"
)]
fn a_failure_replays_from_its_token() {
    let failure = expect_caught(lost_update_model(), lost_update);
    let replayed = lost_update_model().replay(failure.replay.token.clone()).run(lost_update);
    let again = replayed.expect_err("replaying the failing schedule fails again");
    assert_eq!(again.kind, FailureKind::Panic, "{again}");
    assert_eq!(again.message, failure.message);
    assert!(again.replayed);
    assert_eq!(again.schedules, 1, "a replay runs the one failing schedule");
}

/// Runs the printed reproduce command's test, with its token, as a child process: the
/// command's `RACEKIT_REPLAY` and `--exact` filter reproduce the failure on their own.
#[test]
#[cfg_attr(
    not(any(racekit_loom, racekit_shuttle)),
    ignore = "a std replay fixes the seed, not the interleaving: it need not fail again"
)]
fn the_reproduce_command_reproduces_in_a_fresh_process() {
    if std::env::var_os("RACEKIT_REPLAY").is_some() {
        // The child: the environment holds the token; this check must fail again.
        lost_update_model().check(lost_update);
    } else {
        replay_in_a_child_process();
    }
}

/// The parent of [`the_reproduce_command_reproduces_in_a_fresh_process`]: finds the
/// failure, then runs the printed test with its token in a child process.
fn replay_in_a_child_process() {
    let failure = expect_caught(lost_update_model(), lost_update);
    assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
    let command = &failure.replay.command;
    let test = command.rsplit("--exact ").next().expect("the command names the test");
    assert_eq!(test, "harness::the_reproduce_command_reproduces_in_a_fresh_process");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env("RACEKIT_REPLAY", &failure.replay.token)
        .env_remove("RACEKIT_REPORT_FILE")
        .output()
        .expect("the test binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the replay did not fail:\n{stderr}");
    assert!(stderr.contains("an increment was lost"), "{stderr}");
    assert!(stderr.contains("replay"), "{stderr}");
}

#[test]
fn a_leaked_thread_is_reported() {
    let failure = expect_caught(Model::named("leaked thread").iterations(200), || {
        // Spawned and never joined: in some schedule (on real threads, every run) it is
        // still running when the body returns.
        let _leaked = thread::spawn(|| {
            for _ in 0..3 {
                thread::yield_now();
            }
            if !racekit::sync::Backend::CURRENT.is_model_checker() {
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    });
    assert_eq!(failure.kind, FailureKind::LeakedTasks, "{failure}");
    assert!(failure.message.contains("1 of the 1 thread(s)"), "{failure}");
}

#[test]
fn a_deadlock_is_reported_as_a_failure_not_an_abort() {
    // Lock-order inversion: a schedule where each thread holds one lock and waits for the
    // other. loom aborts the process in that case unless the facade leaks on unwind. Every
    // backend reports the inversion before the second lock blocks: the thread that closes
    // the cycle fails instead of waiting, so real threads never hang on it either.
    for attempt in 0..2 {
        let failure = expect_caught(Model::named("lock order inversion").preemption_bound(2), || {
            let a = Arc::new(Mutex::new(()));
            let b = Arc::new(Mutex::new(()));
            let other = {
                let (a, b) = (a.clone(), b.clone());
                thread::spawn(move || {
                    let _b = b.lock();
                    let _a = a.lock();
                })
            };
            {
                let _a = a.lock();
                let _b = b.lock();
            }
            other.join().unwrap();
        });
        assert_eq!(failure.kind, FailureKind::LockOrder, "attempt {attempt}: {failure}");
        assert!(failure.message.contains("lock order inversion"), "attempt {attempt}: {failure}");
    }
}

#[test]
#[cfg_attr(
    any(racekit_loom, racekit_shuttle),
    ignore = "the model checkers do not time runs: a wait nobody ends is a deadlock or a timeout choice there"
)]
fn a_hang_on_real_threads_is_reported() {
    let failure = expect_caught(Model::named("hang").iterations(1).std_run_timeout(Duration::from_millis(200)), || {
        let gate = racekit::sync::Latch::new();
        gate.wait_timeout(Duration::from_secs(5));
    });
    assert_eq!(failure.kind, FailureKind::Hang, "{failure}");
    assert!(failure.message.contains("did not finish within"), "{failure}");
}

#[test]
fn a_timed_wait_explores_both_the_timeout_and_the_notification() {
    // Under the model checkers the timeout firing is a choice: both outcomes must occur.
    static TIMED_OUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    static NOTIFIED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let report = Model::named("timed wait").iterations(300).check(|| {
        let latch = Arc::new(racekit::sync::Latch::new());
        let setter = {
            let latch = latch.clone();
            thread::spawn(move || {
                latch.set();
            })
        };
        let set = latch.wait_timeout(Duration::from_millis(if MODEL_CHECKER { 1 } else { 0 }));
        let flag = if set { &NOTIFIED } else { &TIMED_OUT };
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
        setter.join().unwrap();
    });
    if MODEL_CHECKER && crate::support::explored_fully(&report) {
        assert!(TIMED_OUT.load(std::sync::atomic::Ordering::Relaxed), "the timeout branch was never explored");
        assert!(NOTIFIED.load(std::sync::atomic::Ordering::Relaxed), "the notified branch was never explored");
    }
}

#[test]
fn a_panic_in_a_thread_nobody_joins_fails_the_check() {
    let failure = expect_caught(Model::named("unjoined panic").iterations(20), || {
        let finished = Arc::new(racekit::sync::Latch::new());
        let _unjoined = {
            let finished = finished.clone();
            thread::spawn(move || {
                finished.set();
                panic!("the worker failed");
            })
        };
        finished.wait();
        // Give the panicking thread time to finish unwinding (it is not joined).
        while racekit::probe::live_tasks().unwrap_or(0) > 0 {
            thread::yield_now();
        }
    });
    assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
    assert!(failure.message.contains("the worker failed"), "{failure}");
}

#[test]
fn the_channel_ends_iteration_when_every_sender_is_gone() {
    // std semantics on every backend: `recv` returns an error, not a (false) deadlock,
    // once the last sender is dropped.
    Model::named("channel disconnect").check(|| {
        let (sender, receiver) = racekit::sync::mpsc::channel();
        let producers: Vec<_> = (0..2u32)
            .map(|n| {
                let sender = sender.clone();
                thread::spawn(move || sender.send(n).unwrap())
            })
            .collect();
        drop(sender);
        let mut received: Vec<u32> = receiver.iter().collect();
        received.sort_unstable();
        assert_eq!(received, [0, 1]);
        for producer in producers {
            producer.join().unwrap();
        }
    });
}

/// Two tasks each increment a counter behind an async mutex, yielding in the middle: with
/// the lock held across the await (`atomic`) every schedule ends at 2; with the value read
/// and written under two separate locks, some schedule loses an update.
#[cfg(not(racekit_loom))]
fn async_increments(atomic: bool) {
    racekit::sync::task::block_on(async move {
        let counter = std::sync::Arc::new(racekit::sync::async_sync::Mutex::new(0u32));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let counter = counter.clone();
                racekit::sync::task::spawn(async move {
                    if atomic {
                        let mut value = counter.lock().await;
                        let seen = *value;
                        tokio::task::yield_now().await;
                        *value = seen + 1;
                    } else {
                        let seen = *counter.lock().await;
                        tokio::task::yield_now().await;
                        *counter.lock().await = seen + 1;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*counter.lock().await, 2, "an async increment was lost");
    });
}

#[cfg(not(racekit_loom))]
#[test]
fn async_tasks_are_model_checked_and_counted() {
    let report = Model::named("async tasks").iterations(300).check(|| async_increments(true));
    assert_eq!(report.tasks_spawned, 2);
}

#[cfg(not(racekit_loom))]
#[test]
#[cfg_attr(not(racekit_shuttle), ignore = "a tokio runtime on real threads loses the update only by chance")]
fn an_async_lost_update_is_caught() {
    // shuttle's executor finds the schedule where both tasks read 0.
    let failure = expect_caught(Model::named("async lost update").iterations(500), || async_increments(false));
    assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
    assert!(failure.message.contains("async increment was lost"), "{failure}");
}

/// A producer sends 0, 1, 2 through a bounded channel and then drops its sender.
fn bounded_channel_round(bound: usize) {
    let (sender, receiver) = racekit::sync::mpsc::sync_channel(bound);
    let producer = thread::spawn(move || {
        for n in 0..3u32 {
            sender.send(n).unwrap();
        }
    });
    assert_eq!(receiver.iter().collect::<Vec<_>>(), [0, 1, 2]);
    producer.join().unwrap();
}

#[test]
fn a_bounded_channel_delivers_in_order_and_a_rendezvous_completes() {
    for bound in [0, 1] {
        let report = Model::named(format!("sync channel, bound {bound}"))
            .preemption_bound(2)
            .iterations(300)
            .check(move || bounded_channel_round(bound));
        assert!(report.schedules > 1, "{report}");
    }
    // A full channel refuses `try_send`; a dropped receiver fails a blocked `send`.
    Model::named("sync channel, full and disconnected").preemption_bound(2).iterations(300).check(|| {
        let (sender, receiver) = racekit::sync::mpsc::sync_channel(1);
        sender.send(1u32).unwrap();
        assert!(matches!(sender.try_send(2), Err(racekit::sync::mpsc::TrySendError::Full(2))));
        let blocked = thread::spawn(move || sender.send(3));
        assert_eq!(receiver.recv(), Ok(1));
        drop(receiver);
        // Either the send found room before the drop (and its value was discarded with the
        // receiver) or it failed and handed the value back.
        assert!(matches!(blocked.join().unwrap(), Ok(()) | Err(racekit::sync::mpsc::SendError(3))));
    });
}

#[test]
#[cfg_attr(
    not(any(racekit_loom, racekit_shuttle)),
    ignore = "on real threads the crossed sends hang until the run timeout (a_hang_on_real_threads_is_reported)"
)]
fn two_threads_that_rendezvous_send_to_each_other_first_deadlock() {
    let failure = expect_caught(Model::named("crossed rendezvous").preemption_bound(1).iterations(200), || {
        let (to_other, from_me) = racekit::sync::mpsc::sync_channel::<u32>(0);
        let (to_me, from_other) = racekit::sync::mpsc::sync_channel::<u32>(0);
        let other = thread::spawn(move || {
            to_me.send(1).unwrap();
            from_me.recv().unwrap()
        });
        to_other.send(2).unwrap();
        from_other.recv().unwrap();
        other.join().unwrap();
    });
    assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
    assert!(failure.message.contains("deadlock"), "the checker's own report: {failure}");
}

#[test]
fn a_model_pct_finds_no_contention_in_still_passes() {
    // Oldest-task-first, this body never has two runnable threads: PCT has nothing to
    // prioritize (and shuttle's PCT asserts as much). The member's schedules go to the
    // random scheduler instead of failing a correct model.
    let report = Model::named("no contention for PCT").iterations(40).check(|| {
        let flag = Arc::new(AtomicUsize::new(0));
        let setter = {
            let flag = flag.clone();
            thread::spawn(move || flag.store(1, Ordering::SeqCst))
        };
        setter.join().unwrap();
        assert_eq!(flag.load(Ordering::SeqCst), 1);
    });
    if racekit::sync::Backend::CURRENT == racekit::sync::Backend::Shuttle {
        assert!(report.phases.iter().any(|phase| phase.label.contains("random for the rest")), "{report}");
        assert_eq!(report.schedules, 40, "{report}");
    }
}

// ---------------------------------------------------------------------------------------
// The shuttle portfolio's turns and the deep budget's escalation.
// ---------------------------------------------------------------------------------------

/// A bug PCT finds in a few schedules and the random scheduler only rarely: the spawned
/// thread must run all its steps between two of the main thread's (PCT runs the thread it
/// prefers to completion; a random walk must pick it seven times in a row).
fn burst_between_two_reads() {
    let count = Arc::new(AtomicUsize::new(0));
    let burst = {
        let count = count.clone();
        thread::spawn(move || {
            for _ in 0..6 {
                count.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let before = count.load(Ordering::SeqCst);
    let after = count.load(Ordering::SeqCst);
    burst.join().unwrap();
    assert!(!(before == 0 && after == 6), "the whole burst ran between two reads");
}

/// Schedules until `model` catches the burst.
fn schedules_to_catch(model: Model) -> u64 {
    let failure = expect_caught(model.iterations(20_000), burst_between_two_reads);
    assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
    assert!(failure.message.contains("the whole burst ran between two reads"), "{failure}");
    failure.schedules
}

#[test]
#[cfg_attr(not(racekit_shuttle), ignore = "the portfolio is shuttle's")]
fn the_portfolio_costs_at_most_its_size_times_its_best_member() {
    let seed = Model::new().settings().unwrap().seed;
    // The default portfolio: random (seed), PCT (seed + 1, default depth), random
    // (seed + 2), PCT (seed + 3, depth - 1), taking turns: a member's n-th schedule is at
    // most the portfolio's 4n-th.
    let portfolio = schedules_to_catch(Model::named("burst, portfolio"));
    let random = schedules_to_catch(Model::named("burst, random").scheduler(SchedulerChoice::Random).seed(seed));
    // RACEKIT_SEED overrides a model's own seed, so PCT alone runs the portfolio's PCT
    // member only when it is unset.
    let pct = std::env::var_os("RACEKIT_SEED")
        .is_none()
        .then(|| schedules_to_catch(Model::named("burst, pct").scheduler(SchedulerChoice::Pct).seed(seed + 1)));
    let best = pct.map_or(random, |pct| pct.min(random));
    assert!(
        portfolio <= 4 * best,
        "portfolio {portfolio} schedules, best member {best} (pct {pct:?}, random {random})"
    );
}

/// A sound model, run under a deep budget: it escalates.
fn escalation_model() -> Model {
    Model::named("deep budget escalation").preemption_bound(1)
}

#[test]
#[cfg_attr(
    not(any(racekit_loom, racekit_shuttle)),
    ignore = "the model checkers escalate; real threads run their runs"
)]
fn a_deep_budget_escalates_and_reports_each_share() {
    if escalation_model().settings().unwrap().escalate {
        // Under a deep budget (the job's, or the parent's below): every scheduler kind of
        // the plan ran, or loom went past its largest bound.
        escalated_phases_are_reported();
    } else {
        escalate_in_a_child_process();
    }
}

/// Under a deep budget: the escalation plan's phases are each in the report.
fn escalated_phases_are_reported() {
    let report = escalation_model().check(locked_update);
    let labels: Vec<&str> = report.phases.iter().map(|phase| phase.label.as_str()).collect();
    if racekit::sync::Backend::CURRENT == racekit::sync::Backend::Shuttle {
        for kind in ["shuttle random", "pct(depth 1)", "pct(depth 4)", "uniform walk"] {
            assert!(labels.iter().any(|label| label.contains(kind)), "{kind} missing: {labels:?}");
        }
    } else {
        assert!(labels.iter().any(|label| label.contains("escalation")), "{labels:?}");
    }
}

/// Runs [`a_deep_budget_escalates_and_reports_each_share`] again in a child process, under
/// a deep budget.
fn escalate_in_a_child_process() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "harness::a_deep_budget_escalates_and_reports_each_share", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("RACEKIT_TIME_BUDGET", "1")
        .env_remove("RACEKIT_REPORT_FILE")
        .env_remove("RACEKIT_ITERATIONS")
        .output()
        .expect("the test binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the deep-budget run failed:\n{stderr}");
    assert!(stderr.contains("deep budget escalation` passed"), "{stderr}");
}
