//! The async retry loop, on tokio's timer.
//!
//! # Invariants
//!
//! The loop is owned by one task; the only shared state is the [`Closer`]. Time is tokio's
//! (so paused time in tests drives it), read once per step.

use super::schedule::{Machine, Step};
use super::{Failed, InvalidOptions, Judge, Options, RetryError, StopReason};
use crate::time::Rng;
use std::future::Future;
use std::ops::ControlFlow;
use std::time::Instant;

/// tokio's clock (paused and advanced by tokio's test utilities), as a std instant.
fn tokio_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// An async retry loop: [`Retry`](super::Retry) with the sleep on tokio's timer raced
/// against the closer.
///
/// tokio's timer fires on whole milliseconds, so each sleep is its delay rounded up to the
/// next millisecond (and an attempt may start up to that much past `max_duration`).
///
/// # Examples
///
/// ```
/// use racekit::retry::{Options, RetryError, StopReason};
/// use racekit::time::SeededRng;
///
/// # racekit::sync::task::block_on(async {
/// let options = Options { initial_backoff: std::time::Duration::ZERO, ..Options::new() }.with_max_attempts(2)?;
/// let result: Result<u32, RetryError<&str>> =
///     options.start_async(SeededRng::new(1))?.run(|attempt| async move {
///         if attempt == 2 { Ok(attempt) } else { Err("not yet") }
///     }).await;
/// assert_eq!(result, Ok(2));
/// # Ok::<(), racekit::retry::InvalidOptions>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct AsyncRetry<R> {
    machine: Machine<R>,
}

impl<R: Rng> AsyncRetry<R> {
    /// A loop starting now, by tokio's clock.
    ///
    /// # Errors
    ///
    /// [`InvalidOptions`] when the options do not validate.
    pub fn new(options: &Options, rng: R) -> Result<Self, InvalidOptions> {
        Ok(AsyncRetry { machine: Machine::new(options, rng, tokio_now())? })
    }

    /// Waits until the next attempt may start and returns its number (from 1), or `None`
    /// when the loop must stop ([`stop_reason`](AsyncRetry::stop_reason) says why). The sleep
    /// ends as soon as the closer is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropped mid-sleep, the delay is kept, and the next call sleeps only
    /// what is left of it; no retry is lost or counted twice, and no attempt is counted
    /// until `next` returns it.
    pub async fn next(&mut self) -> Option<u32> {
        loop {
            match self.machine.step(tokio_now()) {
                Step::Attempt => return Some(self.machine.attempts()),
                Step::Stop(_) => return None,
                Step::Wait(delay) => {
                    let sleep = tokio::time::sleep(delay);
                    match self.machine.closer() {
                        Some(closer) => {
                            tokio::select! {
                                // Closer first: a close and an expiry seen together stop it.
                                biased;
                                () = closer.closed() => {}
                                () = sleep => {}
                            }
                        }
                        None => sleep.await,
                    }
                    // The wait is over, run out or ended by a close: the next step looks at
                    // the closer before anything else.
                    self.machine.slept();
                }
            }
        }
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.machine.attempts()
    }

    /// Why the loop stopped, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.machine.stop_reason()
    }

    /// Runs `attempt` (given the 1-based attempt number) until it succeeds, fails with a
    /// permanent error, or the loop stops.
    ///
    /// # Errors
    ///
    /// [`RetryError`]: the permanent error, the last error once a budget ran out, or a
    /// cancellation by the closer.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the attempt in progress (if any) and starts nothing more;
    /// nothing is left running.
    pub async fn run_retryable<T, E, F>(mut self, mut attempt: impl FnMut(u32) -> F) -> Result<T, RetryError<E>>
    where
        F: Future<Output = Result<T, Failed<E>>>,
    {
        let mut judge = Judge::new();
        while let Some(n) = self.next().await {
            if let ControlFlow::Break(result) = judge.judge(attempt(n).await, n) {
                return result;
            }
        }
        Err(judge.give_up(self.stop_reason(), self.attempts()))
    }

    /// Runs `attempt` until it succeeds or the loop stops, retrying every error.
    ///
    /// # Errors
    ///
    /// [`RetryError::Exhausted`] with the last error, or [`RetryError::Cancelled`].
    ///
    /// # Cancel safety
    ///
    /// As [`run_retryable`](AsyncRetry::run_retryable).
    pub async fn run<T, E, F>(self, mut attempt: impl FnMut(u32) -> F) -> Result<T, RetryError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        self.run_retryable(|n| {
            let future = attempt(n);
            async move { future.await.map_err(Failed::transient) }
        })
        .await
    }
}
