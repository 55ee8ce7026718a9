//! A test connector for the pool's models (the pool under test is always the real one):
//! connections are numbers, every connect, close and failure is counted, a flaky connector
//! lets the checker decide whether each connect fails, a refusing one fails every idle
//! connection's validation (so each reuse is a replacement), and a close can call back
//! into the pool. Shared by the model and stress suites, each of which uses a part.

#![allow(dead_code)]

use racekit::pool::{AsyncConnector, BlockingConnector, Connector, PoolStats};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc as StdArc;

/// The connector's own accounts: what the "server" saw. Plain std atomics, like the
/// harness's probes: they observe the model without adding interleavings to it.
#[derive(Debug, Default)]
pub struct Ledger {
    attempts: AtomicU64,
    opened: AtomicU64,
    failed: AtomicU64,
    closed: AtomicU64,
    /// Connections dropped by the pool without being closed.
    dropped_unclosed: AtomicU64,
}

impl Ledger {
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::SeqCst)
    }
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::SeqCst)
    }
    pub fn closed(&self) -> u64 {
        self.closed.load(Ordering::SeqCst)
    }
    pub fn dropped_unclosed(&self) -> u64 {
        self.dropped_unclosed.load(Ordering::SeqCst)
    }
    /// Connections the "server" still holds.
    pub fn live(&self) -> u64 {
        self.opened() - self.closed() - self.dropped_unclosed()
    }

    /// Checks a pool at rest (every thread joined, every connection returned) against
    /// this ledger: the counts add up, every open connection is idle, nobody waits, and
    /// the pool and the connector agree on what was opened and is still open.
    pub fn assert_at_rest(&self, stats: PoolStats) {
        assert!(stats.is_conserved(), "counts do not add up: {stats:?}");
        assert!(stats.open <= stats.max_open, "more open than allowed: {stats:?}");
        assert_eq!(
            (stats.in_use, stats.opening, stats.closing, stats.waiting),
            (0, 0, 0, 0),
            "a connection or a slot was lost at rest: {stats:?}"
        );
        assert_eq!(stats.open, stats.idle, "an open connection is neither idle nor in use: {stats:?}");
        assert_eq!(self.dropped_unclosed(), 0, "a connection was dropped without being closed");
        assert_eq!(self.opened(), stats.opened, "the connector and the pool disagree on opens: {stats:?}");
        assert_eq!(self.live(), stats.open as u64, "the connector holds a different number of connections: {stats:?}");
    }
}

/// A connection: its number, and the ledger that notices if it is dropped unclosed.
#[derive(Debug)]
pub struct FakeConnection {
    pub id: u64,
    closed: bool,
    ledger: StdArc<Ledger>,
}

impl Drop for FakeConnection {
    fn drop(&mut self) {
        if !self.closed {
            self.ledger.dropped_unclosed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the fake database refused the connection")]
pub struct Refused;

/// What a close calls back (see [`FakeConnector::call_back_on_close`]).
type CloseHook = StdArc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
pub struct FakeConnector {
    pub ledger: StdArc<Ledger>,
    /// Whether each connect asks the checker if it fails.
    flaky: bool,
    /// Whether `validate` refuses every connection.
    refuses_reuse: bool,
    /// A std mutex, like the ledger's atomics: held only to copy the hook out, it adds no
    /// interleaving to the model.
    on_close: StdArc<std::sync::Mutex<Option<CloseHook>>>,
}

impl FakeConnector {
    fn new(flaky: bool, refuses_reuse: bool) -> Self {
        FakeConnector { ledger: StdArc::default(), flaky, refuses_reuse, on_close: StdArc::default() }
    }

    pub fn reliable() -> Self {
        Self::new(false, false)
    }

    pub fn flaky() -> Self {
        Self::new(true, false)
    }

    /// Every connection fails validation when it is checked out of the idle set: the pool
    /// replaces it in its slot.
    pub fn refusing_reuse() -> Self {
        Self::new(false, true)
    }

    /// Calls `hook` from every close (the pool promises to call its connector without its
    /// lock held, so the hook may call into the pool). The hook may hold the pool: call
    /// [`stop_calling_back`](Self::stop_calling_back) before the pool is dropped.
    pub fn call_back_on_close(&self, hook: impl Fn() + Send + Sync + 'static) {
        *self.on_close.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(StdArc::new(hook));
    }

    pub fn stop_calling_back(&self) {
        self.on_close.lock().unwrap_or_else(|poison| poison.into_inner()).take();
    }
}

impl Connector for FakeConnector {
    type Connection = FakeConnection;
    type Error = Refused;

    fn validate(&self, _connection: &mut FakeConnection) -> bool {
        !self.refuses_reuse
    }

    fn close(&self, mut connection: FakeConnection) {
        let hook = self.on_close.lock().unwrap_or_else(|poison| poison.into_inner()).clone();
        if let Some(hook) = hook {
            hook();
        }
        connection.closed = true;
        self.ledger.closed.fetch_add(1, Ordering::SeqCst);
    }
}

impl BlockingConnector for FakeConnector {
    fn connect(&self) -> Result<FakeConnection, Refused> {
        let id = self.ledger.attempts.fetch_add(1, Ordering::SeqCst);
        if self.flaky && racekit::model::choose() {
            self.ledger.failed.fetch_add(1, Ordering::SeqCst);
            return Err(Refused);
        }
        self.ledger.opened.fetch_add(1, Ordering::SeqCst);
        Ok(FakeConnection { id, closed: false, ledger: self.ledger.clone() })
    }
}

impl AsyncConnector for FakeConnector {
    /// Yields once first, so a caller can be cancelled in the middle of a connect.
    async fn connect_async(&self) -> Result<FakeConnection, Refused> {
        tokio::task::yield_now().await;
        self.connect()
    }
}
