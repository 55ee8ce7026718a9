//! Buggy variants of the pool, each wrong in one place, all sharing one small hand-off
//! implementation (a FIFO queue of waiters, each granted a connection or capacity under
//! the lock before it is woken) so that every other line is the same as in a correct pool.
//! Each runs the same scenario the real pool passes above.

use super::fake::{FakeConnection, FakeConnector};
use super::*;
use crate::support::{expect_caught, MODEL_CHECKER};
use racekit::model::FailureKind;
use racekit::pool::{BlockingConnector, Connector};
use racekit::sync::{Condvar, Mutex, MutexGuard};
use std::collections::VecDeque;

const IDLE_CHECK_SEPARATE_FROM_THE_WAIT: u8 = 1;
const TIMEOUT_AFTER_HAND_OFF_DROPS_THE_CONNECTION: u8 = 2;
const CONNECT_FAILURE_KEEPS_THE_CAPACITY: u8 = 3;
const CLOSED_OUT_WAITER_RETURNS_WHAT_IT_NEVER_HELD: u8 = 4;
const CLOSE_RETURNS_BEFORE_CONNECTIONS_ARE_BACK: u8 = 5;
const CLOSE_WAKES_NO_WAITER: u8 = 6;
const RETURN_SKIPS_THE_QUEUE: u8 = 7;

enum Grant {
    Connection(FakeConnection),
    Open,
}

#[derive(Default)]
struct State {
    idle: Vec<FakeConnection>,
    open: usize,
    in_use: usize,
    opening: usize,
    waiting: VecDeque<(u64, Arc<Condvar>)>,
    granted: Vec<(u64, Grant)>,
    next_ticket: u64,
    closed: bool,
    opened: u64,
    closed_count: u64,
    connect_failures: u64,
}

fn decrement(counter: &mut usize) {
    *counter = counter.checked_sub(1).expect("a pool counter went below zero");
}

struct Inner<const BUG: u8> {
    connector: FakeConnector,
    max_open: usize,
    state: Mutex<State>,
    drained: Condvar,
}

pub struct MutantPool<const BUG: u8>(Arc<Inner<BUG>>);

pub struct MutantLease<const BUG: u8> {
    inner: Arc<Inner<BUG>>,
    connection: Option<FakeConnection>,
}

impl<const BUG: u8> Drop for MutantLease<BUG> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some(connection) = self.connection.take() {
            self.inner.put_back(connection);
        }
    }
}

impl<const BUG: u8> Inner<BUG> {
    /// Closes a connection and gives its capacity up (the scaffold closes under the lock:
    /// the fake's close only counts).
    fn close_one(&self, state: &mut State, connection: FakeConnection) {
        self.connector.close(connection);
        state.closed_count += 1;
        decrement(&mut state.open);
        self.after_capacity_freed(state);
    }

    fn after_capacity_freed(&self, state: &mut State) {
        while !state.closed && state.open < self.max_open {
            let Some((ticket, condvar)) = state.waiting.pop_front() else { break };
            state.open += 1;
            state.opening += 1;
            state.granted.push((ticket, Grant::Open));
            condvar.notify_one();
        }
        if state.closed && state.open == 0 {
            self.drained.notify_all();
        }
    }

    fn put_back(&self, connection: FakeConnection) {
        let mut state = self.state.lock();
        decrement(&mut state.in_use);
        if state.closed {
            return self.close_one(&mut state, connection);
        }
        if BUG != RETURN_SKIPS_THE_QUEUE {
            if let Some((ticket, condvar)) = state.waiting.pop_front() {
                state.in_use += 1;
                state.granted.push((ticket, Grant::Connection(connection)));
                condvar.notify_one();
                return;
            }
        }
        state.idle.push(connection);
    }

    fn take_grant(state: &mut State, ticket: u64) -> Option<Grant> {
        let index = state.granted.iter().position(|(own, _)| *own == ticket)?;
        Some(state.granted.swap_remove(index).1)
    }

