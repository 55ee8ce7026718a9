//! Event bus: handlers per event kind, a fixed worker pool fed by a bounded queue, and a
//! backpressure policy the caller chooses.
//!
//! The design the Go seed recommends over its own `go handler(event)` per event, made
//! stricter: nothing it starts outlives [`EventBus::stop`], nothing it refuses goes
//! uncounted, and a handler can neither kill a worker nor deadlock the bus.
//!
//! # Guarantees
//!
//! - **Which handlers an event reaches.** [`publish`](BusHandle::publish) copies the
//!   handlers subscribed to the event's kind under the registry's read lock (the
//!   *snapshot*; one `Arc` clone, the list is copy-on-write). The event reaches exactly the
//!   handlers of that snapshot, each once, in subscription order, on one worker, whatever
//!   is subscribed or unsubscribed afterwards. A handler subscribed before `publish` is
//!   called (in happens-before order) is in the snapshot; one unsubscribed before it is not.
//! - **Bounded.** At most `capacity` events wait, at most `workers` threads run handlers;
//!   no thread or task is started per event.
//! - **Backpressure, counted.** [`Backpressure`] says what a publish does when the queue is
//!   full. Every publish ends in exactly one counted outcome ([`BusStats`]), so
//!   `published = delivered + unrouted + dropped + rejected + cancelled + abandoned` once
//!   the bus is stopped and no publish is in progress ([`BusStats::is_conserved`]).
//! - **Handler panics** are caught and counted; the worker goes on with the next handler.
//! - **Re-entrancy.** A handler may subscribe, unsubscribe and publish on its own bus. A
//!   publish that would wait for room (`Block`, `FailAfter`) made from one of the bus's own
//!   workers does not wait: with every worker waiting for room that only a worker can make,
//!   the bus would deadlock. It fails at once with [`PublishError::FullInHandler`] (counted
//!   in [`BusStats::refused_in_handler`]) and the handler gets its event back.
//! - **Stop** refuses new events at once ([`PublishError::Stopped`]), lets the workers
//!   drain the queue (or, with [`stop_within`](EventBus::stop_within), abandons and counts
//!   what is still queued when the deadline passes, and returns at it, leaving any worker
//!   still in a handler running, detached and counted, for the next stop to join), joins
//!   every worker, and drops every handler. It is idempotent: concurrent and later calls
//!   wait for the first and return its report. Dropping the [`EventBus`] stops it.
//! - **Async.** [`publish_async`](BusHandle::publish_async) waits for room without blocking
//!   the runtime's thread (tokio's `Notify`, woken by a pop that finds a publisher
//!   registered as waiting for room, and by stop).
//!
//! # Invariants
//!
//! - The queue holds at most `capacity` jobs (the invariant of the bus's two-lock queue,
//!   `handoff.rs`: publishers append to an inbox, workers take from an outbox and swap
//!   the inbox in when it runs dry, so the two sides meet on a lock once per batch); exactly
//!   `workers` threads are started, by [`EventBus::new`] (at most [`MAX_WORKERS`]), and all
//!   are joined by the stop that completes (a `stop_within` whose deadline passed does not).
//! - Every publish call raises `published` once, on entry, and exactly one outcome counter
//!   (or the queue's `pushed`) once, before it returns or its future is dropped.
//! - A publisher waiting for room (sync or async) is registered in the queue's exit counter
//!   from before its last look at the queue until it stops waiting; a worker's pop is one
//!   read-modify-write of that counter, so a pop that makes room after the look sees the
//!   registration, wakes the sync waiters itself and notifies `room` for the async ones.
//! - No user code (handler, event or handler destructor) runs under an internal lock:
//!   snapshots and removed handlers are dropped after their lock is released.
//!
//! Lock order: `stop_state` → (`queue` | `running` | `workers` | `worker_ids` | `registry`);
//! the locks on the right are never held together (`queue` is two locks, taken outbox
//! before inbox).
//!
//! # Examples
//!
//! ```
//! use racekit::event_bus::{Backpressure, BusConfig, EventBus, Published};
//! use racekit::sync::{atomic::{AtomicU64, Ordering}, Arc};
//!
//! let bus = EventBus::<&str, u64>::new(BusConfig { workers: 2, capacity: 16, policy: Backpressure::Block })?;
//! let total = Arc::new(AtomicU64::new(0));
//! let seen = total.clone();
//! bus.subscribe("order", move |amount: &u64| {
//!     seen.fetch_add(*amount, Ordering::Relaxed);
//! });
//! assert_eq!(bus.publish("order", 40), Ok(Published::Queued));
//! assert_eq!(bus.publish("order", 2), Ok(Published::Queued));
//! assert_eq!(bus.publish("refund", 7), Ok(Published::Unrouted)); // nobody listens
//! let report = bus.stop()?;
//! assert_eq!(total.load(Ordering::Relaxed), 42);
//! assert_eq!(report.stats.delivered, 2);
//! assert!(report.stats.is_conserved());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod handoff;
mod shared;

