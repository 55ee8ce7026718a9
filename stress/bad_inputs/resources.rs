//! Rows for the connection pool (a fake connector that fails, hangs or panics in any of
//! its callbacks, and the real TCP connectors against a closed port) and for retry
//! (options no schedule can run, budgets of 0 and `Duration::MAX`, closers).

use super::collections::SHORT;
use super::table::{ensure, fixed, refused, row, same, Check, Class, Expect, Miss, Row};
use racekit::pool::tcp::{AsyncTcpConnector, TcpConnector, ZeroConnectTimeout};
use racekit::pool::{BlockingConnector, ConfigError, Connector, GetError, Pool, PoolStats};
use racekit::retry::{Closer, InvalidOptions, Options, RetryError, StopReason};
use racekit::sync::atomic::{AtomicUsize, Ordering};
use racekit::sync::{catch_unwind, task, thread, Arc, Latch};
use racekit::time::{ManualClock, SeededRng};
use std::net::SocketAddr;
use std::time::Duration;

/// What a [`Fake`] connector does in each callback.
#[derive(Clone, Copy, Default, PartialEq)]
pub enum Fault {
    /// Behaves.
    #[default]
    None,
    /// Returns an error (`connect`) or refuses (`validate`).
    Fail,
    /// Panics.
    Panic,
}

/// Connections are numbers; each callback misbehaves as told, and `gate` holds connects.
#[derive(Default)]
pub struct Fake {
    pub next: AtomicUsize,
    pub connect: Fault,
    pub validate: Fault,
    pub close: Fault,
    pub gate: Option<Arc<Latch>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the database is down")]
pub struct Down;

impl Connector for Fake {
    type Connection = usize;
    type Error = Down;

    fn validate(&self, _: &mut usize) -> bool {
        assert!(self.validate != Fault::Panic, "validate fails");
        self.validate == Fault::None
    }

    fn close(&self, _: usize) {
        assert!(self.close != Fault::Panic, "close fails");
    }
}

impl BlockingConnector for Fake {
    fn connect(&self) -> Result<usize, Down> {
        if let Some(gate) = &self.gate {
            gate.wait();
        }
        match self.connect {
            Fault::None => Ok(self.next.fetch_add(1, Ordering::SeqCst)),
            Fault::Fail => Err(Down),
            Fault::Panic => panic!("connect fails"),
        }
    }
}

fn pool(fake: Fake, max_open: usize) -> Pool<Fake> {
    Pool::new(fake, max_open).expect("a valid configuration")
}

/// Closes `pool` and checks that every connection is accounted for and closed.
fn drained<C: Connector>(pool: &Pool<C>) -> Result<PoolStats, Miss> {
    pool.close_timeout(Duration::from_secs(5)).map_err(|e| Miss::hang(e.to_string()))?;
    let stats = pool.stats();
    ensure(stats.is_conserved() && stats.is_drained(), || format!("{stats:?}"))?;
    Ok(stats)
}

fn build(
    configure: fn(racekit::pool::PoolBuilder<Fake>) -> racekit::pool::PoolBuilder<Fake>,
) -> Result<Pool<Fake>, ConfigError> {
    configure(Pool::builder(Fake::default())).build()
}

/// A loopback port that is bound but never listens, so every connect to it is refused
/// (a released port could be taken again by another test); keep the socket while it is used.
fn closed_port() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.bind("127.0.0.1:0".parse().unwrap()).expect("a loopback port");
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

fn options(configure: fn(&mut Options)) -> Options {
    let mut options =
        Options { initial_backoff: Duration::from_millis(1), max_backoff: Duration::from_millis(4), ..Options::new() };
    configure(&mut options);
    options
}

fn invalid(configure: fn(&mut Options), is_expected: fn(&InvalidOptions) -> bool, hint: &str) -> Check {
    refused(options(configure).schedule(ManualClock::new(), SeededRng::new(1)).map(drop), is_expected, hint)
}

/// Runs a loop of `options` whose every attempt fails; the outcome.
fn always_failing(options: &Options) -> Result<(), RetryError<&'static str>> {
    let retry = options.start(ManualClock::new(), SeededRng::new(1)).expect("valid options");
    retry.run(|_| Err::<(), _>("still down"))
}

