//! Buggy variants of the log store, each wrong in one place, all sharing one scaffold so
//! that every other line is the same as in a correct store. The scaffold with no bug
//! switched on passes every scenario the real store passes.

use super::*;
use crate::support::{expect_caught, MODEL_CHECKER};
use racekit::log_store::{IndexedProcess, LogStats};
use racekit::model::Failure;
use racekit::sync::atomic::{AtomicU64, Ordering};
use racekit::sync::Mutex;
use std::collections::{HashMap, VecDeque};

/// The new entry is indexed in a second critical section, after the ring was updated.
const INDEX_UPDATED_OUTSIDE_THE_LOCK: u8 = 1;
/// Eviction removes the entry from the ring but not from its process's index.
const EVICTION_FORGETS_THE_INDEX: u8 = 2;
/// Evicting a process's last entry counts the eviction twice (once more as the record goes).
const LAST_ENTRY_EVICTION_COUNTED_TWICE: u8 = 3;
/// `added` and `evicted` are atomics bumped after the lock is released (a "cheap stats"
/// shortcut), so a reader can see an entry stored but not yet added.
const COUNTERS_UPDATED_OUTSIDE_THE_LOCK: u8 = 4;
/// Room is made in one critical section and the entry pushed in another.
const ROOM_MADE_IN_A_SEPARATE_CRITICAL_SECTION: u8 = 5;
/// The slot is published empty and its text and stream written in a second critical
/// section (a two-phase insert, to keep the first one short).
const ENTRY_FILLED_AFTER_PUBLISHING: u8 = 6;
/// `by_process` turns the index's sequence numbers into ring positions under one lock and
/// reads the positions under another; an eviction in between shifts every position.
const QUERY_RESOLVES_POSITIONS_IN_A_SECOND_LOCK: u8 = 7;

/// A process's index record: live sequence numbers, added, evicted.
type Record = (VecDeque<u64>, u64, u64);

#[derive(Default)]
struct Inner {
    ring: VecDeque<std::sync::Arc<OutputLine>>,
    next_seq: u64,
    index: HashMap<std::sync::Arc<str>, Record>,
    bytes: usize,
    added: u64,
    evicted: u64,
    high_water: (usize, usize),
}

impl Inner {
    fn first_seq(&self) -> u64 {
        self.next_seq - self.ring.len() as u64
    }

    fn fits(&self, line: &OutputLine, limits: &LogStoreConfig) -> bool {
        let record = if self.index.contains_key(&*line.process) { 0 } else { PROCESS_OVERHEAD };
        self.ring.len() < limits.max_entries && self.bytes + entry_cost(line) + record <= limits.max_bytes
    }

    fn note_high_water(&mut self) {
        self.high_water = (self.high_water.0.max(self.ring.len()), self.high_water.1.max(self.bytes));
    }
}

pub struct MutantStore<const BUG: u8> {
    inner: Mutex<Inner>,
    /// `added` and `evicted` for [`COUNTERS_UPDATED_OUTSIDE_THE_LOCK`].
    counters: (AtomicU64, AtomicU64),
    limits: LogStoreConfig,
}

impl<const BUG: u8> MutantStore<BUG> {
    /// Evicts the oldest entry; returns how many evictions to count.
    fn evict_oldest(&self, inner: &mut Inner) -> u64 {
        let seq = inner.first_seq();
        let Some(old) = inner.ring.pop_front() else { return 0 };
        inner.bytes -= entry_cost(&old);
        let mut counted = 1;
        if BUG != EVICTION_FORGETS_THE_INDEX {
            if let Some(record) = inner.index.get_mut(&*old.process) {
                if record.0.front() == Some(&seq) {
                    record.0.pop_front();
                }
                record.2 += 1;
                if record.0.is_empty() {
                    inner.index.remove(&*old.process);
                    inner.bytes -= PROCESS_OVERHEAD;
                    if BUG == LAST_ENTRY_EVICTION_COUNTED_TWICE {
                        counted += 1;
                    }
                }
            }
        }
        counted
    }

