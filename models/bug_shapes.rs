//! The shapes real concurrency bugs take, each written the way a user would model it with
//! the facade and `check`, and each caught by the backends that can see it.
//!
//! These are the common classes of blocking and non-blocking bugs reported in Rust
//! projects: a lock re-taken while a temporary guard is still alive, an atomicity
//! violation between two atomic operations, an order violation through a `Relaxed` flag, a
//! wake-up lost between a check and a wait, a "last owner" decided from a reference count,
//! an async notification sent before anyone listens, and a flag checked outside the lock
//! that protects it. Each test also runs the fixed version, which must pass.

use crate::support::{expect_caught, expect_sound};
use racekit::model::{FailureKind, Model};
use racekit::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use racekit::sync::{thread, Arc, Condvar, Mutex};

/// The budget every shape runs at: the CI defaults' scale, small enough for `cargo test`.
fn model(name: &str) -> Model {
    Model::named(name).preemption_bound(2).iterations(1_000)
}

/// The fixed version of a shape (`shape(false)`) passes every schedule.
fn fixed_passes(name: &str, shape: fn(bool)) {
    expect_sound(model(&format!("{name}, fixed")), move || shape(false));
}

/// The buggy version of a shape (`shape(true)`) fails with `kind`, saying `fragment`.
fn bug_is_caught(name: &str, shape: fn(bool), kind: FailureKind, fragment: &str) {
    let failure = expect_caught(model(&format!("{name}, bug")), move || shape(true));
    assert_eq!(failure.kind, kind, "{failure}");
    assert!(failure.message.contains(fragment), "wanted {fragment:?}: {failure}");
}

/// A shape's two tests: `$fixed`, the fixed version passes on every backend; `$caught`, the
/// buggy one fails with `$kind` saying `$fragment` (under the model checkers; real threads
/// hit the window only by chance, so `cargo test` ignores it there and the job runs it).
macro_rules! shape_tests {
    ($fixed:ident, $caught:ident, $name:literal, $shape:ident, $kind:ident $fragment:literal) => {
        #[test]
        fn $fixed() {
            fixed_passes($name, $shape);
        }

        #[test]
        #[cfg_attr(
            not(any(racekit_loom, racekit_shuttle)),
            ignore = "real threads hit the bug's window only by chance; the model-checking job counts how often"
        )]
        fn $caught() {
            bug_is_caught($name, $shape, FailureKind::$kind, $fragment);
        }
    };
}

struct Account {
    state: Mutex<(u32, bool)>,
}

impl Account {
    /// Rust's own double lock: the guard of `self.state.lock()` in the `match` scrutinee
    /// lives until the end of the `match`, so the arm's second `lock()` waits for itself.
    /// (The `match` is the bug's shape as reported, hence the lint exception.)
    #[allow(clippy::single_match)]
    fn close_if_empty(&self, bug: bool) {
        if bug {
            match self.state.lock().0 {
                0 => self.state.lock().1 = true,
                _ => {}
            }
        } else {
            let balance = self.state.lock().0;
            if balance == 0 {
                self.state.lock().1 = true;
            }
        }
    }
}

/// Two threads close the same empty account.
fn close_twice(bug: bool) {
    let account = Arc::new(Account { state: Mutex::new((0, false)) });
    let other = {
        let account = account.clone();
        thread::spawn(move || account.close_if_empty(bug))
    };
    account.close_if_empty(bug);
    other.join().unwrap();
    assert!(account.state.lock().1);
}

#[test]
fn a_lock_retaken_while_the_scrutinee_guard_lives_fixed() {
    fixed_passes("scrutinee guard", close_twice);
}

#[test]
fn a_lock_retaken_while_the_scrutinee_guard_lives() {
    // Reported on every backend, real threads included, before the thread blocks.
    bug_is_caught("scrutinee guard", close_twice, FailureKind::Deadlock, "already holds it");
}

/// A bounded counter of permits: check, then take, as two atomic operations.
fn take_permit(permits: &AtomicUsize, limit: usize, bug: bool) -> bool {
    if bug {
        if permits.load(Ordering::SeqCst) < limit {
            permits.fetch_add(1, Ordering::SeqCst);
            return true;
        }
        false
    } else {
        permits.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < limit).then_some(n + 1)).is_ok()
    }
}

/// Two threads take a permit with a limit of one.
fn two_permit_takers(bug: bool) {
    let permits = Arc::new(AtomicUsize::new(0));
    let other = {
        let permits = permits.clone();
        thread::spawn(move || take_permit(&permits, 1, bug))
    };
    let mine = take_permit(&permits, 1, bug);
    let theirs = other.join().unwrap();
    assert!(!(mine && theirs), "two permits granted with a limit of one");
    assert!(permits.load(Ordering::SeqCst) <= 1);
}

shape_tests! {
    an_atomicity_violation_between_a_check_and_an_update_fixed,
    an_atomicity_violation_between_a_check_and_an_update,
    "check then increment",
    two_permit_takers,
    Panic "two permits granted"
}

