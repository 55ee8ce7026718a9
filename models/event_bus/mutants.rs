//! Buggy variants of the event bus, each wrong in one place, all sharing one scaffold so
//! that every other line is the same as in a correct bus. The scaffold with no bug
//! switched on passes every scenario the real bus passes.

use super::*;
use crate::support::{expect_caught, MODEL_CHECKER};
use racekit::model::{Failure, FailureKind};
use racekit::queue::{BoundedQueue, PushError};
use racekit::sync::async_sync::Notify;
use racekit::sync::atomic::AtomicUsize as ModelledUsize;
use racekit::sync::thread::{JoinHandle, ThreadId};
use racekit::sync::{catch_unwind, Condvar, Mutex, RwLock};

/// The seed's design: a thread per event, no queue, no bound, nothing joined.
const SPAWN_PER_EVENT: u8 = 1;
/// The worker reads the handler list when it delivers, not the copy made at publish.
const HANDLERS_READ_WHEN_DELIVERED: u8 = 2;
/// A handler's panic ends its worker.
const WORKER_DIES_ON_PANIC: u8 = 3;
/// The first stop never wakes a concurrent stop waiting for it (a missing wake-up).
const SECOND_STOP_NEVER_WOKEN: u8 = 4;
/// A blocking publish from a handler waits for room like any other.
const HANDLER_BLOCKS_ON_FULL_QUEUE: u8 = 5;
/// Stop checks that it is the first and claims the stop in two critical sections.
const STOP_CLAIMED_IN_TWO_STEPS: u8 = 6;
/// A worker's pop wakes no waiting async publisher (a missing wake-up).
const POP_WAKES_NO_ASYNC_PUBLISHER: u8 = 7;
/// An async publisher registers for the wake-up only after it found the queue full.
#[cfg(not(racekit_loom))]
const ASYNC_WAITER_REGISTERED_AFTER_LOOKING: u8 = 8;
/// Stop closes the queue but does not join the workers.
const STOP_DOES_NOT_JOIN: u8 = 9;

struct Handler(HandlerFn);
type Snapshot = Arc<Vec<Arc<Handler>>>;
/// An event, its kind and the handlers copied at publish.
type Job = (u32, u8, Snapshot);

enum StopState {
    Running,
    Stopping,
    Stopped(StopReport),
}

/// The next subscription id, and every subscription: id, kind, handler.
type Registry = (u64, Vec<(u64, u8, Arc<Handler>)>);

struct Core<const BUG: u8> {
    registry: RwLock<Registry>,
    queue: BoundedQueue<Job>,
    workers: usize,
    counts: Mutex<BusStats>,
    worker_ids: Mutex<Vec<ThreadId>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
    stop_state: Mutex<StopState>,
    stop_changed: Condvar,
    room: Notify,
    async_waiters: ModelledUsize,
}

/// Owner and handle at once (the scaffold needs no drop-to-stop).
pub struct MutantBus<const BUG: u8>(Arc<Core<BUG>>);

impl<const BUG: u8> Clone for MutantBus<BUG> {
    fn clone(&self) -> Self {
        MutantBus(self.0.clone())
    }
}

impl<const BUG: u8> Core<BUG> {
    fn count(&self, update: impl FnOnce(&mut BusStats)) {
        update(&mut self.counts.lock());
    }

    fn snapshot(&self, kind: u8) -> Snapshot {
        let registry = self.registry.read();
        Arc::new(registry.1.iter().filter(|(_, k, _)| *k == kind).map(|(_, _, h)| h.clone()).collect())
    }

    fn is_worker(&self) -> bool {
        self.worker_ids.lock().contains(&thread::current_id())
    }

    /// Counts the call; the job, or the outcome when no handler listens.
    fn route(&self, kind: u8, event: u32) -> Result<Job, Outcome> {
        self.count(|s| s.published += 1);
        let handlers = self.snapshot(kind);
        if handlers.is_empty() {
            if self.queue.is_closed() {
                return Err(self.refused(event));
            }
            self.count(|s| s.unrouted += 1);
            return Err(Ok(Published::Unrouted));
        }
        Ok((event, kind, handlers))
    }

    fn refused(&self, event: u32) -> Outcome {
        self.count(|s| s.refused_stopped += 1);
        Err(PublishError::Stopped(event))
    }

