//! Benchmarks: Mutex or RwLock, across read fraction, critical-section length and threads.
//!
//! - `locks/mutex-vs-rwlock`: every thread loops: draw read (with the cell's probability)
//!   or write, take the lock, spin for the section length, touch the protected data,
//!   release. Nothing is done between sections, so the lock is contended as hard as the
//!   thread count allows (the regime where the choice matters). Contenders: std's `Mutex`
//!   (the baseline) and `RwLock`, parking_lot's `Mutex` and `RwLock`. Axes: reads 0, 50,
//!   75, 90, 99, 100 %; section ≈0 (only the data access), 100 ns, 1 µs, 10 µs of
//!   calibrated spinning; 1, 2 and 4-per-core threads (labelled oversubscribed).
//! - `locks/async`: the same loop in tokio tasks on a runtime with one worker per core,
//!   for an async service's choice: std's `Mutex` (never held across an await) against
//!   tokio's `Mutex` and `RwLock`; tasks = cores and 4 per core; reads 0, 90, 100 %;
//!   sections ≈0 and 1 µs.
//!
//! One iteration is one lock operation by any thread. Run through `cargo bench-report`
//! (which also writes the decision report), or `cargo bench --bench locks [-- --quick]`.

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod common;

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod suite {
    use super::common::{
        cores, ns_label, oversubscribed, share, spin, thread_axis, thread_params, Cell, Contender, Suite, TaskWork,
        Work,
    };
    use serde_json::json;
    use std::hint::black_box;
    use std::sync::Arc;

    const READ_PCTS: [u8; 6] = [0, 50, 75, 90, 99, 100];
    const SECTION_NS: [u64; 4] = [0, 100, 1_000, 10_000];

    /// The protected data: a cache line of counters.
    #[derive(Default)]
    struct Data([u64; 8]);

    /// A lock around [`Data`] with a shared (read) and an exclusive (write) section; a
    /// mutex uses its one lock for both.
    trait Guarded: Default + Send + Sync + 'static {
        fn read(&self, section: impl FnOnce(&Data) -> u64) -> u64;
        fn write(&self, section: impl FnOnce(&mut Data));
    }

    macro_rules! guarded {
        ($lock:ty, |$l:ident| read: $read:expr, write: $write:expr) => {
            impl Guarded for $lock {
                fn read(&self, section: impl FnOnce(&Data) -> u64) -> u64 {
                    let $l = self;
                    section(&$read)
                }
                fn write(&self, section: impl FnOnce(&mut Data)) {
                    let $l = self;
                    section(&mut $write)
                }
            }
        };
    }

    // No thread panics while holding a lock here, so std's poisoning never triggers.
    guarded!(std::sync::Mutex<Data>, |l| read: l.lock().unwrap(), write: l.lock().unwrap());
    guarded!(std::sync::RwLock<Data>, |l| read: l.read().unwrap(), write: l.write().unwrap());
    guarded!(parking_lot::Mutex<Data>, |l| read: l.lock(), write: l.lock());
    guarded!(parking_lot::RwLock<Data>, |l| read: l.read(), write: l.write());

    /// Whether this operation reads: a seeded draw per thread, `reads_pct` in 100.
    fn draw_read(rng: &mut fastrand::Rng, reads_pct: u8) -> bool {
        rng.u8(0..100) < reads_pct
    }

    fn read_section(units: u64) -> impl FnOnce(&Data) -> u64 {
        move |data| {
            spin(units);
            data.0.iter().sum()
        }
    }

    fn write_section(units: u64) -> impl FnOnce(&mut Data) {
        move |data| {
            spin(units);
            data.0[0] += 1;
        }
    }

    /// A contender: `threads` threads sharing one `L`, each doing its share of operations.
    fn lock_contender<L: Guarded>(id: &str, threads: usize, reads_pct: u8, units: u64) -> Contender<'static> {
        Contender::crew(id, threads, move || {
            let lock = Arc::new(L::default());
            move |index| -> Work {
                let lock = lock.clone();
                let mut rng = fastrand::Rng::with_seed(index as u64 + 1);
                Box::new(move |total| {
                    for _ in 0..share(total, threads, index) {
                        if draw_read(&mut rng, reads_pct) {
                            black_box(lock.read(read_section(units)));
                        } else {
                            lock.write(write_section(units));
                        }
                    }
                })
            }
        })
    }

    /// The locks an async service chooses between.
    enum AsyncLock {
        Std(std::sync::Mutex<Data>),
        TokioMutex(tokio::sync::Mutex<Data>),
        TokioRwLock(tokio::sync::RwLock<Data>),
    }

    /// The section of an operation under an exclusive lock, whether it reads or writes.
    fn exclusive(data: &mut Data, read: bool, units: u64) {
        if read {
            black_box(read_section(units)(data));
        } else {
            write_section(units)(data);
        }
    }

    impl AsyncLock {
        async fn operate(&self, read: bool, units: u64) {
            match self {
                // The guard is dropped before any await: the way std's lock is used in async code.
                AsyncLock::Std(lock) => exclusive(&mut lock.lock().unwrap(), read, units),
                AsyncLock::TokioMutex(lock) => exclusive(&mut *lock.lock().await, read, units),
                AsyncLock::TokioRwLock(lock) if read => {
                    black_box(read_section(units)(&*lock.read().await));
                }
                AsyncLock::TokioRwLock(lock) => write_section(units)(&mut *lock.write().await),
            }
        }
    }

    fn async_contender(
        id: &str,
        tasks: usize,
        reads_pct: u8,
        units: u64,
        make: fn() -> AsyncLock,
    ) -> Contender<'static> {
        Contender::tasks(id, tasks, move || -> TaskWork {
            let lock = Arc::new(make());
            Arc::new(move |index, total| {
                let lock = lock.clone();
                Box::pin(async move {
                    let mut rng = fastrand::Rng::with_seed(index as u64 + 1);
                    for _ in 0..share(total, tasks, index) {
                        lock.operate(draw_read(&mut rng, reads_pct), units).await;
                    }
                })
            })
        })
    }

    fn label(threads: usize, section_ns: u64, reads_pct: u8) -> String {
        format!("t{threads}-cs{}-r{reads_pct}", ns_label(section_ns))
    }

    pub fn main() {
        let mut suite = Suite::new("locks");
        let spin = suite.spin;
        for threads in thread_axis() {
            for section_ns in SECTION_NS {
                for reads_pct in READ_PCTS {
                    let mut params = thread_params(threads);
                    params["cs_ns"] = json!(section_ns);
                    params["reads_pct"] = json!(reads_pct);
                    let units = spin.units(section_ns);
                    let contenders = [
                        lock_contender::<std::sync::Mutex<Data>>("std-mutex", threads, reads_pct, units),
                        lock_contender::<std::sync::RwLock<Data>>("std-rwlock", threads, reads_pct, units),
                        lock_contender::<parking_lot::Mutex<Data>>("parking_lot-mutex", threads, reads_pct, units),
                        lock_contender::<parking_lot::RwLock<Data>>("parking_lot-rwlock", threads, reads_pct, units),
                    ];
                    let cell = Cell::new(label(threads, section_ns, reads_pct), params);
                    suite.compare("locks/mutex-vs-rwlock", &cell, "std-mutex", None, &contenders);
                }
            }
        }
        for tasks in [cores(), oversubscribed()] {
            for section_ns in [0, 1_000] {
                for reads_pct in [0, 90, 100] {
                    let mut params = thread_params(cores());
                    params["tasks"] = json!(tasks);
                    params["oversubscribed"] = json!(tasks > cores());
                    params["cs_ns"] = json!(section_ns);
                    params["reads_pct"] = json!(reads_pct);
                    let units = spin.units(section_ns);
                    let contenders = [
                        async_contender("std-mutex", tasks, reads_pct, units, || AsyncLock::Std(Default::default())),
                        async_contender("tokio-mutex", tasks, reads_pct, units, || {
                            AsyncLock::TokioMutex(Default::default())
                        }),
                        async_contender("tokio-rwlock", tasks, reads_pct, units, || {
                            AsyncLock::TokioRwLock(Default::default())
                        }),
                    ];
                    let cell = Cell::new(format!("tasks{tasks}-cs{}-r{reads_pct}", ns_label(section_ns)), params);
                    suite.compare("locks/async", &cell, "std-mutex", None, &contenders);
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