    fn index(inner: &mut Inner, process: std::sync::Arc<str>, seq: u64) {
        let record = inner.index.entry(process).or_insert_with(|| (VecDeque::new(), 0, 0));
        if record.0.is_empty() && record.1 == 0 {
            inner.bytes += PROCESS_OVERHEAD;
        }
        record.0.push_back(seq);
        record.1 += 1;
    }

    fn count(&self, inner: &mut Inner, added: u64, evicted: u64) {
        if BUG == COUNTERS_UPDATED_OUTSIDE_THE_LOCK {
            return;
        }
        inner.added += added;
        inner.evicted += evicted;
    }
}

impl<const BUG: u8> StoreUnderTest for MutantStore<BUG> {
    fn open(limits: LogStoreConfig) -> Self {
        MutantStore { inner: Mutex::new(Inner::default()), counters: (AtomicU64::new(0), AtomicU64::new(0)), limits }
    }

    fn add(&self, line: OutputLine) -> bool {
        let mut inner = self.inner.lock();
        let mut evicted = 0;
        while !inner.fits(&line, &self.limits) && !inner.ring.is_empty() {
            evicted += self.evict_oldest(&mut inner);
        }
        if BUG == ROOM_MADE_IN_A_SEPARATE_CRITICAL_SECTION {
            // The evictions are counted in the critical section that made them, so the
            // mutant's one fault is the push that comes later: two adders can both make room
            // for one entry, and the ring then holds one more than its bound.
            self.count(&mut inner, 0, std::mem::take(&mut evicted));
            drop(inner);
            inner = self.inner.lock();
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let process = line.process.clone();
        let text = if BUG == ENTRY_FILLED_AFTER_PUBLISHING {
            let placeholder = OutputLine { line: String::new(), stream: OutputStream::Stdout, ..line.clone() };
            inner.bytes += entry_cost(&placeholder);
            inner.ring.push_back(std::sync::Arc::new(placeholder));
            Some(line)
        } else {
            inner.bytes += entry_cost(&line);
            inner.ring.push_back(std::sync::Arc::new(line));
            None
        };
        self.count(&mut inner, 1, evicted);
        if BUG == INDEX_UPDATED_OUTSIDE_THE_LOCK {
            drop(inner);
            inner = self.inner.lock();
        }
        Self::index(&mut inner, process, seq);
        if BUG == ENTRY_FILLED_AFTER_PUBLISHING {
            drop(inner);
            inner = self.inner.lock();
        }
        if let Some(line) = text {
            let position = seq.checked_sub(inner.first_seq()).map(|p| p as usize);
            let cost = entry_cost(&line);
            if let Some(slot) = position.and_then(|p| inner.ring.get_mut(p)) {
                let placeholder = std::mem::replace(slot, std::sync::Arc::new(line));
                inner.bytes = inner.bytes + cost - entry_cost(&placeholder);
            }
        }
        inner.note_high_water();
        drop(inner);
        if BUG == COUNTERS_UPDATED_OUTSIDE_THE_LOCK {
            // Relaxed would do for a counter; SeqCst keeps the mutant's only fault the one named.
            self.counters.0.fetch_add(1, Ordering::SeqCst);
            self.counters.1.fetch_add(evicted, Ordering::SeqCst);
        }
        true
    }

    fn by_process(&self, process: &str) -> Vec<LogEntry> {
        let inner = self.inner.lock();
        let first = inner.first_seq();
        let positions: Vec<(u64, usize)> = inner
            .index
            .get(process)
            // A sequence number the ring no longer holds resolves to no position, as in the
            // real store: an index that keeps one is reported by the snapshot check ("not
            // live"), not by an overflow in the query.
            .map(|record| {
                record.0.iter().filter_map(|&seq| Some((seq, usize::try_from(seq.checked_sub(first)?).ok()?))).collect()
            })
            .unwrap_or_default();
        let inner = if BUG == QUERY_RESOLVES_POSITIONS_IN_A_SECOND_LOCK {
            drop(inner);
            self.inner.lock()
        } else {
            inner
        };
        positions
            .into_iter()
            .filter_map(|(seq, position)| {
                let line = inner.ring.get(position)?;
                Some(LogEntry { seq, output: line.clone() })
            })
            .collect()
    }

    fn snapshot(&self) -> Snapshot {
        let inner = self.inner.lock();
        let first = inner.first_seq();
        let entries = inner
            .ring
            .iter()
            .enumerate()
            .map(|(position, line)| LogEntry { seq: first + position as u64, output: line.clone() })
            .collect();
        let mut index: Vec<IndexedProcess> = inner
            .index
            .iter()
            .map(|(process, record)| IndexedProcess {
                process: process.clone(),
                seqs: record.0.iter().copied().collect(),
                added: record.1,
                evicted: record.2,
            })
            .collect();
        index.sort_by(|a, b| a.process.cmp(&b.process));
        let (added, evicted) = if BUG == COUNTERS_UPDATED_OUTSIDE_THE_LOCK {
            (self.counters.0.load(Ordering::SeqCst), self.counters.1.load(Ordering::SeqCst))
        } else {
            (inner.added, inner.evicted)
        };
        let stats = LogStats {
            added,
            evicted,
            rejected: 0,
            stored: inner.ring.len(),
            bytes: inner.bytes,
            processes: inner.index.len(),
            high_water_entries: inner.high_water.0,
            high_water_bytes: inner.high_water.1,
            next_seq: inner.next_seq,
        };
        Snapshot { entries, index, stats, limits: self.limits }
    }
}

#[test]
fn the_mutant_scaffold_is_sound_without_a_bug() {
    // The shared implementation with no bug switched on passes every scenario, so each
    // mutant below is caught for its one bug, not for a flaw in the scaffold.
    expect_sound(Model::named("log store: scaffold"), || {
        racing_producers::<MutantStore<0>>();
        byte_bound::<MutantStore<0>>();
    });
}

/// Runs `scenario` on mutant `BUG` and requires the checker to catch it; the failure must
/// name what the mutant breaks.
#[track_caller]
fn caught(name: &str, scenario: fn(), symptom: &str) -> Failure {
    let failure = expect_caught(Model::named(format!("log store: {name}")), scenario);
    if MODEL_CHECKER {
        assert!(failure.message.contains(symptom), "expected {symptom:?} in {failure}");
    }
    failure
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn an_index_updated_outside_the_lock_is_caught() {
    caught("index outside the lock", racing_producers::<MutantStore<INDEX_UPDATED_OUTSIDE_THE_LOCK>>, "index");
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn an_eviction_that_forgets_the_index_is_caught() {
    caught("eviction forgets the index", racing_producers::<MutantStore<EVICTION_FORGETS_THE_INDEX>>, "not live");
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_last_entry_eviction_counted_twice_is_caught() {
    caught(
        "eviction counted twice",
        racing_producers::<MutantStore<LAST_ENTRY_EVICTION_COUNTED_TWICE>>,
        "not conserved",
    );
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn counters_updated_outside_the_lock_are_caught() {
    caught(
        "counters outside the lock",
        racing_producers::<MutantStore<COUNTERS_UPDATED_OUTSIDE_THE_LOCK>>,
        "not conserved",
    );
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn room_made_in_a_separate_critical_section_is_caught() {
    caught(
        "check-then-act on room",
        racing_producers::<MutantStore<ROOM_MADE_IN_A_SEPARATE_CRITICAL_SECTION>>,
        "bound exceeded",
    );
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn an_entry_filled_after_publishing_is_caught() {
    caught("two-phase insert", racing_producers::<MutantStore<ENTRY_FILLED_AFTER_PUBLISHING>>, "torn entry");
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_query_resolving_positions_in_a_second_lock_is_caught() {
    caught(
        "query in two locks",
        racing_producers::<MutantStore<QUERY_RESOLVES_POSITIONS_IN_A_SECOND_LOCK>>,
        "another process",
    );
}
