//! Models of the stopper: admission racing quiesce, closers racing stop, concurrent stops,
//! tokens registered racing quiesce, a quiesce racing a stop, re-entrant closers, timed
//! stops, panicking tasks, spawns that fail, async tasks and async waits for cancellation.
//!
//! Every scenario runs the real [`Stopper`]. The [`mutants`] module switches on, one at a
//! time, the mutation points planted in `racekit::stopper` (see its `MUTATION_POINTS`) and
//! pins what each backend reports when a scenario catches the bug.

use crate::support::expect_sound;
use racekit::model::Model;
use racekit::stopper::{SpawnError, StopError, Stopper, TaskOpts};
use racekit::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use racekit::sync::{thread, Arc, RaceCell};
use std::time::Duration;

/// A closer that marks the task's resources closed.
fn closes(stopper: &Stopper) -> Arc<AtomicBool> {
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    stopper.add_closer(move || flag.store(true, Ordering::SeqCst));
    closed
}

/// Runs, on a new thread, a task that checks after a scheduling point that its resources
/// are still open; the thread returns whether the task was admitted.
fn task_using(stopper: &Stopper, closed: &Arc<AtomicBool>) -> thread::JoinHandle<bool> {
    let (stopper, closed) = (stopper.clone(), closed.clone());
    thread::spawn(move || {
        stopper
            .run_task("user", |_| {
                thread::yield_now();
                assert!(
                    !closed.load(Ordering::SeqCst),
                    "shutdown order broken: a task ran after the closers closed its resources"
                );
            })
            .is_ok()
    })
}

/// A task is admitted on one thread while the main thread stops: it is either refused or
/// runs entirely before the closers, and stop returns with nothing running.
fn admission_racing_stop() {
    let stopper = Stopper::new();
    let closed = closes(&stopper);
    let worker = task_using(&stopper, &closed);
    stopper.stop();
    assert!(closed.load(Ordering::SeqCst), "stop returned before its closer ran");
    assert_eq!(stopper.live_tasks(), 0, "shutdown order broken: stop returned with a task running");
    worker.join().unwrap();
    assert!(stopper.run_task("late", |_| ()).is_err(), "a task was admitted after stop");
}

/// Two tasks run while the main thread stops: stop waits for both.
fn two_tasks_and_stop() {
    let stopper = Stopper::new();
    let closed = closes(&stopper);
    let workers = [task_using(&stopper, &closed), task_using(&stopper, &closed)];
    stopper.stop();
    assert_eq!(stopper.live_tasks(), 0, "shutdown order broken: stop returned with a task running");
    for worker in workers {
        worker.join().unwrap();
    }
}

/// A closer is added on one thread while the main thread stops: every closer runs
/// exactly once (deferred or at once, depending on who wins).
fn closer_added_racing_stop() {
    let stopper = Stopper::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let counting = |runs: &Arc<AtomicUsize>| {
        let runs = runs.clone();
        move || {
            runs.fetch_add(1, Ordering::SeqCst);
        }
    };
    let adder = {
        let (stopper, closer) = (stopper.clone(), counting(&runs));
        thread::spawn(move || stopper.add_closer(closer))
    };
    stopper.add_closer(counting(&runs));
    stopper.stop();
    adder.join().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2, "each of the two closers runs exactly once");
}

/// Two threads stop at once while a closer calls back into the stopper (adds a closer,
/// tries a task): neither stop returns before both closers ran, and nothing deadlocks.
fn concurrent_stops_with_a_reentrant_closer() {
    let stopper = Stopper::new();
    let runs = Arc::new(AtomicUsize::new(0));
    {
        let (inner, runs) = (stopper.clone(), runs.clone());
        stopper.add_closer(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            let nested = runs.clone();
            inner.add_closer(move || {
                nested.fetch_add(1, Ordering::SeqCst);
            });
            assert!(inner.run_task("from a closer", |_| ()).is_err(), "a task was admitted while closers ran");
        });
    }
    let other = {
        let (stopper, runs) = (stopper.clone(), runs.clone());
        thread::spawn(move || {
            stopper.stop();
            assert_eq!(runs.load(Ordering::SeqCst), 2, "a stop returned before the closers ran");
        })
    };
    stopper.stop();
    assert_eq!(runs.load(Ordering::SeqCst), 2, "a stop returned before the closers ran");
    other.join().unwrap();
}

