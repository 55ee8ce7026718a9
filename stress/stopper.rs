//! Stress suite of the stopper: random mixes of threads and tokio tasks that finish, panic
//! or run until cancelled, closers, and several concurrent stops, on a multi-threaded
//! runtime. No task leaks: after stop returns, every thread is joined and every async task
//! awaited (a leaked one would hang the case), and the stopper's own count is zero.

use crate::support::cases;
use proptest::prelude::*;
use racekit::stopper::{SpawnError, StopError, Stopper, TaskOpts, TaskRefused};
use racekit::sync::atomic::{AtomicUsize, Ordering};
use racekit::sync::{thread, Arc, Latch};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Task {
    /// A thread that returns at once.
    ThreadReturns,
    /// A thread that panics.
    ThreadPanics,
    /// A thread that runs until its cancel token fires.
    ThreadUntilCancelled,
    /// An async task that returns after a yield.
    AsyncReturns,
    /// An async task that panics.
    AsyncPanics,
    /// An async task that runs until its cancel token fires.
    AsyncUntilCancelled,
    /// A cancel-on-quiesce token a thread waits on (not a task).
    TokenWaiter,
    /// A closer.
    Closer,
}

fn task() -> impl Strategy<Value = Task> {
    prop_oneof![
        3 => Just(Task::ThreadReturns),
        1 => Just(Task::ThreadPanics),
        3 => Just(Task::ThreadUntilCancelled),
        3 => Just(Task::AsyncReturns),
        1 => Just(Task::AsyncPanics),
        3 => Just(Task::AsyncUntilCancelled),
        2 => Just(Task::TokenWaiter),
        3 => Just(Task::Closer),
    ]
}

/// Runs `tasks` on a stopper, stops it from `stoppers` threads at once (one of them first
/// through a short timed stop while a stubborn task holds it up, if `stubborn`), and checks
/// every count against what was spawned.
fn run_case(tasks: &[Task], stoppers: usize, stubborn: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Async tasks are spawned onto this runtime.
    let _in_runtime = runtime.enter();
    let stopper = Stopper::new();
    let closers_run = Arc::new(AtomicUsize::new(0));
    let (mut threads, mut asyncs, mut waiters) = (Vec::new(), Vec::new(), Vec::new());
    let (mut panics, mut closers) = (0, 0);
    for (index, task) in tasks.iter().enumerate() {
        let name = format!("task {index}");
        match task {
            Task::ThreadReturns => threads.push(stopper.spawn_thread(name, |_| ()).unwrap()),
            Task::ThreadPanics => threads.push(stopper.spawn_thread(name, |_| panic!("a task fails")).unwrap()),
            Task::ThreadUntilCancelled => threads.push(stopper.spawn_thread(name, |cancel| cancel.wait()).unwrap()),
            Task::AsyncReturns => asyncs.push(stopper.spawn_task(name, |_| tokio::task::yield_now()).unwrap()),
            Task::AsyncPanics => {
                asyncs.push(stopper.spawn_task(name, |_| async { panic!("an async task fails") }).unwrap())
            }
            Task::AsyncUntilCancelled => {
                asyncs.push(stopper.spawn_task(name, |cancel| async move { cancel.cancelled().await }).unwrap())
            }
            Task::TokenWaiter => {
                let token = stopper.cancel_on_quiesce();
                waiters.push(thread::spawn(move || token.wait()));
            }
            Task::Closer => {
                let closers_run = closers_run.clone();
                stopper.add_closer(move || {
                    closers_run.fetch_add(1, Ordering::SeqCst);
                });
                closers += 1;
            }
        }
        panics += u64::from(matches!(task, Task::ThreadPanics | Task::AsyncPanics));
    }
    let spawned = (threads.len() + asyncs.len()) as u64;
    if stubborn {
        // A task that ignores its token: a timed stop names it, a later stop completes.
        let gate = Arc::new(Latch::new());
        let held = gate.clone();
        let stubborn = stopper.spawn_thread("stubborn", move |_| held.wait()).unwrap();
        let Err(StopError::TimedOut(timed_out)) = stopper.stop_timeout(Duration::from_millis(20)) else {
            panic!("the stubborn task holds stop up");
        };
        assert!(timed_out.still_running.contains(&"stubborn".to_owned()), "{timed_out}");
        assert!(matches!(stopper.run_task("late", |_| ()), Err(TaskRefused { .. })), "quiescing refuses tasks");
        gate.set();
        stubborn.join().unwrap();
    }
    let reports: Vec<_> = (0..stoppers)
        .map(|_| {
            let stopper = stopper.clone();
            thread::spawn(move || stopper.stop())
        })
        .map(|stop| stop.join().unwrap())
        .collect();
    let report = reports[0];
    assert!(reports.iter().all(|other| *other == report), "stops disagree: {reports:?}");
    assert_eq!(report.tasks_started, spawned + u64::from(stubborn));
    assert_eq!(report.tasks_abandoned, panics);
    assert_eq!(report.closers_run, closers);
    assert_eq!(closers_run.load(Ordering::SeqCst) as u64, closers, "a closer ran other than once");
    assert_eq!(stopper.live_tasks(), 0);
    assert!(stopper.running_tasks().is_empty());
    let thread_panics = threads.into_iter().map(|thread| thread.join()).filter(Result::is_err).count();
    let async_panics = runtime.block_on(async {
        let mut panicked = 0;
        for handle in asyncs {
            panicked += usize::from(handle.await.is_err());
        }
        panicked
    });
    assert_eq!((thread_panics + async_panics) as u64, panics);
    for waiter in waiters {
        waiter.join().unwrap();
    }
}

