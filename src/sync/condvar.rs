//! Condition variable over the selected backend, taking the facade's [`MutexGuard`].

use super::backend;
use super::lock::MutexGuard;
use super::perturb;
use std::panic::Location;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// The moment a blocking wait gives up: the facade's one use of real time, so that the
/// patterns built on it never read the clock themselves.
///
/// Under the model checkers a deadline is never *reached* by time passing; whether it has
/// passed when a wait ends is the checker's choice (see [`Condvar::wait_timeout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now() + timeout)
    }

    /// Time left until the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

/// A condition variable over the selected backend.
///
/// # Examples
///
/// ```
/// use racekit::sync::{thread, Arc, Condvar, Mutex};
///
/// let state = Arc::new((Mutex::new(false), Condvar::new()));
/// let setter = {
///     let state = state.clone();
///     thread::spawn(move || {
///         *state.0.lock() = true;
///         state.1.notify_all();
///     })
/// };
/// let ready = state.1.wait_while(state.0.lock(), |ready| !*ready);
/// assert!(*ready);
/// drop(ready);
/// setter.join().unwrap();
/// ```
#[derive(Debug, Default)]
pub struct Condvar {
    inner: backend::Condvar,
}

impl Condvar {
    /// A new condition variable.
    pub fn new() -> Self {
        Condvar { inner: backend::Condvar::new() }
    }

    /// Releases the lock, blocks until notified (or woken spuriously), and re-acquires it.
    ///
    /// Spurious wake-ups are not only allowed, as in `std`, but produced: inside a check,
    /// shuttle returns from one wait in four without a notification (a recorded choice, so
    /// it replays) and real threads one in sixteen, so code that waits under `if` instead
    /// of `while` fails. loom does not produce them (a choice costs it a model thread).
    #[track_caller]
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        perturb::point();
        if spurious_wakeup() {
            return self.wake_spuriously(guard);
        }
        let (inner, lock) = guard.into_wait();
        let inner = self.inner.wait(inner).unwrap_or_else(PoisonError::into_inner);
        MutexGuard::after_wait(inner, lock, Location::caller())
    }

    /// Releases the lock, lets other threads run, and re-acquires it: a wait that no
    /// notification ended.
    #[track_caller]
    fn wake_spuriously<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        #[cfg(any(racekit_loom, racekit_shuttle))]
        {
            let lock = guard.mutex();
            drop(guard);
            super::thread::yield_now();
            lock.lock()
        }
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        {
            let (inner, lock) = guard.into_wait();
            let (inner, _) = self.inner.wait_timeout(inner, Duration::ZERO).unwrap_or_else(PoisonError::into_inner);
            MutexGuard::after_wait(inner, lock, Location::caller())
        }
    }

    /// Waits until `blocked` returns `false`, re-checking after every wake-up.
    #[track_caller]
    pub fn wait_while<'a, T, F>(&self, mut guard: MutexGuard<'a, T>, mut blocked: F) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while blocked(&mut guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Waits for a notification or until `timeout` elapses; returns the guard and whether
    /// the timeout fired.
    ///
    /// On real threads this is `std`'s timed wait. Neither model checker models time, so
    /// there the timeout firing is a choice the checker explores: either the wait times
    /// out (the lock is released, other threads may run, the lock is re-acquired, and
    /// `true` is returned) or it waits for a notification exactly like [`wait`](Self::wait).
    /// In the second branch nothing will ever fire the timeout, so a model in which no
    /// thread would notify reports a deadlock: code that only makes progress through its
    /// timeouts is polling, and the checker says so. Under loom the choice costs one model
    /// thread (of loom's five).
    #[track_caller]
    pub fn wait_timeout<'a, T>(&self, guard: MutexGuard<'a, T>, timeout: Duration) -> (MutexGuard<'a, T>, bool) {
        #[cfg(any(racekit_loom, racekit_shuttle))]
        {
            let _ = timeout;
            if crate::model::choose() {
                (self.wake_spuriously(guard), true)
            } else {
                (self.wait(guard), false)
            }
        }
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        {
            perturb::point();
            let (inner, lock) = guard.into_wait();
            let (inner, result) = self.inner.wait_timeout(inner, timeout).unwrap_or_else(PoisonError::into_inner);
            (MutexGuard::after_wait(inner, lock, Location::caller()), result.timed_out())
        }
    }

    /// Waits for a notification or until `deadline`; returns the guard and whether the
    /// deadline passed. See [`wait_timeout`](Self::wait_timeout) for the model checkers.
    #[track_caller]
    pub fn wait_until<'a, T>(&self, guard: MutexGuard<'a, T>, deadline: Deadline) -> (MutexGuard<'a, T>, bool) {
        self.wait_timeout(guard, deadline.remaining())
    }

    /// [`wait`](Self::wait) without a deadline, [`wait_until`](Self::wait_until) with one;
    /// returns the guard and whether the deadline passed.
    #[track_caller]
    pub(crate) fn wait_until_some<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Deadline>,
    ) -> (MutexGuard<'a, T>, bool) {
        match deadline {
            None => (self.wait(guard), false),
            Some(deadline) => self.wait_until(guard, deadline),
        }
    }

    /// Waits until `blocked` returns `false` or `timeout` elapses, re-checking after every
    /// wake-up; returns the guard and whether it gave up with `blocked` still true (as
    /// `std`'s `wait_timeout_while(..).1.timed_out()`). Timeouts follow
    /// [`wait_timeout`](Self::wait_timeout) on every backend.
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::sync::{Condvar, Mutex};
    /// use std::time::Duration;
    ///
    /// let (ready, changed) = (Mutex::new(true), Condvar::new());
    /// let (guard, timed_out) = changed.wait_timeout_while(ready.lock(), Duration::from_millis(1), |ready| !*ready);
    /// assert!(*guard && !timed_out, "the condition already held: no wait");
    /// ```
    #[track_caller]
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut blocked: F,
    ) -> (MutexGuard<'a, T>, bool)
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = Deadline::after(timeout);
        while blocked(&mut guard) {
            let (next, timed_out) = self.wait_until(guard, deadline);
            guard = next;
            if timed_out {
                let still_blocked = blocked(&mut guard);
                return (guard, still_blocked);
            }
        }
        (guard, false)
    }

    /// Wakes one waiting thread.
    pub fn notify_one(&self) {
        perturb::point();
        self.inner.notify_one();
    }

    /// Wakes every waiting thread.
    pub fn notify_all(&self) {
        perturb::point();
        self.inner.notify_all();
    }
}

/// Whether the wait about to start returns without a notification (see [`Condvar::wait`]).
fn spurious_wakeup() -> bool {
    #[cfg(racekit_shuttle)]
    {
        use shuttle::rand::RngCore;
        crate::model::context::current().is_some() && shuttle::rand::thread_rng().next_u32() % 4 == 0
    }
    #[cfg(racekit_loom)]
    {
        false
    }
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    {
        perturb::spurious_wakeup()
    }
}
