//! A blocking connect bounded by its caller's deadline: the connect runs on a thread of its
//! own and hands its outcome over, unless the caller gave up first.
//!
//! # Invariants
//!
//! Under the hand-off's one lock: the outcome moves `Connecting` → `Done` (the connect
//! finished first; the caller takes it) or `Connecting` → `Abandoned` (the deadline passed
//! first; the connect thread then disposes of the outcome itself). Exactly one of the two
//! sides sees the other's move, so a connection is either handed to the caller or dropped
//! back into the pool, never both and never lost; an error after an abandonment only
//! releases its capacity (counted by the pool as a failed connect).
//!
//! Lock order: the hand-off's lock is never held with the pool's or with the list of
//! abandoned connect threads, and no connector code runs under it.

use super::{BlockingConnector, GetError, PooledConnection, Reservation, Shared};
use crate::sync::{thread, Arc, Condvar, Deadline, Mutex};

type Outcome<C> = Result<PooledConnection<C>, GetError<<C as super::Connector>::Error>>;

enum Handoff<C: BlockingConnector> {
    Connecting,
    Done(Outcome<C>),
    /// The connector panicked (its capacity is released): the caller panics with it, as an
    /// inline connect would have.
    Panicked(Box<dyn std::any::Any + Send>),
    Abandoned,
}

struct Slot<C: BlockingConnector> {
    handoff: Mutex<Handoff<C>>,
    done: Condvar,
}

/// Opens a connection with `reservation` on a thread of its own; waits for it until
/// `deadline`, then gives up with [`GetError::Timeout`].
pub(super) fn within<C: BlockingConnector>(
    shared: &Arc<Shared<C>>,
    reservation: Reservation<C>,
    deadline: Deadline,
) -> Outcome<C> {
    let slot = Arc::new(Slot { handoff: Mutex::new(Handoff::Connecting), done: Condvar::new() });
    let connector = shared.clone();
    let delivery = slot.clone();
    let connecting = thread::spawn_named("pool-connect", move || {
        // A panicking connector drops the reservation as it unwinds: the capacity goes back.
        let outcome = match crate::sync::catch_unwind(|| connector.connector.connect()) {
            Ok(connected) => Handoff::Done(reservation.finish(connected)),
            Err(payload) => Handoff::Panicked(payload),
        };
        let mut handoff = delivery.handoff.lock();
        if matches!(*handoff, Handoff::Abandoned) {
            drop(handoff);
            // The caller has gone: a connection goes back to the pool as it is dropped.
            drop(outcome);
        } else {
            *handoff = outcome;
            drop(handoff);
            delivery.done.notify_one();
        }
    });
    let mut handoff = slot.handoff.lock();
    loop {
        match std::mem::replace(&mut *handoff, Handoff::Connecting) {
            Handoff::Done(outcome) => {
                drop(handoff);
                // It has delivered: the join is immediate, and no thread outlives the call.
                let _ = connecting.join();
                return outcome;
            }
            Handoff::Panicked(payload) => {
                drop(handoff);
                let _ = connecting.join();
                std::panic::resume_unwind(payload);
            }
            Handoff::Abandoned | Handoff::Connecting => {}
        }
        let (next, timed_out) = slot.done.wait_until(handoff, deadline);
        handoff = next;
        if timed_out && matches!(*handoff, Handoff::Connecting) {
            *handoff = Handoff::Abandoned;
            drop(handoff);
            // Joined by a blocking close, once the connect has given its capacity back.
            shared.abandoned_connects.lock().push(connecting);
            return Err(GetError::Timeout);
        }
    }
}
