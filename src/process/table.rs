//! The process manager's bookkeeping: which processes run, under one short-held lock.
//!
//! Runtime-agnostic (no tokio), so loom checks it directly; the manager drives it.
//!
//! # Invariants
//!
//! Under the one lock (`state`):
//! - a name maps to at most one entry; an entry is removed only by its own
//!   [`finish`](ProcessTable::finish) (matched by serial number, so a stale finish never
//!   removes a newer process of the same name);
//! - once `closed` is set it stays set and no entry is inserted; [`close`](ProcessTable::close)
//!   returns, in the same critical section, every entry present, so an entry is either
//!   refused or returned to the closer: none escapes a shutdown.
//!
//! Lock order: `state` only; it is never held across a wait, a kill or a callback.

use super::{ExitOutcome, ProcessFailure, StartError};
use crate::stopper::{CancelToken, Signal};
use crate::sync::{Arc, Mutex, MutexGuard};
/// Names are immutable shared text, as in [`OutputLine`](crate::output::OutputLine): std's
/// `Arc<str>` (loom's `Arc` cannot hold a `str`, and there is nothing to model in it).
pub(super) type Name = std::sync::Arc<str>;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

/// Where a process's end is published, once: waited on by stops and handles.
#[derive(Debug, Default)]
pub struct ExitSlot {
    outcome: Mutex<Option<Ended>>,
    ended: Signal,
}

/// What an [`ExitSlot`] recorded.
#[derive(Clone, Debug)]
struct Ended {
    outcome: ExitOutcome,
    /// The spawn failed: there was never a process, and `outcome` is that failure.
    never_ran: bool,
}

impl ExitSlot {
    /// Records the outcome and wakes the waiters; only the first call records.
    pub fn set(&self, outcome: ExitOutcome) -> bool {
        self.record(Ended { outcome, never_ran: false })
    }

    /// Records that the process was never spawned, for `failure`, and wakes the waiters;
    /// only the first call (of this or [`set`](Self::set)) records. The outcome is then
    /// `Err(failure)`, and [`never_ran`](Self::never_ran) is `true`.
    pub fn set_never_ran(&self, failure: ProcessFailure) -> bool {
        self.record(Ended { outcome: Err(failure), never_ran: true })
    }

    fn record(&self, ended: Ended) -> bool {
        let mut slot = self.outcome.lock();
        if slot.is_some() {
            return false;
        }
        *slot = Some(ended);
        drop(slot);
        self.ended.set()
    }

    /// The outcome, if recorded.
    pub fn get(&self) -> Option<ExitOutcome> {
        self.outcome.lock().as_ref().map(|ended| ended.outcome.clone())
    }

    /// Whether the recorded end is a spawn that failed (`false` until one is recorded).
    pub fn never_ran(&self) -> bool {
        self.outcome.lock().as_ref().is_some_and(|ended| ended.never_ran)
    }

    /// Waits for the outcome.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub async fn wait(&self) -> ExitOutcome {
        self.ended.wait_async().await;
        self.get().expect("the outcome is recorded before the signal is set")
    }

    /// Blocks the thread until the outcome is recorded.
    pub fn wait_blocking(&self) -> ExitOutcome {
        self.ended.wait();
        self.get().expect("the outcome is recorded before the signal is set")
    }
}

/// One process in the table.
#[derive(Clone)]
pub struct Entry {
    /// The name it was started under (the id its output lines carry).
    pub name: Name,
    /// Distinguishes processes that reused a name.
    pub serial: u64,
    /// Its OS process id, once spawned.
    pub pid: Option<u32>,
    /// When it was reserved (from the manager's clock).
    pub started_at: Instant,
    /// Cancelled to ask its supervisor to kill it.
    pub kill: CancelToken,
    /// Where its end is published.
    pub exit: Arc<ExitSlot>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).field("serial", &self.serial).field("pid", &self.pid).finish()
    }
}

#[derive(Default)]
struct State {
    entries: BTreeMap<Name, Entry>,
    closed: bool,
    next_serial: u64,
}

