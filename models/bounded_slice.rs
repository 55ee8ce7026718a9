//! Models of the bounded slice: the bound and the eviction count hold under concurrent adds
//! and reads. The tests in [`mutants`] run the same scenario with one of the slice's
//! mutation points switched on ([`racekit::bounded_slice::MUTATION_POINTS`]).

use crate::support::expect_sound;
use racekit::bounded_slice::BoundedSlice;
use racekit::model::Model;
use racekit::sync::{thread, Arc};

/// Two writers add one item each to a slice of capacity 1, while `reader` (if any) looks
/// at it from a third thread: every item is stored or evicted exactly once, the bound holds
/// at the end, and the counts agree with what the writers saw.
fn two_writers_and(reader: Option<fn(&BoundedSlice<u32>)>) {
    let slice = Arc::new(BoundedSlice::new(1).expect("capacity is positive"));
    let writer = {
        let slice = slice.clone();
        thread::spawn(move || slice.add(1))
    };
    let reader = reader.map(|read| {
        let slice = slice.clone();
        thread::spawn(move || read(&slice))
    });
    let mine = slice.add(2);
    let theirs = writer.join().unwrap();
    if let Some(reader) = reader {
        reader.join().unwrap();
    }
    let stored = slice.snapshot();
    assert!(stored.len() <= 1, "stored {stored:?}, above capacity 1");
    let mut all: Vec<u32> = stored.iter().copied().chain(mine).chain(theirs).collect();
    all.sort_unstable();
    assert_eq!(all, [1, 2], "every item is stored or evicted exactly once");
    assert_eq!(slice.accounting(), (2, 1, 1), "not conserved at the end: (added, stored, evicted)");
}

/// A reader mid-run never sees more than the capacity, and the counts it reads together
/// are conserved.
fn snapshot_and_accounting(slice: &BoundedSlice<u32>) {
    let seen = slice.snapshot();
    assert!(seen.len() <= 1, "a reader saw {seen:?}, above capacity 1");
    let (added, stored, evicted) = slice.accounting();
    assert_eq!(
        added,
        stored as u64 + evicted,
        "not conserved mid-run: added {added}, stored {stored}, evicted {evicted}"
    );
}

fn writers_and_reader() {
    two_writers_and(Some(snapshot_and_accounting));
}

/// Without a reader: only what the adds leave behind is checked.
fn writers_alone() {
    two_writers_and(None);
}

#[test]
fn concurrent_adds_keep_the_bound_and_the_count() {
    expect_sound(Model::named("bounded slice: writers and reader"), writers_and_reader);
}

#[test]
fn concurrent_adds_leave_one_item_and_one_eviction() {
    expect_sound(Model::named("bounded slice: writers alone"), writers_alone);
}

/// The slice's mutation points, each switched on in the real slice.
mod mutants {
    use super::*;

    crate::mutant_test! {
        /// Both writers see the empty ring before either stores: neither evicts, and the
        /// ring ends with two items. (No reader: one would also see an add half done, a
        /// second symptom of the same split.)
        fn an_eviction_decided_outside_the_write_lock_is_caught() {
            mutant: "bounded_slice.add.evicts_on_a_stale_length",
            model: Model::named("bounded slice: check-then-act"),
            scenario: writers_alone,
            loom: Panic "above capacity",
            shuttle: Panic "above capacity",
            std: Panic "above capacity",
        }
    }

    crate::mutant_test! {
        /// Both writers read `added` as 0 and store 1: two items, one counted.
        fn a_count_updated_outside_the_write_lock_is_caught() {
            mutant: "bounded_slice.add.counts_in_a_separate_critical_section",
            model: Model::named("bounded slice: lost count"),
            scenario: writers_and_reader,
            loom: Panic "not conserved",
            shuttle: Panic "not conserved",
            std: Panic "not conserved",
        }
    }

    crate::mutant_test! {
        /// The reader's snapshot falls between a writer's store and its trim.
        fn a_ring_overfull_in_view_of_readers_is_caught() {
            mutant: "bounded_slice.add.trims_in_view_of_readers",
            model: Model::named("bounded slice: overfull in view"),
            scenario: writers_and_reader,
            loom: Panic "above capacity",
            shuttle: Panic "above capacity",
            std: Panic "above capacity",
        }
    }
}
