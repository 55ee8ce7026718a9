//! A bounded blocking MPMC queue: the primitive the event bus's worker pool is fed by.
//!
//! The capacity is a limit, not an allocation: any capacity up to `usize::MAX` is
//! accepted, and storage grows with the items actually queued.
//!
//! # Invariants
//!
//! Under the one lock (`state`), at every step:
//! - `items.len() <= capacity`;
//! - `pushed == popped + items.len() + drained` (nothing leaves without being counted);
//! - once `closed` is set it stays set, and no push succeeds after it.
//!
//! # Wake-ups
//!
//! Each change that can unblock a waiter notifies while the state change is visible:
//! a push notifies one consumer (`not_empty`), a pop notifies one producer (`not_full`),
//! `close` and `drain` notify everyone. Every waiter re-checks its condition after every
//! wake-up, timed out or not, and gives up on a timeout only if the condition still does
//! not hold: so a notification consumed by a waiter whose timeout fired at the same moment
//! is never lost (the waiter uses the slot or item it was woken for).
//!
//! Every check and the change it allows happen in one critical section: a push that saw
//! room or an open queue admits before it lets go of the lock.
//!
//! Lock order: there is one lock; no user code runs under it.

use crate::sync::{Condvar, Deadline, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::time::Duration;
use thiserror::Error;

pub use crate::bounded_slice::ZeroCapacity;

/// The [mutation points](crate::mutation) planted in this pattern: one-expression bugs a
/// model switches on with [`Model::mutant`](crate::model::Model::mutant).
pub const MUTATION_POINTS: &[crate::mutation::MutationPoint] = &[
    point(
        "queue.len.torn_counters",
        "len is computed from `pushed` and `popped` read under two separate lock acquisitions",
    ),
    point(
        "queue.push.admits_after_relocking",
        "a blocking push lets go of the lock between finding room (and an open queue) and admitting its item",
    ),
    point(
        "queue.push.wakes_before_admitting",
        "a blocking push wakes a waiting consumer, lets go of the lock, and admits its item later without a wake-up",
    ),
    point(
        "queue.push_timeout.gives_up_without_rechecking",
        "a timed push returns `Full` as soon as its wait reports a timeout, even when it was woken for a free slot",
    ),
    point(
        "queue.try_push.checks_closed_in_an_earlier_critical_section",
        "try_push checks `closed` under one lock acquisition and admits under another, so it can admit after close",
    ),
    point(
        "queue.push_or_evict_oldest.evicts_on_a_stale_length",
        "an evicting push decides whether the queue is full under one lock acquisition and evicts under another",
    ),
    point(
        "queue.pop.forgets_to_wake_producers",
        "a blocking pop frees a slot without waking the producer waiting for it",
    ),
    point(
        "queue.pop_timeout.gives_up_without_rechecking",
        "a timed pop returns `Empty` as soon as its wait reports a timeout, even when it was woken for an item",
    ),
    point("queue.try_pop.forgets_to_wake_producers", "try_pop frees a slot without waking the producer waiting for it"),
    point("queue.close.forgets_blocked_consumers", "close wakes the blocked producers but not the blocked consumers"),
    point("queue.close.forgets_blocked_producers", "close wakes the blocked consumers but not the blocked producers"),
];

const fn point(name: &'static str, bug: &'static str) -> crate::mutation::MutationPoint {
    crate::mutation::MutationPoint { name, bug }
}

/// Why an item could not be pushed; the item comes back.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PushError<T> {
    /// The queue stayed full (at once for `try_push`, until the timeout for `push_timeout`).
    #[error("the queue is full")]
    Full(T),
    /// The queue is closed: nothing new is admitted.
    #[error("the queue is closed")]
    Closed(T),
}

impl<T> PushError<T> {
    /// The item that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(item) | PushError::Closed(item) => item,
        }
    }
}

/// Why nothing was popped.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum PopError {
    /// The queue stayed empty (at once for `try_pop`, until the timeout for `pop_timeout`).
    #[error("the queue is empty")]
    Empty,
    /// The queue is closed and empty: nothing will ever arrive.
    #[error("the queue is closed and drained")]
    Closed,
}

