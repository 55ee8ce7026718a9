//! Benchmarks: the cost of spawning and completing a supervised tokio task, racekit's
//! `Stopper` against tokio-util's `TaskTracker` with a `CancellationToken`.
//!
//! Both contenders do the same work per task: spawn it with a cancel token, run a body that
//! reads the token once, and complete. Tasks are spawned in batches of [`BATCH`], each batch
//! awaited through its join handles before the next (so memory stays bounded), and each
//! sample ends with the shutdown (`stop_async`; `close` + `wait`), so admission, counting,
//! completion and the final wait are all timed.
//!
//! - `stopper/spawn_complete_current_thread`: a current-thread runtime (no contention).
//! - `stopper/spawn_complete_2_workers`: a 2-worker runtime, tasks completing on both
//!   workers at once (the stopper's one lock against the tracker's one atomic).
//!
//! One iteration is one task. Each group runs both contenders in the same process on the
//! same runtime, so the ratio survives a machine whose speed drifts slowly. Run with
//! `cargo bench --bench stopper` (final figures on a quiet machine) or `-- --quick`.

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod contenders {
    use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
    use racekit::stopper::Stopper;
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

    fn compare(c: &mut Criterion, group_name: &str, runtime: &Runtime) {
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements(1)).measurement_time(Duration::from_secs(3));
        // One cell, two contenders: the report compares ids that share a parameter.
        group.bench_function(BenchmarkId::new("racekit_stopper", "spawn_and_complete"), |b| {
            b.iter_custom(|iters| sample::<Stopper>(runtime, iters))
        });
        group.bench_function(BenchmarkId::new("tokio_util_task_tracker", "spawn_and_complete"), |b| {
            b.iter_custom(|iters| sample::<Tracked>(runtime, iters))
        });
        group.finish();
    }

    fn current_thread(c: &mut Criterion) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        compare(c, "stopper/spawn_complete_current_thread", &runtime);
    }

    fn two_workers(c: &mut Criterion) {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        compare(c, "stopper/spawn_complete_2_workers", &runtime);
    }

    criterion_group!(benches, current_thread, two_workers);
}

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
criterion::criterion_main!(contenders::benches);

#[cfg(any(racekit_loom, racekit_shuttle))]
fn main() {}
