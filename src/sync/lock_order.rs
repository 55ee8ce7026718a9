//! Lock-order checking: a deadlock is reported when its ingredients appear, not only when
//! a schedule happens to close the cycle.
//!
//! Inside a check every blocking acquisition of a facade [`Mutex`](super::Mutex) or
//! [`RwLock`](super::RwLock) records an edge "held lock → acquired lock" for the acquiring
//! thread. The acquisition fails the check, before it blocks, when:
//!
//! - the thread already holds that lock (a self-deadlock, which on real threads would hang
//!   until the run timeout: kind [`Deadlock`](FailureKind::Deadlock); for a read lock taken
//!   twice, the deadlock needs a writer queued between the two reads, which std's `RwLock`
//!   lets go first: kind [`LockOrder`](FailureKind::LockOrder)), or
//! - the new edge closes a cycle with edges of *other* threads: each thread could hold one
//!   lock of the cycle and wait for the next ("lock order inversion", the classic AB/BA
//!   deadlock; kind [`LockOrder`](FailureKind::LockOrder)). Real threads rarely hit that window and the model checkers need a
//!   preemption at the right place; the cycle itself shows up in every schedule.
//!
//! Two refinements keep correct programs passing: a cycle whose edges were all taken under
//! one common lock held by both threads cannot deadlock (the "gate lock" serializes them),
//! and at every lock of the cycle at least one of the two sides must be exclusive (two
//! readers do not block each other).
//!
//! # Invariants
//!
//! - The bookkeeping belongs to the harness: plain `std` locks, never a scheduling point.
//! - Lock order: the run's lock-order state may be held while its trace is locked (to name
//!   the threads of a deadlock message), never the other way round.
//! - Outside a check nothing is recorded: the cost is one thread-local read per acquisition.
//! - A lock's identity is a number drawn when it is created, never its address (which a
//!   later lock of the same run could reuse).

use crate::model::context::{self, CheckContext};
use crate::model::trace::{self, IdMap, ObjectKind, ThreadKey};
use crate::model::{detect, FailureKind};
use std::fmt::Write as _;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The identity of one facade lock.
pub(crate) type LockId = u64;

static NEXT_LOCK_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh lock identity.
pub(crate) fn new_lock_id() -> LockId {
    NEXT_LOCK_ID.fetch_add(1, Ordering::Relaxed)
}

/// How a lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A `RwLock` read guard.
    Shared,
    /// A `Mutex` guard or a `RwLock` write guard.
    Exclusive,
}

impl Mode {
    fn conflicts_with(self, other: Mode) -> bool {
        self == Mode::Exclusive || other == Mode::Exclusive
    }
}

#[derive(Clone, Copy, Debug)]
struct Held {
    lock: LockId,
    /// The lock's number in this run, as messages and the trace name it.
    number: u64,
    mode: Mode,
    at: &'static Location<'static>,
}

/// "While holding `from`, a thread acquired `to`".
#[derive(Clone, Debug)]
struct Edge {
    from: Held,
    to: Held,
    thread: ThreadKey,
    /// The other locks the thread held at the time.
    guards: Vec<LockId>,
}

/// The lock-order state of one run of a check body.
#[derive(Debug, Default)]
pub(crate) struct LockOrder {
    held: IdMap<ThreadKey, Vec<Held>>,
    /// Edges by their `from` lock; one per (from, to, thread).
    edges: IdMap<LockId, Vec<Edge>>,
}

/// Threads whose held-lock lists a cleared state keeps for the next run.
#[cfg(any(racekit_loom, racekit_shuttle))]
const KEPT_THREADS: usize = 16;

/// The longest cycle searched for: a loom model has at most five threads.
const MAX_CYCLE: usize = 5;

impl LockOrder {
    /// Empties the state for the next run, keeping what it allocated: the checkers number
    /// their threads from the start in every execution, so the same few threads come back
    /// and keep their held-lock lists (dropped all at once should a run ever meet many).
    #[cfg(any(racekit_loom, racekit_shuttle))]
    pub(crate) fn clear(&mut self) {
        if self.held.len() > KEPT_THREADS {
            self.held.clear();
        }
        self.held.values_mut().for_each(Vec::clear);
        self.edges.clear();
    }