use crate::sync::Arc;
use shared::Shared;
use std::fmt;
use std::hash::Hash;
use std::time::Duration;
use thiserror::Error;

/// The [mutation points](crate::mutation) planted in this pattern: one-expression bugs a
/// model switches on with [`Model::mutant`](crate::model::Model::mutant).
pub const MUTATION_POINTS: &[crate::mutation::MutationPoint] = &[
    crate::mutation::MutationPoint {
        name: "event_bus.publish.spawns_thread_per_event",
        bug: "publish hands each event to a detached thread of its own (the seed's `go handler(event)`) instead of the workers' bounded queue: unbounded, never joined, never counted",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.publish.handler_waits_on_full_queue",
        bug: "a waiting publish from one of the bus's own workers waits for room like any other, which only a worker can make",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.publish_async.registers_after_looking",
        bug: "an async publisher registers for the wake-up only after its look found the queue full, so a pop in between wakes nobody",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.unsubscribe.drops_handler_under_lock",
        bug: "unsubscribe drops the removed handler while it still holds the registry's write lock, so a handler whose destructor calls the bus deadlocks",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.work.rechecks_subscription",
        bug: "a worker skips the handlers unsubscribed since publish instead of delivering to the snapshot taken at publish",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.work.exits_on_handler_panic",
        bug: "a worker whose handler panicked exits, leaving the queued events to workers that may not exist",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.work.panic_skips_delivered_count",
        bug: "an event whose handler panicked is never counted delivered: it stays in flight forever",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.work.pop_wakes_no_async_publisher",
        bug: "a worker's pop wakes no async publisher waiting for the room it made",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.stop.wakes_no_async_publisher",
        bug: "stop closes the queue but wakes no async publisher waiting for room, which then waits for a pop that may never come",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.stop.claimed_in_two_steps",
        bug: "stop finds the bus running and claims the stop in two critical sections, so two concurrent stops both run it",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.stop.does_not_join",
        bug: "stop closes the queue and returns without joining the workers",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.stop.second_stop_never_woken",
        bug: "the stop that completes does not wake the concurrent stops waiting for it",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.stop_within.ignores_deadline",
        bug: "stop_within waits for the workers without its deadline, so a handler that never returns holds it forever",
    },
    crate::mutation::MutationPoint {
        name: "event_bus.stop_within.detaching_wakes_no_stopper",
        bug: "a stop_within whose deadline passed detaches the workers without waking the stop waiting to take them over",
    },
];

/// What a publish does when the queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backpressure {
    /// Wait for room (asynchronously for [`publish_async`](BusHandle::publish_async)).
    #[default]
    Block,
    /// Wait at most this long, then fail with [`PublishError::TimedOut`] (a duration too
    /// long to represent, such as `Duration::MAX`, waits as [`Block`](Self::Block) does).
    FailAfter(Duration),
    /// Drop the event being published ([`Published::DroppedNewest`]).
    DropNewest,
    /// Evict the oldest queued event to make room ([`Published::QueuedEvictingOldest`]).
    DropOldest,
}

/// How a bus is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusConfig {
    /// Worker threads running handlers (at least 1).
    pub workers: usize,
    /// Events that may wait in the queue (at least 1).
    pub capacity: usize,
    /// The policy of [`publish`](BusHandle::publish) and
    /// [`publish_async`](BusHandle::publish_async); the `_with` forms take one per call.
    pub policy: Backpressure,
}