/// Running processes by name, with a sticky close. See the [module documentation](self).
///
/// # Examples
///
/// ```
/// use racekit::process::table::ProcessTable;
/// use std::time::Instant;
///
/// let table = ProcessTable::new();
/// let entry = table.reserve("web", Instant::now()).unwrap();
/// assert!(table.reserve("web", Instant::now()).is_err(), "one process per name");
/// let left = table.close();
/// assert_eq!(left.len(), 1, "close hands back every entry to stop");
/// assert!(table.reserve("db", Instant::now()).is_err(), "nothing starts after close");
/// assert!(table.remove(&entry));
/// ```
#[derive(Default)]
pub struct ProcessTable {
    state: Mutex<State>,
}

impl ProcessTable {
    /// An empty, open table.
    pub fn new() -> ProcessTable {
        ProcessTable::default()
    }

    /// Reserves `name` for a process about to be spawned.
    pub fn reserve(&self, name: &str, now: Instant) -> Result<Entry, StartError> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(StartError::ManagerClosed { name: name.to_owned() });
        }
        if state.entries.contains_key(name) {
            return Err(StartError::AlreadyRunning { name: name.to_owned() });
        }
        // The checks and the insert share one critical section: a close cannot land between
        // them (the mutant lets it, and the entry escapes the shutdown).
        state = mutation_point!("process.reserve.closed_checked_outside_the_lock", state, self.relock(state));
        state.next_serial += 1;
        let entry = Entry {
            name: Name::from(name),
            serial: state.next_serial,
            pid: None,
            started_at: now,
            kill: CancelToken::new(),
            exit: Arc::new(ExitSlot::default()),
        };
        state.entries.insert(entry.name.clone(), entry.clone());
        Ok(entry)
    }

    /// Records the pid of a spawned process.
    pub fn set_pid(&self, entry: &Entry, pid: Option<u32>) {
        if let Some(current) = self.state.lock().entries.get_mut(&entry.name) {
            if current.serial == entry.serial {
                current.pid = pid;
            }
        }
    }

    /// Removes `entry` if it is still the one under its name; whether it was.
    pub fn remove(&self, entry: &Entry) -> bool {
        let mut state = self.state.lock();
        let current = state.entries.get(&entry.name).is_some_and(|current| current.serial == entry.serial);
        if current {
            state.entries.remove(&entry.name);
        }
        current
    }

    /// Removes `entry` and publishes its outcome (outside the lock).
    pub fn finish(&self, entry: &Entry, outcome: ExitOutcome) {
        self.remove(entry);
        entry.exit.set(outcome);
    }

    /// Removes `entry`, whose spawn failed with `failure`, and publishes that it never ran
    /// (outside the lock), so a stop that took it returns.
    pub fn abandon(&self, entry: &Entry, failure: ProcessFailure) {
        self.remove(entry);
        entry.exit.set_never_ran(failure);
    }

    /// The entry under `name`.
    pub fn get(&self, name: &str) -> Option<Entry> {
        self.state.lock().entries.get(name).cloned()
    }

    /// Every entry, by name.
    pub fn snapshot(&self) -> Vec<Entry> {
        self.state.lock().entries.values().cloned().collect()
    }

    /// Refuses every later reservation and returns every entry present, in one critical
    /// section.
    pub fn close(&self) -> Vec<Entry> {
        let mut state = self.state.lock();
        let entries = state.entries.values().cloned().collect();
        // Collected and closed in one critical section: a reservation between the two would be
        // neither refused nor handed back (the mutant lets one in).
        state = mutation_point!("process.close.collects_before_closing", state, self.relock(state));
        state.closed = true;
        entries
    }

    /// Releases the lock and takes it again: what the table's mutation points do between two
    /// steps that must share one critical section.
    fn relock<'a>(&'a self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        drop(state);
        self.state.lock()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// How many processes are in the table.
    pub fn len(&self) -> usize {
        self.state.lock().entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for ProcessTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessTable").field("entries", &self.snapshot()).finish()
    }
}
