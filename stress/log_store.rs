//! Stress suite of the log store: bursts of lines from many producers (threads calling
//! `add`, threads calling the output sink, tokio tasks), some lines too large to ever fit,
//! while readers query and check the store without pause. The probes: every snapshot a
//! reader takes is consistent (index, conservation, bounds); the entries and bytes held
//! never exceed the configuration, whatever the load; followers see sequence numbers in
//! order; and at the end every line offered is stored, evicted or refused, each exactly
//! as its producer was told, and each producer's surviving lines are its newest.

use crate::support::cases;
use proptest::prelude::*;
use racekit::log_store::{entry_cost, LogEntry, LogStore, LogStoreConfig, PROCESS_OVERHEAD};
use racekit::output::{OutputLine, OutputStream};
use racekit::probe::HighWater;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How a producer hands its lines to the store.
#[derive(Clone, Copy, Debug)]
enum Ingest {
    /// `LogStore::add` from a thread.
    Add,
    /// The process manager's callback (`LogStore::sink`) from a thread.
    Sink,
    /// `LogStore::add` from a tokio task on a multi-threaded runtime.
    Task,
}

#[derive(Clone, Debug)]
struct Producer {
    ingest: Ingest,
    /// Bursts of line lengths; the producer yields between bursts.
    bursts: Vec<Vec<usize>>,
    /// How many processes its lines are spread over.
    processes: usize,
}

#[derive(Clone, Debug)]
struct Scenario {
    max_entries: usize,
    /// Room beyond `LogStoreConfig::MIN_BYTES`, or unbounded by bytes.
    extra_bytes: Option<usize>,
    producers: Vec<Producer>,
    readers: usize,
}

fn producer() -> impl Strategy<Value = Producer> {
    let ingest = prop_oneof![Just(Ingest::Add), Just(Ingest::Sink), Just(Ingest::Task)];
    // Mostly short lines, some long enough to be refused by a small byte bound.
    let length = prop_oneof![8 => 0usize..40, 1 => 200usize..600];
    let burst = prop::collection::vec(length, 1..40);
    (ingest, prop::collection::vec(burst, 1..8), 1usize..4).prop_map(|(ingest, bursts, processes)| Producer {
        ingest,
        bursts,
        processes,
    })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1usize..64, prop::option::of(0usize..2_000), prop::collection::vec(producer(), 1..7), 1usize..3).prop_map(
        |(max_entries, extra_bytes, producers, readers)| Scenario { max_entries, extra_bytes, producers, readers },
    )
}

/// The `k`th line of `producer`: its process, and a text that names both (padded to `length`).
fn line(producer: usize, spec: &Producer, k: usize, length: usize) -> OutputLine {
    let process = format!("p{producer}-{}", k % spec.processes);
    // Exactly as long as its capacity: the store charges capacity, and the sink stores a
    // clone (whose capacity is its length), so both paths must be charged the same.
    let text = format!("{producer}.{k}:{}", "x".repeat(length)).as_str().to_owned();
    let stream = if k % 2 == 0 { OutputStream::Stdout } else { OutputStream::Stderr };
    OutputLine { process: process.into(), stream, at: Instant::now(), line: text }
}

/// Which producer wrote an entry and its number there.
fn author(entry: &LogEntry) -> (usize, usize) {
    let (head, _) = entry.line.split_once(':').expect("every line has a head");
    let (producer, k) = head.split_once('.').expect("the head names producer and number");
    (producer.parse().unwrap(), k.parse().unwrap())
}

/// One producer's progress: what it has offered and which of its lines were accepted.
struct Producing {
    store: LogStore,
    sink: Box<dyn Fn(&OutputLine) + Send + Sync>,
    index: usize,
    spec: Producer,
    next: usize,
    accepted: Vec<usize>,
}

impl Producing {
    fn new(store: LogStore, index: usize, spec: Producer) -> Self {
        let sink = Box::new(store.sink());
        Producing { store, sink, index, spec, next: 0, accepted: Vec::new() }
    }

    /// Offers burst `b` without pausing.
    fn burst(&mut self, b: usize) {
        for position in 0..self.spec.bursts[b].len() {
            let (k, length) = (self.next, self.spec.bursts[b][position]);
            self.next += 1;
            let line = line(self.index, &self.spec, k, length);
            let fits = entry_cost(&line) + PROCESS_OVERHEAD <= self.store.config().max_bytes;
            if let Ingest::Sink = self.spec.ingest {
                (self.sink)(&line);
            } else {
                let outcome = self.store.add(line);
                assert_eq!(outcome.is_ok(), fits, "a line is refused exactly when it could never fit: {outcome:?}");
            }
            if fits {
                self.accepted.push(k);
            }
        }
    }

    /// Every burst, yielding the thread between them.
    fn on_thread(mut self) -> Vec<usize> {
        for b in 0..self.spec.bursts.len() {
            self.burst(b);
            thread::yield_now();
        }
        self.accepted
    }

    /// Every burst, yielding to the runtime between them.
    async fn in_task(mut self) -> Vec<usize> {
        for b in 0..self.spec.bursts.len() {
            self.burst(b);
            tokio::task::yield_now().await;
        }
        self.accepted
    }
}

