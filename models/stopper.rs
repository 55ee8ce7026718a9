//! Models of the stopper: admission racing quiesce, closers racing stop, concurrent stops,
//! tokens registered racing quiesce, re-entrant closers, timed stops, async tasks.
//!
//! Each scenario is generic over [`StopperUnderTest`], so the mutants in [`mutants`] run the
//! very scenarios the real stopper passes.

use crate::support::{expect_caught, expect_each_sound, expect_sound};
use racekit::model::Model;
use racekit::stopper::{StopError, Stopper};
use racekit::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use racekit::sync::{thread, Arc};
use std::time::Duration;

/// What the scenarios need of a stopper.
pub trait StopperUnderTest: Send + Sync + 'static {
    fn create() -> Self;
    /// Runs `body` as a task on this thread; `false` (without running it) when refused.
    fn run_task(&self, body: impl FnOnce()) -> bool;
    fn add_closer(&self, closer: impl FnOnce() + Send + 'static);
    fn quiesce(&self);
    fn stop(&self);
    /// Gets a cancel-on-quiesce token and blocks until it is cancelled.
    fn wait_for_quiesce(&self);
    fn live(&self) -> usize;
}

impl StopperUnderTest for Stopper {
    fn create() -> Self {
        Stopper::new()
    }
    fn run_task(&self, body: impl FnOnce()) -> bool {
        Stopper::run_task(self, "task", |_| body()).is_ok()
    }
    fn add_closer(&self, closer: impl FnOnce() + Send + 'static) {
        Stopper::add_closer(self, closer);
    }
    fn quiesce(&self) {
        Stopper::quiesce(self);
    }
    fn stop(&self) {
        Stopper::stop(self);
    }
    fn wait_for_quiesce(&self) {
        self.cancel_on_quiesce().wait();
    }
    fn live(&self) -> usize {
        self.live_tasks()
    }
}

/// A closer that marks the task's resources closed.
fn closes<S: StopperUnderTest>(stopper: &S) -> Arc<AtomicBool> {
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    stopper.add_closer(move || flag.store(true, Ordering::SeqCst));
    closed
}

/// A task that checks, after a scheduling point, that its resources are still open.
fn task_using(closed: &Arc<AtomicBool>) -> impl FnOnce() {
    let closed = closed.clone();
    move || {
        thread::yield_now();
        assert!(!closed.load(Ordering::SeqCst), "a task ran after the closers closed its resources");
    }
}

/// A task is admitted on one thread while the main thread stops: it is either refused or
/// runs entirely before the closers, and stop returns with nothing running.
fn admission_racing_stop<S: StopperUnderTest>() {
    let stopper = Arc::new(S::create());
    let closed = closes(&*stopper);
    let worker = {
        let (stopper, body) = (stopper.clone(), task_using(&closed));
        thread::spawn(move || stopper.run_task(body))
    };
    stopper.stop();
    assert!(closed.load(Ordering::SeqCst), "stop returned before its closer ran");
    assert_eq!(stopper.live(), 0, "stop returned with a task running");
    worker.join().unwrap();
    assert!(!stopper.run_task(|| ()), "a task was admitted after stop");
}

/// Two tasks run while the main thread stops: stop waits for both.
fn two_tasks_and_stop<S: StopperUnderTest>() {
    let stopper = Arc::new(S::create());
    let closed = closes(&*stopper);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (stopper, body) = (stopper.clone(), task_using(&closed));
            thread::spawn(move || stopper.run_task(body))
        })
        .collect();
    stopper.stop();
    assert_eq!(stopper.live(), 0, "stop returned with a task running");
    for worker in workers {
        worker.join().unwrap();
    }
}

