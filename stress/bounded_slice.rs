//! Stress suite of the bounded slice: concurrent writers and readers.

use crate::support::cases;
use proptest::prelude::*;
use racekit::bounded_slice::BoundedSlice;
use racekit::model::Model;
use racekit::sync::{thread, Arc};

proptest! {
    #![proptest_config(cases(24))]
    #[test]
    fn the_bound_and_the_count_hold(capacity in 1usize..8, writers in prop::collection::vec(0u64..300, 1..4), readers in 0usize..3) {
        crate::support::watch("writers and readers of the slice to finish");
        Model::named("bounded slice stress").iterations(1).check(move || {
            let slice = Arc::new(BoundedSlice::new(capacity).unwrap());
            let reader_threads: Vec<_> = (0..readers).map(|_| {
                let slice = slice.clone();
                thread::spawn(move || {
                    for _ in 0..50 {
                        let seen = slice.snapshot();
                        assert!(seen.len() <= capacity, "a reader saw {} items", seen.len());
                        let (added, stored, evicted) = slice.accounting();
                        assert_eq!(added, stored as u64 + evicted);
                    }
                })
            }).collect();
            let writer_threads: Vec<_> = writers.iter().copied().enumerate().map(|(writer, count)| {
                let slice = slice.clone();
                thread::spawn(move || (0..count).filter_map(|n| slice.add((writer as u64) << 32 | n)).collect::<Vec<u64>>())
            }).collect();
            let evicted: Vec<u64> = writer_threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
            for reader in reader_threads {
                reader.join().unwrap();
            }
            let total: u64 = writers.iter().sum();
            let mut all: Vec<u64> = slice.snapshot().into_iter().chain(evicted).collect();
            all.sort_unstable();
            let mut expected: Vec<u64> = writers.iter().enumerate().flat_map(|(w, &count)| (0..count).map(move |n| (w as u64) << 32 | n)).collect();
            expected.sort_unstable();
            assert_eq!(all, expected, "every item is stored or evicted exactly once");
            assert_eq!(slice.accounting(), (total, (total as usize).min(capacity), total.saturating_sub(capacity as u64)));
        });
    }
}
