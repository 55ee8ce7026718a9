//! The store's state, unsynchronized: the ring of entries, the per-process index and the
//! counters. [`LogStore`](super::LogStore) keeps one [`Ring`] under its lock; every method
//! here runs with that lock held. Each leaves the invariants of the module above intact
//! before it returns, except the steps of an admission ([`Ring::make_room`],
//! [`Ring::push`], [`Ring::index`], [`Ring::count_added`]), which restore them together
//! and so run under one acquisition of the lock.

use super::shell;
use super::snapshot::{IndexedProcess, Snapshot};
use super::{LogEntry, LogStats, LogStoreConfig, ProcessStats, PROCESS_OVERHEAD};
use crate::output::OutputLine;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

/// Where an admitted line is, between the steps of its admission.
#[derive(Clone, Copy, Debug)]
pub(super) struct Admission {
    pub(super) seq: u64,
    record: usize,
}

/// One stored entry. Its sequence number is implicit: the ring is contiguous, so the entry
/// at position `i` has `first_seq() + i`.
#[derive(Debug)]
struct Slot {
    output: Arc<OutputLine>,
    /// Its [`entry_cost`](super::entry_cost), kept so that eviction need not read the
    /// entry itself under the lock (memory last used when the entry was stored, likely out
    /// of cache).
    cost: usize,
    /// Where its process's index record is in [`Ring::records`]: eviction finds it without
    /// hashing the process id.
    record: usize,
    /// The latest timestamp of this entry and every entry stored before it (a running
    /// maximum, so non-decreasing along the ring even when producers' clocks interleave
    /// out of order): time queries binary-search it.
    max_at: Instant,
}

/// The size of a ring slot, charged in [`ENTRY_OVERHEAD`](super::ENTRY_OVERHEAD).
pub(super) const SLOT_SIZE: usize = std::mem::size_of::<Slot>();

/// The size of an index record and of its entry in the id table, charged in
/// [`PROCESS_OVERHEAD`].
pub(super) const RECORD_SIZE: usize =
    std::mem::size_of::<Option<ProcessIndex>>() + std::mem::size_of::<(Arc<str>, usize)>();

/// The live entries of one process, and its counts while it has any.
#[derive(Debug)]
struct ProcessIndex {
    process: Arc<str>,
    seqs: VecDeque<u64>,
    added: u64,
    evicted: u64,
}

/// Entries evicted by one admission, handed out of the critical section so that their
/// memory is freed after the lock is released. Evicting by count takes exactly one entry,
/// which needs no allocation; only a byte-bound eviction of several spills into `rest`.
#[derive(Debug, Default)]
pub(super) struct Evicted {
    first: Option<Arc<OutputLine>>,
    rest: Vec<Arc<OutputLine>>,
}

impl Evicted {
    fn push(&mut self, output: Arc<OutputLine>) {
        if self.first.is_none() {
            self.first = Some(output);
        } else {
            self.rest.push(output);
        }
    }

    /// Frees the evicted entries (call it after the lock is released), keeping the first
    /// one's allocation for this thread's next add when nothing else holds it.
    pub(super) fn release(mut self) {
        if let Some(first) = self.first.take() {
            shell::keep(first);
        }
    }
}

/// How many process ids [`Ring::find_record`] remembers by address.
const RECENT_PROCESSES: usize = 16;

/// Where [`Ring::recent`] remembers `process`: by the address of its allocation (whose low
/// bits are alignment, the same for every id).
fn recent_slot(process: &Arc<str>) -> usize {
    (Arc::as_ptr(process).cast::<u8>() as usize >> 4) % RECENT_PROCESSES
}

/// The fields every add touches come first, in declaration order (`repr(C)`), on as few
/// cache lines as they fit: with producers on several cores, each line the critical
/// section touches is one more to fetch from the core that held the lock before.
#[derive(Debug)]
#[repr(C, align(64))]
pub(super) struct Ring {
    slots: VecDeque<Slot>,
    next_seq: u64,
    bytes: usize,
    added: u64,
    evicted: u64,
    /// The index records, by id; a freed id is `None` and listed in `free` for reuse, so
    /// this holds at most as many records as processes ever had live entries at once
    /// (at most `max_entries`).
    records: Vec<Option<ProcessIndex>>,
    /// What `slots` may grow to ([`LogStoreConfig::max_entries`]).
    max_entries: usize,
    high_water_entries: usize,
    high_water_bytes: usize,
    /// Record ids of recently added processes, by the address of their id's allocation
    /// (a hint, checked against the record: see [`Ring::find_record`]).
    recent: [usize; RECENT_PROCESSES],
    /// Where each process with live entries has its record in `records`.
    ids: HashMap<Arc<str>, usize>,
    free: Vec<usize>,
    rejected: u64,
}

impl Ring {
    pub(super) fn new(max_entries: usize) -> Ring {
        Ring {
            slots: VecDeque::new(),
            max_entries,
            next_seq: 0,
            ids: HashMap::new(),
            recent: [usize::MAX; RECENT_PROCESSES],
            records: Vec::new(),
            free: Vec::new(),
            bytes: 0,
            added: 0,
            evicted: 0,
            rejected: 0,
            high_water_entries: 0,
            high_water_bytes: 0,
        }
    }

