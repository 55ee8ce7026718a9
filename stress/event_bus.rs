//! Stress suite of the event bus: random subscribe, unsubscribe and publish sequences from
//! several threads, handlers that count, panic or are slow, every backpressure policy, and
//! stop (with or without a deadline) while publishers run or after them. The probes: no
//! thread outlives stop, the queue stays within capacity, no more handler calls run at once
//! than there are workers, and every publish is accounted for, by the bus's counters and by
//! the outcomes its callers saw.
//!
//! The seed's design (a thread per event, no queue), switched on in the bus itself as the
//! mutation point `event_bus.publish.spawns_thread_per_event`, runs the same scenario and
//! must fail it.

use crate::support::cases;
use proptest::prelude::*;
use racekit::event_bus::{Backpressure, BusConfig, BusHandle, EventBus, PublishError, Published};
use racekit::model::Model;
use racekit::probe::{live_tasks, HighWater};
use racekit::sync::thread;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

type Outcome = Result<Published, PublishError<u32>>;
type HandlerFn = Box<dyn Fn(&u32) + Send + Sync>;

/// The bus under test: the owner shared so that any thread may stop it, and a handle.
#[derive(Clone)]
struct Bus(Arc<EventBus<u8, u32>>, BusHandle<u8, u32>);

impl Bus {
    fn start(workers: usize, capacity: usize) -> Self {
        let bus = EventBus::new(BusConfig { workers, capacity, policy: Backpressure::Block }).unwrap();
        let handle = bus.handle();
        Bus(Arc::new(bus), handle)
    }

    /// Stops the bus (idempotent); a stop whose deadline left workers in their handlers is
    /// followed by a plain stop, which joins them.
    fn stop(&self, deadline: Option<Duration>) {
        let report = match deadline {
            Some(timeout) => self.0.stop_within(timeout),
            None => self.0.stop(),
        };
        let report = report.expect("stopped from outside the bus");
        if report.stats.live_workers > 0 {
            assert!(report.deadline_passed, "{report:?}");
            self.0.stop().expect("stopped from outside the bus");
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Count,
    Slow,
    Panic,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Subscribe(u8, Behaviour),
    Unsubscribe(usize),
    Publish(u8, Backpressure),
}

fn op() -> impl Strategy<Value = Op> {
    let behaviour = prop_oneof![4 => Just(Behaviour::Count), 2 => Just(Behaviour::Slow), 1 => Just(Behaviour::Panic)];
    let policy = prop_oneof![
        Just(Backpressure::Block),
        Just(Backpressure::FailAfter(Duration::from_micros(50))),
        Just(Backpressure::DropNewest),
        Just(Backpressure::DropOldest),
    ];
    prop_oneof![
        1 => (0u8..3, behaviour).prop_map(|(kind, b)| Op::Subscribe(kind, b)),
        1 => any::<usize>().prop_map(Op::Unsubscribe),
        6 => (0u8..3, policy).prop_map(|(kind, p)| Op::Publish(kind, p)),
    ]
}

/// What handlers saw.
#[derive(Default)]
struct Observed {
    completed: AtomicU64,
    panicked: AtomicU64,
    running: AtomicUsize,
    concurrency: HighWater,
}

impl Observed {
    fn handler(self: &Arc<Self>, behaviour: Behaviour) -> HandlerFn {
        let observed = self.clone();
        Box::new(move |_| {
            let now = observed.running.fetch_add(1, Ordering::SeqCst) + 1;
            observed.concurrency.record(now);
            if let Behaviour::Slow = behaviour {
                for _ in 0..50 {
                    std::thread::yield_now();
                }
            }
            observed.running.fetch_sub(1, Ordering::SeqCst);
            if let Behaviour::Panic = behaviour {
                observed.panicked.fetch_add(1, Ordering::SeqCst);
                panic!("a handler panics (expected by the stress suite)");
            }
            observed.completed.fetch_add(1, Ordering::SeqCst);
        })
    }
}

/// The outcomes one publishing thread saw, by kind.
fn tally(outcomes: &[Outcome]) -> HashMap<&'static str, u64> {
    let mut tally = HashMap::new();
    for outcome in outcomes {
        let key = match outcome {
            Ok(Published::Queued) => "queued",
            Ok(Published::QueuedEvictingOldest) => "queued evicting",
            Ok(Published::DroppedNewest) => "dropped newest",
            Ok(Published::Unrouted) => "unrouted",
            Err(PublishError::TimedOut(_)) => "timed out",
            Err(PublishError::Stopped(_)) => "stopped",
            Err(PublishError::FullInHandler(_)) => "full in handler",
        };
        *tally.entry(key).or_default() += 1;
    }
    tally
}

#[derive(Clone, Debug)]
struct Scenario {
    workers: usize,
    capacity: usize,
    threads: Vec<Vec<Op>>,
    stop_while_publishing: bool,
    deadline: Option<Duration>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        1usize..4,
        1usize..8,
        prop::collection::vec(prop::collection::vec(op(), 0..60), 1..4),
        any::<bool>(),
        prop::option::of((0u64..200).prop_map(Duration::from_micros)),
    )
        .prop_map(|(workers, capacity, threads, stop_while_publishing, deadline)| Scenario {
            workers,
            capacity,
            threads,
            stop_while_publishing,
            deadline,
        })
}

