//! Models of the error collector: every error added from any thread is kept exactly once.
//! The tests in [`mutants`] run the same scenario with one of the collector's mutation
//! points switched on ([`racekit::error_collector::MUTATION_POINTS`]).

use crate::support::expect_sound;
use racekit::error_collector::ErrorCollector;
use racekit::model::Model;
use racekit::sync::{thread, Arc};

/// Two threads add an error each while the main thread adds one and watches: once it has
/// seen errors it keeps seeing them, and at the end all three are there exactly once.
fn concurrent_adds() {
    let collector = Arc::new(ErrorCollector::new());
    let adders: Vec<_> = [1, 2]
        .into_iter()
        .map(|error| {
            let collector = collector.clone();
            thread::spawn(move || collector.add(error))
        })
        .collect();
    collector.add(3);
    assert!(collector.has_errors(), "its own error is visible to the thread that added it");
    for adder in adders {
        adder.join().unwrap();
    }
    let mut errors = collector.errors();
    errors.sort_unstable();
    assert_eq!(errors, [1, 2, 3], "an error was lost or duplicated");
    assert_eq!(collector.len(), 3, "len disagrees with the errors kept");
}

#[test]
fn concurrent_adds_keep_every_error_once() {
    expect_sound(Model::named("error collector: concurrent adds"), concurrent_adds);
}

#[test]
fn into_result_reports_every_error() {
    expect_sound(Model::named("error collector: into_result"), || {
        let collector = Arc::new(ErrorCollector::new());
        let adder = {
            let collector = collector.clone();
            thread::spawn(move || collector.add_result::<()>(Err("disk full")))
        };
        collector.add("timeout");
        assert_eq!(adder.join().unwrap(), None);
        let collector = Arc::try_unwrap(collector).expect("the adder is joined");
        let errors = collector.into_result().unwrap_err();
        assert_eq!(errors.0.len(), 2);
        assert!(errors.to_string().starts_with("2 error(s):"), "{errors}");
    });
}

/// The collector's mutation points, each switched on in the real collector. (Its length is
/// the list's own, read under the same lock, so it has no separate count an add could
/// update in two steps.)
mod mutants {
    use super::*;

    crate::mutant_test! {
        /// An add between another's take and put-back is overwritten.
        fn a_copy_modify_write_back_add_is_caught() {
            mutant: "error_collector.add.split_update",
            model: Model::named("error collector: lost error"),
            scenario: concurrent_adds,
            loom: Panic "lost or duplicated",
            shuttle: Panic "lost or duplicated",
            std: Panic "lost or duplicated",
        }
    }
}
