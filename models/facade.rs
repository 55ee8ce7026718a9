//! The facade itself: each primitive keeps `std`'s semantics on every backend, and the races
//! that live only in atomics are found on real threads too.

use crate::support::{expect_caught, expect_sound, MODEL_CHECKER};
use racekit::model::{FailureKind, Model};
use racekit::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use racekit::sync::{thread, Arc, Barrier, Condvar, Instant, LazyLock, Mutex, Once, OnceLock, RwLock};
use std::time::Duration;

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
            assert_eq!(failure.kind, FailureKind::Panic, "{name}: {failure}");
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
                    assert_eq!(failure.kind, FailureKind::Panic, "{name}: {failure}");
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

#[test]
fn try_read_and_try_write_never_overlap_a_conflicting_holder() {
    expect_sound(model("try_read and try_write"), || {
        let lock = Arc::new(RwLock::new(0u32));
        let writing = Arc::new(AtomicBool::new(false));
        let writer = {
            let (lock, writing) = (lock.clone(), writing.clone());
            thread::spawn(move || {
                if let Some(mut value) = lock.try_write() {
                    writing.store(true, Ordering::SeqCst);
                    *value += 1;
                    writing.store(false, Ordering::SeqCst);
                }
            })
        };
        let read = lock.try_read().map(|value| {
            assert!(!writing.load(Ordering::SeqCst), "try_read succeeded while a writer held the lock");
            *value
        });
        writer.join().unwrap();
        assert!(read.is_none_or(|value| value <= 1));
        assert!(!lock.is_poisoned());
        assert!(lock.try_write().is_some(), "a free lock is taken without blocking");
    });
}

/// Two threads add one to a total, with `try_lock` first; the bug drops the increment when
/// the lock is busy instead of waiting for it.
fn add_with_try_lock(bug: bool) {
    let total = Arc::new(Mutex::new(0u32));
    let add = move |total: &Mutex<u32>| match total.try_lock() {
        Some(mut total) => *total += 1,
        None if bug => {}
        None => *total.lock() += 1,
    };
    let other = {
        let total = total.clone();
        thread::spawn(move || add(&total))
    };
    add(&total);
    other.join().unwrap();
    let total = *total.lock();
    assert_eq!(total, 2, "an increment was dropped: total {total}");
}

#[test]
fn a_try_lock_that_falls_back_to_lock_keeps_every_increment() {
    expect_sound(model("try_lock falls back to lock"), || add_with_try_lock(false));
}

#[test]
#[cfg_attr(
    not(any(racekit_loom, racekit_shuttle)),
    ignore = "real threads find the busy lock only by chance; the job runs this"
)]
fn a_try_lock_that_drops_work_when_the_lock_is_busy_is_caught() {
    let failure = expect_caught(model("try_lock drops work"), || add_with_try_lock(true));
    assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
    assert!(failure.message.contains("an increment was dropped"), "{failure}");
}

#[test]
fn a_read_lock_retaken_by_its_holder_is_reported_on_every_backend() {
    let failure = expect_caught(Model::named("read lock taken twice").iterations(5), || {
        let lock = RwLock::new(1);
        let first = lock.read();
        let second = lock.read();
        assert_eq!(*first + *second, 2);
    });
    // It deadlocks only once a writer queues between the two reads: a lock-order hazard.
    assert_eq!(failure.kind, FailureKind::LockOrder, "{failure}");
    assert!(failure.message.contains("writer queues"), "{failure}");
}

#[test]
fn wait_timeout_while_returns_the_condition_or_a_timeout() {
    expect_sound(model("wait_timeout_while"), || {
        let state = Arc::new((Mutex::new(false), Condvar::new()));
        let setter = {
            let state = state.clone();
            thread::spawn(move || {
                *state.0.lock() = true;
                state.1.notify_all();
            })
        };
        let (ready, timed_out) = state.1.wait_timeout_while(state.0.lock(), Duration::from_secs(5), |ready| !*ready);
        assert_ne!(*ready, timed_out, "returned with the condition false without timing out");
        drop(ready);
        setter.join().unwrap();
    });
}

#[test]
fn a_barrier_releases_its_parties_together_and_is_reusable() {
    expect_sound(model("barrier, two generations"), || {
        let barrier = Arc::new(Barrier::new(2));
        let arrived = Arc::new(AtomicUsize::new(0));
        let party = {
            let (barrier, arrived) = (barrier.clone(), arrived.clone());
            move || {
                let mut leaders = 0;
                for generation in 1..=2 {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    leaders += usize::from(barrier.wait().is_leader());
                    let seen = arrived.load(Ordering::SeqCst);
                    assert!(seen >= 2 * generation, "left generation {generation} after {seen} arrivals");
                }
                leaders
            }
        };
        let other = thread::spawn(party.clone());
        let leaders = party() + other.join().unwrap();
        assert_eq!(leaders, 2, "one leader per generation");
    });
}

#[test]
fn once_and_once_lock_initialize_exactly_once() {
    expect_sound(model("Once and OnceLock"), || {
        let cell = Arc::new((OnceLock::new(), Once::new(), AtomicUsize::new(0)));
        let init = {
            let cell = cell.clone();
            move || {
                let value = *cell.0.get_or_init(|| cell.2.fetch_add(1, Ordering::SeqCst) + 10);
                cell.1.call_once(|| {
                    cell.2.fetch_add(1, Ordering::SeqCst);
                });
                assert!(cell.1.is_completed());
                value
            }
        };
        let other = thread::spawn(init.clone());
        let (mine, theirs) = (init(), other.join().unwrap());
        assert_eq!(mine, theirs, "both threads see the one value");
        assert_eq!(cell.2.load(Ordering::SeqCst), 2, "each initializer ran once");
        assert_eq!(cell.0.set(0), Err(0));
    });
}

