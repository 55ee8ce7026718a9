//! Bounded log store: a ring of entries with a per-process index, one ingestion path.
//!
//! The Go seed's store fed a bounded channel to a writer goroutine and, when the channel
//! stayed full past a timeout, fell back to adding synchronously under the lock: two
//! paths, an order between them that depends on timing, and a buffer whose memory grows
//! with load. Here there is one path, [`LogStore::add`], a short critical section that
//! never waits for room.
//!
//! # Guarantees
//!
//! - **Bounded by configuration, not load.** At most [`LogStoreConfig::max_entries`]
//!   entries and [`LogStoreConfig::max_bytes`] charged bytes are held at any instant (see
//!   [`entry_cost`] for what a line is charged). Nothing else buffers lines: no channel,
//!   no writer thread, no spill.
//! - **Behaviour under a burst: evict the oldest, count it.** An add never waits for room
//!   and never refuses a line that fits the bounds: when the store is full it evicts the
//!   oldest entries (of any process) until the new one fits, and counts them in
//!   [`LogStats::evicted`] (and the process's [`ProcessStats::evicted`]). The only wait is
//!   for the lock, held for a constant amount of work (amortized): a look-up of the process
//!   (by the address of its id, hashing the id only for a process not seen recently) and
//!   moves of pointers and counters; no line is allocated, copied or freed under it, and
//!   no evicted entry is read there (only a process's first live entry allocates its index
//!   record under it). The shared allocation an entry lives in is made before the lock:
//!   each thread reuses the one its previous add evicted, when no reader still holds it,
//!   so an add to a full store allocates nothing beyond the line the caller made (a
//!   thread that has added keeps one such allocation, emptied of its text, for its next
//!   add). A line that could never fit, even in an empty store, is refused with
//!   [`AddError::TooLarge`] (handing it back) and counted in [`LogStats::rejected`]. So at every instant `added == stored + evicted`
//!   ([`LogStats::is_conserved`]), and every line offered is in `added` or `rejected`.
//! - **Many producers, threads or tasks.** [`add`](LogStore::add) takes `&self` on a
//!   cloneable handle. Because it never waits for room, calling it from a tokio task does
//!   not stall the runtime (tokio's own advice for a blocking mutex around a short critical
//!   section); there is no async variant because there is nothing to await.
//!   [`sink`](LogStore::sink) returns the process manager's output callback.
//! - **Consistent index.** The ring, the per-process index and the counters change
//!   together under one lock; every query reads them under one acquisition. An entry is
//!   immutable once stored (shared as `Arc<OutputLine>`), so no reader sees a torn entry.
//!   [`Snapshot::check`] verifies all of this on a consistent copy.
//! - **Order.** Sequence numbers are given in lock order, so the ring is ordered by
//!   sequence; each producer's lines keep its own order, and each process's live entries
//!   are a suffix of the lines it had admitted (eviction takes the oldest).
//!
//! # Invariants
//!
//! Under the one lock (`ring`), between operations:
//! - the ring holds the contiguous sequence numbers `next_seq - stored .. next_seq`;
//! - `stored <= max_entries`, `bytes <= max_bytes`, and `bytes` is the sum of the
//!   entries' [`entry_cost`] plus [`PROCESS_OVERHEAD`] per indexed process;
//! - every index entry names a live entry of its process, in arrival order; every live
//!   entry is indexed; a process has an index record exactly while it has live entries,
//!   and its record's `added == indexed + evicted`;
//! - `added == stored + evicted`; the counters only grow.
//!
//! Lock order: there is one lock; no user code runs under it (the [`sink`](LogStore::sink)
//! is called by the producer, outside it), and evicted entries are freed after it is
//! released.
//!
//! # Examples
//!
//! ```
//! use racekit::log_store::{LogStore, LogStoreConfig};
//! use racekit::output::{OutputLine, OutputStream};
//! use std::time::Instant;
//!
//! let store = LogStore::new(LogStoreConfig { max_entries: 3, ..LogStoreConfig::default() })?;
//! let sink = store.sink(); // what the process manager calls for every line
//! for (process, line) in [("web", "listening"), ("db", "ready"), ("web", "GET /"), ("web", "GET /a")] {
//!     sink(&OutputLine { process: process.into(), stream: OutputStream::Stdout, at: Instant::now(), line: line.into() });
//! }
//! let web: Vec<String> = store.by_process("web").iter().map(|entry| entry.line.clone()).collect();
//! assert_eq!(web, ["GET /", "GET /a"]); // "listening" was the oldest: evicted
//! let stats = store.stats();
//! assert_eq!((stats.added, stats.stored, stats.evicted), (4, 3, 1));
//! assert!(stats.is_conserved());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod ring;
mod shell;
mod snapshot;

