//! Models of the connection pool: hand-off, no lost wake-up, timeouts and cancellation at
//! every point of the hand-off, connect failures racing waiters, replacement, the idle
//! limit, reaping, close.
//!
//! Every scenario runs the real [`Pool`] over a test connector ([`fake`]). The mutant tests
//! in [`mutants`] switch on one of the pool's mutation points (bugs planted in the code
//! that ships, see `racekit::mutation`) and pin the symptom each backend reports when the
//! same scenario meets it. The async scenarios (tasks on shuttle's executor through
//! shuttle-tokio) are built without `--cfg racekit_loom`: loom cannot run tokio.
//!
//! Every transition of the pool also asserts its invariants (conservation, bounds,
//! nobody waiting while a connection is idle or capacity free) when debug assertions are
//! on, so each explored step checks them, not just the end of each scenario.

mod fake;
mod mutants;

use crate::support::expect_sound;
use fake::{FakeConnector, Ledger};
use racekit::model::Model;
use racekit::pool::{GetError, Pool};
use racekit::sync::thread;
use racekit::time::ManualClock;
use std::sync::Arc as StdArc;
use std::time::Duration;

type TestPool = Pool<FakeConnector>;

/// The timeout of the scenarios' timed waits. The model checkers fire a timeout or not as a
/// choice, whatever its length; on real threads it is about as long as starting a thread,
/// so that the timeout firing and the other thread's move meet now and then.
const SHORT_TIMEOUT: Duration = Duration::from_micros(100);

/// A pool of one connection over `connector`, and the connector's ledger.
fn pool_of_one(connector: FakeConnector) -> (TestPool, StdArc<Ledger>) {
    let ledger = connector.ledger.clone();
    (Pool::new(connector, 1).expect("a valid configuration"), ledger)
}

/// Joins a thread, re-raising its panic as it was (so a failure reads as the assertion
/// that failed, not as a failed join).
fn join<T>(handle: thread::JoinHandle<T>) -> T {
    handle.join().unwrap_or_else(|payload| std::panic::resume_unwind(payload))
}

/// Closes the pool and checks the close was complete and is sticky.
fn assert_closes_completely(pool: &TestPool, ledger: &Ledger) {
    pool.close();
    let stats = pool.stats();
    assert!(stats.is_closed && stats.open == 0, "close returned with connections open: {stats:?}");
    assert_eq!(ledger.live(), 0, "close returned before every connection was closed: {stats:?}");
    assert!(matches!(pool.get(), Err(GetError::Closed)), "a closed pool handed out a connection");
}

/// One connection, held by the main thread; a second thread asks for it (with a timeout
/// the checker fires or not, when `timed`) while the main thread returns it. Whether or
/// not the waiter was served, the connection ends idle and usable: never lost in the
/// hand-off, never stranded with a waiter asleep.
fn hand_off(timed: bool) {
    let (pool, ledger) = pool_of_one(FakeConnector::reliable());
    let held = pool.get().expect("the pool has free capacity");
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || {
            let got = if timed { pool.get_timeout(SHORT_TIMEOUT) } else { pool.get() };
            match got {
                Ok(lease) => drop(lease),
                Err(GetError::Timeout) => assert!(timed, "an untimed request timed out"),
                Err(other) => panic!("the waiter was refused: {other}"),
            }
        })
    };
    drop(held);
    join(waiter);
    let stats = pool.stats();
    ledger.assert_at_rest(stats);
    assert_eq!(stats.open, 1, "the one connection is gone: {stats:?}");
    drop(pool.get().expect("the returned connection is served again"));
    assert_closes_completely(&pool, &ledger);
}

fn untimed_hand_off() {
    hand_off(false);
}

fn timed_hand_off() {
    hand_off(true);
}

