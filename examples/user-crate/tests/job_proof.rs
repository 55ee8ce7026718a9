//! What the model-checking job must find in this crate, and what it must pass.
//!
//! - Fixes (`visits_are_all_counted`, `a_ring_always_wakes_the_waiter`, the proptest
//!   scenario): models that pass on every backend that builds them.
//! - Mutants (`mutants::*_is_caught`): the same scenarios on the buggy variants; each test
//!   passes only when the model checker finds the bug (`Model::run` returns the failure),
//!   and pins its symptom. Real threads find these races only by chance, so they are built
//!   for loom and shuttle only.
//! - Planted failures (`planted::*`): the buggy variants checked as a user's model would
//!   be, so they fail. `#[ignore]`d, so a plain `cargo test` of this crate stays green;
//!   `cargo racekit --include-ignored` runs them, and `ci/fixture.sh` requires it to report them as failures
//!   with a reproduce command that, run as printed, fails the same way.
//!
//! The tokio scenarios are not built for loom (it cannot run tokio): shuttle model-checks
//! them, real threads run them.

use proptest::prelude::*;
use racekit::model::Model;
use racekit::sync::{thread, Arc};
use shop::visits::Visits;
use shop::Inventory;

/// Two visitors, each counted once: the count must be two in every schedule.
fn two_visitors(record: fn(&Visits)) {
    let visits = Arc::new(Visits::new());
    let other = {
        let visits = visits.clone();
        thread::spawn(move || record(&visits))
    };
    record(&visits);
    other.join().unwrap();
    assert_eq!(visits.seen(), 2, "a visit was lost");
}

#[test]
fn visits_are_all_counted() {
    Model::named("visits: fetch_add").check(|| two_visitors(Visits::record));
}

#[cfg(not(racekit_loom))]
mod doorbell {
    use racekit::sync::task;
    use shop::visits::Doorbell;
    use std::sync::Arc;

    /// One task rings, the other waits: the waiter must wake in every schedule (a missed
    /// ring leaves it waiting forever, which the checker reports as a deadlock).
    pub fn ring_and_wait(racy: bool) {
        task::block_on(async move {
            let bell = Arc::new(Doorbell::new());
            let ringer = {
                let bell = bell.clone();
                task::spawn(async move { bell.ring() })
            };
            if racy {
                bell.wait_racy().await;
            } else {
                bell.wait().await;
            }
            ringer.await.unwrap();
        })
    }
}

#[cfg(not(racekit_loom))]
#[test]
fn a_ring_always_wakes_the_waiter() {
    Model::named("doorbell: waiter registered before the look").check(|| doorbell::ring_and_wait(false));
}

proptest! {
    // proptest picks the scenario (stock and buyers), the model checker its interleavings.
    #![proptest_config(ProptestConfig { cases: 4, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn any_few_buyers_never_oversell(stock in 0u32..=2, buyers in 1u32..=2) {
        Model::named(format!("inventory: {stock} in stock, {buyers} extra buyer(s)")).check(move || {
            let inventory = Arc::new(Inventory::new(stock));
            let others: Vec<_> = (0..buyers)
                .map(|_| {
                    let inventory = inventory.clone();
                    thread::spawn(move || u32::from(inventory.take()))
                })
                .collect();
            let sold = u32::from(inventory.take()) + others.into_iter().map(|h| h.join().unwrap()).sum::<u32>();
            assert_eq!(sold, stock.min(buyers + 1), "sold more or fewer than there was");
            assert_eq!(inventory.left(), stock - sold);
        });
    }
}

#[cfg(any(racekit_loom, racekit_shuttle))]
mod mutants {
    use super::*;
    use racekit::model::FailureKind;

    #[test]
    fn a_lost_visit_is_caught() {
        let failure = Model::named("visits: load then store")
            .run(|| two_visitors(Visits::record_racy))
            .expect_err("the lost update must be found");
        assert_eq!(failure.kind, FailureKind::Panic);
        assert!(failure.message.contains("a visit was lost"), "{}", failure.message);
    }

    #[cfg(racekit_shuttle)]
    #[test]
    fn a_missed_ring_is_caught() {
        let failure = Model::named("doorbell: look, then wait")
            .run(|| doorbell::ring_and_wait(true))
            .expect_err("the missed ring must be found");
        assert_eq!(failure.kind, FailureKind::Deadlock, "{}", failure.message);
    }
}

#[cfg(any(racekit_loom, racekit_shuttle))]
mod planted {
    use super::*;

    #[test]
    #[ignore = "a planted bug that fails on purpose: ci/fixture.sh runs it through the job"]
    fn a_lost_visit_fails() {
        Model::named("planted: visits, load then store").check(|| two_visitors(Visits::record_racy));
    }

    #[cfg(racekit_shuttle)]
    #[test]
    #[ignore = "a planted bug that fails on purpose: ci/fixture.sh runs it through the job"]
    fn a_missed_ring_fails() {
        Model::named("planted: doorbell, look then wait").check(|| doorbell::ring_and_wait(true));
    }
}
