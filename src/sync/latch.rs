//! A one-shot, sticky signal built from the facade's own primitives.

use super::{Condvar, Mutex};
use std::time::Duration;

/// A signal that is set once and stays set: the "closed channel" of Go code (`stopped`,
/// `quiesced`), with waiters blocked on it released when it is set.
///
/// Built from the facade's [`Mutex`] and [`Condvar`], so it is model-checked with the rest.
///
/// # Examples
///
/// ```
/// use racekit::sync::{thread, Arc, Latch};
///
/// let done = Arc::new(Latch::new());
/// let worker = {
///     let done = done.clone();
///     thread::spawn(move || done.set())
/// };
/// done.wait();
/// assert!(done.is_set());
/// worker.join().unwrap();
/// ```
#[derive(Debug, Default)]
pub struct Latch {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Latch {
    /// A latch that is not set.
    pub fn new() -> Self {
        Latch { set: Mutex::new(false), changed: Condvar::new() }
    }

    /// Sets the latch and wakes every waiter. Returns `true` for the call that set it,
    /// `false` if it was already set.
    pub fn set(&self) -> bool {
        let mut set = self.set.lock();
        let first = !*set;
        *set = true;
        drop(set);
        if first {
            self.changed.notify_all();
        }
        first
    }

    /// Whether the latch is set.
    pub fn is_set(&self) -> bool {
        *self.set.lock()
    }

    /// Blocks until the latch is set.
    pub fn wait(&self) {
        drop(self.changed.wait_while(self.set.lock(), |set| !*set));
    }

    /// Blocks until the latch is set or `timeout` elapses; returns whether it is set.
    /// Under the model checkers the timeout is a choice (see [`Condvar::wait_timeout`]).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let (set, _) = self.changed.wait_timeout_while(self.set.lock(), timeout, |set| !*set);
        *set
    }
}