/// A cancel-on-quiesce token is taken on one thread while the main thread quiesces: the
/// token is cancelled either way (given out cancelled, or cancelled by quiesce).
fn token_racing_quiesce() {
    let stopper = Stopper::new();
    let waiter = {
        let stopper = stopper.clone();
        thread::spawn(move || stopper.cancel_on_quiesce().wait())
    };
    stopper.quiesce();
    waiter.join().unwrap();
}

/// A quiesce on one thread races a stop on the main thread, with a cancel-on-quiesce token
/// registered before both: the quiesce drains the token under the lock and cancels it
/// after unlocking, so a stop that finds no task must still wait for that cancellation.
/// When stop returns every token is cancelled; closers run only after.
fn quiesce_racing_stop() {
    let stopper = Stopper::new();
    let registered = stopper.cancel_on_quiesce();
    let token = registered.token();
    // The closer records what it saw rather than asserting: the stop would catch its panic.
    let closed_early = Arc::new(AtomicBool::new(false));
    {
        let (seen_by_closer, quiesce_token, closed_early) =
            (token.clone(), stopper.quiesce_token(), closed_early.clone());
        stopper.add_closer(move || {
            let cancelled = seen_by_closer.is_cancelled() && quiesce_token.is_cancelled();
            closed_early.store(!cancelled, Ordering::SeqCst);
        });
    }
    let quiescer = {
        let stopper = stopper.clone();
        thread::spawn(move || stopper.quiesce())
    };
    let report = stopper.stop();
    assert!(!closed_early.load(Ordering::SeqCst), "a closer ran before every cancel-on-quiesce token was cancelled");
    assert!(token.is_cancelled(), "stop returned before a cancel-on-quiesce token was cancelled");
    assert!(stopper.quiesce_token().is_cancelled(), "stop returned before the quiesce token was cancelled");
    assert_eq!((report.closers_run, report.closers_panicked), (1, 0), "{report:?}");
    quiescer.join().unwrap();
    drop(registered);
}

/// A closer calls `try_stop` on its own stopper while another thread stops it too: the
/// closer gets [`StopError::CalledFromCloser`] instead of waiting for itself, and both
/// outside stops complete with the same report. (Its `stop` panics with that error instead,
/// caught and counted: a unit test checks that, since a panic fails a loom execution.)
fn closer_stops_its_own_stopper() {
    let stopper = Stopper::new();
    let inside = Arc::new(std::sync::Mutex::new(None));
    {
        let (own, inside) = (stopper.clone(), inside.clone());
        stopper.add_closer(move || {
            *inside.lock().unwrap() = Some(own.try_stop());
        });
    }
    let other = {
        let stopper = stopper.clone();
        thread::spawn(move || stopper.stop())
    };
    let report = stopper.stop();
    assert_eq!(other.join().unwrap(), report, "every stop returns the same report");
    assert_eq!(*inside.lock().unwrap(), Some(Err(StopError::CalledFromCloser)));
    assert_eq!((report.closers_run, report.closers_panicked), (1, 0), "{report:?}");
}

/// A value written before a quiesce, read on another thread that sees the quiesce token
/// cancelled: the token's flag must publish the write (Release on cancel, Acquire on
/// `is_cancelled`), since the reader takes no lock.
fn value_published_through_the_cancel_flag() {
    let stopper = Stopper::new();
    let config = Arc::new(RaceCell::new(0));
    let writer = {
        let (stopper, config) = (stopper.clone(), config.clone());
        thread::spawn(move || {
            config.set(42);
            stopper.quiesce();
        })
    };
    if stopper.quiesce_token().is_cancelled() {
        assert_eq!(config.get(), 42, "the write before the quiesce was not visible");
    }
    writer.join().unwrap();
}

