//! Connection pool with Go database/sql semantics: max open, max idle, lifetimes, FIFO waiters.
//!
//! [`Pool`] hands out connections made by a [`Connector`], keeps at most `max_open` of
//! them open and at most `max_idle` idle, retires them after a lifetime or an idle timeout,
//! and queues requests when every connection is busy. It is Go's `database/sql` `DB` pool,
//! with these guarantees:
//!
//! - **Bounds.** At most `max_open` connections exist at any moment, counting those being
//!   opened and those being closed (a connection counts as open until
//!   [`Connector::close`] returns), so the server never sees more.
//! - **First come, first served.** A request queues only when no connection is idle and no
//!   capacity is free, and queued requests are served in arrival order: a returned
//!   connection goes straight to the oldest waiter, freed capacity (a connection closed, a
//!   connect that failed) to the oldest waiter as permission to open one. Go picks a random
//!   waiter; a FIFO queue bounds every waiter's wait by the requests ahead of it. A new
//!   request never overtakes a queued one.
//! - **No lost wake-up.** Nobody waits while a connection is idle or capacity is free.
//! - **Cancellation-safe hand-off.** A connection or capacity is granted to a waiter under
//!   the pool's lock before the waiter is woken. A waiter that gives up (a blocking get
//!   timing out, an async get dropped) before the grant just leaves the queue; one that
//!   gives up after it hands the grant on, and a blocking get whose timeout fires together
//!   with the grant uses the connection. Nothing is lost at any point of the hand-off.
//! - **Connect failures** reach the caller that was opening, and release its capacity to
//!   the next waiter (who then opens a connection itself).
//! - **Close** ([`close`](Pool::close)) is sticky: it refuses new requests, fails every
//!   queued one, closes idle connections, and returns once every checked-out connection
//!   has come back and been closed.
//!
//! # No opener thread
//!
//! Go feeds a background opener goroutine through a channel, because a Go request is a
//! channel receive and cannot open a connection while it waits. Here the caller granted
//! capacity opens the connection itself, on its own thread or task. That is the same
//! protocol (capacity is counted before the connect, the connection or the error then
//! goes to a request) without a thread to start, stop and leak: the error reaches the
//! very caller that asked, a cancelled async caller cancels its own connect (Go's opener
//! keeps opening for a request that has gone), and a model of the pool needs no extra
//! thread. deadpool makes the same choice; bb8 spawns connection tasks.
//!
//! # Compared with deadpool and bb8
//!
//! All three bound the open connections and serve waiters in FIFO order by default. This
//! pool adds Go's `max_idle` (a returned connection beyond it is closed), counts a
//! connection as open until its close has finished, offers a blocking `get` besides the
//! async one, and a `close` that waits for checked-out connections. See `benches/pool.rs`
//! for the latency and throughput comparison.
//!
//! # Invariants
//!
//! Listed in `state.rs`: `open == idle + in_use + opening + closing`, no counter below
//! zero, `open <= max_open`, nobody waits while a connection is idle or capacity is free,
//! `closed` is sticky. With debug assertions on they are checked after every transition.
//!
//! # Lock order
//!
//! One lock, the pool's state. Blocked threads wait on their own condition variable with
//! that lock. No connector method, clock reading or waker wake-up runs under it (wakers
//! are cloned under it, and woken after it is released). The list of abandoned connect
//! threads has a lock of its own, never held with the state's or a connect's hand-off.
//!
//! # Examples
//!
//! ```
//! use racekit::pool::{BlockingConnector, Connector, GetError, Pool};
//! use std::time::Duration;
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("the database is down")]
//! struct Down;
//!
//! /// A stand-in for a database: connections are numbers.
//! struct Numbers(std::sync::atomic::AtomicU32);
//!
//! impl Connector for Numbers {
//!     type Connection = u32;
//!     type Error = Down;
//! }
//!
//! impl BlockingConnector for Numbers {
//!     fn connect(&self) -> Result<u32, Down> {
//!         Ok(self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
//!     }
//! }
//!
//! let pool = Pool::builder(Numbers(0.into())).max_open(1).build()?;
//! let first = pool.get()?;
//! assert_eq!(*first, 0);
//! // The only connection is checked out: a second request waits, then times out.
//! assert!(matches!(pool.get_timeout(Duration::from_millis(10)), Err(GetError::Timeout)));
//! drop(first);
//! assert_eq!(*pool.get()?, 0, "the returned connection is reused");
//!
//! pool.close();
//! assert!(matches!(pool.get(), Err(GetError::Closed)));
//! assert!(pool.stats().is_drained());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod connect;
mod connector;
mod handles;
mod state;
mod stats;
#[cfg(not(racekit_shuttle))]
pub mod tcp;
mod wait;

