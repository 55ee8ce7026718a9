//! Waiting for a connection, and for the end of a close: blocking (a condition variable
//! per waiter, waited on with the pool's lock) and async (a future per waiter holding its
//! ticket). Both run the same steps on [`State`](super::state::State), so the hand-off
//! rules are written once.

use super::handles::{PooledConnection, Reservation};
use super::state::{Begin, CloseReason, Conn, Grant, State, Wake};
use super::{reacquire, Connector, GetError, Shared};
use crate::sync::{Arc, Condvar, Deadline, MutexGuard};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What a caller holds once it leaves the queue (or never had to queue).
pub(super) enum Held<C: Connector> {
    /// A connection to vet before use (it may be stale or broken).
    Connection(PooledConnection<C>, bool),
    /// Capacity to open a connection with.
    Open(Reservation<C>),
}

/// The outcome of a request, decided under the lock; turned into [`Held`] (whose guards
/// give everything back when dropped) as soon as the lock is released.
enum Outcome<T> {
    Granted(Grant<T>, bool),
    /// The pool is closed; a grant made before it closed is handed back.
    Closed(Option<Grant<T>>),
    TimedOut,
}

/// The first step of a request: served at once, or queued with a ticket.
enum Started<T> {
    Done(Outcome<T>),
    Queued(u64),
}

