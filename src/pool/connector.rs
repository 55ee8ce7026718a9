//! The connector traits: how a [`Pool`](super::Pool) makes, checks and closes connections.
//!
//! Mechanism under policy, as in `lock_api` and deadpool's `Manager`: the pool owns the
//! bookkeeping (limits, waiters, hand-off, close) and asks a small trait for the three
//! things only the connection's owner knows.

use std::future::Future;

/// What the pool needs of every connector: the connection type, how to check a
/// connection before it is handed out, and how to close one.
///
/// Connecting is in [`BlockingConnector`] (for [`Pool::get`](super::Pool::get)) and
/// [`AsyncConnector`] (for [`Pool::get_async`](super::Pool::get_async)); a connector may
/// implement either or both.
///
/// # Contract
///
/// - No method is called with the pool's lock held, so every method may call back into
///   the pool (read its stats, even get another connection) without deadlocking it.
/// - [`validate`](Self::validate) runs on the getting thread each time an idle connection
///   is checked out; it must be quick and must not block (a non-blocking peek, a flag).
///   Returning `false` makes the pool close the connection and open a new one in its slot.
/// - [`close`](Self::close) is called exactly once for every connection the pool opened
///   and will not hand out again (expired, invalid, over the idle limit, discarded, or the
///   pool is closing); the pool counts the connection as open until `close` returns, so
///   the number of live connections never exceeds the pool's maximum. It may block
///   briefly; it should not panic (a panic propagates to the caller that dropped the
///   connection, after the pool's counters are restored).
/// - A connector is shared by every thread using the pool: methods take `&self`.
pub trait Connector: Send + Sync + 'static {
    /// The connection the pool hands out.
    type Connection: Send + 'static;
    /// Why a connection could not be opened; it reaches the caller that asked for it.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether an idle connection is still usable; called before it is handed out.
    /// The default accepts every connection. A panic counts as `false`.
    fn validate(&self, connection: &mut Self::Connection) -> bool {
        let _ = connection;
        true
    }

    /// Closes a connection the pool will not use again. The default drops it. A panic is
    /// caught: the connection counts as closed all the same.
    fn close(&self, connection: Self::Connection) {
        drop(connection);
    }
}

/// A connector that opens connections by blocking the calling thread.
pub trait BlockingConnector: Connector {
    /// Opens a new connection; may block. It is called on the thread that called
    /// [`Pool::get`](super::Pool::get), with one unit of the pool's capacity reserved for
    /// it; an error releases that capacity and is returned to that caller.
    fn connect(&self) -> Result<Self::Connection, Self::Error>;
}

/// A connector that opens connections asynchronously.
pub trait AsyncConnector: Connector {
    /// Opens a new connection. The future is polled by the task that called
    /// [`Pool::get_async`](super::Pool::get_async), with one unit of the pool's capacity
    /// reserved for it. If that task is cancelled the future is dropped and the capacity
    /// released, so the future must leave nothing behind when dropped (the usual case for
    /// a future that owns its half-made connection).
    fn connect_async(&self) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send;
}