/// A task panics on one thread while the main thread stops: the panic reaches the task's
/// caller, the task is counted down on the way out (and counted as abandoned), and stop
/// returns.
fn task_panics_while_stop_waits() {
    let stopper = Stopper::new();
    let crasher = {
        let stopper = stopper.clone();
        thread::spawn(move || {
            racekit::sync::catch_unwind(|| {
                stopper.run_task("crashes", |_| {
                    thread::yield_now();
                    panic!("the task failed");
                })
            })
            .map_or(true, |refused| refused.is_ok())
        })
    };
    let report = stopper.stop();
    assert_eq!(stopper.live_tasks(), 0, "shutdown order broken: stop returned with a task running");
    let admitted = crasher.join().unwrap();
    assert_eq!((report.tasks_started, report.tasks_abandoned), (u64::from(admitted), u64::from(admitted)));
}

/// A spawn fails after admission (the future's constructor panics) on one thread while the
/// main thread stops: the admission is released, so stop returns.
fn spawn_fails_while_stop_waits() {
    let stopper = Stopper::new();
    let spawner = {
        let stopper = stopper.clone();
        thread::spawn(move || {
            let spawned = racekit::sync::catch_unwind(|| {
                stopper.spawn_task("unbuildable", |_| -> std::future::Ready<()> { panic!("could not build the task") })
            });
            assert!(!matches!(spawned, Ok(Ok(_))), "a task whose constructor panicked was spawned");
        })
    };
    stopper.stop();
    assert_eq!(stopper.live_tasks(), 0, "shutdown order broken: stop returned with a task running");
    spawner.join().unwrap();
}

/// Async tasks: one spawned from inside another task racing an async stop, and a worker
/// awaiting its cancel token. Under shuttle tokio is shuttle's executor; loom cannot run
/// tokio.
#[cfg(not(racekit_loom))]
fn async_tasks_racing_stop_async() {
    use racekit::sync::task;
    task::block_on(async {
        let stopper = Stopper::new();
        let spawner = {
            let stopper = stopper.clone();
            task::spawn(
                async move { stopper.spawn_task("late", |cancel| async move { cancel.cancelled().await }).ok() },
            )
        };
        let worker = stopper
            .spawn_task("worker", |cancel| async move {
                cancel.cancelled().await;
                7
            })
            .expect("admitted before stop");
        stopper.stop_async().await;
        assert_eq!(stopper.live_tasks(), 0, "shutdown order broken: stop_async returned with a task running");
        let late = spawner.await.unwrap();
        let counts = stopper.stats().counts;
        assert_eq!(counts.tasks_started, 1 + u64::from(late.is_some()));
        assert_eq!(counts.tasks_refused, u64::from(late.is_none()));
        assert_eq!(worker.await.unwrap(), 7);
        if let Some(late) = late {
            late.await.unwrap();
        }
    });
}

/// Two callers share a quota of one place and both wait for it: the tasks run one at a
/// time (the quota is never exceeded), and the second caller is released by the first
/// task's end.
fn two_callers_share_a_quota_of_one() {
    let stopper = Stopper::new();
    let quota = stopper.task_quota(1).unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..2)
        .map(|n| {
            let (stopper, quota, running) = (stopper.clone(), quota.clone(), running.clone());
            thread::spawn(move || {
                let opts = TaskOpts::new(format!("upload {n}")).quota(&quota).wait_for_quota();
                stopper.run_task_with(opts, |_| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    thread::yield_now();
                    running.fetch_sub(1, Ordering::SeqCst);
                    now
                })
            })
        })
        .collect();
    for caller in callers {
        let concurrent = caller.join().unwrap().expect("nothing stops the stopper while they wait");
        assert!(concurrent <= 1, "the quota of one was exceeded: {concurrent} tasks ran at once");
    }
    assert_eq!(quota.in_use(), 0, "a place was not given back");
    assert_eq!(stopper.stop().tasks_started, 2);
}