impl Default for BusConfig {
    /// Two workers, room for 64 events, [`Backpressure::Block`].
    fn default() -> Self {
        BusConfig { workers: 2, capacity: 64, policy: Backpressure::Block }
    }
}

/// A configuration the bus cannot run with.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// No worker would ever run a handler.
    #[error("an event bus needs at least one worker: set BusConfig::workers to 1 or more")]
    ZeroWorkers,
    /// No event could ever be queued.
    #[error("an event bus needs room for at least one event: set BusConfig::capacity to 1 or more")]
    ZeroCapacity,
    /// More worker threads than a bus may start.
    #[error("an event bus starts one thread per worker and {workers} is above the limit of {MAX_WORKERS}: set BusConfig::workers to at most {MAX_WORKERS}")]
    TooManyWorkers {
        /// The number asked for.
        workers: usize,
    },
}

/// The most worker threads one bus starts ([`ConfigError::TooManyWorkers`] above it): each
/// is an operating-system thread, started at once. The queue's capacity has no such limit:
/// it is a bound, and memory is taken only for events actually queued.
pub const MAX_WORKERS: usize = 1024;

/// What happened to a published event that was not refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// Queued for a worker.
    Queued,
    /// Queued after evicting the oldest queued event ([`Backpressure::DropOldest`]; the
    /// evicted one is counted in [`BusStats::dropped_oldest`]).
    QueuedEvictingOldest,
    /// Dropped because the queue was full ([`Backpressure::DropNewest`]; counted in
    /// [`BusStats::dropped_newest`]).
    DroppedNewest,
    /// No handler was subscribed to its kind (counted in [`BusStats::unrouted`]).
    Unrouted,
}

/// Why an event was refused; the event comes back.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PublishError<E> {
    /// The bus is stopped (or stopping).
    #[error("the event bus is stopped: publish before stop is called, or build a new bus")]
    Stopped(E),
    /// [`Backpressure::FailAfter`]: the queue stayed full for the whole timeout.
    #[error(
        "the event queue stayed full for the whole timeout: add workers or capacity, make handlers faster, \
         or choose a drop policy"
    )]
    TimedOut(E),
    /// A handler of this bus published with a waiting policy while the queue was full.
    #[error(
        "the event queue is full and this publish comes from one of the bus's own handlers, where waiting \
         could deadlock the bus: retry the returned event later, or publish it with a drop policy"
    )]
    FullInHandler(E),
}

impl<E> PublishError<E> {
    /// The event that was not published.
    pub fn into_inner(self) -> E {
        match self {
            PublishError::Stopped(event) | PublishError::TimedOut(event) | PublishError::FullInHandler(event) => event,
        }
    }
}

/// Why a stop could not finish.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum StopError {
    /// Stop was called from one of the bus's own handlers, which cannot join the worker it
    /// runs on. The bus now refuses new events and its workers exit once the queue is empty.
    #[error(
        "stop was called from a handler of this bus, which cannot join its own worker: the bus now refuses \
         new events; call stop from outside the bus to join its workers"
    )]
    CalledFromHandler,
}

/// Counters of a bus. Exact once the bus is stopped and no publish call is in progress;
/// while it runs they are read one by one and may be mutually inconsistent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Publish calls (sync and async), each counted on entry.
    pub published: u64,
    /// Events admitted to the queue.
    pub queued: u64,
    /// Events a worker has taken from the queue.
    pub taken: u64,
    /// Events whose every handler has run (panicking handlers included).
    pub delivered: u64,
    /// Events published while no handler was subscribed to their kind.
    pub unrouted: u64,
    /// Events dropped by [`Backpressure::DropNewest`].
    pub dropped_newest: u64,
    /// Queued events evicted by [`Backpressure::DropOldest`].
    pub dropped_oldest: u64,
    /// Publishes refused by [`Backpressure::FailAfter`] ([`PublishError::TimedOut`]).
    pub timed_out: u64,
    /// Waiting publishes from the bus's own handlers refused ([`PublishError::FullInHandler`]).
    pub refused_in_handler: u64,
    /// Publishes refused because the bus was stopped ([`PublishError::Stopped`]).
    pub refused_stopped: u64,
    /// Async publishes whose future was dropped before an outcome (the event went with it).
    pub cancelled: u64,
    /// Events still queued when a [`stop_within`](EventBus::stop_within) deadline passed.
    pub abandoned: u64,
    /// Handler calls that panicked (caught; the worker went on).
    pub handler_panics: u64,
    /// Events queued now.
    pub queue_len: usize,
    /// The most events ever queued at once, as publishers counted them when they queued
    /// one (an event a worker was taking at that moment may be included; never above
    /// `capacity`).
    pub queue_high_water: usize,
    /// The queue's capacity.
    pub capacity: usize,
    /// Workers configured.
    pub workers: usize,
    /// Workers that have not exited.
    pub live_workers: usize,
}

