//! The state every handle and worker of one bus shares, and the operations on it.
//!
//! See the parent module for the guarantees, invariants and lock order.

use super::handoff::JobQueue;
use super::{Backpressure, BusConfig, BusStats, ConfigError, PublishError, Published, StopError, StopReport};
use crate::queue::PushError;
use crate::sync::async_sync::Notify;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::thread::{self, JoinHandle, ThreadId};
use crate::sync::{catch_unwind, Arc, Condvar, Deadline, Mutex, RwLock};
use crossbeam_utils::CachePadded;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

/// A handler, boxed inside a sized struct so that the facade's `Arc` can share it (loom's
/// `Arc` cannot hold a `dyn` directly).
struct Handler<E>(Box<dyn Fn(&E) + Send + Sync>);

struct Subscriber<E> {
    id: u64,
    handler: Arc<Handler<E>>,
}

impl<E> Clone for Subscriber<E> {
    fn clone(&self) -> Self {
        Subscriber { id: self.id, handler: self.handler.clone() }
    }
}

/// The handlers of one kind at one moment. Copy-on-write: a publish clones the `Arc`, a
/// subscribe or unsubscribe replaces it.
type Snapshot<E> = Arc<Vec<Subscriber<E>>>;

struct Registry<K, E> {
    /// Set by stop once it has joined the workers: later subscriptions are dropped at once.
    closed: bool,
    next_id: u64,
    by_kind: HashMap<K, Snapshot<E>>,
    kind_of: HashMap<u64, K>,
}

/// An event and the handlers it must reach.
struct Job<E> {
    event: E,
    handlers: Snapshot<E>,
}

/// Where stop is.
enum StopState {
    Running,
    Stopping,
    /// A stop's deadline passed while handlers still ran: intake closed, queue abandoned,
    /// the workers left running unjoined; the next stop joins them.
    Detached,
    Stopped(StopReport),
}

/// Outcome counters. Relaxed everywhere: each is an independent tally; they are read
/// exactly only after the workers are joined and the publishers have returned (which
/// orders every increment before the read), and approximately while the bus runs.
///
/// The publishers' counters, the panics and each worker's deliveries sit on cache lines of
/// their own ([`CachePadded`]): a counter written on every event by one side would otherwise
/// make the other side's writes miss the cache.
#[derive(Default)]
struct Counters {
    publishers: CachePadded<PublisherCounters>,
    handler_panics: CachePadded<AtomicU64>,
}

#[derive(Default)]
struct PublisherCounters {
    published: AtomicU64,
    unrouted: AtomicU64,
    dropped_newest: AtomicU64,
    timed_out: AtomicU64,
    refused_in_handler: AtomicU64,
    refused_stopped: AtomicU64,
    cancelled: AtomicU64,
}

#[inline]
fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(super) struct Shared<K, E> {
    pub(super) policy: Backpressure,
    workers: usize,
    registry: RwLock<Registry<K, E>>,
    queue: JobQueue<Job<E>>,
    counters: Counters,
    /// Events delivered, one counter per worker (summed by `stats`).
    delivered: Vec<CachePadded<AtomicU64>>,
    /// Workers that have not exited, and the signal stop waits on for it to reach zero.
    running: Mutex<usize>,
    all_exited: Condvar,
    /// Join handles, taken by the stop that joins them.
    handles: Mutex<Vec<JoinHandle<()>>>,
    /// Each worker records its thread here before it takes its first event.
    worker_ids: Mutex<Vec<ThreadId>>,
    stop_state: Mutex<StopState>,
    stop_changed: Condvar,
    /// Where async publishers wait for room (registered in the queue, see `after_pop`).
    room: Notify,
}

/// What an offer that may not wait leaves to do.
enum Offer<E> {
    Done(Result<Published, PublishError<E>>),
    /// The queue is full and the policy waits for room.
    Wait(Job<E>),
}

