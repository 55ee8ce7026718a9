//! Benchmarks: spawning tokio tasks under a concurrency quota, racekit's `Stopper` with a
//! `TaskQuota` (`spawn_task_with` + `TaskOpts::wait_for_quota`) against a
//! `tokio::sync::Semaphore` permit held by a task of a `tokio_util::task::TaskTracker` (the
//! tracker's tasks get a `CancellationToken`, as the stopper's get their cancel token).
//!
//! - `stopper_quota/spawn-under-quota`: driver tasks (one per core, and four per core) each
//!   spawn their share of supervised tasks, waiting for a place of the shared quota before
//!   each spawn; every supervised task reads its token, spins for the cell's work and ends,
//!   giving its place back. Drivers await their tasks' handles every [`BATCH`] spawns, so
//!   memory stays bounded. Axes: quota limit 1 (every spawn waits) and 4 per core; work
//!   ≈0 and 1 µs.
//!
//! One iteration is one supervised task, from the wait for a place to its end. The
//! contenders of each cell run in alternating rounds within one run (`common::Suite`).
//! Run with `cargo bench --bench stopper_quota -- --quick` (smoke), or through
//! `cargo bench-report`.

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod common;

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod suite {
    use super::common::{
        cores, ns_label, oversubscribed, share, spin, thread_params, Cell, Contender, Suite, TaskWork,
    };
    use racekit::stopper::{Stopper, TaskOpts};
    use serde_json::json;
    use std::future::Future;
    use std::hint::black_box;
    use std::sync::Arc;
    use tokio::sync::Semaphore;
    use tokio::task::JoinHandle;
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    /// Spawns a driver makes before it awaits their handles.
    const BATCH: u64 = 256;

    /// A supervisor that starts a task once a place of its quota is free.
    trait Quota: Send + Sync + 'static {
        /// Waits for a place, then spawns a task that reads its token and spins `units`.
        fn spawn(&self, units: u64) -> impl Future<Output = JoinHandle<()>> + Send;
    }

    struct StopperQuota {
        stopper: Stopper,
        opts: TaskOpts,
    }

    impl Quota for StopperQuota {
        async fn spawn(&self, units: u64) -> JoinHandle<()> {
            let spawned = self.stopper.spawn_task_with(self.opts.clone(), move |cancel| async move {
                black_box(cancel.is_cancelled());
                spin(units);
            });
            spawned.await.expect("the bench never stops the stopper")
        }
    }

    struct SemaphoreTracker {
        permits: Arc<Semaphore>,
        tracker: TaskTracker,
        token: CancellationToken,
    }

    impl Quota for SemaphoreTracker {
        async fn spawn(&self, units: u64) -> JoinHandle<()> {
            let permit = self.permits.clone().acquire_owned().await.expect("the bench never closes the semaphore");
            let token = self.token.clone();
            self.tracker.spawn(async move {
                black_box(token.is_cancelled());
                spin(units);
                drop(permit);
            })
        }
    }

    /// A contender: `drivers` tasks sharing one quota built by `make`, each spawning its
    /// share of the run's tasks.
    fn contender<Q: Quota>(id: &str, drivers: usize, units: u64, make: impl Fn() -> Q + 'static) -> Contender<'static> {
        Contender::tasks(id, drivers, move || -> TaskWork {
            let quota = Arc::new(make());
            Arc::new(move |index, total| {
                let quota = quota.clone();
                Box::pin(async move {
                    let mut left = share(total, drivers, index);
                    while left > 0 {
                        let batch = left.min(BATCH);
                        let mut handles = Vec::with_capacity(batch as usize);
                        for _ in 0..batch {
                            handles.push(quota.spawn(units).await);
                        }
                        for handle in handles {
                            handle.await.expect("a bench task panicked");
                        }
                        left -= batch;
                    }
                })
            })
        })
    }

    pub fn main() {
        let mut suite = Suite::new("stopper_quota");
        let spin_units = suite.spin;
        for drivers in [cores(), oversubscribed()] {
            for limit in [1, 4 * cores()] {
                for work_ns in [0, 1_000] {
                    let mut params = thread_params(cores());
                    params["drivers"] = json!(drivers);
                    params["quota"] = json!(limit);
                    params["work_ns"] = json!(work_ns);
                    let units = spin_units.units(work_ns);
                    let contenders = [
                        contender("tokio-semaphore-tasktracker", drivers, units, move || SemaphoreTracker {
                            permits: Arc::new(Semaphore::new(limit)),
                            tracker: TaskTracker::new(),
                            token: CancellationToken::new(),
                        }),
                        contender("racekit-stopper-quota", drivers, units, move || {
                            let stopper = Stopper::new();
                            let quota = stopper.task_quota(limit).expect("a limit of at least 1");
                            StopperQuota { opts: TaskOpts::new("bench").quota(&quota).wait_for_quota(), stopper }
                        }),
                    ];
                    let cell = Cell::new(format!("d{drivers}-q{limit}-w{}", ns_label(work_ns)), params);
                    suite.compare(
                        "stopper_quota/spawn-under-quota",
                        &cell,
                        "tokio-semaphore-tasktracker",
                        None,
                        &contenders,
                    );
                }
            }
        }
        suite.finish();
    }
}

fn main() {
    // The model-checking builds have no criterion: these benches measure real threads only.
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    suite::main();
}
