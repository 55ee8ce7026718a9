//! Models of the error collector: every error added from any thread is kept exactly once.

use crate::support::{expect_caught, expect_sound};
use racekit::error_collector::ErrorCollector;
use racekit::model::Model;
use racekit::sync::{thread, Arc};

/// What the scenario needs of a collector.
pub trait CollectorUnderTest: Send + Sync + 'static {
    fn new() -> Self;
    fn add(&self, error: u32);
    fn has_errors(&self) -> bool;
    fn errors(&self) -> Vec<u32>;
    fn len(&self) -> usize;
}

impl CollectorUnderTest for ErrorCollector<u32> {
    fn new() -> Self {
        ErrorCollector::new()
    }
    fn add(&self, error: u32) {
        ErrorCollector::add(self, error)
    }
    fn has_errors(&self) -> bool {
        ErrorCollector::has_errors(self)
    }
    fn errors(&self) -> Vec<u32> {
        ErrorCollector::errors(self)
    }
    fn len(&self) -> usize {
        ErrorCollector::len(self)
    }
}

/// Two threads add an error each while the main thread adds one and watches: once it has
/// seen errors it keeps seeing them, and at the end all three are there exactly once.
fn concurrent_adds<C: CollectorUnderTest>() {
    let collector = Arc::new(C::new());
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
    expect_sound(Model::named("error collector: concurrent adds"), concurrent_adds::<ErrorCollector<u32>>);
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

mod mutants {
    use super::*;
    use racekit::sync::atomic::{AtomicUsize, Ordering};
    use racekit::sync::Mutex;

    const COPIES_MODIFIES_AND_WRITES_BACK: u8 = 1;
    const COUNTS_WITH_A_SEPARATE_LOAD_AND_STORE: u8 = 2;

    struct MutantCollector<const BUG: u8> {
        errors: Mutex<Vec<u32>>,
        count: AtomicUsize,
    }

    impl<const BUG: u8> CollectorUnderTest for MutantCollector<BUG> {
        fn new() -> Self {
            MutantCollector { errors: Mutex::new(Vec::new()), count: AtomicUsize::new(0) }
        }

        fn add(&self, error: u32) {
            if BUG == COPIES_MODIFIES_AND_WRITES_BACK {
                // Two critical sections: a concurrent add between them is overwritten.
                let mut copy = self.errors.lock().clone();
                copy.push(error);
                *self.errors.lock() = copy;
            } else {
                self.errors.lock().push(error);
            }
            if BUG == COUNTS_WITH_A_SEPARATE_LOAD_AND_STORE {
                let count = self.count.load(Ordering::SeqCst);
                self.count.store(count + 1, Ordering::SeqCst);
            } else {
                self.count.fetch_add(1, Ordering::SeqCst);
            }
        }

        fn has_errors(&self) -> bool {
            self.count.load(Ordering::SeqCst) > 0
        }

        fn errors(&self) -> Vec<u32> {
            self.errors.lock().clone()
        }

        fn len(&self) -> usize {
            self.count.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn the_mutant_scaffold_is_sound_without_a_bug() {
        expect_sound(Model::named("error collector: scaffold"), concurrent_adds::<MutantCollector<0>>);
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_copy_modify_write_back_add_is_caught() {
        let failure = expect_caught(
            Model::named("error collector: lost error"),
            concurrent_adds::<MutantCollector<COPIES_MODIFIES_AND_WRITES_BACK>>,
        );
        assert!(failure.message.contains("lost or duplicated"), "{failure}");
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_count_with_a_separate_load_and_store_is_caught() {
        let failure = expect_caught(
            Model::named("error collector: lost count"),
            concurrent_adds::<MutantCollector<COUNTS_WITH_A_SEPARATE_LOAD_AND_STORE>>,
        );
        assert!(failure.message.contains("len disagrees"), "{failure}");
    }
}