pub use snapshot::{Inconsistency, IndexedProcess, Snapshot};

use crate::output::{OutputLine, OutputStream};
use crate::sync::{Arc, Mutex, MutexGuard};
use ring::{Evicted, Ring};
use std::fmt;
use std::ops::Deref;
use std::time::Instant;
use thiserror::Error;

/// The [mutation points](crate::mutation) planted in this pattern: one-expression bugs a
/// model switches on with [`Model::mutant`](crate::model::Model::mutant).
pub const MUTATION_POINTS: &[crate::mutation::MutationPoint] = &[
    point("log_store.last.stale_count", "last(n) caps n by a stored count read under an earlier lock acquisition"),
    point(
        "log_store.add.room_made_in_a_separate_section",
        "add makes room under one acquisition of the lock and stores the line under a second, so two adds can both \
         make room for one entry",
    ),
    point(
        "log_store.add.entry_filled_after_publishing",
        "add publishes the entry with an empty line and fills in its text and stream under a second acquisition",
    ),
    point(
        "log_store.add.index_in_a_second_section",
        "add stores the entry under one acquisition of the lock and lists it in its process's index under a second",
    ),
    point(
        "log_store.add.counted_in_a_second_section",
        "add stores and indexes the entry under one acquisition of the lock and counts it as added under a second",
    ),
    point(
        "log_store.add.room_ignores_the_record",
        "making room for a process's first live entry forgets the bytes of the index record it will need",
    ),
    point(
        "log_store.evict.forgets_the_index",
        "eviction removes the entry from the ring but not from its process's index",
    ),
    point("log_store.evict.last_entry_counted_twice", "evicting a process's last live entry counts the eviction twice"),
    point(
        "log_store.evict.record_bytes_kept",
        "freeing a process's index record with its last entry keeps charging the record's bytes",
    ),
    point(
        "log_store.by_process.positions_in_a_second_section",
        "by_process resolves the index to ring positions under one acquisition of the lock and reads the \
         positions under a second, after an eviction may have shifted them",
    ),
];

const fn point(name: &'static str, bug: &'static str) -> crate::mutation::MutationPoint {
    crate::mutation::MutationPoint { name, bug }
}

/// Releases `guard` and takes `lock` again: the gap a mutation point opens when it splits
/// one critical section in two.
fn reacquire<'a, T>(guard: MutexGuard<'a, T>, lock: &'a Mutex<T>) -> MutexGuard<'a, T> {
    drop(guard);
    lock.lock()
}

/// Bytes charged per entry besides its text: its ring slot, its index entry, the shared
/// allocation holding the line (with its reference counts).
pub const ENTRY_OVERHEAD: usize =
    ring::SLOT_SIZE + std::mem::size_of::<u64>() + std::mem::size_of::<OutputLine>() + 2 * std::mem::size_of::<usize>();

/// Bytes charged for each process with live entries: its index record (key, queue header,
/// counters) and the hash table's bookkeeping for it.
pub const PROCESS_OVERHEAD: usize = ring::RECORD_SIZE + std::mem::size_of::<usize>();

/// The bytes a line is charged against [`LogStoreConfig::max_bytes`]: its text's heap
/// capacity, its process id's length (as if not shared with other lines: an upper bound),
/// and [`ENTRY_OVERHEAD`].
///
/// Spare capacity of the ring and of the index's tables is not charged: the ring never
/// holds more than `max_entries` slots, so its backing array is bounded by the
/// configuration too.
pub fn entry_cost(line: &OutputLine) -> usize {
    ENTRY_OVERHEAD + line.line.capacity() + line.process.len()
}

/// How a [`LogStore`] is bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogStoreConfig {
    /// The most entries held (at least 1).
    pub max_entries: usize,
    /// The most bytes held, as [`entry_cost`] charges them (at least
    /// [`LogStoreConfig::MIN_BYTES`]). `usize::MAX` bounds by entries alone.
    pub max_bytes: usize,
}

