//! Retry with jittered exponential backoff, with injected clock and random number generator.
//!
//! CockroachDB's `retry.Options`, rebuilt so that every property can be checked without
//! sleeping: the delays come from a [`Schedule`] (an iterator driven by an injected
//! [`Clock`](crate::time::Clock) and [`Rng`](crate::time::Rng)), and the loops around it are
//! thin: [`Retry`] blocks on the clock, [`AsyncRetry`] sleeps on tokio's timer.
//!
//! # Guarantees
//!
//! - **Backoff.** The un-jittered backoff before retry `k` (the `k`-th attempt after the
//!   first, `k >= 1`) is `B(k) = min(floor(initial_backoff × multiplier^(k-1)), max_backoff)`
//!   in whole nanoseconds. The **cap applies before the jitter**, so at the cap the delays
//!   still spread over the whole band (capping after the jitter would pile every client up
//!   on `max_backoff` again).
//! - **Jitter band.** With `D = floor(randomization_factor × B(k))`, every delay is drawn
//!   uniformly from the closed band `[B(k) - D, B(k) + D]` nanoseconds, with integer
//!   arithmetic, so no delay ever leaves its band and no delay exceeds
//!   `max_backoff + floor(randomization_factor × max_backoff)`. (The seed computes
//!   `backoff - delta + rand.Float64()*(2*delta+1)` in floating point: the `+1` is the
//!   integer idiom for an inclusive range, but on a fractional `delta` it lets a delay reach
//!   up to one nanosecond past the band.) A randomization factor of 0 draws nothing from the
//!   generator and gives exactly `B(k)`.
//! - **Retries.** `max_retries: Some(n)` allows at most `n` retries, so `n + 1` attempts;
//!   `Some(0)` is a single attempt; `None` is no limit.
//! - **Duration.** With `max_duration: Some(d)`, measured by the clock from the start:
//!   no retry is granted once `d` has elapsed, no sleep extends past the deadline, so no
//!   attempt starts later than `d` after the start (on a real clock, plus however late the
//!   operating system wakes the sleeper; for [`AsyncRetry`], plus tokio's rounding of each
//!   sleep up to a whole millisecond). The loop therefore returns at most `d` plus the
//!   duration of the last attempt after it started. When the next delay would end past the
//!   deadline, `preemptive_cancel: true` gives up at once; `false` sleeps only until the
//!   deadline and makes one last attempt there. (The seed sleeps the whole delay and then
//!   gives up, overrunning the budget by up to a full backoff for nothing.)
//! - **Cancellation.** The [`Closer`] is checked before every attempt and watched during
//!   every sleep (event-driven: a latch wait or a tokio `select!`, never polling), so once a
//!   loop has seen the closer closed no further attempt starts, and a close that lands
//!   during a sleep ends the sleep at once. A close that races an attempt's start lets at
//!   most that one attempt through.
//! - **Zero means zero.** Every option is taken as given (a zero backoff retries at once, a
//!   zero duration allows no retry); the defaults come only from [`Options::new`].
//! - **Determinism.** The same options, seed and clock readings give the same delays.
//!
//! # Invariants
//!
//! `retries <= max_retries`, `attempts == retries + 1` once the first attempt has started,
//! and a stop reason, once set, never changes. There are no locks in this module apart from
//! the [`Closer`]'s latch (one `Mutex`, never held while user code runs); the loops are
//! owned by one thread or task.
//!
//! # Examples
//!
//! ```
//! use racekit::retry::{Options, StopReason};
//! use racekit::time::{ManualClock, SeededRng};
//! use std::time::Duration;
//!
//! let options = Options { randomization_factor: 0.0, max_retries: Some(3), ..Options::new() };
//! let mut retry = options.start(ManualClock::new(), SeededRng::new(1))?;
//! let mut attempts = Vec::new();
//! for attempt in retry.by_ref() {
//!     attempts.push(attempt); // the operation would go here; it keeps failing
//! }
//! assert_eq!(attempts, [1, 2, 3, 4]);
//! assert_eq!(retry.stop_reason(), Some(StopReason::RetriesExhausted));
//! // The manual clock slept 50 + 100 + 200 ms without the test waiting.
//! assert_eq!(retry.clock().elapsed(), Duration::from_millis(350));
//! # Ok::<(), racekit::retry::InvalidOptions>(())
//! ```

