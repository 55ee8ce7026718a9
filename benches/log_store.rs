//! Benchmarks: the log store against the designs a user would otherwise write.
//!
//! - `log_store/ingest`: producer threads (1, 2 and 4; 4 is oversubscribed on a 2-core
//!   machine) add lines, spread over two processes each, into a
//!   store of `MAX_ENTRIES` that is already full (every add evicts); timed until every line
//!   is stored. Contenders:
//!   - `racekit`: [`LogStore::add`] (one short critical section, per-process index, byte
//!     bound, counters);
//!   - `mutex_vecdeque`: a plain `Mutex<VecDeque<OutputLine>>` evicting the oldest, with no
//!     index, byte bound or per-process counts: the floor, showing what the index costs. It
//!     does less work than `racekit` per line: no byte accounting, no index to keep, no
//!     counters or high-water marks, its entries not shareable with readers (a query copies
//!     them), and a `std` mutex rather than racekit's facade lock, which also checks lock
//!     order and records a trace when inside a check;
//!   - `mutex_vecdeque_indexed`: the same features written by hand over a `std` mutex: entries
//!     shared as `Arc<OutputLine>`, a per-process index (`HashMap` of sequence-number queues),
//!     byte accounting with [`entry_cost`] and an eviction count: the fair comparison for
//!     what the features cost when written the plain way;
//!   - `seed_hybrid`: the Go seed's path: each add is sent on a bounded channel
//!     (`HYBRID_BUFFER` lines) to one writer thread, falling back to a synchronous add when
//!     the send times out. Its writer stores into the same [`LogStore`], so the ratio
//!     isolates the ingestion path (channel hop and writer thread) from the storage.
//! - `log_store/by_process`: every line of a rare process (1 line in 100) from a full
//!   store of `MAX_ENTRIES`: through racekit's index (sharing the entries) against a scan
//!   of the plain `VecDeque` (copying the matches out of its lock).
//!
//! One operation is one line added (ingest) or one query (by process). Producer threads
//! and writers are started once per contender and benchmark; contenders run in alternating
//! rounds with the noise band of the decision benches (`common::Suite::compare`), and the
//! allocations per operation are counted next to the times. Every line is cloned from a
//! template per add (an allocation, as the process manager's sink does), the same for all
//! contenders. Run through `cargo bench-report`, or `cargo bench --bench log_store [-- --quick]`.

