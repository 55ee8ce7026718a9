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
/// Deadlines saturate: a timeout too long for an [`Instant`] to hold (`Duration::MAX`, the
/// usual way to say "wait forever") is no deadline at all, never an overflow. Every timed
/// API of the crate, blocking or async, computes its deadline here ([`Deadline::after`],
/// [`Deadline::within`], [`Deadline::instant_after`]), so none of them can panic on a long
/// timeout.
///
/// Under the model checkers a deadline is never *reached* by time passing; whether it has
/// passed when a wait ends is the checker's choice (see [`Condvar::wait_timeout`]).
///
/// # Examples
///
/// ```
/// use racekit::sync::Deadline;
/// use std::time::Duration;
///
/// assert!(Deadline::after(Duration::MAX).is_never(), "too far to represent: no deadline");
/// assert_eq!(Deadline::within(Duration::MAX), None);
/// assert!(Deadline::after(Duration::from_secs(60)).remaining() <= Duration::from_secs(60));
/// assert!(Deadline::after(Duration::ZERO) < Deadline::never());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// The deadline `timeout` from now, or [`Deadline::never`] when `now + timeout` is
    /// beyond what an [`Instant`] can hold.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Deadline::instant_after(Instant::now(), timeout))
    }

    /// The deadline `timeout` from now, or `None` when there is none (the sum does not fit
    /// an [`Instant`]): what an API with an untimed variant passes to its wait, so that a
    /// "forever" timeout takes the untimed path.
    pub fn within(timeout: Duration) -> Option<Deadline> {
        Deadline::instant_after(Instant::now(), timeout).map(|instant| Deadline(Some(instant)))
    }

    /// No deadline: [`remaining`](Self::remaining) is always `Duration::MAX`.
    pub const fn never() -> Deadline {
        Deadline(None)
    }

    /// Whether this is [`Deadline::never`].
    pub fn is_never(&self) -> bool {
        self.0.is_none()
    }

    /// `now + timeout`, or `None` when it does not fit an [`Instant`]: the one place a
    /// timeout becomes an instant. Async code passes tokio's clock through it
    /// (`tokio::time::Instant::into_std` and `from_std`), so paused time still applies.
    pub fn instant_after(now: Instant, timeout: Duration) -> Option<Instant> {
        now.checked_add(timeout)
    }

    /// The instant on tokio's clock `timeout` from now, or `None` when there is none: what
    /// async timed waits pass to `tokio::time::timeout_at`.
    pub fn tokio_after(timeout: Duration) -> Option<tokio::time::Instant> {
        Deadline::instant_after(tokio::time::Instant::now().into_std(), timeout).map(tokio::time::Instant::from_std)
    }

    /// Time left until the deadline (zero once it has passed, `Duration::MAX` for
    /// [`Deadline::never`]).
    pub fn remaining(&self) -> Duration {
        match self.0 {
            Some(instant) => instant.saturating_duration_since(Instant::now()),
            None => Duration::MAX,
        }
    }
}

impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Deadline) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Earlier deadlines first; [`Deadline::never`] after every other.
impl Ord for Deadline {
    fn cmp(&self, other: &Deadline) -> std::cmp::Ordering {
        match (self.0, other.0) {
            (Some(mine), Some(theirs)) => mine.cmp(&theirs),
            (mine, theirs) => theirs.is_some().cmp(&mine.is_some()),
        }
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
    /// Shared with the timers of timed waits under the model checkers, which notify it when
    /// time advances (see [`Condvar::wait_timeout`]).
    #[cfg(any(racekit_loom, racekit_shuttle))]
    inner: std::sync::Arc<backend::Condvar>,
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    inner: backend::Condvar,
}

impl Condvar {
    /// A new condition variable.
    pub fn new() -> Self {
        Condvar { inner: Default::default() }
    }

