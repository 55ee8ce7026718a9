//! Models of the bounded blocking queue: hand-off, bounds, close, timed and non-blocking
//! operations.
//!
//! Each scenario runs the real [`BoundedQueue`]; the tests in [`mutants`] run the same
//! scenarios with one of the queue's mutation points switched on
//! ([`racekit::queue::MUTATION_POINTS`]) and pin how each backend reports it.

use crate::support::expect_sound;
use proptest::prelude::*;
use racekit::model::Model;
use racekit::queue::{BoundedQueue, PopError, PushError};
use racekit::sync::{thread, Arc};
use std::time::Duration;

/// Long enough that a timed wait does not expire on its own in a run on real threads; under
/// the model checkers whether it fires is the checker's choice.
const TIMEOUT: Duration = Duration::from_millis(5);

fn queue(capacity: usize) -> Arc<BoundedQueue<u32>> {
    Arc::new(BoundedQueue::new(capacity).expect("capacity is positive"))
}

/// A queue of capacity 1 that already holds item 1: the next push blocks.
fn full_queue() -> Arc<BoundedQueue<u32>> {
    let queue = queue(1);
    queue.try_push(1).expect("an empty queue admits one item");
    queue
}

/// Runs `operation` on a thread of its own, with its own handle on `queue`.
fn spawn_on<R: Send + 'static>(
    queue: &Arc<BoundedQueue<u32>>,
    operation: impl FnOnce(&BoundedQueue<u32>) -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    let queue = queue.clone();
    thread::spawn(move || operation(&queue))
}

/// `producers` threads each push `per_producer` items through a queue of `capacity`; the
/// main thread pops them all, then closes. Every item arrives exactly once, in each
/// producer's order, and the queue never holds more than its capacity.
fn producers_and_consumer(capacity: usize, producers: u32, per_producer: u32) {
    let queue = queue(capacity);
    let handles: Vec<_> = (0..producers)
        .map(|producer| {
            spawn_on(&queue, move |queue| {
                for n in 0..per_producer {
                    assert!(queue.push(producer * 100 + n).is_ok(), "push refused before close");
                }
            })
        })
        .collect();
    let mut received = Vec::new();
    for _ in 0..producers * per_producer {
        received.push(queue.pop().expect("an item for every push"));
    }
    for handle in handles {
        handle.join().unwrap();
    }
    queue.close();
    assert_eq!(queue.pop(), None, "a closed, drained queue yields nothing");
    let high_water = queue.stats().high_water;
    assert!(high_water <= capacity, "queue held {high_water} items, above capacity {capacity}");
    for producer in 0..producers {
        let own: Vec<u32> = received.iter().copied().filter(|item| item / 100 == producer).collect();
        let expected: Vec<u32> = (0..per_producer).map(|n| producer * 100 + n).collect();
        assert_eq!(own, expected, "producer {producer}'s items lost, duplicated or reordered");
    }
}

/// One producer, two items, capacity 1: the second push must wait for the pop.
fn hand_off() {
    producers_and_consumer(1, 1, 2);
}

/// Two producers race for the single slot.
fn two_producers() {
    producers_and_consumer(1, 2, 1);
}

/// A consumer blocked on an empty queue is released by `close`.
fn close_releases_a_blocked_consumer() {
    let queue = queue(1);
    let consumer = spawn_on(&queue, |queue| queue.pop());
    queue.close();
    assert_eq!(consumer.join().unwrap(), None);
    assert!(matches!(queue.push(1), Err(PushError::Closed(1))), "push after close is refused");
}

/// A producer blocked on a full queue is released by `close` alone (nothing is popped
/// before it returns): it gets its item back as `Closed`, and the item already queued is
/// still delivered.
fn close_releases_a_blocked_producer() {
    let queue = full_queue();
    let producer = spawn_on(&queue, |queue| queue.push(2));
    queue.close();
    let pushed = producer.join().unwrap();
    assert!(matches!(pushed, Err(PushError::Closed(2))), "a push racing close: {pushed:?}");
    assert_eq!(queue.pop(), Some(1), "close keeps what was queued");
    assert_eq!(queue.pop(), None);
}