// criterion and the baselines are dev-dependencies of the std build only: the model builds
// compile an empty bench.
#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod common;

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
#[global_allocator]
static ALLOCATOR: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod ingest {
    use super::common::{share, Cell, Contender, Crew, Runner, Suite, Work};
    use crossbeam_channel::{SendTimeoutError, Sender};
    use racekit::log_store::{entry_cost, LogStore, LogStoreConfig};
    use racekit::output::{OutputLine, OutputStream};
    use serde_json::json;
    use std::collections::{HashMap, VecDeque};
    use std::hint::black_box;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

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

    /// A store with racekit's features written the plain way: shared entries, a per-process
    /// index of sequence numbers, byte accounting, counts; bounded by entries like the others.
    #[derive(Default)]
    struct IndexedVecDeque {
        state: Mutex<Indexed>,
    }

    #[derive(Default)]
    struct Indexed {
        entries: VecDeque<Arc<OutputLine>>,
        index: HashMap<Arc<str>, VecDeque<u64>>,
        next_seq: u64,
        bytes: usize,
        evicted: u64,
    }

    impl Ingest for IndexedVecDeque {
        fn add(&self, line: OutputLine) {
            let cost = entry_cost(&line);
            let entry = Arc::new(line);
            let evicted = {
                let mut state = self.state.lock().unwrap();
                let state = &mut *state;
                let evicted = if state.entries.len() == MAX_ENTRIES { state.entries.pop_front() } else { None };
                if let Some(old) = &evicted {
                    state.bytes -= entry_cost(old);
                    state.evicted += 1;
                    if let Some(seqs) = state.index.get_mut(&old.process) {
                        seqs.pop_front();
                        if seqs.is_empty() {
                            state.index.remove(&old.process);
                        }
                    }
                }
                state.index.entry(entry.process.clone()).or_default().push_back(state.next_seq);
                state.next_seq += 1;
                state.bytes += cost;
                state.entries.push_back(entry);
                evicted
            };
            drop(evicted);
        }
        fn stored(&self) -> u64 {
            self.state.lock().unwrap().next_seq
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
            eprintln!("seed_hybrid: {} synchronous fallbacks", self.fallbacks.load(Ordering::Relaxed));
        }
    }

    /// Producer threads started once (a [`Crew`]), each adding its share of a run's lines.
    struct Producers<S> {
        crew: Crew,
        store: Arc<S>,
    }

    impl<S: Ingest> Producers<S> {
        fn start(store: Arc<S>, producers: usize, probe: &super::common::Probe) -> Producers<S> {
            let shared = store.clone();
            let crew = Crew::spawn(producers, probe, move |producer| -> Work {
                let store = shared.clone();
                let templates: Vec<OutputLine> = (0..2)
                    .map(|p| OutputLine {
                        process: format!("service-{producer}-{p}").into(),
                        stream: OutputStream::Stdout,
                        at: Instant::now(),
                        line: "GET /api/v1/items?page=2 200 OK 3.2ms".into(),
                    })
                    .collect();
                Box::new(move |ops| {
                    for n in 0..share(ops, producers, producer) {
                        store.add(templates[(n % 2) as usize].clone());
                    }
                })
            });
            Producers { crew, store }
        }
    }

    impl<S: Ingest> Runner for Producers<S> {
        /// The producers' time, plus the wait until every line is stored (the hybrid's
        /// writer may still hold some).
        fn run(&mut self, ops: u64) -> Duration {
            let target = self.store.stored() + ops;
            let producing = self.crew.run(ops);
            let draining = Instant::now();
            while self.store.stored() < target {
                std::thread::yield_now();
            }
            producing + draining.elapsed()
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

    fn ingest(suite: &mut Suite) {
        for producers in [1, 2, 4] {
            let cell = Cell::new(
                format!("{producers} producers"),
                json!({ "threads": producers, "cores": super::common::cores(), "max_entries": MAX_ENTRIES }),
            );
            let contenders = [
                Contender::new("racekit", move |probe| Producers::start(filled(store()), producers, probe)),
                Contender::new("mutex_vecdeque", move |probe| {
                    Producers::start(filled(MutexVecDeque::new()), producers, probe)
                }),
                Contender::new("seed_hybrid", move |probe| {
                    Producers::start(filled(SeedHybrid::new(store())), producers, probe)
                }),
                Contender::new("mutex_vecdeque_indexed", move |probe| {
                    Producers::start(filled(IndexedVecDeque::default()), producers, probe)
                }),
            ];
            suite.compare("log_store/ingest", &cell, "racekit", None, &contenders);
        }
    }

    /// The rare process's lines, `racekit` through the index, the plain store by a scan.
    struct Query<F> {
        query: F,
    }

    impl<F: FnMut()> Runner for Query<F> {
        fn run(&mut self, ops: u64) -> Duration {
            let start = Instant::now();
            (0..ops).for_each(|_| (self.query)());
            start.elapsed()
        }
    }

    fn by_process(suite: &mut Suite) {
        let (store, plain) = (store(), Arc::new(MutexVecDeque::new()));
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
        let cell = Cell::new(
            format!("{} of {MAX_ENTRIES} entries", MAX_ENTRIES / 100),
            json!({ "threads": 1, "max_entries": MAX_ENTRIES, "matches": MAX_ENTRIES / 100 }),
        );
        let contenders = [
            Contender::new("racekit", |_| {
                let store = store.clone();
                Query { query: move || drop(black_box(store.by_process("rare"))) }
            }),
            // A plain store scans every entry and copies the matches out of its lock.
            Contender::new("mutex_vecdeque_scan", |_| {
                let plain = plain.clone();
                Query {
                    query: move || {
                        let state = plain.state.lock().unwrap();
                        let matches: Vec<OutputLine> =
                            state.0.iter().filter(|line| &*line.process == "rare").cloned().collect();
                        drop(state);
                        drop(black_box(matches));
                    },
                }
            }),
        ];
        suite.compare("log_store/by_process", &cell, "racekit", None, &contenders);
    }

    pub fn main() {
        let mut suite = Suite::new("log_store").count_allocations(super::ALLOCATOR);
        ingest(&mut suite);
        by_process(&mut suite);
        suite.finish();
    }
}

fn main() {
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    ingest::main();
}