pub use config::{ConfigError, PoolBuilder, PoolConfig, DEFAULT_MAX_OPEN};
pub use connector::{AsyncConnector, BlockingConnector, Connector};
pub use handles::PooledConnection;
pub use stats::PoolStats;
pub use wait::Drained;

use crate::sync::{Arc, Deadline, Mutex, MutexGuard};
use crate::time::Clock;
use crossbeam_utils::CachePadded;
use handles::Reservation;
use state::{CloseReason, Conn, PutBack, State};
use std::fmt;
use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};
use thiserror::Error;
use wait::{Acquire, Held};

/// The [mutation points](crate::mutation) planted in this pattern: one-expression bugs a
/// model switches on with [`Model::mutant`](crate::model::Model::mutant).
pub const MUTATION_POINTS: &[crate::mutation::MutationPoint] = &[
    point(
        "pool.stats.torn_idle",
        "stats takes `idle` from one read of the pool's state and every other counter from a second read",
    ),
    point(
        "pool.get.idle_check_apart_from_the_wait",
        "a request that found nothing idle and no free capacity releases the lock before it queues, so a \
         connection returned in between finds nobody waiting",
    ),
    point(
        "pool.handoff.drop_on_timeout",
        "a blocking request whose timeout fires together with the hand-off drops the connection it was handed",
    ),
    point(
        "pool.close.timeout_skips_the_recheck",
        "close_timeout reports a timeout without checking, once the wait ends, whether the pool drained meanwhile",
    ),
    point(
        "pool.connect.failure_keeps_the_slot",
        "a failed connect keeps the capacity it reserved instead of releasing it to the next waiter",
    ),
    point(
        "pool.close.refused_waiter_returns_a_slot",
        "a request refused because the pool closed gives back a unit of capacity it was never granted",
    ),
    point(
        "pool.close.returns_before_drained",
        "close returns without waiting for checked-out connections to come back",
    ),
    point("pool.close.wakes_no_waiter", "close fails the queued requests but wakes none of them"),
    point(
        "pool.put_back.skips_the_queue",
        "a returned connection goes to the idle set even when a request is queued for one",
    ),
    point(
        "pool.put_back.hands_off_without_waking",
        "a returned connection is granted to the first waiter, who is never woken to collect it",
    ),
    point(
        "pool.put_back.max_idle_off_by_one",
        "a returned connection is kept idle when max_idle connections already are",
    ),
    point(
        "pool.acquire.cancel_forgets_the_ticket",
        "an async request dropped while queued leaves its ticket in the queue, where a grant to it is lost",
    ),
    point(
        "pool.acquire.cancel_drops_the_grant",
        "a request that gives up after a grant was made to it drops the grant instead of handing it on",
    ),
    point(
        "pool.reservation.drop_keeps_the_slot",
        "a reservation dropped unused (its connect cancelled) keeps its unit of capacity",
    ),
    point(
        "pool.replace.closed_wakes_no_closer",
        "replacing a broken connection on a pool that closed meanwhile closes it without waking close",
    ),
    point(
        "pool.close.destructor_under_the_lock",
        "a connection is closed (the connector's close runs) while the pool's lock is held",
    ),
    point(
        "pool.reap.uncounted_close",
        "reaping moves expired idle connections out of the idle set without counting them as closing",
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

/// Why no connection was handed out.
#[derive(Debug, Error)]
pub enum GetError<E> {
    /// No connection became available before the timeout.
    #[error(
        "no connection became available before the timeout: raise max_open, return \
         connections sooner, or wait longer"
    )]
    Timeout,
    /// The pool is closed (before the request, or while it waited).
    #[error("the pool is closed and hands out no more connections; build a new pool")]
    Closed,
    /// Opening a connection failed; the capacity it had reserved went back to the pool.
    #[error("opening a connection failed (its capacity went back to the pool): {0}")]
    Connect(#[source] E),
}

/// [`Pool::close_timeout`] gave up waiting; the pool is closed all the same.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error(
    "the pool is closed, but {still_open} connection(s) were still open at the timeout: \
     return every checked-out connection (they are closed as they come back), then wait again"
)]
pub struct CloseTimedOut {
    /// Connections still open (checked out, or being opened or closed).
    pub still_open: usize,
}