/// The waiter checks the flag without the lock, then waits: the notification can land
/// between the two and nobody notifies again.
fn check_then_wait(bug: bool) {
    let state = Arc::new((Mutex::new(()), Condvar::new(), AtomicBool::new(false)));
    let setter = {
        let state = state.clone();
        thread::spawn(move || {
            if bug {
                state.2.store(true, Ordering::SeqCst);
            } else {
                let _guard = state.0.lock();
                state.2.store(true, Ordering::SeqCst);
            }
            state.1.notify_all();
        })
    };
    if bug {
        if !state.2.load(Ordering::SeqCst) {
            let guard = state.0.lock();
            drop(state.1.wait(guard));
        }
    } else {
        let mut guard = state.0.lock();
        while !state.2.load(Ordering::SeqCst) {
            guard = state.1.wait(guard);
        }
    }
    setter.join().unwrap();
}

shape_tests! {
    a_lost_wakeup_between_the_check_and_the_wait_fixed,
    a_lost_wakeup_between_the_check_and_the_wait,
    "check outside the lock, then wait",
    check_then_wait,
    Deadlock "deadlock"
}

/// A shared resource whose cleanup must run exactly once, after its last owner is gone.
struct Resource {
    cleanups: Arc<AtomicUsize>,
    /// The fix: cleaning up in `Drop`, which runs once, for the last reference.
    clean_up_on_drop: bool,
}

impl Drop for Resource {
    fn drop(&mut self) {
        if self.clean_up_on_drop {
            self.cleanups.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Each owner drops its handle and cleans up if it was the last: deciding "last" from
/// `strong_count` before dropping lets both see 2, and nobody cleans up.
fn two_owners_release(bug: bool) {
    let cleanups = Arc::new(AtomicUsize::new(0));
    let resource = Arc::new(Resource { cleanups: cleanups.clone(), clean_up_on_drop: !bug });
    let release = move |resource: Arc<Resource>| {
        if bug {
            let last = Arc::strong_count(&resource) == 1;
            let cleanups = resource.cleanups.clone();
            drop(resource);
            if last {
                cleanups.fetch_add(1, Ordering::SeqCst);
            }
        } else {
            drop(resource);
        }
    };
    let other = {
        let resource = resource.clone();
        thread::spawn(move || release(resource))
    };
    release(resource);
    other.join().unwrap();
    let done = cleanups.load(Ordering::SeqCst);
    assert_eq!(done, 1, "the resource was cleaned up {done} times");
}

shape_tests! {
    a_last_owner_decided_from_the_reference_count_fixed,
    a_last_owner_decided_from_the_reference_count,
    "last owner by strong_count",
    two_owners_release,
    Panic "cleaned up 0 times"
}

/// A one-shot initializer: the fast path reads `ready` without the lock and then the
/// value, but `ready` is set before the value is written.
fn ready_before_the_value(bug: bool) {
    let cell = Arc::new((Mutex::new(None::<u32>), AtomicBool::new(false)));
    let init = {
        let cell = cell.clone();
        thread::spawn(move || {
            if bug {
                cell.1.store(true, Ordering::SeqCst);
                *cell.0.lock() = Some(7);
            } else {
                *cell.0.lock() = Some(7);
                cell.1.store(true, Ordering::SeqCst);
            }
        })
    };
    if cell.1.load(Ordering::SeqCst) {
        assert_eq!(*cell.0.lock(), Some(7), "ready, but the value is missing");
    }
    init.join().unwrap();
}

shape_tests! {
    a_flag_read_outside_the_lock_that_guards_its_data_fixed,
    a_flag_read_outside_the_lock_that_guards_its_data,
    "ready before the value",
    ready_before_the_value,
    Panic "the value is missing"
}

/// `notify_waiters` wakes only tasks already waiting: a task that checks the flag and then
/// creates its `notified()` future misses a notification sent in between. The fix creates
/// and enables the future before the check.
#[cfg(not(racekit_loom))]
fn notify_before_listening(bug: bool) {
    racekit::sync::task::block_on(async move {
        let state = std::sync::Arc::new((AtomicBool::new(false), racekit::sync::async_sync::Notify::new()));
        let setter = {
            let state = state.clone();
            racekit::sync::task::spawn(async move {
                state.0.store(true, Ordering::SeqCst);
                state.1.notify_waiters();
            })
        };
        if bug {
            if !state.0.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
                state.1.notified().await;
            }
        } else {
            let notified = state.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !state.0.load(Ordering::SeqCst) {
                notified.await;
            }
        }
        setter.await.unwrap();
    })
}

#[cfg(not(racekit_loom))]
#[test]
fn an_async_notification_sent_before_anyone_listens_fixed() {
    fixed_passes("notify_waiters before notified", notify_before_listening);
}

#[cfg(not(racekit_loom))]
#[test]
#[cfg_attr(not(racekit_shuttle), ignore = "a tokio runtime on real threads misses the notification only by chance")]
fn an_async_notification_sent_before_anyone_listens() {
    bug_is_caught("notify_waiters before notified", notify_before_listening, FailureKind::Deadlock, "deadlock");
}