/// A task holds the only place of a quota until it is cancelled while another caller waits
/// for the place and the main thread stops: the waiter leaves with an error (or ran before
/// the stop), never starts a task during shutdown, and stop returns.
fn stop_releases_a_quota_waiter() {
    let stopper = Stopper::new();
    let closed = closes(&stopper);
    let quota = stopper.task_quota(1).unwrap();
    let holder = stopper.spawn_thread_with(TaskOpts::new("holder").quota(&quota), |cancel| cancel.wait()).unwrap();
    let waiter = {
        let (stopper, quota, closed) = (stopper.clone(), quota.clone(), closed.clone());
        thread::spawn(move || {
            stopper.run_task_with(TaskOpts::new("waiter").quota(&quota).wait_for_quota(), |_| {
                assert!(
                    !closed.load(Ordering::SeqCst),
                    "shutdown order broken: a quota waiter started a task after the closers ran"
                );
            })
        })
    };
    let report = stopper.stop();
    assert_eq!(stopper.live_tasks(), 0, "shutdown order broken: stop returned with a task running");
    holder.join().unwrap();
    match waiter.join().unwrap() {
        Ok(()) | Err(SpawnError::CancelledWhileWaiting { .. } | SpawnError::Refused(_)) => {}
        Err(other) => panic!("the waiter failed for another reason: {other}"),
    }
    assert_eq!(quota.in_use(), 0, "a place was not given back");
    // Read after the joins: the waiter's refusal may come after the stop completed.
    let counts = stopper.stats().counts;
    assert_eq!(counts.tasks_started + counts.tasks_refused, 2, "{counts:?}");
    assert_eq!(report.closers_run, 1);
}

/// The async path: a task holds the only place until cancelled while another task awaits
/// a place and the main task stops: `stop_async` ends the wait with an error.
#[cfg(not(racekit_loom))]
fn stop_async_releases_an_async_quota_waiter() {
    use racekit::sync::task;
    task::block_on(async {
        let stopper = Stopper::new();
        let quota = stopper.task_quota(1).unwrap();
        let holder = stopper
            .spawn_task_with(TaskOpts::new("holder").quota(&quota), |cancel| async move { cancel.cancelled().await })
            .await
            .unwrap();
        let waiter = {
            let (stopper, quota) = (stopper.clone(), quota.clone());
            task::spawn(async move {
                let opts = TaskOpts::new("waiter").quota(&quota).wait_for_quota();
                stopper.spawn_task_with(opts, |_| async {}).await.map(|_| ())
            })
        };
        stopper.stop_async().await;
        holder.await.unwrap();
        match waiter.await.unwrap() {
            Ok(()) | Err(SpawnError::CancelledWhileWaiting { .. } | SpawnError::Refused(_)) => {}
            Err(other) => panic!("the waiter failed for another reason: {other}"),
        }
        assert_eq!(stopper.live_tasks(), 0, "shutdown order broken: stop_async returned with a task running");
        assert_eq!(quota.in_use(), 0, "a place was not given back");
    });
}

#[test]
fn a_quota_is_never_exceeded_and_a_finishing_task_releases_a_waiter() {
    expect_sound(Model::named("stopper: quota of one, two callers"), two_callers_share_a_quota_of_one);
}

#[test]
fn stop_releases_the_callers_waiting_for_quota() {
    expect_sound(Model::named("stopper: stop releases a quota waiter"), stop_releases_a_quota_waiter);
}

#[test]
#[cfg_attr(racekit_loom, ignore = "loom cannot run tokio; shuttle checks the async paths")]
fn stop_async_releases_the_tasks_waiting_for_quota() {
    #[cfg(not(racekit_loom))]
    expect_sound(
        Model::named("stopper: stop_async releases a quota waiter"),
        stop_async_releases_an_async_quota_waiter,
    );
}

#[test]
fn admission_racing_stop_is_refused_or_waited_for() {
    expect_sound(Model::named("stopper: admission racing stop"), admission_racing_stop);
}

#[test]
fn stop_waits_for_every_running_task() {
    expect_sound(Model::named("stopper: two tasks and stop"), two_tasks_and_stop);
}

#[test]
fn a_closer_added_racing_stop_runs_exactly_once() {
    expect_sound(Model::named("stopper: closer racing stop"), closer_added_racing_stop);
}

#[test]
fn concurrent_stops_wait_for_the_closers_and_closers_may_call_back() {
    expect_sound(Model::named("stopper: concurrent stops"), concurrent_stops_with_a_reentrant_closer);
}

#[test]
fn a_token_taken_racing_quiesce_is_cancelled() {
    expect_sound(Model::named("stopper: token racing quiesce"), token_racing_quiesce);
}