/// A non-blocking pop frees the slot a blocked producer waits for: the producer finishes
/// (the main thread joins it before popping again).
fn try_pop_releases_a_blocked_producer() {
    let queue = full_queue();
    let producer = spawn_on(&queue, |queue| queue.push(2));
    assert_eq!(queue.try_pop(), Ok(1), "the queue was full");
    producer.join().unwrap().expect("the slot try_pop freed admits the blocked push");
    assert_eq!(queue.try_pop(), Ok(2));
}

/// `try_push` racing `close_and_drain`: an item is either refused as `Closed` or admitted
/// before the close, and then drained; nothing is admitted after it.
fn try_push_racing_close_and_drain() {
    let queue = queue(2);
    let pusher = spawn_on(&queue, |queue| queue.try_push(1));
    let drained = queue.close_and_drain();
    match pusher.join().unwrap() {
        Ok(()) => assert_eq!(drained, [1], "try_push succeeded, but its item was admitted after the close"),
        Err(refused) => assert_eq!((refused, drained), (PushError::Closed(1), vec![])),
    }
    assert_eq!(queue.try_pop(), Err(PopError::Closed), "an item was admitted after the close");
    let stats = queue.stats();
    assert!(stats.is_conserved(), "{stats:?}");
}

/// Two evicting pushes race on an empty queue of capacity 1: the queue never holds two
/// items, exactly one item is evicted, and it is counted.
fn two_evicting_pushes() {
    let queue = queue(1);
    let producer = spawn_on(&queue, |queue| queue.push_or_evict_oldest(1).unwrap());
    let mine = queue.push_or_evict_oldest(2).unwrap();
    let theirs = producer.join().unwrap();
    let stats = queue.stats();
    assert!(stats.high_water <= 1, "queue held {} items, above capacity 1", stats.high_water);
    let left = queue.try_pop().unwrap();
    let evicted: Vec<u32> = mine.into_iter().chain(theirs).collect();
    assert_eq!(evicted.len(), 1, "exactly one of the two is evicted");
    assert_ne!(evicted[0], left);
    assert!(stats.is_conserved() && stats.evicted == 1, "{stats:?}");
}

/// A timed push and a blocking push both wait on a full queue; one pop frees one slot.
/// Whichever producer is woken, the slot is used: a timed push that gives up does so only
/// while the queue is still full, so the blocking push is never left waiting beside a free
/// slot.
fn timed_push_beside_a_blocked_push() {
    let queue = full_queue();
    let timed = spawn_on(&queue, |queue| queue.push_timeout(2, TIMEOUT));
    let blocking = spawn_on(&queue, |queue| queue.push(3));
    assert_eq!(queue.pop(), Some(1));
    let timed = timed.join().unwrap();
    let mut received = vec![queue.pop().expect("the freed slot was used")];
    if timed.is_ok() {
        received.push(queue.pop().expect("the blocking push follows the timed one"));
    }
    blocking.join().unwrap().expect("a blocking push on an open queue succeeds");
    received.sort_unstable();
    match timed {
        Ok(()) => assert_eq!(received, [2, 3]),
        Err(gave_up) => assert_eq!((gave_up, received), (PushError::Full(2), vec![3])),
    }
}

/// A timed pop and a blocking pop both wait on an empty queue; one push arrives. Whichever
/// consumer is woken takes it: a timed pop that gives up does so only while the queue is
/// still empty, so the blocking pop is never left waiting beside an item.
fn timed_pop_beside_a_blocked_pop() {
    let queue = queue(1);
    let timed = spawn_on(&queue, |queue| queue.pop_timeout(TIMEOUT));
    let blocking = spawn_on(&queue, |queue| queue.pop());
    queue.push(1).unwrap();
    let timed = timed.join().unwrap();
    if timed.is_ok() {
        queue.push(2).unwrap();
    }
    let blocked_got = blocking.join().unwrap();
    match timed {
        Ok(item) => assert_eq!((item, blocked_got), (1, Some(2))),
        Err(gave_up) => assert_eq!((gave_up, blocked_got), (PopError::Empty, Some(1))),
    }
}