    fn deliver(&self, event: u32, handlers: &Snapshot) -> bool {
        let mut panicked = false;
        for handler in handlers.iter() {
            if catch_unwind(|| (handler.0)(&event)).is_err() {
                self.count(|s| s.handler_panics += 1);
                panicked = true;
            }
        }
        self.count(|s| s.delivered += 1);
        panicked
    }

    fn publish(self: &Arc<Self>, kind: u8, event: u32, policy: Backpressure) -> Outcome {
        let job = match self.route(kind, event) {
            Ok(job) => job,
            Err(outcome) => return outcome,
        };
        if BUG == SPAWN_PER_EVENT {
            let core = self.clone();
            // Detached, as `go handler(event)` is.
            drop(thread::spawn(move || {
                core.deliver(job.0, &job.2);
            }));
            return Ok(Published::Queued);
        }
        let pushed = match policy {
            Backpressure::DropOldest => self.queue.push_or_evict_oldest(job).map(|evicted| match evicted {
                Some(_) => Published::QueuedEvictingOldest,
                None => Published::Queued,
            }),
            _ => match self.queue.try_push(job) {
                Err(PushError::Full(_)) if policy == Backpressure::DropNewest => {
                    self.count(|s| s.dropped_newest += 1);
                    return Ok(Published::DroppedNewest);
                }
                Err(PushError::Full(job)) if BUG != HANDLER_BLOCKS_ON_FULL_QUEUE && self.is_worker() => {
                    self.count(|s| s.refused_in_handler += 1);
                    return Err(PublishError::FullInHandler(job.0));
                }
                Err(PushError::Full(job)) => match policy {
                    Backpressure::FailAfter(timeout) => self.queue.push_timeout(job, timeout),
                    _ => self.queue.push(job),
                }
                .map(|()| Published::Queued),
                other => other.map(|()| Published::Queued),
            },
        };
        match pushed {
            Ok(published) => Ok(published),
            Err(PushError::Closed(job)) => self.refused(job.0),
            Err(PushError::Full(job)) => {
                self.count(|s| s.timed_out += 1);
                Err(PublishError::TimedOut(job.0))
            }
        }
    }

    /// Queues `job` if there is room now; gives it back when the queue is full.
    #[cfg(not(racekit_loom))]
    fn try_queue(&self, job: Job) -> Result<Outcome, Job> {
        match self.queue.try_push(job) {
            Ok(()) => Ok(Ok(Published::Queued)),
            Err(PushError::Closed(job)) => Ok(self.refused(job.0)),
            Err(PushError::Full(job)) => Err(job),
        }
    }