/// A bounded first-in first-out queue for many producers and many consumers, with
/// blocking, timed and non-blocking operations, a drop-oldest push, and a sticky close.
///
/// Compared with `std::sync::mpsc::sync_channel` and crossbeam's bounded channel: it
/// can evict its oldest item to admit a new one ([`push_or_evict_oldest`](Self::push_or_evict_oldest))
/// and hand back what is left at shutdown ([`close_and_drain`](Self::close_and_drain)),
/// which an event bus with drop-oldest backpressure and a reporting stop needs; and it is
/// built on [`crate::sync`], so it is model-checked under loom and shuttle.
///
/// # Examples
///
/// ```
/// use racekit::queue::{BoundedQueue, PushError};
/// use racekit::sync::{thread, Arc};
///
/// let queue = Arc::new(BoundedQueue::new(2)?);
/// let consumer = {
///     let queue = queue.clone();
///     thread::spawn(move || {
///         let mut got = Vec::new();
///         while let Some(item) = queue.pop() {
///             got.push(item);
///         }
///         got
///     })
/// };
/// for item in 0..5 {
///     queue.push(item).unwrap(); // blocks while two items wait
/// }
/// queue.close();
/// assert_eq!(consumer.join().unwrap(), [0, 1, 2, 3, 4]);
/// assert!(matches!(queue.push(9), Err(PushError::Closed(9))));
/// # Ok::<(), racekit::queue::ZeroCapacity>(())
/// ```
#[derive(Debug)]
pub struct BoundedQueue<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
    spin_hint: SpinHint,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    pushed: u64,
    popped: u64,
    evicted: u64,
    drained: u64,
    high_water: usize,
    /// Consumers blocked in `not_empty`, producers blocked in `not_full`: a state change
    /// notifies only when someone waits, which saves a system call per operation when
    /// nobody does (the common case for a busy queue).
    waiting_consumers: usize,
    waiting_producers: usize,
}

/// Counters of a queue, read together under its lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Items admitted.
    pub pushed: u64,
    /// Items handed to consumers.
    pub popped: u64,
    /// Items evicted by [`BoundedQueue::push_or_evict_oldest`] (they were admitted first).
    pub evicted: u64,
    /// Items removed by [`BoundedQueue::close_and_drain`].
    pub drained: u64,
    /// Items waiting now.
    pub len: usize,
    /// The most items that ever waited at once.
    pub high_water: usize,
    /// Whether the queue is closed.
    pub closed: bool,
}

impl QueueStats {
    /// Whether `pushed == popped + evicted + drained + len`.
    pub fn is_conserved(&self) -> bool {
        self.pushed == self.popped + self.evicted + self.drained + self.len as u64
    }
}

/// A wake-up decided under the lock and fired after it is released.
#[must_use = "fire the wake-up once the lock is released"]
struct Wake<'a>(Option<&'a Condvar>);

impl Wake<'_> {
    fn fire(self) {
        if let Some(condvar) = self.0 {
            condvar.notify_one();
        }
    }
}

/// On real threads, a waiter about to sleep first spins briefly (see
/// [`crate::sync::spin`]) on a copy of the length and the closed flag, written under the
/// lock and read without it; the waiter always re-checks under the lock.
#[derive(Debug, Default)]
struct SpinHint {
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    len: std::sync::atomic::AtomicUsize,
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    closed: std::sync::atomic::AtomicBool,
}

impl SpinHint {
    /// Called under the queue's lock after every change.
    #[inline]
    fn publish(&self, len: usize, closed: bool) {
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        {
            use std::sync::atomic::Ordering::Relaxed;
            // Relaxed: a hint; whoever acts on it takes the lock and looks again.
            self.len.store(len, Relaxed);
            self.closed.store(closed, Relaxed);
        }
        #[cfg(any(racekit_loom, racekit_shuttle))]
        let _ = (len, closed);
    }

    /// Spins until `ready(len, closed)` holds or the budget is spent (see
    /// [`spin_until`](crate::sync::spin::spin_until)): rounds of 1, 2, 4 ... 32 spin hints
    /// (63 in all, about a microsecond), then up to four yields.
    fn spin_until(&self, ready: impl Fn(usize, bool) -> bool) {
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        {
            use std::sync::atomic::Ordering::Relaxed;
            crate::sync::spin::spin_until(|| ready(self.len.load(Relaxed), self.closed.load(Relaxed)), 6, 4);
        }
        #[cfg(any(racekit_loom, racekit_shuttle))]
        let _ = ready;
    }
}

