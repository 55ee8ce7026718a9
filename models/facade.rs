//! The facade itself: each primitive keeps `std`'s semantics on every backend, and the races
//! that live only in atomics are found on real threads too.

use crate::support::{expect_caught, expect_sound};
use racekit::model::Model;
use racekit::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use racekit::sync::{thread, Arc};

/// The CI-scale budget of the models in this file.
fn model(name: &str) -> Model {
    Model::named(name).preemption_bound(2).iterations(1_000)
}

/// Races between atomic operations only: no lock, no wait, nothing but the atomics for real
/// threads to perturb.
mod atomic_races {
    use super::*;

    /// Runs `operation` on a spawned thread and on this one at once, and joins.
    fn twice_at_once(operation: impl Fn() + Clone + Send + 'static) {
        let other = thread::spawn(operation.clone());
        operation();
        other.join().unwrap();
    }

    /// Two threads each claim a slot if it looks free: check, then act, as two atomic
    /// operations (the fix claims with one `swap`).
    pub fn check_then_act(bug: bool) {
        let busy = Arc::new(AtomicBool::new(false));
        let claims = Arc::new(AtomicUsize::new(0));
        twice_at_once({
            let (busy, claims) = (busy.clone(), claims.clone());
            move || {
                let won = if bug {
                    let free = !busy.load(Ordering::Acquire);
                    if free {
                        busy.store(true, Ordering::Release);
                    }
                    free
                } else {
                    !busy.swap(true, Ordering::AcqRel)
                };
                if won {
                    claims.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let claims = claims.load(Ordering::Relaxed);
        assert_eq!(claims, 1, "the slot was claimed {claims} times");
    }

    /// A length counter of one item and two consumers that each take an item if the length
    /// is positive: a load, then a decrement, so both can see 1 and the length wraps below
    /// zero (the fix decrements with one `fetch_update`).
    pub fn length_underflow(bug: bool) {
        let len = Arc::new(AtomicUsize::new(1));
        twice_at_once({
            let len = len.clone();
            move || {
                if bug {
                    if len.load(Ordering::Acquire) > 0 {
                        len.fetch_sub(1, Ordering::AcqRel);
                    }
                } else {
                    let _ = len.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
                }
            }
        });
        let len = len.load(Ordering::Acquire);
        assert_eq!(len, 0, "the length went below zero and wrapped to {len}");
    }

    /// Two threads release a shared handle: whoever takes it out of the slot frees it. The
    /// bug reads the slot, then swaps it out and frees what it *read*; the fix frees what
    /// the swap returned.
    pub fn double_free_by_swap(bug: bool) {
        const HANDLE: usize = 7;
        let slot = Arc::new(AtomicUsize::new(HANDLE));
        let frees = Arc::new(AtomicUsize::new(0));
        twice_at_once({
            let (slot, frees) = (slot.clone(), frees.clone());
            move || {
                let owned = if bug {
                    let seen = slot.load(Ordering::Acquire);
                    slot.swap(0, Ordering::AcqRel);
                    seen
                } else {
                    slot.swap(0, Ordering::AcqRel)
                };
                if owned == HANDLE {
                    frees.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let frees = frees.load(Ordering::Relaxed);
        assert_eq!(frees, 1, "the handle was freed {frees} times");
    }

    /// A model's name, its body (`true` runs the bug) and the message fragment the bug produces.
    type AtomicRace = (&'static str, fn(bool), &'static str);

    pub const ALL: [AtomicRace; 3] = [
        ("check then act over two atomics", check_then_act, "claimed 2 times"),
        ("length counter underflow", length_underflow, "went below zero"),
        ("double free decided by a swap", double_free_by_swap, "freed 2 times"),
    ];

    #[test]
    fn the_fixed_versions_pass() {
        for (name, body, _) in ALL {
            expect_sound(model(&format!("{name}, fixed")), move || body(false));
        }
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this, and atomic_race_detection measures it"
    )]
    fn the_bugs_are_caught() {
        for (name, body, symptom) in ALL {
            let failure = expect_caught(model(&format!("{name}, bug")), move || body(true));
            assert!(failure.message.contains(symptom), "{name}: {failure}");
        }
    }

    /// How often real threads catch each bug at the default budget (200 runs per check),
    /// over 20 seeds; prints the figures. `cargo test --test models atomic_race_detection
    /// -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check: run it to print real threads' detection rate"]
    fn atomic_race_detection() {
        const SEEDS: u64 = 20;
        for (name, body, symptom) in ALL {
            let mut caught = 0;
            let mut runs_to_detection = Vec::new();
            for seed in 1..=SEEDS {
                if let Err(failure) = Model::named(format!("{name}, bug")).seed(seed).run(move || body(true)) {
                    assert!(failure.message.contains(symptom), "{name}: {failure}");
                    caught += 1;
                    runs_to_detection.push(failure.schedules);
                }
            }
            runs_to_detection.sort_unstable();
            let median = runs_to_detection.get(runs_to_detection.len() / 2);
            println!("{name}: caught on {caught} of {SEEDS} seeds; median runs to detection {median:?}");
        }
    }
}
