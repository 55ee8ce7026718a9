//! Benchmarks: the cost of spawning and completing a supervised tokio task, racekit's
//! `Stopper` against tokio-util's `TaskTracker` with a `CancellationToken`.
//!
//! Both contenders do the same work per task: spawn it with a cancel token, run a body that
//! reads the token once, and complete. Tasks are spawned in batches of [`BATCH`], each batch
//! awaited through its join handles before the next (so memory stays bounded), and each
//! sample ends with the shutdown (`stop_async`; `close` + `wait`), so admission, counting,
//! completion and the final wait are all timed.
//!
//! `stopper/spawn_complete`, two cells: a current-thread runtime (no contention), and a
//! 2-worker runtime, tasks completing on both workers at once (the stopper's one lock
//! against the tracker's one atomic).
//!
//! One operation is one task. Contenders run in alternating rounds with the noise band of
//! the decision benches (`common::Suite::compare`), each on a runtime of its own built once
//! per benchmark. Run through `cargo bench-report`, or `cargo bench --bench stopper [-- --quick]`.

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod common;

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod contenders {
    use super::common::{Cell, Contender, Runner, Suite};
    use racekit::stopper::Stopper;
    use serde_json::json;
    use std::future::Future;
    use std::hint::black_box;
    use std::time::{Duration, Instant};
    use tokio::runtime::Runtime;
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    /// Tasks spawned before their handles are awaited.
    const BATCH: u64 = 1024;

    /// A supervisor of tokio tasks that each get a cancel token.
    trait Supervisor: Sized {
        fn create() -> Self;
        /// Spawns one task that reads its token; returns its join handle.
        fn spawn_one(&self) -> tokio::task::JoinHandle<bool>;
        /// Refuses new tasks, cancels, and waits for every task.
        fn shut_down(self) -> impl Future<Output = ()>;
    }

    impl Supervisor for Stopper {
        fn create() -> Self {
            Stopper::new()
        }
        fn spawn_one(&self) -> tokio::task::JoinHandle<bool> {
            self.spawn_task("bench", |cancel| async move { black_box(cancel.is_cancelled()) }).expect("running")
        }
        async fn shut_down(self) {
            self.stop_async().await;
        }
    }

    struct Tracked {
        tracker: TaskTracker,
        token: CancellationToken,
    }

    impl Supervisor for Tracked {
        fn create() -> Self {
            Tracked { tracker: TaskTracker::new(), token: CancellationToken::new() }
        }
        fn spawn_one(&self) -> tokio::task::JoinHandle<bool> {
            let token = self.token.clone();
            self.tracker.spawn(async move { black_box(token.is_cancelled()) })
        }
        async fn shut_down(self) {
            self.tracker.close();
            self.token.cancel();
            self.tracker.wait().await;
        }
    }

    /// Spawns and completes `iters` tasks under a fresh `S`, then shuts it down.
    fn sample<S: Supervisor>(runtime: &Runtime, iters: u64) -> Duration {
        runtime.block_on(async {
            let start = Instant::now();
            let supervisor = S::create();
            let mut left = iters;
            while left > 0 {
                let batch = left.min(BATCH);
                let handles: Vec<_> = (0..batch).map(|_| supervisor.spawn_one()).collect();
                for handle in handles {
                    black_box(handle.await.expect("a bench task"));
                }
                left -= batch;
            }
            supervisor.shut_down().await;
            start.elapsed()
        })
    }

    /// Supervisor `S` on its own runtime.
    struct Supervising<S> {
        runtime: Runtime,
        supervisor: std::marker::PhantomData<S>,
    }

    impl<S: Supervisor> Runner for Supervising<S> {
        fn run(&mut self, ops: u64) -> Duration {
            sample::<S>(&self.runtime, ops)
        }
    }

    fn contender<S: Supervisor + 'static>(id: &str, workers: usize) -> Contender<'static> {
        Contender::new(id, move |_| {
            let runtime = match workers {
                0 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
                n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
            };
            Supervising::<S> { runtime: runtime.expect("a runtime"), supervisor: std::marker::PhantomData }
        })
    }

    pub fn main() {
        let mut suite = Suite::new("stopper");
        // 0 workers: a current-thread runtime.
        for (label, workers) in [("current-thread runtime", 0), ("2-worker runtime", 2)] {
            let cell = Cell::new(label, json!({ "runtime_workers": workers, "batch": BATCH }));
            let contenders = [
                contender::<Stopper>("racekit_stopper", workers),
                contender::<Tracked>("tokio_util_task_tracker", workers),
            ];
            suite.compare("stopper/spawn_complete", &cell, "racekit_stopper", None, &contenders);
        }
        suite.finish();
    }
}

fn main() {
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    contenders::main();
}
