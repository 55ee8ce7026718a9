//! Meta-tests of the facade's detectors: data races on a `RaceCell`, lock-order inversions,
//! lost wake-ups with `park`/`unpark`. Each detector is shown to catch its bug and to stay
//! quiet on the correct program next to it.

use crate::support::{expect_caught, expect_sound, MODEL_CHECKER};
use racekit::model::{FailureKind, Model};
use racekit::sync::atomic::{fence, AtomicBool, Ordering};
use racekit::sync::Backend;
use racekit::sync::{thread, Arc, Latch, Mutex, RaceCell, RwLock};

/// A value handed from a writer thread to the main thread through a flag with the given
/// orderings: a race unless the store releases and the load acquires.
fn publish_through_flag(store: Ordering, load: Ordering) {
    let shared = Arc::new((RaceCell::new(0u32), AtomicBool::new(false)));
    let writer = {
        let shared = shared.clone();
        thread::spawn(move || {
            shared.0.set(42);
            shared.1.store(true, store);
        })
    };
    if shared.1.load(load) {
        assert_eq!(shared.0.get(), 42);
    }
    writer.join().unwrap();
}

#[test]
#[cfg_attr(
    not(any(racekit_loom, racekit_shuttle)),
    ignore = "real threads see a race only when the accesses overlap in time (see an_overlapping_access_...)"
)]
fn unsynchronized_writes_are_a_data_race_under_each_model_checker() {
    let failure = expect_caught(Model::named("racing writes").preemption_bound(1).iterations(500), || {
        let cell = Arc::new(RaceCell::new(0u32));
        let other = {
            let cell = cell.clone();
            thread::spawn(move || cell.set(1))
        };
        cell.set(2);
        other.join().unwrap();
    });
    assert_eq!(failure.kind, FailureKind::DataRace, "{failure}");
    assert!(failure.message.contains("data race on a RaceCell: the write at"), "{failure}");
}

#[test]
fn a_write_ordered_by_a_lock_or_a_join_is_not_a_race() {
    expect_sound(Model::named("ordered accesses").preemption_bound(2).iterations(500), || {
        let shared = Arc::new((Mutex::new(()), RaceCell::new(0u32)));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let shared = shared.clone();
                thread::spawn(move || {
                    let _guard = shared.0.lock();
                    shared.1.with_mut(|value| *value += 1);
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        // Joined: the main thread reads both writes without the lock.
        assert_eq!(shared.1.get(), 2);
    });
}

#[test]
fn a_release_acquire_publication_is_not_a_race() {
    expect_sound(Model::named("release/acquire publication").preemption_bound(2).iterations(500), || {
        publish_through_flag(Ordering::Release, Ordering::Acquire)
    });
}

fn relaxed_publication_model() -> Model {
    Model::named("relaxed publication").preemption_bound(2).iterations(500)
}

#[test]
#[cfg_attr(not(racekit_loom), ignore = "only loom models weak memory")]
fn a_relaxed_publication_is_a_data_race_under_loom() {
    let failure =
        expect_caught(relaxed_publication_model(), || publish_through_flag(Ordering::Relaxed, Ordering::Relaxed));
    assert_eq!(failure.kind, FailureKind::DataRace, "{failure}");
    assert!(failure.message.contains("is not ordered after the write at"), "{failure}");
}

#[test]
#[cfg_attr(not(racekit_shuttle), ignore = "shuttle's blind spot: every atomic is sequentially consistent there")]
fn a_relaxed_publication_passes_under_shuttle_which_sees_every_atomic_as_seqcst() {
    expect_sound(relaxed_publication_model(), || publish_through_flag(Ordering::Relaxed, Ordering::Relaxed));
}

#[test]
#[cfg_attr(
    any(racekit_loom, racekit_shuttle),
    ignore = "the model checkers order accesses by happens-before, not by overlap in time"
)]
fn an_overlapping_access_on_real_threads_is_a_data_race() {
    // The writer stays inside its access until the reader has tried its own: the overlap
    // real threads can see, forced instead of waited for.
    let failure = expect_caught(Model::named("overlapping access").iterations(3), || {
        let shared = Arc::new((RaceCell::new(0u32), Latch::new(), Latch::new()));
        let writer = {
            let shared = shared.clone();
            thread::spawn(move || {
                shared.0.with_mut(|value| {
                    *value = 1;
                    shared.1.set();
                    shared.2.wait();
                })
            })
        };
        shared.1.wait();
        let read = racekit::sync::catch_unwind(|| shared.0.get());
        shared.2.set();
        writer.join().unwrap();
        if let Err(payload) = read {
            std::panic::resume_unwind(payload);
        }
    });
    assert_eq!(failure.kind, FailureKind::DataRace, "{failure}");
    assert!(failure.message.contains("overlaps the write at"), "{failure}");
}

