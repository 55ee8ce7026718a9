//! The cancellation signal of a retry loop (the seed's `Closer` channel).
//!
//! # Invariants
//!
//! Closing is sticky: once [`Closer::is_closed`] returns `true` it always does. Blocking
//! waiters wait on the latch; async waiters register with the `Notify` *before* re-reading
//! the latch, and `close` sets the latch *before* notifying, so neither kind of waiter can
//! miss the close. Lock order: the latch's one mutex, never held while anything else runs.

use crate::sync::async_sync::Notify;
use crate::sync::{Arc, Latch};
use std::time::Duration;

/// A signal that stops retry loops: cloneable, sticky, waitable from threads and tasks.
///
/// Blocking loops wait on it through [`Latch`] (event-driven: a close wakes the sleeper at
/// once); async loops through [`closed`](Closer::closed).
///
/// # Examples
///
/// ```
/// use racekit::retry::Closer;
/// use racekit::sync::thread;
///
/// let closer = Closer::new();
/// let other = closer.clone();
/// let canceller = thread::spawn(move || other.close());
/// closer.wait();
/// assert!(closer.is_closed());
/// assert!(canceller.join().unwrap(), "the one close call that closed it returns true");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Closer {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    latch: Latch,
    notify: Notify,
}

impl Closer {
    /// An open closer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Closes it and wakes every waiter. Returns `true` for the call that closed it.
    pub fn close(&self) -> bool {
        let first = self.inner.latch.set();
        if first {
            // After the latch is set: an async waiter that registered before this call is
            // woken; one that registers after it sees the latch set.
            self.inner.notify.notify_waiters();
        }
        first
    }

    /// Whether it has been closed.
    pub fn is_closed(&self) -> bool {
        self.inner.latch.is_set()
    }

    /// Blocks until it is closed.
    pub fn wait(&self) {
        self.inner.latch.wait();
    }

    /// Blocks until it is closed or `timeout` elapses; returns whether it is closed. Under
    /// the model checkers the timeout firing is a choice they explore.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.inner.latch.wait_timeout(timeout)
    }

    /// Completes when it is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future unregisters it and loses nothing.
    pub async fn closed(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Register first, then read the latch: a close between the two still wakes us.
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}