mod async_loop;
mod closer;
mod schedule;
mod sync_loop;

/// The [mutation points](crate::mutation) planted in this pattern: one-expression bugs a
/// model switches on with [`Model::mutant`](crate::model::Model::mutant).
pub const MUTATION_POINTS: &[crate::mutation::MutationPoint] = &[
    crate::mutation::MutationPoint {
        name: "retry.step.checks_only_before_sleeping",
        bug: "a loop looks at the closer only before it sleeps, so a close that ends a sleep is followed by \
              one more attempt",
    },
    crate::mutation::MutationPoint {
        name: "retry.next_delay.ignores_the_closer",
        bug: "the schedule hands out delays without looking at the closer",
    },
    crate::mutation::MutationPoint {
        name: "retry.next_delay.one_retry_too_many",
        bug: "the retry limit compares `retries > max_retries`, granting one retry too many",
    },
    crate::mutation::MutationPoint {
        name: "retry.jitter.seed_float_formula",
        bug: "the jitter is the seed's floating-point `backoff - delta + rand * (2 * delta + 1)`, which can \
              leave the band by up to a nanosecond on a fractional delta",
    },
    crate::mutation::MutationPoint {
        name: "retry.sleep.deaf_to_the_closer",
        bug: "the blocking loop sleeps the whole delay on the system clock without watching the closer",
    },
];

#[cfg(test)]
mod tests;

pub use async_loop::AsyncRetry;
pub use closer::Closer;
pub use schedule::{Schedule, StopReason};
pub use sync_loop::{Retry, SleepUnlessClosed};

use std::ops::ControlFlow;
use std::time::Duration;
use thiserror::Error;

/// The largest backoff the schedule accepts: delays are whole nanoseconds in a `u64`, with
/// room for the jitter band above the cap (about 292 years).
pub const MAX_BACKOFF_LIMIT: Duration = Duration::from_nanos(u64::MAX / 2);

/// How to retry: backoff, jitter, limits and cancellation.
///
/// Every field is taken literally ("zero means zero"); [`Options::new`] (also
/// [`Default`]) gives CockroachDB's defaults. Build variants with struct update syntax.
///
/// # Examples
///
/// ```
/// use racekit::retry::{Closer, Options};
/// use std::time::Duration;
///
/// let closer = Closer::new();
/// let options = Options {
///     max_retries: Some(5),
///     max_duration: Some(Duration::from_secs(10)),
///     closer: Some(closer.clone()),
///     ..Options::new()
/// };
/// assert!(options.validate().is_ok());
/// assert_eq!(options.initial_backoff, Duration::from_millis(50));
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    /// Backoff before the first retry (default 50 ms).
    pub initial_backoff: Duration,
    /// Cap on the un-jittered backoff (default 2 s); the jitter applies after the cap.
    pub max_backoff: Duration,
    /// Growth of the backoff per retry, at least 1 (default 2).
    pub multiplier: f64,
    /// Half-width of the jitter band as a fraction of the backoff, in `0..=1` (default 0.15).
    pub randomization_factor: f64,
    /// Retries allowed after the first attempt: `None` for no limit (the default),
    /// `Some(0)` for a single attempt.
    pub max_retries: Option<u32>,
    /// Time budget from the start, by the clock: `None` for no limit (the default).
    pub max_duration: Option<Duration>,
    /// When the next delay would end past `max_duration`: `true` gives up at once, `false`
    /// (the default) sleeps until the deadline and makes one last attempt there.
    pub preemptive_cancel: bool,
    /// Stops the loop when closed: checked before every attempt, watched during sleeps.
    pub closer: Option<Closer>,
}

impl Options {
    /// CockroachDB's defaults: 50 ms initial backoff, 2 s cap, multiplier 2, randomization
    /// factor 0.15, no retry or duration limit, no closer.
    pub fn new() -> Self {
        Options {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            multiplier: 2.0,
            randomization_factor: 0.15,
            max_retries: None,
            max_duration: None,
            preemptive_cancel: false,
            closer: None,
        }
    }