/// What every handle of one pool shares.
struct Shared<C: Connector> {
    connector: C,
    config: PoolConfig,
    clock: StdArc<dyn Clock>,
    /// The clock's reading when the pool was built: the timestamp of every return and
    /// check-out when no lifetime or idle timeout is set (nothing reads it then), which
    /// spares the hot path two clock readings.
    epoch: Instant,
    /// On cache lines of its own: the lock and state are written by every get and return,
    /// the reference counts beside them by every check-out, and on separate lines the two
    /// do not slow each other down across cores.
    state: CachePadded<Mutex<State<C::Connection>>>,
    /// The threads of blocking connects whose caller gave up at its deadline: a connect
    /// keeps its capacity until it ends, so once the pool is drained each has ended its
    /// connect, and a blocking close joins them (no thread of the pool outlives it).
    abandoned_connects: Mutex<Vec<crate::sync::thread::JoinHandle<()>>>,
}

/// A pool of connections made by a [`Connector`]; cloning it gives another handle to the
/// same pool. See the [module documentation](self) for its guarantees.
pub struct Pool<C: Connector> {
    shared: Arc<Shared<C>>,
}

impl<C: Connector> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Pool { shared: self.shared.clone() }
    }
}

impl<C: Connector> fmt::Debug for Pool<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("config", &self.shared.config).field("stats", &self.stats()).finish()
    }
}

/// What a caller got once a connection was vetted: a usable connection, or capacity to
/// open one.
enum Vetted<C: Connector> {
    Ready(PooledConnection<C>),
    Reserved(Reservation<C>),
}

impl<C: Connector> Pool<C> {
    /// A builder for a pool of connections made by `connector`.
    pub fn builder(connector: C) -> PoolBuilder<C> {
        PoolBuilder::new(connector)
    }

    /// A pool of at most `max_open` connections, all of which may stay idle, with no
    /// lifetime limits.
    pub fn new(connector: C, max_open: usize) -> Result<Self, ConfigError> {
        Self::builder(connector).max_open(max_open).build()
    }

