//! The blocking retry loop.
//!
//! # Invariants
//!
//! The loop is owned by one thread; the only shared state is the [`Closer`], whose latch is
//! never held while an attempt runs.

use super::schedule::{Machine, Step};
use super::{Closer, Failed, InvalidOptions, Judge, Options, RetryError, StopReason};
use crate::time::{Clock, ManualClock, Rng, SystemClock};
use std::ops::ControlFlow;
use std::time::Duration;

/// A [`Clock`] that can sleep while watching a [`Closer`]: how the blocking loop waits.
pub trait SleepUnlessClosed: Clock {
    /// Sleeps for `delay` or until `closer` is closed, whichever comes first; returns
    /// whether it is closed. Must not poll: a close has to end the sleep promptly.
    fn sleep_unless_closed(&self, delay: Duration, closer: &Closer) -> bool;
}

impl SleepUnlessClosed for SystemClock {
    /// A timed wait on the closer's latch: a close wakes it at once. Under the model
    /// checkers the timeout firing is a choice they explore.
    fn sleep_unless_closed(&self, delay: Duration, closer: &Closer) -> bool {
        mutation_point!("retry.sleep.deaf_to_the_closer", closer.wait_timeout(delay), {
            crate::sync::thread::sleep(delay);
            closer.is_closed()
        })
    }
}

impl SleepUnlessClosed for ManualClock {
    /// Advances the clock by `delay` at once (a scheduling point under the model checkers,
    /// where a close may land "during" the sleep), then reports whether it is closed.
    fn sleep_unless_closed(&self, delay: Duration, closer: &Closer) -> bool {
        if closer.is_closed() {
            return true;
        }
        self.sleep(delay);
        closer.is_closed()
    }
}

/// A blocking retry loop (the seed's `for r := retry.Start(opts); r.Next(); { ... }`), as an
/// iterator of attempt numbers.
///
/// `next` yields attempt 1 at once and each later attempt after sleeping the schedule's
/// delay through the clock; it returns `None` when a budget runs out or the closer is
/// closed (also during the sleep, which the close ends at once), and
/// [`stop_reason`](Retry::stop_reason) says which. [`run`](Retry::run) and
/// [`run_retryable`](Retry::run_retryable) wrap the loop.
///
/// # Examples
///
/// ```
/// use racekit::retry::{Failed, Options, RetryError};
/// use racekit::time::{ManualClock, SeededRng};
///
/// // The seed's DoWithRetryable: the attempt says whether its error is worth retrying.
/// let retry = Options::new().with_max_attempts(5)?.start(ManualClock::new(), SeededRng::new(3))?;
/// let result: Result<(), _> = retry.run_retryable(|attempt| {
///     if attempt < 3 { Err(Failed::transient("busy")) } else { Err(Failed::permanent("denied")) }
/// });
/// assert_eq!(result, Err(RetryError::Permanent { error: "denied", attempts: 3 }));
/// # Ok::<(), racekit::retry::InvalidOptions>(())
/// ```
#[derive(Debug)]
pub struct Retry<C, R> {
    clock: C,
    machine: Machine<R>,
}

impl<C: SleepUnlessClosed, R: Rng> Retry<C, R> {
    /// A loop starting now, by `clock`.
    ///
    /// # Errors
    ///
    /// [`InvalidOptions`] when the options do not validate.
    pub fn new(options: &Options, clock: C, rng: R) -> Result<Self, InvalidOptions> {
        let start = clock.now();
        Ok(Retry { machine: Machine::new(options, rng, start)?, clock })
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.machine.attempts()
    }

    /// Why the loop stopped, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.machine.stop_reason()
    }

    /// The clock the loop sleeps on.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Runs `attempt` (given the 1-based attempt number) until it succeeds, fails with a
    /// permanent error, or the loop stops; every failure is classified by the attempt.
    ///
    /// # Errors
    ///
    /// [`RetryError`]: the permanent error, the last error once a budget ran out, or a
    /// cancellation by the closer.
    pub fn run_retryable<T, E>(
        mut self,
        mut attempt: impl FnMut(u32) -> Result<T, Failed<E>>,
    ) -> Result<T, RetryError<E>> {
        let mut judge = Judge::new();
        for n in self.by_ref() {
            if let ControlFlow::Break(result) = judge.judge(attempt(n), n) {
                return result;
            }
        }
        Err(judge.give_up(self.stop_reason(), self.attempts()))
    }

    /// Runs `attempt` until it succeeds or the loop stops, retrying every error (with
    /// [`Options::with_max_attempts`], the seed's `WithMaxAttempts`).
    ///
    /// # Errors
    ///
    /// [`RetryError::Exhausted`] with the last error, or [`RetryError::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::retry::{Options, RetryError, StopReason};
    /// use racekit::time::{ManualClock, SeededRng};
    ///
    /// let retry = Options::new().with_max_attempts(3)?.start(ManualClock::new(), SeededRng::new(1))?;
    /// let result: Result<(), _> = retry.run(|attempt| Err(format!("attempt {attempt} failed")));
    /// assert_eq!(
    ///     result,
    ///     Err(RetryError::Exhausted {
    ///         error: "attempt 3 failed".to_string(),
    ///         attempts: 3,
    ///         reason: StopReason::RetriesExhausted,
    ///     })
    /// );
    /// # Ok::<(), racekit::retry::InvalidOptions>(())
    /// ```
    pub fn run<T, E>(self, mut attempt: impl FnMut(u32) -> Result<T, E>) -> Result<T, RetryError<E>> {
        self.run_retryable(|n| attempt(n).map_err(Failed::transient))
    }
}

impl<C: SleepUnlessClosed, R: Rng> Iterator for Retry<C, R> {
    type Item = u32;

    /// Waits until the next attempt may start and returns its number (from 1), or `None`
    /// when the loop must stop ([`stop_reason`](Retry::stop_reason) says why).
    fn next(&mut self) -> Option<u32> {
        loop {
            match self.machine.step(self.clock.now()) {
                Step::Attempt => return Some(self.machine.attempts()),
                Step::Stop(_) => return None,
                Step::Wait(delay) => {
                    match self.machine.closer() {
                        Some(closer) => {
                            self.clock.sleep_unless_closed(delay, closer);
                        }
                        None => self.clock.sleep(delay),
                    }
                    // The wait is over, run out or ended by a close: the next step looks at
                    // the closer before anything else.
                    self.machine.slept();
                }
            }
        }
    }
}
