//! Models of the bounded slice: the bound and the eviction count hold under concurrent adds
//! and reads.

use crate::support::{expect_caught, expect_sound};
use racekit::bounded_slice::BoundedSlice;
use racekit::model::Model;
use racekit::sync::{thread, Arc};

/// What the scenarios need of a bounded collection.
pub trait SliceUnderTest: Send + Sync + 'static {
    fn with_capacity(capacity: usize) -> Self;
    /// Adds `item`; returns the evicted item, if any.
    fn add(&self, item: u32) -> Option<u32>;
    fn snapshot(&self) -> Vec<u32>;
    /// `(added, stored, evicted)` read together.
    fn accounting(&self) -> (u64, usize, u64);
}

impl SliceUnderTest for BoundedSlice<u32> {
    fn with_capacity(capacity: usize) -> Self {
        BoundedSlice::new(capacity).expect("capacity is positive")
    }
    fn add(&self, item: u32) -> Option<u32> {
        BoundedSlice::add(self, item)
    }
    fn snapshot(&self) -> Vec<u32> {
        BoundedSlice::snapshot(self)
    }
    fn accounting(&self) -> (u64, usize, u64) {
        BoundedSlice::accounting(self)
    }
}

/// Two writers add one item each to a slice of capacity 1 while a reader snapshots it:
/// the reader never sees more than the capacity, every item is stored or evicted exactly
/// once, and the counts agree with what the writers saw.
fn writers_and_reader<S: SliceUnderTest>() {
    let slice = Arc::new(S::with_capacity(1));
    let writer = {
        let slice = slice.clone();
        thread::spawn(move || slice.add(1))
    };
    let reader = {
        let slice = slice.clone();
        thread::spawn(move || {
            let seen = slice.snapshot();
            assert!(seen.len() <= 1, "a reader saw {seen:?}, above capacity 1");
            let (added, stored, evicted) = slice.accounting();
            assert_eq!(
                added,
                stored as u64 + evicted,
                "not conserved mid-run: added {added}, stored {stored}, evicted {evicted}"
            );
        })
    };
    let mine = slice.add(2);
    let theirs = writer.join().unwrap();
    reader.join().unwrap();
    let stored = slice.snapshot();
    assert!(stored.len() <= 1, "stored {stored:?}, above capacity 1");
    let mut all: Vec<u32> = stored.iter().copied().chain(mine).chain(theirs).collect();
    all.sort_unstable();
    assert_eq!(all, [1, 2], "every item is stored or evicted exactly once");
    assert_eq!(slice.accounting(), (2, 1, 1), "(added, stored, evicted)");
}

#[test]
fn concurrent_adds_keep_the_bound_and_the_count() {
    expect_sound(Model::named("bounded slice: writers and reader"), writers_and_reader::<BoundedSlice<u32>>);
}

mod mutants {
    use super::*;
    use racekit::sync::RwLock;
    use std::collections::VecDeque;

    const EVICTS_IN_A_SEPARATE_CRITICAL_SECTION: u8 = 1;
    const COUNTS_OUTSIDE_THE_WRITE_LOCK: u8 = 2;
    const STORES_BEFORE_TRIMMING_IN_VIEW_OF_READERS: u8 = 3;

    /// One implementation, each bug a switch.
    struct MutantSlice<const BUG: u8> {
        items: RwLock<VecDeque<u32>>,
        counts: RwLock<(u64, u64)>,
        capacity: usize,
    }

    impl<const BUG: u8> SliceUnderTest for MutantSlice<BUG> {
        fn with_capacity(capacity: usize) -> Self {
            MutantSlice { items: RwLock::new(VecDeque::new()), counts: RwLock::new((0, 0)), capacity }
        }

        fn add(&self, item: u32) -> Option<u32> {
            if BUG == COUNTS_OUTSIDE_THE_WRITE_LOCK {
                // Read-modify-write of the counter across two critical sections.
                let added = self.counts.read().0;
                self.counts.write().0 = added + 1;
            }
            let mut counts = self.counts.write();
            if BUG != COUNTS_OUTSIDE_THE_WRITE_LOCK {
                counts.0 += 1;
            }
            // Adds serialize on the counts lock, so this length is current (unless a bug
            // below lets go of the locks before using it).
            let full = self.items.read().len() >= self.capacity;
            let mut items = self.items.write();
            if BUG == STORES_BEFORE_TRIMMING_IN_VIEW_OF_READERS {
                // Appends, lets readers see the overfull ring, then trims.
                items.push_back(item);
                drop(items);
                thread::yield_now();
                items = self.items.write();
                let evicted = (items.len() > self.capacity).then(|| items.pop_front()).flatten();
                counts.1 += u64::from(evicted.is_some());
                return evicted;
            }
            if BUG == EVICTS_IN_A_SEPARATE_CRITICAL_SECTION {
                // Decides on the length read before taking the write lock.
                drop(counts);
                drop(items);
                items = self.items.write();
                counts = self.counts.write();
            }
            let evicted = if full { items.pop_front() } else { None };
            counts.1 += u64::from(evicted.is_some());
            items.push_back(item);
            evicted
        }

        fn snapshot(&self) -> Vec<u32> {
            self.items.read().iter().copied().collect()
        }

        fn accounting(&self) -> (u64, usize, u64) {
            let counts = self.counts.read();
            (counts.0, self.items.read().len(), counts.1)
        }
    }

    #[test]
    fn the_mutant_scaffold_is_sound_without_a_bug() {
        expect_sound(Model::named("bounded slice: scaffold"), writers_and_reader::<MutantSlice<0>>);
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn an_eviction_decided_outside_the_write_lock_is_caught() {
        expect_caught(
            Model::named("bounded slice: check-then-act"),
            writers_and_reader::<MutantSlice<EVICTS_IN_A_SEPARATE_CRITICAL_SECTION>>,
        );
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_count_updated_outside_the_write_lock_is_caught() {
        expect_caught(
            Model::named("bounded slice: lost count"),
            writers_and_reader::<MutantSlice<COUNTS_OUTSIDE_THE_WRITE_LOCK>>,
        );
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_ring_overfull_in_view_of_readers_is_caught() {
        let failure = expect_caught(
            Model::named("bounded slice: overfull in view"),
            writers_and_reader::<MutantSlice<STORES_BEFORE_TRIMMING_IN_VIEW_OF_READERS>>,
        );
        assert!(failure.message.contains("above capacity"), "{failure}");
    }
}
