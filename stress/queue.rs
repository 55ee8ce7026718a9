//! Stress suite of the bounded queue: many producers and consumers, every push flavour,
//! close while busy. Nothing is lost, nothing is duplicated, the bound holds, per-producer
//! order is kept, and every thread is joined.

use crate::support::cases;
use proptest::prelude::*;
use racekit::model::Model;
use racekit::queue::{BoundedQueue, PushError};
use racekit::sync::{thread, Arc};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Push {
    Blocking,
    Timed,
    Try,
    EvictOldest,
}

fn push_strategy() -> impl Strategy<Value = Push> {
    prop_oneof![Just(Push::Blocking), Just(Push::Timed), Just(Push::Try), Just(Push::EvictOldest)]
}

/// What one producer did with its items.
#[derive(Debug, Default)]
struct Produced {
    admitted: Vec<u64>,
    refused: u64,
    evicted: Vec<u64>,
}

fn produce(queue: &BoundedQueue<u64>, producer: u64, pushes: &[Push]) -> Produced {
    let mut produced = Produced::default();
    for (n, push) in pushes.iter().enumerate() {
        let item = producer << 32 | n as u64;
        let result = match push {
            Push::Blocking => queue.push(item),
            Push::Timed => queue.push_timeout(item, Duration::from_micros(200)),
            Push::Try => queue.try_push(item),
            Push::EvictOldest => queue.push_or_evict_oldest(item).map(|evicted| produced.evicted.extend(evicted)),
        };
        match result {
            Ok(()) => produced.admitted.push(item),
            Err(PushError::Full(_)) => produced.refused += 1,
            Err(PushError::Closed(_)) => unreachable!("the queue is closed only after every producer is joined"),
        }
    }
    produced
}

proptest! {
    #![proptest_config(cases(24))]
    #[test]
    fn nothing_is_lost_and_the_bound_holds(
        capacity in 1usize..6,
        consumers in 1usize..4,
        producers in prop::collection::vec(prop::collection::vec(push_strategy(), 0..150), 1..4),
    ) {
        crate::support::watch("producers and consumers to drain the queue");
        Model::named("queue stress").iterations(1).check(move || {
            let queue = Arc::new(BoundedQueue::new(capacity).unwrap());
            let consumer_threads: Vec<_> = (0..consumers).map(|_| {
                let queue = queue.clone();
                thread::spawn(move || std::iter::from_fn(|| queue.pop()).collect::<Vec<u64>>())
            }).collect();
            let producer_threads: Vec<_> = producers.iter().cloned().enumerate().map(|(index, pushes)| {
                let queue = queue.clone();
                thread::spawn(move || produce(&queue, index as u64, &pushes))
            }).collect();
            let produced: Vec<Produced> = producer_threads.into_iter().map(|t| t.join().unwrap()).collect();
            queue.close();
            let consumed: Vec<Vec<u64>> = consumer_threads.into_iter().map(|t| t.join().unwrap()).collect();

            let stats = queue.stats();
            assert!(stats.is_conserved(), "{stats:?}");
            assert!(stats.high_water <= capacity, "{stats:?}");
            let admitted: u64 = produced.iter().map(|p| p.admitted.len() as u64).sum();
            let evicted: Vec<u64> = produced.iter().flat_map(|p| p.evicted.iter().copied()).collect();
            let received: Vec<u64> = consumed.iter().flatten().copied().collect();
            assert_eq!(stats.pushed, admitted);
            assert_eq!(stats.evicted, evicted.len() as u64);
            assert_eq!(received.len() as u64 + evicted.len() as u64, admitted, "lost or duplicated items");
            let mut accounted: Vec<u64> = received.iter().chain(&evicted).copied().collect();
            accounted.sort_unstable();
            let mut expected: Vec<u64> = produced.iter().flat_map(|p| p.admitted.iter().copied()).collect();
            expected.sort_unstable();
            assert_eq!(accounted, expected, "every admitted item is received or evicted exactly once");
            // Each consumer sees each producer's items in the order they were pushed.
            for items in &consumed {
                for producer in 0..produced.len() as u64 {
                    let own: Vec<u64> = items.iter().copied().filter(|item| item >> 32 == producer).collect();
                    assert!(own.windows(2).all(|w| w[0] < w[1]), "producer {producer} reordered: {own:?}");
                }
            }
        });
    }
}
