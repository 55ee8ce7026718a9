//! Cancel tokens: a sticky, one-shot signal that threads wait on and async tasks await.
//!
//! # Invariants
//!
//! - A [`Signal`] goes from unset to set once and never back; exactly one
//!   [`Signal::set`] call returns `true` (the one whose swap of `flag` saw `false`).
//! - `flag` is raised before the latch is set and the async waiters are woken, so whoever
//!   is woken reads it set.
//! - Blocking waiters wait on the [`Latch`]; async waiters register with the `Notify`
//!   *before* reading the flag, and `set` raises the flag *before* waking them, so a waiter
//!   either sees the flag or is registered when the wake-up is sent: no lost wake-up.
//!
//! Lock order: the latch's one internal lock; no user code runs under it.

use crate::sync::async_sync::Notify;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, Latch};
use std::fmt;
use std::time::Duration;

/// A sticky one-shot signal for both threads and async tasks.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    /// The answer to `is_set` without a lock (tasks poll it in loops).
    flag: AtomicBool,
    set: Latch,
    notify: Notify,
}

impl Signal {
    pub(crate) fn new() -> Signal {
        Signal { flag: AtomicBool::new(false), set: Latch::new(), notify: Notify::new() }
    }

    /// Sets the signal and wakes every waiter; `true` for the one call that set it.
    pub(crate) fn set(&self) -> bool {
        // AcqRel: the first setter publishes what it did before cancelling to every reader
        // that sees the flag (Acquire in `is_set`); a later setter sees it.
        if self.flag.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.set.set();
        self.notify.notify_waiters();
        true
    }

    pub(crate) fn is_set(&self) -> bool {
        // Acquire: pairs with the setter's swap (see `set`).
        self.flag.load(mutation_point!(
            "stopper.token.is_cancelled_reads_relaxed",
            Ordering::Acquire,
            Ordering::Relaxed
        ))
    }

    pub(crate) fn wait(&self) {
        self.set.wait();
    }

    pub(crate) fn wait_timeout(&self, timeout: Duration) -> bool {
        self.set.wait_timeout(timeout)
    }

    /// Completes once the signal is set.
    pub(crate) async fn wait_async(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read: a `set` after the read wakes us.
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            mutation_point!(
                "stopper.token.cancelled_registers_after_reading_flag",
                notified.await,
                self.notify.notified().await
            );
        }
    }
}

/// A cancellation signal shared by clones: [`cancel`](CancelToken::cancel) once, and every
/// clone sees it, whether it polls ([`is_cancelled`](CancelToken::is_cancelled)), blocks a
/// thread ([`wait`](CancelToken::wait)) or awaits ([`cancelled`](CancelToken::cancelled)).
///
/// The [`Stopper`](super::Stopper) hands one to every task it runs and cancels it when it
/// quiesces. Compared with tokio-util's `CancellationToken`: the same sticky semantics,
/// plus blocking waits for threads, and it is built on [`crate::sync`], so the models
/// check it under loom and shuttle; it has no parent/child tree (a
/// [`Stopper::cancel_on_quiesce`](super::Stopper::cancel_on_quiesce) token plays the
/// child's part).
///
/// # Examples
///
/// ```
/// use racekit::stopper::CancelToken;
/// use racekit::sync::thread;
///
/// let token = CancelToken::new();
/// let worker = {
///     let token = token.clone();
///     thread::spawn(move || {
///         token.wait(); // blocks until cancelled
///         "stopped"
///     })
/// };
/// assert!(token.cancel(), "the first cancel reports that it cancelled");
/// assert!(!token.cancel(), "later ones do nothing");
/// assert_eq!(worker.join().unwrap(), "stopped");
/// ```
#[derive(Clone, Default)]
pub struct CancelToken {
    signal: Arc<Signal>,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken { signal: Arc::new(Signal::new()) }
    }

    /// Cancels the token and wakes everything waiting on it. Returns `true` for the call
    /// that cancelled it, `false` if it already was.
    pub fn cancel(&self) -> bool {
        self.signal.set()
    }

    /// Whether the token is cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.signal.is_set()
    }

    /// Blocks the calling thread until the token is cancelled.
    pub fn wait(&self) {
        self.signal.wait();
    }

    /// Blocks until the token is cancelled or `timeout` elapses; returns whether it is
    /// cancelled. Under the model checkers the timeout firing is the checker's choice.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.signal.wait_timeout(timeout)
    }

    /// Completes once the token is cancelled.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future before it completes unregisters it and changes
    /// nothing; a new call waits again.
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::stopper::CancelToken;
    ///
    /// racekit::sync::task::block_on(async {
    ///     let token = CancelToken::new();
    ///     let waiter = racekit::sync::task::spawn({
    ///         let token = token.clone();
    ///         async move { token.cancelled().await }
    ///     });
    ///     token.cancel();
    ///     waiter.await.unwrap();
    /// });
    /// ```
    pub async fn cancelled(&self) {
        self.signal.wait_async().await;
    }

    /// Whether both are clones of one token.
    pub fn same_as(&self, other: &CancelToken) -> bool {
        Arc::ptr_eq(&self.signal, &other.signal)
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken").field("cancelled", &self.is_cancelled()).finish()
    }
}