    fn from_parts(connector: C, config: PoolConfig, clock: StdArc<dyn Clock>) -> Self {
        Pool {
            shared: Arc::new(Shared {
                connector,
                config,
                epoch: clock.now(),
                clock,
                state: CachePadded::new(Mutex::new(State::new(config))),
                abandoned_connects: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The pool's limits.
    pub fn config(&self) -> PoolConfig {
        self.shared.config
    }

    /// The connector.
    pub fn connector(&self) -> &C {
        &self.shared.connector
    }

    /// The counters, read together.
    pub fn stats(&self) -> PoolStats {
        mutation_point!("pool.stats.torn_idle", self.shared.state.lock().stats(), {
            let idle = self.shared.state.lock().stats().idle;
            PoolStats { idle, ..self.shared.state.lock().stats() }
        })
    }

    /// Whether [`close`](Self::close) (or a variant) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.state.lock().is_closed()
    }

    /// Closes every idle connection that outlived its lifetime or idle timeout; returns
    /// how many. Requests retire stale connections as they meet them; call this from a
    /// timer if the pool may sit unused for long.
    pub fn reap_expired(&self) -> usize {
        let now = self.shared.clock.now();
        let mut reaped = Vec::new();
        self.shared.state.lock().reap(now, &mut reaped);
        let count = reaped.len();
        for conn in reaped {
            self.shared.close_conn(conn, CloseReason::Expired);
        }
        count
    }

    /// Closes the pool and blocks until every connection is closed: new and queued
    /// requests fail with [`GetError::Closed`], idle connections are closed now, and
    /// checked-out ones as they come back. Calling it again waits again. The threads of
    /// connects that a timed-out [`get_timeout`](Self::get_timeout) left behind have ended
    /// when it returns.
    pub fn close(&self) {
        self.shared.begin_close();
        // Without a deadline the wait ends only once the pool is drained.
        let drained = mutation_point!("pool.close.returns_before_drained", self.shared.wait_drained(None), Ok(()));
        if drained.is_ok() {
            self.shared.join_abandoned_connects();
        }
    }

    /// [`close`](Self::close), waiting at most `timeout` for checked-out connections.
    pub fn close_timeout(&self, timeout: Duration) -> Result<(), CloseTimedOut> {
        self.shared.begin_close();
        self.shared.wait_drained(Deadline::within(timeout)).map_err(|still_open| CloseTimedOut { still_open })?;
        self.shared.join_abandoned_connects();
        Ok(())
    }

    /// Closes the pool now (as [`close`](Self::close) does) and returns a future that
    /// resolves once every connection is closed. Wrap it in `tokio::time::timeout` to bound
    /// the wait.
    ///
    /// # Cancel safety
    ///
    /// The pool is closed before this returns; dropping the future only stops waiting.
    pub fn close_async(&self) -> Drained<C> {
        self.shared.begin_close();
        Drained::new(self.shared.clone())
    }
}

impl<C: BlockingConnector> Pool<C> {
    /// A connection, blocking as long as it takes for one to become available.
    pub fn get(&self) -> Result<PooledConnection<C>, GetError<C::Error>> {
        self.get_until(None)
    }

    /// A connection, blocking at most `timeout` in all: in the queue and in a connect. A
    /// connection handed over just as the timeout fires is returned, not dropped.
    ///
    /// When this call has to open a connection, the connect runs on a thread of its own
    /// (on real threads; the model checkers, which do not model time, connect inline) so
    /// that a connector that hangs cannot hold the caller past its timeout: the caller
    /// gets [`GetError::Timeout`], and the connect keeps its unit of capacity until it
    /// ends, when its connection goes back to the pool (to the first waiter, or idle) or
    /// its error releases the capacity. A timeout too long to represent (`Duration::MAX`)
    /// is no timeout: this is then [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<PooledConnection<C>, GetError<C::Error>> {
        self.get_until(Deadline::within(timeout))
    }

    fn get_until(&self, deadline: Option<Deadline>) -> Result<PooledConnection<C>, GetError<C::Error>> {
        let held = Shared::acquire_blocking(&self.shared, deadline)?;
        match (self.shared.vet(held)?, deadline) {
            (Vetted::Ready(conn), _) => Ok(conn),
            (Vetted::Reserved(reservation), Some(deadline)) if !crate::sync::Backend::CURRENT.is_model_checker() => {
                connect::within(&self.shared, reservation, deadline)
            }
            (Vetted::Reserved(reservation), _) => reservation.finish(self.shared.connector.connect()),
        }
    }
}

impl<C: AsyncConnector> Pool<C> {
    /// A connection, waiting (without blocking the thread) as long as it takes.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe at every await point: dropped while queued, the request leaves the
    /// queue; dropped just after a connection or capacity was handed to it, it hands that
    /// on to the next waiter (or the idle set); dropped while connecting, the connect
    /// future is dropped and its capacity released. So `tokio::time::timeout(d,
    /// pool.get_async())` and `select!` lose nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::pool::{AsyncConnector, Connector, Pool};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("unreachable")]
    /// struct Unreachable;
    /// struct Numbers;
    /// impl Connector for Numbers {
    ///     type Connection = u32;
    ///     type Error = Unreachable;
    /// }
    /// impl AsyncConnector for Numbers {
    ///     async fn connect_async(&self) -> Result<u32, Unreachable> {
    ///         Ok(42)
    ///     }
    /// }
    ///
    /// racekit::sync::task::block_on(async {
    ///     let pool = Pool::new(Numbers, 1).unwrap();
    ///     let held = pool.get_async().await.unwrap();
    ///     // A request that cannot be served within 10 ms is cancelled; nothing leaks.
    ///     let waited = tokio::time::timeout(std::time::Duration::from_millis(10), pool.get_async()).await;
    ///     assert!(waited.is_err());
    ///     drop(held);
    ///     assert_eq!(*pool.get_async().await.unwrap(), 42);
    ///     assert_eq!(pool.stats().waiting, 0);
    /// });
    /// ```
    pub async fn get_async(&self) -> Result<PooledConnection<C>, GetError<C::Error>> {
        let held = Acquire::new(&self.shared).await?;
        match self.shared.vet(held)? {
            Vetted::Ready(conn) => Ok(conn),
            Vetted::Reserved(reservation) => reservation.finish(self.shared.connector.connect_async().await),
        }
    }
}

/// Closes one connection and settles its accounts, even if the connector's `close`
/// panics.
struct CloseGuard<'a, C: Connector> {
    shared: &'a Shared<C>,
    reason: CloseReason,
    armed: bool,
}

impl<C: Connector> CloseGuard<'_, C> {
    /// The caller settles the accounts itself.
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl<C: Connector> Drop for CloseGuard<'_, C> {
    fn drop(&mut self) {
        if self.armed && !crate::sync::unwinding_from_a_failure() {
            let wakes = self.shared.state.lock().finish_close(self.reason);
            wakes.wake_all();
        }
    }
}