impl<K, E> Shared<K, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    E: Send + 'static,
{
    pub(super) fn start(config: BusConfig) -> Result<Arc<Self>, ConfigError> {
        if config.workers == 0 {
            return Err(ConfigError::ZeroWorkers);
        }
        if config.workers > super::MAX_WORKERS {
            return Err(ConfigError::TooManyWorkers { workers: config.workers });
        }
        let queue = JobQueue::new(config.capacity).ok_or(ConfigError::ZeroCapacity)?;
        let shared = Arc::new(Shared {
            policy: config.policy,
            workers: config.workers,
            registry: RwLock::new(Registry {
                closed: false,
                next_id: 0,
                by_kind: HashMap::new(),
                kind_of: HashMap::new(),
            }),
            queue,
            counters: Counters::default(),
            delivered: (0..config.workers).map(|_| CachePadded::default()).collect(),
            running: Mutex::new(config.workers),
            all_exited: Condvar::new(),
            handles: Mutex::new(Vec::with_capacity(config.workers)),
            worker_ids: Mutex::new(Vec::with_capacity(config.workers)),
            stop_state: Mutex::new(StopState::Running),
            stop_changed: Condvar::new(),
            room: Notify::new(),
        });
        let handles: Vec<_> = (0..config.workers)
            .map(|index| {
                let shared = shared.clone();
                thread::spawn_named(format!("event-bus-worker-{index}"), move || shared.work(index))
            })
            .collect();
        *shared.handles.lock() = handles;
        Ok(shared)
    }

    pub(super) fn subscribe(&self, kind: K, handler: Box<dyn Fn(&E) + Send + Sync>) -> u64 {
        let subscriber = Subscriber { id: 0, handler: Arc::new(Handler(handler)) };
        let mut registry = self.registry.write();
        let id = registry.next_id;
        registry.next_id += 1;
        if registry.closed {
            drop(registry);
            // No worker will run it, and keeping it could keep the bus alive in a cycle.
            drop(subscriber);
            return id;
        }
        registry.kind_of.insert(id, kind.clone());
        let mut handlers: Vec<_> = registry.by_kind.get(&kind).map(|list| list.to_vec()).unwrap_or_default();
        handlers.push(Subscriber { id, ..subscriber });
        let replaced = registry.by_kind.insert(kind, Arc::new(handlers));
        drop(registry);
        // The old list only held handlers the new one holds too: nothing user-written
        // is dropped with it, but drop it unlocked all the same.
        drop(replaced);
        id
    }

    pub(super) fn unsubscribe(&self, id: u64) -> bool {
        let mut registry = self.registry.write();
        let Some(kind) = registry.kind_of.remove(&id) else { return false };
        let old = registry.by_kind.remove(&kind);
        if let Some(old) = &old {
            let rest: Vec<_> = old.iter().filter(|s| s.id != id).cloned().collect();
            if !rest.is_empty() {
                registry.by_kind.insert(kind, Arc::new(rest));
            }
        }
        // The removed handler may be dropped with the old list, and its destructor is user
        // code that may call back into the bus: drop it after the lock is released.
        mutation_point!(
            "event_bus.unsubscribe.drops_handler_under_lock",
            {
                drop(registry);
                drop(old)
            },
            {
                drop(old);
                drop(registry)
            }
        );
        true
    }

    /// Counts the call and copies the handlers out of the lock: the job to queue, or the
    /// outcome when there is nothing to queue.
    fn route(&self, kind: K, event: E) -> Result<Job<E>, Result<Published, PublishError<E>>> {
        bump(&self.counters.publishers.published);
        let handlers = self.registry.read().by_kind.get(&kind).cloned();
        match handlers {
            Some(handlers) => Ok(Job { event, handlers }),
            // A stopped bus has no handlers left: say it is stopped rather than unrouted.
            None if self.queue.is_closed() => Err(self.refuse_stopped(event)),
            None => {
                bump(&self.counters.publishers.unrouted);
                Err(Ok(Published::Unrouted))
            }
        }
    }

    fn refuse_stopped(&self, event: E) -> Result<Published, PublishError<E>> {
        bump(&self.counters.publishers.refused_stopped);
        Err(PublishError::Stopped(event))
    }