    /// Queues and waits for a grant.
    fn wait<'a>(&'a self, mut state: MutexGuard<'a, State>, timeout: Option<Duration>) -> Result<Grant, Refusal> {
        let condvar = Arc::new(Condvar::new());
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        state.waiting.push_back((ticket, condvar.clone()));
        loop {
            if let Some(grant) = Self::take_grant(&mut state, ticket) {
                return Ok(grant);
            }
            if state.closed {
                state.waiting.retain(|(own, _)| *own != ticket);
                if BUG == CLOSED_OUT_WAITER_RETURNS_WHAT_IT_NEVER_HELD {
                    // As if it had been handed a connection: it never was.
                    decrement(&mut state.in_use);
                }
                return Err(Refusal::Closed);
            }
            state = match timeout {
                None => condvar.wait(state),
                Some(timeout) => {
                    let (mut state, timed_out) = condvar.wait_timeout(state, timeout);
                    if timed_out {
                        if let Some(index) = state.waiting.iter().position(|(own, _)| *own == ticket) {
                            state.waiting.remove(index);
                            return Err(Refusal::Timeout);
                        }
                        if BUG == TIMEOUT_AFTER_HAND_OFF_DROPS_THE_CONNECTION {
                            if let Some(Grant::Connection(lost)) = Self::take_grant(&mut state, ticket) {
                                drop(lost);
                                return Err(Refusal::Timeout);
                            }
                        }
                    }
                    state
                }
            };
        }
    }

    fn get(this: &Arc<Self>, timeout: Option<Duration>) -> Result<MutantLease<BUG>, Refusal> {
        let mut state = this.state.lock();
        if state.closed {
            return Err(Refusal::Closed);
        }
        let grant = if let Some(connection) = state.idle.pop() {
            state.in_use += 1;
            drop(state);
            Grant::Connection(connection)
        } else if state.open < this.max_open {
            state.open += 1;
            state.opening += 1;
            drop(state);
            Grant::Open
        } else {
            if BUG == IDLE_CHECK_SEPARATE_FROM_THE_WAIT {
                // The "nothing idle" seen above may be stale by the time it waits.
                drop(state);
                thread::yield_now();
                state = this.state.lock();
            }
            this.wait(state, timeout)?
        };
        let connection = match grant {
            Grant::Connection(connection) => connection,
            Grant::Open => {
                let connected = this.connector.connect();
                let mut state = this.state.lock();
                decrement(&mut state.opening);
                match connected {
                    Ok(connection) => {
                        state.opened += 1;
                        state.in_use += 1;
                        connection
                    }
                    Err(_) => {
                        state.connect_failures += 1;
                        if BUG != CONNECT_FAILURE_KEEPS_THE_CAPACITY {
                            decrement(&mut state.open);
                            this.after_capacity_freed(&mut state);
                        }
                        return Err(Refusal::ConnectFailed);
                    }
                }
            }
        };
        Ok(MutantLease { inner: this.clone(), connection: Some(connection) })
    }

    fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        let waiting: Vec<_> = state.waiting.drain(..).collect();
        if BUG != CLOSE_WAKES_NO_WAITER {
            for (_, condvar) in waiting {
                condvar.notify_one();
            }
        }
        while let Some(connection) = state.idle.pop() {
            self.close_one(&mut state, connection);
        }
        if BUG != CLOSE_RETURNS_BEFORE_CONNECTIONS_ARE_BACK {
            while state.open > 0 {
                state = self.drained.wait(state);
            }
        }
    }
}

impl<const BUG: u8> PoolUnderTest for MutantPool<BUG> {
    type Lease = MutantLease<BUG>;

    fn build(max_open: usize, connector: FakeConnector) -> Self {
        MutantPool(Arc::new(Inner {
            connector,
            max_open,
            state: Mutex::new(State::default()),
            drained: Condvar::new(),
        }))
    }

    fn get(&self, timeout: Option<Duration>) -> Result<Self::Lease, Refusal> {
        Inner::get(&self.0, timeout)
    }

    fn close(&self) {
        self.0.close();
    }

    fn stats(&self) -> PoolStats {
        let state = self.0.state.lock();
        PoolStats {
            max_open: self.0.max_open,
            open: state.open,
            idle: state.idle.len(),
            in_use: state.in_use,
            opening: state.opening,
            waiting: state.waiting.len(),
            opened: state.opened,
            closed: state.closed_count,
            connect_failures: state.connect_failures,
            is_closed: state.closed,
            ..PoolStats::default()
        }
    }
}

