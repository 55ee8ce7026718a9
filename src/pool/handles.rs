//! The two things a caller can hold: a checked-out connection, and a reservation of
//! capacity to open one. Both give back what they hold when dropped, on every path
//! (returned, discarded, cancelled, panicked), so nothing leaves the pool's accounts.

use super::state::{CloseReason, Conn};
use super::{Connector, GetError, Shared};
use crate::sync::Arc;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// A connection checked out of a [`Pool`](super::Pool); dereferences to the connection.
/// Dropping it returns the connection: to the first waiter if anyone waits, else to the
/// idle set (or it is closed: expired, over `max_idle`, or the pool is closed).
/// [`discard`](Self::discard) closes it instead.
pub struct PooledConnection<C: Connector> {
    shared: Arc<Shared<C>>,
    conn: Option<Conn<C::Connection>>,
}

impl<C: Connector> PooledConnection<C> {
    pub(super) fn new(shared: Arc<Shared<C>>, conn: Conn<C::Connection>) -> Self {
        PooledConnection { shared, conn: Some(conn) }
    }

    fn conn(&self) -> &Conn<C::Connection> {
        self.conn.as_ref().expect("present until the guard is consumed")
    }

    /// How long ago the connection was opened, by the pool's clock.
    pub fn age(&self) -> Duration {
        self.shared.clock.now().saturating_duration_since(self.conn().created)
    }

    /// Closes the connection instead of returning it (after an error left it in an
    /// unknown state, say). Its capacity goes to the first waiter.
    pub fn discard(mut self) {
        if let Some(conn) = self.conn.take() {
            self.shared.put_back(conn, false);
        }
    }

    /// Closes this connection (stale or refused by `validate`) and keeps its slot as a
    /// reservation to open a replacement; fails if the pool closed meanwhile.
    pub(super) fn into_replacement(mut self, reason: CloseReason) -> Result<Reservation<C>, GetError<C::Error>> {
        let conn = self.conn.take().expect("present until the guard is consumed");
        let shared = self.shared.clone();
        shared.state.lock().start_replacing();
        let guard = shared.close_guard(reason);
        // Caught as in `close_conn`: the connection counts as closed either way.
        let _ = crate::sync::catch_unwind(|| shared.connector.close(conn.raw));
        guard.disarm();
        let replaced = shared.state.lock().finish_replacing(reason);
        match replaced {
            Ok(()) => Ok(Reservation::new(shared)),
            Err(wakes) => {
                mutation_point!("pool.replace.closed_wakes_no_closer", wakes.wake_all(), drop(wakes));
                Err(GetError::Closed)
            }
        }
    }
}

impl<C: Connector> Deref for PooledConnection<C> {
    type Target = C::Connection;
    fn deref(&self) -> &C::Connection {
        &self.conn().raw
    }
}

impl<C: Connector> DerefMut for PooledConnection<C> {
    fn deref_mut(&mut self) -> &mut C::Connection {
        &mut self.conn.as_mut().expect("present until the guard is consumed").raw
    }
}

impl<C: Connector> Drop for PooledConnection<C> {
    fn drop(&mut self) {
        if crate::sync::unwinding_from_a_failure() {
            return;
        }
        if let Some(conn) = self.conn.take() {
            self.shared.put_back(conn, true);
        }
    }
}

impl<C: Connector> fmt::Debug for PooledConnection<C>
where
    C::Connection: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledConnection").field("connection", &self.conn.as_ref().map(|conn| &conn.raw)).finish()
    }
}

/// One unit of capacity reserved to open a connection. Dropped unused (the connect
/// failed, or the caller was cancelled or panicked), it goes back to the pool and to the
/// first waiter.
pub(super) struct Reservation<C: Connector> {
    shared: Option<Arc<Shared<C>>>,
}

impl<C: Connector> Reservation<C> {
    pub(super) fn new(shared: Arc<Shared<C>>) -> Self {
        Reservation { shared: Some(shared) }
    }

    fn take(&mut self) -> Arc<Shared<C>> {
        self.shared.take().expect("a reservation is used once")
    }

    /// Settles the connect this reservation was for: a new connection goes to the caller
    /// (unless the pool closed meanwhile: then it is closed and the caller gets
    /// [`GetError::Closed`]); an error goes to the caller and the capacity to the first
    /// waiter.
    pub(super) fn finish(
        mut self,
        connected: Result<C::Connection, C::Error>,
    ) -> Result<PooledConnection<C>, GetError<C::Error>> {
        let shared = self.take();
        let raw = match connected {
            Ok(raw) => raw,
            Err(error) => {
                mutation_point!("pool.connect.failure_keeps_the_slot", shared.release_reservation(true), ());
                return Err(GetError::Connect(error));
            }
        };
        let conn = Conn { raw, created: shared.clock.now() };
        let handed = shared.state.lock().fulfil_reservation();
        if handed {
            Ok(PooledConnection::new(shared, conn))
        } else {
            shared.close_conn(conn, CloseReason::PoolClosed);
            Err(GetError::Closed)
        }
    }
}

impl<C: Connector> Drop for Reservation<C> {
    fn drop(&mut self) {
        if crate::sync::unwinding_from_a_failure() {
            return;
        }
        if let Some(shared) = self.shared.take() {
            mutation_point!("pool.reservation.drop_keeps_the_slot", shared.release_reservation(false), ());
        }
    }
}