#[test]
fn when_stop_returns_every_token_is_cancelled_and_closers_run_only_after() {
    expect_sound(Model::named("stopper: tokens cancelled before closers"), quiesce_racing_stop);
}

#[test]
fn a_closer_that_stops_its_own_stopper_gets_an_error_not_a_deadlock() {
    expect_sound(Model::named("stopper: stop from a closer"), closer_stops_its_own_stopper);
}

#[test]
fn the_cancel_flag_publishes_what_was_written_before_it() {
    expect_sound(
        Model::named("stopper: value published through the cancel flag"),
        value_published_through_the_cancel_flag,
    );
}

#[test]
#[cfg_attr(racekit_loom, ignore = "a panic fails a loom execution even when caught, so the task is never counted down")]
fn a_task_that_panics_while_stop_waits_is_counted_down() {
    expect_sound(Model::named("stopper: task panics while stop waits"), task_panics_while_stop_waits);
}

#[test]
#[cfg_attr(racekit_loom, ignore = "a panic fails a loom execution even when caught, so the task is never counted down")]
fn a_spawn_that_fails_releases_its_admission() {
    expect_sound(Model::named("stopper: spawn fails while stop waits"), spawn_fails_while_stop_waits);
}

#[test]
#[cfg_attr(racekit_loom, ignore = "loom cannot run tokio; shuttle checks the async paths")]
fn async_tasks_and_a_spawn_racing_stop_async() {
    #[cfg(not(racekit_loom))]
    expect_sound(Model::named("stopper: async tasks"), async_tasks_racing_stop_async);
}

#[test]
fn a_timed_stop_names_the_tasks_it_still_waits_for() {
    // Whether the timeout fires is the checker's choice: either stop completes, or it names
    // exactly the one task still running; a second stop then completes.
    expect_sound(Model::named("stopper: timed stop"), || {
        let stopper = Stopper::new();
        let worker = {
            let stopper = stopper.clone();
            thread::spawn(move || stopper.run_task("slow", |cancel| cancel.wait()).is_ok())
        };
        match stopper.stop_timeout(Duration::from_millis(1)) {
            Ok(report) => assert_eq!(stopper.live_tasks(), 0, "{report:?}"),
            Err(StopError::TimedOut(timed_out)) => {
                assert_eq!(timed_out.still_running, ["slow"], "{timed_out}");
                assert!(!timed_out.closers_running);
            }
            Err(other) => panic!("called from outside the stopper: {other}"),
        }
        stopper.stop();
        let admitted = worker.join().unwrap();
        // Read after the join: a refusal may come after the stop completed.
        let counts = stopper.stats().counts;
        assert_eq!(counts.tasks_started, u64::from(admitted));
        assert_eq!(counts.tasks_refused, u64::from(!admitted));
        assert_eq!(stopper.live_tasks(), 0);
    });
}

/// The stopper's mutation points, each switched on in the real stopper and caught by one of
/// the scenarios above. Real threads hang rather than deadlock: each model gives them a
/// short run timeout.
mod mutants {
    use super::*;

    /// A model for one mutant: real threads give up on a run after two seconds.
    fn model(name: &str) -> Model {
        Model::named(format!("stopper mutant: {name}")).preemption_bound(2).std_run_timeout(Duration::from_secs(2))
    }

    crate::mutant_test! {
        /// The stop that finds no task closes while the quiescing thread is still between
        /// its drain and its cancel: the closer sees an uncancelled token.
        fn closing_before_the_tokens_are_cancelled_is_caught() {
            mutant: "stopper.stop.closes_before_tokens_cancelled",
            model: model("closes before tokens cancelled"),
            scenario: quiesce_racing_stop,
            loom: Panic "before every cancel-on-quiesce token was cancelled",
            shuttle: Panic "before every cancel-on-quiesce token was cancelled",
            std: Panic "before every cancel-on-quiesce token was cancelled",
        }
    }

