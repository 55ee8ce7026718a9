//! The bus's bounded queue: a two-lock hand-off between publishers and workers.
//!
//! Publishers append to the *inbox* under its lock; workers take from the *outbox* under
//! its lock, and a worker that finds the outbox empty swaps the whole inbox into it (one
//! `VecDeque` swap, no copy, no allocation). A publisher and a worker therefore meet on a
//! lock once per batch, not once per event, and the only per-event shared write between
//! the two sides is one atomic addition by the worker (`exits`).
//!
//! # Invariants
//!
//! - Every queued item is in exactly one of the two deques, and every item in the outbox
//!   is older than every item in the inbox (the inbox is moved only into an empty outbox):
//!   items leave in the order they arrived.
//! - `exits` counts (modulo 2^[`EXIT_BITS`]) the items that left the queue (taken, evicted
//!   or drained); its bits above count the publishers (sync and async) registered as
//!   waiting for room. Only publishers holding the inbox lock add items, and they admit
//!   one only when the inbox's length plus `outbox_bound` (never below the outbox's
//!   length), or else `pushed - exits`, is below `capacity`; `exits` only grows, so a
//!   stale read can only make the queue look fuller than it is: the queue never holds
//!   more than `capacity` items. The high-water mark is counted the same way, so it may
//!   include an item a worker was taking at that moment (it never exceeds `capacity`).
//! - A publisher waiting for room registers in `exits` (one atomic read-modify-write)
//!   before its last look at it, and a worker's exit is one read-modify-write of the same
//!   word: whichever comes first, the other sees it, so either the publisher sees the room
//!   or the worker sees the waiter and wakes it. A worker that sees a sync waiter takes the
//!   inbox lock before notifying, so the waiter is inside its wait by then.
//! - A worker waits for items only after finding both deques empty while holding both
//!   locks, registered in `sleeping_workers` under the inbox lock; a publisher that admits
//!   an item under that lock wakes one if any is registered, and a worker that swaps in a
//!   batch of more than one wakes as many more as the batch can employ. A sync publisher
//!   waits for room registered in `sleeping_publishers` (as well as in `exits`), and the
//!   worker that sees it in `exits` wakes them all under the inbox lock.
//! - Whoever wakes a sleeper takes it off the count ([`Sleepers`]), so a sleeper that has
//!   been woken but has not run yet is not woken again: a condition variable's notify is a
//!   system call even when nobody waits. A count only ever errs high (a spurious wake-up
//!   that overlaps a notify), which costs a needless notify, never a lost one.
//! - Once `closed` is set (under the inbox lock) it stays set and nothing is admitted
//!   after it.
//! - At most 2^24 publishers wait for room at once (the bits of `exits` above the count).
//!
//! # Spinning before sleeping
//!
//! On real threads a worker that finds the queue empty, and a publisher that finds it full,
//! first spin briefly (then yield a few times; an async publisher never yields its
//! runtime's thread) on a lock-free hint before they register to sleep (see
//! [`crate::sync::spin`]): a hand-off that completes within a few microseconds then costs
//! no futex wait and no wake-up system call on either side. The hints are only hints:
//! whoever acts on one takes the locks and looks again. Compiled out under the model
//! checkers.
//!
//! Lock order: `outbox` → `inbox`. No user code runs under either (items are dropped
//! by the callers, after the locks are released).

use crate::queue::{PushError, QueueStats};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{spin, Condvar, Deadline, Mutex, MutexGuard};
use std::collections::VecDeque;

/// The low bits of `exits` that count items out; the bits above count waiting publishers.
/// 2^40 items could never be queued at once, so lengths computed modulo 2^40 are exact.
const EXIT_BITS: u32 = 40;
const EXIT_MASK: u64 = (1 << EXIT_BITS) - 1;
/// One publisher waiting for room (up to 2^24 at once).
const WAITER: u64 = 1 << EXIT_BITS;

struct Inbox<T> {
    items: VecDeque<T>,
    closed: bool,
    /// Items admitted (modulo 2^40 where compared with `exits`).
    pushed: u64,
    high_water: usize,
    /// At least the outbox's length: set at each swap (the outbox only shrinks until the
    /// next one) and tightened from `exits` when it makes the queue look full.
    outbox_bound: usize,
    sleeping_workers: Sleepers,
    sleeping_publishers: Sleepers,
}

