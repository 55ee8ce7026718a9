//! Benchmarks: the log store against the designs a user would otherwise write.
//!
//! - `log_store/ingest`: producer threads (1, 2 and 4; 4 is oversubscribed on a 2-core
//!   machine) add a batch of `BATCH` lines in all, spread over two processes each, into a
//!   store of `MAX_ENTRIES` that is already full (every add evicts); timed until every line
//!   is stored. Contenders:
//!   - `racekit`: [`LogStore::add`] (one short critical section, per-process index, byte
//!     bound, counters);
//!   - `mutex_vecdeque`: a plain `Mutex<VecDeque<OutputLine>>` evicting the oldest, with no
//!     index, byte bound or per-process counts: the floor, showing what the index costs;
//!   - `seed_hybrid`: the Go seed's path: each add is sent on a bounded channel
//!     (`HYBRID_BUFFER` lines) to one writer thread, falling back to a synchronous add when
//!     the send times out. Its writer stores into the same [`LogStore`], so the ratio
//!     isolates the ingestion path (channel hop and writer thread) from the storage.
//! - `log_store/by_process`: every line of a rare process (1 line in 100) from a full
//!   store of `MAX_ENTRIES`: through racekit's index (sharing the entries) against a scan
//!   of the plain `VecDeque` (copying the matches out of its lock).
//!
//! Producer threads and writers are started once per contender and every sample is timed
//! with `iter_custom`; each cell runs its contenders one after another in the same process,
//! so their ratio survives a machine whose speed drifts slowly. Every line is cloned from a
//! template per add (an allocation, as the process manager's sink does), the same for all
//! contenders. Run with `cargo bench --bench log_store` (final figures on a quiet machine)
//! or `-- --quick`.