#[test]
fn the_mutant_scaffold_is_sound_without_a_bug() {
    // The shared implementation with no bug switched on passes every scenario, so each
    // mutant below is caught for its one bug, not for a flaw in the scaffold.
    // One model per scenario: loom counts every thread an execution spawns.
    expect_sound(Model::named("pool: scaffold, hand-off"), || hand_off::<MutantPool<0>>(false));
    expect_sound(Model::named("pool: scaffold, timed hand-off"), || hand_off::<MutantPool<0>>(true));
    expect_sound(Model::named("pool: scaffold, close"), close_races_a_holder_and_a_waiter::<MutantPool<0>>);
    expect_sound(Model::named("pool: scaffold, connect failure"), connect_failure_races_a_waiter::<MutantPool<0>>);
}

/// Asserts the failure is one of `kinds` where the model checkers decide it (real threads
/// that happen to catch a mutant report a deadlock as a hang, say).
fn assert_kind(failure: &racekit::model::Failure, kinds: &[FailureKind]) {
    if MODEL_CHECKER {
        assert!(kinds.contains(&failure.kind), "expected one of {kinds:?}: {failure}");
    }
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn an_idle_check_separate_from_the_wait_is_caught() {
    // The connection comes back between the waiter's check and its wait: it sleeps next
    // to an idle connection, and nobody will wake it.
    let failure = expect_caught(Model::named("pool: idle check apart from the wait"), || {
        hand_off::<MutantPool<IDLE_CHECK_SEPARATE_FROM_THE_WAIT>>(false)
    });
    assert_kind(&failure, &[FailureKind::Deadlock]);
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_waiter_dropping_the_connection_it_was_handed_as_it_times_out_is_caught() {
    let failure = expect_caught(Model::named("pool: timeout drops the hand-off"), || {
        hand_off::<MutantPool<TIMEOUT_AFTER_HAND_OFF_DROPS_THE_CONNECTION>>(true)
    });
    assert_kind(&failure, &[FailureKind::Panic]);
    assert!(failure.message.contains("lost") || failure.message.contains("dropped"), "{failure}");
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn capacity_kept_after_a_connect_failure_is_caught() {
    // The failed slot is never released: the other request waits for it forever.
    let failure = expect_caught(
        Model::named("pool: failure keeps the slot"),
        connect_failure_races_a_waiter::<MutantPool<CONNECT_FAILURE_KEEPS_THE_CAPACITY>>,
    );
    assert_kind(&failure, &[FailureKind::Deadlock, FailureKind::Panic]);
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_count_decremented_on_a_path_that_never_incremented_it_is_caught() {
    // A waiter refused by close gives back an in-use connection it was never handed: the
    // holder's own return then takes the count below zero.
    let failure = expect_caught(
        Model::named("pool: refused waiter decrements in-use"),
        close_races_a_holder_and_a_waiter::<MutantPool<CLOSED_OUT_WAITER_RETURNS_WHAT_IT_NEVER_HELD>>,
    );
    assert_kind(&failure, &[FailureKind::Panic]);
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_close_returning_before_connections_are_back_is_caught() {
    let failure = expect_caught(
        Model::named("pool: close does not wait"),
        close_races_a_holder_and_a_waiter::<MutantPool<CLOSE_RETURNS_BEFORE_CONNECTIONS_ARE_BACK>>,
    );
    assert_kind(&failure, &[FailureKind::Panic]);
    assert!(failure.message.contains("close returned"), "{failure}");
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_close_that_wakes_no_waiter_is_caught() {
    let failure = expect_caught(
        Model::named("pool: close wakes nobody"),
        close_races_a_holder_and_a_waiter::<MutantPool<CLOSE_WAKES_NO_WAITER>>,
    );
    assert_kind(&failure, &[FailureKind::Deadlock]);
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_return_that_skips_the_queue_is_caught() {
    // The returned connection goes idle while a request waits for it.
    let failure = expect_caught(Model::named("pool: return skips the queue"), || {
        hand_off::<MutantPool<RETURN_SKIPS_THE_QUEUE>>(false)
    });
    assert_kind(&failure, &[FailureKind::Deadlock]);
}