    /// The blocking policy only (the async scenarios use no other).
    #[cfg(not(racekit_loom))]
    async fn publish_async(&self, kind: u8, event: u32) -> Outcome {
        let mut job = match self.route(kind, event) {
            Ok(job) => job,
            Err(outcome) => return outcome,
        };
        loop {
            if BUG == ASYNC_WAITER_REGISTERED_AFTER_LOOKING {
                job = match self.try_queue(job) {
                    Ok(outcome) => return outcome,
                    Err(job) => job,
                };
            }
            self.async_waiters.fetch_add(1, Ordering::SeqCst);
            let room = self.room.notified();
            let looked = if BUG == ASYNC_WAITER_REGISTERED_AFTER_LOOKING { Err(job) } else { self.try_queue(job) };
            match looked {
                Ok(outcome) => {
                    self.async_waiters.fetch_sub(1, Ordering::SeqCst);
                    return outcome;
                }
                Err(returned) => job = returned,
            }
            room.await;
            self.async_waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn work(&self) {
        self.worker_ids.lock().push(thread::current_id());
        while let Some((event, kind, snapshot)) = self.queue.pop() {
            if BUG != POP_WAKES_NO_ASYNC_PUBLISHER && self.async_waiters.load(Ordering::SeqCst) > 0 {
                self.room.notify_waiters();
            }
            let handlers = if BUG == HANDLERS_READ_WHEN_DELIVERED { self.snapshot(kind) } else { snapshot };
            if self.deliver(event, &handlers) && BUG == WORKER_DIES_ON_PANIC {
                break;
            }
        }
        self.count(|s| s.live_workers -= 1);
    }

    fn close(&self) {
        self.queue.close();
        self.room.notify_waiters();
    }

    fn stop(&self) -> Result<StopReport, StopError> {
        if self.is_worker() {
            self.close();
            return Err(StopError::CalledFromHandler);
        }
        let mut state = self.stop_changed.wait_while(self.stop_state.lock(), |s| matches!(s, StopState::Stopping));
        if let StopState::Stopped(report) = &*state {
            return Ok(*report);
        }
        if BUG == STOP_CLAIMED_IN_TWO_STEPS {
            drop(state);
            state = self.stop_state.lock();
        }
        *state = StopState::Stopping;
        drop(state);
        self.close();
        let handles = std::mem::take(&mut *self.handles.lock());
        if BUG != STOP_DOES_NOT_JOIN {
            for handle in handles {
                handle.join().unwrap();
            }
        }
        let handlers = std::mem::take(&mut self.registry.write().1);
        drop(handlers);
        let report = StopReport { stats: self.stats(), deadline_passed: false };
        *self.stop_state.lock() = StopState::Stopped(report);
        if BUG != SECOND_STOP_NEVER_WOKEN {
            self.stop_changed.notify_all();
        }
        Ok(report)
    }

    fn stats(&self) -> BusStats {
        let queue = self.queue.stats();
        BusStats {
            queued: queue.pushed,
            taken: queue.popped,
            dropped_oldest: queue.evicted,
            abandoned: queue.drained,
            queue_len: queue.len,
            queue_high_water: queue.high_water,
            capacity: self.queue.capacity(),
            workers: self.workers,
            ..*self.counts.lock()
        }
    }
}

impl<const BUG: u8> BusUnderTest for MutantBus<BUG> {
    type Handle = Self;

    fn start(workers: usize, capacity: usize) -> Self {
        let core = Arc::new(Core::<BUG> {
            registry: RwLock::new((0, Vec::new())),
            queue: BoundedQueue::new(capacity).unwrap(),
            workers,
            counts: Mutex::new(BusStats { live_workers: workers, ..BusStats::default() }),
            worker_ids: Mutex::new(Vec::new()),
            handles: Mutex::new(Vec::new()),
            stop_state: Mutex::new(StopState::Running),
            stop_changed: Condvar::new(),
            room: Notify::new(),
            async_waiters: ModelledUsize::new(0),
        });
        if BUG == SPAWN_PER_EVENT {
            // No pool: every event gets a thread of its own.
            core.count(|s| s.live_workers = 0);
        } else {
            let handles = (0..workers)
                .map(|_| {
                    let core = core.clone();
                    thread::spawn(move || core.work())
                })
                .collect();
            *core.handles.lock() = handles;
        }
        MutantBus(core)
    }

    fn handle(&self) -> Self {
        self.clone()
    }

    fn stop(&self) -> Result<StopReport, StopError> {
        self.0.stop()
    }
}

impl<const BUG: u8> HandleUnderTest for MutantBus<BUG> {
    type Id = u64;

    fn subscribe(&self, kind: u8, handler: HandlerFn) -> u64 {
        let mut registry = self.0.registry.write();
        let id = registry.0;
        registry.0 += 1;
        registry.1.push((id, kind, Arc::new(Handler(handler))));
        id
    }

    fn unsubscribe(&self, id: u64) -> bool {
        let mut registry = self.0.registry.write();
        let before = registry.1.len();
        registry.1.retain(|(other, _, _)| *other != id);
        registry.1.len() < before
    }

    fn publish(&self, kind: u8, event: u32, policy: Backpressure) -> Outcome {
        self.0.publish(kind, event, policy)
    }

    #[cfg(not(racekit_loom))]
    fn publish_async(&self, kind: u8, event: u32, _policy: Backpressure) -> impl Future<Output = Outcome> + Send {
        let core = self.0.clone();
        async move { core.publish_async(kind, event).await }
    }

    fn stats(&self) -> BusStats {
        self.0.stats()
    }
}

type Scaffold = MutantBus<0>;

#[test]
fn the_mutant_scaffold_is_sound_without_a_bug() {
    // Each scenario on its own model: loom counts every thread an execution starts.
    let scenarios: [(&str, fn()); 7] = [
        ("block", || conservation::<Scaffold>(Backpressure::Block)),
        ("drop oldest", || conservation::<Scaffold>(Backpressure::DropOldest)),
        ("snapshot", snapshot_at_publish::<Scaffold>),
        ("panicking handler", panicking_handler::<Scaffold>),
        ("re-entrant publish", reentrant_publish::<Scaffold>),
        ("stop races publish", stop_races_publish::<Scaffold>),
        ("concurrent stops", concurrent_stops::<Scaffold>),
    ];
    for (name, scenario) in scenarios {
        let name = format!("scaffold, {name}");
        let model = if name.contains("panicking") { panicking_model(&name) } else { model(&name) };
        expect_sound(model, scenario);
    }
}

#[cfg(not(racekit_loom))]
#[test]
fn the_mutant_scaffold_is_sound_without_a_bug_async() {
    expect_sound(model("scaffold, async"), async_publishers::<Scaffold>);
}

/// Runs `scenario` on a mutant and returns the failure the checker must find; under the
/// model checkers, `deadlock` says whether it must be reported as a deadlock.
fn caught(name: &str, scenario: fn(), deadlock: bool) -> Failure {
    let failure = expect_caught(model(name), scenario);
    if MODEL_CHECKER && deadlock {
        assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
    }
    failure
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn spawning_a_thread_per_event_is_caught() {
    let failure = caught("spawn per event", || conservation::<MutantBus<SPAWN_PER_EVENT>>(Backpressure::Block), false);
    assert!(
        ["at once", "leaked task", "still running", "unaccounted", "outlived"]
            .iter()
            .any(|m| failure.message.contains(m)),
        "{failure}"
    );
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn reading_the_handler_list_when_delivering_is_caught() {
    let failure =
        caught("handlers read when delivered", snapshot_at_publish::<MutantBus<HANDLERS_READ_WHEN_DELIVERED>>, false);
    assert!(failure.message.contains("missed the event") || failure.message.contains("after publish"), "{failure}");
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_worker_that_dies_on_a_handler_panic_is_caught() {
    let failure =
        expect_caught(panicking_model("worker dies on panic"), panicking_handler::<MutantBus<WORKER_DIES_ON_PANIC>>);
    assert!(failure.message.contains("not delivered"), "{failure}");
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_second_stop_that_is_never_woken_is_caught() {
    caught("second stop never woken", concurrent_stops::<MutantBus<SECOND_STOP_NEVER_WOKEN>>, true);
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_handler_blocking_on_its_own_full_queue_is_caught() {
    caught("handler blocks on a full queue", reentrant_publish::<MutantBus<HANDLER_BLOCKS_ON_FULL_QUEUE>>, true);
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_stop_claimed_in_two_steps_is_caught() {
    caught("stop claimed in two steps", concurrent_stops::<MutantBus<STOP_CLAIMED_IN_TWO_STEPS>>, false);
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_stop_that_does_not_join_is_caught() {
    let failure = caught("stop does not join", stop_races_publish::<MutantBus<STOP_DOES_NOT_JOIN>>, false);
    // Seen as a worker outliving stop, or as an accepted event not yet delivered when
    // stop returned, depending on the schedule the checker found first.
    assert!(
        ["leaked task", "still running", "outlived", "left work", "was not delivered"]
            .iter()
            .any(|m| failure.message.contains(m)),
        "{failure}"
    );
}

#[cfg(not(racekit_loom))]
#[test]
#[cfg_attr(not(racekit_shuttle), ignore = "real threads find races by chance; the job runs this")]
fn a_pop_that_wakes_no_async_publisher_is_caught() {
    caught("pop wakes no async publisher", async_publishers::<MutantBus<POP_WAKES_NO_ASYNC_PUBLISHER>>, true);
}

#[cfg(not(racekit_loom))]
#[test]
#[cfg_attr(not(racekit_shuttle), ignore = "real threads find races by chance; the job runs this")]
fn an_async_publisher_registering_after_it_looked_is_caught() {
    caught(
        "async waiter registered after looking",
        async_publishers::<MutantBus<ASYNC_WAITER_REGISTERED_AFTER_LOOKING>>,
        true,
    );
}