    /// Records a blocking acquisition; `Err` describes the deadlock it can cause, and its
    /// kind: a lock re-taken exclusively by its holder deadlocks in every schedule; a
    /// cycle (or a read lock re-taken) deadlocks in some. `name_of` names a thread in the
    /// message (called only when there is a deadlock to describe).
    fn acquire(
        &mut self,
        thread: ThreadKey,
        wanted: Held,
        name_of: impl Fn(ThreadKey) -> String,
    ) -> Result<(), (FailureKind, String)> {
        // Taken out while the edges are searched, and put back (with the new lock) below.
        let mut held = std::mem::take(self.held.entry(thread).or_default());
        let verdict = self.check(thread, &held, wanted, name_of);
        if verdict.is_ok() {
            held.push(wanted);
        }
        self.held.insert(thread, held);
        verdict
    }

    /// The deadlock `thread`, holding `held`, can cause by acquiring `wanted`, if any;
    /// records the new edges when there is none.
    fn check(
        &mut self,
        thread: ThreadKey,
        held: &[Held],
        wanted: Held,
        name_of: impl Fn(ThreadKey) -> String,
    ) -> Result<(), (FailureKind, String)> {
        if let Some(same) = held.iter().find(|h| h.lock == wanted.lock) {
            let (kind, why) = if same.mode.conflicts_with(wanted.mode) {
                (FailureKind::Deadlock, "the facade's locks are not re-entrant")
            } else {
                // Two read guards do not conflict, but std's RwLock (like most) lets a
                // queued writer go first: the second read waits for the writer, which waits
                // for the first read.
                (
                    FailureKind::LockOrder,
                    "a read lock re-taken by its holder deadlocks as soon as a writer queues between the two reads \
                     (std's RwLock may also panic): take it once and pass the guard down",
                )
            };
            return Err((
                kind,
                format!(
                    "deadlock: a thread acquires lock #{} at {} while it already holds it (acquired at {}); {why}",
                    wanted.number, wanted.at, same.at
                ),
            ));
        }
        for from in held.iter().filter(|h| h.lock != wanted.lock) {
            let guards: Vec<LockId> = held.iter().map(|h| h.lock).filter(|&l| l != from.lock).collect();
            let edge = Edge { from: *from, to: wanted, thread, guards };
            if let Some(cycle) = self.cycle_through(&edge) {
                return Err((FailureKind::LockOrder, describe(&edge, &cycle, name_of)));
            }
            let known = self.edges.entry(from.lock).or_default();
            if !known.iter().any(|e| {
                e.to.lock == wanted.lock && e.thread == thread && e.from.mode == from.mode && e.to.mode == wanted.mode
            }) {
                known.push(edge);
            }
        }
        Ok(())
    }

    /// Records a lock taken without blocking (`try_lock`): held, but adds no edge.
    fn record(&mut self, thread: ThreadKey, held: Held) {
        self.held.entry(thread).or_default().push(held);
    }

    fn release(&mut self, thread: ThreadKey, lock: LockId) {
        if let Some(held) = self.held.get_mut(&thread) {
            if let Some(index) = held.iter().rposition(|h| h.lock == lock) {
                held.remove(index);
            }
        }
    }

    /// A path of other threads' edges from `new.to` back to `new.from` that closes a
    /// cycle able to deadlock.
    fn cycle_through(&self, new: &Edge) -> Option<Vec<Edge>> {
        let mut path = Vec::new();
        self.search(new, new.to, &mut path).then_some(path)
    }

    /// Depth-first search for edges continuing from `at` (the lock the previous thread
    /// wants, in its mode) that lead back to the new edge's `from` lock.
    fn search(&self, new: &Edge, at: Held, path: &mut Vec<Edge>) -> bool {
        if path.len() >= MAX_CYCLE {
            return false;
        }
        for edge in self.edges.get(&at.lock).into_iter().flatten() {
            let independent = edge.thread != new.thread
                && path.iter().all(|p| p.thread != edge.thread)
                && !edge.guards.iter().any(|g| new.guards.contains(g) || path.iter().any(|p| p.guards.contains(g)));
            if !independent || !edge.from.mode.conflicts_with(at.mode) {
                continue;
            }
            path.push(edge.clone());
            if edge.to.lock == new.from.lock && edge.to.mode.conflicts_with(new.from.mode) {
                return true;
            }
            if path.iter().all(|p| p.from.lock != edge.to.lock) && self.search(new, edge.to, path) {
                return true;
            }
            path.pop();
        }
        false
    }
}