    fn first_seq(&self) -> u64 {
        self.next_seq - self.slots.len() as u64
    }

    fn entry_at(&self, position: usize) -> Option<LogEntry> {
        let slot = self.slots.get(position)?;
        Some(LogEntry { seq: self.first_seq() + position as u64, output: slot.output.clone() })
    }

    /// Counts a line refused before admission (it could never fit).
    pub(super) fn reject(&mut self) {
        self.rejected += 1;
    }

    fn record(&self, id: usize) -> Option<&ProcessIndex> {
        self.records.get(id)?.as_ref()
    }

    /// The record of `process`, if it has live entries.
    ///
    /// Every line of a process usually shares one allocation of its id, so the record is
    /// first looked up by that allocation's address among the recently added processes:
    /// a hit is certain when the record holds the same allocation (which it keeps alive,
    /// so the address cannot have been reused for another id), and costs no hash. A miss
    /// hashes the id, and remembers the record for the next line.
    fn find_record(&mut self, process: &Arc<str>) -> Option<usize> {
        let slot = recent_slot(process);
        let hint = self.recent[slot];
        if self.record(hint).is_some_and(|record| Arc::ptr_eq(&record.process, process)) {
            return Some(hint);
        }
        let id = self.ids.get(&**process).copied()?;
        self.recent[slot] = id;
        Some(id)
    }

    /// The first step of an admission: evicts the oldest entries until a line of `process`
    /// charged `cost` bytes fits both bounds; returns the process's record, if it still has
    /// one. The caller has checked that `cost + PROCESS_OVERHEAD <= max_bytes`, so an empty
    /// ring always has room.
    pub(super) fn make_room(
        &mut self,
        process: &Arc<str>,
        cost: usize,
        limits: &LogStoreConfig,
        evicted: &mut Evicted,
    ) -> Option<usize> {
        let mut id = self.find_record(process);
        loop {
            let record_cost = mutation_point!(
                "log_store.add.room_ignores_the_record",
                if id.is_some() { 0 } else { PROCESS_OVERHEAD },
                0
            );
            if self.slots.len() < limits.max_entries && self.bytes + cost + record_cost <= limits.max_bytes {
                return id;
            }
            match self.evict_oldest(evicted) {
                None => return id,
                // The process's own last entry went: it needs a new record.
                Some(Some(freed)) if Some(freed) == id => id = None,
                Some(_) => {}
            }
        }
    }

    /// The second step: stores `output` (charged `cost` bytes) as the newest entry, under
    /// the `record` [`make_room`](Self::make_room) found (a new one if it found none).
    pub(super) fn push(&mut self, output: Arc<OutputLine>, cost: usize, record: Option<usize>) -> Admission {
        let record = record.unwrap_or_else(|| self.new_record(&output.process));
        let seq = self.next_seq;
        self.next_seq += 1;
        let max_at = self.slots.back().map_or(output.at, |newest| newest.max_at.max(output.at));
        if self.slots.len() == self.slots.capacity() {
            // Doubling, but to `max_entries` exactly, not past it: once full, the ring then
            // stores each new entry in the slot its eviction just freed (still in cache)
            // rather than in one a whole ring further on.
            let wanted = self.slots.len().saturating_mul(2).clamp(1, self.max_entries.max(1));
            self.slots.reserve_exact(wanted.saturating_sub(self.slots.len()));
        }
        self.slots.push_back(Slot { output, cost, record, max_at });
        self.bytes += cost;
        self.high_water_entries = self.high_water_entries.max(self.slots.len());
        self.high_water_bytes = self.high_water_bytes.max(self.bytes);
        Admission { seq, record }
    }

    /// Replaces the line of a stored entry (a two-phase insert: only a mutation point
    /// publishes an entry before its line).
    pub(super) fn fill(&mut self, admission: Admission, line: OutputLine) {
        if let Some(slot) = admission.seq.checked_sub(self.first_seq()).and_then(|p| self.slots.get_mut(p as usize)) {
            slot.output = Arc::new(line);
        }
    }

    /// The third step: lists the new entry in its process's index.
    pub(super) fn index(&mut self, admission: Admission) {
        if let Some(record) = self.records.get_mut(admission.record).and_then(Option::as_mut) {
            record.seqs.push_back(admission.seq);
            record.added += 1;
        }
    }

    /// The last step: counts the new entry as added.
    pub(super) fn count_added(&mut self) {
        self.added += 1;
    }

    /// Makes the index record of a process that has no live entry; returns its id.
    fn new_record(&mut self, process: &Arc<str>) -> usize {
        self.bytes += PROCESS_OVERHEAD;
        let record = ProcessIndex { process: process.clone(), seqs: VecDeque::new(), added: 0, evicted: 0 };
        let id = match self.free.pop() {
            Some(id) => {
                self.records[id] = Some(record);
                id
            }
            None => {
                self.records.push(Some(record));
                self.records.len() - 1
            }
        };
        self.ids.insert(process.clone(), id);
        self.recent[recent_slot(process)] = id;
        id
    }