impl LogStoreConfig {
    /// The smallest `max_bytes` that holds one empty line of a process with an empty id.
    pub const MIN_BYTES: usize = ENTRY_OVERHEAD + PROCESS_OVERHEAD;
}

impl Default for LogStoreConfig {
    /// 10,000 entries, 16 MiB.
    fn default() -> Self {
        LogStoreConfig { max_entries: 10_000, max_bytes: 16 << 20 }
    }
}

/// A configuration the store cannot run with.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// Nothing could ever be stored.
    #[error("a log store needs room for at least one entry: set LogStoreConfig::max_entries to 1 or more")]
    ZeroEntries,
    /// Not even an empty line fits.
    #[error(
        "max_bytes {max_bytes} cannot hold a single entry: set LogStoreConfig::max_bytes to at least {minimum} \
         (LogStoreConfig::MIN_BYTES), or usize::MAX to bound by entries alone"
    )]
    BytesBelowOneEntry {
        /// What was asked for.
        max_bytes: usize,
        /// [`LogStoreConfig::MIN_BYTES`].
        minimum: usize,
    },
}

/// Why a line was not stored; the line comes back.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AddError {
    /// The line alone costs more than the store may hold (counted in
    /// [`LogStats::rejected`]).
    #[error(
        "a line charged {cost} bytes cannot fit in a log store bounded to {max_bytes} bytes: \
         raise LogStoreConfig::max_bytes or split the line"
    )]
    TooLarge {
        /// The line refused.
        line: OutputLine,
        /// What it would be charged, with its process's index record.
        cost: usize,
        /// The store's bound.
        max_bytes: usize,
    },
}

impl AddError {
    /// The line that was not stored.
    pub fn into_line(self) -> OutputLine {
        match self {
            AddError::TooLarge { line, .. } => line,
        }
    }
}

/// A stored line and its sequence number. Dereferences to the [`OutputLine`].
///
/// The line is shared with the store (immutable, never torn); holding an entry keeps its
/// memory alive after eviction, outside the store's bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Its position in arrival order over the store's whole life (0 for the first line
    /// ever added); use it as a cursor with [`LogStore::since`].
    pub seq: u64,
    /// The line. The reference count is std's on every backend: the entry is immutable and
    /// published by the store's lock, so its count orders nothing a model needs to explore.
    pub output: std::sync::Arc<OutputLine>,
}

impl Deref for LogEntry {
    type Target = OutputLine;
    fn deref(&self) -> &OutputLine {
        &self.output
    }
}

/// Counters of a store, read together under its lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Lines admitted.
    pub added: u64,
    /// Entries evicted to make room.
    pub evicted: u64,
    /// Lines refused because they could never fit ([`AddError::TooLarge`]).
    pub rejected: u64,
    /// Entries held now.
    pub stored: usize,
    /// Bytes charged now.
    pub bytes: usize,
    /// Processes with live entries now.
    pub processes: usize,
    /// The most entries ever held at once.
    pub high_water_entries: usize,
    /// The most bytes ever charged at once.
    pub high_water_bytes: usize,
    /// The sequence number the next admitted line gets.
    pub next_seq: u64,
}

impl LogStats {
    /// Whether `added == stored + evicted`.
    pub fn is_conserved(&self) -> bool {
        self.added == self.stored as u64 + self.evicted
    }

    /// Every line offered: `added + rejected`.
    pub fn offered(&self) -> u64 {
        self.added + self.rejected
    }
}

/// Counters of one process, kept while it has live entries: when its last entry is
/// evicted its record goes too (so the index's memory is bounded by the entries held) and
/// its counts start again from zero with its next line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessStats {
    /// Its entries held now.
    pub stored: usize,
    /// Its lines admitted since its record was made.
    pub added: u64,
    /// Its entries evicted since then.
    pub evicted: u64,
}