    /// The policy's non-waiting step.
    fn offer(&self, job: Job<E>, policy: Backpressure) -> Offer<E> {
        let pushed = match policy {
            Backpressure::DropOldest => self.queue.push_or_evict_oldest(job).map(|evicted| match evicted {
                // The evicted job (its event and its snapshot) is dropped here, unlocked.
                Some(_) => Published::QueuedEvictingOldest,
                None => Published::Queued,
            }),
            Backpressure::DropNewest | Backpressure::Block | Backpressure::FailAfter(_) => mutation_point!(
                "event_bus.publish.spawns_thread_per_event",
                self.queue.try_push(job).map(|()| Published::Queued),
                Ok(spawn_per_event(job))
            ),
        };
        match pushed {
            Ok(published) => Offer::Done(Ok(published)),
            Err(PushError::Closed(job)) => Offer::Done(self.refuse_stopped(job.event)),
            Err(PushError::Full(job)) => match policy {
                Backpressure::DropNewest => {
                    bump(&self.counters.publishers.dropped_newest);
                    Offer::Done(Ok(Published::DroppedNewest))
                }
                _ if mutation_point!("event_bus.publish.handler_waits_on_full_queue", self.is_own_worker(), false) => {
                    bump(&self.counters.publishers.refused_in_handler);
                    Offer::Done(Err(PublishError::FullInHandler(job.event)))
                }
                _ => Offer::Wait(job),
            },
        }
    }

    pub(super) fn publish(&self, kind: K, event: E, policy: Backpressure) -> Result<Published, PublishError<E>> {
        let job = match self.route(kind, event) {
            Ok(job) => job,
            Err(outcome) => return outcome,
        };
        let job = match self.offer(job, policy) {
            Offer::Done(outcome) => return outcome,
            Offer::Wait(job) => job,
        };
        let deadline = match policy {
            Backpressure::FailAfter(timeout) => Deadline::within(timeout),
            _ => None,
        };
        let pushed = self.queue.push_until(job, deadline);
        match pushed {
            Ok(()) => Ok(Published::Queued),
            Err(PushError::Closed(job)) => self.refuse_stopped(job.event),
            Err(PushError::Full(job)) => {
                bump(&self.counters.publishers.timed_out);
                Err(PublishError::TimedOut(job.event))
            }
        }
    }

