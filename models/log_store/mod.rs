//! Models of the log store: racing producers evicting each other's entries while a reader
//! checks every snapshot (index consistency, bounds, conservation, whole entries), the byte
//! bound, the output sink shared by threads, and async producers (shuttle and std only).
//!
//! Every scenario runs the real [`LogStore`]; the mutant tests in [`mutants`] switch on one
//! of its mutation points (bugs planted in the code that ships, see `racekit::mutation`)
//! and pin the symptom each backend reports when the same scenario meets it.

mod mutants;

use crate::support::expect_sound;
use proptest::prelude::*;
use racekit::log_store::{entry_cost, LogEntry, LogStore, LogStoreConfig, Snapshot, PROCESS_OVERHEAD};
use racekit::model::Model;
use racekit::output::{OutputLine, OutputStream};
use racekit::sync::thread;
use std::time::Instant;

/// The lines each producer adds, by process: producer `p`'s `k`th line is `{process}#{p}.{k}`
/// followed by the process's padding, on the process's stream.
pub type Plan = &'static [&'static [&'static str]];

/// Each process writes to one stream and pads its lines to one length, so that a reader
/// can tell a whole entry from one assembled from parts of two.
fn stream_of(process: &str) -> OutputStream {
    if process == "a" {
        OutputStream::Stdout
    } else {
        OutputStream::Stderr
    }
}

fn padding_of(process: &str) -> usize {
    if process == "long" {
        48
    } else {
        0
    }
}

pub fn line(process: &str, producer: usize, k: usize) -> OutputLine {
    let text = format!("{process}#{producer}.{k}{}", "~".repeat(padding_of(process)));
    OutputLine { process: process.into(), stream: stream_of(process), at: Instant::now(), line: text }
}

/// Which producer wrote an entry, and its place in that producer's plan; panics (failing
/// the model) when the entry is torn: text, stream and padding not all its process's.
fn author(entry: &LogEntry) -> (usize, usize) {
    let torn = || panic!("torn entry {}: {:?} on {}", entry.seq, entry.line, entry.stream);
    let Some(rest) = entry.line.strip_prefix(&format!("{}#", entry.process)) else { torn() };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let Some((producer, k)) = digits.split_once('.') else { torn() };
    let (Ok(producer), Ok(k)) = (producer.parse(), k.parse()) else { torn() };
    if entry.stream != stream_of(&entry.process) || rest.len() != digits.len() + padding_of(&entry.process) {
        torn();
    }
    (producer, k)
}

/// Fails the model with the snapshot when it breaks an invariant or holds a torn entry.
pub fn assert_consistent(snapshot: &Snapshot) {
    if let Err(inconsistency) = snapshot.check() {
        panic!("inconsistent snapshot: {inconsistency}\n{snapshot:#?}");
    }
    for entry in &snapshot.entries {
        author(entry);
    }
}

/// A reader's look at a store while producers run: a checked snapshot, then one
/// process's entries through the index (only that process's, whole, in arrival order).
pub fn read(store: &LogStore, process: &str) {
    assert_consistent(&store.snapshot());
    let own = store.by_process(process);
    for entry in &own {
        assert_eq!(&*entry.process, process, "by_process({process:?}) returned entry {} of another process", entry.seq);
        author(entry);
    }
    assert!(own.windows(2).all(|pair| pair[0].seq < pair[1].seq), "by_process({process:?}) out of order");
}

/// Producers add their plans (one thread each) while the main thread reads `reads` times;
/// then, with everyone joined: the final snapshot is consistent, every line was admitted
/// and is stored or counted as evicted, and each producer's surviving lines are the newest
/// of its own (eviction takes the oldest first).
pub fn producers_and_reader(limits: LogStoreConfig, plan: Plan, reads: usize) {
    let store = LogStore::new(limits).expect("a valid configuration");
    let producers: Vec<_> = plan
        .iter()
        .enumerate()
        .map(|(producer, processes)| {
            let store = store.clone();
            thread::spawn(move || {
                for (k, process) in processes.iter().enumerate() {
                    assert!(store.add(line(process, producer, k)).is_ok(), "a line that fits was refused");
                }
            })
        })
        .collect();
    for _ in 0..reads {
        read(&store, plan[0][0]);
    }
    for producer in producers {
        producer.join().unwrap();
    }
    let snapshot = store.snapshot();
    assert_consistent(&snapshot);
    let total: usize = plan.iter().map(|processes| processes.len()).sum();
    assert_eq!(snapshot.stats.added, total as u64, "{:?}", snapshot.stats);
    if limits.max_bytes == usize::MAX {
        assert_eq!(
            snapshot.stats.stored,
            total.min(limits.max_entries),
            "a store bounded by entries alone keeps the newest max_entries"
        );
    }
    for (producer, processes) in plan.iter().enumerate() {
        let kept: Vec<usize> =
            snapshot.entries.iter().map(author).filter(|(p, _)| *p == producer).map(|(_, k)| k).collect();
        let newest: Vec<usize> = (processes.len() - kept.len()..processes.len()).collect();
        assert_eq!(kept, newest, "producer {producer}'s surviving lines are not its newest");
    }
}

/// Bounded by entries alone.
pub fn entries(max_entries: usize) -> LogStoreConfig {
    LogStoreConfig { max_entries, max_bytes: usize::MAX }
}

/// Two producers, two lines each, into a store of two: every add after the second evicts,
/// entries of one process evict the other's, and a process's last entry may go.
pub fn racing_producers() {
    producers_and_reader(entries(2), &[&["a", "a"], &["b", "a"]], 1);
}

/// Byte-bound room for one long line and two short ones at most (and never for two long
/// ones): adds evict by bytes, sometimes two entries at once.
pub fn byte_bound() {
    let short = entry_cost(&line("a", 0, 0));
    let long = entry_cost(&line("long", 0, 0));
    let max_bytes = 2 * PROCESS_OVERHEAD + long + 2 * short;
    producers_and_reader(LogStoreConfig { max_entries: 8, max_bytes }, &[&["a", "a"], &["long", "long"]], 1);
}

#[test]
fn racing_producers_keep_the_index_consistent() {
    expect_sound(Model::named("log store: racing producers"), racing_producers);
}

#[test]
fn byte_bound_evictions_keep_the_index_consistent() {
    expect_sound(Model::named("log store: byte bound"), byte_bound);
}

#[test]
fn the_sink_shared_by_threads_loses_nothing() {
    // The process manager's shape: one boxed callback called from each output reader.
    expect_sound(Model::named("log store: sink"), || {
        let store = LogStore::new(entries(2)).unwrap();
        let sink = racekit::sync::Arc::new(store.sink());
        let readers: Vec<_> = ["a", "b"]
            .into_iter()
            .enumerate()
            .map(|(producer, process)| {
                let sink = sink.clone();
                thread::spawn(move || (0..2).for_each(|k| sink(&line(process, producer, k))))
            })
            .collect();
        read(&store, "a");
        readers.into_iter().for_each(|reader| reader.join().unwrap());
        let snapshot = store.snapshot();
        assert_consistent(&snapshot);
        assert_eq!((snapshot.stats.added, snapshot.stats.stored, snapshot.stats.evicted), (4, 2, 2));
    });
}

#[cfg(not(racekit_loom))]
#[test]
fn async_producers_add_without_waiting() {
    // Adds from tokio tasks: nothing to await, nothing lost.
    expect_sound(Model::named("log store: async producers"), || {
        let store = LogStore::new(entries(2)).unwrap();
        racekit::sync::task::block_on(async {
            let tasks: Vec<_> = ["a", "b"]
                .into_iter()
                .enumerate()
                .map(|(producer, process)| {
                    let store = store.clone();
                    racekit::sync::task::spawn(async move {
                        for k in 0..2 {
                            store.add(line(process, producer, k)).unwrap();
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            read(&store, "b");
            for task in tasks {
                task.await.unwrap();
            }
        });
        let snapshot = store.snapshot();
        assert_consistent(&snapshot);
        assert!(snapshot.stats.is_conserved() && snapshot.stats.added == 4, "{:?}", snapshot.stats);
    });
}

proptest! {
    // proptest picks the plan and the bound, the model checker explores the interleavings.
    #![proptest_config(crate::support::scenario_cases(4))]
    #[test]
    fn any_small_plan_keeps_the_store_consistent(max_entries in 1usize..=3, first in 0usize..4, second in 0usize..4) {
        const PLANS: [&[&str]; 4] = [&["a"], &["b"], &["a", "b"], &["b", "b"]];
        let plan: Plan = Box::leak(Box::new([PLANS[first], PLANS[second]]));
        Model::named(format!("log store: {max_entries} entries, {plan:?}"))
            .preemption_bound(1)
            .iterations(300)
            .check(move || producers_and_reader(entries(max_entries), plan, 1));
    }
}
