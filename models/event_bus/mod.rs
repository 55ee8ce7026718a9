//! Models of the event bus: conservation per backpressure policy, the queue and worker
//! bounds, which handlers an event reaches, panicking handlers, re-entrant publish from a
//! handler, handlers whose destructor calls the bus, stop racing publish and stop,
//! `stop_within` with a handler that never returns, and the async face (shuttle and std
//! only).
//!
//! Every scenario runs the real [`EventBus`]; the [`mutants`] switch one of its mutation
//! points on and run the same scenarios, which must then fail. Each scenario ends with the
//! ledger ([`assert_ledger`]): every publish the bus counted, and every outcome its callers
//! were told, is accounted for.

mod mutants;

use crate::support::expect_sound;
use racekit::event_bus::{
    Backpressure, BusConfig, BusHandle, BusStats, EventBus, PublishError, Published, StopError, StopReport,
};
use racekit::model::Model;
use racekit::probe::{live_tasks, HighWater, Ledger};
use racekit::sync::{thread, Latch};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The outcome of one publish.
pub type Outcome = Result<Published, PublishError<u32>>;

/// A handler as the scenarios write it.
pub type HandlerFn = Box<dyn Fn(&u32) + Send + Sync>;

type RealBus = EventBus<u8, u32>;

/// A bus with the blocking policy.
fn start(workers: usize, capacity: usize) -> RealBus {
    EventBus::new(BusConfig { workers, capacity, policy: Backpressure::Block }).expect("a valid configuration")
}

/// Outcomes seen by publishers the scenario does not call directly (handlers, destructors).
#[derive(Default)]
pub struct Outcomes(Mutex<Vec<Outcome>>);

impl Outcomes {
    pub fn record(&self, outcome: Outcome) {
        self.0.lock().unwrap().push(outcome);
    }

    pub fn all(&self) -> Vec<Outcome> {
        self.0.lock().unwrap().clone()
    }
}

/// Observes a handler from outside the model: calls, the events seen, and how many calls
/// ran at once (plain std atomics: they watch the model, they are not part of it).
#[derive(Default)]
pub struct Probe {
    calls: AtomicU64,
    seen: Mutex<Vec<u32>>,
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