impl<C: Connector> Shared<C> {
    /// Runs a new request's first step under `state` (the pool's lock, handed back);
    /// `wake` is called only if it must queue.
    fn start<'a>(
        &'a self,
        state: MutexGuard<'a, State<C::Connection>>,
        now: Instant,
        reaped: &mut Vec<Conn<C::Connection>>,
        wake: impl FnOnce() -> Wake,
    ) -> (MutexGuard<'a, State<C::Connection>>, Started<C::Connection>) {
        let mut state = state;
        let started = match state.begin(now, reaped) {
            Begin::Closed => Started::Done(Outcome::Closed(None)),
            Begin::Connection { conn, stale } => Started::Done(Outcome::Granted(Grant::Connection(conn), stale)),
            Begin::Open => Started::Done(Outcome::Granted(Grant::Open, false)),
            Begin::MustWait => {
                // Found nothing, queued: one critical section, so nothing can come back in
                // between unseen.
                state =
                    mutation_point!("pool.get.idle_check_apart_from_the_wait", state, reacquire(state, &self.state));
                Started::Queued(state.enqueue(wake()))
            }
        };
        (state, started)
    }

    /// Whether ticket `id` is done waiting: granted, or the pool closed.
    fn poll_ticket(state: &mut State<C::Connection>, id: u64) -> Option<Outcome<C::Connection>> {
        match state.take_grant(id) {
            Some(grant) if state.is_closed() => Some(Outcome::Closed(Some(grant))),
            Some(grant) => Some(Outcome::Granted(grant, false)),
            None if state.is_closed() => Some(Outcome::Closed(None)),
            None => None,
        }
    }

    /// Ticket `id` gives up (timed out or cancelled): a grant made meanwhile is kept if
    /// the caller can still use it (`keep_grant`), otherwise handed back.
    fn give_up(
        this: &Arc<Self>,
        state: MutexGuard<'_, State<C::Connection>>,
        id: u64,
        keep_grant: bool,
    ) -> Outcome<C::Connection> {
        let mut state = state;
        let grant = state.leave(id);
        let closed = state.is_closed();
        drop(state);
        match grant {
            Some(grant) if keep_grant && !closed => Outcome::Granted(grant, false),
            Some(grant) => {
                mutation_point!("pool.acquire.cancel_drops_the_grant", drop(Self::hold(this, grant)), drop(grant));
                if closed {
                    Outcome::Closed(None)
                } else {
                    Outcome::TimedOut
                }
            }
            None if closed => Outcome::Closed(None),
            None => Outcome::TimedOut,
        }
    }

    /// Wraps a grant in the guard that gives it back when dropped.
    fn hold(this: &Arc<Self>, grant: Grant<C::Connection>) -> Held<C> {
        match grant {
            Grant::Connection(conn) => Held::Connection(PooledConnection::new(this.clone(), conn), false),
            Grant::Open => Held::Open(Reservation::new(this.clone())),
        }
    }

    /// Turns an outcome into what the caller holds, once the lock is released.
    fn settle(this: &Arc<Self>, outcome: Outcome<C::Connection>) -> Result<Held<C>, GetError<C::Error>> {
        match outcome {
            Outcome::Granted(grant, stale) => Ok(match Self::hold(this, grant) {
                Held::Connection(conn, _) => Held::Connection(conn, stale),
                open => open,
            }),
            Outcome::Closed(grant) => {
                mutation_point!(
                    "pool.close.refused_waiter_returns_a_slot",
                    drop(grant.map(|grant| Self::hold(this, grant))),
                    drop(Self::hold(this, grant.unwrap_or(Grant::Open)))
                );
                Err(GetError::Closed)
            }
            Outcome::TimedOut => Err(GetError::Timeout),
        }
    }

    /// Closes connections moved to `closing` by a request's first step.
    fn close_reaped(&self, reaped: Vec<Conn<C::Connection>>) {
        for conn in reaped {
            self.close_conn(conn, CloseReason::Expired);
        }
    }

    /// When a request that read `now` (from [`now_for_expiry`](Shared::now_for_expiry))
    /// before it queued started waiting: that reading when it came from the clock (the
    /// wait then also counts the moment spent taking the lock), else a reading now.
    fn queued_since(&self, now: Instant) -> Instant {
        if self.expiry_reads_the_clock() {
            now
        } else {
            self.clock.now()
        }
    }

    /// How long a request queued since `since` has waited: read before taking the lock,
    /// then added to the statistics under it.
    fn waited_since(&self, since: Instant) -> Duration {
        self.clock.now().saturating_duration_since(since)
    }

    /// Blocks until the caller holds a connection or capacity, the pool closes, or the
    /// deadline passes.
    pub(super) fn acquire_blocking(
        this: &Arc<Self>,
        deadline: Option<Deadline>,
    ) -> Result<Held<C>, GetError<C::Error>> {
        let now = this.now_for_expiry();
        let mut reaped = Vec::new();
        // Made only for a request that queues: the fast path allocates nothing.
        let mut condvar = None;
        let (state, started) = this.start(this.state.lock(), now, &mut reaped, || {
            let own = Arc::new(Condvar::new());
            condvar = Some(own.clone());
            Wake::Thread(own)
        });
        let outcome = match started {
            Started::Done(outcome) => {
                drop(state);
                outcome
            }
            Started::Queued(id) => {
                let condvar = condvar.expect("a queued request has its condition variable");
                // The wait is timed from here (or from the expiry rules' reading); the clock
                // is not read under the lock.
                drop(state);
                let since = this.queued_since(now);
                let mut state = this.state.lock();
                let outcome = loop {
                    if let Some(outcome) = Self::poll_ticket(&mut state, id) {
                        drop(state);
                        break outcome;
                    }
                    let (next, timed_out) = condvar.wait_until_some(state, deadline);
                    if timed_out {
                        // A grant that arrived with the timeout is used, not dropped.
                        break mutation_point!("pool.handoff.drop_on_timeout", Self::give_up(this, next, id, true), {
                            let mut next = next;
                            drop(next.leave(id));
                            Outcome::TimedOut
                        });
                    }
                    state = next;
                };
                let waited = this.waited_since(since);
                this.state.lock().add_wait(waited);
                outcome
            }
        };
        this.close_reaped(reaped);
        Self::settle(this, outcome)
    }

    /// Begins closing: refuses new requests, wakes every waiter, closes idle connections.
    pub(super) fn begin_close(&self) {
        let mut idle = Vec::new();
        let wakes = self.state.lock().begin_close(&mut idle);
        mutation_point!("pool.close.wakes_no_waiter", wakes.wake_all(), drop(wakes));
        for conn in idle {
            self.close_conn(conn, CloseReason::PoolClosed);
        }
    }

    /// Joins the threads of abandoned connects. Called once the pool is drained: each has
    /// ended its connect then, and is at most finishing its exit.
    pub(super) fn join_abandoned_connects(&self) {
        let threads = std::mem::take(&mut *self.abandoned_connects.lock());
        for thread in threads {
            // A panic there was the connector's, already handled where it happened.
            let _ = thread.join();
        }
    }

    /// Blocks until every connection is closed or the deadline passes; on timeout, the
    /// connections still open then.
    pub(super) fn wait_drained(&self, deadline: Option<Deadline>) -> Result<(), usize> {
        let condvar = Arc::new(Condvar::new());
        let mut ticket = None;
        let mut state = self.state.lock();
        while !state.is_drained() {
            state.wait_for_drain(&mut ticket, Wake::Thread(condvar.clone()));
            let (next, timed_out) = condvar.wait_until_some(state, deadline);
            state = next;
            // The last connection may close just as the timeout fires: drained wins.
            if timed_out && mutation_point!("pool.close.timeout_skips_the_recheck", !state.is_drained(), true) {
                if let Some(id) = ticket {
                    state.stop_waiting_for_drain(id);
                }
                return Err(state.open());
            }
        }
        Ok(())
    }
}

