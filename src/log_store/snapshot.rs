//! A consistent copy of a store's whole state, and the check of its invariants.

use super::{entry_cost, LogEntry, LogStats, LogStoreConfig, PROCESS_OVERHEAD};
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;

/// Everything a [`LogStore`](super::LogStore) holds, copied under one acquisition of its
/// lock: the entries, the per-process index and the counters, all of the same instant.
///
/// [`check`](Snapshot::check) verifies the store's invariants on it; models and stress
/// suites call it from readers running concurrently with producers. Entries are shared
/// (`Arc`), so a snapshot costs one reference count per entry, not a copy of the lines.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The live entries, oldest first.
    pub entries: Vec<LogEntry>,
    /// The per-process index, ordered by process id.
    pub index: Vec<IndexedProcess>,
    /// The counters.
    pub stats: LogStats,
    /// The bounds the store was configured with.
    pub limits: LogStoreConfig,
}

/// One process's part of the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedProcess {
    /// The process id.
    pub process: Arc<str>,
    /// Sequence numbers of its live entries, oldest first.
    pub seqs: Vec<u64>,
    /// Its entries added while it had live entries (see [`ProcessStats`](super::ProcessStats)).
    pub added: u64,
    /// Its entries evicted over the same span.
    pub evicted: u64,
}

/// An invariant a [`Snapshot`] breaks. Every variant is a bug in the store that produced
/// the snapshot (a correct [`LogStore`](super::LogStore) never produces one): report it
/// with the snapshot.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Inconsistency {
    /// An entry was lost or counted twice.
    #[error("counts not conserved: added {added} != stored {stored} + evicted {evicted}")]
    NotConserved {
        /// Entries admitted.
        added: u64,
        /// Entries held.
        stored: usize,
        /// Entries evicted.
        evicted: u64,
    },
    /// The counters disagree with the entries actually held.
    #[error("the counters say {counted} entries are stored, the ring holds {held}")]
    StoredMiscounted {
        /// `stats.stored`.
        counted: usize,
        /// `entries.len()`.
        held: usize,
    },
    /// The ring is not a contiguous run of sequence numbers ending just before `next_seq`.
    #[error("entry {position} has sequence number {seq}, expected {expected}")]
    NotContiguous {
        /// Position in the ring, oldest first.
        position: usize,
        /// Its sequence number.
        seq: u64,
        /// The one it should have.
        expected: u64,
    },
    /// More entries than `max_entries`, or more bytes than `max_bytes`.
    #[error("bound exceeded: {what} is {value}, the limit is {limit}")]
    OverBound {
        /// `"entries"`, `"bytes"`, `"entries high-water"` or `"bytes high-water"`.
        what: &'static str,
        /// What it is.
        value: usize,
        /// What it may be at most.
        limit: usize,
    },
    /// The byte count disagrees with what the entries and index records cost.
    #[error("bytes counted {counted}, the entries and index records cost {actual}")]
    BytesMiscounted {
        /// `stats.bytes`.
        counted: usize,
        /// Recomputed from the entries and records.
        actual: usize,
    },
    /// An index entry points at an entry that is gone (evicted, or never stored).
    #[error("the index of `{process}` points at entry {seq}, which is not live")]
    Dangling {
        /// The process whose index holds it.
        process: Arc<str>,
        /// The sequence number.
        seq: u64,
    },
    /// An index entry points at a live entry of another process.
    #[error("the index of `{process}` points at entry {seq}, which belongs to `{owner}`")]
    WrongProcess {
        /// The process whose index holds it.
        process: Arc<str>,
        /// The sequence number.
        seq: u64,
        /// The process the entry belongs to.
        owner: Arc<str>,
    },
    /// A process's index is not in arrival order or names an entry twice, or the index
    /// lists the process twice.
    #[error("the index of `{process}` is out of order or repeats an entry or a process")]
    Unordered {
        /// The process.
        process: Arc<str>,
    },
    /// A live entry is missing from its process's index.
    #[error("entry {seq} of `{process}` is live but not indexed")]
    Unindexed {
        /// The entry's process.
        process: Arc<str>,
        /// Its sequence number.
        seq: u64,
    },
    /// A process's own counts are not conserved, or its record outlived its entries.
    #[error("`{process}`: added {added} != indexed {indexed} + evicted {evicted}, or nothing is indexed")]
    ProcessNotConserved {
        /// The process.
        process: Arc<str>,
        /// Its entries added.
        added: u64,
        /// Its entries indexed.
        indexed: usize,
        /// Its entries evicted.
        evicted: u64,
    },
}

