//! The search on hand-written histories: what it accepts, what it refuses, its witness,
//! keyed splitting and its cut-offs.

use super::*;
use std::collections::BTreeMap;

/// A map of registers: `(key, Some(v))` writes and returns the old value, `(key, None)` reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Registers(BTreeMap<u8, u8>);

impl Spec for Registers {
    type Op = (u8, Option<u8>);
    type Ret = u8;
    fn apply(&mut self, (key, write): &(u8, Option<u8>)) -> u8 {
        let slot = self.0.entry(*key).or_default();
        let old = *slot;
        if let Some(value) = write {
            *slot = *value;
        }
        old
    }
    fn key((key, _): &(u8, Option<u8>)) -> Option<u64> {
        Some(u64::from(*key))
    }
}

fn op(lane: Lane, call: u64, ret: u64, op: (u8, Option<u8>), result: u8) -> Operation<(u8, Option<u8>), u8> {
    Operation { lane, call, ret, op, result }
}

#[test]
fn overlapping_operations_may_take_effect_in_either_order() {
    // t0 writes 1 over [0, 5]; t1 reads 1 and then 0 inside it: the second read is stale.
    let history = [
        op(Lane::Thread(0), 0, 5, (0, Some(1)), 0),
        op(Lane::Thread(1), 1, 2, (0, None), 1),
        op(Lane::Thread(1), 3, 4, (0, None), 0),
    ];
    let Verdict::NotLinearizable(witness) = check_history(&Registers::default(), &history).unwrap() else {
        panic!("a read after a read of the new value saw the old one: not linearizable");
    };
    // The longest explanation: the write, then the first read; the second read cannot follow.
    assert_eq!(witness.linearized, [0, 1]);
    assert_eq!(witness.refused, [(2, "1".to_owned())]);
    let table = render(&history, Some(&witness));
    assert!(table.contains("| init / post | thread 0"), "{table}");
    assert!(table.contains("cannot come next: thread 1: (0, None) -> 0 (the specification returns 1)"), "{table}");

    let fine = [history[0].clone(), history[1].clone(), op(Lane::Thread(1), 3, 4, (0, None), 1)];
    assert!(check_history(&Registers::default(), &fine).unwrap().is_linearizable());
}

#[test]
fn keyed_histories_are_checked_per_key() {
    // Key 0 and key 1 are each fine alone; the search splits them.
    let history = [
        op(Lane::Thread(0), 0, 3, (0, Some(1)), 0),
        op(Lane::Thread(1), 1, 2, (1, Some(2)), 0),
        op(Lane::Post, 4, 5, (1, None), 2),
        op(Lane::Post, 6, 7, (0, None), 1),
    ];
    assert!(check_history(&Registers::default(), &history).unwrap().is_linearizable());
    // A wrong result on key 1 is reported with indices into the whole history.
    let mut wrong = history.clone();
    wrong[2].result = 0;
    let Verdict::NotLinearizable(witness) = check_history(&Registers::default(), &wrong).unwrap() else {
        panic!("key 1 read 0 after 2 was written");
    };
    assert_eq!(witness.linearized, [1]);
    assert_eq!(witness.refused, [(2, "2".to_owned())]);
}

#[test]
fn too_long_a_history_is_refused_with_what_to_do() {
    let history: Vec<_> =
        (0..=MAX_OPERATIONS as u64).map(|i| op(Lane::Thread(0), 2 * i, 2 * i + 1, (0, None), 0)).collect();
    let error = check_history(&Registers::default(), &history).unwrap_err();
    assert!(matches!(error, HistoryError::TooManyOperations { operations: 129, max: 128 }));
    assert!(error.to_string().contains("generate fewer threads"));
}

#[test]
fn shapes_beyond_the_checker_are_typed_errors() {
    let shape = Shape { threads: 1..=5, ..Shape::default() };
    assert!(matches!(shape.validate(), Err(ShapeError::Threads { .. })));
    let shape = Shape { operations_per_thread: 1..=50, ..Shape::default() };
    assert!(matches!(shape.validate(), Err(ShapeError::TooLarge { operations: 153 })));
    #[allow(clippy::reversed_empty_ranges)]
    let shape = Shape { init: 3..=1, ..Shape::default() };
    assert!(shape.validate().unwrap_err().to_string().contains("min <= max"));
    assert_eq!(Shape::default().validate(), Ok(()));
}

#[test]
fn scenario_fingerprints_are_stable_and_tell_scenarios_apart() {
    let one = Scenario { init: vec![1u8], parallel: vec![vec![2], vec![3]], post: vec![] };
    let two = Scenario { init: vec![1u8], parallel: vec![vec![3], vec![2]], post: vec![] };
    assert_eq!(one.fingerprint(), one.clone().fingerprint());
    assert_ne!(one.fingerprint(), two.fingerprint());
    assert!(one.table().contains("| init / post | thread 0 | thread 1 |"));
}
