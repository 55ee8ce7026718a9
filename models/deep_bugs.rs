//! Deep bugs: one model per class of bug that the CI budgets do not reach by chance, each
//! with its fix.
//!
//! | class | who can see it | what it takes |
//! |---|---|---|
//! | a thread that must stay off the CPU while another yields several times | shuttle random | many schedules (PCT lowers a yielding thread's priority; loom switches at every yield) |
//! | a window open only every Nth operation | loom, shuttle | loom bound 1; shuttle many schedules |
//! | a weak-memory reordering | loom only | loom bound 0 (shuttle and real threads run every atomic `SeqCst`-strong) |
//! | a timed wait that gives up without re-checking | loom, shuttle | the "notified, then timed out" outcome of a timed wait |
//! | a pure timeout: a park that only its timeout ends | loom, shuttle | time advancing when nothing else can happen |
//!
//! The fixes pass at CI budget; a bug variant that needs more than CI's budget is ignored
//! by `cargo test` and run by the model-checking job at its deep budget (the job's
//! `--budget`, `RACEKIT_TIME_BUDGET`, makes the checkers escalate). Each such model asks for
//! a deep budget of its own too, so `--include-ignored` finds it without the job.
//!
//! The last models hold the patterns' own re-checks after a timeout to account: a waiter
//! whose timeout fires just as a notification reaches it must not lose that wake-up.

use crate::support::{expect_caught, expect_sound};
use racekit::model::{FailureKind, Model};
use racekit::queue::BoundedQueue;
use racekit::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use racekit::sync::{thread, Arc, Condvar, Deadline, Mutex};
use std::time::Duration;

/// The schedules a deep-budget model asks for when the environment sets none.
const DEEP_SCHEDULES: usize = 100_000;

fn deep(name: &str) -> Model {
    Model::named(name).iterations(DEEP_SCHEDULES).preemption_bound(3)
}

// --- a thread that must stay off the CPU while another yields several times ---

/// How many times the supervisor polls for the worker before taking its job over.
const POLLS: usize = 6;

/// A supervisor waits for a worker to start, polling (and yielding) `POLLS` times, then
/// takes the job over. The job runs twice when the worker starts after the supervisor gave
/// up, unless the job is claimed (`claimed`: the fix) rather than assumed.
fn supervisor_takes_over(claimed: bool) {
    let started = Arc::new(AtomicBool::new(false));
    let claim = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicUsize::new(0));
    let run_job = {
        let (claim, runs) = (claim.clone(), runs.clone());
        move || {
            if !claimed || !claim.swap(true, Ordering::SeqCst) {
                runs.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    let worker = {
        let (started, run_job) = (started.clone(), run_job.clone());
        thread::spawn(move || {
            started.store(true, Ordering::SeqCst);
            run_job();
        })
    };
    let mut polls = 0;
    while !started.load(Ordering::SeqCst) && polls < POLLS {
        thread::yield_now();
        polls += 1;
    }
    if !started.load(Ordering::SeqCst) {
        run_job();
    }
    worker.join().unwrap();
    assert!(runs.load(Ordering::SeqCst) >= 1, "the job never ran");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the job ran twice: the worker started after the supervisor gave up");
}

#[test]
fn a_claimed_take_over_runs_the_job_once() {
    expect_sound(Model::named("claimed take-over"), || supervisor_takes_over(true));
}

#[test]
#[cfg_attr(
    not(racekit_shuttle),
    ignore = "shuttle's random scheduler only: loom runs another thread at every yield, real threads by chance"
)]
fn a_take_over_that_needs_the_worker_off_the_cpu_is_caught() {
    let failure = expect_caught(deep("assumed take-over"), || supervisor_takes_over(false));
    assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
    assert!(failure.message.contains("the job ran twice"), "{failure}");
}

// --- a window open only every Nth operation ---

/// Every `BATCH`-th add of a thread flushes its batch into the shared total.
const BATCH: usize = 4;
/// Items each thread adds (two flushes each).
const ADDS: usize = 2 * BATCH;

