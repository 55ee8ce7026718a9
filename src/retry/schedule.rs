//! The schedule of delays, and the attempt-level state machine both loops drive.
//!
//! # Invariants
//!
//! `retries <= max_retries`; once `stopped` is set it never changes; a retry is counted
//! when its delay is handed out. No locks: a schedule belongs to one thread or task.

use super::{Closer, InvalidOptions, Options};
use crate::time::{Clock, Rng};
use std::fmt;
use std::time::{Duration, Instant};

/// Why a schedule or loop refused another attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The closer was closed.
    Closed,
    /// `max_retries` retries were made.
    RetriesExhausted,
    /// `max_duration` has elapsed, or (with `preemptive_cancel`) the next delay would end
    /// past it.
    DeadlineReached,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::Closed => "closed",
            StopReason::RetriesExhausted => "retries exhausted",
            StopReason::DeadlineReached => "max duration reached",
        })
    }
}

/// The un-jittered, capped backoff before retry `retry` (1-based), in nanoseconds:
/// `min(floor(initial × multiplier^(retry-1)), max)`.
pub(super) fn base_nanos(options: &Options, retry: u32) -> u64 {
    let initial = options.initial_backoff.as_nanos() as f64;
    // Validated options keep the cap within u64 (see MAX_BACKOFF_LIMIT).
    let max = u64::try_from(options.max_backoff.as_nanos()).unwrap_or(u64::MAX);
    if initial == 0.0 {
        // 0 × infinity would be NaN once the power overflows.
        return 0;
    }
    let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
    // `as u64` saturates (infinity becomes u64::MAX), then the cap applies.
    ((initial * options.multiplier.powi(exponent)) as u64).min(max)
}

/// A delay drawn uniformly from the closed band `[base - d, base + d]`, with
/// `d = floor(factor × base)`, in integer nanoseconds (never outside the band).
pub(super) fn jittered(base: u64, randomization_factor: f64, rng: &mut dyn Rng) -> u64 {
    mutation_point!("retry.jitter.seed_float_formula", jittered_in_band(base, randomization_factor, rng), {
        // The seed's `backoff - delta + rand.Float64()*(2*delta+1)`, truncated.
        let delta = randomization_factor * base as f64;
        (base as f64 - delta + rng.next_f64() * (2.0 * delta + 1.0)) as u64
    })
}

/// [`jittered`], in integer arithmetic.
fn jittered_in_band(base: u64, randomization_factor: f64, rng: &mut dyn Rng) -> u64 {
    let half_width = ((randomization_factor * base as f64) as u64).min(base);
    if half_width == 0 {
        // No draw: a factor of 0 leaves the random stream (and a model's choices) untouched.
        return base;
    }
    let span = u128::from(half_width) * 2 + 1;
    // Multiply-shift maps a uniform u64 onto 0..span (bias below 2^-64 per value).
    let offset = ((u128::from(rng.next_u64()) * span) >> 64) as u64;
    base - half_width + offset
}

/// Backoff, jitter and limits, driven by the caller's reading of the clock.
#[derive(Debug)]
pub(super) struct Core<R> {
    options: Options,
    rng: R,
    start: Instant,
    retries: u32,
    stopped: Option<StopReason>,
}

impl<R: Rng> Core<R> {
    pub(super) fn new(options: &Options, rng: R, start: Instant) -> Result<Self, InvalidOptions> {
        options.validate()?;
        Ok(Core { options: options.clone(), rng, start, retries: 0, stopped: None })
    }

    pub(super) fn closer(&self) -> Option<&Closer> {
        self.options.closer.as_ref()
    }

    pub(super) fn retries(&self) -> u32 {
        self.retries
    }

    pub(super) fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }

    /// Stops for good (the first reason sticks) and returns the reason in force.
    pub(super) fn stop(&mut self, reason: StopReason) -> StopReason {
        *self.stopped.get_or_insert(reason)
    }

    /// Stops if the closer is closed; returns the reason in force, if any.
    pub(super) fn check_stopped(&mut self) -> Option<StopReason> {
        if self.closer().is_some_and(Closer::is_closed) {
            self.stop(StopReason::Closed);
        }
        self.stopped
    }

    /// The delay before the next retry, given the clock reads `now`, or why there is none.
    pub(super) fn next_delay(&mut self, now: Instant) -> Result<Duration, StopReason> {
        let stopped = mutation_point!("retry.next_delay.ignores_the_closer", self.check_stopped(), self.stopped);
        if let Some(reason) = stopped {
            return Err(reason);
        }
        let exhausted = |retries: u32, max: u32| {
            mutation_point!("retry.next_delay.one_retry_too_many", retries >= max, retries > max)
        };
        if self.options.max_retries.is_some_and(|max| exhausted(self.retries, max)) {
            return Err(self.stop(StopReason::RetriesExhausted));
        }
        let retry = self.retries.saturating_add(1);
        let mut delay = Duration::from_nanos(jittered(
            base_nanos(&self.options, retry),
            self.options.randomization_factor,
            &mut self.rng,
        ));
        if let Some(budget) = self.options.max_duration {
            let remaining = budget.saturating_sub(now.saturating_duration_since(self.start));
            if remaining.is_zero() {
                return Err(self.stop(StopReason::DeadlineReached));
            }
            if delay > remaining {
                if self.options.preemptive_cancel {
                    return Err(self.stop(StopReason::DeadlineReached));
                }
                delay = remaining;
            }
        }
        self.retries = retry;
        Ok(delay)
    }
}