    /// Removes the oldest entry from the ring and from its process's index, freeing the
    /// process's record with its last entry. `None` when the ring is empty; otherwise the
    /// id of the record it freed, if it freed one.
    fn evict_oldest(&mut self, evicted: &mut Evicted) -> Option<Option<usize>> {
        let seq = self.first_seq();
        let slot = self.slots.pop_front()?;
        let mut freed = None;
        let record = mutation_point!(
            "log_store.evict.forgets_the_index",
            self.records.get_mut(slot.record).and_then(Option::as_mut),
            None
        );
        if let Some(record) = record {
            // The oldest live entry of the store is the oldest of its process.
            debug_assert_eq!(record.seqs.front(), Some(&seq), "index out of step with the ring");
            record.seqs.pop_front();
            record.evicted += 1;
            if record.seqs.is_empty() {
                self.ids.remove(&*record.process);
                self.records[slot.record] = None;
                self.free.push(slot.record);
                self.bytes -= mutation_point!("log_store.evict.record_bytes_kept", PROCESS_OVERHEAD, 0);
                freed = Some(slot.record);
            }
        }
        self.evicted += mutation_point!("log_store.evict.last_entry_counted_twice", 1, 1 + u64::from(freed.is_some()));
        self.bytes -= slot.cost;
        evicted.push(slot.output);
        Some(freed)
    }

    pub(super) fn stats(&self) -> LogStats {
        LogStats {
            added: self.added,
            evicted: self.evicted,
            rejected: self.rejected,
            stored: self.slots.len(),
            bytes: self.bytes,
            processes: self.ids.len(),
            high_water_entries: self.high_water_entries,
            high_water_bytes: self.high_water_bytes,
            next_seq: self.next_seq,
        }
    }

    pub(super) fn process_stats(&self, process: &str) -> Option<ProcessStats> {
        let record = self.record(*self.ids.get(process)?)?;
        Some(ProcessStats { stored: record.seqs.len(), added: record.added, evicted: record.evicted })
    }

    pub(super) fn processes(&self) -> Vec<Arc<str>> {
        let mut processes: Vec<Arc<str>> = self.ids.keys().cloned().collect();
        processes.sort_unstable();
        processes
    }

    /// The entries at `positions`, in one allocation sized for all of them (a query's
    /// result would otherwise be reallocated as it grows, under the lock).
    fn entries(&self, positions: impl ExactSizeIterator<Item = usize>) -> Vec<LogEntry> {
        let mut entries = Vec::with_capacity(positions.len());
        entries.extend(positions.filter_map(|position| self.entry_at(position)));
        entries
    }

    pub(super) fn last(&self, n: usize) -> Vec<LogEntry> {
        let start = self.slots.len().saturating_sub(n);
        self.entries(start..self.slots.len())
    }

    pub(super) fn since(&self, seq: u64) -> Vec<LogEntry> {
        let start = usize::try_from(seq.saturating_sub(self.first_seq())).unwrap_or(usize::MAX);
        self.entries(start.min(self.slots.len())..self.slots.len())
    }

    /// Where the newest `n` live entries of `process` are in the ring, oldest first; valid
    /// until the lock is released (an eviction shifts every position).
    pub(super) fn positions_of(&self, process: &str, n: usize) -> Vec<usize> {
        let Some(record) = self.ids.get(process).and_then(|&id| self.record(id)) else { return Vec::new() };
        let skip = record.seqs.len().saturating_sub(n);
        let first = self.first_seq();
        let mut positions = Vec::with_capacity(record.seqs.len() - skip);
        positions
            .extend(record.seqs.iter().skip(skip).filter_map(|&seq| usize::try_from(seq.checked_sub(first)?).ok()));
        positions
    }

    /// The entries at `positions` (from [`positions_of`](Self::positions_of) under the
    /// same acquisition of the lock).
    pub(super) fn entries_at(&self, positions: Vec<usize>) -> Vec<LogEntry> {
        self.entries(positions.into_iter())
    }

    pub(super) fn between(&self, from: Instant, to: Instant) -> Vec<LogEntry> {
        // Every entry before `start` has a timestamp (at most its running maximum) before
        // `from`; after it, timestamps may be out of order, so the rest is filtered.
        let start = self.slots.partition_point(|slot| slot.max_at < from);
        (start..self.slots.len())
            .filter(|&position| (from..to).contains(&self.slots[position].output.at))
            .filter_map(|position| self.entry_at(position))
            .collect()
    }

    pub(super) fn snapshot(&self, limits: LogStoreConfig) -> Snapshot {
        let mut index: Vec<IndexedProcess> = self
            .records
            .iter()
            .flatten()
            .map(|record| IndexedProcess {
                process: record.process.clone(),
                seqs: record.seqs.iter().copied().collect(),
                added: record.added,
                evicted: record.evicted,
            })
            .collect();
        index.sort_unstable_by(|a, b| a.process.cmp(&b.process));
        Snapshot { entries: self.last(self.slots.len()), index, stats: self.stats(), limits }
    }
}
