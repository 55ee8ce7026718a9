//! Models of the event bus: conservation per backpressure policy, the queue and worker
//! bounds, which handlers an event reaches, panicking handlers, re-entrant publish from a
//! handler, stop racing publish and stop, and the async face (shuttle and std only).
//!
//! Each scenario is generic over [`BusUnderTest`], so the mutants in [`mutants`] run the
//! very scenarios the real bus passes.

mod mutants;

use crate::support::expect_sound;
use racekit::event_bus::{
    Backpressure, BusConfig, BusHandle, BusStats, EventBus, PublishError, Published, StopError, StopReport,
    SubscriptionId,
};
use racekit::model::Model;
use racekit::probe::{live_tasks, HighWater};
use racekit::sync::thread;
#[cfg(not(racekit_loom))]
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The outcome of one publish.
pub type Outcome = Result<Published, PublishError<u32>>;

/// A handler as the scenarios write it.
pub type HandlerFn = Box<dyn Fn(&u32) + Send + Sync>;

/// What the scenarios need of a bus's owner.
pub trait BusUnderTest: Send + Sync + 'static {
    type Handle: HandleUnderTest;
    fn start(workers: usize, capacity: usize) -> Self;
    fn handle(&self) -> Self::Handle;
    fn stop(&self) -> Result<StopReport, StopError>;
}

/// What the scenarios need of a bus's shared handle.
pub trait HandleUnderTest: Clone + Send + Sync + 'static {
    type Id: Copy + Send + Sync + 'static;
    fn subscribe(&self, kind: u8, handler: HandlerFn) -> Self::Id;
    fn unsubscribe(&self, id: Self::Id) -> bool;
    fn publish(&self, kind: u8, event: u32, policy: Backpressure) -> Outcome;
    #[cfg(not(racekit_loom))]
    fn publish_async(&self, kind: u8, event: u32, policy: Backpressure) -> impl Future<Output = Outcome> + Send;
    fn stats(&self) -> BusStats;
}

impl BusUnderTest for EventBus<u8, u32> {
    type Handle = BusHandle<u8, u32>;
    fn start(workers: usize, capacity: usize) -> Self {
        EventBus::new(BusConfig { workers, capacity, policy: Backpressure::Block }).expect("a valid configuration")
    }
    fn handle(&self) -> Self::Handle {
        EventBus::handle(self)
    }
    fn stop(&self) -> Result<StopReport, StopError> {
        EventBus::stop(self)
    }
}

impl HandleUnderTest for BusHandle<u8, u32> {
    type Id = SubscriptionId;
    fn subscribe(&self, kind: u8, handler: HandlerFn) -> SubscriptionId {
        BusHandle::subscribe(self, kind, handler)
    }
    fn unsubscribe(&self, id: SubscriptionId) -> bool {
        BusHandle::unsubscribe(self, id)
    }
    fn publish(&self, kind: u8, event: u32, policy: Backpressure) -> Outcome {
        self.publish_with(kind, event, policy)
    }
    #[cfg(not(racekit_loom))]
    fn publish_async(&self, kind: u8, event: u32, policy: Backpressure) -> impl Future<Output = Outcome> + Send {
        self.publish_async_with(kind, event, policy)
    }
    fn stats(&self) -> BusStats {
        BusHandle::stats(self)
    }
}

type RealBus = EventBus<u8, u32>;

/// Observes a handler from outside the model: calls, the events seen, and how many calls
/// ran at once (plain std atomics: they watch the model, they are not part of it).
#[derive(Default)]
pub struct Probe {
    calls: AtomicU64,
    seen: std::sync::Mutex<Vec<u32>>,
    running: AtomicUsize,
    concurrency: HighWater,
}

impl Probe {
    pub fn new() -> Arc<Probe> {
        Arc::new(Probe::default())
    }

    /// A handler that records each call; it yields while "running" so that the checkers
    /// can interleave another handler call with it.
    pub fn handler(self: &Arc<Self>) -> HandlerFn {
        let probe = self.clone();
        Box::new(move |event| probe.record(*event))
    }