/// One sound model per scenario: `test: "model name" => scenario;`.
macro_rules! sound_models {
    ($($test:ident: $model:literal => $scenario:path;)*) => {$(
        #[test]
        fn $test() {
            expect_sound(Model::named($model), $scenario);
        }
    )*};
}

sound_models! {
    items_hand_off_through_a_full_queue: "queue: hand-off" => hand_off;
    racing_producers_never_exceed_capacity: "queue: two producers" => two_producers;
    close_releases_blocked_consumers: "queue: close" => close_releases_a_blocked_consumer;
    close_releases_blocked_producers: "queue: close while a producer waits" => close_releases_a_blocked_producer;
    try_pop_releases_blocked_producers: "queue: try_pop frees a slot" => try_pop_releases_a_blocked_producer;
    nothing_is_admitted_after_close: "queue: try_push racing close" => try_push_racing_close_and_drain;
    a_timed_push_never_strands_a_blocked_one: "queue: timed push beside a blocked one" => timed_push_beside_a_blocked_push;
    evicting_the_oldest_counts_what_it_evicts: "queue: evict oldest" => two_evicting_pushes;
    a_timed_pop_never_strands_a_blocked_one: "queue: timed pop beside a blocked one" => timed_pop_beside_a_blocked_pop;
}

#[test]
fn close_fails_blocked_producers_and_keeps_the_count() {
    expect_sound(Model::named("queue: close while full"), || {
        let queue = full_queue();
        let producer = spawn_on(&queue, |queue| queue.push(2));
        let left = queue.close_and_drain();
        let pushed_second = producer.join().unwrap();
        assert_eq!(left, [1]);
        assert!(matches!(pushed_second, Err(PushError::Closed(2))), "{pushed_second:?}");
        let stats = queue.stats();
        assert!(stats.is_conserved(), "{stats:?}");
        assert_eq!((stats.pushed, stats.drained), (1, 1));
    });
}