/// Two threads take locks `a` and `b` in opposite orders, one after the other: they never
/// collide in this run, but they would deadlock if they overlapped.
fn opposite_lock_orders() {
    let locks = Arc::new((Mutex::new(0u32), Mutex::new(0u32)));
    let first = {
        let locks = locks.clone();
        thread::spawn(move || {
            let mut a = locks.0.lock();
            let mut b = locks.1.lock();
            *a += 1;
            *b += 1;
        })
    };
    first.join().unwrap();
    let mut b = locks.1.lock();
    let mut a = locks.0.lock();
    *a += 1;
    *b += 1;
}

#[test]
fn a_lock_order_inversion_is_reported_even_when_no_schedule_deadlocks() {
    // The threads run one after the other: no backend can make them deadlock, and every
    // backend (real threads included) reports the inversion from the first run.
    let failure = expect_caught(Model::named("sequential lock order inversion").iterations(5), opposite_lock_orders);
    assert_eq!(failure.kind, FailureKind::LockOrder, "{failure}");
    assert!(failure.message.contains("lock order inversion"), "{failure}");
    assert_eq!(failure.schedules, 1, "found in the first run: {failure}");
}

#[test]
fn one_lock_order_a_gate_lock_or_two_readers_pass() {
    expect_sound(Model::named("lock orders that cannot deadlock").preemption_bound(2).iterations(300), || {
        let gate = Arc::new(Mutex::new(()));
        let pair = Arc::new((Mutex::new(0u32), Mutex::new(0u32)));
        let tables = Arc::new((RwLock::new(0u32), RwLock::new(0u32)));
        let other = {
            let (gate, pair, tables) = (gate.clone(), pair.clone(), tables.clone());
            thread::spawn(move || {
                // a then b, everywhere.
                *pair.0.lock() += 1;
                let _a = pair.0.lock();
                let _b = pair.1.lock();
                drop((_b, _a));
                // b then a, but only under the gate the other thread also holds.
                let _gate = gate.lock();
                let _b = pair.1.lock();
                let _a = pair.0.lock();
                drop((_a, _b, _gate));
                // readers in either order.
                let _x = tables.0.read();
                let _y = tables.1.read();
            })
        };
        {
            let _gate = gate.lock();
            let _a = pair.0.lock();
            let _b = pair.1.lock();
        }
        {
            let _y = tables.1.read();
            let _x = tables.0.read();
        }
        other.join().unwrap();
    });
}

#[test]
fn relocking_a_held_mutex_is_reported_instead_of_hanging() {
    let failure = expect_caught(Model::named("self deadlock").iterations(1), || {
        let lock = Mutex::new(0u32);
        let _held = lock.lock();
        let _again = lock.lock();
    });
    assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
    assert!(failure.message.contains("already holds it"), "{failure}");
}

/// A hand-written wake-up: the waiter parks until `ready`; the setter unparks it only if it
/// has announced that it is waiting. Each side stores, then fences, then loads (loom
/// treats `SeqCst` loads and stores as `AcqRel`; the `SeqCst` fences are what make this
/// Dekker-style handshake correct under its weak memory). Announcing only after the first
/// check (`announce_first` false) is the classic lost wake-up.
fn park_until_ready(announce_first: bool) {
    let state = Arc::new((AtomicBool::new(false), AtomicBool::new(false)));
    let waiter = thread::current();
    let setter = {
        let state = state.clone();
        thread::spawn(move || {
            state.0.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if state.1.load(Ordering::SeqCst) {
                waiter.unpark();
            }
        })
    };
    let announce = || {
        state.1.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    };
    if announce_first {
        announce();
    }
    while !state.0.load(Ordering::SeqCst) {
        if !announce_first {
            announce();
        }
        thread::park();
    }
    setter.join().unwrap();
}

#[test]
fn park_and_unpark_are_model_checked() {
    expect_sound(Model::named("park until ready").preemption_bound(2).iterations(300), || park_until_ready(true));
}

#[test]
#[cfg_attr(
    not(any(racekit_loom, racekit_shuttle)),
    ignore = "on real threads a lost unpark hangs, and only when the window is hit"
)]
fn a_lost_unpark_is_a_deadlock_under_each_model_checker() {
    let failure =
        expect_caught(Model::named("lost unpark").preemption_bound(2).iterations(1_000), || park_until_ready(false));
    assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
    assert!(failure.message.contains("deadlock"), "the checker's own report: {failure}");
}

#[test]
fn a_spin_loop_with_the_hint_terminates_under_the_model_checkers() {
    // Harness-side counter (std, outside the model).
    let spins = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = spins.clone();
    expect_sound(Model::named("spin until set").preemption_bound(2).iterations(200), move || {
        let ready = Arc::new(AtomicBool::new(false));
        let setter = {
            let ready = ready.clone();
            thread::spawn(move || ready.store(true, Ordering::Release))
        };
        while !ready.load(Ordering::Acquire) {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            racekit::sync::hint::spin_loop();
        }
        setter.join().unwrap();
    });
    if MODEL_CHECKER {
        assert!(spins.load(std::sync::atomic::Ordering::Relaxed) > 0, "some schedule ran the spin loop");
    }
}