    /// Releases the lock, blocks until notified (or woken spuriously), and re-acquires it.
    ///
    /// Spurious wake-ups are not only allowed, as in `std`, but produced: inside a check,
    /// shuttle returns from one wait in four without a notification (a recorded choice, so
    /// it replays) and real threads one in sixteen, so code that waits under `if` instead
    /// of `while` fails. loom does not produce them (a choice costs it a model thread).
    #[track_caller]
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        crate::model::trace::record("wait", None, Location::caller());
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
    /// On real threads this is `std`'s timed wait. Under the model checkers the wait has the
    /// outcomes `std` allows, and the checker explores them:
    ///
    /// - **notified**: `false`;
    /// - **timed out with no notification**, either at once (while other threads still run:
    ///   the lock is released, others may run, it is re-acquired) or when **time advances**:
    ///   once every other thread is blocked or finished, a pending timed wait times out
    ///   instead of the run being reported as a deadlock (so a deadlock is reported only
    ///   when no thread has a timeout pending);
    /// - **notified, and the timeout reported anyway**: the wait consumed a `notify_one`
    ///   that then wakes no other waiter, and returns `true`, as `std` may when the
    ///   notification and the timeout race. Code that gives up on a timeout without
    ///   re-checking its condition loses that wake-up, and the checker finds it.
    ///
    /// Under loom the timer costs one of the execution's
    /// [`LOOM_CHOICES_PER_EXECUTION`](crate::model::LOOM_CHOICES_PER_EXECUTION) model threads;
    /// once they are spent the wait only ends on a notification.
    #[track_caller]
    pub fn wait_timeout<'a, T>(&self, guard: MutexGuard<'a, T>, timeout: Duration) -> (MutexGuard<'a, T>, bool) {
        #[cfg(any(racekit_loom, racekit_shuttle))]
        {
            let inner = self.inner.clone();
            let alarm = Alarm::arm(timeout, move || inner.notify_all());
            if alarm.times_out_at_once() {
                alarm.disarm();
                return (self.wake_spuriously(guard), true);
            }
            alarm.blocking();
            let guard = self.wait(guard);
            let timed_out = alarm.disarm() || alarm.consumed_then_timed_out();
            (guard, timed_out)
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
    #[track_caller]
    pub fn notify_one(&self) {
        crate::model::trace::record("notify_one", None, Location::caller());
        perturb::point();
        self.inner.notify_one();
    }

    /// Wakes every waiting thread.
    #[track_caller]
    pub fn notify_all(&self) {
        crate::model::trace::record("notify_all", None, Location::caller());
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

#[cfg(any(racekit_loom, racekit_shuttle))]
pub(super) use model_time::Alarm;

/// Time under the model checkers: a timed wait's timeout is a timer task that runs only
/// once nothing else can.
///
/// # Invariants
///
/// - A timer fires only while its wait is pending (`done` unset): it sets `fired`, then
///   wakes the waiter (notifies its condition variable, or unparks it).
/// - Under shuttle it runs only when no other task can, because racekit's scheduler hides
///   timer tasks while any other task can run (see `TimeAdvancing` in the shuttle runner),
///   so it fires once, exactly where the run would otherwise deadlock.
/// - Under loom a thread that yielded runs again when no other thread can, but also as one
///   of the branches loom explores once another thread has run since; and loom switches
///   threads between a waiter's decision to wait and its registration with the condition
///   variable. So the timer fires only once the waiter is about to block (`waiting`), and
///   a second time if the wait is still pending (the first wake-up fell in that gap); a
///   wait still pending after that is blocked elsewhere, and the run is the deadlock it is.
/// - `fired` and `done` are plain std atomics: harness state the checkers must not schedule
///   around. Both checkers run one model thread at a time, so they need no ordering.
#[cfg(any(racekit_loom, racekit_shuttle))]
mod model_time {
    use super::backend;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// What a wait and its timer share.
    #[derive(Debug, Default)]
    struct Shared {
        fired: AtomicBool,
        done: AtomicBool,
        /// The waiter is about to block (loom; see the invariants).
        #[cfg(racekit_loom)]
        waiting: AtomicBool,
    }

    impl Shared {
        /// Fires if the wait is still pending (see the invariants).
        fn fire(&self, wake: &impl Fn()) -> bool {
            if self.done.load(Ordering::Relaxed) {
                return false;
            }
            self.fired.store(true, Ordering::Relaxed);
            wake();
            true
        }
    }

    /// How often a loom timer fires into a pending wait (see the invariants).
    #[cfg(racekit_loom)]
    const LOOM_FIRINGS: usize = 2;

    /// loom's two choices of a timed wait, made by the timer thread's stores: a relaxed
    /// load of a store by an unsynchronized thread may read either value, and loom explores
    /// both (as [`choose`](crate::model::choose) does, without a thread of their own).
    #[cfg(racekit_loom)]
    #[derive(Debug)]
    struct LoomChoices {
        at_once: loom::sync::atomic::AtomicBool,
        after_notification: loom::sync::atomic::AtomicBool,
    }

    /// The timeout of one pending timed wait.
    #[derive(Debug)]
    pub(crate) struct Alarm {
        shared: Arc<Shared>,
        #[cfg(racekit_loom)]
        choices: Option<Arc<LoomChoices>>,
    }

    impl Alarm {
        /// Arms a timer that calls `wake` when time advances past `timeout` (only when
        /// nothing else can run) unless the wait ended first.
        pub(crate) fn arm(timeout: Duration, wake: impl Fn() + Send + 'static) -> Alarm {
            let shared = Arc::new(Shared::default());
            let timer = shared.clone();
            #[cfg(racekit_loom)]
            {
                let _ = timeout;
                let context = crate::model::context::current();
                if !context.is_some_and(|context| context.take_loom_choice()) {
                    return Alarm { shared, choices: None };
                }
                use loom::sync::atomic::AtomicBool;
                let choices = Arc::new(LoomChoices {
                    at_once: AtomicBool::new(false),
                    after_notification: AtomicBool::new(false),
                });
                let made = choices.clone();
                let _detached = backend::thread::spawn(move || {
                    made.at_once.store(true, Ordering::Relaxed);
                    made.after_notification.store(true, Ordering::Relaxed);
                    let mut firings = 0;
                    while firings < LOOM_FIRINGS && !timer.done.load(Ordering::Relaxed) {
                        backend::thread::yield_now();
                        if timer.waiting.load(Ordering::Relaxed) && timer.fire(&wake) {
                            firings += 1;
                        }
                    }
                });
                Alarm { shared, choices: Some(choices) }
            }
            #[cfg(racekit_shuttle)]
            {
                let Some(context) = crate::model::context::current() else {
                    return Alarm { shared };
                };
                let deadline = std::time::Instant::now().checked_add(timeout);
                let timers = context.clone();
                let handle = backend::thread::Builder::new()
                    .name("racekit timer".to_owned())
                    .spawn(move || {
                        let me = usize::from(backend::thread::current().id());
                        loop {
                            backend::thread::yield_now();
                            if timer.done.load(Ordering::Relaxed) {
                                break;
                            }
                            let mut pending = timers.timers();
                            if pending.woken_alone == Some(me) {
                                pending.woken_alone = None;
                                drop(pending);
                                timer.fire(&wake);
                                break;
                            }
                        }
                        timers.timers().pending.retain(|(id, _)| *id != me);
                    })
                    .expect("shuttle refused to spawn a timer task");
                context.timers().pending.push((usize::from(handle.thread().id()), deadline));
                Alarm { shared }
            }
        }

        /// The waiter is about to block: from here the timer may wake it.
        pub(crate) fn blocking(&self) {
            #[cfg(racekit_loom)]
            self.shared.waiting.store(true, Ordering::Relaxed);
        }

        /// Whether the wait times out at once, before any notification (a choice).
        pub(crate) fn times_out_at_once(&self) -> bool {
            #[cfg(racekit_loom)]
            return self.choices.as_ref().is_some_and(|choices| choices.at_once.load(Ordering::Relaxed));
            #[cfg(racekit_shuttle)]
            return crate::model::choose();
        }

        /// After a wake-up that time did not cause: whether the timeout is reported anyway
        /// (the notification consumed; a choice).
        pub(crate) fn consumed_then_timed_out(&self) -> bool {
            #[cfg(racekit_loom)]
            return self.choices.as_ref().is_some_and(|choices| choices.after_notification.load(Ordering::Relaxed));
            #[cfg(racekit_shuttle)]
            return crate::model::choose();
        }

        /// Ends the wait; returns whether time advanced past it (the timer fired).
        pub(crate) fn disarm(&self) -> bool {
            self.shared.done.store(true, Ordering::Relaxed);
            self.shared.fired.load(Ordering::Relaxed)
        }
    }
}