/// Two threads add `ADDS` items each, counting every add and flushing a local batch into
/// a shared total on every `BATCH`-th one. The flush adds to the total with a load and a
/// store (the bug) or one `fetch_add` (`atomic`: the fix): two flushes that overlap lose
/// a batch, and they overlap only when both threads are at a `BATCH`-th add at once.
fn batched_adds(atomic: bool) {
    let adds = Arc::new(AtomicUsize::new(0));
    let total = Arc::new(AtomicUsize::new(0));
    let adder = {
        let (adds, total) = (adds.clone(), total.clone());
        move || {
            let mut batch = 0;
            for n in 1..=ADDS {
                adds.fetch_add(1, Ordering::SeqCst);
                batch += 1;
                if n % BATCH == 0 {
                    if atomic {
                        total.fetch_add(batch, Ordering::SeqCst);
                    } else {
                        let seen = total.load(Ordering::SeqCst);
                        total.store(seen + batch, Ordering::SeqCst);
                    }
                    batch = 0;
                }
            }
        }
    };
    let other = thread::spawn(adder.clone());
    adder();
    other.join().unwrap();
    assert_eq!(adds.load(Ordering::SeqCst), 2 * ADDS);
    assert_eq!(total.load(Ordering::SeqCst), 2 * ADDS, "a batch flushed while another was flushed was lost");
}

#[test]
fn a_flush_that_swaps_keeps_every_item() {
    expect_sound(Model::named("swapping flush").preemption_bound(2), || batched_adds(true));
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "deep budget: run by the model-checking job")]
fn a_flush_window_open_every_nth_add_is_caught() {
    let failure = expect_caught(deep("read-then-reset flush"), || batched_adds(false));
    assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
    assert!(failure.message.contains("was lost"), "{failure}");
}

// --- a weak-memory reordering ---

/// A message passed through a flag: with `Relaxed` (the bug) the reader may see the flag
/// and not the message; `Release`/`Acquire` (the fix) orders them.
fn message_passing(store: Ordering, load: Ordering) {
    let message = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(AtomicBool::new(false));
    let writer = {
        let (message, ready) = (message.clone(), ready.clone());
        thread::spawn(move || {
            message.store(42, Ordering::Relaxed);
            ready.store(true, store);
        })
    };
    if ready.load(load) {
        assert_eq!(message.load(Ordering::Relaxed), 42, "the flag was seen before the message it publishes");
    }
    writer.join().unwrap();
}

#[test]
fn a_release_acquire_flag_publishes_its_message() {
    expect_sound(Model::named("release/acquire flag"), || message_passing(Ordering::Release, Ordering::Acquire));
}

#[test]
#[cfg_attr(not(racekit_loom), ignore = "only loom models weak memory: shuttle and real threads never reorder")]
fn a_relaxed_flag_is_caught() {
    let failure = expect_caught(Model::named("relaxed flag"), || message_passing(Ordering::Relaxed, Ordering::Relaxed));
    assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
    assert!(failure.message.contains("seen before the message"), "{failure}");
}

// --- a timed wait that gives up without re-checking ---

/// A one-slot mailbox whose timed `take` re-checks the slot after a timeout (`RECHECK`,
/// the fix) or gives up at once (the bug).
#[derive(Default)]
struct Mailbox<const RECHECK: bool> {
    state: Mutex<(Option<u32>, usize)>,
    changed: Condvar,
}

impl<const RECHECK: bool> Mailbox<RECHECK> {
    fn put(&self, item: u32) {
        let mut state = self.state.lock();
        state.0 = Some(item);
        let waiting = state.1 > 0;
        drop(state);
        if waiting {
            self.changed.notify_one();
        }
    }

    fn take(&self, deadline: Option<Deadline>) -> Option<u32> {
        let mut state = self.state.lock();
        loop {
            if let Some(item) = state.0.take() {
                return Some(item);
            }
            state.1 += 1;
            let (mut woken, timed_out) = match deadline {
                Some(deadline) => self.changed.wait_until(state, deadline),
                None => (self.changed.wait(state), false),
            };
            woken.1 -= 1;
            state = woken;
            if timed_out && (!RECHECK || state.0.is_none()) {
                return None;
            }
        }
    }
}