/// The delays of a retry loop as an iterator: each `next` reads the clock and draws the
/// jitter, and returns the delay to sleep before the next attempt, or `None` once the loop
/// must stop ([`stop_reason`](Schedule::stop_reason) says why). Nothing sleeps, so a
/// [`ManualClock`](crate::time::ManualClock) checks a schedule in microseconds.
///
/// The first attempt needs no delay: a schedule yields the delays *between* attempts.
///
/// # Examples
///
/// ```
/// use racekit::retry::{Options, StopReason};
/// use racekit::time::{Clock, ManualClock, SeededRng};
/// use std::time::Duration;
///
/// let options = Options {
///     initial_backoff: Duration::from_millis(100),
///     max_backoff: Duration::from_millis(300),
///     randomization_factor: 0.0,
///     max_duration: Some(Duration::from_secs(1)),
///     ..Options::new()
/// };
/// let mut schedule = options.schedule(ManualClock::new(), SeededRng::new(7))?;
/// let mut delays = Vec::new();
/// while let Some(delay) = schedule.next() {
///     schedule.clock().sleep(delay); // advances the manual clock at once
///     delays.push(delay.as_millis());
/// }
/// // 100 + 200 + 300 + 300 = 900 ms; the last delay is cut to the 1 s budget.
/// assert_eq!(delays, [100, 200, 300, 300, 100]);
/// assert_eq!(schedule.stop_reason(), Some(StopReason::DeadlineReached));
/// # Ok::<(), racekit::retry::InvalidOptions>(())
/// ```
#[derive(Debug)]
pub struct Schedule<C, R> {
    clock: C,
    core: Core<R>,
}

impl<C: Clock, R: Rng> Schedule<C, R> {
    /// A schedule starting now, by `clock`.
    ///
    /// # Errors
    ///
    /// [`InvalidOptions`] when the options do not validate.
    pub fn new(options: &Options, clock: C, rng: R) -> Result<Self, InvalidOptions> {
        let start = clock.now();
        Ok(Schedule { core: Core::new(options, rng, start)?, clock })
    }

    /// The clock the schedule reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Retries handed out so far.
    pub fn retries(&self) -> u32 {
        self.core.retries()
    }

    /// Why the schedule stopped, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.core.stopped()
    }
}

impl<C: Clock, R: Rng> Iterator for Schedule<C, R> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.core.next_delay(self.clock.now()).ok()
    }
}

/// What a loop does next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Start an attempt (already counted).
    Attempt,
    /// Wait this long (watching the closer), then report [`Machine::slept`].
    Wait(Duration),
    /// Stop for good.
    Stop(StopReason),
}

/// Attempt-level state shared by [`Retry`](super::Retry) and
/// [`AsyncRetry`](super::AsyncRetry): they differ only in how they wait.
///
/// A drawn delay is remembered until its wait completes, so a wait that is abandoned (an
/// async `next` dropped mid-sleep) resumes with the time left, and no retry is drawn twice.
#[derive(Debug)]
pub(super) struct Machine<R> {
    core: Core<R>,
    attempts: u32,
    /// The wait in progress: when it began, and how long it is.
    pending: Option<(Instant, Duration)>,
    /// The pending wait has completed.
    slept: bool,
}

impl<R: Rng> Machine<R> {
    pub(super) fn new(options: &Options, rng: R, start: Instant) -> Result<Self, InvalidOptions> {
        Ok(Machine { core: Core::new(options, rng, start)?, attempts: 0, pending: None, slept: false })
    }

    pub(super) fn attempts(&self) -> u32 {
        self.attempts
    }

    pub(super) fn stop_reason(&self) -> Option<StopReason> {
        self.core.stopped()
    }

    pub(super) fn closer(&self) -> Option<&Closer> {
        self.core.closer()
    }

    /// The next step, given the clock reads `now`. The closer is checked first, on every
    /// call, so no attempt starts once it is seen closed.
    pub(super) fn step(&mut self, now: Instant) -> Step {
        // Also right after a wait, which a close may have ended early: the loops rely on this
        // check (the mutant looks at the closer only before a wait, when the next delay is
        // drawn, so the attempt after a wait ended by a close starts anyway).
        let stopped = mutation_point!(
            "retry.step.checks_only_before_sleeping",
            self.core.check_stopped(),
            if self.slept { self.core.stopped() } else { self.core.check_stopped() }
        );
        if let Some(reason) = stopped {
            return Step::Stop(reason);
        }
        if self.attempts > 0 {
            let (began, delay) = match self.pending {
                Some(pending) => pending,
                None => match self.core.next_delay(now) {
                    Ok(delay) => *self.pending.insert((now, delay)),
                    Err(reason) => return Step::Stop(reason),
                },
            };
            let remaining = delay.saturating_sub(now.saturating_duration_since(began));
            if !self.slept && !remaining.is_zero() {
                return Step::Wait(remaining);
            }
            self.pending = None;
            self.slept = false;
        }
        self.attempts += 1;
        Step::Attempt
    }

    /// The wait handed out by the last [`Step::Wait`] has completed (by the waiter's own
    /// clock, which the machine trusts).
    pub(super) fn slept(&mut self) {
        self.slept = true;
    }
}
