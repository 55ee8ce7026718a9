//! Models of the bounded blocking queue: hand-off, bounds, close, timed operations.
//!
//! Each scenario is generic over [`QueueUnderTest`], so the mutants in [`mutants`] run the
//! very scenarios the real queue passes.

use crate::support::{expect_caught, expect_sound};
use proptest::prelude::*;
use racekit::model::{FailureKind, Model};
use racekit::queue::{BoundedQueue, PopError, PushError};
use racekit::sync::{thread, Arc};
use std::time::Duration;

/// What the scenarios need of a queue.
pub trait QueueUnderTest: Send + Sync + 'static {
    fn with_capacity(capacity: usize) -> Self;
    /// Blocking push; `false` when the queue is closed.
    fn push(&self, item: u32) -> bool;
    /// Blocking pop; `None` once closed and drained.
    fn pop(&self) -> Option<u32>;
    fn close(&self);
    /// The most items that ever waited at once.
    fn high_water(&self) -> usize;
}

impl QueueUnderTest for BoundedQueue<u32> {
    fn with_capacity(capacity: usize) -> Self {
        BoundedQueue::new(capacity).expect("capacity is positive")
    }
    fn push(&self, item: u32) -> bool {
        BoundedQueue::push(self, item).is_ok()
    }
    fn pop(&self) -> Option<u32> {
        BoundedQueue::pop(self)
    }
    fn close(&self) {
        BoundedQueue::close(self);
    }
    fn high_water(&self) -> usize {
        self.stats().high_water
    }
}

