//! A monotonic clock reading that follows the model's time.
//!
//! See [`Instant`].
//!
//! # Invariants
//!
//! Model time is harness bookkeeping (a `std` mutex, never a scheduling point), reset when
//! a new execution first reads or advances it, and never decreases within an execution.

use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

/// A reading of a monotonic clock: real time on real threads, the execution's model time
/// under loom and shuttle.
///
/// On real threads `Instant` is `std::time::Instant`. Under loom and shuttle time is not
/// modelled: every model thread runs on one OS thread, in steps that take no meaningful
/// time, and a `sleep` returns at once. Code that reads the clock itself (a rate limiter,
/// an idle timeout measured with `elapsed`) would then see the test's real running time,
/// which says nothing about the schedule. The facade's `Instant` instead reads the
/// execution's *model time*: it starts at the same origin in every execution and advances
/// only when a thread sleeps through the facade ([`thread::sleep`](crate::sync::thread::sleep)
/// adds its duration), so "slept 50 ms, then found more than 40 ms elapsed" holds in every
/// schedule, and a model replays with the same readings. Sleeps of concurrent threads add
/// up (a sleep does not block in model time), so model time never runs behind what real
/// time would show.
///
/// # Examples
///
/// ```
/// use racekit::sync::{thread, Instant};
/// use std::time::Duration;
///
/// let started = Instant::now();
/// thread::sleep(Duration::from_millis(5));
/// assert!(started.elapsed() >= Duration::from_millis(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(std::time::Instant);

impl Instant {
    /// The current reading.
    pub fn now() -> Instant {
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        return Instant(std::time::Instant::now());
        #[cfg(any(racekit_loom, racekit_shuttle))]
        return Instant(model_time::now());
    }

    /// Time since this reading (zero if the clock has not moved).
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// Time from `earlier` to this reading, zero if `earlier` is later (as `std` since 1.60).
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// Time from `earlier` to this reading, zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// Time from `earlier` to this reading, `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_duration_since(earlier.0)
    }

    /// This reading plus `duration`, `None` on overflow.
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_add(duration).map(Instant)
    }

    /// This reading minus `duration`, `None` on underflow.
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_sub(duration).map(Instant)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, duration: Duration) -> Instant {
        Instant(self.0 + duration)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, duration: Duration) {
        self.0 += duration;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, duration: Duration) -> Instant {
        Instant(self.0 - duration)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, duration: Duration) {
        self.0 -= duration;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Lets model time pass for the calling execution (a facade sleep); nothing on real
/// threads, where time passes by itself.
#[inline]
pub(crate) fn advance(by: Duration) {
    #[cfg(any(racekit_loom, racekit_shuttle))]
    model_time::advance(by);
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    let _ = by;
}

#[cfg(any(racekit_loom, racekit_shuttle))]
mod model_time {
    use super::super::once::current_execution;
    use std::sync::{Mutex, OnceLock, PoisonError};
    use std::time::{Duration, Instant};

    /// The reading every execution starts from.
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    /// The execution model time belongs to, and how far it has advanced.
    static ELAPSED: Mutex<Option<(u64, Duration)>> = Mutex::new(None);

    /// The current execution's elapsed model time, reset when the execution changed.
    fn with_elapsed<R>(act: impl FnOnce(&mut Duration) -> R) -> R {
        let execution = current_execution();
        let mut elapsed = ELAPSED.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *elapsed {
            Some((of, time)) if *of == execution => act(time),
            slot => act(&mut slot.insert((execution, Duration::ZERO)).1),
        }
    }

    pub(super) fn now() -> Instant {
        *ORIGIN.get_or_init(Instant::now) + with_elapsed(|time| *time)
    }

    pub(super) fn advance(by: Duration) {
        with_elapsed(|time| *time = time.saturating_add(by));
    }
}