/// Threads asleep on one condition variable and not yet woken, counted under its lock.
#[derive(Default)]
struct Sleepers {
    count: usize,
    /// Raised by every wake: a sleeper that finds it unchanged was not woken by one, and
    /// takes itself off the count.
    wakes: u64,
}

impl Sleepers {
    /// Before a wait: the wake count to hand to [`woke`](Self::woke).
    fn register(&mut self) -> u64 {
        self.count += 1;
        self.wakes
    }

    /// After a wait that began when the wake count was `seen`.
    fn woke(&mut self, seen: u64) {
        if self.wakes == seen {
            self.count = self.count.saturating_sub(1);
        }
    }

    /// Takes up to `wanted` sleepers off the count for a wake-up; how many there were.
    fn take(&mut self, wanted: usize) -> usize {
        let taken = self.count.min(wanted);
        if taken > 0 {
            self.count -= taken;
            self.wakes += 1;
        }
        taken
    }
}

struct Outbox<T> {
    items: VecDeque<T>,
    popped: u64,
    evicted: u64,
    drained: u64,
}

pub(super) struct JobQueue<T> {
    outbox: Mutex<Outbox<T>>,
    inbox: Mutex<Inbox<T>>,
    /// Workers wait here for items (with the inbox lock).
    not_empty: Condvar,
    /// Sync publishers wait here for room (with the inbox lock).
    not_full: Condvar,
    /// Items out, and publishers waiting for room (see the module's invariants).
    exits: AtomicU64,
    capacity: usize,
    spin_hint: SpinHint,
}

/// Whether the inbox holds items or the queue is closed, for a worker about to sleep (see
/// the module's section on spinning). Real threads only: std's atomic on purpose.
#[derive(Default)]
struct SpinHint {
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    inbox_ready: std::sync::atomic::AtomicBool,
}

impl SpinHint {
    /// Sets the hint to `ready` (under the inbox lock). Written only when it changes, so a
    /// publisher that keeps a busy inbox filled does not take the line from the spinners.
    #[inline]
    fn set(&self, ready: bool) {
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        {
            use std::sync::atomic::Ordering::Relaxed;
            if self.inbox_ready.load(Relaxed) != ready {
                self.inbox_ready.store(ready, Relaxed);
            }
        }
        #[cfg(any(racekit_loom, racekit_shuttle))]
        let _ = ready;
    }

    fn inbox_ready(&self) -> bool {
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        return self.inbox_ready.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(any(racekit_loom, racekit_shuttle))]
        true
    }
}

/// [`spin::spin_until`] with this queue's budget: rounds of 1, 2, 4 ... 64 spin hints,
/// then up to `yields` yields of the thread.
fn spin_until(ready: impl Fn() -> bool, yields: u32) {
    spin::spin_until(ready, 7, yields);
}

/// A publisher registered as waiting for room until this is dropped.
pub(super) struct RoomWaiter<'a> {
    exits: &'a AtomicU64,
}

impl Drop for RoomWaiter<'_> {
    fn drop(&mut self) {
        // Under loom a thread unwinding from a detected failure must not call back into
        // the model (it would abort the process); the execution has failed already.
        if crate::sync::unwinding_from_a_failure() {
            return;
        }
        // Relaxed: a stale registration costs a worker one needless wake-up, nothing more.
        self.exits.fetch_sub(WAITER, Ordering::Relaxed);
    }
}