/// `producers` threads each push `per_producer` items through a queue of `capacity`; the
/// main thread pops them all, then closes. Every item arrives exactly once, in each
/// producer's order, and the queue never holds more than its capacity.
fn producers_and_consumer<Q: QueueUnderTest>(capacity: usize, producers: u32, per_producer: u32) {
    let queue = Arc::new(Q::with_capacity(capacity));
    let handles: Vec<_> = (0..producers)
        .map(|producer| {
            let queue = queue.clone();
            thread::spawn(move || {
                for n in 0..per_producer {
                    assert!(queue.push(producer * 100 + n), "push refused before close");
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
    assert!(queue.high_water() <= capacity, "queue held {} items, capacity {capacity}", queue.high_water());
    for producer in 0..producers {
        let own: Vec<u32> = received.iter().copied().filter(|item| item / 100 == producer).collect();
        let expected: Vec<u32> = (0..per_producer).map(|n| producer * 100 + n).collect();
        assert_eq!(own, expected, "producer {producer}'s items lost, duplicated or reordered");
    }
}

/// A consumer blocked on an empty queue is released by `close`.
fn close_releases_a_blocked_consumer<Q: QueueUnderTest>() {
    let queue = Arc::new(Q::with_capacity(1));
    let consumer = {
        let queue = queue.clone();
        thread::spawn(move || queue.pop())
    };
    queue.close();
    assert_eq!(consumer.join().unwrap(), None);
    assert!(!queue.push(1), "push after close is refused");
}

/// One producer, two items, capacity 1: the second push must wait for the pop.
fn hand_off<Q: QueueUnderTest>() {
    producers_and_consumer::<Q>(1, 1, 2);
}

/// Two producers race for the single slot.
fn two_producers<Q: QueueUnderTest>() {
    producers_and_consumer::<Q>(1, 2, 1);
}

#[test]
fn items_hand_off_through_a_full_queue() {
    expect_sound(Model::named("queue: hand-off"), hand_off::<BoundedQueue<u32>>);
}

#[test]
fn racing_producers_never_exceed_capacity() {
    expect_sound(Model::named("queue: two producers"), two_producers::<BoundedQueue<u32>>);
}

#[test]
fn close_releases_blocked_consumers() {
    expect_sound(Model::named("queue: close"), close_releases_a_blocked_consumer::<BoundedQueue<u32>>);
}

#[test]
fn close_fails_blocked_producers_and_keeps_the_count() {
    expect_sound(Model::named("queue: close while full"), || {
        let queue = Arc::new(BoundedQueue::new(1).unwrap());
        queue.push(1).unwrap();
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || queue.push(2))
        };
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
        let queue = Arc::new(BoundedQueue::new(1).unwrap());
        queue.push(1).unwrap();
        let consumer = {
            let queue = queue.clone();
            thread::spawn(move || queue.pop_timeout(Duration::from_millis(5)))
        };
        let second = queue.push_timeout(2, Duration::from_millis(5));
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

#[test]
fn evicting_the_oldest_counts_what_it_evicts() {
    expect_sound(Model::named("queue: evict oldest"), || {
        let queue = Arc::new(BoundedQueue::new(1).unwrap());
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || queue.push_or_evict_oldest(1).unwrap())
        };
        let mine = queue.push_or_evict_oldest(2).unwrap();
        let theirs = producer.join().unwrap();
        let left = queue.try_pop().unwrap();
        let evicted: Vec<u32> = mine.into_iter().chain(theirs).collect();
        assert_eq!(evicted.len(), 1, "exactly one of the two is evicted");
        assert_ne!(evicted[0], left);
        let stats = queue.stats();
        assert!(stats.is_conserved() && stats.evicted == 1 && stats.high_water == 1, "{stats:?}");
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
            .check(move || producers_and_consumer::<BoundedQueue<u32>>(capacity, producers, per_producer));
    }
}

/// Buggy variants of the queue, each wrong in one place, all sharing one implementation
/// so that every other line is the same as in a correct queue.
mod mutants {
    use super::*;
    use crate::support::MODEL_CHECKER;
    use racekit::sync::{Condvar, Mutex};
    use std::collections::VecDeque;

    const POP_FORGETS_TO_WAKE_PRODUCERS: u8 = 1;
    const CAPACITY_CHECKED_IN_A_SEPARATE_CRITICAL_SECTION: u8 = 2;
    const CLOSE_WAKES_NOBODY: u8 = 3;
    const PUSH_WAKES_BEFORE_ADMITTING: u8 = 4;

    struct MutantQueue<const BUG: u8> {
        state: Mutex<(VecDeque<u32>, bool, usize)>,
        not_empty: Condvar,
        not_full: Condvar,
        capacity: usize,
    }

    impl<const BUG: u8> QueueUnderTest for MutantQueue<BUG> {
        fn with_capacity(capacity: usize) -> Self {
            MutantQueue {
                state: Mutex::new((VecDeque::new(), false, 0)),
                not_empty: Condvar::new(),
                not_full: Condvar::new(),
                capacity,
            }
        }

        fn push(&self, item: u32) -> bool {
            let mut state = self.state.lock();
            while !state.1 && state.0.len() >= self.capacity {
                state = self.not_full.wait(state);
            }
            if state.1 {
                return false;
            }
            if BUG == CAPACITY_CHECKED_IN_A_SEPARATE_CRITICAL_SECTION {
                // The room seen above may be taken by another producer meanwhile.
                drop(state);
                state = self.state.lock();
            }
            if BUG == PUSH_WAKES_BEFORE_ADMITTING {
                // Wakes the consumer, then releases the lock it needs before admitting.
                self.not_empty.notify_one();
                drop(state);
                thread::yield_now();
                state = self.state.lock();
            }
            state.0.push_back(item);
            state.2 = state.2.max(state.0.len());
            if BUG != PUSH_WAKES_BEFORE_ADMITTING {
                self.not_empty.notify_one();
            }
            true
        }

        fn pop(&self) -> Option<u32> {
            let mut state = self.state.lock();
            loop {
                if let Some(item) = state.0.pop_front() {
                    if BUG != POP_FORGETS_TO_WAKE_PRODUCERS {
                        self.not_full.notify_one();
                    }
                    return Some(item);
                }
                if state.1 {
                    return None;
                }
                state = self.not_empty.wait(state);
            }
        }

        fn close(&self) {
            self.state.lock().1 = true;
            if BUG != CLOSE_WAKES_NOBODY {
                self.not_empty.notify_all();
                self.not_full.notify_all();
            }
        }

        fn high_water(&self) -> usize {
            self.state.lock().2
        }
    }

    #[test]
    fn the_mutant_scaffold_is_sound_without_a_bug() {
        // The shared implementation with no bug switched on passes every scenario, so each
        // mutant below is caught for its one bug, not for a flaw in the scaffold.
        expect_sound(Model::named("queue: scaffold"), || {
            hand_off::<MutantQueue<0>>();
            two_producers::<MutantQueue<0>>();
            close_releases_a_blocked_consumer::<MutantQueue<0>>();
        });
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_pop_that_forgets_to_wake_producers_is_caught() {
        let failure =
            expect_caught(Model::named("queue: lost notify"), hand_off::<MutantQueue<POP_FORGETS_TO_WAKE_PRODUCERS>>);
        if MODEL_CHECKER {
            assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
        }
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_capacity_check_separate_from_the_insert_is_caught() {
        let failure = expect_caught(
            Model::named("queue: check-then-act"),
            two_producers::<MutantQueue<CAPACITY_CHECKED_IN_A_SEPARATE_CRITICAL_SECTION>>,
        );
        assert!(failure.message.contains("capacity"), "{failure}");
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_close_that_wakes_nobody_is_caught() {
        let failure = expect_caught(
            Model::named("queue: close wakes nobody"),
            close_releases_a_blocked_consumer::<MutantQueue<CLOSE_WAKES_NOBODY>>,
        );
        if MODEL_CHECKER {
            assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
        }
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_push_that_wakes_before_admitting_is_caught() {
        // The consumer wakes to an empty queue and sleeps again; the notify that should
        // have released it was spent before the item existed.
        let failure = expect_caught(
            Model::named("queue: wake before admit"),
            hand_off::<MutantQueue<PUSH_WAKES_BEFORE_ADMITTING>>,
        );
        if MODEL_CHECKER {
            assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
        }
    }
}