/// A consumer waits for one item; `recheck` selects `while` (correct) or `if` (the bug: a
/// wait may return without a notification).
fn wait_for_item(recheck: bool) {
    let shared = Arc::new((Mutex::new(Vec::<u32>::new()), racekit::sync::Condvar::new()));
    let producer = {
        let shared = shared.clone();
        thread::spawn(move || {
            shared.0.lock().push(7);
            shared.1.notify_one();
        })
    };
    let mut items = shared.0.lock();
    if recheck {
        while items.is_empty() {
            items = shared.1.wait(items);
        }
    } else if items.is_empty() {
        items = shared.1.wait(items);
    }
    assert_eq!(items.pop(), Some(7), "woke up without an item");
    drop(items);
    producer.join().unwrap();
}

#[test]
fn a_wait_under_while_passes() {
    expect_sound(Model::named("wait under while").preemption_bound(2).iterations(500), || wait_for_item(true));
}

#[test]
#[cfg_attr(
    not(racekit_shuttle),
    ignore = "only shuttle wakes a condition wait spuriously (as a recorded choice); loom and std do not"
)]
fn a_wait_under_if_instead_of_while_is_caught_by_spurious_wakeups() {
    let failure = expect_caught(Model::named("wait under if").iterations(500), || wait_for_item(false));
    assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
    assert!(failure.message.contains("woke up without an item"), "{failure}");
}

/// A spawned thread panics with `message`; the body joins it.
fn thread_panics_with(message: &'static str) {
    let other = thread::spawn(move || panic!("{message}"));
    other.join().unwrap();
}

#[test]
fn a_users_panic_that_names_a_detector_is_a_panic_on_every_backend() {
    // The kind is what the detector recorded, not what the text says: the user's own words,
    // even a checker's own phrasing, never make a deadlock, a race or a step bound.
    for message in
        ["deadlock happened", "data race on a RaceCell", "deadlock; threads = []", "exceeded max_steps bound 9"]
    {
        let failure = expect_caught(Model::named(format!("user panic: {message}")).iterations(3), move || {
            thread_panics_with(message)
        });
        assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
        assert!(failure.message.contains(message), "{failure}");
    }
}

/// The main thread waits, spinning, for a flag nobody sets: a livelock.
fn spin_forever() {
    let ready = Arc::new(AtomicBool::new(false));
    let other = {
        let ready = ready.clone();
        thread::spawn(move || ready.load(Ordering::Acquire))
    };
    while !ready.load(Ordering::Acquire) {
        racekit::sync::hint::spin_loop();
    }
    other.join().unwrap();
}

#[test]
#[cfg_attr(
    not(any(racekit_loom, racekit_shuttle)),
    ignore = "real threads have no step bound: a livelock is a hang there (a_hang_on_real_threads_is_reported)"
)]
fn a_livelock_exceeds_the_step_bound_under_each_model_checker() {
    let failure = expect_caught(Model::named("livelock").preemption_bound(1).iterations(1), spin_forever);
    assert_eq!(failure.kind, FailureKind::StepBound, "{failure}");
    let fragment = if Backend::CURRENT == Backend::Loom { "maximum number of branches" } else { "max_steps" };
    assert!(failure.message.contains(fragment), "{failure}");
}

#[test]
#[cfg_attr(racekit_shuttle, ignore = "under shuttle tokio is shuttle-tokio, which runs tasks on shuttle's executor")]
fn tokio_called_outside_a_runtime_is_a_setup_failure_that_names_the_fix() {
    let failure = expect_caught(Model::named("tokio outside a runtime").iterations(1), || {
        drop(tokio::spawn(async {}));
    });
    assert_eq!(failure.kind, FailureKind::Setup, "{failure}");
    let fix = if Backend::CURRENT == Backend::Loom { "loom cannot run tokio" } else { "task::block_on" };
    assert!(failure.message.contains(fix), "{failure}");
}

#[test]
#[cfg_attr(not(racekit_loom), ignore = "only loom refuses the facade's async calls")]
fn an_async_facade_call_under_loom_is_a_setup_failure() {
    use racekit::sync::task;
    let failure = expect_caught(Model::named("async under loom").iterations(1), || {
        task::block_on(async { task::spawn(async {}).await.unwrap() })
    });
    assert_eq!(failure.kind, FailureKind::Setup, "{failure}");
    assert!(failure.message.contains("gate this model with `cfg(not(racekit_loom))`"), "{failure}");
}

#[test]
fn a_handlers_panic_that_quotes_the_checker_is_caught_like_any_other() {
    // `sync::catch_unwind` re-raises only what the checker itself raised; a user's panic in
    // loom's own words is the user's, and a worker catching handler panics catches it.
    expect_sound(Model::named("handler quoting the checker").preemption_bound(2).iterations(50), || {
        let calls = Arc::new(AtomicBool::new(false));
        let worker = {
            let calls = calls.clone();
            thread::spawn(move || {
                calls.store(true, Ordering::SeqCst);
                racekit::sync::catch_unwind(|| panic!("deadlock; threads = [(0, Blocked)]")).is_err()
            })
        };
        calls.load(Ordering::SeqCst);
        assert!(worker.join().unwrap(), "the handler's panic was caught");
    });
}