/// Two threads race for the one slot of a pool whose connects the checker may fail: the
/// failure reaches its caller and releases the slot to the other, who is never left
/// waiting on it.
fn connect_failure_races_a_waiter() {
    let (pool, ledger) = pool_of_one(FakeConnector::flaky());
    let requests: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || match pool.get() {
                Ok(lease) => drop(lease),
                Err(GetError::Connect(_)) => {}
                Err(other) => panic!("a request was refused: {other}"),
            })
        })
        .collect();
    for request in requests {
        join(request);
    }
    let stats = pool.stats();
    ledger.assert_at_rest(stats);
    assert_eq!(stats.connect_failures, ledger.failed(), "a failed connect went uncounted: {stats:?}");
    assert_closes_completely(&pool, &ledger);
}

/// Close races a checked-out connection and a waiter: the waiter is released (served
/// first, or refused), close returns only once the connection is back and closed, and
/// the pool stays closed.
fn close_races_a_holder_and_a_waiter() {
    let (pool, ledger) = pool_of_one(FakeConnector::reliable());
    let held = pool.get().expect("the pool has free capacity");
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || match pool.get() {
            Ok(lease) => drop(lease),
            Err(GetError::Closed) => {}
            Err(other) => panic!("the waiter was refused: {other}"),
        })
    };
    let closer = {
        let (pool, ledger) = (pool.clone(), ledger.clone());
        thread::spawn(move || assert_closes_completely(&pool, &ledger))
    };
    drop(held);
    join(waiter);
    join(closer);
    let stats = pool.stats();
    assert!(stats.is_drained(), "{stats:?}");
    assert_eq!(ledger.live(), 0);
}

/// A bounded close races the return of the one checked-out connection (its timeout fired
/// or not by the checker): it reports success exactly when the pool drained, and a
/// timeout names the connections still open then.
fn close_timeout_races_the_return() {
    let (pool, ledger) = pool_of_one(FakeConnector::reliable());
    let held = pool.get().expect("the pool has free capacity");
    let returner = thread::spawn(move || drop(held));
    match pool.close_timeout(SHORT_TIMEOUT) {
        Ok(()) => assert_eq!(ledger.live(), 0, "close_timeout succeeded with a connection open"),
        Err(timed_out) => assert!(timed_out.still_open > 0, "close_timeout timed out on a drained pool: {timed_out}"),
    }
    join(returner);
    assert_closes_completely(&pool, &ledger);
}

/// A request checks out the idle connection, which fails validation, so the pool closes
/// it and opens a replacement in its slot, while the pool is closed: the request gets the
/// replacement or is refused, and close returns once both are closed.
fn replacement_races_close() {
    let (pool, ledger) = pool_of_one(FakeConnector::refusing_reuse());
    drop(pool.get().expect("the pool has free capacity"));
    let request = {
        let pool = pool.clone();
        thread::spawn(move || match pool.get() {
            Ok(replacement) => assert_eq!(replacement.id, 1, "a connection that failed validation was handed out"),
            Err(GetError::Closed) => {}
            Err(other) => panic!("the request was refused: {other}"),
        })
    };
    assert_closes_completely(&pool, &ledger);
    join(request);
    let stats = pool.stats();
    assert!(stats.is_drained(), "{stats:?}");
    assert!(stats.closed_invalid <= 1, "{stats:?}");
}

/// The connector's close reads the pool (its contract allows any call back into the
/// pool) while a returned connection is closed (no idle connection is kept) and another
/// request races it: the close sees its connection still counted as open.
fn close_calls_back_into_the_pool() {
    let connector = FakeConnector::reliable();
    let ledger = connector.ledger.clone();
    let pool = Pool::builder(connector.clone()).max_open(1).max_idle(0).build().expect("a valid configuration");
    let watched = pool.clone();
    connector.call_back_on_close(move || {
        let stats = watched.stats();
        assert!(stats.closing >= 1 && stats.open >= 1, "a connection being closed no longer counts as open: {stats:?}");
    });
    let held = pool.get().expect("the pool has free capacity");
    let request = {
        let pool = pool.clone();
        thread::spawn(move || drop(pool.get().expect("the request is served")))
    };
    drop(held);
    join(request);
    connector.stop_calling_back();
    let stats = pool.stats();
    ledger.assert_at_rest(stats);
    assert_eq!((stats.open, stats.closed_max_idle), (0, stats.opened), "max_idle 0 keeps nothing: {stats:?}");
    assert_closes_completely(&pool, &ledger);
}