fn describe(new: &Edge, cycle: &[Edge], name_of: impl Fn(ThreadKey) -> String) -> String {
    let mut text = format!(
        "potential deadlock: lock order inversion. This thread ({}) acquires lock #{} at {} while \
         holding lock #{} (acquired at {}), but",
        name_of(new.thread),
        new.to.number,
        new.to.at,
        new.from.number,
        new.from.at
    );
    for (i, edge) in cycle.iter().enumerate() {
        let _ = write!(
            text,
            "{} {} acquired lock #{} at {} while holding lock #{} (acquired at {})",
            if i == 0 { "" } else { ", and" },
            name_of(edge.thread),
            edge.to.number,
            edge.to.at,
            edge.from.number,
            edge.from.at
        );
    }
    text.push_str(
        ". In some schedule each thread holds one of these locks and waits for the next: take them in one \
         global order everywhere (or under one common lock)",
    );
    text
}

/// One facade lock held by the current thread of a check; releases its record on drop.
#[derive(Debug)]
pub(crate) struct HeldLock {
    record: Option<(Arc<CheckContext>, ThreadKey, LockId, &'static Location<'static>)>,
}

impl HeldLock {
    /// Before a blocking acquisition: records it, and panics with the deadlock it can
    /// cause. Outside a check it records nothing.
    #[inline]
    pub(crate) fn acquire(lock: LockId, mode: Mode, at: &'static Location<'static>) -> HeldLock {
        Self::register(lock, mode, at, true)
    }

    /// After a successful non-blocking acquisition (`try_lock`).
    #[inline]
    pub(crate) fn acquired_without_blocking(lock: LockId, mode: Mode, at: &'static Location<'static>) -> HeldLock {
        Self::register(lock, mode, at, false)
    }

    /// Outside every check (the test inlined into each acquisition), records nothing.
    #[inline]
    fn register(lock: LockId, mode: Mode, at: &'static Location<'static>, blocking: bool) -> HeldLock {
        if !context::any_alive() {
            return HeldLock { record: None };
        }
        Self::register_in_check(lock, mode, at, blocking)
    }

    #[inline(never)]
    fn register_in_check(lock: LockId, mode: Mode, at: &'static Location<'static>, blocking: bool) -> HeldLock {
        let Some(context) = context::current() else {
            return HeldLock { record: None };
        };
        let me = trace::current_thread();
        let number = {
            let mut trace = context.trace();
            if blocking {
                // The run meets the thread here (its name depends on that order), even though
                // the name itself is only formatted for a message.
                trace.thread(me);
            }
            trace.number((ObjectKind::Lock, lock))
        };
        let held = Held { lock, number, mode, at };
        let verdict = {
            let mut order = context.lock_order();
            if blocking {
                // Lock order: the lock-order state, then the trace (for the names).
                order.acquire(me, held, |thread| context.trace().thread_name(thread))
            } else {
                order.record(me, held);
                Ok(())
            }
        };
        if let Err((kind, deadlock)) = verdict {
            trace::record("lock (would deadlock)", Some((ObjectKind::Lock, lock)), at);
            detect::fail(kind, deadlock);
        }
        HeldLock { record: Some((context, me, lock, at)) }
    }
}

impl Drop for HeldLock {
    #[inline]
    fn drop(&mut self) {
        if self.record.is_some() {
            self.release();
        }
    }
}