// criterion and the baselines are dev-dependencies of the std build only: the model builds
// compile an empty bench.
#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod ingest {
    use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
    use crossbeam_channel::{SendTimeoutError, Sender};
    use racekit::log_store::{LogStore, LogStoreConfig};
    use racekit::output::{OutputLine, OutputStream};
    use std::collections::VecDeque;
    use std::hint::black_box;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Barrier, Mutex};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    /// Lines per timed iteration, over all producers.
    const BATCH: u64 = 4_000;
    const MAX_ENTRIES: usize = 10_000;
    /// The seed's channel buffer, and how long a send waits before falling back.
    const HYBRID_BUFFER: usize = 256;
    const HYBRID_TIMEOUT: Duration = Duration::from_millis(10);

    /// What the ingest group measures: a store lines go into from many threads.
    trait Ingest: Send + Sync + 'static {
        fn add(&self, line: OutputLine);
        /// Lines stored so far (after any hand-off).
        fn stored(&self) -> u64;
    }

    impl Ingest for LogStore {
        fn add(&self, line: OutputLine) {
            LogStore::add(self, line).expect("bench lines fit");
        }
        fn stored(&self) -> u64 {
            self.stats().added
        }
    }

    /// A `VecDeque` behind a `Mutex`, evicting the oldest; counts what it stored.
    struct MutexVecDeque {
        state: Mutex<(VecDeque<OutputLine>, u64)>,
    }

    impl MutexVecDeque {
        fn new() -> Self {
            MutexVecDeque { state: Mutex::new((VecDeque::with_capacity(MAX_ENTRIES), 0)) }
        }
    }

    impl Ingest for MutexVecDeque {
        fn add(&self, line: OutputLine) {
            let evicted = {
                let mut state = self.state.lock().unwrap();
                let evicted = if state.0.len() == MAX_ENTRIES { state.0.pop_front() } else { None };
                state.0.push_back(line);
                state.1 += 1;
                evicted
            };
            drop(evicted);
        }
        fn stored(&self) -> u64 {
            self.state.lock().unwrap().1
        }
    }

    /// The seed's hybrid: a bounded channel to one writer, a synchronous add when the
    /// channel stays full past a timeout.
    struct SeedHybrid {
        store: LogStore,
        sender: Option<Sender<OutputLine>>,
        writer: Option<JoinHandle<()>>,
        fallbacks: Arc<AtomicU64>,
    }

    impl SeedHybrid {
        fn new(store: LogStore) -> Self {
            let (sender, receiver) = crossbeam_channel::bounded::<OutputLine>(HYBRID_BUFFER);
            let writer = {
                let store = store.clone();
                std::thread::spawn(move || receiver.into_iter().for_each(|line| Ingest::add(&store, line)))
            };
            SeedHybrid { store, sender: Some(sender), writer: Some(writer), fallbacks: Arc::default() }
        }
    }

    impl Ingest for SeedHybrid {
        fn add(&self, line: OutputLine) {
            let sender = self.sender.as_ref().expect("the channel lives until drop");
            match sender.send_timeout(line, HYBRID_TIMEOUT) {
                Ok(()) => {}
                Err(SendTimeoutError::Timeout(line) | SendTimeoutError::Disconnected(line)) => {
                    self.fallbacks.fetch_add(1, Ordering::Relaxed);
                    Ingest::add(&self.store, line);
                }
            }
        }
        fn stored(&self) -> u64 {
            self.store.stored()
        }
    }

    impl Drop for SeedHybrid {
        fn drop(&mut self) {
            drop(self.sender.take());
            if let Some(writer) = self.writer.take() {
                writer.join().unwrap();
            }
        }
    }

    /// Producer threads started once, each adding its share of `BATCH` per iteration.
    struct Crew {
        iters: Arc<AtomicU64>,
        start: Arc<Barrier>,
        end: Arc<Barrier>,
        threads: Vec<JoinHandle<()>>,
    }

    impl Crew {
        fn new<S: Ingest>(store: &Arc<S>, producers: usize) -> Crew {
            let iters = Arc::new(AtomicU64::new(0));
            let (start, end) = (Arc::new(Barrier::new(producers + 1)), Arc::new(Barrier::new(producers + 1)));
            let share = BATCH / producers as u64;
            let threads = (0..producers)
                .map(|producer| {
                    let (store, iters, start, end) = (store.clone(), iters.clone(), start.clone(), end.clone());
                    let templates: Vec<OutputLine> = (0..2)
                        .map(|p| OutputLine {
                            process: format!("service-{producer}-{p}").into(),
                            stream: OutputStream::Stdout,
                            at: Instant::now(),
                            line: "GET /api/v1/items?page=2 200 OK 3.2ms".into(),
                        })
                        .collect();
                    std::thread::spawn(move || loop {
                        start.wait();
                        // Relaxed: the barrier orders the store before it with this load.
                        let iters = iters.load(Ordering::Relaxed);
                        if iters == u64::MAX {
                            return;
                        }
                        for n in 0..iters * share {
                            store.add(templates[(n % 2) as usize].clone());
                        }
                        end.wait();
                    })
                })
                .collect();
            Crew { iters, start, end, threads }
        }

        /// Times `iters` batches, until every line is stored.
        fn time<S: Ingest>(&self, store: &S, iters: u64) -> Duration {
            let target = store.stored() + iters * (BATCH / self.threads.len() as u64) * self.threads.len() as u64;
            self.iters.store(iters, Ordering::Relaxed);
            let begun = Instant::now();
            self.start.wait();
            self.end.wait();
            while store.stored() < target {
                std::thread::yield_now();
            }
            begun.elapsed()
        }
    }

    impl Drop for Crew {
        fn drop(&mut self) {
            self.iters.store(u64::MAX, Ordering::Relaxed);
            self.start.wait();
            self.threads.drain(..).for_each(|thread| thread.join().unwrap());
        }
    }

    fn store() -> LogStore {
        LogStore::new(LogStoreConfig { max_entries: MAX_ENTRIES, max_bytes: usize::MAX }).unwrap()
    }

    /// Fills `store` to capacity, so that every timed add evicts.
    fn filled<S: Ingest>(store: S) -> Arc<S> {
        let line = OutputLine {
            process: "warm-up".into(),
            stream: OutputStream::Stdout,
            at: Instant::now(),
            line: "x".into(),
        };
        (0..MAX_ENTRIES).for_each(|_| store.add(line.clone()));
        Arc::new(store)
    }

    fn bench_contender<S: Ingest>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        id: &str,
        producers: usize,
        store: Arc<S>,
    ) {
        let crew = Crew::new(&store, producers);
        group.bench_function(BenchmarkId::new(id, format!("{producers} producers")), |b| {
            b.iter_custom(|iters| crew.time(&*store, iters))
        });
    }

    fn ingest(c: &mut Criterion) {
        let mut group = c.benchmark_group("log_store/ingest");
        group.throughput(Throughput::Elements(BATCH));
        for producers in [1, 2, 4] {
            bench_contender(&mut group, "racekit", producers, filled(store()));
            bench_contender(&mut group, "mutex_vecdeque", producers, filled(MutexVecDeque::new()));
            let hybrid = filled(SeedHybrid::new(store()));
            bench_contender(&mut group, "seed_hybrid", producers, hybrid.clone());
            eprintln!(
                "seed_hybrid, {producers} producers: {} synchronous fallbacks",
                hybrid.fallbacks.load(Ordering::Relaxed)
            );
        }
        group.finish();
    }

    fn by_process(c: &mut Criterion) {
        let mut group = c.benchmark_group("log_store/by_process");
        let (store, plain) = (store(), MutexVecDeque::new());
        // Every 100th line is the rare process's; the rest come from 8 busy ones.
        for n in 0..MAX_ENTRIES {
            let process = if n % 100 == 0 { "rare".to_string() } else { format!("busy-{}", n % 8) };
            let line = OutputLine {
                process: process.into(),
                stream: OutputStream::Stdout,
                at: Instant::now(),
                line: n.to_string(),
            };
            Ingest::add(&store, line.clone());
            plain.add(line);
        }
        let parameter = format!("{} of {MAX_ENTRIES} entries", MAX_ENTRIES / 100);
        group.bench_function(BenchmarkId::new("racekit", &parameter), |b| {
            b.iter(|| black_box(store.by_process("rare")))
        });
        // A plain store scans every entry and copies the matches out of its lock.
        group.bench_function(BenchmarkId::new("mutex_vecdeque_scan", &parameter), |b| {
            b.iter(|| {
                let state = plain.state.lock().unwrap();
                black_box(state.0.iter().filter(|line| &*line.process == "rare").cloned().collect::<Vec<OutputLine>>())
            })
        });
        group.finish();
    }

    criterion_group!(benches, ingest, by_process);
}

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
criterion::criterion_main!(ingest::benches);

#[cfg(any(racekit_loom, racekit_shuttle))]
fn main() {}