    pub fn record(&self, event: u32) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.concurrency.record(now);
        thread::yield_now();
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.seen.lock().unwrap().push(event);
        self.calls.fetch_add(1, Ordering::SeqCst);
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<u32> {
        self.seen.lock().unwrap().clone()
    }
}

/// What must hold after every stop: conservation, nothing queued or in flight, the queue
/// and worker bounds kept, no worker (or anything else the body started) still alive.
pub fn assert_stopped_cleanly(report: &StopReport, workers: usize, capacity: usize, handler_calls: &[&Probe]) {
    let stats = report.stats;
    assert!(stats.is_conserved(), "an event is unaccounted for: {stats:?}");
    assert_eq!((stats.queue_len, stats.in_flight()), (0, 0), "stop left work behind: {stats:?}");
    assert!(stats.queue_high_water <= capacity, "queue held {} events, capacity {capacity}", stats.queue_high_water);
    assert_eq!(stats.live_workers, 0, "a worker outlived stop: {stats:?}");
    for probe in handler_calls {
        assert!(
            probe.concurrency.max() <= workers,
            "{} handler calls ran at once with {workers} worker(s): events are not run by the worker pool",
            probe.concurrency.max()
        );
    }
    let calls: u64 = handler_calls.iter().map(|probe| probe.calls()).sum();
    assert_eq!(calls, stats.delivered, "handler calls and delivered events differ: {stats:?}");
    assert_eq!(live_tasks(), Some(0), "a thread the bus started is still running after stop");
}

/// One worker, capacity 1: a second thread publishes two events with `policy` while the
/// main thread publishes one, then stop. Every event is accounted for under the policy.
pub fn conservation<B: BusUnderTest>(policy: Backpressure) {
    let bus = B::start(1, 1);
    let probe = Probe::new();
    bus.handle().subscribe(0, probe.handler());
    let publisher = {
        let handle = bus.handle();
        thread::spawn(move || [handle.publish(0, 1, policy), handle.publish(0, 2, policy)])
    };
    let mine = bus.handle().publish(0, 3, policy);
    let theirs = publisher.join().unwrap();
    let report = bus.stop().expect("stopped from outside the bus");
    assert_stopped_cleanly(&report, 1, 1, &[&probe]);
    let outcomes: Vec<Outcome> = theirs.into_iter().chain([mine]).collect();
    let stats = report.stats;
    assert_eq!(stats.published, 3);
    let count = |wanted: fn(&Outcome) -> bool| outcomes.iter().filter(|o| wanted(o)).count() as u64;
    match policy {
        Backpressure::Block => assert_eq!(stats.delivered, 3, "blocking publishes all arrive: {outcomes:?}"),
        Backpressure::FailAfter(_) => {
            assert_eq!(stats.timed_out, count(|o| matches!(o, Err(PublishError::TimedOut(_)))));
            assert_eq!(stats.delivered + stats.timed_out, 3, "{outcomes:?} {stats:?}");
        }
        Backpressure::DropNewest => {
            assert_eq!(stats.dropped_newest, count(|o| matches!(o, Ok(Published::DroppedNewest))));
            assert_eq!(stats.delivered + stats.dropped_newest, 3, "{outcomes:?} {stats:?}");
        }
        Backpressure::DropOldest => {
            let evicting = count(|o| matches!(o, Ok(Published::QueuedEvictingOldest)));
            assert_eq!(stats.dropped_oldest, evicting);
            assert_eq!(stats.delivered + stats.dropped_oldest, 3, "{outcomes:?} {stats:?}");
        }
    }
    let delivered = probe.seen();
    assert!(delivered.iter().all(|event| (1..=3).contains(event)), "{delivered:?}");
}

/// The snapshot is taken when publish is called: an event reaches the handler subscribed
/// then, not the one that replaced it right after publish returned.
pub fn snapshot_at_publish<B: BusUnderTest>() {
    let bus = B::start(1, 2);
    let handle = bus.handle();
    let (before, after) = (Probe::new(), Probe::new());
    let first = handle.subscribe(0, before.handler());
    assert_eq!(handle.publish(0, 7, Backpressure::Block), Ok(Published::Queued));
    assert!(handle.unsubscribe(first));
    handle.subscribe(0, after.handler());
    let report = bus.stop().expect("stopped from outside the bus");
    assert_eq!(before.seen(), [7], "the handler subscribed at publish missed the event");
    assert_eq!(after.seen(), Vec::<u32>::new(), "a handler subscribed after publish got the event");
    assert_stopped_cleanly(&report, 1, 2, &[&before, &after]);
}