impl BusStats {
    /// Events dropped by a drop policy.
    pub fn dropped(&self) -> u64 {
        self.dropped_newest + self.dropped_oldest
    }

    /// Publishes refused with an error.
    pub fn rejected(&self) -> u64 {
        self.timed_out + self.refused_in_handler + self.refused_stopped
    }

    /// Events taken by a worker whose handlers have not all run yet.
    pub fn in_flight(&self) -> u64 {
        self.taken.saturating_sub(self.delivered)
    }

    /// Whether every publish is accounted for: `published = delivered + in_flight +
    /// queue_len + unrouted + dropped + rejected + cancelled + abandoned`, and the queue's
    /// own ledger `queued = taken + dropped_oldest + abandoned + queue_len` holds. Exact
    /// when no publish is in progress and the workers are idle or joined.
    pub fn is_conserved(&self) -> bool {
        let queue_len = self.queue_len as u64;
        let outside_queue = self.unrouted + self.dropped_newest + self.rejected() + self.cancelled;
        self.taken >= self.delivered
            && self.queued == self.taken + self.dropped_oldest + self.abandoned + queue_len
            && self.published
                == self.delivered + self.in_flight() + queue_len + self.dropped_oldest + self.abandoned + outside_queue
    }
}

/// What [`stop`](EventBus::stop) found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopReport {
    /// The counters when stop returned: final once every worker is joined (`live_workers == 0`).
    pub stats: BusStats,
    /// Whether a [`stop_within`](EventBus::stop_within) deadline passed before the queue
    /// was drained (what was left is [`BusStats::abandoned`]); workers it left running in
    /// a handler are `stats.live_workers`, joined by the next stop.
    pub deadline_passed: bool,
}

/// Identifies a subscription, for [`unsubscribe`](BusHandle::unsubscribe).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(u64);

/// A shared handle to a bus: publish, subscribe, unsubscribe, read stats. Cheap to clone;
/// move one into a handler to publish from it. It cannot stop the bus: the [`EventBus`]
/// owns the workers (and stops them when dropped).
pub struct BusHandle<K, E> {
    shared: Arc<Shared<K, E>>,
}

/// The owner of a bus: stops it (drain and join) when dropped. It dereferences to a
/// [`BusHandle`] for publishing and subscribing.
///
/// Compared with the alternatives a service would reach for: a hand-written
/// crossbeam-channel worker pool has no per-kind routing, no policies other than
/// block/try, and no counted, joined shutdown; tokio's `broadcast` delivers every message
/// to every receiver task and reports overflow as lag on the receiving side. See the crate
/// README for measured throughput.
pub struct EventBus<K, E> {
    handle: BusHandle<K, E>,
}

impl<K, E> EventBus<K, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    E: Send + 'static,
{
    /// Starts `config.workers` worker threads (through [`crate::sync::thread`], so a check
    /// counts them) behind a queue of `config.capacity` events.
    pub fn new(config: BusConfig) -> Result<Self, ConfigError> {
        Ok(EventBus { handle: BusHandle { shared: Shared::start(config)? } })
    }

    /// A handle for publishing and subscribing from elsewhere (handlers included).
    pub fn handle(&self) -> BusHandle<K, E> {
        self.handle.clone()
    }