    /// A handler that says it has started, then does not return until `gate` is set: the
    /// busy worker, or the handler that never returns.
    pub fn gated_handler(self: &Arc<Self>, started: Arc<Latch>, gate: Arc<Latch>) -> HandlerFn {
        let probe = self.clone();
        Box::new(move |event| {
            started.set();
            gate.wait();
            probe.record(*event);
        })
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

/// Where every publish went, by the bus's own counters.
const PUBLISH_OUTFLOW: [&str; 11] = [
    "delivered",
    "in flight",
    "still queued",
    "unrouted",
    "dropped newest",
    "dropped oldest",
    "timed out",
    "refused in handler",
    "refused stopped",
    "cancelled",
    "abandoned",
];

/// The ledger of a bus whose publishers have all returned: every publish counted once and
/// accounted for (`published = delivered + in flight + still queued + unrouted + dropped +
/// rejected + cancelled + abandoned`), every queued event too, and the counters agree with
/// the `outcomes` the publishers were told (all of them, handlers' and destructors' included).
pub fn assert_ledger(stats: &BusStats, outcomes: &[Outcome]) {
    let ledger = Ledger::new();
    let entries = [
        ("published", stats.published),
        ("queued", stats.queued),
        ("taken", stats.taken),
        ("delivered", stats.delivered),
        ("in flight", stats.in_flight()),
        ("still queued", stats.queue_len as u64),
        ("unrouted", stats.unrouted),
        ("dropped newest", stats.dropped_newest),
        ("dropped oldest", stats.dropped_oldest),
        ("timed out", stats.timed_out),
        ("refused in handler", stats.refused_in_handler),
        ("refused stopped", stats.refused_stopped),
        ("cancelled", stats.cancelled),
        ("abandoned", stats.abandoned),
    ];
    for (name, count) in entries {
        ledger.add(name, count);
    }
    if let Err(gap) = ledger.check_conserved(&["published"], &PUBLISH_OUTFLOW) {
        panic!("an event is unaccounted for: {gap}: {stats:?}");
    }
    if let Err(gap) = ledger.check_conserved(&["queued"], &["taken", "dropped oldest", "abandoned", "still queued"]) {
        panic!("the queue lost track of an event: {gap}: {stats:?}");
    }
    assert!(stats.taken >= stats.delivered, "more events delivered than taken: {stats:?}");
    assert!(stats.is_conserved(), "BusStats::is_conserved disagrees with the ledger: {stats:?}");
    let told = |wanted: fn(&Outcome) -> bool| outcomes.iter().filter(|outcome| wanted(outcome)).count() as u64;
    let as_told = BusStats {
        published: outcomes.len() as u64,
        queued: told(|o| matches!(o, Ok(Published::Queued | Published::QueuedEvictingOldest))),
        unrouted: told(|o| matches!(o, Ok(Published::Unrouted))),
        dropped_newest: told(|o| matches!(o, Ok(Published::DroppedNewest))),
        timed_out: told(|o| matches!(o, Err(PublishError::TimedOut(_)))),
        refused_in_handler: told(|o| matches!(o, Err(PublishError::FullInHandler(_)))),
        refused_stopped: told(|o| matches!(o, Err(PublishError::Stopped(_)))),
        ..*stats
    };
    assert_eq!(*stats, as_told, "the counters disagree with what the publishers were told: {outcomes:?}");
    let evicting = told(|o| matches!(o, Ok(Published::QueuedEvictingOldest)));
    assert!(stats.dropped_oldest >= evicting, "an eviction reported to a publisher was not counted: {stats:?}");
}

/// What must hold after every stop: the ledger, nothing queued or in flight, the queue and
/// worker bounds kept, no worker (or anything else the body started) still alive.
pub fn assert_stopped_cleanly(report: &StopReport, capacity: usize, handlers: &[&Probe], outcomes: &[Outcome]) {
    let stats = report.stats;
    assert_ledger(&stats, outcomes);
    assert_eq!(stats.queue_len, 0, "stop left events queued: {stats:?}");
    assert_eq!(stats.in_flight(), 0, "an event a worker took was never counted delivered: {stats:?}");
    assert!(stats.queue_high_water <= capacity, "queue held {} events, capacity {capacity}", stats.queue_high_water);
    assert_eq!(stats.live_workers, 0, "a worker was still running after stop returned: {stats:?}");
    for probe in handlers {
        assert!(
            probe.concurrency.max() <= stats.workers,
            "{} handler calls ran at once with {} worker(s): events are not run by the worker pool",
            probe.concurrency.max(),
            stats.workers
        );
    }
    let calls: u64 = handlers.iter().map(|probe| probe.calls()).sum();
    assert_eq!(calls, stats.delivered, "handler calls and delivered events differ: {stats:?}");
    assert_eq!(live_tasks(), Some(0), "a thread the bus started was still running after stop returned");
}

/// One worker, capacity 1: a second thread publishes two events with `policy` while the
/// main thread publishes one, then stop. Every event is accounted for under the policy.
pub fn conservation(policy: Backpressure) {
    let bus = start(1, 1);
    let probe = Probe::new();
    bus.subscribe(0, probe.handler());
    let publisher = {
        let handle = bus.handle();
        thread::spawn(move || [handle.publish_with(0, 1, policy), handle.publish_with(0, 2, policy)])
    };
    let mine = bus.publish_with(0, 3, policy);
    let outcomes: Vec<Outcome> = publisher.join().unwrap().into_iter().chain([mine]).collect();
    let report = bus.stop().expect("stopped from outside the bus");
    assert_stopped_cleanly(&report, 1, &[&probe], &outcomes);
    let stats = report.stats;
    let lost = match policy {
        Backpressure::Block => 0,
        Backpressure::FailAfter(_) => stats.timed_out,
        Backpressure::DropNewest => stats.dropped_newest,
        Backpressure::DropOldest => stats.dropped_oldest,
    };
    assert_eq!(stats.delivered + lost, 3, "{policy:?} loses events only to its own policy: {outcomes:?} {stats:?}");
    let delivered = probe.seen();
    assert!(delivered.iter().all(|event| (1..=3).contains(event)), "{delivered:?}");
}

/// The snapshot is taken when publish is called: an event reaches the handler subscribed
/// then, not the one that replaced it right after publish returned.
pub fn snapshot_at_publish() {
    let bus = start(1, 2);
    let (before, after) = (Probe::new(), Probe::new());
    let first = bus.subscribe(0, before.handler());
    let outcomes = [bus.publish(0, 7)];
    assert_eq!(outcomes[0], Ok(Published::Queued));
    assert!(bus.unsubscribe(first));
    bus.subscribe(0, after.handler());
    let report = bus.stop().expect("stopped from outside the bus");
    assert_eq!(before.seen(), [7], "the handler subscribed at publish missed the event");
    assert_eq!(after.seen(), Vec::<u32>::new(), "a handler subscribed after publish got the event");
    assert_stopped_cleanly(&report, 2, &[&before, &after], &outcomes);
}

/// A handler panics on the first event: the panic is counted, the event counted delivered,
/// and the same worker delivers the second event.
pub fn panicking_handler() {
    let bus = start(1, 2);
    let probe = Probe::new();
    let recorder = probe.clone();
    bus.subscribe(0, move |event: &u32| {
        assert_ne!(*event, 0, "handler panics on event 0 (expected by the model)");
        recorder.record(*event);
    });
    let outcomes = [bus.publish(0, 0), bus.publish(0, 1)];
    let report = bus.stop().expect("stopped from outside the bus");
    let stats = report.stats;
    assert_ledger(&stats, &outcomes);
    assert_eq!(stats.handler_panics, 1, "{stats:?}");
    assert_eq!(stats.queue_len, 0, "stop left events queued: {stats:?}");
    assert_eq!(stats.in_flight(), 0, "an event a worker took was never counted delivered: {stats:?}");
    assert_eq!(stats.delivered, 2, "the event after the panic was not delivered: {stats:?}");
    assert_eq!(probe.seen(), [1]);
}

/// One worker, capacity 1: the handler of kind 0 publishes a kind-1 event with the
/// blocking policy while the main thread keeps the queue full (and waits for room itself).
/// The bus never deadlocks; each re-entrant publish is queued, refused as from a handler,
/// or (once stop has begun) refused as stopped, and counted.
pub fn reentrant_publish() {
    let bus = start(1, 1);
    let followups = Probe::new();
    bus.subscribe(1, followups.handler());
    let inner = bus.handle();
    let from_handlers = Arc::new(Outcomes::default());
    let record = from_handlers.clone();
    bus.subscribe(0, move |event: &u32| {
        let outcome = inner.publish(1, *event);
        assert!(
            matches!(outcome, Ok(Published::Queued) | Err(PublishError::FullInHandler(_) | PublishError::Stopped(_))),
            "unexpected outcome of a publish from a handler: {outcome:?}"
        );
        record.record(outcome);
    });
    // The third publish waits for room that only the worker can make.
    let mut outcomes: Vec<Outcome> = (1..=3).map(|event| bus.publish(0, event)).collect();
    assert!(outcomes.iter().all(|outcome| *outcome == Ok(Published::Queued)), "{outcomes:?}");
    let report = bus.stop().expect("stopped from outside the bus");
    outcomes.extend(from_handlers.all());
    let stats = report.stats;
    assert_ledger(&stats, &outcomes);
    assert_eq!(stats.handler_panics, 0, "{stats:?}");
    assert_eq!(outcomes.len(), 6, "every handler call published once: {outcomes:?}");
    assert_eq!(stats.delivered, 3 + followups.calls(), "{stats:?}");
}

/// Stop races a thread publishing two events: each is delivered or refused as stopped,
/// none is lost, and everything queued before stop is delivered.
pub fn stop_races_publish() {
    let bus = start(1, 1);
    let probe = Probe::new();
    bus.subscribe(0, probe.handler());
    let publisher = {
        let handle = bus.handle();
        thread::spawn(move || [handle.publish(0, 1), handle.publish(0, 2)])
    };
    let report = bus.stop().expect("stopped from outside the bus");
    let outcomes = publisher.join().unwrap();
    for outcome in &outcomes {
        assert!(matches!(outcome, Ok(Published::Queued) | Err(PublishError::Stopped(_))), "{outcome:?}");
    }
    let queued = outcomes.iter().filter(|o| o.is_ok()).count() as u64;
    assert_eq!(report.stats.live_workers, 0, "a worker was still running after stop returned: {report:?}");
    assert_eq!(report.stats.delivered, queued, "an accepted event was undelivered after stop returned: {outcomes:?}");
    // The publisher may be refused after stop returned: read the final counters now.
    let stats = bus.stats();
    assert_stopped_cleanly(&StopReport { stats, ..report }, 1, &[&probe], &outcomes);
}

/// Two threads stop the bus at once: both return the same report, after the workers are
/// joined.
pub fn concurrent_stops() {
    let bus = Arc::new(start(1, 1));
    let probe = Probe::new();
    bus.subscribe(0, probe.handler());
    let mut outcomes = vec![bus.publish(0, 1)];
    let other = {
        let bus = bus.clone();
        thread::spawn(move || bus.stop())
    };
    let mine = bus.stop().expect("stopped from outside the bus");
    let theirs = other.join().unwrap().expect("stopped from outside the bus");
    assert_eq!(mine, theirs, "two stops disagree");
    outcomes.push(bus.publish(0, 2));
    assert_eq!(outcomes[1], Err(PublishError::Stopped(2)));
    assert_stopped_cleanly(&StopReport { stats: bus.stats(), ..mine }, 1, &[&probe], &outcomes);
}

/// A handler (of kind 0) whose captured state publishes a kind-1 event when it is dropped:
/// the last owner of the handler, unsubscribe (racing a thread that publishes to it) or
/// the worker that delivered the event, drops it with no lock of the bus held.
pub fn handler_calling_the_bus_when_dropped() {
    /// Publishes once, from its destructor.
    struct PublishesWhenDropped {
        bus: BusHandle<u8, u32>,
        outcomes: Arc<Outcomes>,
    }
    impl Drop for PublishesWhenDropped {
        fn drop(&mut self) {
            self.outcomes.record(self.bus.publish_with(1, 99, Backpressure::DropNewest));
        }
    }
    let bus = start(1, 1);
    let (probe, followups) = (Probe::new(), Probe::new());
    bus.subscribe(1, followups.handler());
    let from_drop = Arc::new(Outcomes::default());
    let state = PublishesWhenDropped { bus: bus.handle(), outcomes: from_drop.clone() };
    let recorder = probe.clone();
    let id = bus.subscribe(0, move |event: &u32| {
        let _owned = &state;
        recorder.record(*event);
    });
    let publisher = {
        let handle = bus.handle();
        thread::spawn(move || handle.publish(0, 1))
    };
    assert!(bus.unsubscribe(id));
    let mut outcomes = vec![publisher.join().unwrap()];
    let report = bus.stop().expect("stopped from outside the bus");
    let dropped = from_drop.all();
    assert_eq!(dropped.len(), 1, "the unsubscribed handler was not dropped exactly once: {dropped:?}");
    outcomes.extend(dropped);
    assert_stopped_cleanly(&report, 1, &[&probe, &followups], &outcomes);
}

/// The busy worker: one worker, capacity 1, its handler held until the gate opens; the
/// queue full behind it. Returns the bus, the gate and the probe, and the outcomes so far.
fn busy_worker() -> (Arc<RealBus>, Arc<Latch>, Arc<Probe>, Vec<Outcome>) {
    let bus = Arc::new(start(1, 1));
    let (started, gate, probe) = (Arc::new(Latch::new()), Arc::new(Latch::new()), Probe::new());
    bus.subscribe(0, probe.gated_handler(started.clone(), gate.clone()));
    let mut outcomes = vec![bus.publish(0, 1)];
    started.wait();
    // The worker holds event 1 in its handler: event 2 fills the queue.
    outcomes.push(bus.publish(0, 2));
    assert_eq!(outcomes, [Ok(Published::Queued), Ok(Published::Queued)]);
    (bus, gate, probe, outcomes)
}

/// `stop_within` with a handler that does not return until the test lets it (after stop
/// returned): stop keeps its deadline and reports what it left (the event in the handler
/// and the worker running it; the event behind it abandoned), and a later `stop` joins the
/// worker. With `waiting_stop`, a second thread calls `stop` meanwhile: whichever stop
/// claims first, the other is woken and the worker is joined once the handler returns.
pub fn stop_within_a_handler_that_does_not_return(waiting_stop: bool) {
    let (bus, gate, probe, outcomes) = busy_worker();
    let other = waiting_stop.then(|| {
        let bus = bus.clone();
        thread::spawn(move || bus.stop())
    });
    let within = bus.stop_within(Duration::from_millis(1)).expect("stopped from outside the bus");
    let left = within.stats;
    assert!(within.deadline_passed, "stop_within reported no deadline passing while a handler ran: {within:?}");
    assert_eq!((left.live_workers, left.in_flight()), (1, 1), "the report hides what still runs: {within:?}");
    gate.set();
    let joined = other.map(|other| other.join().unwrap().expect("stopped from outside the bus"));
    let report = bus.stop().expect("joins the worker stop_within left");
    if let Some(joined) = joined {
        assert_eq!(joined.stats, report.stats, "the stop that took the worker over and a later one disagree");
    }
    assert_stopped_cleanly(&report, 1, &[&probe], &outcomes);
    // Event 2 waited behind the stuck handler: abandoned at the deadline when stop_within
    // claimed the stop, delivered when the waiting stop (which has no deadline) did.
    let stats = report.stats;
    assert_eq!(stats.delivered + stats.abandoned, 2, "{report:?}");
    assert_eq!(report.deadline_passed, stats.abandoned == 1, "{report:?}");
}

#[cfg(not(racekit_loom))]
/// Async publishers wait for room without blocking a thread: one task per batch publishes
/// its events, in order, through a queue of one; then stop.
pub fn async_publishers(batches: &[&[u32]]) {
    let bus = start(1, 1);
    let probe = Probe::new();
    bus.subscribe(0, probe.handler());
    let outcomes = racekit::sync::task::block_on(async {
        let tasks: Vec<_> = batches
            .iter()
            .map(|batch| {
                let (handle, events) = (bus.handle(), batch.to_vec());
                racekit::sync::task::spawn(async move {
                    let mut outcomes = Vec::new();
                    for event in events {
                        outcomes.push(handle.publish_async(0, event).await);
                    }
                    outcomes
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.extend(task.await.unwrap());
        }
        outcomes
    });
    assert!(outcomes.iter().all(|outcome| *outcome == Ok(Published::Queued)), "{outcomes:?}");
    let report = bus.stop().expect("stopped from outside the bus");
    assert_eq!(report.stats.delivered, outcomes.len() as u64, "{report:?}");
    assert_stopped_cleanly(&report, 1, &[&probe], &outcomes);
}

/// Two tasks publish three events through a queue of one: the pops that make room must
/// wake whichever waits.
#[cfg(not(racekit_loom))]
const TWO_PUBLISHERS: &[&[u32]] = &[&[1, 2], &[3]];

/// One task publishes two events back to back: the second finds the queue full while the
/// worker is being woken for the first, and must not miss the pop that makes room.
#[cfg(not(racekit_loom))]
const BACK_TO_BACK: &[&[u32]] = &[&[1, 2]];

#[cfg(not(racekit_loom))]
/// Stop races an async publisher: it is queued or refused, and a waiting one is woken by
/// stop.
pub fn stop_races_async_publish() {
    let bus = Arc::new(start(1, 1));
    let probe = Probe::new();
    bus.subscribe(0, probe.handler());
    let stopper = {
        let bus = bus.clone();
        thread::spawn(move || bus.stop())
    };
    let outcomes = racekit::sync::task::block_on({
        let handle = bus.handle();
        async move { [handle.publish_async(0, 1).await, handle.publish_async(0, 2).await] }
    });
    let report = stopper.join().unwrap().expect("stopped from outside the bus");
    for outcome in &outcomes {
        assert!(matches!(outcome, Ok(Published::Queued) | Err(PublishError::Stopped(_))), "{outcome:?}");
    }
    assert_stopped_cleanly(&StopReport { stats: bus.stats(), ..report }, 1, &[&probe], &outcomes);
}

#[cfg(not(racekit_loom))]
/// Stop races an async publisher waiting for room while the only worker is busy in a
/// handler that returns only after the publisher has its outcome: only stop can wake the
/// publisher, which is then refused as stopped; the events already queued are delivered.
pub fn stop_wakes_an_async_publisher_waiting_for_room() {
    let (bus, gate, probe, mut outcomes) = busy_worker();
    let stopper = {
        let bus = bus.clone();
        thread::spawn(move || bus.stop())
    };
    let waiting = racekit::sync::task::block_on(bus.handle().publish_async(0, 3));
    assert_eq!(waiting, Err(PublishError::Stopped(3)), "the queue stayed full: only a refusal can end this publish");
    outcomes.push(waiting);
    gate.set();
    let report = stopper.join().unwrap().expect("stopped from outside the bus");
    assert_stopped_cleanly(&StopReport { stats: bus.stats(), ..report }, 1, &[&probe], &outcomes);
    assert_eq!(report.stats.delivered, 2, "stop drains what was queued: {report:?}");
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
    expect_sound(model("conservation, block"), || conservation(Backpressure::Block));
}

#[test]
fn timed_out_publishes_are_counted() {
    // Each timed wait adds loom a timer thread's choices: bound 2 runs past the time budget
    // (over 400,000 schedules), bound 1 explores every timeout outcome in about a second.
    expect_sound(model("conservation, fail after").preemption_bound(1), || {
        conservation(Backpressure::FailAfter(Duration::from_millis(1)))
    });
}

#[test]
fn dropped_newest_events_are_counted() {
    expect_sound(model("conservation, drop newest"), || conservation(Backpressure::DropNewest));
}

#[test]
fn evicted_oldest_events_are_counted() {
    expect_sound(model("conservation, drop oldest"), || conservation(Backpressure::DropOldest));
}

#[test]
fn an_event_reaches_the_handlers_subscribed_at_publish() {
    expect_sound(model("snapshot at publish"), snapshot_at_publish);
}

#[test]
fn a_panicking_handler_does_not_stop_its_worker() {
    expect_sound(panicking_model("panicking handler"), panicking_handler);
}

#[test]
fn a_handler_publishing_into_a_full_queue_does_not_deadlock() {
    expect_sound(model("re-entrant publish"), reentrant_publish);
}

#[test]
fn stop_racing_publish_loses_nothing() {
    expect_sound(model("stop races publish"), stop_races_publish);
}

#[test]
fn concurrent_stops_agree() {
    expect_sound(model("concurrent stops"), concurrent_stops);
}

#[test]
fn a_handler_dropped_by_unsubscribe_may_call_the_bus() {
    expect_sound(model("handler calls the bus when dropped"), handler_calling_the_bus_when_dropped);
}

#[test]
fn stop_within_keeps_its_deadline_with_a_handler_that_does_not_return() {
    expect_sound(model("stop within, stuck handler"), || stop_within_a_handler_that_does_not_return(false));
}

#[test]
fn a_stop_waiting_on_a_stop_within_takes_its_workers_over() {
    expect_sound(model("stop within, stuck handler, waiting stop"), || {
        stop_within_a_handler_that_does_not_return(true)
    });
}

#[cfg(not(racekit_loom))]
#[test]
fn async_publishers_wait_for_room() {
    expect_sound(model("async publishers"), || async_publishers(TWO_PUBLISHERS));
    expect_sound(model("async publisher, back to back"), || async_publishers(BACK_TO_BACK));
}

#[cfg(not(racekit_loom))]
#[test]
fn stop_wakes_and_refuses_async_publishers() {
    expect_sound(model("stop races async publish"), stop_races_async_publish);
}

#[cfg(not(racekit_loom))]
#[test]
fn stop_wakes_an_async_publisher_behind_a_busy_worker() {
    expect_sound(model("stop races a waiting async publisher"), stop_wakes_an_async_publisher_waiting_for_room);
}

#[test]
fn stop_within_a_deadline_counts_what_it_abandons() {
    // Whether the deadline passes is the checker's choice; either way every event is
    // delivered or abandoned. A worker still in a handler at the deadline is left running
    // (counted in `live_workers`), and the next stop joins it.
    expect_sound(model("stop within"), || {
        let bus = start(1, 2);
        let probe = Probe::new();
        bus.subscribe(0, probe.handler());
        let outcomes: Vec<Outcome> = (0..2).map(|event| bus.publish(0, event)).collect();
        assert!(outcomes.iter().all(|outcome| *outcome == Ok(Published::Queued)), "{outcomes:?}");
        let within = bus.stop_within(Duration::from_millis(1)).expect("stopped from outside the bus");
        assert!(within.stats.live_workers == 0 || within.deadline_passed, "{within:?}");
        let report =
            if within.stats.live_workers > 0 { bus.stop().expect("joins the detached worker") } else { within };
        assert!(report.stats.abandoned == within.stats.abandoned, "nothing is abandoned after the deadline");
        assert_stopped_cleanly(&report, 2, &[&probe], &outcomes);
        assert!(report.deadline_passed || report.stats.abandoned == 0, "{report:?}");
    });
}

#[test]
fn a_handler_that_stops_its_bus_gets_an_error_not_a_deadlock() {
    expect_sound(model("stop from a handler"), || {
        let bus = Arc::new(start(1, 1));
        let stopped_inside = Arc::new(Mutex::new(None));
        {
            // The handler gives up its reference to the owner on its first call, so no
            // cycle keeps the bus alive.
            let owner = Mutex::new(Some(bus.clone()));
            let result = stopped_inside.clone();
            bus.subscribe(
                0,
                Box::new(move |_: &u32| {
                    if let Some(owner) = owner.lock().unwrap().take() {
                        *result.lock().unwrap() = Some(owner.stop());
                    }
                }),
            );
        }
        let outcomes = [bus.publish(0, 1)];
        let report = bus.stop().expect("stopped from outside the bus");
        assert_eq!(*stopped_inside.lock().unwrap(), Some(Err(StopError::CalledFromHandler)));
        assert_ledger(&report.stats, &outcomes);
        assert_eq!((report.stats.delivered, report.stats.live_workers), (1, 0), "{report:?}");
        assert_eq!(live_tasks(), Some(0), "a worker was still running after stop returned");
    });
}

#[test]
fn bad_configurations_are_typed_errors() {
    use racekit::event_bus::ConfigError;
    let config = |workers, capacity| BusConfig { workers, capacity, policy: Backpressure::Block };
    assert_eq!(RealBus::new(config(0, 1)).unwrap_err(), ConfigError::ZeroWorkers);
    assert_eq!(RealBus::new(config(1, 0)).unwrap_err(), ConfigError::ZeroCapacity);
    assert_eq!(RealBus::new(config(2000, 1)).unwrap_err(), ConfigError::TooManyWorkers { workers: 2000 });
}