#[test]
fn timed_push_either_succeeds_or_returns_the_item() {
    // The timeout firing is the checker's choice; either way nothing is lost and a slot
    // freed by the consumer is never left unused by a producer that gave up.
    expect_sound(Model::named("queue: timed push"), || {
        let queue = full_queue();
        let consumer = spawn_on(&queue, |queue| queue.pop_timeout(TIMEOUT));
        let second = queue.push_timeout(2, TIMEOUT);
        let popped = consumer.join().unwrap();
        assert_eq!(popped, Ok(1), "the consumer finds the item already there");
        match second {
            Ok(()) => assert_eq!(queue.try_pop(), Ok(2)),
            Err(PushError::Full(2)) => assert_eq!(queue.try_pop(), Err(PopError::Empty)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(queue.stats().is_conserved());
    });
}

proptest! {
    // proptest picks the scenario, the model checker explores its interleavings.
    #![proptest_config(crate::support::scenario_cases(4))]
    #[test]
    fn any_small_scenario_conserves_items(capacity in 1usize..=2, producers in 1u32..=2, per_producer in 1u32..=2) {
        Model::named(format!("queue: capacity {capacity}, {producers}x{per_producer}"))
            .preemption_bound(1)
            .iterations(300)
            .check(move || producers_and_consumer(capacity, producers, per_producer));
    }
}

/// The queue's mutation points, each switched on in the real queue and run through the
/// scenario that shows it.
mod mutants {
    use super::*;

    /// How long a run on real threads may take before it counts as a hang: every scenario
    /// here finishes in microseconds when sound.
    const HANG: Duration = Duration::from_secs(2);

    /// A model for a mutant whose symptom is a wait that never ends.
    fn hanging(name: &str) -> Model {
        Model::named(name).std_run_timeout(HANG)
    }

    crate::mutant_test! {
        /// The producer's second push waits for the slot the pop frees; with no wake-up it
        /// waits forever, and the consumer waits for its item.
        fn a_pop_that_forgets_to_wake_producers_is_caught() {
            mutant: "queue.pop.forgets_to_wake_producers",
            model: hanging("queue: pop forgets producers"),
            scenario: hand_off,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Hang "did not finish",
        }
    }

    crate::mutant_test! {
        /// Both producers see the one free slot before either admits.
        fn a_capacity_check_separate_from_the_insert_is_caught() {
            mutant: "queue.push.admits_after_relocking",
            model: Model::named("queue: check-then-act push"),
            scenario: two_producers,
            loom: Panic "above capacity",
            shuttle: Panic "above capacity",
            std: Panic "above capacity",
        }
    }

    crate::mutant_test! {
        /// Both evicting pushes see the empty queue before either admits: neither evicts,
        /// and the queue holds two items.
        fn an_eviction_decided_outside_the_lock_is_caught() {
            mutant: "queue.push_or_evict_oldest.evicts_on_a_stale_length",
            model: Model::named("queue: check-then-act evicting push"),
            scenario: two_evicting_pushes,
            loom: Panic "above capacity",
            shuttle: Panic "above capacity",
            std: Panic "above capacity",
        }
    }

    crate::mutant_test! {
        /// The consumer wakes to an empty queue and sleeps again; the wake-up that should
        /// have released it was spent before the item existed.
        fn a_push_that_wakes_before_admitting_is_caught() {
            mutant: "queue.push.wakes_before_admitting",
            model: hanging("queue: wake before admit"),
            scenario: hand_off,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Hang "did not finish",
        }
    }

    crate::mutant_test! {
        /// Only a consumer waits; close wakes nobody it should.
        fn a_close_that_forgets_blocked_consumers_is_caught() {
            mutant: "queue.close.forgets_blocked_consumers",
            model: hanging("queue: close forgets consumers"),
            scenario: close_releases_a_blocked_consumer,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Hang "did not finish",
        }
    }

    crate::mutant_test! {
        /// Only a producer waits, and nothing is popped until it returns: close alone must
        /// release it.
        fn a_close_that_forgets_blocked_producers_is_caught() {
            mutant: "queue.close.forgets_blocked_producers",
            model: hanging("queue: close forgets producers"),
            scenario: close_releases_a_blocked_producer,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Hang "did not finish",
        }
    }

    crate::mutant_test! {
        /// The blocked producer waits for the slot try_pop freed; the main thread joins it.
        fn a_try_pop_that_forgets_to_wake_producers_is_caught() {
            mutant: "queue.try_pop.forgets_to_wake_producers",
            model: hanging("queue: try_pop forgets producers"),
            scenario: try_pop_releases_a_blocked_producer,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Hang "did not finish",
        }
    }

    crate::mutant_test! {
        /// try_push sees the queue open, then close_and_drain runs between its two critical
        /// sections, and the item lands in a closed queue.
        fn a_closed_check_separate_from_the_insert_is_caught() {
            mutant: "queue.try_push.checks_closed_in_an_earlier_critical_section",
            model: Model::named("queue: check-then-act try_push"),
            scenario: try_push_racing_close_and_drain,
            loom: Panic "admitted after the close",
            shuttle: Panic "admitted after the close",
            std: Panic "admitted after the close",
        }
    }

    crate::mutant_test! {
        /// The pop wakes the timed producer, whose wait also reports its timeout: it gives up
        /// with the slot free, and the blocking producer is never woken for it.
        fn a_timed_push_that_gives_up_without_rechecking_is_caught() {
            mutant: "queue.push_timeout.gives_up_without_rechecking",
            model: hanging("queue: timed push gives up blindly"),
            scenario: timed_push_beside_a_blocked_push,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Skip "a real condition variable never reports a timeout for a wait a notification ended (a futex wake only wakes threads still waiting), and this bug needs one",
        }
    }

    crate::mutant_test! {
        /// The push wakes the timed consumer, whose wait also reports its timeout: it gives
        /// up with the item queued, and the blocking consumer is never woken for it.
        fn a_timed_pop_that_gives_up_without_rechecking_is_caught() {
            mutant: "queue.pop_timeout.gives_up_without_rechecking",
            model: hanging("queue: timed pop gives up blindly"),
            scenario: timed_pop_beside_a_blocked_pop,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Skip "a real condition variable never reports a timeout for a wait a notification ended (a futex wake only wakes threads still waiting), and this bug needs one",
        }
    }
}