    /// These options with a fixed number of attempts (the seed's `WithMaxAttempts`):
    /// `attempts - 1` retries.
    ///
    /// # Errors
    ///
    /// [`InvalidOptions::ZeroAttempts`] for `attempts == 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = racekit::retry::Options::new().with_max_attempts(3)?;
    /// assert_eq!(options.max_retries, Some(2));
    /// # Ok::<(), racekit::retry::InvalidOptions>(())
    /// ```
    pub fn with_max_attempts(self, attempts: u32) -> Result<Self, InvalidOptions> {
        let retries = attempts.checked_sub(1).ok_or(InvalidOptions::ZeroAttempts)?;
        Ok(Options { max_retries: Some(retries), ..self })
    }

    /// Checks the options; every constructor of a schedule or loop calls this.
    ///
    /// # Errors
    ///
    /// An [`InvalidOptions`] naming the first bad field and what to use instead.
    pub fn validate(&self) -> Result<(), InvalidOptions> {
        // Written as negated comparisons so that NaN, which compares false, is rejected.
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return Err(InvalidOptions::Multiplier(self.multiplier));
        }
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            return Err(InvalidOptions::RandomizationFactor(self.randomization_factor));
        }
        if self.max_backoff < self.initial_backoff {
            return Err(InvalidOptions::MaxBelowInitial { initial: self.initial_backoff, max: self.max_backoff });
        }
        if self.max_backoff > MAX_BACKOFF_LIMIT {
            return Err(InvalidOptions::BackoffTooLong(self.max_backoff));
        }
        Ok(())
    }

    /// The delays, as an iterator reading `clock` and drawing from `rng` (nothing sleeps).
    ///
    /// # Errors
    ///
    /// [`InvalidOptions`] when [`validate`](Self::validate) fails.
    pub fn schedule<C: crate::time::Clock, R: crate::time::Rng>(
        &self,
        clock: C,
        rng: R,
    ) -> Result<Schedule<C, R>, InvalidOptions> {
        Schedule::new(self, clock, rng)
    }

    /// A blocking retry loop that sleeps through `clock` (see [`Retry`]).
    ///
    /// # Errors
    ///
    /// [`InvalidOptions`] when [`validate`](Self::validate) fails.
    pub fn start<C: SleepUnlessClosed, R: crate::time::Rng>(
        &self,
        clock: C,
        rng: R,
    ) -> Result<Retry<C, R>, InvalidOptions> {
        Retry::new(self, clock, rng)
    }

    /// An async retry loop on tokio's timer (see [`AsyncRetry`]).
    ///
    /// # Errors
    ///
    /// [`InvalidOptions`] when [`validate`](Self::validate) fails.
    pub fn start_async<R: crate::time::Rng>(&self, rng: R) -> Result<AsyncRetry<R>, InvalidOptions> {
        AsyncRetry::new(self, rng)
    }
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

/// Options that cannot make a schedule; the message says what to use instead.
#[derive(Clone, Copy, Debug, Error, PartialEq)]
pub enum InvalidOptions {
    /// The multiplier is below 1, infinite or NaN.
    #[error("retry multiplier is {0}: use a finite number of at least 1 (1 keeps the backoff constant, 2 doubles it)")]
    Multiplier(f64),
    /// The randomization factor is outside `0..=1` or NaN.
    #[error("retry randomization factor is {0}: use a number from 0 (no jitter) to 1 (delays anywhere from 0 to twice the backoff)")]
    RandomizationFactor(f64),
    /// `max_backoff < initial_backoff`.
    #[error(
        "max backoff {max:?} is below the initial backoff {initial:?}: raise max_backoff or lower initial_backoff"
    )]
    MaxBelowInitial {
        /// The initial backoff given.
        initial: Duration,
        /// The cap given.
        max: Duration,
    },
    /// `max_backoff` above [`MAX_BACKOFF_LIMIT`].
    #[error("max backoff {0:?} is too long: use at most {MAX_BACKOFF_LIMIT:?} (or no retry at all)")]
    BackoffTooLong(Duration),
    /// Zero attempts were asked for.
    #[error("zero attempts requested: use at least 1 (a single attempt, no retries)")]
    ZeroAttempts,
}

/// How one attempt failed, and whether it is worth retrying (the seed's `DoWithRetryable`
/// classification).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failed<E> {
    /// The attempt's error.
    pub error: E,
    /// Whether another attempt may succeed.
    pub retryable: bool,
}

impl<E> Failed<E> {
    /// A failure another attempt may cure (a timeout, a refused connection).
    pub fn transient(error: E) -> Self {
        Failed { error, retryable: true }
    }