/// Two consumers, one with a timeout, and one item: the item reaches one of them. A timed
/// consumer that consumes the notification and gives up without taking the item leaves
/// the other asleep beside it: a lost wake-up.
fn one_item_two_consumers<const RECHECK: bool>() {
    let mailbox = Arc::new(Mailbox::<RECHECK>::default());
    let timed = {
        let mailbox = mailbox.clone();
        thread::spawn(move || mailbox.take(Some(Deadline::after(Duration::from_millis(1)))))
    };
    let untimed = {
        let mailbox = mailbox.clone();
        thread::spawn(move || mailbox.take(None))
    };
    mailbox.put(1);
    let first = timed.join().unwrap();
    if first.is_some() {
        // The untimed consumer gets a second item, so it returns.
        mailbox.put(2);
    }
    let second = untimed.join().unwrap();
    assert!(first == Some(1) || second == Some(1), "the item was lost");
}

#[test]
fn a_timed_wait_that_re_checks_loses_no_wake_up() {
    expect_sound(Model::named("re-checking mailbox").preemption_bound(2), one_item_two_consumers::<true>);
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads find races by chance; the job runs this")]
fn a_timed_wait_giving_up_on_a_consumed_notification_is_caught() {
    let failure =
        expect_caught(Model::named("mailbox without re-check").preemption_bound(2), one_item_two_consumers::<false>);
    assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
    assert!(failure.message.contains("deadlock"), "the checker's own report: {failure}");
}

// --- a pure timeout ---

/// A sleeper parks with a timeout that nobody will cut short (the fix), or without one
/// (the bug: only an unpark ends it, and none comes).
fn lonely_park(timed: bool) {
    let sleeper = thread::spawn(move || {
        if timed {
            thread::park_timeout(Duration::from_millis(1));
        } else {
            thread::park();
        }
    });
    sleeper.join().unwrap();
}

#[test]
fn a_park_that_only_its_timeout_ends_passes() {
    expect_sound(Model::named("pure timeout").preemption_bound(2), || lonely_park(true));
}

#[test]
#[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "a real park with no unpark hangs; the job runs this")]
fn a_park_no_unpark_ends_is_caught() {
    let failure = expect_caught(Model::named("untimed park, no unpark").preemption_bound(2), || lonely_park(false));
    assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
    assert!(failure.message.contains("deadlock"), "the checker's own report: {failure}");
}

// --- the patterns' re-checks after a timeout ---

/// The queue's re-check: one item, a consumer with a timeout and one without. A timed
/// consumer whose timeout is reported with the notification takes the item instead of
/// leaving it beside a sleeping consumer (remove the re-check in `pop_until` and this fails).
#[test]
fn the_queue_re_checks_after_a_timeout() {
    expect_sound(Model::named("queue: timed and untimed consumers").preemption_bound(2), || {
        let queue = Arc::new(BoundedQueue::new(1).unwrap());
        let timed = {
            let queue = queue.clone();
            thread::spawn(move || queue.pop_timeout(Duration::from_millis(1)).ok())
        };
        let untimed = {
            let queue = queue.clone();
            thread::spawn(move || queue.pop())
        };
        queue.push(1u32).unwrap();
        let first = timed.join().unwrap();
        if first.is_some() {
            queue.close();
        }
        let second = untimed.join().unwrap();
        assert!(first == Some(1) || second == Some(1), "the item was lost");
    });
}

/// Time advances for a timed wait only when nothing else can happen: a wait nobody will
/// notify times out (on real threads after its millisecond) instead of deadlocking.
#[test]
fn a_timed_wait_nobody_notifies_times_out() {
    expect_sound(Model::named("unnotified timed wait"), || {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let waiter = {
            let pair = pair.clone();
            thread::spawn(move || {
                let mut guard = pair.0.lock();
                // Until the timeout: a timed wait may also return spuriously.
                loop {
                    let (next, timed_out) = pair.1.wait_timeout(guard, Duration::from_millis(1));
                    guard = next;
                    if timed_out {
                        break;
                    }
                }
            })
        };
        waiter.join().unwrap();
    });
}