impl<T> BoundedQueue<T> {
    /// A queue holding at most `capacity` items.
    pub fn new(capacity: usize) -> Result<Self, ZeroCapacity> {
        if capacity == 0 {
            return Err(ZeroCapacity);
        }
        Ok(BoundedQueue {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(crate::bounded_slice::preallocation(capacity)),
                closed: false,
                pushed: 0,
                popped: 0,
                evicted: 0,
                drained: 0,
                high_water: 0,
                waiting_consumers: 0,
                waiting_producers: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity,
            spin_hint: SpinHint::default(),
        })
    }

    /// The most items it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Items waiting now.
    pub fn len(&self) -> usize {
        mutation_point!(
            "queue.len.torn_counters",
            self.state.lock().items.len(),
            self.stats().pushed.saturating_sub(self.stats().popped) as usize
        )
    }

    /// Whether no item waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// The counters, read together.
    pub fn stats(&self) -> QueueStats {
        let state = self.state.lock();
        QueueStats {
            pushed: state.pushed,
            popped: state.popped,
            evicted: state.evicted,
            drained: state.drained,
            len: state.items.len(),
            high_water: state.high_water,
            closed: state.closed,
        }
    }

    /// Pushes `item`, blocking while the queue is full; fails only when it is closed.
    pub fn push(&self, item: T) -> Result<(), PushError<T>> {
        self.push_until(item, None)
    }

    /// Pushes `item`, blocking at most `timeout` while the queue is full. A timeout too long
    /// to represent (`Duration::MAX`) is no timeout: this is then [`push`](Self::push).
    pub fn push_timeout(&self, item: T, timeout: Duration) -> Result<(), PushError<T>> {
        self.push_until(item, Deadline::within(timeout))
    }