    pub(super) async fn publish_async(
        &self,
        kind: K,
        event: E,
        policy: Backpressure,
    ) -> Result<Published, PublishError<E>> {
        let job = match self.route(kind, event) {
            Ok(job) => job,
            Err(outcome) => return outcome,
        };
        let mut job = match self.offer(job, policy) {
            Offer::Done(outcome) => return outcome,
            Offer::Wait(job) => job,
        };
        let deadline = match policy {
            Backpressure::FailAfter(timeout) => Deadline::tokio_after(timeout),
            _ => None,
        };
        // Counts the cancellation if this future is dropped while it waits.
        let mut waiting = Waiting { counters: &self.counters.publishers, finished: false };
        self.queue.spin_for_room();
        loop {
            // Registered before this look at the queue: a pop after the registration sees it
            // and notifies, and `notify_waiters` reaches every `Notified` created before it
            // (this one is created before registering, so the pop that sees the
            // registration also comes after the `Notified`).
            let looked = mutation_point!(
                "event_bus.publish_async.registers_after_looking",
                {
                    let room = self.room.notified();
                    let registered = self.queue.register_room_waiter();
                    self.try_queue(job).map_err(|job| (job, registered, room))
                },
                self.try_queue(job).map_err(|job| (job, self.queue.register_room_waiter(), self.room.notified()))
            );
            let (returned, registered, room) = match looked {
                Ok(outcome) => {
                    waiting.finished = true;
                    return outcome;
                }
                Err(waiting_for_room) => waiting_for_room,
            };
            let timed_out = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, room).await.is_err(),
                None => {
                    room.await;
                    false
                }
            };
            drop(registered);
            job = returned;
            if timed_out {
                waiting.finished = true;
                // A last try: room made just as the deadline passed is not wasted.
                return self.try_queue(job).unwrap_or_else(|job| {
                    bump(&self.counters.publishers.timed_out);
                    Err(PublishError::TimedOut(job.event))
                });
            }
        }
    }

    /// Queues `job` if there is room now; gives it back when the queue is full.
    fn try_queue(&self, job: Job<E>) -> Result<Result<Published, PublishError<E>>, Job<E>> {
        match self.queue.try_push(job) {
            Ok(()) => Ok(Ok(Published::Queued)),
            Err(PushError::Closed(job)) => Ok(self.refuse_stopped(job.event)),
            Err(PushError::Full(job)) => Err(job),
        }
    }

    /// Wakes the async publishers waiting for the room a pop just made: `waiters` says
    /// whether the pop saw any publisher registered for room (the queue has woken the sync
    /// ones). A publisher whose look found the queue full registered before that look, so
    /// the pop that made room after it sees the registration (see [`JobQueue`]).
    fn after_pop(&self, waiters: bool) {
        if mutation_point!("event_bus.work.pop_wakes_no_async_publisher", waiters, false) {
            self.room.notify_waiters();
        }
    }

    fn is_own_worker(&self) -> bool {
        let me = thread::current_id();
        self.worker_ids.lock().contains(&me)
    }

    /// A worker: takes events until the queue is closed and empty.
    fn work(&self, index: usize) {
        self.worker_ids.lock().push(thread::current_id());
        while let Some((job, room_waiters)) = self.queue.pop() {
            self.after_pop(room_waiters);
            let panicked = self.deliver(job, &self.delivered[index]);
            if mutation_point!("event_bus.work.exits_on_handler_panic", false, panicked) {
                break;
            }
        }
        let mut running = self.running.lock();
        *running -= 1;
        if *running == 0 {
            self.all_exited.notify_all();
        }
    }

    /// Runs the handlers of the job's snapshot on its event, catching and counting their
    /// panics; whether any panicked.
    fn deliver(&self, job: Job<E>, delivered: &AtomicU64) -> bool {
        let mut panicked = false;
        let handlers = job.handlers.iter().filter(|subscriber| {
            mutation_point!("event_bus.work.rechecks_subscription", true, self.is_subscribed(subscriber.id))
        });
        for subscriber in handlers {
            if catch_unwind(|| (subscriber.handler.0)(&job.event)).is_err() {
                bump(&self.counters.handler_panics);
                panicked = true;
            }
        }
        // A panic in the event's own destructor must not end the worker either.
        if catch_unwind(move || drop(job)).is_err() {
            bump(&self.counters.handler_panics);
            panicked = true;
        }
        // Every path counts the event out of flight, the panicking ones included.
        mutation_point!("event_bus.work.panic_skips_delivered_count", bump(delivered), {
            if !panicked {
                bump(delivered)
            }
        });
        panicked
    }

    /// Whether subscription `id` is still in the registry (only a mutant asks: an event
    /// reaches the handlers of its snapshot, whatever was unsubscribed since).
    fn is_subscribed(&self, id: u64) -> bool {
        self.registry.read().kind_of.contains_key(&id)
    }
}

impl<K, E> Shared<K, E> {
    pub(super) fn stats(&self) -> BusStats {
        let c = &self.counters.publishers;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let queue = self.queue.stats();
        BusStats {
            published: load(&c.published),
            queued: queue.pushed,
            taken: queue.popped,
            delivered: self.delivered.iter().map(|worker| load(worker)).sum(),
            unrouted: load(&c.unrouted),
            dropped_newest: load(&c.dropped_newest),
            dropped_oldest: queue.evicted,
            timed_out: load(&c.timed_out),
            refused_in_handler: load(&c.refused_in_handler),
            refused_stopped: load(&c.refused_stopped),
            cancelled: load(&c.cancelled),
            abandoned: queue.drained,
            handler_panics: load(&self.counters.handler_panics),
            queue_len: queue.len,
            queue_high_water: queue.high_water,
            capacity: self.queue.capacity(),
            workers: self.workers,
            live_workers: *self.running.lock(),
        }
    }

    /// Refuses new events and wakes every waiting publisher (sync ones through the queue).
    fn close_intake(&self) {
        self.queue.close();
        mutation_point!("event_bus.stop.wakes_no_async_publisher", self.room.notify_waiters(), ());
    }

