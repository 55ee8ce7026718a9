//! The pool's bookkeeping: every transition of a connection's life, as plain functions on
//! the state behind the pool's one lock. Nothing here calls user code or wakes anyone:
//! each transition returns what the caller must do once the lock is released (close a
//! connection, wake a waiter).
//!
//! # Invariants
//!
//! At every release of the lock (checked after each transition when debug assertions are
//! on, so every model step checks them):
//! - `open == idle + in_use + opening + closing`, and no counter goes below zero;
//! - `open <= max_open` and `idle <= max_idle`;
//! - `opened - closed == idle + in_use + closing` (every connection opened is idle, in
//!   use, being closed, or was closed: none is lost);
//! - no lost wake-up: while anyone waits, no connection is idle and no capacity is free
//!   (`waiting > 0` implies `idle == 0 && open == max_open`);
//! - once `closed` is set it stays set, and nobody waits.
//!
//! A waiter leaves the queue by being *granted* something (a connection, or one unit of
//! capacity to open one) under the lock, before it is woken; the grant is counted (in
//! `in_use` or `opening`) from that moment, so a waiter that gives up after the grant
//! must hand it back, and one that gives up before it simply leaves the queue.

use super::config::PoolConfig;
use super::stats::PoolStats;
use crate::sync::{Arc, Condvar};
use std::collections::VecDeque;
use std::task::Waker;
use std::time::{Duration, Instant};

/// A connection with the moment it was opened.
#[derive(Debug)]
pub(super) struct Conn<T> {
    pub(super) raw: T,
    pub(super) created: Instant,
}

/// What a waiter is handed.
#[derive(Debug)]
pub(super) enum Grant<T> {
    /// A connection (counted in `in_use`).
    Connection(Conn<T>),
    /// One unit of capacity to open a connection with (counted in `opening`).
    Open,
}

/// How to wake a waiter: a blocked thread's own condition variable (waited on with the
/// pool's lock) or a task's waker.
#[derive(Debug)]
pub(super) enum Wake {
    Thread(Arc<Condvar>),
    Task(Waker),
}

impl Wake {
    fn wake(self) {
        match self {
            Wake::Thread(condvar) => condvar.notify_one(),
            Wake::Task(waker) => waker.wake(),
        }
    }
}

/// Waiters to wake once the lock is released. Most transitions wake at most one, which is
/// kept inline: the hand-off path allocates nothing.
#[derive(Debug, Default)]
#[must_use = "waiters must be woken after the lock is released"]
pub(super) struct Wakes {
    first: Option<Wake>,
    rest: Vec<Wake>,
}

impl Wakes {
    fn one(wake: Wake) -> Self {
        Wakes { first: Some(wake), rest: Vec::new() }
    }

    fn push(&mut self, wake: Wake) {
        match self.first {
            None => self.first = Some(wake),
            Some(_) => self.rest.push(wake),
        }
    }

    pub(super) fn wake_all(self) {
        for wake in self.first.into_iter().chain(self.rest) {
            wake.wake();
        }
    }
}

/// Why a connection is closed (each reason is counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CloseReason {
    PoolClosed,
    MaxIdle,
    Expired,
    Invalid,
    Discarded,
}

/// What a new request found.
#[derive(Debug)]
pub(super) enum Begin<T> {
    Closed,
    /// An idle connection, now in use; `stale` when it outlived its lifetime or idle
    /// timeout (the caller replaces it).
    Connection {
        conn: Conn<T>,
        stale: bool,
    },
    /// Capacity reserved to open a connection (now counted in `opening`).
    Open,
    /// Nothing available: the caller must queue.
    MustWait,
}

/// What happens to a connection coming back.
#[derive(Debug)]
pub(super) enum PutBack<T> {
    /// Handed to the first waiter: wake it.
    Handed(Wakes),
    /// Kept idle.
    Kept,
    /// To be closed by the caller (counted in `closing`), then [`State::finish_close`].
    Close(Conn<T>, CloseReason),
}

#[derive(Debug)]
struct Idle<T> {
    conn: Conn<T>,
    since: Instant,
}

#[derive(Debug)]
struct Waiting {
    id: u64,
    wake: Wake,
}

#[derive(Debug, Default)]
struct Totals {
    opened: u64,
    closed: u64,
    connect_failures: u64,
    peak_open: usize,
    closed_max_idle: u64,
    closed_expired: u64,
    closed_invalid: u64,
    closed_discarded: u64,
}

