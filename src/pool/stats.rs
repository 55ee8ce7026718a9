//! A snapshot of a pool's counters.

use std::time::Duration;

/// The pool's counters, read together under its lock (`wait_duration` too: each wait's
/// length is added under the lock as the wait ends).
///
/// Go's `DBStats` has the same gauges (open, idle, in use, wait count, wait duration);
/// these add the transient states a connection passes through (`opening`, `closing`), so
/// the counts add up at every moment: see [`is_conserved`](Self::is_conserved).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// The configured maximum of open connections.
    pub max_open: usize,
    /// Connections open now: idle, in use, being opened or being closed.
    pub open: usize,
    /// Connections idle in the pool.
    pub idle: usize,
    /// Connections checked out (including ones handed to a waiter that has not woken yet).
    pub in_use: usize,
    /// Capacity reserved by callers that are connecting.
    pub opening: usize,
    /// Connections whose close is in progress.
    pub closing: usize,
    /// Requests queued for a connection now.
    pub waiting: usize,
    /// Requests that ever had to queue.
    pub wait_count: u64,
    /// Time spent queued, over all requests that finished waiting.
    pub wait_duration: Duration,
    /// Connections ever opened successfully.
    pub opened: u64,
    /// Connections ever closed (every reason, including the pool closing).
    pub closed: u64,
    /// Connect attempts that failed.
    pub connect_failures: u64,
    /// Connections closed because `max_idle` were already idle.
    pub closed_max_idle: u64,
    /// Connections closed for outliving their lifetime or idle timeout.
    pub closed_expired: u64,
    /// Connections closed because [`Connector::validate`](super::Connector::validate)
    /// refused them.
    pub closed_invalid: u64,
    /// Connections closed because their user discarded them.
    pub closed_discarded: u64,
    /// The most connections ever open at once.
    pub peak_open: usize,
    /// Whether the pool is closed.
    pub is_closed: bool,
}

impl PoolStats {
    /// Whether the counts add up: `open == idle + in_use + opening + closing`, and every
    /// connection ever opened is idle, in use, being closed or closed
    /// (`opened == closed + idle + in_use + closing`).
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::pool::PoolStats;
    ///
    /// let stats = PoolStats { open: 2, idle: 1, in_use: 1, opened: 3, closed: 1, ..PoolStats::default() };
    /// assert!(stats.is_conserved());
    /// assert!(!PoolStats { open: 1, ..PoolStats::default() }.is_conserved());
    /// ```
    pub fn is_conserved(&self) -> bool {
        let live = (self.idle + self.in_use + self.closing) as u64;
        self.open == self.idle + self.in_use + self.opening + self.closing
            && self.opened.checked_sub(self.closed) == Some(live)
    }

    /// Whether the pool is closed and every connection it opened is closed.
    pub fn is_drained(&self) -> bool {
        self.is_closed && self.open == 0 && self.opened == self.closed
    }
}
