//! Injected time and randomness.
//!
//! Nothing in racekit's patterns calls `Instant::now`, `thread::sleep` or a global random
//! number generator: they take a [`Clock`] and an [`Rng`], so tests run without sleeping
//! and model checkers replay every random choice.
//!
//! | need | real | tests | models |
//! |---|---|---|---|
//! | time | [`SystemClock`] | [`ManualClock`] (or tokio's paused time for async code) | [`ManualClock`]: `sleep` advances it and is a scheduling point |
//! | randomness | [`SeededRng::from_entropy`] | [`SeededRng::new`] | [`CheckRng`]: shuttle records each draw in the schedule; std draws from the run's seed |
//!
//! A timeout that fires or not is a scheduler choice in models: see
//! [`choose`](crate::model::choose) and
//! [`Condvar::wait_timeout`](crate::sync::Condvar::wait_timeout).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A source of the current time and of sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Blocks the calling thread for `duration` (a manual clock advances instead).
    fn sleep(&self, duration: Duration);
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A clock that moves only when told to: by [`advance`](ManualClock::advance), or by
/// [`sleep`](Clock::sleep), which advances it by the slept duration at once (and, under
/// the model checkers, is a scheduling point so other threads may run "meanwhile").
///
/// # Examples
///
/// ```
/// use racekit::time::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.sleep(Duration::from_secs(5)); // returns at once
/// assert_eq!(clock.now() - start, Duration::from_secs(5));
/// assert_eq!(clock.elapsed(), Duration::from_secs(5));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    origin: Instant,
    offset_nanos: AtomicU64,
}

impl ManualClock {
    /// A clock standing at an arbitrary origin.
    pub fn new() -> Self {
        ManualClock { origin: Instant::now(), offset_nanos: AtomicU64::new(0) }
    }

    /// Moves the clock forward.
    pub fn advance(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: the clock is a value, not a synchronization point between threads.
        let _ =
            self.offset_nanos.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| Some(now.saturating_add(nanos)));
    }

    /// Time advanced since the clock was made.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.offset_nanos.load(Ordering::Relaxed))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.origin + self.elapsed()
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration);
        crate::sync::thread::yield_now();
    }
}

/// A source of random numbers.
pub trait Rng: Send + fmt::Debug {
    /// A uniformly random `u64`.
    fn next_u64(&mut self) -> u64;

    /// A uniformly random `f64` in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        // The top 53 bits fill an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// A seeded pseudo-random generator (fastrand's wyrand): the same seed gives the same
/// stream.
///
/// # Examples
///
/// ```
/// use racekit::time::{Rng, SeededRng};
///
/// let (mut a, mut b) = (SeededRng::new(7), SeededRng::new(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// let x = a.next_f64();
/// assert!((0.0..1.0).contains(&x));
/// ```
#[derive(Clone, Debug)]
pub struct SeededRng(fastrand::Rng);

impl SeededRng {
    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Self {
        SeededRng(fastrand::Rng::with_seed(seed))
    }

    /// A generator seeded from the operating system.
    pub fn from_entropy() -> Self {
        SeededRng(fastrand::Rng::new())
    }
}

impl Rng for SeededRng {
    fn next_u64(&mut self) -> u64 {
        self.0.u64(..)
    }
}

/// The random stream of the surrounding check: under shuttle every draw is a recorded
/// choice of the schedule (so a failing schedule replays its draws); on real threads it
/// draws from the run's seed; under loom, which requires determinism, a fixed stream.
/// Outside any check it falls back to an entropy-seeded generator.
#[derive(Debug, Default)]
pub struct CheckRng {
    #[cfg(racekit_loom)]
    fixed: Option<fastrand::Rng>,
}

impl CheckRng {
    /// The stream of the surrounding check.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Rng for CheckRng {
    fn next_u64(&mut self) -> u64 {
        #[cfg(racekit_shuttle)]
        {
            shuttle::rand::RngCore::next_u64(&mut shuttle::rand::thread_rng())
        }
        #[cfg(racekit_loom)]
        {
            self.fixed.get_or_insert_with(|| fastrand::Rng::with_seed(crate::model::DEFAULT_SEED)).u64(..)
        }
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        {
            match crate::model::context::current() {
                Some(context) => context.next_u64(),
                None => fastrand::u64(..),
            }
        }
    }
}