/// Queries and checks the store until `done`; records what it held in the gauges.
fn read_until(store: &LogStore, done: &AtomicBool, entries: &HighWater, bytes: &HighWater) {
    let mut cursor = 0;
    let mut round = 0u64;
    // Acquire: pairs with the Release store after the producers are joined; the loop
    // makes one more pass after it, so the last pass sees the settled store.
    while !done.load(Ordering::Acquire) || round == 0 {
        round += 1;
        let snapshot = store.snapshot();
        if let Err(inconsistency) = snapshot.check() {
            panic!("reader saw an inconsistent store: {inconsistency}\n{:?}", snapshot.stats);
        }
        entries.record(snapshot.stats.stored);
        bytes.record(snapshot.stats.bytes);
        // Follow the store like `tail -f`: sequence numbers only grow, without gaps except
        // at the front (entries evicted before this read).
        let followed = store.since(cursor);
        assert!(followed.windows(2).all(|pair| pair[1].seq == pair[0].seq + 1), "since() skipped or repeated entries");
        if let Some(newest) = followed.last() {
            assert!(followed[0].seq >= cursor);
            cursor = newest.seq + 1;
        }
        if let Some(entry) = snapshot.entries.get(round as usize % snapshot.entries.len().max(1)) {
            let own = store.by_process(&entry.process);
            assert!(own.iter().all(|e| e.process == entry.process), "by_process returned another process's entry");
            assert!(own.windows(2).all(|pair| pair[0].seq < pair[1].seq), "by_process out of order");
            let recent = store.between(entry.at, entry.at + Duration::from_millis(1));
            assert!(recent.iter().all(|e| e.at >= entry.at && e.at < entry.at + Duration::from_millis(1)));
        }
        assert!(store.last(5).len() <= 5);
    }
}

fn run(scenario: &Scenario) {
    let max_bytes = scenario.extra_bytes.map_or(usize::MAX, |extra| LogStoreConfig::MIN_BYTES + extra);
    let store = LogStore::new(LogStoreConfig { max_entries: scenario.max_entries, max_bytes }).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let (entries, bytes) = (Arc::new(HighWater::new()), Arc::new(HighWater::new()));
    let readers: Vec<_> = (0..scenario.readers)
        .map(|_| {
            let (store, done, entries, bytes) = (store.clone(), done.clone(), entries.clone(), bytes.clone());
            thread::spawn(move || read_until(&store, &done, &entries, &bytes))
        })
        .collect();
    enum Running {
        Thread(thread::JoinHandle<Vec<usize>>),
        Task(tokio::task::JoinHandle<Vec<usize>>),
    }
    let producers: Vec<Running> = scenario
        .producers
        .iter()
        .cloned()
        .enumerate()
        .map(|(index, spec)| {
            let producing = Producing::new(store.clone(), index, spec);
            match producing.spec.ingest {
                Ingest::Task => Running::Task(runtime.spawn(producing.in_task())),
                Ingest::Add | Ingest::Sink => Running::Thread(thread::spawn(move || producing.on_thread())),
            }
        })
        .collect();
    let accepted: Vec<Vec<usize>> = producers
        .into_iter()
        .map(|running| match running {
            Running::Thread(handle) => handle.join().unwrap(),
            Running::Task(handle) => runtime.block_on(handle).unwrap(),
        })
        .collect();
    // Release: see `read_until`.
    done.store(true, Ordering::Release);
    readers.into_iter().for_each(|reader| reader.join().unwrap());

    let snapshot = store.snapshot();
    snapshot.check().unwrap();
    let stats = snapshot.stats;
    let offered: usize = scenario.producers.iter().flat_map(|p| &p.bursts).map(Vec::len).sum();
    let admitted: usize = accepted.iter().map(Vec::len).sum();
    assert_eq!(stats.offered(), offered as u64, "a line went uncounted: {stats:?}");
    assert_eq!(stats.added, admitted as u64, "added disagrees with what producers were told: {stats:?}");
    assert_eq!(stats.added, stats.stored as u64 + stats.evicted, "added != stored + evicted: {stats:?}");
    entries.check_at_most(scenario.max_entries).unwrap();
    bytes.check_at_most(max_bytes).unwrap();
    assert!(stats.high_water_entries <= scenario.max_entries && stats.high_water_bytes <= max_bytes, "{stats:?}");
    assert!(stats.processes <= stats.stored, "an index record outlived its entries: {stats:?}");
    if max_bytes == usize::MAX {
        assert_eq!(stats.stored, admitted.min(scenario.max_entries), "{stats:?}");
    }
    for (producer, accepted) in accepted.iter().enumerate() {
        let kept: Vec<usize> =
            snapshot.entries.iter().map(author).filter(|(p, _)| *p == producer).map(|(_, k)| k).collect();
        assert_eq!(
            kept,
            accepted[accepted.len() - kept.len()..],
            "producer {producer}'s surviving lines are not its newest"
        );
    }
}

proptest! {
    #![proptest_config(cases(64))]
    #[test]
    fn bursts_from_many_producers_stay_bounded_consistent_and_counted(scenario in scenario()) {
        run(&scenario);
    }
}

#[test]
fn a_long_burst_into_a_small_store_keeps_memory_at_the_configured_bound() {
    // Load far above the bound: what is held stays at the bound, the rest is counted.
    let spec = Producer { ingest: Ingest::Add, bursts: vec![vec![16; 500]; 8], processes: 3 };
    let scenario = Scenario { max_entries: 32, extra_bytes: Some(1_500), producers: vec![spec; 4], readers: 2 };
    run(&scenario);
}