/// A closer is added on one thread while the main thread stops: every closer runs
/// exactly once (deferred or at once, depending on who wins).
fn closer_added_racing_stop<S: StopperUnderTest>() {
    let stopper = Arc::new(S::create());
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
fn concurrent_stops_with_a_reentrant_closer<S: StopperUnderTest>() {
    let stopper = Arc::new(S::create());
    let runs = Arc::new(AtomicUsize::new(0));
    {
        let (inner, runs) = (stopper.clone(), runs.clone());
        stopper.add_closer(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            let nested = runs.clone();
            inner.add_closer(move || {
                nested.fetch_add(1, Ordering::SeqCst);
            });
            assert!(!inner.run_task(|| ()), "a task was admitted while closers ran");
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
fn token_racing_quiesce<S: StopperUnderTest>() {
    let stopper = Arc::new(S::create());
    let waiter = {
        let stopper = stopper.clone();
        thread::spawn(move || stopper.wait_for_quiesce())
    };
    stopper.quiesce();
    waiter.join().unwrap();
}

#[test]
fn admission_racing_stop_is_refused_or_waited_for() {
    expect_sound(Model::named("stopper: admission racing stop"), admission_racing_stop::<Stopper>);
}

#[test]
fn stop_waits_for_every_running_task() {
    expect_sound(Model::named("stopper: two tasks and stop"), two_tasks_and_stop::<Stopper>);
}

#[test]
fn a_closer_added_racing_stop_runs_exactly_once() {
    expect_sound(Model::named("stopper: closer racing stop"), closer_added_racing_stop::<Stopper>);
}

#[test]
fn concurrent_stops_wait_for_the_closers_and_closers_may_call_back() {
    expect_sound(Model::named("stopper: concurrent stops"), concurrent_stops_with_a_reentrant_closer::<Stopper>);
}

#[test]
fn a_token_taken_racing_quiesce_is_cancelled() {
    expect_sound(Model::named("stopper: token racing quiesce"), token_racing_quiesce::<Stopper>);
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

/// A quiesce on one thread races a stop on the main thread, with a cancel-on-quiesce token
/// registered before both: the quiesce drains the token under the lock and cancels it
/// after unlocking, so a stop that finds no task must still wait for that cancellation.
/// When stop returns every token is cancelled; closers run only after.
#[test]
fn when_stop_returns_every_token_is_cancelled_and_closers_run_only_after() {
    expect_sound(Model::named("stopper: tokens cancelled before closers"), || {
        let stopper = Stopper::new();
        let registered = stopper.cancel_on_quiesce();
        let token = registered.token();
        let (seen_by_closer, quiesce_token) = (token.clone(), stopper.quiesce_token());
        stopper.add_closer(move || {
            assert!(
                seen_by_closer.is_cancelled() && quiesce_token.is_cancelled(),
                "a closer ran before every cancel-on-quiesce token was cancelled"
            );
        });
        let quiescer = {
            let stopper = stopper.clone();
            thread::spawn(move || stopper.quiesce())
        };
        let report = stopper.stop();
        assert!(token.is_cancelled(), "stop returned before a cancel-on-quiesce token was cancelled");
        assert!(stopper.quiesce_token().is_cancelled(), "stop returned before the quiesce token was cancelled");
        assert_eq!((report.closers_run, report.closers_panicked), (1, 0), "{report:?}");
        quiescer.join().unwrap();
        drop(registered);
    });
}

/// A closer that calls stop on its own stopper, while another thread stops it too: the
/// closer's `try_stop` is refused with a typed error instead of waiting for itself, and both
/// outside stops complete. (Its `stop` panics instead, caught and counted: a unit test
/// checks that; under loom a panicking closer's captured `Arc` is leaked on purpose.)
#[test]
fn a_closer_that_stops_its_own_stopper_gets_an_error_not_a_deadlock() {
    expect_sound(Model::named("stopper: stop from a closer"), || {
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
    });
}

/// Async tasks: one spawned from inside another task racing an async stop. Under shuttle
/// tokio is shuttle's executor; loom cannot run tokio.
#[cfg(not(racekit_loom))]
#[test]
fn async_tasks_and_a_spawn_racing_stop_async() {
    use racekit::sync::task;
    expect_sound(Model::named("stopper: async tasks"), || {
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
            assert_eq!(stopper.live_tasks(), 0, "stop_async returned with a task running");
            let late = spawner.await.unwrap();
            let counts = stopper.stats().counts;
            assert_eq!(counts.tasks_started, 1 + u64::from(late.is_some()));
            assert_eq!(counts.tasks_refused, u64::from(late.is_none()));
            assert_eq!(worker.await.unwrap(), 7);
            if let Some(late) = late {
                late.await.unwrap();
            }
        });
    });
}

/// Buggy variants of the stopper, each wrong in one place, all sharing one implementation
/// so that every other line is the same as in a correct stopper.
mod mutants {
    use super::*;
    use crate::support::MODEL_CHECKER;
    use racekit::model::FailureKind;
    use racekit::stopper::{CancelToken, StopperPhase};
    use racekit::sync::{Condvar, Mutex};

    const CLOSERS_RUN_UNDER_THE_LOCK: u8 = 1;
    const ADMISSION_CHECKED_OUTSIDE_THE_LOCK: u8 = 2;
    const TASK_COUNTED_DOWN_TWICE: u8 = 3;
    /// Rust cannot read the list without its lock; the analogue of Go's unlocked read is
    /// taking the list in one critical section and marking the stopper stopped in another,
    /// so a closer added in between is never read.
    const CLOSER_LIST_READ_OUTSIDE_THE_STOPPING_SECTION: u8 = 4;
    const SECOND_STOP_RETURNS_EARLY: u8 = 5;
    const LAST_TASK_WAKES_NOBODY: u8 = 6;
    const TOKEN_REGISTERED_AFTER_THE_PHASE_CHECK: u8 = 7;

    type Closer = Box<dyn FnOnce() + Send>;

    struct State {
        phase: StopperPhase,
        live: usize,
        closers: Vec<Closer>,
        tokens: Vec<CancelToken>,
    }

    struct MutantStopper<const BUG: u8> {
        state: Mutex<State>,
        changed: Condvar,
    }

    impl<const BUG: u8> MutantStopper<BUG> {
        fn finish(&self) {
            let mut state = self.state.lock();
            // Saturating, as a defensive counter would be: the double count-down then
            // shows only through its effect, a stop that stops waiting too early.
            state.live = state.live.saturating_sub(1);
            let last = state.live == 0 && state.phase == StopperPhase::Quiescing;
            drop(state);
            if last && BUG != LAST_TASK_WAKES_NOBODY {
                self.changed.notify_all();
            }
        }

        fn run_closers(&self) {
            loop {
                let mut state = self.state.lock();
                match state.closers.pop() {
                    Some(closer) => {
                        drop(state);
                        closer();
                    }
                    None => {
                        state.phase = StopperPhase::Stopped;
                        drop(state);
                        self.changed.notify_all();
                        return;
                    }
                }
            }
        }
    }

    impl<const BUG: u8> StopperUnderTest for MutantStopper<BUG> {
        fn create() -> Self {
            MutantStopper {
                state: Mutex::new(State {
                    phase: StopperPhase::Running,
                    live: 0,
                    closers: Vec::new(),
                    tokens: Vec::new(),
                }),
                changed: Condvar::new(),
            }
        }

        fn run_task(&self, body: impl FnOnce()) -> bool {
            let mut state = self.state.lock();
            if state.phase != StopperPhase::Running {
                return false;
            }
            if BUG == ADMISSION_CHECKED_OUTSIDE_THE_LOCK {
                drop(state);
                state = self.state.lock();
            }
            state.live += 1;
            drop(state);
            body();
            self.finish();
            if BUG == TASK_COUNTED_DOWN_TWICE {
                self.finish();
            }
            true
        }

        fn add_closer(&self, closer: impl FnOnce() + Send + 'static) {
            let mut state = self.state.lock();
            if state.phase == StopperPhase::Stopped {
                drop(state);
                closer();
            } else {
                state.closers.push(Box::new(closer));
            }
        }

        fn quiesce(&self) {
            let mut state = self.state.lock();
            if state.phase == StopperPhase::Running {
                state.phase = StopperPhase::Quiescing;
                let tokens = std::mem::take(&mut state.tokens);
                drop(state);
                for token in tokens {
                    token.cancel();
                }
            }
        }

        fn stop(&self) {
            if BUG == SECOND_STOP_RETURNS_EARLY && self.state.lock().phase != StopperPhase::Running {
                return;
            }
            self.quiesce();
            let mut state = self.state.lock();
            loop {
                match state.phase {
                    StopperPhase::Quiescing if state.live == 0 => break,
                    StopperPhase::Stopped => return,
                    _ => state = self.changed.wait(state),
                }
            }
            state.phase = StopperPhase::Closing;
            match BUG {
                CLOSERS_RUN_UNDER_THE_LOCK => {
                    while let Some(closer) = state.closers.pop() {
                        closer();
                    }
                    state.phase = StopperPhase::Stopped;
                    drop(state);
                    self.changed.notify_all();
                }
                CLOSER_LIST_READ_OUTSIDE_THE_STOPPING_SECTION => {
                    let closers = std::mem::take(&mut state.closers);
                    drop(state);
                    closers.into_iter().rev().for_each(|closer| closer());
                    self.state.lock().phase = StopperPhase::Stopped;
                    self.changed.notify_all();
                }
                _ => {
                    drop(state);
                    self.run_closers();
                }
            }
        }

        fn wait_for_quiesce(&self) {
            let token = CancelToken::new();
            let mut state = self.state.lock();
            let running = state.phase == StopperPhase::Running;
            if BUG == TOKEN_REGISTERED_AFTER_THE_PHASE_CHECK {
                drop(state);
                state = self.state.lock();
            }
            if running {
                state.tokens.push(token.clone());
            } else {
                token.cancel();
            }
            drop(state);
            token.wait();
        }

        fn live(&self) -> usize {
            self.state.lock().live
        }
    }

    #[test]
    fn the_mutant_scaffold_is_sound_without_a_bug() {
        // With no bug switched on the scaffold passes every scenario, so each mutant below
        // is caught for its one bug, not for a flaw in the scaffold.
        expect_each_sound(
            "stopper: scaffold",
            &[
                ("admission", admission_racing_stop::<MutantStopper<0>>),
                ("two tasks", two_tasks_and_stop::<MutantStopper<0>>),
                ("closer racing stop", closer_added_racing_stop::<MutantStopper<0>>),
                ("concurrent stops", concurrent_stops_with_a_reentrant_closer::<MutantStopper<0>>),
                ("token", token_racing_quiesce::<MutantStopper<0>>),
            ],
        );
    }

    fn mentions_any(failure: &racekit::model::Failure, needles: &[&str]) -> bool {
        needles.iter().any(|needle| failure.message.contains(needle))
    }

    /// Asserts a deadlock where a model checker ran (real threads may hang or panic).
    fn assert_deadlock(failure: &racekit::model::Failure) {
        if MODEL_CHECKER {
            assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
        }
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn closers_run_under_the_lock_is_caught() {
        // The closer's call back into the stopper waits for the lock its caller holds.
        let failure = expect_caught(
            Model::named("stopper: closers under the lock"),
            concurrent_stops_with_a_reentrant_closer::<MutantStopper<CLOSERS_RUN_UNDER_THE_LOCK>>,
        );
        assert_deadlock(&failure);
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn admission_checked_outside_the_lock_is_caught() {
        let failure = expect_caught(
            Model::named("stopper: admission outside the lock"),
            admission_racing_stop::<MutantStopper<ADMISSION_CHECKED_OUTSIDE_THE_LOCK>>,
        );
        assert!(mentions_any(&failure, &["after the closers", "task running"]), "{failure}");
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_task_counted_down_twice_is_caught() {
        let failure = expect_caught(
            Model::named("stopper: double count-down"),
            two_tasks_and_stop::<MutantStopper<TASK_COUNTED_DOWN_TWICE>>,
        );
        assert!(mentions_any(&failure, &["after the closers", "task running"]), "{failure}");
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn closer_list_read_without_the_lock_is_caught() {
        let failure = expect_caught(
            Model::named("stopper: closer list read outside the stopping section"),
            closer_added_racing_stop::<MutantStopper<CLOSER_LIST_READ_OUTSIDE_THE_STOPPING_SECTION>>,
        );
        assert!(failure.message.contains("exactly once"), "{failure}");
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_second_stop_returning_early_is_caught() {
        let failure = expect_caught(
            Model::named("stopper: second stop returns early"),
            concurrent_stops_with_a_reentrant_closer::<MutantStopper<SECOND_STOP_RETURNS_EARLY>>,
        );
        assert!(failure.message.contains("before the closers ran"), "{failure}");
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_last_task_that_wakes_nobody_is_caught() {
        let failure = expect_caught(
            Model::named("stopper: lost wake-up"),
            admission_racing_stop::<MutantStopper<LAST_TASK_WAKES_NOBODY>>,
        );
        assert_deadlock(&failure);
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_token_registered_after_the_phase_check_is_caught() {
        let failure = expect_caught(
            Model::named("stopper: token check-then-act"),
            token_racing_quiesce::<MutantStopper<TOKEN_REGISTERED_AFTER_THE_PHASE_CHECK>>,
        );
        assert_deadlock(&failure);
    }
}