impl<T> JobQueue<T> {
    /// `None` for a capacity of 0.
    pub(super) fn new(capacity: usize) -> Option<Self> {
        if capacity == 0 {
            return None;
        }
        let preallocated = crate::bounded_slice::preallocation(capacity);
        Some(JobQueue {
            outbox: Mutex::new(Outbox {
                items: VecDeque::with_capacity(preallocated),
                popped: 0,
                evicted: 0,
                drained: 0,
            }),
            inbox: Mutex::new(Inbox {
                items: VecDeque::with_capacity(preallocated),
                closed: false,
                pushed: 0,
                high_water: 0,
                outbox_bound: 0,
                sleeping_workers: Sleepers::default(),
                sleeping_publishers: Sleepers::default(),
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            exits: AtomicU64::new(0),
            capacity,
            spin_hint: SpinHint::default(),
        })
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn is_closed(&self) -> bool {
        self.inbox.lock().closed
    }

    /// Items queued by the count of `exits` last seen (never fewer than are queued).
    fn len_after(pushed: u64, exits: u64) -> usize {
        (pushed.wrapping_sub(exits) & EXIT_MASK) as usize
    }

    /// Items queued, looking at `exits` now (Acquire: pairs with the worker's exit, though
    /// only the count is read from it).
    fn len(&self, inbox: &Inbox<T>) -> usize {
        Self::len_after(inbox.pushed, self.exits.load(Ordering::Acquire))
    }

    /// Whether an item may be admitted now (under the inbox lock). First by the inbox's own
    /// bound, which costs no look at `exits` (a line the workers write on every exit);
    /// when that bound says full, by `exits`, which also tightens the bound.
    fn has_room(&self, inbox: &mut Inbox<T>) -> bool {
        if inbox.items.len() + inbox.outbox_bound < self.capacity {
            return true;
        }
        let len = self.len(inbox);
        inbox.outbox_bound = len.saturating_sub(inbox.items.len());
        len < self.capacity
    }

    /// Admits `item` under the inbox lock, then wakes one waiting worker, if any.
    fn admit(&self, mut inbox: MutexGuard<'_, Inbox<T>>, item: T) {
        inbox.items.push_back(item);
        inbox.pushed += 1;
        // The bound is never below the length: only a bound above the high-water mark
        // needs the exact length.
        if inbox.items.len() + inbox.outbox_bound > inbox.high_water {
            let len = self.len(&inbox);
            inbox.high_water = inbox.high_water.max(len);
        }
        self.spin_hint.set(true);
        let wake = inbox.sleeping_workers.take(1) > 0;
        drop(inbox);
        if wake {
            self.not_empty.notify_one();
        }
    }

    /// Queues `item` if there is room now.
    pub(super) fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        let mut inbox = self.inbox.lock();
        if inbox.closed {
            return Err(PushError::Closed(item));
        }
        if !self.has_room(&mut inbox) {
            return Err(PushError::Full(item));
        }
        self.admit(inbox, item);
        Ok(())
    }

    /// Queues `item`, waiting for room until `deadline` (`None`: no deadline).
    pub(super) fn push_until(&self, item: T, deadline: Option<Deadline>) -> Result<(), PushError<T>> {
        let mut inbox = self.inbox.lock();
        let mut spun = false;
        loop {
            if inbox.closed {
                return Err(PushError::Closed(item));
            }
            if self.has_room(&mut inbox) {
                self.admit(inbox, item);
                return Ok(());
            }
            if !std::mem::replace(&mut spun, true) {
                let pushed = inbox.pushed;
                drop(inbox);
                spin_until(|| Self::len_after(pushed, self.exits.load(Ordering::Relaxed)) < self.capacity, 6);
                inbox = self.inbox.lock();
                continue;
            }
            // Registered, then the last look: a worker's exit after the registration sees it.
            let registered = self.register_room_waiter();
            if self.has_room(&mut inbox) {
                continue;
            }
            let seen = inbox.sleeping_publishers.register();
            let (mut woken, timed_out) = self.not_full.wait_until_some(inbox, deadline);
            woken.sleeping_publishers.woke(seen);
            drop(registered);
            inbox = woken;
            // A wake-up that came with the timeout is not wasted: look before giving up.
            if timed_out && !inbox.closed && !self.has_room(&mut inbox) {
                return Err(PushError::Full(item));
            }
        }
    }

    /// For an async publisher that found the queue full, before it registers to wait: on
    /// real threads, spins for about a microsecond (never yielding the runtime's thread)
    /// while no item leaves, so that room a worker makes at once costs no sleep and no
    /// wake-up. A hint only: the publisher looks again under the lock.
    pub(super) fn spin_for_room(&self) {
        let exits = self.exits.load(Ordering::Relaxed) & EXIT_MASK;
        spin_until(|| self.exits.load(Ordering::Relaxed) & EXIT_MASK != exits, 0);
    }

    /// Registers a publisher waiting for room: every exit from now on reports a waiter.
    pub(super) fn register_room_waiter(&self) -> RoomWaiter<'_> {
        // AcqRel: a worker whose exit reads this registration also sees what the publisher
        // did before it (an async publisher's `Notified`, created first).
        self.exits.fetch_add(WAITER, Ordering::AcqRel);
        RoomWaiter { exits: &self.exits }
    }

    /// Queues `item`, evicting the oldest queued item when full (returned, for the caller
    /// to drop unlocked).
    pub(super) fn push_or_evict_oldest(&self, item: T) -> Result<Option<T>, PushError<T>> {
        let mut inbox = self.inbox.lock();
        if inbox.closed {
            return Err(PushError::Closed(item));
        }
        if self.has_room(&mut inbox) {
            self.admit(inbox, item);
            return Ok(None);
        }
        // The oldest item may be in the outbox: take both locks, in order, and decide again.
        drop(inbox);
        let mut outbox = self.outbox.lock();
        let mut inbox = self.inbox.lock();
        if inbox.closed {
            return Err(PushError::Closed(item));
        }
        let evicted = if !self.has_room(&mut inbox) {
            let oldest = outbox.items.pop_front().or_else(|| inbox.items.pop_front());
            if oldest.is_some() {
                outbox.evicted += 1;
                // The slot is taken again at once: no waiter to wake for it.
                self.exits.fetch_add(1, Ordering::AcqRel);
            }
            oldest
        } else {
            None
        };
        drop(outbox);
        self.admit(inbox, item);
        Ok(evicted)
    }

    /// Takes the oldest item, waiting while the queue is empty; `None` once it is closed
    /// and empty. The flag says whether publishers were waiting for room when it left (the
    /// sync ones are woken here; the async ones are the caller's to wake).
    pub(super) fn pop(&self) -> Option<(T, bool)> {
        let mut spun = false;
        loop {
            let mut outbox = self.outbox.lock();
            if outbox.items.is_empty() {
                let mut inbox = self.inbox.lock();
                if inbox.items.is_empty() {
                    if inbox.closed {
                        return None;
                    }
                    drop(outbox);
                    if !std::mem::replace(&mut spun, true) {
                        drop(inbox);
                        spin_until(|| self.spin_hint.inbox_ready(), 6);
                        continue;
                    }
                    let seen = inbox.sleeping_workers.register();
                    let mut woken = self.not_empty.wait(inbox);
                    woken.sleeping_workers.woke(seen);
                    // Let go of the inbox and start again with the locks in order.
                    continue;
                }
                std::mem::swap(&mut outbox.items, &mut inbox.items);
                inbox.outbox_bound = outbox.items.len();
                self.spin_hint.set(false);
                let more_workers = inbox.sleeping_workers.take(outbox.items.len() - 1);
                drop(inbox);
                (0..more_workers).for_each(|_| self.not_empty.notify_one());
            }
            let Some(item) = outbox.items.pop_front() else { continue };
            outbox.popped += 1;
            let before = self.exits.fetch_add(1, Ordering::AcqRel);
            drop(outbox);
            let room_waiters = before >= WAITER;
            if room_waiters {
                // Taking the lock waits for a sync waiter that registered to be in its wait.
                let asleep = self.inbox.lock().sleeping_publishers.take(usize::MAX) > 0;
                if asleep {
                    self.not_full.notify_all();
                }
            }
            return Some((item, room_waiters));
        }
    }

    /// Closes the queue: nothing is admitted from now on; waiting publishers return
    /// `Closed`, workers take what is left and then get `None`.
    pub(super) fn close(&self) {
        let mut inbox = self.inbox.lock();
        inbox.closed = true;
        self.spin_hint.set(true);
        drop(inbox);
        self.wake_everyone();
    }

    /// Closes the queue and removes every queued item (counted as drained).
    pub(super) fn close_and_drain(&self) -> Vec<T> {
        let mut outbox = self.outbox.lock();
        let mut inbox = self.inbox.lock();
        inbox.closed = true;
        self.spin_hint.set(true);
        let left: Vec<T> = outbox.items.drain(..).chain(inbox.items.drain(..)).collect();
        inbox.outbox_bound = 0;
        outbox.drained += left.len() as u64;
        self.exits.fetch_add(left.len() as u64, Ordering::AcqRel);
        drop(inbox);
        drop(outbox);
        self.wake_everyone();
        left
    }

    fn wake_everyone(&self) {
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    /// The counters, read together under both locks.
    pub(super) fn stats(&self) -> QueueStats {
        let outbox = self.outbox.lock();
        let inbox = self.inbox.lock();
        QueueStats {
            pushed: inbox.pushed,
            popped: outbox.popped,
            evicted: outbox.evicted,
            drained: outbox.drained,
            len: outbox.items.len() + inbox.items.len(),
            high_water: inbox.high_water,
            closed: inbox.closed,
        }
    }
}