/// Everything behind the pool's lock. The fields every get and return touches come
/// first (`repr(C)` keeps them in this order), so that a hand-off moves as few cache lines
/// between cores as it can.
#[derive(Debug)]
#[repr(C)]
pub(super) struct State<T> {
    closed: bool,
    in_use: usize,
    next_id: u64,
    /// Waiters in arrival order: served first come, first served.
    waiting: VecDeque<Waiting>,
    /// Grants made to waiters that have not collected them yet.
    granted: Vec<(u64, Grant<T>)>,
    wait_count: u64,
    /// Time spent queued by requests that finished waiting.
    waited: Duration,
    config: PoolConfig,
    /// Idle connections; the back is the most recently returned (handed out first, so
    /// the cold ones at the front are the ones that time out).
    idle: VecDeque<Idle<T>>,
    open: usize,
    opening: usize,
    closing: usize,
    close_waiters: Vec<(u64, Wake)>,
    totals: Totals,
}

/// `counter -= 1`, refusing to go below zero: a negative count is a bookkeeping bug.
fn decrement(counter: &mut usize, what: &str) {
    *counter =
        counter.checked_sub(1).unwrap_or_else(|| panic!("pool bookkeeping: the {what} count would go below zero"));
}

impl<T> State<T> {
    pub(super) fn new(config: PoolConfig) -> Self {
        State {
            config,
            idle: VecDeque::with_capacity(crate::bounded_slice::preallocation(config.max_idle)),
            open: 0,
            in_use: 0,
            opening: 0,
            closing: 0,
            waiting: VecDeque::new(),
            granted: Vec::new(),
            close_waiters: Vec::new(),
            next_id: 0,
            closed: false,
            wait_count: 0,
            waited: Duration::ZERO,
            totals: Totals::default(),
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Whether a connection opened at `created` and idle since `idle_since` outlived its
    /// lifetime or idle timeout at `now`.
    fn is_stale(&self, created: Instant, idle_since: Instant, now: Instant) -> bool {
        let older_than = |since: Instant, limit: Option<Duration>| {
            limit.is_some_and(|limit| now.saturating_duration_since(since) >= limit)
        };
        older_than(created, self.config.max_lifetime) || older_than(idle_since, self.config.idle_timeout)
    }

    /// A new request. Only when nobody waits may it take an idle connection or free
    /// capacity (first come, first served); idle connections that timed out at the cold
    /// end are moved to `reaped` for the caller to close.
    pub(super) fn begin(&mut self, now: Instant, reaped: &mut Vec<Conn<T>>) -> Begin<T> {
        if self.closed {
            return Begin::Closed;
        }
        let begun = if !self.waiting.is_empty() {
            Begin::MustWait
        } else {
            // Keep the warmest connection even if it is stale: the caller replaces it in
            // its own slot rather than queueing behind the closes.
            while self.idle.len() > 1 && self.is_stale(self.idle[0].conn.created, self.idle[0].since, now) {
                let Some(cold) = self.idle.pop_front() else { break };
                self.closing += 1;
                reaped.push(cold.conn);
            }
            if let Some(Idle { conn, since }) = self.idle.pop_back() {
                self.in_use += 1;
                let stale = self.is_stale(conn.created, since, now);
                Begin::Connection { conn, stale }
            } else if self.open < self.config.max_open {
                self.reserve();
                Begin::Open
            } else {
                Begin::MustWait
            }
        };
        self.check();
        begun
    }

    fn reserve(&mut self) {
        self.open += 1;
        self.opening += 1;
        self.totals.peak_open = self.totals.peak_open.max(self.open);
    }

    /// Queues a waiter that found nothing; returns its ticket.
    pub(super) fn enqueue(&mut self, wake: Wake) -> u64 {
        let id = self.next_id();
        self.waiting.push_back(Waiting { id, wake });
        self.wait_count += 1;
        self.check();
        id
    }

    /// Adds the time one request spent queued (read from the clock before the lock).
    pub(super) fn add_wait(&mut self, waited: Duration) {
        self.waited = self.waited.saturating_add(waited);
    }

    /// The grant made to ticket `id`, if one was made.
    pub(super) fn take_grant(&mut self, id: u64) -> Option<Grant<T>> {
        let index = self.granted.iter().position(|(ticket, _)| *ticket == id)?;
        Some(self.granted.swap_remove(index).1)
    }

    /// Ticket `id` gives up: it leaves the queue, or, if it was granted something
    /// meanwhile, gets the grant back to return it.
    pub(super) fn leave(&mut self, id: u64) -> Option<Grant<T>> {
        if let Some(index) = self.waiting.iter().position(|waiting| waiting.id == id) {
            self.waiting.remove(index);
            self.check();
            return None;
        }
        self.take_grant(id)
    }

    /// Replaces a queued task's waker if it changed.
    pub(super) fn update_waker(&mut self, id: u64, waker: &Waker) {
        if let Some(waiting) = self.waiting.iter_mut().find(|waiting| waiting.id == id) {
            match &mut waiting.wake {
                Wake::Task(old) if old.will_wake(waker) => {}
                wake => *wake = Wake::Task(waker.clone()),
            }
        }
    }

    /// Grants free capacity to waiters, first come first served.
    fn serve_waiters(&mut self, wakes: &mut Wakes) {
        while !self.closed && self.open < self.config.max_open {
            let Some(waiting) = self.waiting.pop_front() else { break };
            self.reserve();
            self.granted.push((waiting.id, Grant::Open));
            wakes.push(waiting.wake);
        }
    }

    /// Once closed and every connection is gone, wakes whoever waits in `close`.
    fn wake_close_waiters_if_drained(&mut self, wakes: &mut Wakes) {
        if self.closed && self.open == 0 {
            for (_, wake) in self.close_waiters.drain(..) {
                wakes.push(wake);
            }
        }
    }

    /// A connection in use comes back; `keep` is false when its user discarded it.
    pub(super) fn put_back(&mut self, conn: Conn<T>, keep: bool, now: Instant) -> PutBack<T> {
        decrement(&mut self.in_use, "in-use");
        let reason = if self.closed {
            Some(CloseReason::PoolClosed)
        } else if !keep {
            Some(CloseReason::Discarded)
        } else if self.is_stale(conn.created, now, now) {
            Some(CloseReason::Expired)
        } else {
            None
        };
        let outcome = match reason {
            Some(reason) => self.start_closing(conn, reason),
            None => {
                if let Some(waiting) = mutation_point!("pool.put_back.skips_the_queue", self.waiting.pop_front(), None)
                {
                    self.in_use += 1;
                    self.granted.push((waiting.id, Grant::Connection(conn)));
                    PutBack::Handed(Wakes::one(waiting.wake))
                } else if mutation_point!(
                    "pool.put_back.max_idle_off_by_one",
                    self.idle.len() < self.config.max_idle,
                    self.idle.len() <= self.config.max_idle
                ) {
                    self.idle.push_back(Idle { conn, since: now });
                    PutBack::Kept
                } else {
                    self.start_closing(conn, CloseReason::MaxIdle)
                }
            }
        };
        self.check();
        outcome
    }

    fn start_closing(&mut self, conn: Conn<T>, reason: CloseReason) -> PutBack<T> {
        self.closing += 1;
        PutBack::Close(conn, reason)
    }

    fn count_closed(&mut self, reason: CloseReason) {
        decrement(&mut self.closing, "closing");
        self.totals.closed += 1;
        let counter = match reason {
            CloseReason::PoolClosed => return,
            CloseReason::MaxIdle => &mut self.totals.closed_max_idle,
            CloseReason::Expired => &mut self.totals.closed_expired,
            CloseReason::Invalid => &mut self.totals.closed_invalid,
            CloseReason::Discarded => &mut self.totals.closed_discarded,
        };
        *counter += 1;
    }

    /// A connection being closed is gone: its capacity goes to the first waiter.
    pub(super) fn finish_close(&mut self, reason: CloseReason) -> Wakes {
        self.count_closed(reason);
        decrement(&mut self.open, "open");
        let mut wakes = Wakes::default();
        self.serve_waiters(&mut wakes);
        self.wake_close_waiters_if_drained(&mut wakes);
        self.check();
        wakes
    }

    /// A connection just checked out is stale or invalid: it will be closed, and its slot
    /// kept by the same caller to open a replacement.
    pub(super) fn start_replacing(&mut self) {
        decrement(&mut self.in_use, "in-use");
        self.closing += 1;
        self.check();
    }

    /// The replaced connection is closed: its slot becomes the caller's reservation
    /// (`Ok`), unless the pool closed meanwhile (`Err`, with whom to wake).
    pub(super) fn finish_replacing(&mut self, reason: CloseReason) -> Result<(), Wakes> {
        self.count_closed(reason);
        if self.closed {
            decrement(&mut self.open, "open");
            let mut wakes = Wakes::default();
            self.wake_close_waiters_if_drained(&mut wakes);
            self.check();
            return Err(wakes);
        }
        self.opening += 1;
        self.check();
        Ok(())
    }

    /// A reservation ends without a connection (the connect failed, or its caller was
    /// cancelled): the capacity goes to the first waiter.
    pub(super) fn release_reservation(&mut self, connect_failed: bool) -> Wakes {
        decrement(&mut self.opening, "opening");
        decrement(&mut self.open, "open");
        if connect_failed {
            self.totals.connect_failures += 1;
        }
        let mut wakes = Wakes::default();
        self.serve_waiters(&mut wakes);
        self.wake_close_waiters_if_drained(&mut wakes);
        self.check();
        wakes
    }

    /// A reservation's connect succeeded: `true` when the connection goes to its caller,
    /// `false` when the pool closed meanwhile (the connection is now `closing`).
    pub(super) fn fulfil_reservation(&mut self) -> bool {
        decrement(&mut self.opening, "opening");
        self.totals.opened += 1;
        let handed = if self.closed {
            self.closing += 1;
            false
        } else {
            self.in_use += 1;
            true
        };
        self.check();
        handed
    }

    /// Closes the pool (sticky): waiters are woken to find it closed, idle connections
    /// move to `closing` for the caller to close.
    pub(super) fn begin_close(&mut self, idle: &mut Vec<Conn<T>>) -> Wakes {
        self.closed = true;
        let mut wakes = Wakes::default();
        for waiting in self.waiting.drain(..) {
            wakes.push(waiting.wake);
        }
        self.closing += self.idle.len();
        idle.extend(self.idle.drain(..).map(|idle| idle.conn));
        self.wake_close_waiters_if_drained(&mut wakes);
        self.check();
        wakes
    }

    /// Connections open: idle, in use, being opened or being closed.
    pub(super) fn open(&self) -> usize {
        self.open
    }

    /// Whether the pool is closed and every connection is gone.
    pub(super) fn is_drained(&self) -> bool {
        self.closed && self.open == 0
    }

    /// Registers (or refreshes) a waiter for the end of `close`.
    pub(super) fn wait_for_drain(&mut self, ticket: &mut Option<u64>, wake: Wake) {
        if let Some(id) = *ticket {
            if let Some(entry) = self.close_waiters.iter_mut().find(|(ticket, _)| *ticket == id) {
                entry.1 = wake;
                return;
            }
        }
        let id = match *ticket {
            Some(id) => id,
            None => self.next_id(),
        };
        self.close_waiters.push((id, wake));
        *ticket = Some(id);
    }

    /// A `close` waiter gives up.
    pub(super) fn stop_waiting_for_drain(&mut self, id: u64) {
        self.close_waiters.retain(|(ticket, _)| *ticket != id);
    }

    /// Moves every stale idle connection to `closing`, for the caller to close.
    pub(super) fn reap(&mut self, now: Instant, reaped: &mut Vec<Conn<T>>) {
        let before = reaped.len();
        let mut kept = VecDeque::with_capacity(self.idle.len());
        for idle in std::mem::take(&mut self.idle) {
            if self.is_stale(idle.conn.created, idle.since, now) {
                reaped.push(idle.conn);
            } else {
                kept.push_back(idle);
            }
        }
        self.closing += mutation_point!("pool.reap.uncounted_close", reaped.len() - before, 0);
        self.idle = kept;
        self.check();
    }

    pub(super) fn stats(&self) -> PoolStats {
        PoolStats {
            max_open: self.config.max_open,
            open: self.open,
            idle: self.idle.len(),
            in_use: self.in_use,
            opening: self.opening,
            closing: self.closing,
            waiting: self.waiting.len(),
            wait_count: self.wait_count,
            wait_duration: self.waited,
            opened: self.totals.opened,
            closed: self.totals.closed,
            connect_failures: self.totals.connect_failures,
            closed_max_idle: self.totals.closed_max_idle,
            closed_expired: self.totals.closed_expired,
            closed_invalid: self.totals.closed_invalid,
            closed_discarded: self.totals.closed_discarded,
            peak_open: self.totals.peak_open,
            is_closed: self.closed,
        }
    }

    /// Asserts the invariants (when debug assertions are on).
    fn check(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        let stats = self.stats();
        assert!(stats.is_conserved(), "pool bookkeeping: counts do not add up: {stats:?}");
        assert!(stats.open <= stats.max_open, "pool bookkeeping: more open than max_open: {stats:?}");
        assert!(stats.idle <= self.config.max_idle, "pool bookkeeping: more idle than max_idle: {stats:?}");
        assert!(
            self.waiting.is_empty() || (self.idle.is_empty() && self.open == self.config.max_open),
            "pool bookkeeping: a request waits while a connection is idle or capacity is free: {stats:?}"
        );
        assert!(!self.closed || self.waiting.is_empty(), "pool bookkeeping: a request waits on a closed pool");
    }
}