impl Snapshot {
    /// Verifies every invariant of the store:
    ///
    /// - **conservation**: `added == stored + evicted`, and `stored` is what the ring holds;
    /// - **bounds**: entries `<= max_entries`, bytes `<= max_bytes` (now and at their
    ///   high-water marks), and the byte count matches what the entries and index
    ///   records cost;
    /// - **ring**: sequence numbers contiguous, ending at `next_seq - 1`;
    /// - **index**: every index entry points at a live entry of that process, in arrival
    ///   order, and every live entry is indexed; each process's `added == indexed +
    ///   evicted`, and no record is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::log_store::{LogStore, LogStoreConfig};
    /// use racekit::output::{OutputLine, OutputStream};
    /// use std::time::Instant;
    ///
    /// let store = LogStore::new(LogStoreConfig { max_entries: 2, ..LogStoreConfig::default() })?;
    /// for n in 0..3 {
    ///     let process = if n % 2 == 0 { "web" } else { "db" };
    ///     store.add(OutputLine { process: process.into(), stream: OutputStream::Stdout, at: Instant::now(), line: format!("{n}") })?;
    /// }
    /// let snapshot = store.snapshot();
    /// assert_eq!(snapshot.check(), Ok(()));
    /// assert_eq!((snapshot.stats.stored, snapshot.stats.evicted), (2, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check(&self) -> Result<(), Inconsistency> {
        self.check_counts()?;
        self.check_ring()?;
        self.check_index()
    }

    fn check_counts(&self) -> Result<(), Inconsistency> {
        let stats = &self.stats;
        if stats.stored != self.entries.len() {
            return Err(Inconsistency::StoredMiscounted { counted: stats.stored, held: self.entries.len() });
        }
        if !stats.is_conserved() {
            return Err(Inconsistency::NotConserved {
                added: stats.added,
                stored: stats.stored,
                evicted: stats.evicted,
            });
        }
        let bounds = [
            ("entries", stats.stored, self.limits.max_entries),
            ("entries high-water", stats.high_water_entries, self.limits.max_entries),
            ("bytes", stats.bytes, self.limits.max_bytes),
            ("bytes high-water", stats.high_water_bytes, self.limits.max_bytes),
        ];
        if let Some(&(what, value, limit)) = bounds.iter().find(|(_, value, limit)| value > limit) {
            return Err(Inconsistency::OverBound { what, value, limit });
        }
        let actual = self.entries.iter().map(|entry| entry_cost(&entry.output)).sum::<usize>()
            + self.index.len() * PROCESS_OVERHEAD;
        if actual != stats.bytes {
            return Err(Inconsistency::BytesMiscounted { counted: stats.bytes, actual });
        }
        Ok(())
    }

    fn check_ring(&self) -> Result<(), Inconsistency> {
        let first = self.stats.next_seq.saturating_sub(self.entries.len() as u64);
        for (position, entry) in self.entries.iter().enumerate() {
            let expected = first + position as u64;
            if entry.seq != expected {
                return Err(Inconsistency::NotContiguous { position, seq: entry.seq, expected });
            }
        }
        Ok(())
    }

    fn check_index(&self) -> Result<(), Inconsistency> {
        let live: HashMap<u64, &LogEntry> = self.entries.iter().map(|entry| (entry.seq, entry)).collect();
        if let Some(pair) = self.index.windows(2).find(|pair| pair[0].process >= pair[1].process) {
            return Err(Inconsistency::Unordered { process: pair[1].process.clone() });
        }
        let mut indexed = 0;
        for record in &self.index {
            let process = &record.process;
            if record.seqs.windows(2).any(|pair| pair[0] >= pair[1]) {
                return Err(Inconsistency::Unordered { process: process.clone() });
            }
            for &seq in &record.seqs {
                let entry = live.get(&seq).ok_or_else(|| Inconsistency::Dangling { process: process.clone(), seq })?;
                if entry.process != *process {
                    let owner = entry.process.clone();
                    return Err(Inconsistency::WrongProcess { process: process.clone(), seq, owner });
                }
            }
            let count = record.seqs.len();
            if count == 0 || record.added != count as u64 + record.evicted {
                let (added, evicted) = (record.added, record.evicted);
                return Err(Inconsistency::ProcessNotConserved {
                    process: process.clone(),
                    added,
                    indexed: count,
                    evicted,
                });
            }
            indexed += count;
        }
        // Each index entry names a distinct live entry of its own process (ordered within a
        // record, one record per process), so equal totals mean every live entry is indexed.
        if indexed != self.entries.len() {
            let unindexed = self.entries.iter().find(|entry| {
                !self.index.iter().any(|record| record.process == entry.process && record.seqs.contains(&entry.seq))
            });
            if let Some(entry) = unindexed {
                return Err(Inconsistency::Unindexed { process: entry.process.clone(), seq: entry.seq });
            }
        }
        Ok(())
    }
}