    /// Pushes `item` if there is room now.
    pub fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(PushError::Closed(item));
        }
        state =
            mutation_point!("queue.try_push.checks_closed_in_an_earlier_critical_section", state, self.relock(state));
        if state.items.len() >= self.capacity {
            return Err(PushError::Full(item));
        }
        let wake = self.admit(&mut state, item);
        drop(state);
        wake.fire();
        Ok(())
    }

    /// Pushes `item`, evicting the oldest waiting item when full; returns the evicted item
    /// (counted in [`QueueStats::evicted`]).
    pub fn push_or_evict_oldest(&self, item: T) -> Result<Option<T>, PushError<T>> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(PushError::Closed(item));
        }
        let full = state.items.len() >= self.capacity;
        state = mutation_point!("queue.push_or_evict_oldest.evicts_on_a_stale_length", state, self.relock(state));
        let evicted = if full {
            state.evicted += 1;
            state.items.pop_front()
        } else {
            None
        };
        let wake = self.admit(&mut state, item);
        drop(state);
        wake.fire();
        Ok(evicted)
    }

    fn push_until(&self, item: T, deadline: Option<Deadline>) -> Result<(), PushError<T>> {
        let mut state = self.state.lock();
        let mut spun = false;
        loop {
            if state.closed {
                return Err(PushError::Closed(item));
            }
            if state.items.len() < self.capacity {
                state = mutation_point!("queue.push.admits_after_relocking", state, self.relock(state));
                let wake = mutation_point!("queue.push.wakes_before_admitting", self.admit(&mut state, item), {
                    self.consumer_wake(&state).fire();
                    state = self.relock(state);
                    let _spent = self.admit(&mut state, item);
                    Wake(None)
                });
                drop(state);
                wake.fire();
                return Ok(());
            }
            if !std::mem::replace(&mut spun, true) {
                drop(state);
                self.spin_hint.spin_until(|len, closed| closed || len < self.capacity);
                state = self.state.lock();
                continue;
            }
            state.waiting_producers += 1;
            let (mut woken, timed_out) = self.not_full.wait_until_some(state, deadline);
            woken.waiting_producers -= 1;
            state = woken;
            let still_full = !state.closed && state.items.len() >= self.capacity;
            if timed_out && mutation_point!("queue.push_timeout.gives_up_without_rechecking", still_full, true) {
                return Err(PushError::Full(item));
            }
        }
    }

    /// Adds `item` under the lock; the returned wake-up (one consumer, if any waits) is
    /// fired once the lock is released, so the woken thread does not block on it at once.
    fn admit(&self, state: &mut State<T>, item: T) -> Wake<'_> {
        state.items.push_back(item);
        state.pushed += 1;
        state.high_water = state.high_water.max(state.items.len());
        self.spin_hint.publish(state.items.len(), state.closed);
        self.consumer_wake(state)
    }

    /// A wake-up for one consumer, if any waits.
    fn consumer_wake(&self, state: &State<T>) -> Wake<'_> {
        Wake((state.waiting_consumers > 0).then_some(&self.not_empty))
    }

    /// Lets go of the lock and takes it again: what the mutation points that split a
    /// critical section in two put between its halves.
    fn relock<'a>(&'a self, state: MutexGuard<'a, State<T>>) -> MutexGuard<'a, State<T>> {
        drop(state);
        self.state.lock()
    }

    /// Pops the oldest item, blocking while the queue is empty; `None` once it is closed
    /// and drained.
    pub fn pop(&self) -> Option<T> {
        self.pop_until(None).ok()
    }

    /// Pops the oldest item, blocking at most `timeout` (`Duration::MAX`: no timeout).
    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, PopError> {
        self.pop_until(Deadline::within(timeout))
    }

    /// Pops the oldest item if there is one now.
    pub fn try_pop(&self) -> Result<T, PopError> {
        let mut state = self.state.lock();
        match self.take(&mut state) {
            Some((item, wake)) => {
                drop(state);
                mutation_point!("queue.try_pop.forgets_to_wake_producers", wake.fire(), drop(wake));
                Ok(item)
            }
            None if state.closed => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    fn pop_until(&self, deadline: Option<Deadline>) -> Result<T, PopError> {
        let mut state = self.state.lock();
        let mut spun = false;
        loop {
            if let Some((item, wake)) = self.take(&mut state) {
                drop(state);
                mutation_point!("queue.pop.forgets_to_wake_producers", wake.fire(), drop(wake));
                return Ok(item);
            }
            if state.closed {
                return Err(PopError::Closed);
            }
            if !std::mem::replace(&mut spun, true) {
                drop(state);
                self.spin_hint.spin_until(|len, closed| closed || len > 0);
                state = self.state.lock();
                continue;
            }
            state.waiting_consumers += 1;
            let (mut woken, timed_out) = self.not_empty.wait_until_some(state, deadline);
            woken.waiting_consumers -= 1;
            state = woken;
            let still_empty = state.items.is_empty() && !state.closed;
            if timed_out && mutation_point!("queue.pop_timeout.gives_up_without_rechecking", still_empty, true) {
                return Err(PopError::Empty);
            }
        }
    }

    /// Removes the oldest item under the lock; the returned wake-up (one producer, if any
    /// waits) is fired once the lock is released.
    fn take(&self, state: &mut State<T>) -> Option<(T, Wake<'_>)> {
        let item = state.items.pop_front()?;
        state.popped += 1;
        self.spin_hint.publish(state.items.len(), state.closed);
        Some((item, Wake((state.waiting_producers > 0).then_some(&self.not_full))))
    }

    /// Closes the queue: pushes fail from now on, blocked producers return `Closed`,
    /// consumers drain what is left and then get `None`. Returns `true` for the call that
    /// closed it.
    pub fn close(&self) -> bool {
        let mut state = self.state.lock();
        let first = !state.closed;
        state.closed = true;
        self.spin_hint.publish(state.items.len(), true);
        drop(state);
        self.wake_everyone();
        first
    }

    /// Closes the queue and removes every waiting item (counted in
    /// [`QueueStats::drained`]), for a shutdown that reports what was left undone.
    pub fn close_and_drain(&self) -> Vec<T> {
        let mut state = self.state.lock();
        state.closed = true;
        let left: Vec<T> = state.items.drain(..).collect();
        state.drained += left.len() as u64;
        self.spin_hint.publish(0, true);
        drop(state);
        self.wake_everyone();
        left
    }

    /// After a close: every blocked consumer (to drain, then return) and every blocked
    /// producer (to return `Closed`).
    fn wake_everyone(&self) {
        mutation_point!("queue.close.forgets_blocked_consumers", self.not_empty.notify_all(), ());
        mutation_point!("queue.close.forgets_blocked_producers", self.not_full.notify_all(), ());
    }
}