    pub(super) fn stop(&self, timeout: Option<Duration>) -> Result<StopReport, StopError> {
        // Checked first: a worker must never wait for a stop that is joining it.
        if self.worker_ids.lock().contains(&thread::current_id()) {
            self.close_intake();
            return Err(StopError::CalledFromHandler);
        }
        let deadline = timeout.and_then(Deadline::within);
        let mut state = self.stop_state.lock();
        let mut took_over_detached = false;
        loop {
            match &*state {
                StopState::Running => break,
                // A stop whose deadline passed left the workers detached: this one joins them.
                StopState::Detached => {
                    took_over_detached = true;
                    break;
                }
                StopState::Stopping => {
                    let (next, timed_out) = self.stop_changed.wait_until_some(state, deadline);
                    state = next;
                    if timed_out && matches!(*state, StopState::Stopping) {
                        drop(state);
                        return Ok(StopReport { stats: self.stats(), deadline_passed: true });
                    }
                }
                StopState::Stopped(report) => return Ok(*report),
            }
        }
        // Claimed in the critical section that found the bus running: a second stop that
        // looked in between would claim it too.
        let mut state = mutation_point!("event_bus.stop.claimed_in_two_steps", state, {
            drop(state);
            self.stop_state.lock()
        });
        *state = StopState::Stopping;
        drop(state);

        self.close_intake();
        let all_exited = deadline.is_none_or(|deadline| self.wait_for_workers(deadline));
        if !all_exited {
            // Counted by the queue as drained; dropped here, unlocked.
            drop(self.queue.close_and_drain());
            // The workers still in a handler keep running, detached: the deadline is kept,
            // and a later stop (or the last handle's drop) joins them.
            let report = StopReport { stats: self.stats(), deadline_passed: true };
            if report.stats.live_workers > 0 {
                *self.stop_state.lock() = StopState::Detached;
                // A stop waiting for this one takes the detached workers over.
                mutation_point!("event_bus.stop_within.detaching_wakes_no_stopper", self.stop_changed.notify_all(), ());
                return Ok(report);
            }
        }
        let handles = std::mem::take(&mut *self.handles.lock());
        mutation_point!(
            "event_bus.stop.does_not_join",
            for handle in handles {
                // A worker catches every panic of user code, so it cannot end in one.
                let _ = handle.join();
            },
            drop(handles)
        );
        // Dropping the handlers breaks the cycles of handlers that hold a handle.
        let mut registry = self.registry.write();
        registry.closed = true;
        let handlers = std::mem::take(&mut registry.by_kind);
        registry.kind_of.clear();
        drop(registry);
        drop(handlers);

        let report = StopReport { stats: self.stats(), deadline_passed: !all_exited || took_over_detached };
        *self.stop_state.lock() = StopState::Stopped(report);
        mutation_point!("event_bus.stop.second_stop_never_woken", self.stop_changed.notify_all(), ());
        Ok(report)
    }

    /// Waits until every worker has exited or `deadline` passes; whether they all exited.
    fn wait_for_workers(&self, deadline: Deadline) -> bool {
        let mut running = self.running.lock();
        while *running > 0 {
            let (guard, timed_out) = mutation_point!(
                "event_bus.stop_within.ignores_deadline",
                self.all_exited.wait_until(running, deadline),
                (self.all_exited.wait(running), false)
            );
            running = guard;
            if timed_out {
                break;
            }
        }
        *running == 0
    }

    pub(super) fn stop_on_drop(&self) {
        if std::thread::panicking() {
            // Under the model checkers a failed execution is unwinding: touching their
            // primitives now aborts the process. On real threads, close without joining so
            // that the workers exit.
            if !crate::sync::Backend::CURRENT.is_model_checker() {
                self.queue.close();
            }
            return;
        }
        let _ = self.stop(None);
    }
}

/// The seed's design (`go handler(event)`), kept only as the mutant
/// `event_bus.publish.spawns_thread_per_event`: a detached thread per event, no bound, no
/// join, no count.
fn spawn_per_event<E: Send + 'static>(job: Job<E>) -> Published {
    drop(thread::spawn(move || {
        for subscriber in job.handlers.iter() {
            (subscriber.handler.0)(&job.event);
        }
    }));
    Published::Queued
}

/// Counts an async publish dropped before its outcome.
struct Waiting<'a> {
    counters: &'a PublisherCounters,
    finished: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.finished {
            bump(&self.counters.cancelled);
        }
    }
}