    /// A failure no retry will cure (bad input, permission denied): the loop stops.
    pub fn permanent(error: E) -> Self {
        Failed { error, retryable: false }
    }
}

/// Why a retry loop ended without a success.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RetryError<E> {
    /// An attempt failed with an error classified as not retryable.
    #[error("attempt {attempts} failed permanently (not retried): {error}")]
    Permanent {
        /// That attempt's error.
        error: E,
        /// Attempts made, this one included.
        attempts: u32,
    },
    /// The retry or time budget ran out; `error` is the last attempt's.
    #[error("gave up after {attempts} attempt(s), {reason}: {error}; raise max_retries or max_duration if the failure is expected to clear")]
    Exhausted {
        /// The last attempt's error.
        error: E,
        /// Attempts made.
        attempts: u32,
        /// Which budget ran out.
        reason: StopReason,
    },
    /// The closer was closed; `last_error` is the last attempt's error, if any attempt ran.
    #[error("retry cancelled by its closer after {attempts} attempt(s)")]
    Cancelled {
        /// The last attempt's error, if any attempt ran.
        last_error: Option<E>,
        /// Attempts made.
        attempts: u32,
    },
}

impl<E> RetryError<E> {
    /// The error of a loop that stopped for `reason` after `attempts` attempts, the last of
    /// which failed with `last_error`: for loops written around a [`Schedule`].
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::retry::{Options, RetryError, StopReason};
    /// use racekit::time::{ManualClock, SeededRng};
    ///
    /// let mut schedule = Options::new().with_max_attempts(2)?.schedule(ManualClock::new(), SeededRng::new(0))?;
    /// let mut attempts = 0;
    /// let error = loop {
    ///     attempts += 1;
    ///     let error = "refused"; // the attempt failed
    ///     if schedule.next().is_none() {
    ///         break RetryError::stopped(schedule.stop_reason().unwrap(), error, attempts);
    ///     }
    /// };
    /// assert_eq!(error, RetryError::Exhausted { error: "refused", attempts: 2, reason: StopReason::RetriesExhausted });
    /// # Ok::<(), racekit::retry::InvalidOptions>(())
    /// ```
    pub fn stopped(reason: StopReason, last_error: E, attempts: u32) -> Self {
        match reason {
            StopReason::Closed => RetryError::Cancelled { last_error: Some(last_error), attempts },
            reason => RetryError::Exhausted { error: last_error, attempts, reason },
        }
    }

    /// Attempts made before the loop ended.
    pub fn attempts(&self) -> u32 {
        match self {
            RetryError::Permanent { attempts, .. }
            | RetryError::Exhausted { attempts, .. }
            | RetryError::Cancelled { attempts, .. } => *attempts,
        }
    }

    /// The last attempt's error, if any attempt ran.
    pub fn last_error(&self) -> Option<&E> {
        match self {
            RetryError::Permanent { error, .. } | RetryError::Exhausted { error, .. } => Some(error),
            RetryError::Cancelled { last_error, .. } => last_error.as_ref(),
        }
    }
}

/// The bookkeeping both loop forms share: judges each attempt's result and builds the final
/// error, so the sync and async loops differ only in how they wait.
struct Judge<E> {
    last_error: Option<E>,
}

impl<E> Judge<E> {
    fn new() -> Self {
        Judge { last_error: None }
    }

    /// `Break` with the loop's result on success or a permanent failure; `Continue` to retry.
    fn judge<T>(&mut self, result: Result<T, Failed<E>>, attempts: u32) -> ControlFlow<Result<T, RetryError<E>>> {
        match result {
            Ok(value) => ControlFlow::Break(Ok(value)),
            Err(Failed { error, retryable: false }) => {
                ControlFlow::Break(Err(RetryError::Permanent { error, attempts }))
            }
            Err(Failed { error, retryable: true }) => {
                self.last_error = Some(error);
                ControlFlow::Continue(())
            }
        }
    }

    /// The error once the loop refused another attempt for `reason`.
    fn give_up(self, reason: Option<StopReason>, attempts: u32) -> RetryError<E> {
        match (reason, self.last_error) {
            (Some(reason), Some(error)) => RetryError::stopped(reason, error, attempts),
            // Only the closer can refuse the first attempt, so a loop stopped with no error
            // was cancelled.
            (_, last_error) => RetryError::Cancelled { last_error, attempts },
        }
    }
}