pub fn rows() -> Vec<Row> {
    use Expect::*;
    vec![
        row("pool: max_open 0", TypedError, || {
            refused(build(|b| b.max_open(0)), |e| *e == ConfigError::ZeroMaxOpen, "1 or more")
        }),
        row("pool: max_idle above max_open", TypedError, || {
            refused(
                build(|b| b.max_open(2).max_idle(3)),
                |e| matches!(e, ConfigError::MaxIdleAboveMaxOpen { .. }),
                "lower max_idle",
            )
        }),
        row("pool: max_lifetime 0", TypedError, || {
            refused(
                build(|b| b.max_lifetime(Duration::ZERO)),
                |e| *e == ConfigError::ZeroMaxLifetime,
                "positive duration",
            )
        }),
        row("pool: idle_timeout 0", TypedError, || {
            refused(
                build(|b| b.idle_timeout(Duration::ZERO)),
                |e| *e == ConfigError::ZeroIdleTimeout,
                "positive duration",
            )
        }),
        row("pool: max_open usize::MAX opens only what is asked for", Documented, || {
            let pool = build(|b| b.max_open(usize::MAX)).map_err(|e| Miss::silent(e.to_string()))?;
            drop(pool.get().map_err(|e| Miss::silent(e.to_string()))?);
            same(drained(&pool)?.opened, 1)
        }),
        row("pool: max_idle 0 keeps nothing idle", Documented, || {
            let pool = build(|b| b.max_open(2).max_idle(0)).unwrap();
            drop(pool.get().unwrap());
            same((pool.stats().idle, pool.stats().closed_max_idle), (0, 1))
        }),
        row("pool: max_lifetime and idle_timeout Duration::MAX never expire", Documented, || {
            let pool = build(|b| b.max_lifetime(Duration::MAX).idle_timeout(Duration::MAX))
                .map_err(|e| Miss::silent(e.to_string()))?;
            drop(pool.get().unwrap());
            same((pool.reap_expired(), pool.stats().idle), (0, 1))
        }),
        row("pool: max_lifetime 1 ns: an expired connection is closed, not handed out", Documented, || {
            let pool = build(|b| b.max_lifetime(Duration::from_nanos(1))).unwrap();
            drop(pool.get().unwrap());
            thread::sleep(Duration::from_millis(1));
            let second = pool.get().map_err(|e| Miss::silent(e.to_string()))?;
            same(*second, 1)?;
            drop(second);
            ensure(drained(&pool)?.closed_expired >= 1, || "the expired connection was not counted".into())
        }),
        row("pool: get_timeout(0) on an exhausted pool", Bounded, || {
            let pool = pool(Fake::default(), 1);
            let held = pool.get().unwrap();
            let outcome = pool.get_timeout(Duration::ZERO).map(drop);
            drop(held);
            refused(outcome, |e| matches!(e, GetError::Timeout), "raise max_open")
        }),
        row("pool: get_timeout(1 ns) on an exhausted pool", Bounded, || {
            let pool = pool(Fake::default(), 1);
            let held = pool.get().unwrap();
            let outcome = pool.get_timeout(Duration::from_nanos(1)).map(drop);
            drop(held);
            refused(outcome, |e| matches!(e, GetError::Timeout), "wait longer")
        }),
        row("pool: get_timeout(Duration::MAX) on an exhausted pool, ended by a return", Bounded, || {
            let pool = Arc::new(pool(Fake::default(), 1));
            let held = pool.get().unwrap();
            let returner = thread::spawn(move || {
                thread::sleep(SHORT);
                drop(held);
            });
            let outcome = pool.get_timeout(Duration::MAX).map(|conn| *conn);
            returner.join().unwrap();
            ensure(matches!(outcome, Ok(0)), || format!("{outcome:?}"))?;
            drained(&pool).map(drop)
        }),
        row("pool: a blocking get on an exhausted pool, ended by close", Bounded, || {
            let pool = Arc::new(pool(Fake::default(), 1));
            let held = pool.get().unwrap();
            let closer = {
                let pool = pool.clone();
                thread::spawn(move || {
                    thread::sleep(SHORT);
                    pool.close_timeout(SHORT)
                })
            };
            let outcome = pool.get().map(drop);
            let _ = closer.join().unwrap();
            drop(held);
            refused(outcome, |e| matches!(e, GetError::Closed), "build a new pool")?;
            drained(&pool).map(drop)
        }),
        row("pool: get after close", TypedError, || {
            let pool = pool(Fake::default(), 1);
            pool.close();
            refused(pool.get().map(drop), |e| matches!(e, GetError::Closed), "build a new pool")
        }),
        row("pool: get_async after close", TypedError, || {
            let (_bound, addr) = closed_port();
            let pool = Pool::new(AsyncTcpConnector::new(addr), 1).unwrap();
            pool.close();
            refused(task::block_on(pool.get_async()).map(drop), |e| matches!(e, GetError::Closed), "build a new pool")
        }),
        row("pool: close twice", Documented, || {
            let pool = pool(Fake::default(), 1);
            pool.close();
            pool.close();
            same(pool.is_closed(), true)
        }),
        row("pool: close_timeout(0) with a connection checked out", TypedError, || {
            let pool = pool(Fake::default(), 1);
            let held = pool.get().unwrap();
            let outcome = pool.close_timeout(Duration::ZERO);
            drop(held);
            refused(outcome, |e| e.still_open == 1, "return every checked-out connection")?;
            drained(&pool).map(drop)
        }),
        row("pool: close_timeout(Duration::MAX), ended by the return", Bounded, || {
            let pool = pool(Fake::default(), 1);
            let held = pool.get().unwrap();
            let returner = thread::spawn(move || {
                thread::sleep(SHORT);
                drop(held);
            });
            let outcome = pool.close_timeout(Duration::MAX);
            returner.join().unwrap();
            same(outcome, Ok(()))
        }),
        row("pool: a connection returned after close is closed and counted", Documented, || {
            let pool = pool(Fake::default(), 1);
            let held = pool.get().unwrap();
            refused(pool.close_timeout(Duration::ZERO), |e| e.still_open == 1, "return every checked-out connection")?;
            drop(held);
            same(drained(&pool)?.closed, 1)
        }),
        row("pool: a discarded connection is closed and counted", Documented, || {
            let pool = pool(Fake::default(), 1);
            pool.get().unwrap().discard();
            same(drained(&pool)?.closed_discarded, 1)
        }),
        row("pool: a failing connect reaches its caller and returns its capacity", TypedError, || {
            let pool = pool(Fake { connect: Fault::Fail, ..Fake::default() }, 1);
            for _ in 0..3 {
                refused(pool.get().map(drop), |e| matches!(e, GetError::Connect(Down)), "the database is down")?;
            }
            let stats = drained(&pool)?;
            same((stats.connect_failures, stats.opened), (3, 0))
        }),
        row("pool: a failing connect behind get_timeout(Duration::MAX)", TypedError, || {
            let pool = pool(Fake { connect: Fault::Fail, ..Fake::default() }, 1);
            refused(
                pool.get_timeout(Duration::MAX).map(drop),
                |e| matches!(e, GetError::Connect(Down)),
                "capacity went back",
            )
        }),
        row("pool: a panicking connect reaches its caller and returns its capacity", CaughtPanic, || {
            let pool = Arc::new(pool(Fake { connect: Fault::Panic, ..Fake::default() }, 1));
            let getter = pool.clone();
            ensure(catch_unwind(move || getter.get().map(drop)).is_err(), || "the connector's panic vanished".into())?;
            same(drained(&pool)?.open, 0)
        }),
        row("pool: a hanging connect cannot hold get_timeout past its timeout", Bounded, || {
            let gate = Arc::new(Latch::new());
            let pool = pool(Fake { gate: Some(gate.clone()), ..Fake::default() }, 1);
            let outcome = pool.get_timeout(SHORT).map(drop);
            gate.set();
            refused(outcome, |e| matches!(e, GetError::Timeout), "wait longer")?;
            drained(&pool).map(drop)
        }),
        row("pool: a hanging connect cannot hold close_timeout past its timeout", Bounded, || {
            let gate = Arc::new(Latch::new());
            let pool = Arc::new(pool(Fake { gate: Some(gate.clone()), ..Fake::default() }, 1));
            let getter = {
                let pool = pool.clone();
                thread::spawn(move || pool.get().map(drop).is_ok())
            };
            thread::sleep(SHORT);
            let outcome = pool.close_timeout(SHORT);
            gate.set();
            let _ = getter.join();
            refused(outcome, |e| e.still_open == 1, "then wait again")?;
            drained(&pool).map(drop)
        }),
        row("pool: a connection that fails validation is closed and replaced", Documented, || {
            let pool = pool(Fake { validate: Fault::Fail, ..Fake::default() }, 1);
            drop(pool.get().unwrap());
            let second = pool.get().map(|conn| *conn).map_err(|e| Miss::silent(e.to_string()))?;
            same(second, 1)?;
            same(drained(&pool)?.closed_invalid, 1)
        }),
        fixed(
            "pool: a panicking validate is caught and counted as invalid",
            CaughtPanic,
            Class::Panic,
            "validate and close panics caught",
            || {
                let pool = Arc::new(pool(Fake { validate: Fault::Panic, ..Fake::default() }, 1));
                drop(pool.get().unwrap());
                let getter = pool.clone();
                let second = catch_unwind(move || getter.get().map(|conn| *conn).ok());
                same(second.ok().flatten(), Some(1))?;
                same(drained(&pool)?.closed_invalid, 1)
            },
        ),
        fixed(
            "pool: a panicking close is caught and the connection counted closed",
            CaughtPanic,
            Class::Panic,
            "validate and close panics caught",
            || {
                let pool = Arc::new(pool(Fake { close: Fault::Panic, ..Fake::default() }, 1));
                let conn = pool.get().unwrap();
                let caught = catch_unwind(move || conn.discard());
                ensure(caught.is_ok(), || "the close's panic reached the code that discarded the connection".into())?;
                let closer = pool.clone();
                drop(pool.get().unwrap());
                ensure(catch_unwind(move || closer.close()).is_ok(), || "the close's panic reached close()".into())?;
                same(drained(&pool)?.closed, 2)
            },
        ),
        row("tcp: connect_timeout(0)", TypedError, || {
            refused(
                TcpConnector::new(closed_port().1).connect_timeout(Duration::ZERO).map(drop),
                |e| *e == ZeroConnectTimeout,
                "positive duration",
            )
        }),
        row("tcp: a connect to a closed port reaches the caller", TypedError, || {
            let (_bound, addr) = closed_port();
            let connector = TcpConnector::new(addr).connect_timeout(Duration::MAX).unwrap();
            let pool = Pool::new(connector, 1).unwrap();
            refused(
                pool.get().map(drop),
                |e| matches!(e, GetError::Connect(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
                "went back",
            )?;
            same(drained(&pool)?.connect_failures, 1)
        }),
        row("tcp: an async connect to a closed port reaches the caller", TypedError, || {
            let (_bound, addr) = closed_port();
            let pool = Pool::new(AsyncTcpConnector::new(addr), 1).unwrap();
            let outcome = task::block_on(pool.get_async()).map(drop);
            refused(outcome, |e| matches!(e, GetError::Connect(_)), "went back")?;
            same(drained(&pool)?.connect_failures, 1)
        }),
        row("tcp: a pooled connection whose server hung up is replaced", Documented, || {
            let server = racekit::pool::tcp::TestServer::start().map_err(|e| Miss::unclear(e.to_string()))?;
            let pool = Pool::new(TcpConnector::new(server.addr()), 1).unwrap();
            drop(pool.get().unwrap());
            server.disconnect_all();
            ensure(server.wait_for_live_at_most(0, Duration::from_secs(5)), || {
                "the server kept its connection".into()
            })?;
            thread::sleep(SHORT);
            let mut conn = pool.get().map_err(|e| Miss::silent(e.to_string()))?;
            racekit::pool::tcp::ping(&mut conn)
                .map_err(|e| Miss::silent(format!("a dead connection was handed out: {e}")))?;
            drop(conn);
            drained(&pool).map(drop)
        }),
        row("retry: multiplier NaN", TypedError, || {
            invalid(|o| o.multiplier = f64::NAN, |e| matches!(e, InvalidOptions::Multiplier(_)), "at least 1")
        }),
        row("retry: multiplier +inf", TypedError, || {
            invalid(|o| o.multiplier = f64::INFINITY, |e| matches!(e, InvalidOptions::Multiplier(_)), "finite")
        }),
        row("retry: multiplier 0.5", TypedError, || {
            invalid(|o| o.multiplier = 0.5, |e| matches!(e, InvalidOptions::Multiplier(_)), "at least 1")
        }),
        row("retry: multiplier -1", TypedError, || {
            invalid(|o| o.multiplier = -1.0, |e| matches!(e, InvalidOptions::Multiplier(_)), "at least 1")
        }),
        row("retry: randomization factor NaN", TypedError, || {
            invalid(
                |o| o.randomization_factor = f64::NAN,
                |e| matches!(e, InvalidOptions::RandomizationFactor(_)),
                "from 0",
            )
        }),
        row("retry: randomization factor -0.1", TypedError, || {
            invalid(
                |o| o.randomization_factor = -0.1,
                |e| matches!(e, InvalidOptions::RandomizationFactor(_)),
                "from 0",
            )
        }),
        row("retry: randomization factor 1.5", TypedError, || {
            invalid(|o| o.randomization_factor = 1.5, |e| matches!(e, InvalidOptions::RandomizationFactor(_)), "to 1")
        }),
        row("retry: max backoff below the initial one", TypedError, || {
            invalid(|o| o.max_backoff = Duration::ZERO, |e| matches!(e, InvalidOptions::MaxBelowInitial { .. }), "")
        }),
        row("retry: max backoff Duration::MAX", TypedError, || {
            invalid(
                |o| o.max_backoff = Duration::MAX,
                |e| matches!(e, InvalidOptions::BackoffTooLong(_)),
                "use at most",
            )
        }),
        row("retry: zero attempts", TypedError, || {
            refused(Options::new().with_max_attempts(0).map(drop), |e| *e == InvalidOptions::ZeroAttempts, "at least 1")
        }),
        row("retry: u32::MAX attempts", Documented, || {
            let options = Options::new().with_max_attempts(u32::MAX).map_err(|e| Miss::silent(e.to_string()))?;
            same(options.max_retries, Some(u32::MAX - 1))
        }),
        row("retry: the async loop refuses what the sync one refuses", TypedError, || {
            let options = options(|o| o.multiplier = f64::NAN);
            refused(
                options.start_async(SeededRng::new(1)).map(drop),
                |e| matches!(e, InvalidOptions::Multiplier(_)),
                "at least 1",
            )
        }),
        row("retry: zero backoffs retry at once", Documented, || {
            let options = Options {
                initial_backoff: Duration::ZERO,
                max_backoff: Duration::ZERO,
                max_retries: Some(3),
                ..Options::new()
            };
            ensure(matches!(always_failing(&options), Err(RetryError::Exhausted { attempts: 4, .. })), || {
                "not four attempts".into()
            })
        }),
        row("retry: u32::MAX attempts with a closer closed after three", Documented, || {
            let closer = Closer::new();
            let options = Options { closer: Some(closer.clone()), ..options(|o| o.max_retries = Some(u32::MAX - 1)) };
            let retry = options.start(ManualClock::new(), SeededRng::new(1)).unwrap();
            let outcome = retry.run(|n| {
                if n == 3 {
                    closer.close();
                }
                Err::<(), _>("down")
            });
            ensure(matches!(outcome, Err(RetryError::Cancelled { attempts: 3, .. })), || format!("{outcome:?}"))
        }),
        row("retry: max_duration 0 makes one attempt", Documented, || {
            let outcome = always_failing(&options(|o| o.max_duration = Some(Duration::ZERO)));
            ensure(
                matches!(outcome, Err(RetryError::Exhausted { attempts: 1, reason: StopReason::DeadlineReached, .. })),
                || format!("{outcome:?}"),
            )
        }),
        row("retry: max_duration Duration::MAX is no deadline", Documented, || {
            let outcome = always_failing(&options(|o| {
                o.max_duration = Some(Duration::MAX);
                o.max_retries = Some(5);
            }));
            ensure(
                matches!(outcome, Err(RetryError::Exhausted { attempts: 6, reason: StopReason::RetriesExhausted, .. })),
                || format!("{outcome:?}"),
            )
        }),
        row("retry: preemptive cancel with max_duration Duration::MAX", Documented, || {
            let outcome = always_failing(&options(|o| {
                o.max_duration = Some(Duration::MAX);
                o.preemptive_cancel = true;
                o.max_retries = Some(2);
            }));
            ensure(matches!(outcome, Err(RetryError::Exhausted { attempts: 3, .. })), || format!("{outcome:?}"))
        }),
        row("retry: a closer closed before the loop starts", Documented, || {
            let closer = Closer::new();
            closer.close();
            let outcome = always_failing(&Options { closer: Some(closer), ..options(|_| ()) });
            ensure(matches!(outcome, Err(RetryError::Cancelled { .. })), || format!("{outcome:?}"))
        }),
        row("retry: an attempt that panics reaches the caller", Documented, || {
            let options = options(|_| ());
            let caught = catch_unwind(move || {
                let retry = options.start(ManualClock::new(), SeededRng::new(1)).unwrap();
                retry.run(|_| -> Result<(), &str> { panic!("the attempt fails") })
            });
            ensure(caught.is_err(), || "the attempt's panic vanished".into())
        }),
        row("retry: closer waits of 0, 1 ns and Duration::MAX", Bounded, || {
            let closer = Closer::new();
            same((closer.wait_timeout(Duration::ZERO), closer.wait_timeout(Duration::from_nanos(1))), (false, false))?;
            let other = closer.clone();
            let waiter = thread::spawn(move || other.wait_timeout(Duration::MAX));
            thread::sleep(SHORT);
            same((closer.close(), closer.close(), waiter.join().unwrap()), (true, false, true))
        }),
        row("retry: an async loop with a closer closed before it starts", Documented, || {
            let closer = Closer::new();
            closer.close();
            let options = Options { closer: Some(closer), ..options(|_| ()) };
            let retry = options.start_async(SeededRng::new(1)).unwrap();
            let outcome = task::block_on(retry.run(|_| async { Err::<(), _>("down") }));
            ensure(matches!(outcome, Err(RetryError::Cancelled { .. })), || format!("{outcome:?}"))
        }),
    ]
}
