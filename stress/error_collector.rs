//! Stress suite of the error collector: many threads adding at once.

use crate::support::cases;
use proptest::prelude::*;
use racekit::error_collector::ErrorCollector;
use racekit::model::Model;
use racekit::sync::{thread, Arc};

proptest! {
    #![proptest_config(cases(24))]
    #[test]
    fn every_error_is_kept_once(adders in prop::collection::vec(0u32..200, 1..6)) {
        crate::support::watch("the adders to finish and the errors to be counted");
        Model::named("error collector stress").iterations(1).check(move || {
            let collector = Arc::new(ErrorCollector::new());
            let threads: Vec<_> = adders.iter().copied().enumerate().map(|(adder, count)| {
                let collector = collector.clone();
                thread::spawn(move || (0..count).for_each(|n| collector.add((adder as u32) << 16 | n)))
            }).collect();
            for thread in threads {
                thread.join().unwrap();
            }
            let mut errors = collector.errors();
            errors.sort_unstable();
            let mut expected: Vec<u32> = adders.iter().enumerate().flat_map(|(a, &count)| (0..count).map(move |n| (a as u32) << 16 | n)).collect();
            expected.sort_unstable();
            assert_eq!(errors, expected);
        });
    }
}