/// A handler panics on the first event: the panic is counted and the same worker delivers
/// the second event.
pub fn panicking_handler<B: BusUnderTest>() {
    let bus = B::start(1, 2);
    let handle = bus.handle();
    let probe = Probe::new();
    let recorder = probe.clone();
    handle.subscribe(
        0,
        Box::new(move |event| {
            assert_ne!(*event, 0, "handler panics on event 0 (expected by the model)");
            recorder.record(*event);
        }),
    );
    assert_eq!(handle.publish(0, 0, Backpressure::Block), Ok(Published::Queued));
    assert_eq!(handle.publish(0, 1, Backpressure::Block), Ok(Published::Queued));
    let report = bus.stop().expect("stopped from outside the bus");
    assert_eq!(report.stats.handler_panics, 1, "{:?}", report.stats);
    assert_eq!(report.stats.delivered, 2, "the event after the panic was not delivered: {:?}", report.stats);
    assert_eq!(probe.seen(), [1]);
    assert!(report.stats.is_conserved(), "{:?}", report.stats);
}

/// One worker, capacity 1: the handler of kind 0 publishes a kind-1 event with the
/// blocking policy while the main thread keeps the queue full (and waits for room itself). The bus never deadlocks;
/// each re-entrant publish is queued, refused as from a handler, or (once stop has begun)
/// refused as stopped, and counted.
pub fn reentrant_publish<B: BusUnderTest>() {
    let bus = B::start(1, 1);
    let handle = bus.handle();
    let followups = Probe::new();
    handle.subscribe(1, followups.handler());
    let inner = handle.clone();
    let refused = Arc::new(AtomicU64::new(0));
    let refusals = refused.clone();
    handle.subscribe(
        0,
        Box::new(move |event| match inner.publish(1, *event, Backpressure::Block) {
            Ok(Published::Queued) => {}
            Err(PublishError::FullInHandler(_) | PublishError::Stopped(_)) => {
                refusals.fetch_add(1, Ordering::SeqCst);
            }
            other => panic!("unexpected outcome of a publish from a handler: {other:?}"),
        }),
    );
    // The third publish waits for room that only the worker can make.
    for event in 1..=3 {
        assert_eq!(handle.publish(0, event, Backpressure::Block), Ok(Published::Queued));
    }
    let report = bus.stop().expect("stopped from outside the bus");
    let stats = report.stats;
    assert!(stats.is_conserved(), "{stats:?}");
    assert_eq!(stats.handler_panics, 0, "{stats:?}");
    assert_eq!(stats.refused_in_handler + stats.refused_stopped, refused.load(Ordering::SeqCst));
    assert_eq!(followups.calls() + refused.load(Ordering::SeqCst), 3, "{stats:?}");
    assert_eq!(stats.delivered, 3 + followups.calls());
}

/// Stop races a thread publishing two events: each is delivered or refused as stopped,
/// none is lost, and everything queued before stop is delivered.
pub fn stop_races_publish<B: BusUnderTest>() {
    let bus = B::start(1, 1);
    let probe = Probe::new();
    bus.handle().subscribe(0, probe.handler());
    let publisher = {
        let handle = bus.handle();
        thread::spawn(move || [handle.publish(0, 1, Backpressure::Block), handle.publish(0, 2, Backpressure::Block)])
    };
    let report = bus.stop().expect("stopped from outside the bus");
    let outcomes = publisher.join().unwrap();
    for outcome in &outcomes {
        assert!(matches!(outcome, Ok(Published::Queued) | Err(PublishError::Stopped(_))), "{outcome:?}");
    }
    let queued = outcomes.iter().filter(|o| o.is_ok()).count() as u64;
    // The publisher may finish after stop returned: read the final counters now.
    let stats = bus.handle().stats();
    assert_eq!(stats.delivered, queued, "an accepted event was not delivered: {outcomes:?} {stats:?}");
    assert_eq!(stats.refused_stopped, 2 - queued);
    assert_stopped_cleanly(&StopReport { stats, ..report }, 1, 1, &[&probe]);
}