    crate::mutant_test! {
        /// The second stop returns while the first is still running the closers.
        fn a_second_stop_returning_early_is_caught() {
            mutant: "stopper.stop.second_stop_returns_early",
            model: model("second stop returns early"),
            scenario: concurrent_stops_with_a_reentrant_closer,
            loom: Panic "a stop returned before the closers ran",
            shuttle: Panic "a stop returned before the closers ran",
            std: Panic "a stop returned before the closers ran",
        }
    }

    crate::mutant_test! {
        /// The closer's `try_stop` waits for `Stopped`, which only the closer's own thread
        /// can reach.
        fn a_closer_waiting_for_its_own_stop_is_caught() {
            mutant: "stopper.stop.closer_waits_for_its_own_stop",
            model: model("closer waits for its own stop"),
            scenario: closer_stops_its_own_stopper,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Hang "did not finish",
        }
    }

    crate::mutant_test! {
        /// The worker's count-down wakes `stop_async` between its read of the state and its
        /// registration: the wake-up is lost.
        fn stop_async_registering_late_is_caught() {
            mutant: "stopper.stop_async.registers_after_reading_state",
            model: model("stop_async registers late"),
            scenario: async_tasks_racing_stop_async,
            loom: Skip "loom cannot run tokio; shuttle checks the async paths",
            shuttle: Deadlock "deadlock",
            std: Skip "the window between the read and the registration is a few instructions: real threads did not hit it in 200 runs",
        }
    }

    crate::mutant_test! {
        /// The cancel lands between the worker's read of the flag and its registration:
        /// the worker never wakes, so `stop_async` waits for it forever.
        fn an_async_cancel_wait_registering_late_is_caught() {
            mutant: "stopper.token.cancelled_registers_after_reading_flag",
            model: model("async cancel wait registers late"),
            scenario: async_tasks_racing_stop_async,
            loom: Skip "loom cannot run tokio; shuttle checks the async paths",
            shuttle: Deadlock "deadlock",
            std: Skip "the window between the read and the registration is a few instructions: real threads did not hit it in 200 runs",
        }
    }

    crate::mutant_test! {
        /// Quiesce slips between the admission's phase check and its count: the task runs
        /// after the closers, or stop returns with it running.
        fn admission_checked_outside_the_lock_is_caught() {
            mutant: "stopper.admit.phase_checked_outside_the_lock",
            model: model("admission outside the lock"),
            scenario: admission_racing_stop,
            loom: Panic "shutdown order broken",
            shuttle: Panic "shutdown order broken",
            std: Panic "shutdown order broken",
        }
    }

    crate::mutant_test! {
        /// The last task ends while stop waits and nobody wakes it.
        fn a_last_task_that_wakes_nobody_is_caught() {
            mutant: "stopper.finish.last_task_wakes_nobody",
            model: model("last task wakes nobody"),
            scenario: admission_racing_stop,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Hang "did not finish",
        }
    }

    crate::mutant_test! {
        /// The second count-down finds the slot already freed (the guard's own check
        /// fails), or removes the slot another task reused, letting stop close early.
        fn a_task_counted_down_twice_is_caught() {
            mutant: "stopper.task.counted_down_twice",
            model: model("task counted down twice"),
            scenario: two_tasks_and_stop,
            loom: Panic "counted down once",
            shuttle: Panic "counted down once",
            std: Panic "counted down once",
        }
    }

    crate::mutant_test! {
        /// The panicking task keeps its count, so the stop waits for it forever.
        fn a_panicking_task_never_counted_down_is_caught() {
            mutant: "stopper.task.unwinding_task_not_counted_down",
            model: model("panicking task not counted down"),
            scenario: task_panics_while_stop_waits,
            loom: Skip "a panic fails a loom execution even when caught; shuttle and real threads check this",
            shuttle: Deadlock "deadlock",
            std: Hang "did not finish",
        }
    }

    crate::mutant_test! {
        /// The task whose spawn failed never started, so its admission is never released.
        fn a_failed_spawn_that_keeps_its_admission_is_caught() {
            mutant: "stopper.spawn.failed_spawn_not_counted_down",
            model: model("failed spawn keeps its admission"),
            scenario: spawn_fails_while_stop_waits,
            loom: Skip "a panic fails a loom execution even when caught; shuttle and real threads check this",
            shuttle: Deadlock "deadlock",
            std: Hang "did not finish",
        }
    }

