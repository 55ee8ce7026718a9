//! Output callbacks: registered and removed at any time, called without any lock held.
//!
//! The list is copy-on-write: a delivery takes a snapshot (one `Arc` clone under the lock)
//! and calls every callback in it after releasing the lock; add and remove build a new list
//! under the lock. So a callback may add or remove callbacks, or call back into the
//! manager, without deadlocking, and one slow callback never blocks registration.
//!
//! # Invariants
//!
//! - Each delivery calls each callback of its snapshot exactly once; a callback registered
//!   before a delivery's snapshot is in it, one removed before it is not. A delivery that
//!   took its snapshot before a removal may still call the removed callback once.
//! - The read-copy-update of the list happens in one critical section, so concurrent adds
//!   and removes are never lost.
//! - A panicking callback is caught and counted; the others are still called.
//! - A list replaced by an add or remove is dropped after the lock is released: a removed
//!   callback's captured state may run user code when dropped (even call back into the
//!   manager), and it never runs under the lock.
//!
//! Lock order: `list` only; no callback runs under it.

use crate::output::OutputLine;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{Arc, Mutex};
use std::fmt;

/// The signature of an output callback (the log store's sink has it too).
pub type OutputCallback = dyn Fn(&OutputLine) + Send + Sync + 'static;

/// Names a registered callback, for [`OutputCallbacks::remove`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallbackId(u64);

/// A callback behind a sized type (loom's `Arc` cannot hold a `dyn` directly).
struct Registered {
    id: CallbackId,
    callback: Box<OutputCallback>,
}

/// What one delivery did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Callbacks called.
    pub called: usize,
    /// Of them, callbacks that panicked.
    pub panicked: usize,
}

/// A copy-on-write list of output callbacks. See the [module documentation](self).
///
/// # Examples
///
/// ```
/// use racekit::output::{OutputLine, OutputStream};
/// use racekit::process::callbacks::OutputCallbacks;
/// use racekit::sync::{Arc, Mutex};
///
/// let callbacks = OutputCallbacks::new();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let id = {
///     let seen = seen.clone();
///     callbacks.add(move |line: &OutputLine| seen.lock().push(line.line.clone()))
/// };
/// let line = OutputLine { process: "web".into(), stream: OutputStream::Stdout, at: std::time::Instant::now(), line: "ready".into() };
/// assert_eq!(callbacks.deliver(&line).called, 1);
/// assert!(callbacks.remove(id));
/// assert_eq!(callbacks.deliver(&line).called, 0);
/// assert_eq!(*seen.lock(), ["ready"]);
/// ```
pub struct OutputCallbacks {
    list: Mutex<Arc<Vec<Arc<Registered>>>>,
    next_id: AtomicU64,
    delivered: AtomicU64,
    panicked: AtomicU64,
}

impl Default for OutputCallbacks {
    fn default() -> Self {
        OutputCallbacks::new()
    }
}

impl OutputCallbacks {
    /// No callbacks.
    pub fn new() -> OutputCallbacks {
        OutputCallbacks {
            list: Mutex::new(Arc::new(Vec::new())),
            next_id: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
        }
    }

    /// Registers `callback`; it is called for every line delivered after this returns.
    pub fn add<F>(&self, callback: F) -> CallbackId
    where
        F: Fn(&OutputLine) + Send + Sync + 'static,
    {
        // Relaxed: ids need only be unique, which fetch_add guarantees in any ordering.
        let id = CallbackId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let registered = Arc::new(Registered { id, callback: Box::new(callback) });
        self.update(|list| list.iter().cloned().chain([registered]).collect());
        id
    }

    /// Unregisters a callback; whether it was registered. Deliveries that start after this
    /// returns do not call it (one already in progress may).
    pub fn remove(&self, id: CallbackId) -> bool {
        let mut removed = false;
        self.update(|list| {
            let updated: Vec<_> = list.iter().filter(|r| r.id != id).cloned().collect();
            removed = updated.len() != list.len();
            updated
        });
        removed
    }

    /// Replaces the list with `update(list)` in one critical section, and drops the old
    /// list (and with it, the last reference to a removed callback) after unlocking.
    fn update(&self, update: impl FnOnce(&[Arc<Registered>]) -> Vec<Arc<Registered>>) {
        let mut list = self.list.lock();
        let updated = Arc::new(update(&list));
        // Read, copy and write back in one critical section, or a concurrent update is lost.
        list = mutation_point!("process.update_callbacks.copies_outside_the_lock", list, {
            drop(list);
            self.list.lock()
        });
        let replaced = std::mem::replace(&mut *list, updated);
        // Unlock first: dropping the old list may drop a removed callback's captured state,
        // user code that may call back into this list.
        mutation_point!("process.update_callbacks.drops_the_old_list_under_the_lock", (drop(list), drop(replaced)), {
            (drop(replaced), drop(list))
        });
    }

    /// How many callbacks are registered.
    pub fn len(&self) -> usize {
        self.list.lock().len()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls every registered callback with `line`, outside the lock, catching panics.
    pub fn deliver(&self, line: &OutputLine) -> Delivery {
        let list = self.list.lock();
        let snapshot = Arc::clone(&list);
        // Released before any callback runs (the mutant holds it across them, so a callback
        // that calls back into the list deadlocks).
        let held = mutation_point!(
            "process.deliver.calls_back_under_the_lock",
            {
                drop(list);
                None
            },
            Some(list)
        );
        let mut delivery = Delivery::default();
        for registered in snapshot.iter() {
            delivery.called += 1;
            if crate::sync::catch_unwind(|| (registered.callback)(line)).is_err() {
                delivery.panicked += 1;
            }
        }
        drop(held);
        // Relaxed: statistics, read after the deliveries they count have finished.
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.panicked.fetch_add(delivery.panicked as u64, Ordering::Relaxed);
        delivery
    }

    /// Lines delivered and callback panics caught so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.delivered.load(Ordering::Relaxed), self.panicked.load(Ordering::Relaxed))
    }
}

impl fmt::Debug for OutputCallbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputCallbacks").field("registered", &self.len()).finish()
    }
}