/// A bounded store of process output with a per-process index.
///
/// A cheap handle: clones share one store. See the [module documentation](self) for what
/// it guarantees under concurrent use.
///
/// Compared with a plain `Mutex<VecDeque<OutputLine>>`, it answers per-process and time
/// queries without scanning every entry, bounds bytes as well as entries, and counts what
/// it evicts; compared with the seed's channel-and-fallback design, it has one ingestion
/// path, no writer thread, and nothing buffered outside its bounds (the `log_store` bench
/// measures all three).
///
/// # Examples
///
/// Producers on threads, a reader following along by sequence number:
///
/// ```
/// use racekit::log_store::{LogStore, LogStoreConfig};
/// use racekit::output::{OutputLine, OutputStream};
/// use racekit::sync::thread;
/// use std::time::Instant;
///
/// let store = LogStore::new(LogStoreConfig { max_entries: 100, max_bytes: 64 << 10 })?;
/// let producers: Vec<_> = ["api", "worker"]
///     .into_iter()
///     .map(|process| {
///         let store = store.clone();
///         thread::spawn(move || {
///             for n in 0..10 {
///                 let line = OutputLine { process: process.into(), stream: OutputStream::Stderr, at: Instant::now(), line: format!("{n}") };
///                 store.add(line).unwrap();
///             }
///         })
///     })
///     .collect();
/// for producer in producers {
///     producer.join().unwrap();
/// }
/// let all = store.since(0);
/// assert_eq!(all.len(), 20);
/// assert_eq!(store.last_of_process("worker", 1)[0].line, "9");
/// assert_eq!(store.snapshot().check(), Ok(()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
}

struct Shared {
    ring: Mutex<Ring>,
    config: LogStoreConfig,
}

impl fmt::Debug for LogStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogStore").field("config", &self.shared.config).field("stats", &self.stats()).finish()
    }
}

impl LogStore {
    /// An empty store with the given bounds.
    pub fn new(config: LogStoreConfig) -> Result<LogStore, ConfigError> {
        if config.max_entries == 0 {
            return Err(ConfigError::ZeroEntries);
        }
        if config.max_bytes < LogStoreConfig::MIN_BYTES {
            return Err(ConfigError::BytesBelowOneEntry {
                max_bytes: config.max_bytes,
                minimum: LogStoreConfig::MIN_BYTES,
            });
        }
        Ok(LogStore { shared: Arc::new(Shared { ring: Mutex::new(Ring::new(config.max_entries)), config }) })
    }

    /// Its bounds.
    pub fn config(&self) -> LogStoreConfig {
        self.shared.config
    }

    /// Stores `line` as the newest entry and returns its sequence number, evicting (and
    /// counting) the oldest entries when either bound would be exceeded. Never waits for
    /// room; fails only for a line that could not fit even in an empty store.
    pub fn add(&self, line: OutputLine) -> Result<u64, AddError> {
        let config = &self.shared.config;
        let cost = entry_cost(&line);
        if cost.saturating_add(PROCESS_OVERHEAD) > config.max_bytes {
            self.shared.ring.lock().reject();
            return Err(AddError::TooLarge {
                line,
                cost: cost.saturating_add(PROCESS_OVERHEAD),
                max_bytes: config.max_bytes,
            });
        }
        let (published, unfilled) =
            mutation_point!("log_store.add.entry_filled_after_publishing", (line, None), unfilled(line));
        // Made before the lock, released after it: under it, only pointers move.
        let published = shell::shell_for(published);
        let mut evicted = Evicted::default();
        let lock = &self.shared.ring;
        // One acquisition for every step: the room made is the room used, and the entry is
        // indexed and counted before anyone can see it. The steps are apart so that each
        // mutation point below can open a gap between two of them (two acquisitions), the
        // way a "shorter critical section" refactoring would.
        let mut ring = lock.lock();
        let record = ring.make_room(&published.process, cost, config, &mut evicted);
        ring = mutation_point!("log_store.add.room_made_in_a_separate_section", ring, reacquire(ring, lock));
        let admission = ring.push(published, cost, record);
        let count_later = mutation_point!("log_store.add.counted_in_a_second_section", false, true);
        if !count_later {
            ring.count_added();
        }
        ring = mutation_point!("log_store.add.index_in_a_second_section", ring, reacquire(ring, lock));
        ring.index(admission);
        if count_later {
            ring = reacquire(ring, lock);
            ring.count_added();
        }
        if let Some(line) = unfilled {
            ring = reacquire(ring, lock);
            ring.fill(admission, line);
        }
        drop(ring);
        evicted.release();
        Ok(admission.seq)
    }

