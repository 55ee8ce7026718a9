//! Benchmarks: a shared counter, atomics against a Mutex.
//!
//! `counters/atomic-vs-mutex`: every thread increments one shared counter and reads the
//! total on 1 % of its operations (a metrics counter). Threads: 1, 2 and 4 per core
//! (labelled oversubscribed). Contenders:
//! - `std-mutex` (the baseline): a `Mutex<u64>`;
//! - `parking_lot-mutex`: parking_lot's `Mutex<u64>`;
//! - `atomic-fetch-add`: one `AtomicU64`, `fetch_add(1, Relaxed)`;
//! - `sharded-atomic`: one cache-line-padded `AtomicU64` per thread, summed on read.
//!
//! One iteration is one operation by any thread. Run through `cargo bench-report`, or
//! `cargo bench --bench counters [-- --quick]`.

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod common;

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod suite {
    use super::common::{share, thread_axis, thread_params, Cell, Contender, Suite, Work};
    use std::hint::black_box;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// Reads per 100 operations.
    const READS_PER_100: u64 = 1;

    /// A counter shared by `shards` threads; thread `shard` increments through `add`.
    trait Counter: Send + Sync + 'static {
        fn new(shards: usize) -> Self;
        fn add(&self, shard: usize);
        fn total(&self) -> u64;
    }

    impl Counter for std::sync::Mutex<u64> {
        fn new(_: usize) -> Self {
            Self::new(0)
        }
        fn add(&self, _: usize) {
            *self.lock().unwrap() += 1;
        }
        fn total(&self) -> u64 {
            *self.lock().unwrap()
        }
    }

    impl Counter for parking_lot::Mutex<u64> {
        fn new(_: usize) -> Self {
            Self::new(0)
        }
        fn add(&self, _: usize) {
            *self.lock() += 1;
        }
        fn total(&self) -> u64 {
            *self.lock()
        }
    }

    impl Counter for AtomicU64 {
        fn new(_: usize) -> Self {
            Self::new(0)
        }
        fn add(&self, _: usize) {
            // Relaxed: a statistic; nothing else is published through it.
            self.fetch_add(1, Ordering::Relaxed);
        }
        fn total(&self) -> u64 {
            // Relaxed: any recent value will do for a statistic.
            self.load(Ordering::Relaxed)
        }
    }

    /// One counter per cache line, so threads never write the same line.
    #[repr(align(128))]
    #[derive(Default)]
    struct Padded(AtomicU64);

    struct Sharded(Vec<Padded>);

    impl Counter for Sharded {
        fn new(shards: usize) -> Self {
            Sharded((0..shards).map(|_| Padded::default()).collect())
        }
        fn add(&self, shard: usize) {
            // Relaxed: a statistic; each shard has one writer.
            self.0[shard].0.fetch_add(1, Ordering::Relaxed);
        }
        fn total(&self) -> u64 {
            // Relaxed: the sum of recent values is what a statistic needs.
            self.0.iter().map(|shard| shard.0.load(Ordering::Relaxed)).sum()
        }
    }

    fn counter_contender<C: Counter>(id: &str, threads: usize) -> Contender<'static> {
        Contender::crew(id, threads, move || {
            let counter = Arc::new(C::new(threads));
            move |index| -> Work {
                let counter = counter.clone();
                Box::new(move |total| {
                    for op in 0..share(total, threads, index) {
                        if op % 100 < READS_PER_100 {
                            black_box(counter.total());
                        } else {
                            counter.add(index);
                        }
                    }
                })
            }
        })
    }

    pub fn main() {
        let mut suite = Suite::new("counters");
        for threads in thread_axis() {
            let contenders = [
                counter_contender::<std::sync::Mutex<u64>>("std-mutex", threads),
                counter_contender::<parking_lot::Mutex<u64>>("parking_lot-mutex", threads),
                counter_contender::<AtomicU64>("atomic-fetch-add", threads),
                counter_contender::<Sharded>("sharded-atomic", threads),
            ];
            let cell = Cell::new(format!("t{threads}"), thread_params(threads));
            suite.compare("counters/atomic-vs-mutex", &cell, "std-mutex", None, &contenders);
        }
        suite.finish();
    }
}

fn main() {
    // The model-checking builds have no criterion: these benches measure real threads only.
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    suite::main();
}