static REGISTERED: LazyLock<Mutex<Vec<thread::ThreadId>>> = LazyLock::new(|| Mutex::new(Vec::new()));
static HITS: LazyLock<AtomicUsize> = LazyLock::new(|| AtomicUsize::new(0));

#[test]
fn primitives_in_statics_go_through_lazy_lock() {
    expect_sound(model("primitives in statics"), || {
        // On real threads a static outlives the run; under the model checkers each
        // execution starts from a fresh value.
        let before = (REGISTERED.lock().len(), HITS.load(Ordering::SeqCst));
        let other = thread::spawn(|| {
            REGISTERED.lock().push(thread::current_id());
            HITS.fetch_add(1, Ordering::SeqCst);
        });
        REGISTERED.lock().push(thread::current_id());
        HITS.fetch_add(1, Ordering::SeqCst);
        other.join().unwrap();
        assert_eq!((REGISTERED.lock().len(), HITS.load(Ordering::SeqCst)), (before.0 + 2, before.1 + 2));
        if MODEL_CHECKER {
            assert_eq!(before, (0, 0), "a model execution saw the previous one's static");
        }
    });
}

#[test]
fn threads_have_names_and_distinct_ids() {
    expect_sound(model("thread names and ids"), || {
        let worker = thread::Builder::new()
            .name("worker".to_owned())
            .spawn(|| (thread::current().name().map(str::to_owned), thread::current_id()))
            .unwrap();
        assert_eq!(worker.thread().name(), Some("worker"));
        let id = worker.thread().id();
        let (name, reported) = worker.join().unwrap();
        assert_eq!(name.as_deref(), Some("worker"));
        assert_eq!(id, reported, "JoinHandle::thread is the spawned thread");
        assert_ne!(id, thread::current_id(), "each model thread has its own id");
    });
}

#[test]
// loom's `thread_local!` rejects `const { .. }` initializers.
#[allow(clippy::missing_const_for_thread_local)]
fn thread_locals_are_per_model_thread() {
    thread::thread_local! {
        static MINE: std::cell::Cell<usize> = std::cell::Cell::new(0);
    }
    expect_sound(model("thread_local"), || {
        let set_then_read = |value: usize| {
            MINE.with(|mine| mine.set(value));
            thread::yield_now();
            MINE.with(std::cell::Cell::get)
        };
        let other = thread::spawn(move || set_then_read(2));
        assert_eq!(set_then_read(1), 1, "another thread's value leaked into this one");
        assert_eq!(other.join().unwrap(), 2);
    });
}

#[test]
#[cfg_attr(racekit_loom, ignore = "loom threads must be 'static: thread::scope is not available under loom")]
fn scoped_threads_borrow_and_are_joined() {
    #[cfg(not(racekit_loom))]
    expect_sound(model("thread::scope"), || {
        let total = Mutex::new(0u32);
        let started = AtomicUsize::new(0);
        thread::scope(|s| {
            let handles: Vec<_> = (1..=2)
                .map(|n| {
                    let (total, started) = (&total, &started);
                    s.spawn(move || {
                        started.fetch_add(1, Ordering::SeqCst);
                        *total.lock() += n;
                    })
                })
                .collect();
            handles.into_iter().next().unwrap().join().unwrap();
        });
        assert_eq!(started.into_inner(), 2, "the scope joined the thread nobody joined");
        assert_eq!(total.into_inner(), 3);
    });
}

#[test]
#[cfg_attr(racekit_loom, ignore = "loom cannot run tokio's tasks; async code is checked under shuttle")]
fn an_async_spin_on_yield_now_lets_the_other_task_run() {
    expect_sound(model("async yield_now"), || {
        racekit::sync::task::block_on(async {
            let flag = Arc::new(AtomicBool::new(false));
            let setter = {
                let flag = flag.clone();
                racekit::sync::task::spawn(async move { flag.store(true, Ordering::SeqCst) })
            };
            while !flag.load(Ordering::SeqCst) {
                racekit::sync::future::yield_now().await;
            }
            setter.await.unwrap();
        });
    });
}

#[test]
#[cfg_attr(racekit_loom, ignore = "under loom a guard dropped while its thread unwinds is leaked (see racekit::sync)")]
fn a_panic_under_a_lock_does_not_poison_it() {
    expect_sound(model("no poisoning"), || {
        let lock = Mutex::new(1);
        let caught = racekit::sync::catch_unwind(|| {
            let _held = lock.lock();
            panic!("a handler failed under the lock");
        });
        assert!(caught.is_err());
        assert!(!lock.is_poisoned());
        assert_eq!(*lock.lock(), 1);
    });
}

#[test]
fn instant_follows_the_time_threads_slept() {
    // Few runs: on real threads each one really sleeps.
    expect_sound(model("Instant and sleep").iterations(50), || {
        let started = Instant::now();
        let sleeper = thread::spawn(|| {
            let before = Instant::now();
            thread::sleep(Duration::from_millis(3));
            before.elapsed()
        });
        thread::sleep(Duration::from_millis(2));
        let slept = sleeper.join().unwrap();
        assert!(slept >= Duration::from_millis(3), "a thread slept 3 ms and saw {slept:?} pass");
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(3), "{elapsed:?} since the start");
        if MODEL_CHECKER {
            // Model time moves only by the sleeps of this execution.
            assert_eq!(elapsed, Duration::from_millis(5));
        }
    });
}