    /// A callback that adds every line it is given to this store: the shape the process
    /// manager streams output to (`Fn(&OutputLine) + Send + Sync + 'static`).
    ///
    /// Each call copies the line (the callback only borrows it) and [`add`](Self::add)s the
    /// copy, so it has the same burst behaviour: it never waits for room. A line too large
    /// for the store is dropped and counted in [`LogStats::rejected`], since the callback
    /// has nowhere to return it. The callback keeps the store alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::log_store::{LogStore, LogStoreConfig};
    /// use racekit::output::{OutputLine, OutputStream};
    /// use std::time::Instant;
    ///
    /// let store = LogStore::new(LogStoreConfig::default())?;
    /// let callback: Box<dyn Fn(&OutputLine) + Send + Sync> = Box::new(store.sink());
    /// callback(&OutputLine { process: "job".into(), stream: OutputStream::Stdout, at: Instant::now(), line: "done".into() });
    /// assert_eq!(store.last(1)[0].line, "done");
    /// # Ok::<(), racekit::log_store::ConfigError>(())
    /// ```
    pub fn sink(&self) -> impl Fn(&OutputLine) + Send + Sync + 'static {
        let store = self.clone();
        move |line: &OutputLine| {
            // A refused line is counted by `add` itself; there is no caller to hand it to.
            let _ = store.add(line.clone());
        }
    }

    /// The counters, read together.
    pub fn stats(&self) -> LogStats {
        self.shared.ring.lock().stats()
    }

    /// The counters of `process`, if it has live entries.
    pub fn process_stats(&self, process: &str) -> Option<ProcessStats> {
        self.shared.ring.lock().process_stats(process)
    }

    /// The processes with live entries, sorted.
    pub fn processes(&self) -> Vec<std::sync::Arc<str>> {
        self.shared.ring.lock().processes()
    }

    /// The newest `n` entries (fewer if fewer are held), oldest first.
    pub fn last(&self, n: usize) -> Vec<LogEntry> {
        mutation_point!("log_store.last.stale_count", self.shared.ring.lock().last(n), {
            let stored = self.stats().stored;
            self.shared.ring.lock().last(n.min(stored))
        })
    }

    /// The live entries with sequence number `seq` or later, oldest first: pass the last
    /// seen `seq + 1` to follow the store. If the result starts after `seq`, the entries in
    /// between were evicted before this call.
    pub fn since(&self, seq: u64) -> Vec<LogEntry> {
        self.shared.ring.lock().since(seq)
    }

    /// Every live entry of `process`, oldest first (through the index: the work is in
    /// proportion to that process's entries, not the store's).
    pub fn by_process(&self, process: &str) -> Vec<LogEntry> {
        self.last_of_process(process, usize::MAX)
    }

    /// The newest `n` live entries of `process`, oldest first.
    pub fn last_of_process(&self, process: &str, n: usize) -> Vec<LogEntry> {
        let lock = &self.shared.ring;
        let ring = lock.lock();
        let positions = ring.positions_of(process, n);
        let ring = mutation_point!("log_store.by_process.positions_in_a_second_section", ring, reacquire(ring, lock));
        ring.entries_at(positions)
    }

    /// The live entries whose timestamp is in `from..to`, in arrival order.
    ///
    /// Producers stamp lines before they add them, so arrival order and timestamps can
    /// disagree slightly; the query skips, by binary search, the prefix of entries all
    /// stamped before `from`, and filters the rest.
    pub fn between(&self, from: Instant, to: Instant) -> Vec<LogEntry> {
        self.shared.ring.lock().between(from, to)
    }

    /// Everything the store holds, copied under one acquisition of its lock (one reference
    /// count per entry); [`Snapshot::check`] verifies the store's invariants on it.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.ring.lock().snapshot(self.shared.config)
    }
}

/// The line of a two-phase insert: an entry published with an empty line charged as much
/// as `line` (so the byte count stays right), and `line` to fill it with later.
fn unfilled(line: OutputLine) -> (OutputLine, Option<OutputLine>) {
    let empty = OutputLine {
        process: line.process.clone(),
        stream: OutputStream::Stdout,
        at: line.at,
        line: String::with_capacity(line.line.capacity()),
    };
    (empty, Some(line))
}

#[cfg(test)]
mod tests;
