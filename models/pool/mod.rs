//! Models of the connection pool: hand-off, no lost wake-up, timeouts and cancellation at
//! every point of the hand-off, connect failures racing waiters, close.
//!
//! The blocking scenarios are generic over [`PoolUnderTest`], so the mutants in
//! [`mutants`] run the very scenarios the real pool passes. The async scenarios (tasks on
//! shuttle's executor through shuttle-tokio) run on the real pool only; loom cannot run
//! tokio, so they are built without `--cfg racekit_loom`.
//!
//! Every transition of the real pool also asserts its invariants (conservation, bounds,
//! nobody waiting while a connection is idle or capacity free) when debug assertions are
//! on, so each explored step checks them, not just the end of each scenario.

mod fake;
mod mutants;

use crate::support::expect_sound;
use fake::{FakeConnector, Ledger};
use racekit::model::Model;
use racekit::pool::{GetError, Pool, PoolStats, PooledConnection};
use racekit::sync::{thread, Arc};
use std::time::Duration;

/// Why a model's request got no connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Timeout,
    Closed,
    ConnectFailed,
}

/// What the scenarios need of a pool.
pub trait PoolUnderTest: Send + Sync + 'static {
    /// A checked-out connection; dropping it returns it.
    type Lease: Send + 'static;
    fn build(max_open: usize, connector: FakeConnector) -> Self;
    fn get(&self, timeout: Option<Duration>) -> Result<Self::Lease, Refusal>;
    fn close(&self);
    fn stats(&self) -> PoolStats;
}

impl PoolUnderTest for Pool<FakeConnector> {
    type Lease = PooledConnection<FakeConnector>;

    fn build(max_open: usize, connector: FakeConnector) -> Self {
        Pool::new(connector, max_open).expect("a valid configuration")
    }

    fn get(&self, timeout: Option<Duration>) -> Result<Self::Lease, Refusal> {
        let got = match timeout {
            Some(timeout) => self.get_timeout(timeout),
            None => Pool::get(self),
        };
        got.map_err(refusal)
    }

    fn close(&self) {
        Pool::close(self);
    }

    fn stats(&self) -> PoolStats {
        Pool::stats(self)
    }
}

fn refusal<E>(error: GetError<E>) -> Refusal {
    match error {
        GetError::Timeout => Refusal::Timeout,
        GetError::Closed => Refusal::Closed,
        GetError::Connect(_) => Refusal::ConnectFailed,
    }
}

/// A pool of one connection over `connector`, and the connector's ledger.
fn pool_of_one<P: PoolUnderTest>(connector: FakeConnector) -> (Arc<P>, std::sync::Arc<Ledger>) {
    let ledger = connector.ledger.clone();
    (Arc::new(P::build(1, connector)), ledger)
}

/// Joins a thread, re-raising its panic as it was (so a failure reads as the assertion
/// that failed, not as a failed join).
fn join<T>(handle: thread::JoinHandle<T>) -> T {
    handle.join().unwrap_or_else(|payload| std::panic::resume_unwind(payload))
}

/// Closes the pool and checks the close was complete and is sticky.
fn assert_closes_completely<P: PoolUnderTest>(pool: &P, ledger: &Ledger) {
    pool.close();
    let stats = pool.stats();
    assert!(stats.is_closed && stats.open == 0, "close returned with connections open: {stats:?}");
    assert_eq!(ledger.live(), 0, "close returned before every connection was closed: {stats:?}");
    assert_eq!(pool.get(None).err(), Some(Refusal::Closed), "a closed pool handed out a connection");
}

/// One connection, held by the main thread; a second thread asks for it (with a timeout
/// the checker fires or not, when `timed`) while the main thread returns it. Whether or
/// not the waiter was served, the connection ends idle and usable: never lost in the
/// hand-off, never stranded with a waiter asleep.
fn hand_off<P: PoolUnderTest>(timed: bool) {
    let (pool, ledger) = pool_of_one::<P>(FakeConnector::reliable());
    let held = pool.get(None).expect("the pool has free capacity");
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || match pool.get(timed.then_some(Duration::from_millis(1))) {
            Ok(lease) => drop(lease),
            Err(Refusal::Timeout) => assert!(timed, "an untimed request timed out"),
            Err(other) => panic!("the waiter was refused: {other:?}"),
        })
    };
    drop(held);
    join(waiter);
    let stats = pool.stats();
    ledger.assert_at_rest(stats);
    assert_eq!(stats.open, 1, "the one connection is gone: {stats:?}");
    drop(pool.get(None).expect("the returned connection is served again"));
    assert_closes_completely(&*pool, &ledger);
}

