//! The step of a mutant retry loop that checks the closer only before sleeping (inside the
//! schedule) and never after: shared by the blocking mutant of the model suite and the
//! async mutant of the stress suite, which differ only in how they sleep.

use racekit::retry::{RetryError, Schedule};
use racekit::time::{Clock, Rng};
use std::ops::ControlFlow;
use std::time::Duration;

/// Runs attempt `n`, then asks the schedule for the next delay: `Break` with the loop's
/// result, or `Continue` with the delay to sleep before attempt `n + 1`, which the mutant
/// then starts without looking at the closer again.
pub fn attempt_then_ask<C: Clock, R: Rng>(
    schedule: &mut Schedule<C, R>,
    n: u32,
    attempt: &mut impl FnMut(u32) -> Result<(), u32>,
) -> ControlFlow<Result<(), RetryError<u32>>, Duration> {
    let error = match attempt(n) {
        Ok(()) => return ControlFlow::Break(Ok(())),
        Err(error) => error,
    };
    match schedule.next() {
        Some(delay) => ControlFlow::Continue(delay),
        None => ControlFlow::Break(Err(RetryError::stopped(
            schedule.stop_reason().expect("a stopped schedule says why"),
            error,
            n,
        ))),
    }
}