/// Runs `scenario` on the bus and asserts every probe.
fn run(scenario: &Scenario) {
    let bus = Bus::start(scenario.workers, scenario.capacity);
    let observed = Arc::new(Observed::default());
    let publishers: Vec<_> = scenario
        .threads
        .iter()
        .cloned()
        .enumerate()
        .map(|(index, ops)| {
            let (bus, observed) = (bus.clone(), observed.clone());
            thread::spawn(move || {
                let mut subscriptions = Vec::new();
                let mut outcomes = Vec::new();
                for (n, op) in ops.into_iter().enumerate() {
                    match op {
                        Op::Subscribe(kind, behaviour) => {
                            subscriptions.push(bus.1.subscribe(kind, observed.handler(behaviour)))
                        }
                        Op::Unsubscribe(pick) if !subscriptions.is_empty() => {
                            let id = subscriptions.swap_remove(pick % subscriptions.len());
                            bus.1.unsubscribe(id);
                        }
                        Op::Unsubscribe(_) => {}
                        Op::Publish(kind, policy) => {
                            outcomes.push(bus.1.publish_with(kind, (index * 1000 + n) as u32, policy))
                        }
                    }
                }
                outcomes
            })
        })
        .collect();
    if scenario.stop_while_publishing {
        bus.stop(scenario.deadline);
    }
    let outcomes: Vec<Outcome> = publishers.into_iter().flat_map(|p| p.join().unwrap()).collect();
    bus.stop(scenario.deadline);
    // Publishers may have been refused after the first stop returned: read the counters now.
    let stats = bus.1.stats();

    assert!(
        observed.concurrency.max() <= scenario.workers,
        "{} handler calls ran at once with {} worker(s): {stats:?}",
        observed.concurrency.max(),
        scenario.workers
    );
    assert_eq!(live_tasks(), Some(0), "a thread outlived stop: {stats:?}");
    assert!(stats.is_conserved(), "an event is unaccounted for: {stats:?}");
    assert!(stats.queue_high_water <= scenario.capacity, "{stats:?}");
    assert_eq!((stats.queue_len, stats.in_flight(), stats.live_workers), (0, 0, 0), "{stats:?}");
    assert_eq!(stats.handler_panics, observed.panicked.load(Ordering::SeqCst), "{stats:?}");
    let seen = tally(&outcomes);
    let get = |key| seen.get(key).copied().unwrap_or(0);
    assert_eq!(stats.published, outcomes.len() as u64);
    assert_eq!(stats.queued, get("queued") + get("queued evicting"), "{seen:?} {stats:?}");
    assert_eq!(stats.dropped_newest, get("dropped newest"), "{seen:?} {stats:?}");
    assert_eq!(stats.unrouted, get("unrouted"), "{seen:?} {stats:?}");
    assert_eq!(stats.timed_out, get("timed out"), "{seen:?} {stats:?}");
    assert_eq!(stats.refused_stopped, get("stopped"), "{seen:?} {stats:?}");
    assert_eq!(get("full in handler"), 0, "no publish here comes from a handler");
    if scenario.deadline.is_none() {
        assert_eq!(stats.abandoned, 0, "stop without a deadline drains: {stats:?}");
    }
}

proptest! {
    #![proptest_config(cases(64))]
    #[test]
    fn every_event_is_accounted_for_and_nothing_outlives_stop(scenario in scenario()) {
        Model::named("event bus stress").iterations(1).check(move || run(&scenario));
    }
}

#[test]
fn the_seeds_spawn_per_event_design_fails_the_probes() {
    // Four threads publish forty events each to two slow handlers, with one worker: the
    // seed's design (the bus's own mutation point) starts a thread per event, and the
    // probes see them.
    let ops: Vec<Op> = [Op::Subscribe(0, Behaviour::Slow), Op::Subscribe(0, Behaviour::Slow)]
        .into_iter()
        .chain(std::iter::repeat_n(Op::Publish(0, Backpressure::Block), 40))
        .collect();
    let scenario =
        Scenario { workers: 1, capacity: 4, threads: vec![ops; 4], stop_while_publishing: false, deadline: None };
    let real = scenario.clone();
    Model::named("event bus stress: fixed scenario").iterations(3).check(move || run(&real));
    let failure = Model::named("event bus stress: the seed's design")
        .mutant("event_bus.publish.spawns_thread_per_event")
        .iterations(3)
        .run(move || run(&scenario))
        .expect_err("the probes catch a thread per event");
    assert!(
        ["at once", "outlived", "leaked task", "unaccounted"].iter().any(|probe| failure.message.contains(probe)),
        "{failure}"
    );
}