impl HeldLock {
    #[inline(never)]
    fn release(&mut self) {
        if let Some((context, thread, lock, acquired_at)) = self.record.take() {
            context.lock_order().release(thread, lock);
            // A guard's drop has no caller location: the row names where it was acquired. A
            // guard dropped while its thread unwinds from the failure is not the program's
            // own step.
            if !std::thread::panicking() {
                trace::record("unlock", Some((ObjectKind::Lock, lock)), acquired_at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(lock: LockId, mode: Mode) -> Held {
        Held { lock, number: lock, mode, at: Location::caller() }
    }

    /// Names a thread in a message as the trace would (tests have no trace).
    fn name(thread: ThreadKey) -> String {
        format!("{thread:?}")
    }

    /// `thread` takes `locks` nested, in order, then releases them in reverse.
    fn nested(order: &mut LockOrder, thread: ThreadKey, locks: &[LockId], mode: Mode) {
        for &lock in locks {
            order.acquire(thread, held(lock, mode), name).unwrap();
        }
        for &lock in locks.iter().rev() {
            order.release(thread, lock);
        }
    }

    /// Three thread keys (the test thread's and spawned ones', or shuttle task numbers).
    fn three_threads() -> (ThreadKey, ThreadKey, ThreadKey) {
        #[cfg(racekit_shuttle)]
        {
            (0, 1, 2)
        }
        #[cfg(not(racekit_shuttle))]
        {
            let other = || std::thread::spawn(crate::sync::thread::current_id).join().unwrap();
            (trace::current_thread(), other(), other())
        }
    }

    /// Two thread keys.
    fn two_threads() -> (ThreadKey, ThreadKey) {
        let (first, second, _) = three_threads();
        (first, second)
    }

    #[test]
    fn opposite_orders_on_two_threads_are_an_inversion() {
        let (t1, t2) = two_threads();
        let mut order = LockOrder::default();
        nested(&mut order, t1, &[1, 2], Mode::Exclusive);
        order.acquire(t2, held(2, Mode::Exclusive), name).unwrap();
        let (kind, error) = order.acquire(t2, held(1, Mode::Exclusive), name).unwrap_err();
        assert!(error.contains("lock order inversion"), "{error}");
        assert_eq!(kind, FailureKind::LockOrder);
    }

    #[test]
    fn one_global_order_passes() {
        let (t1, t2) = two_threads();
        let mut order = LockOrder::default();
        for t in [t1, t2, t1] {
            nested(&mut order, t, &[1, 2], Mode::Exclusive);
        }
    }

    #[test]
    fn a_common_gate_lock_prevents_the_deadlock() {
        let (t1, t2) = two_threads();
        let mut order = LockOrder::default();
        nested(&mut order, t1, &[9, 1, 2], Mode::Exclusive);
        nested(&mut order, t2, &[9, 2, 1], Mode::Exclusive);
    }

    #[test]
    fn readers_in_opposite_orders_do_not_block_each_other() {
        let (t1, t2) = two_threads();
        let mut order = LockOrder::default();
        nested(&mut order, t1, &[1, 2], Mode::Shared);
        nested(&mut order, t2, &[2, 1], Mode::Shared);
        // A writer on one side makes the same orders a deadlock.
        order.acquire(t1, held(1, Mode::Exclusive), name).unwrap();
        let error = order.acquire(t1, held(2, Mode::Shared), name);
        assert!(error.is_ok(), "t2 held 2 shared, t1 wants 2 shared: no conflict at lock 2");
        order.release(t1, 2);
        order.release(t1, 1);
        order.acquire(t2, held(2, Mode::Exclusive), name).unwrap();
        let (_, error) = order.acquire(t2, held(1, Mode::Shared), name).unwrap_err();
        assert!(error.contains("lock order inversion"), "{error}");
    }

    #[test]
    fn a_three_thread_cycle_is_found() {
        let (t1, t2, t3) = three_threads();
        let mut order = LockOrder::default();
        nested(&mut order, t1, &[1, 2], Mode::Exclusive);
        nested(&mut order, t2, &[2, 3], Mode::Exclusive);
        order.acquire(t3, held(3, Mode::Exclusive), name).unwrap();
        let (_, error) = order.acquire(t3, held(1, Mode::Exclusive), name).unwrap_err();
        assert!(error.contains("lock #2"), "the cycle goes through lock 2: {error}");
    }

    #[test]
    fn re_acquiring_a_held_lock_is_a_self_deadlock() {
        let (t1, _) = two_threads();
        let mut order = LockOrder::default();
        order.acquire(t1, held(1, Mode::Exclusive), name).unwrap();
        let (kind, error) = order.acquire(t1, held(1, Mode::Exclusive), name).unwrap_err();
        assert!(error.contains("already holds it"), "{error}");
        assert_eq!(kind, FailureKind::Deadlock, "a re-taken exclusive lock deadlocks in every schedule");
        let mut order = LockOrder::default();
        order.acquire(t1, held(1, Mode::Shared), name).unwrap();
        let (kind, error) = order.acquire(t1, held(1, Mode::Shared), name).unwrap_err();
        assert!(error.contains("writer queues"), "a re-taken read lock is reported: {error}");
        assert_eq!(kind, FailureKind::LockOrder, "it deadlocks only when a writer queues in between");
    }
}