    crate::mutant_test! {
        /// The closer's call back into the stopper waits for the lock its own thread holds.
        fn closers_run_under_the_lock_is_caught() {
            mutant: "stopper.close.closer_runs_under_the_lock",
            model: model("closers under the lock"),
            scenario: concurrent_stops_with_a_reentrant_closer,
            loom: Deadlock "not re-entrant",
            shuttle: Deadlock "not re-entrant",
            std: Deadlock "not re-entrant",
        }
    }

    crate::mutant_test! {
        /// A closer added between the empty pop and the `Stopped` mark is never run. Real
        /// threads land in that window only by chance: they get more runs.
        fn stopped_outside_the_last_pop_is_caught() {
            mutant: "stopper.close.stopped_outside_the_last_pop",
            model: model("stopped outside the last pop").iterations(2_000),
            scenario: closer_added_racing_stop,
            loom: Panic "exactly once",
            shuttle: Panic "exactly once",
            std: Panic "exactly once",
        }
    }

    crate::mutant_test! {
        /// A token registered after quiesce drained the list is never cancelled: its
        /// waiter blocks forever.
        fn a_token_registered_after_the_phase_check_is_caught() {
            mutant: "stopper.cancel_on_quiesce.registered_after_the_phase_check",
            model: model("token registered after the phase check"),
            scenario: token_racing_quiesce,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Hang "did not finish",
        }
    }

    crate::mutant_test! {
        /// The reader sees the flag set but not the write made before the cancel: loom's
        /// weak memory shows it as a causality violation.
        fn is_cancelled_reading_relaxed_is_caught() {
            mutant: "stopper.token.is_cancelled_reads_relaxed",
            model: model("is_cancelled reads relaxed"),
            scenario: value_published_through_the_cancel_flag,
            loom: DataRace "ausality",
            shuttle: Skip "shuttle's atomics are sequentially consistent: a weakened ordering cannot show",
            std: Skip "x86 loads acquire in hardware and the cell only sees overlapping accesses",
        }
    }

    crate::mutant_test! {
        /// Both callers find a place while one is taken: two tasks run under a quota of one.
        fn a_quota_admitting_one_over_its_limit_is_caught() {
            mutant: "stopper.quota.admits_one_over_the_limit",
            model: model("quota admits one over the limit"),
            scenario: two_callers_share_a_quota_of_one,
            loom: Panic "the quota of one was exceeded",
            shuttle: Panic "the quota of one was exceeded",
            std: Panic "the quota of one was exceeded",
        }
    }

    crate::mutant_test! {
        /// The second caller waits for the place the first task gives back, and nobody
        /// wakes it.
        fn a_released_place_that_wakes_nobody_is_caught() {
            mutant: "stopper.quota.release_wakes_nobody",
            model: model("quota release wakes nobody"),
            scenario: two_callers_share_a_quota_of_one,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Hang "did not finish",
        }
    }

    crate::mutant_test! {
        /// Woken by quiesce, the waiter keeps waiting for the place the cancelled holder
        /// frees, and then starts its task during shutdown.
        fn a_quota_waiter_ignoring_quiesce_is_caught() {
            mutant: "stopper.quota.waiter_ignores_quiesce",
            model: model("quota waiter ignores quiesce"),
            scenario: stop_releases_a_quota_waiter,
            loom: Panic "shutdown order broken",
            shuttle: Panic "shutdown order broken",
            std: Panic "shutdown order broken",
        }
    }

    crate::mutant_test! {
        /// The async waiter, woken by quiesce, waits on for the freed place and starts a
        /// task during shutdown: `stop_async` returns with it admitted.
        fn an_async_quota_waiter_ignoring_quiesce_is_caught() {
            mutant: "stopper.quota.waiter_ignores_quiesce",
            model: model("async quota waiter ignores quiesce"),
            scenario: stop_async_releases_an_async_quota_waiter,
            loom: Skip "loom cannot run tokio; shuttle checks the async paths",
            shuttle: Panic "shutdown order broken",
            std: Skip "the holder's cancel and the waiter's wake-up must interleave just so: real threads did not hit it in 200 runs",
        }
    }
}