    /// Stops the bus: refuses new events, lets the workers drain the queue, joins them,
    /// drops every handler. Idempotent; concurrent calls wait for the first.
    ///
    /// Blocks while handlers run: from async code, call it on a blocking thread.
    pub fn stop(&self) -> Result<StopReport, StopError> {
        self.handle.shared.stop(None)
    }

    /// Like [`stop`](Self::stop), but returns by its deadline: events still queued when
    /// `timeout` has passed are abandoned (counted in [`BusStats::abandoned`]), and workers
    /// still inside a handler then are left running, detached: the report counts them in
    /// [`BusStats::live_workers`], they exit when their handler returns, and the next
    /// [`stop`](Self::stop) (or dropping the bus) joins them. A timeout too long to
    /// represent (`Duration::MAX`) is no deadline: this is then [`stop`](Self::stop).
    ///
    /// A concurrent stop still in progress at the deadline is not waited for past it: the
    /// report then has `deadline_passed` set and the counters as they stood.
    pub fn stop_within(&self, timeout: Duration) -> Result<StopReport, StopError> {
        self.handle.shared.stop(Some(timeout))
    }
}

impl<K, E> std::ops::Deref for EventBus<K, E> {
    type Target = BusHandle<K, E>;
    fn deref(&self) -> &BusHandle<K, E> {
        &self.handle
    }
}

impl<K, E> Drop for EventBus<K, E> {
    fn drop(&mut self) {
        self.handle.shared.stop_on_drop();
    }
}

impl<K, E> Clone for BusHandle<K, E> {
    fn clone(&self) -> Self {
        BusHandle { shared: self.shared.clone() }
    }
}

impl<K, E> BusHandle<K, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    E: Send + 'static,
{
    /// Subscribes `handler` to events of `kind`. Events published from now on (in
    /// happens-before order) reach it; events already published do not. After the bus
    /// has stopped, the handler is dropped at once.
    pub fn subscribe(&self, kind: K, handler: impl Fn(&E) + Send + Sync + 'static) -> SubscriptionId {
        SubscriptionId(self.shared.subscribe(kind, Box::new(handler)))
    }

    /// Removes a subscription; `false` if it was already removed. Events published before
    /// still reach it (their snapshot holds it); events published after do not.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        self.shared.unsubscribe(id.0)
    }

    /// Publishes with the bus's configured policy.
    pub fn publish(&self, kind: K, event: E) -> Result<Published, PublishError<E>> {
        self.publish_with(kind, event, self.shared.policy)
    }

    /// Publishes with `policy`. Blocks only for [`Backpressure::Block`] and
    /// [`Backpressure::FailAfter`], and never on one of the bus's own workers.
    pub fn publish_with(&self, kind: K, event: E, policy: Backpressure) -> Result<Published, PublishError<E>> {
        self.shared.publish(kind, event, policy)
    }

    /// Publishes with the bus's configured policy, waiting for room asynchronously.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if the future is dropped while waiting for room, the event is
    /// dropped with it (counted in [`BusStats::cancelled`]). It never leaves a half-queued
    /// event: the event is queued, refused or cancelled, exactly one of them.
    pub async fn publish_async(&self, kind: K, event: E) -> Result<Published, PublishError<E>> {
        self.publish_async_with(kind, event, self.shared.policy).await
    }

    /// Publishes with `policy`, waiting for room asynchronously (see
    /// [`publish_async`](Self::publish_async) for cancel safety). Under shuttle, time is not
    /// modelled: a [`Backpressure::FailAfter`] wait times out only when the test triggers it.
    pub async fn publish_async_with(
        &self,
        kind: K,
        event: E,
        policy: Backpressure,
    ) -> Result<Published, PublishError<E>> {
        self.shared.publish_async(kind, event, policy).await
    }

    /// The counters (see [`BusStats`] for when they are exact).
    pub fn stats(&self) -> BusStats {
        self.shared.stats()
    }
}

impl<K, E> fmt::Debug for BusHandle<K, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusHandle").field("policy", &self.shared.policy).finish_non_exhaustive()
    }
}

impl<K, E> fmt::Debug for EventBus<K, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus").field("policy", &self.handle.shared.policy).finish_non_exhaustive()
    }
}