proptest! {
    #![proptest_config(cases(24))]

    #[test]
    fn every_task_ends_and_every_closer_runs_once(
        tasks in prop::collection::vec(task(), 0..12),
        stoppers in 1usize..=3,
        stubborn in prop::bool::weighted(0.2),
    ) {
        crate::support::watch("the stoppers to return and every task to end");
        // Not inside `check`: it fails a run on any task panic, and these panic on purpose.
        run_case(&tasks, stoppers, stubborn);
    }
}

/// `callers` async tasks each start `per_caller` tasks under a quota of `limit` (waiting, or
/// failing fast), on a 2-worker runtime, while a stop lands after `stop_after` of them: the
/// quota's high-water mark never exceeds its limit, every caller returns (no wait outlives
/// the stop), every place is given back, and the counts add up.
fn run_quota_case(limit: usize, callers: usize, per_caller: usize, wait: bool, stop_after: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let stopper = Stopper::new();
        let quota = stopper.task_quota(limit).unwrap();
        let (running, high_water, admitted) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let callers: Vec<_> = (0..callers)
            .map(|caller| {
                let (stopper, quota) = (stopper.clone(), quota.clone());
                let (running, high_water, admitted) = (running.clone(), high_water.clone(), admitted.clone());
                tokio::spawn(async move {
                    let mut handles = Vec::new();
                    for n in 0..per_caller {
                        let opts = TaskOpts::new(format!("caller {caller} task {n}")).quota(&quota);
                        let opts = if wait { opts.wait_for_quota() } else { opts };
                        let (running, high_water) = (running.clone(), high_water.clone());
                        let spawned = stopper
                            .spawn_task_with(opts, move |_| async move {
                                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                                high_water.fetch_max(now, Ordering::SeqCst);
                                tokio::task::yield_now().await;
                                running.fetch_sub(1, Ordering::SeqCst);
                            })
                            .await;
                        match spawned {
                            Ok(handle) => {
                                admitted.fetch_add(1, Ordering::SeqCst);
                                handles.push(handle);
                            }
                            Err(SpawnError::QuotaExhausted { limit: seen, .. }) => assert!(!wait && seen == limit),
                            Err(SpawnError::Refused(_) | SpawnError::CancelledWhileWaiting { .. }) => break,
                            Err(other) => panic!("unexpected: {other}"),
                        }
                    }
                    for handle in handles {
                        handle.await.unwrap();
                    }
                })
            })
            .collect();
        while admitted.load(Ordering::SeqCst) < stop_after && callers.iter().any(|caller| !caller.is_finished()) {
            tokio::task::yield_now().await;
        }
        let report = stopper.stop_async().await;
        for caller in callers {
            caller.await.unwrap();
        }
        assert!(high_water.load(Ordering::SeqCst) <= limit, "the quota of {limit} was exceeded");
        assert_eq!(quota.in_use(), 0, "a place was not given back");
        assert_eq!(stopper.live_tasks(), 0);
        let counts = stopper.stats().counts;
        assert_eq!(counts.tasks_started, admitted.load(Ordering::SeqCst) as u64);
        assert!(report.tasks_started <= counts.tasks_started);
    });
}

proptest! {
    #![proptest_config(cases(24))]

    #[test]
    fn a_quota_is_never_exceeded_and_stop_ends_every_wait(
        limit in 1usize..=3,
        callers in 1usize..=4,
        per_caller in 1usize..=8,
        wait in any::<bool>(),
        stop_after in 0usize..=16,
    ) {
        run_quota_case(limit, callers, per_caller, wait, stop_after);
    }
}