/// Two threads race for the one slot of a pool whose connects the checker may fail: the
/// failure reaches its caller and releases the slot to the other, who is never left
/// waiting on it.
fn connect_failure_races_a_waiter<P: PoolUnderTest>() {
    let (pool, ledger) = pool_of_one::<P>(FakeConnector::flaky());
    let requests: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || match pool.get(None) {
                Ok(lease) => drop(lease),
                Err(Refusal::ConnectFailed) => {}
                Err(other) => panic!("a request was refused: {other:?}"),
            })
        })
        .collect();
    for request in requests {
        join(request);
    }
    let stats = pool.stats();
    ledger.assert_at_rest(stats);
    assert_eq!(stats.connect_failures, ledger.failed(), "a failed connect went uncounted: {stats:?}");
    assert_closes_completely(&*pool, &ledger);
}

/// Close races a checked-out connection and a waiter: the waiter is released (served
/// first, or refused), close returns only once the connection is back and closed, and
/// the pool stays closed.
fn close_races_a_holder_and_a_waiter<P: PoolUnderTest>() {
    let (pool, ledger) = pool_of_one::<P>(FakeConnector::reliable());
    let held = pool.get(None).expect("the pool has free capacity");
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || match pool.get(None) {
            Ok(lease) => drop(lease),
            Err(Refusal::Closed) => {}
            Err(other) => panic!("the waiter was refused: {other:?}"),
        })
    };
    let closer = {
        let pool = pool.clone();
        let ledger = ledger.clone();
        thread::spawn(move || assert_closes_completely(&*pool, &ledger))
    };
    drop(held);
    join(waiter);
    join(closer);
    let stats = pool.stats();
    assert!(stats.is_drained(), "{stats:?}");
    assert_eq!(ledger.live(), 0);
}

#[test]
fn a_returned_connection_reaches_the_blocked_waiter() {
    expect_sound(Model::named("pool: hand-off"), || hand_off::<Pool<FakeConnector>>(false));
}

#[test]
fn a_waiter_timing_out_at_the_hand_off_loses_nothing() {
    expect_sound(Model::named("pool: timed hand-off"), || hand_off::<Pool<FakeConnector>>(true));
}

#[test]
fn a_connect_failure_releases_its_slot_to_the_waiter() {
    expect_sound(Model::named("pool: connect failure"), connect_failure_races_a_waiter::<Pool<FakeConnector>>);
}

#[test]
fn close_waits_for_the_holder_releases_the_waiter_and_stays_closed() {
    expect_sound(Model::named("pool: close"), close_races_a_holder_and_a_waiter::<Pool<FakeConnector>>);
}

#[test]
fn two_waiters_are_served_first_come_first_served() {
    // max_open 1: the main thread holds the connection while two threads queue one after
    // the other; the first to queue is served first.
    expect_sound(Model::named("pool: FIFO"), || {
        let (pool, ledger) = pool_of_one::<Pool<FakeConnector>>(FakeConnector::reliable());
        let order = Arc::new(racekit::sync::Mutex::new(Vec::new()));
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
mod cancellation {
    use super::*;
    use racekit::model::choose;
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

    #[test]
    fn an_async_request_cancelled_at_any_point_of_the_hand_off_loses_nothing() {
        expect_sound(Model::named("pool: async cancellation"), || {
            task::block_on(async {
                let (pool, ledger) = pool_of_one::<Pool<FakeConnector>>(FakeConnector::reliable());
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
        });
    }

    #[test]
    fn a_request_cancelled_while_connecting_releases_its_slot() {
        // Two requests on a one-slot pool whose connects may fail; the first may be
        // cancelled before, while, or after it connects. The second is never stranded.
        expect_sound(Model::named("pool: cancelled connect"), || {
            task::block_on(async {
                let (pool, ledger) = pool_of_one::<Pool<FakeConnector>>(FakeConnector::flaky());
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
        });
    }

    #[test]
    fn an_aborted_task_waiting_for_a_connection_loses_nothing() {
        expect_sound(Model::named("pool: aborted waiter"), || {
            task::block_on(async {
                let (pool, ledger) = pool_of_one::<Pool<FakeConnector>>(FakeConnector::reliable());
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

    #[test]
    fn async_close_waits_for_the_holder_and_refuses_the_waiter() {
        expect_sound(Model::named("pool: async close"), || {
            task::block_on(async {
                let (pool, ledger) = pool_of_one::<Pool<FakeConnector>>(FakeConnector::reliable());
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
        });
    }

    #[test]
    fn a_blocked_thread_and_a_waiting_task_share_one_connection() {
        // The same queue serves both kinds of waiter: one wakes through its condition
        // variable, the other through its waker; neither is stranded.
        expect_sound(Model::named("pool: thread and task"), || {
            let (pool, ledger) = pool_of_one::<Pool<FakeConnector>>(FakeConnector::reliable());
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