impl<C: Connector> Shared<C> {
    fn close_guard(&self, reason: CloseReason) -> CloseGuard<'_, C> {
        CloseGuard { shared: self, reason, armed: true }
    }

    /// Closes a connection already counted in `closing`; its capacity then goes to the
    /// first waiter.
    fn close_conn(&self, conn: Conn<C::Connection>, reason: CloseReason) {
        let _settle = self.close_guard(reason);
        // A panicking close still closed the connection as far as the pool is concerned:
        // caught here, so it reaches neither a drop nor `close`.
        let _ = crate::sync::catch_unwind(|| {
            mutation_point!("pool.close.destructor_under_the_lock", self.connector.close(conn.raw), {
                let _held = self.state.lock();
                self.connector.close(conn.raw)
            })
        });
    }

    /// Whether the lifetime and idle-timeout rules read the clock (they do when either is set).
    fn expiry_reads_the_clock(&self) -> bool {
        self.config.max_lifetime.is_some() || self.config.idle_timeout.is_some()
    }

    /// Now, for the lifetime and idle-timeout rules (the epoch when there are none).
    fn now_for_expiry(&self) -> Instant {
        if self.expiry_reads_the_clock() {
            self.clock.now()
        } else {
            self.epoch
        }
    }

    /// A checked-out connection comes back (`keep`) or is discarded.
    fn put_back(&self, conn: Conn<C::Connection>, keep: bool) {
        let now = self.now_for_expiry();
        let outcome = self.state.lock().put_back(conn, keep, now);
        match outcome {
            PutBack::Handed(wakes) => {
                mutation_point!("pool.put_back.hands_off_without_waking", wakes.wake_all(), drop(wakes))
            }
            PutBack::Kept => {}
            PutBack::Close(conn, reason) => self.close_conn(conn, reason),
        }
    }

    fn release_reservation(&self, connect_failed: bool) {
        let wakes = self.state.lock().release_reservation(connect_failed);
        wakes.wake_all();
    }

    /// Checks a connection before handing it out: a stale or invalid one is closed and
    /// its slot kept to open a replacement.
    fn vet(&self, held: Held<C>) -> Result<Vetted<C>, GetError<C::Error>> {
        match held {
            Held::Open(reservation) => Ok(Vetted::Reserved(reservation)),
            Held::Connection(conn, true) => conn.into_replacement(CloseReason::Expired).map(Vetted::Reserved),
            Held::Connection(mut conn, false) => {
                // A panicking validate counts as a refusal (closed_invalid).
                if crate::sync::catch_unwind(|| self.connector.validate(&mut conn)).unwrap_or(false) {
                    Ok(Vetted::Ready(conn))
                } else {
                    conn.into_replacement(CloseReason::Invalid).map(Vetted::Reserved)
                }
            }
        }
    }
}