/// Two connections come back at once to a pool that keeps one idle: one is kept, the
/// other closed and counted as closed for the idle limit.
fn returns_beyond_max_idle() {
    let connector = FakeConnector::reliable();
    let ledger = connector.ledger.clone();
    let pool = Pool::builder(connector).max_open(2).max_idle(1).build().expect("a valid configuration");
    let first = pool.get().expect("the pool has free capacity");
    let second = pool.get().expect("the pool has free capacity");
    let returner = thread::spawn(move || drop(first));
    drop(second);
    join(returner);
    let stats = pool.stats();
    ledger.assert_at_rest(stats);
    assert_eq!((stats.idle, stats.closed_max_idle), (1, 1), "{stats:?}");
    assert_closes_completely(&pool, &ledger);
}

/// The one idle connection has outlived its idle timeout; a reaper and a request race
/// for it: whichever takes it, it is closed (never handed out) and counted as expired,
/// and the request gets a new connection.
fn reaping_races_a_request() {
    let clock = StdArc::new(ManualClock::new());
    let connector = FakeConnector::reliable();
    let ledger = connector.ledger.clone();
    let pool = Pool::builder(connector)
        .max_open(1)
        .idle_timeout(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .expect("a valid configuration");
    drop(pool.get().expect("the pool has free capacity"));
    clock.advance(Duration::from_secs(2));
    let reaper = {
        let pool = pool.clone();
        thread::spawn(move || pool.reap_expired())
    };
    let fresh = pool.get().expect("the expired connection is replaced");
    assert_eq!(fresh.id, 1, "an expired connection was handed out");
    drop(fresh);
    assert!(join(reaper) <= 1);
    let stats = pool.stats();
    ledger.assert_at_rest(stats);
    assert_eq!(stats.closed_expired, 1, "{stats:?}");
    assert_closes_completely(&pool, &ledger);
}

#[test]
fn a_returned_connection_reaches_the_blocked_waiter() {
    expect_sound(Model::named("pool: hand-off"), untimed_hand_off);
}

#[test]
fn a_waiter_timing_out_at_the_hand_off_loses_nothing() {
    expect_sound(Model::named("pool: timed hand-off"), timed_hand_off);
}

#[test]
fn a_connect_failure_releases_its_slot_to_the_waiter() {
    expect_sound(Model::named("pool: connect failure"), connect_failure_races_a_waiter);
}

#[test]
fn close_waits_for_the_holder_releases_the_waiter_and_stays_closed() {
    expect_sound(Model::named("pool: close"), close_races_a_holder_and_a_waiter);
}

#[test]
fn a_bounded_close_reports_a_timeout_only_with_connections_open() {
    expect_sound(Model::named("pool: close timeout"), close_timeout_races_the_return);
}

#[test]
fn a_replacement_racing_close_is_closed_and_close_returns() {
    expect_sound(Model::named("pool: replacement and close"), replacement_races_close);
}

#[test]
fn the_connectors_close_may_call_back_into_the_pool() {
    expect_sound(Model::named("pool: close calls back"), close_calls_back_into_the_pool);
}

#[test]
fn returns_beyond_max_idle_are_closed_and_counted() {
    expect_sound(Model::named("pool: max idle"), returns_beyond_max_idle);
}

#[test]
fn an_expired_connection_is_closed_once_whoever_finds_it() {
    expect_sound(Model::named("pool: reaping"), reaping_races_a_request);
}

#[test]
fn two_waiters_are_served_first_come_first_served() {
    // max_open 1: the main thread holds the connection while two threads queue one after
    // the other; the first to queue is served first.
    expect_sound(Model::named("pool: FIFO"), || {
        let (pool, ledger) = pool_of_one(FakeConnector::reliable());
        let order = racekit::sync::Arc::new(racekit::sync::Mutex::new(Vec::new()));
        let held = pool.get().unwrap();
        let spawn_waiter = |name: &'static str| {
            let (pool, order) = (pool.clone(), order.clone());
            thread::spawn(move || {
                let lease = pool.get().unwrap();
                order.lock().push((name, lease.id));
                drop(lease);
            })
        };
        let first = spawn_waiter("first");
        while pool.stats().waiting < 1 {
            thread::yield_now();
        }
        let second = spawn_waiter("second");
        while pool.stats().waiting < 2 {
            thread::yield_now();
        }
        drop(held);
        join(first);
        join(second);
        // Both are handed the one connection in turn; none is reopened.
        assert_eq!(*order.lock(), [("first", 0), ("second", 0)], "waiters were served out of order");
        assert_eq!(pool.stats().wait_count, 2);
        ledger.assert_at_rest(pool.stats());
    });
}

