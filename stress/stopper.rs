//! Stress suite of the stopper: random mixes of threads and tokio tasks that finish, panic
//! or run until cancelled, closers, and several concurrent stops, on a multi-threaded
//! runtime. No task leaks: after stop returns, every thread is joined and every async task
//! awaited (a leaked one would hang the case), and the stopper's own count is zero.

use crate::support::cases;
use proptest::prelude::*;
use racekit::stopper::{StopError, Stopper, TaskRefused};
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