/// The future of an async request for a connection or capacity.
///
/// # Cancel safety
///
/// Dropped before its first poll it has done nothing; dropped while queued it leaves the
/// queue; dropped after a grant was made to it but before it collected it, it hands the
/// grant back (a connection goes to the next waiter or the idle set, capacity to the next
/// waiter). All three happen under the pool's lock, so no grant can fall between them.
pub(super) struct Acquire<'a, C: Connector> {
    shared: &'a Arc<Shared<C>>,
    /// The ticket while queued, with when it queued (for the wait statistics).
    queued: Option<(u64, Instant)>,
    polled: bool,
}

impl<'a, C: Connector> Acquire<'a, C> {
    pub(super) fn new(shared: &'a Arc<Shared<C>>) -> Self {
        Acquire { shared, queued: None, polled: false }
    }
}

impl<C: Connector> Future for Acquire<'_, C> {
    type Output = Result<Held<C>, GetError<C::Error>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let shared = this.shared;
        let outcome = match this.queued {
            Some((id, since)) => {
                // Read before the lock, which may end the wait.
                let waited = shared.waited_since(since);
                let mut state = shared.state.lock();
                match Shared::<C>::poll_ticket(&mut state, id) {
                    Some(outcome) => {
                        state.add_wait(waited);
                        drop(state);
                        this.queued = None;
                        outcome
                    }
                    None => {
                        state.update_waker(id, cx.waker());
                        return Poll::Pending;
                    }
                }
            }
            None => {
                assert!(!this.polled, "the pool's acquire future was polled after it completed");
                this.polled = true;
                let now = shared.now_for_expiry();
                let mut reaped = Vec::new();
                let (state, started) =
                    shared.start(shared.state.lock(), now, &mut reaped, || Wake::Task(cx.waker().clone()));
                drop(state);
                shared.close_reaped(reaped);
                match started {
                    Started::Done(outcome) => outcome,
                    Started::Queued(id) => {
                        this.queued = Some((id, shared.queued_since(now)));
                        return Poll::Pending;
                    }
                }
            }
        };
        Poll::Ready(Shared::settle(shared, outcome))
    }
}

impl<C: Connector> Drop for Acquire<'_, C> {
    fn drop(&mut self) {
        if crate::sync::unwinding_from_a_failure() {
            return;
        }
        if let Some((id, since)) = self.queued.take() {
            let waited = self.shared.waited_since(since);
            let mut state = self.shared.state.lock();
            state.add_wait(waited);
            // A cancelled caller cannot use a grant: hand it back.
            mutation_point!(
                "pool.acquire.cancel_forgets_the_ticket",
                drop(Shared::give_up(self.shared, state, id, false)),
                drop(state)
            );
        }
    }
}

/// Resolves once a closed pool has closed every connection; see
/// [`Pool::close_async`](super::Pool::close_async).
///
/// # Cancel safety
///
/// The pool is already closed when this future exists; dropping it only stops waiting
/// (the pool stays closed, and connections still in use are closed as they come back).
#[must_use = "the pool is closed, but this future resolves only once every connection is closed"]
pub struct Drained<C: Connector> {
    shared: Arc<Shared<C>>,
    ticket: Option<u64>,
}

impl<C: Connector> Drained<C> {
    pub(super) fn new(shared: Arc<Shared<C>>) -> Self {
        Drained { shared, ticket: None }
    }
}

impl<C: Connector> Future for Drained<C> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = this.shared.state.lock();
        if state.is_drained() {
            return Poll::Ready(());
        }
        state.wait_for_drain(&mut this.ticket, Wake::Task(cx.waker().clone()));
        Poll::Pending
    }
}

impl<C: Connector> Drop for Drained<C> {
    fn drop(&mut self) {
        if crate::sync::unwinding_from_a_failure() {
            return;
        }
        if let Some(id) = self.ticket.take() {
            self.shared.state.lock().stop_waiting_for_drain(id);
        }
    }
}