/// The async API under shuttle's executor: cancellation at every await point.
#[cfg(not(racekit_loom))]
pub mod cancellation {
    use super::*;
    use racekit::model::choose;
    use racekit::pool::PooledConnection;
    use racekit::sync::task;
    use std::future::Future;
    use std::pin::{pin, Pin};
    use std::task::Poll;

    /// Polls a future once, without waiting.
    async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
    }

    /// A request that is polled `polls` times (yielding in between), then dropped if it
    /// has not completed: cancelled before queueing (0), while queued, or just after a
    /// connection or capacity was handed to it.
    async fn request_cancelled_after(
        pool: Pool<FakeConnector>,
        polls: usize,
    ) -> Option<Result<(), GetError<fake::Refused>>> {
        let mut request = pin!(pool.get_async());
        for _ in 0..polls {
            if let Poll::Ready(got) = poll_once(&mut request).await {
                return Some(got.map(drop));
            }
            tokio::task::yield_now().await;
        }
        None
    }

    /// A task that asks for a connection and returns it at once.
    fn spawn_request(pool: &Pool<FakeConnector>) -> task::JoinHandle<Result<(), GetError<fake::Refused>>> {
        let pool = pool.clone();
        task::spawn(async move { pool.get_async().await.map(drop) })
    }

    /// A task that returns `held` after a yield.
    fn spawn_return(held: PooledConnection<FakeConnector>) -> task::JoinHandle<()> {
        task::spawn(async move {
            tokio::task::yield_now().await;
            drop(held);
        })
    }

    /// Closes the pool and checks every connection was closed.
    async fn close_completely(pool: &Pool<FakeConnector>, ledger: &Ledger) {
        pool.close_async().await;
        assert_eq!(ledger.live(), 0, "close resolved before every connection was closed");
    }

    fn polls_chosen_by_the_checker() -> usize {
        usize::from(choose()) + usize::from(choose()) + usize::from(choose())
    }

    /// One connection, held; a request polled a number of times the checker picks, then
    /// dropped if not served, while the holder returns the connection: cancelled before
    /// queueing, while queued, or just after the hand-off, it loses nothing.
    pub fn request_cancelled_at_the_hand_off() {
        task::block_on(async {
            let (pool, ledger) = pool_of_one(FakeConnector::reliable());
            let held = pool.get_async().await.unwrap();
            let polls = polls_chosen_by_the_checker();
            let waiter = task::spawn(request_cancelled_after(Pool::clone(&pool), polls));
            let returner = spawn_return(held);
            if let Some(got) = waiter.await.unwrap() {
                got.expect("a request served before its cancellation got the connection");
            }
            returner.await.unwrap();
            let stats = pool.stats();
            ledger.assert_at_rest(stats);
            assert_eq!(stats.open, 1, "the connection was lost at the hand-off: {stats:?}");
            let again = pool.get_async().await.expect("the connection is served again at once");
            assert_eq!(again.id, 0, "the one connection was replaced, not reused");
            drop(again);
            close_completely(&pool, &ledger).await;
        });
    }

    #[test]
    fn an_async_request_cancelled_at_any_point_of_the_hand_off_loses_nothing() {
        expect_sound(Model::named("pool: async cancellation"), request_cancelled_at_the_hand_off);
    }

    /// Two requests on a one-slot pool whose connects may fail; the first may be cancelled
    /// before, while, or after it connects. The second is never stranded.
    pub fn request_cancelled_while_connecting() {
        task::block_on(async {
            let (pool, ledger) = pool_of_one(FakeConnector::flaky());
            let polls = polls_chosen_by_the_checker();
            let cancelled = task::spawn(request_cancelled_after(Pool::clone(&pool), polls));
            let patient = spawn_request(&pool);
            let outcomes = [cancelled.await.unwrap(), Some(patient.await.unwrap())];
            for outcome in outcomes.into_iter().flatten() {
                assert!(matches!(outcome, Ok(()) | Err(GetError::Connect(_))), "{outcome:?}");
            }
            let stats = pool.stats();
            ledger.assert_at_rest(stats);
            assert_eq!(stats.connect_failures, ledger.failed());
            close_completely(&pool, &ledger).await;
        });
    }

    #[test]
    fn a_request_cancelled_while_connecting_releases_its_slot() {
        expect_sound(Model::named("pool: cancelled connect"), request_cancelled_while_connecting);
    }

    #[test]
    fn an_aborted_task_waiting_for_a_connection_loses_nothing() {
        expect_sound(Model::named("pool: aborted waiter"), || {
            task::block_on(async {
                let (pool, ledger) = pool_of_one(FakeConnector::reliable());
                let held = pool.get_async().await.unwrap();
                let waiter = spawn_request(&pool);
                tokio::task::yield_now().await;
                if choose() {
                    drop(held);
                    tokio::task::yield_now().await;
                    waiter.abort();
                } else {
                    waiter.abort();
                    drop(held);
                }
                // Aborted or finished first: either way nothing is held.
                let _ = waiter.await;
                let stats = pool.stats();
                ledger.assert_at_rest(stats);
                assert_eq!(stats.open, 1, "{stats:?}");
            });
        });
    }

    /// Close, awaited, races a holder returning the one connection and a queued request:
    /// it resolves once the connection is closed, and the request is served or refused.
    pub fn async_close_with_a_holder_and_a_waiter() {
        task::block_on(async {
            let (pool, ledger) = pool_of_one(FakeConnector::reliable());
            let held = pool.get_async().await.unwrap();
            let waiter = spawn_request(&pool);
            let returner = spawn_return(held);
            close_completely(&pool, &ledger).await;
            let refused = waiter.await.unwrap();
            assert!(matches!(refused, Ok(()) | Err(GetError::Closed)), "{refused:?}");
            returner.await.unwrap();
            assert!(matches!(pool.get_async().await, Err(GetError::Closed)), "close is not sticky");
            assert!(pool.stats().is_drained(), "{:?}", pool.stats());
        });
    }

    #[test]
    fn async_close_waits_for_the_holder_and_refuses_the_waiter() {
        expect_sound(Model::named("pool: async close"), async_close_with_a_holder_and_a_waiter);
    }

    #[test]
    fn a_blocked_thread_and_a_waiting_task_share_one_connection() {
        // The same queue serves both kinds of waiter: one wakes through its condition
        // variable, the other through its waker; neither is stranded.
        expect_sound(Model::named("pool: thread and task"), || {
            let (pool, ledger) = pool_of_one(FakeConnector::reliable());
            let held = pool.get().unwrap();
            let thread_waiter = {
                let pool = pool.clone();
                thread::spawn(move || drop(pool.get().expect("the thread is served")))
            };
            task::block_on(async {
                let task_waiter = spawn_request(&pool);
                spawn_return(held).await.unwrap();
                task_waiter.await.unwrap().expect("the task is served");
            });
            join(thread_waiter);
            let stats = pool.stats();
            ledger.assert_at_rest(stats);
            assert_eq!(stats.opened, 1, "the connection was reopened instead of handed on: {stats:?}");
        });
    }
}
