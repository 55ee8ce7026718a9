//! Stress suite of the connection pool, against a real TCP server on 127.0.0.1.
//!
//! proptest picks the limits, the workers (threads on a blocking pool, tokio tasks on an
//! async pool, both against the same server at once) and what each does: blocking or timed
//! gets, awaited or cancelled (`tokio::time::timeout`) async gets, using the connection for
//! a round trip, returning or discarding it, the server cutting every connection midway,
//! and one connect in `n` failing after the TCP handshake. The probes: each pool stays
//! within `max_open`, its counts add up, and after `close` the server holds nothing and
//! has accepted exactly what the pools opened (plus the failed and cancelled connects).
//!
//! Also here: the lifetime, idle-timeout and idle-limit rules on a manual clock, and the
//! configuration errors.

#[path = "../models/pool/fake.rs"]
mod fake;

use crate::support::cases;
use fake::{FakeConnector, Ledger};
use proptest::prelude::*;
use racekit::model::Model;
use racekit::pool::tcp::{ping, ping_async, AsyncTcpConnector, TcpConnector, TestServer};
use racekit::pool::{
    AsyncConnector, BlockingConnector, ConfigError, Connector, GetError, Pool, PoolBuilder, PoolStats,
};
use racekit::sync::{task, thread};
use racekit::time::ManualClock;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Wraps a TCP connector so that every `fail_every`-th connect fails after the handshake
/// (the server saw the connection, then it is closed), and counts connects that were
/// started but never finished (their caller was cancelled mid-connect).
struct Flaky<C> {
    inner: C,
    fail_every: u64,
    started: AtomicU64,
    finished: AtomicU64,
    injected: AtomicU64,
}

impl<C> Flaky<C> {
    fn new(inner: C, fail_every: u64) -> Self {
        Flaky {
            inner,
            fail_every,
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        }
    }

    fn started(&self) -> u64 {
        self.started.fetch_add(1, Ordering::SeqCst)
    }

    fn cancelled(&self) -> u64 {
        self.started.load(Ordering::SeqCst) - self.finished.load(Ordering::SeqCst)
    }

    fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }
}

impl<C: Connector<Error = io::Error>> Flaky<C> {
    /// Fails connect number `attempt` if it is one of the chosen ones.
    fn settle(&self, attempt: u64, connected: io::Result<C::Connection>) -> io::Result<C::Connection> {
        self.finished.fetch_add(1, Ordering::SeqCst);
        let connection = connected?;
        if self.fail_every > 0 && attempt % self.fail_every == self.fail_every - 1 {
            self.inner.close(connection);
            self.injected.fetch_add(1, Ordering::SeqCst);
            return Err(io::Error::other("injected: the handshake after connect failed"));
        }
        Ok(connection)
    }
}

impl<C: Connector<Error = io::Error>> Connector for Flaky<C> {
    type Connection = C::Connection;
    type Error = io::Error;
    fn validate(&self, connection: &mut C::Connection) -> bool {
        self.inner.validate(connection)
    }
    fn close(&self, connection: C::Connection) {
        self.inner.close(connection);
    }
}

impl<C: BlockingConnector<Error = io::Error>> BlockingConnector for Flaky<C> {
    fn connect(&self) -> io::Result<C::Connection> {
        let attempt = self.started();
        self.settle(attempt, self.inner.connect())
    }
}

impl<C: AsyncConnector<Error = io::Error>> AsyncConnector for Flaky<C> {
    async fn connect_async(&self) -> io::Result<C::Connection> {
        let attempt = self.started();
        let connected = self.inner.connect_async().await;
        self.settle(attempt, connected)
    }
}

/// How a worker asks for a connection.
#[derive(Clone, Copy, Debug)]
enum Ask {
    /// Blocking `get`, or an awaited `get_async`.
    Wait,
    /// `get_timeout`, or `get_async` cancelled by `tokio::time::timeout`, after this many
    /// microseconds.
    GiveUpAfter(u64),
}

/// What a worker does with a connection it got.
#[derive(Clone, Copy, Debug)]
enum Use {
    RoundTrip,
    Discard,
    ReturnUnused,
}