/// Two threads stop the bus at once: both return the same report, after the workers are
/// joined.
pub fn concurrent_stops<B: BusUnderTest>() {
    let bus = Arc::new(B::start(1, 1));
    let probe = Probe::new();
    bus.handle().subscribe(0, probe.handler());
    assert!(bus.handle().publish(0, 1, Backpressure::Block).is_ok());
    let other = {
        let bus = bus.clone();
        thread::spawn(move || bus.stop())
    };
    let mine = bus.stop().expect("stopped from outside the bus");
    let theirs = other.join().unwrap().expect("stopped from outside the bus");
    assert_eq!(mine, theirs, "two stops disagree");
    assert_stopped_cleanly(&mine, 1, 1, &[&probe]);
    assert_eq!(bus.handle().publish(0, 2, Backpressure::Block), Err(PublishError::Stopped(2)));
}

#[cfg(not(racekit_loom))]
/// Async publishers wait for room without blocking a thread: two tasks publish three
/// events through a queue of one, then stop.
pub fn async_publishers<B: BusUnderTest>() {
    let bus = B::start(1, 1);
    let probe = Probe::new();
    bus.handle().subscribe(0, probe.handler());
    racekit::sync::task::block_on(async {
        let tasks: Vec<_> = [vec![1, 2], vec![3]]
            .into_iter()
            .map(|events| {
                let handle = bus.handle();
                racekit::sync::task::spawn(async move {
                    for event in events {
                        assert_eq!(handle.publish_async(0, event, Backpressure::Block).await, Ok(Published::Queued));
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let report = bus.stop().expect("stopped from outside the bus");
    assert_eq!(report.stats.delivered, 3);
    assert_stopped_cleanly(&report, 1, 1, &[&probe]);
}

#[cfg(not(racekit_loom))]
/// Stop races an async publisher: it is queued or refused, and a waiting one is woken by
/// stop.
pub fn stop_races_async_publish<B: BusUnderTest>() {
    let bus = Arc::new(B::start(1, 1));
    let probe = Probe::new();
    bus.handle().subscribe(0, probe.handler());
    let stopper = {
        let bus = bus.clone();
        thread::spawn(move || bus.stop())
    };
    let outcomes = racekit::sync::task::block_on({
        let handle = bus.handle();
        async move {
            let first = handle.publish_async(0, 1, Backpressure::Block).await;
            let second = handle.publish_async(0, 2, Backpressure::Block).await;
            [first, second]
        }
    });
    stopper.join().unwrap().expect("stopped from outside the bus");
    let stats = bus.handle().stats();
    let queued = outcomes.iter().filter(|o| o.is_ok()).count() as u64;
    assert_eq!((stats.delivered, stats.refused_stopped), (queued, 2 - queued), "{outcomes:?} {stats:?}");
    assert!(stats.is_conserved(), "{stats:?}");
}

fn model(name: &str) -> Model {
    Model::named(format!("event bus: {name}"))
}

/// A model whose handlers panic: every caught panic prints through the panic hook, which
/// dominates shuttle's run time, so shuttle explores this two-thread scenario with a
/// smaller budget (the environment still raises it).
fn panicking_model(name: &str) -> Model {
    match racekit::sync::Backend::CURRENT {
        racekit::sync::Backend::Shuttle => model(name).iterations(300),
        _ => model(name),
    }
}

#[test]
fn blocking_publishes_all_arrive() {
    expect_sound(model("conservation, block"), || conservation::<RealBus>(Backpressure::Block));
}

#[test]
fn timed_out_publishes_are_counted() {
    expect_sound(model("conservation, fail after"), || {
        conservation::<RealBus>(Backpressure::FailAfter(Duration::from_millis(1)))
    });
}

#[test]
fn dropped_newest_events_are_counted() {
    expect_sound(model("conservation, drop newest"), || conservation::<RealBus>(Backpressure::DropNewest));
}

#[test]
fn evicted_oldest_events_are_counted() {
    expect_sound(model("conservation, drop oldest"), || conservation::<RealBus>(Backpressure::DropOldest));
}

#[test]
fn an_event_reaches_the_handlers_subscribed_at_publish() {
    expect_sound(model("snapshot at publish"), snapshot_at_publish::<RealBus>);
}

#[test]
fn a_panicking_handler_does_not_stop_its_worker() {
    expect_sound(panicking_model("panicking handler"), panicking_handler::<RealBus>);
}

#[test]
fn a_handler_publishing_into_a_full_queue_does_not_deadlock() {
    expect_sound(model("re-entrant publish"), reentrant_publish::<RealBus>);
}

#[test]
fn stop_racing_publish_loses_nothing() {
    expect_sound(model("stop races publish"), stop_races_publish::<RealBus>);
}

#[test]
fn concurrent_stops_agree() {
    expect_sound(model("concurrent stops"), concurrent_stops::<RealBus>);
}

#[cfg(not(racekit_loom))]
#[test]
fn async_publishers_wait_for_room() {
    expect_sound(model("async publishers"), async_publishers::<RealBus>);
}

#[cfg(not(racekit_loom))]
#[test]
fn stop_wakes_and_refuses_async_publishers() {
    expect_sound(model("stop races async publish"), stop_races_async_publish::<RealBus>);
}

#[test]
fn stop_within_a_deadline_counts_what_it_abandons() {
    // Whether the deadline passes is the checker's choice; either way every event is
    // delivered or abandoned. A worker still in a handler at the deadline is left running
    // (counted in `live_workers`), and the next stop joins it.
    expect_sound(model("stop within"), || {
        let bus = RealBus::start(1, 2);
        let probe = Probe::new();
        bus.handle().subscribe(0, probe.handler());
        for event in 0..2 {
            assert_eq!(bus.publish(0, event), Ok(Published::Queued));
        }
        let within = bus.stop_within(Duration::from_millis(1)).expect("stopped from outside the bus");
        assert!(within.stats.live_workers == 0 || within.deadline_passed, "{within:?}");
        let report =
            if within.stats.live_workers > 0 { bus.stop().expect("joins the detached worker") } else { within };
        assert!(report.stats.abandoned == within.stats.abandoned, "nothing is abandoned after the deadline");
        assert_stopped_cleanly(&report, 1, 2, &[&probe]);
        assert_eq!(report.stats.delivered + report.stats.abandoned, 2, "{report:?}");
        assert!(report.deadline_passed || report.stats.abandoned == 0, "{report:?}");
    });
}

#[test]
fn a_handler_that_stops_its_bus_gets_an_error_not_a_deadlock() {
    expect_sound(model("stop from a handler"), || {
        let bus = Arc::new(RealBus::start(1, 1));
        let stopped_inside = Arc::new(std::sync::Mutex::new(None));
        {
            // The handler gives up its reference to the owner on its first call, so no
            // cycle keeps the bus alive.
            let owner = bus.clone();
            let result = stopped_inside.clone();
            let owner = std::sync::Mutex::new(Some(owner));
            bus.handle().subscribe(
                0,
                Box::new(move |_: &u32| {
                    if let Some(owner) = owner.lock().unwrap().take() {
                        *result.lock().unwrap() = Some(owner.stop());
                    }
                }),
            );
        }
        assert_eq!(bus.publish(0, 1), Ok(Published::Queued));
        let report = bus.stop().expect("stopped from outside the bus");
        assert_eq!(*stopped_inside.lock().unwrap(), Some(Err(StopError::CalledFromHandler)));
        assert!(report.stats.is_conserved() && report.stats.delivered == 1, "{report:?}");
        assert_eq!(live_tasks(), Some(0), "a worker outlived stop");
    });
}

#[test]
fn bad_configurations_are_typed_errors() {
    use racekit::event_bus::ConfigError;
    let config = |workers, capacity| BusConfig { workers, capacity, policy: Backpressure::Block };
    assert_eq!(RealBus::new(config(0, 1)).unwrap_err(), ConfigError::ZeroWorkers);
    assert_eq!(RealBus::new(config(1, 0)).unwrap_err(), ConfigError::ZeroCapacity);
}