fn step() -> impl Strategy<Value = (Ask, Use)> {
    let ask = prop_oneof![3 => Just(Ask::Wait), 2 => (0u64..3_000).prop_map(Ask::GiveUpAfter)];
    let usage = prop_oneof![4 => Just(Use::RoundTrip), 1 => Just(Use::Discard), 1 => Just(Use::ReturnUnused)];
    (ask, usage)
}

/// What the workers of one pool saw.
#[derive(Debug, Default)]
struct Seen {
    served: AtomicU64,
    gave_up: AtomicU64,
    connect_failed: AtomicU64,
    /// Round trips that failed (only after the server cut connections).
    broken: AtomicU64,
}

impl Seen {
    fn count(&self, outcome: &Result<(), GetError<io::Error>>) {
        let counter = match outcome {
            Ok(()) => &self.served,
            Err(GetError::Timeout) => &self.gave_up,
            Err(GetError::Connect(_)) => &self.connect_failed,
            Err(GetError::Closed) => panic!("a pool closed while its workers ran"),
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// A blocking worker's steps.
fn run_thread(pool: &Pool<Flaky<TcpConnector>>, steps: &[(Ask, Use)], seen: &Seen) {
    for &(ask, usage) in steps {
        let got = match ask {
            Ask::Wait => pool.get(),
            Ask::GiveUpAfter(micros) => pool.get_timeout(Duration::from_micros(micros)),
        };
        let outcome = got.map(|mut conn| match usage {
            Use::RoundTrip if ping(&mut conn).is_err() => {
                seen.broken.fetch_add(1, Ordering::SeqCst);
                conn.discard();
            }
            Use::Discard => conn.discard(),
            Use::RoundTrip | Use::ReturnUnused => drop(conn),
        });
        seen.count(&outcome);
    }
}

/// An async worker's steps.
async fn run_task(pool: Pool<Flaky<AsyncTcpConnector>>, steps: Vec<(Ask, Use)>, seen: Arc<Seen>) {
    for (ask, usage) in steps {
        let got = match ask {
            Ask::Wait => pool.get_async().await,
            Ask::GiveUpAfter(micros) => tokio::time::timeout(Duration::from_micros(micros), pool.get_async())
                .await
                .unwrap_or(Err(GetError::Timeout)),
        };
        let outcome = match got {
            Ok(mut conn) => {
                match usage {
                    Use::RoundTrip if ping_async(&mut conn).await.is_err() => {
                        seen.broken.fetch_add(1, Ordering::SeqCst);
                        conn.discard();
                    }
                    Use::Discard => conn.discard(),
                    Use::RoundTrip | Use::ReturnUnused => drop(conn),
                }
                Ok(())
            }
            Err(error) => Err(error),
        };
        seen.count(&outcome);
    }
}

/// Checks one pool after its workers finished and it was closed.
fn assert_pool_after_close(stats: PoolStats, seen: &Seen, steps: usize, injected: u64, cut: bool) {
    assert!(stats.is_drained() && stats.is_conserved(), "connections left after close: {stats:?}");
    assert!(stats.peak_open <= stats.max_open, "more open than max_open: {stats:?}");
    let total = seen.served.load(Ordering::SeqCst)
        + seen.gave_up.load(Ordering::SeqCst)
        + seen.connect_failed.load(Ordering::SeqCst);
    assert_eq!(total, steps as u64, "a request ended without an outcome: {seen:?}");
    // A blocking caller that timed out while its connect ran leaves that connect to finish
    // on its own: a failure then reaches no caller, but it is counted by the pool.
    let reached = seen.connect_failed.load(Ordering::SeqCst);
    assert!(reached <= injected && reached + seen.gave_up.load(Ordering::SeqCst) >= injected, "{seen:?}");
    assert_eq!(stats.connect_failures, injected, "every connect failure is counted: {stats:?}");
    if !cut {
        assert_eq!(seen.broken.load(Ordering::SeqCst), 0, "a pooled connection broke with the server up");
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    max_open: (usize, usize),
    idle_fraction: (usize, usize),
    fail_every: u64,
    cut_midway: bool,
    threads: Vec<Vec<(Ask, Use)>>,
    tasks: Vec<Vec<(Ask, Use)>>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let workers = || prop::collection::vec(prop::collection::vec(step(), 1..24), 1..5);
    (
        1usize..4,
        1usize..4,
        0usize..=2,
        0usize..=2,
        prop_oneof![Just(0u64), 3u64..8],
        any::<bool>(),
        workers(),
        workers(),
    )
        .prop_map(|(open_a, open_b, idle_a, idle_b, fail_every, cut_midway, threads, tasks)| Scenario {
            max_open: (open_a, open_b),
            idle_fraction: (idle_a, idle_b),
            fail_every,
            cut_midway,
            threads,
            tasks,
        })
}

fn build<C: Connector>(connector: C, max_open: usize, idle_fraction: usize) -> Pool<C> {
    Pool::builder(connector).max_open(max_open).max_idle(max_open * idle_fraction / 2).build().expect("valid limits")
}

fn run(scenario: Scenario) {
    let server = TestServer::start().expect("a loopback listener");
    let blocking = build(
        Flaky::new(TcpConnector::new(server.addr()), scenario.fail_every),
        scenario.max_open.0,
        scenario.idle_fraction.0,
    );
    let asynchronous = build(
        Flaky::new(AsyncTcpConnector::new(server.addr()), scenario.fail_every),
        scenario.max_open.1,
        scenario.idle_fraction.1,
    );
    let (thread_seen, task_seen) = (Arc::new(Seen::default()), Arc::new(Seen::default()));

    let threads: Vec<_> = scenario
        .threads
        .iter()
        .cloned()
        .map(|steps| {
            let (pool, seen) = (blocking.clone(), thread_seen.clone());
            thread::spawn(move || run_thread(&pool, &steps, &seen))
        })
        .collect();
    task::block_on(async {
        let tasks: Vec<_> = scenario
            .tasks
            .iter()
            .cloned()
            .map(|steps| task::spawn(run_task(asynchronous.clone(), steps, task_seen.clone())))
            .collect();
        if scenario.cut_midway {
            tokio::task::yield_now().await;
            server.disconnect_all();
        }
        for task in tasks {
            task.await.expect("a worker task panicked");
        }
    });
    for thread in threads {
        thread.join().expect("a worker thread panicked");
    }
    // A connection counts as open in its pool until the server has stopped counting it,
    // so the server never holds more than the pools allow, plus connects cancelled
    // midway (the server may accept a socket whose caller is gone). A cut is the
    // exception: the client sees the server's end before the server's thread counts it.
    let bound = (scenario.max_open.0 + scenario.max_open.1) as u64;
    let ghosts = asynchronous.connector().cancelled();
    if !scenario.cut_midway {
        assert!(
            server.peak_live() as u64 <= bound + ghosts,
            "the server held {} connections, bound {bound}",
            server.peak_live()
        );
    }

    blocking.close();
    task::block_on(asynchronous.close_async());
    let steps = |workers: &[Vec<(Ask, Use)>]| workers.iter().map(Vec::len).sum::<usize>();
    assert_pool_after_close(
        blocking.stats(),
        &thread_seen,
        steps(&scenario.threads),
        blocking.connector().injected(),
        scenario.cut_midway,
    );
    assert_pool_after_close(
        asynchronous.stats(),
        &task_seen,
        steps(&scenario.tasks),
        asynchronous.connector().injected(),
        scenario.cut_midway,
    );

    // The other side of the socket agrees: nothing is left, and it accepted exactly the
    // connections the pools opened, the ones failed on purpose, and (at most) the ones
    // whose connect was cancelled midway.
    assert!(
        server.wait_for_live_at_most(0, Duration::from_secs(10)),
        "the server still holds {} connections",
        server.live()
    );
    let opened = blocking.stats().opened + asynchronous.stats().opened;
    let injected = blocking.connector().injected() + asynchronous.connector().injected();
    let accepted = server.accepted();
    assert!(
        (opened + injected..=opened + injected + ghosts).contains(&accepted),
        "the server accepted {accepted}, the pools opened {opened} (+{injected} failed, +{ghosts} cancelled)"
    );
    server.stop();
}

proptest! {
    #![proptest_config(cases(32))]
    #[test]
    fn threads_and_tasks_over_tcp_leak_nothing_and_keep_the_bounds(scenario in scenario()) {
        Model::named("pool stress").iterations(1).check(move || run(scenario.clone()));
    }
}

#[test]
fn a_connection_cut_by_the_server_is_refused_by_validate_and_replaced() {
    let server = TestServer::start().unwrap();
    let pool = Pool::new(TcpConnector::new(server.addr()), 1).unwrap();
    drop(pool.get().unwrap());
    assert!(server.wait_for_accepted(1, Duration::from_secs(5)));
    server.disconnect_all();
    assert!(server.wait_for_live_at_most(0, Duration::from_secs(5)));
    let mut replaced = pool.get().unwrap();
    ping(&mut replaced).expect("the replacement works");
    drop(replaced);
    let stats = pool.stats();
    assert_eq!((stats.opened, stats.closed_invalid, server.accepted()), (2, 1, 2), "{stats:?}");
    pool.close();
    assert!(server.wait_for_live_at_most(0, Duration::from_secs(5)));
}

/// Sets some limits on a builder.
type Configure = fn(PoolBuilder<FakeConnector>) -> PoolBuilder<FakeConnector>;

#[test]
fn bad_limits_are_typed_errors_that_say_what_to_do() {
    let build = |configure: Configure| configure(Pool::builder(FakeConnector::reliable())).build().map(drop);
    let cases: [(Configure, ConfigError, &str); 4] = [
        (|b| b.max_open(0), ConfigError::ZeroMaxOpen, "pass 1 or more"),
        (
            |b| b.max_open(2).max_idle(3),
            ConfigError::MaxIdleAboveMaxOpen { max_idle: 3, max_open: 2 },
            "lower max_idle",
        ),
        (|b| b.max_lifetime(Duration::ZERO), ConfigError::ZeroMaxLifetime, "leave it unset"),
        (|b| b.idle_timeout(Duration::ZERO), ConfigError::ZeroIdleTimeout, "max_idle(0)"),
    ];
    for (configure, expected, advice) in cases {
        let error = build(configure).unwrap_err();
        assert_eq!(error, expected);
        assert!(error.to_string().contains(advice), "{error}");
    }
    assert!(build(|b| b.max_open(2).max_idle(0)).is_ok(), "keeping no idle connection is allowed");
}

/// Lifetimes, idle timeouts and the idle limit, on one thread with a manual clock.
mod expiry {
    use super::*;

    fn pool_with_clock(
        configure: impl FnOnce(PoolBuilder<FakeConnector>) -> PoolBuilder<FakeConnector>,
    ) -> (Pool<FakeConnector>, Arc<ManualClock>, Arc<Ledger>) {
        let connector = FakeConnector::reliable();
        let ledger = connector.ledger.clone();
        let clock = Arc::new(ManualClock::new());
        let pool = configure(Pool::builder(connector).clock(clock.clone())).build().expect("a valid configuration");
        (pool, clock, ledger)
    }

    #[test]
    fn a_connection_past_its_lifetime_is_replaced_in_its_own_slot() {
        let (pool, clock, ledger) = pool_with_clock(|b| b.max_open(1).max_lifetime(Duration::from_secs(10)));
        let first = pool.get().unwrap().id;
        clock.advance(Duration::from_secs(5));
        assert_eq!(pool.get().unwrap().id, first, "a young connection is reused");
        clock.advance(Duration::from_secs(5));
        let replaced = pool.get().unwrap();
        assert_ne!(replaced.id, first, "an expired connection was handed out");
        drop(replaced);
        let stats = pool.stats();
        assert_eq!((stats.opened, stats.closed, stats.closed_expired), (2, 1, 1), "{stats:?}");
        ledger.assert_at_rest(stats);
    }

    #[test]
    fn a_connection_reaching_its_lifetime_in_use_is_closed_on_return() {
        let (pool, clock, ledger) = pool_with_clock(|b| b.max_open(1).max_lifetime(Duration::from_secs(10)));
        let held = pool.get().unwrap();
        clock.advance(Duration::from_secs(10));
        assert!(held.age() >= Duration::from_secs(10));
        drop(held);
        let stats = pool.stats();
        assert_eq!((stats.open, stats.closed_expired), (0, 1), "{stats:?}");
        ledger.assert_at_rest(stats);
    }

    #[test]
    fn idle_connections_time_out_and_are_reaped() {
        let (pool, clock, ledger) = pool_with_clock(|b| b.max_open(3).idle_timeout(Duration::from_secs(60)));
        let held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
        drop(held);
        clock.advance(Duration::from_secs(30));
        drop(pool.get().unwrap()); // one is used again: its idle time starts over
        clock.advance(Duration::from_secs(31));
        assert_eq!(pool.reap_expired(), 2, "the two untouched connections timed out");
        let stats = pool.stats();
        assert_eq!((stats.open, stats.idle, stats.closed_expired), (1, 1, 2), "{stats:?}");
        ledger.assert_at_rest(stats);
    }

    #[test]
    fn a_request_retires_cold_idle_connections_it_passes() {
        let (pool, clock, ledger) = pool_with_clock(|b| b.max_open(3).idle_timeout(Duration::from_secs(60)));
        let held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
        drop(held);
        clock.advance(Duration::from_secs(61));
        // Every idle connection is stale: the request closes the cold ones and replaces
        // the warmest in its own slot.
        let fresh = pool.get().unwrap();
        assert_eq!(fresh.id, 3);
        drop(fresh);
        let stats = pool.stats();
        assert_eq!((stats.open, stats.closed_expired, stats.opened), (1, 3, 4), "{stats:?}");
        ledger.assert_at_rest(stats);
    }

    /// Every wait counts from when it queued to when it ended, served or given up; with
    /// and without a lifetime (whose clock reading then also starts the wait).
    #[test]
    fn time_spent_queued_is_counted_as_each_wait_ends() {
        let lifetimes = [None, Some(Duration::from_secs(3600))];
        for lifetime in lifetimes {
            let (pool, clock, ledger) = pool_with_clock(|b| match lifetime {
                Some(lifetime) => b.max_open(1).max_lifetime(lifetime),
                None => b.max_open(1),
            });
            let held = pool.get().unwrap();
            let mut served = tokio_test::task::spawn(pool.get_async());
            assert!(served.poll().is_pending(), "the only connection is checked out");
            let mut cancelled = tokio_test::task::spawn(pool.get_async());
            assert!(cancelled.poll().is_pending());
            clock.advance(Duration::from_secs(3));
            drop(cancelled);
            clock.advance(Duration::from_secs(2));
            drop(held);
            assert!(served.is_woken(), "the returned connection went to the queued request");
            let std::task::Poll::Ready(Ok(connection)) = served.poll() else {
                panic!("the woken request was not handed the returned connection");
            };
            drop(connection);
            let stats = pool.stats();
            let expected = (2, Duration::from_secs(5 + 3));
            assert_eq!((stats.wait_count, stats.wait_duration), expected, "lifetime {lifetime:?}: {stats:?}");
            ledger.assert_at_rest(stats);
        }
    }

    #[test]
    fn connections_beyond_max_idle_are_closed_on_return() {
        let (pool, _clock, ledger) = pool_with_clock(|b| b.max_open(3).max_idle(1));
        let held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
        drop(held);
        let stats = pool.stats();
        assert_eq!((stats.open, stats.idle, stats.closed_max_idle, stats.peak_open), (1, 1, 2, 3), "{stats:?}");
        ledger.assert_at_rest(stats);
    }

    #[test]
    fn a_connection_the_connector_refuses_is_replaced() {
        struct Picky(FakeConnector);
        impl Connector for Picky {
            type Connection = fake::FakeConnection;
            type Error = fake::Refused;
            fn validate(&self, connection: &mut fake::FakeConnection) -> bool {
                connection.id != 0
            }
            fn close(&self, connection: fake::FakeConnection) {
                self.0.close(connection);
            }
        }
        impl BlockingConnector for Picky {
            fn connect(&self) -> Result<fake::FakeConnection, fake::Refused> {
                self.0.connect()
            }
        }
        let connector = FakeConnector::reliable();
        let ledger = connector.ledger.clone();
        let pool = Pool::new(Picky(connector), 1).unwrap();
        drop(pool.get().unwrap()); // connection 0 is opened, used, returned
        assert_eq!(pool.get().unwrap().id, 1, "the refused connection was replaced");
        let stats = pool.stats();
        assert_eq!((stats.closed_invalid, stats.open), (1, 1), "{stats:?}");
        ledger.assert_at_rest(stats);
    }
}
