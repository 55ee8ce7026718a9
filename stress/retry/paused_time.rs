//! The async loop under tokio's paused time: it sleeps exactly the schedule (to tokio's
//! millisecond timer), returns the last error after the last attempt (with no sleep after
//! it), stops the moment a close lands mid-sleep, and a `next` dropped mid-sleep resumes
//! the same delay.

use racekit::retry::{Closer, Options, RetryError, StopReason};
use racekit::time::{Clock, ManualClock, SeededRng};
use std::time::Duration;
use tokio::time::Instant;

/// The delays of `options` and `seed`, from the schedule on a manual clock.
fn scheduled_delays(options: &Options, seed: u64) -> Vec<Duration> {
    let mut schedule = options.schedule(ManualClock::new(), SeededRng::new(seed)).unwrap();
    std::iter::from_fn(|| {
        let delay = schedule.next()?;
        schedule.clock().sleep(delay);
        Some(delay)
    })
    .collect()
}

/// Runs the async loop with every attempt failing, and returns its result with the start
/// time of each attempt (since the start).
async fn run_failing(options: &Options, seed: u64) -> (Result<(), RetryError<u32>>, Vec<Duration>) {
    let start = Instant::now();
    let mut starts = Vec::new();
    let retry = options.start_async(SeededRng::new(seed)).unwrap();
    let result = retry
        .run(|n| {
            starts.push(start.elapsed());
            std::future::ready(Err(n))
        })
        .await;
    (result, starts)
}

#[tokio::test(start_paused = true)]
async fn the_async_loop_sleeps_exactly_the_schedule_and_returns_the_last_error() {
    let options = Options { initial_backoff: Duration::from_millis(10), max_retries: Some(6), ..Options::new() };
    let start = Instant::now();
    let (result, starts) = run_failing(&options, 42).await;
    assert_eq!(result, Err(RetryError::Exhausted { error: 7, attempts: 7, reason: StopReason::RetriesExhausted }));
    let gaps: Vec<Duration> = starts.windows(2).map(|pair| pair[1] - pair[0]).collect();
    // tokio's timer fires on whole milliseconds: each sleep is its delay rounded up to one.
    let rounded_up = scheduled_delays(&options, 42)
        .into_iter()
        .map(|delay| Duration::from_millis(delay.as_nanos().div_ceil(1_000_000) as u64));
    assert_eq!(gaps, rounded_up.collect::<Vec<_>>());
    assert_eq!(start.elapsed(), starts[6], "no sleep after the last attempt");
}

#[tokio::test(start_paused = true)]
async fn the_async_loop_stops_at_the_duration_budget() {
    let options =
        Options { max_duration: Some(Duration::from_millis(500)), randomization_factor: 0.0, ..Options::new() };
    let (result, starts) = run_failing(&options, 0).await;
    assert_eq!(result, Err(RetryError::Exhausted { error: 5, attempts: 5, reason: StopReason::DeadlineReached }));
    // 50 + 100 + 200 ms, then the 400 ms delay cut to the 150 ms left: the last at 500 ms.
    assert_eq!(starts, [0, 50, 150, 350, 500].map(Duration::from_millis));
}

/// A close 100 ms into a one-second sleep must end the loop then, with no further attempt.
async fn stops_promptly_when_closed_mid_sleep() -> Result<(), String> {
    let closer = Closer::new();
    let options = Options {
        initial_backoff: Duration::from_secs(1),
        randomization_factor: 0.0,
        max_retries: Some(5),
        closer: Some(closer.clone()),
        ..Options::new()
    };
    let start = Instant::now();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        closer.close();
    });
    let (result, starts) = run_failing(&options, 0).await;
    canceller.await.unwrap();
    let took = start.elapsed();
    if result != Err(RetryError::Cancelled { last_error: Some(1), attempts: 1 }) {
        return Err(format!("closed mid-sleep, the loop returned {result:?} after attempts at {starts:?}"));
    }
    if took != Duration::from_millis(100) {
        return Err(format!("the loop returned {took:?} after the start; the close came at 100ms"));
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_async_loop_stops_promptly_when_closed_mid_sleep() {
    stops_promptly_when_closed_mid_sleep().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_next_dropped_mid_sleep_resumes_the_same_delay() {
    let options = Options {
        initial_backoff: Duration::from_secs(1),
        randomization_factor: 0.0,
        max_retries: Some(1),
        ..Options::new()
    };
    let mut retry = options.start_async(SeededRng::new(0)).unwrap();
    let start = Instant::now();
    assert_eq!(retry.next().await, Some(1));
    let abandoned = tokio::time::timeout(Duration::from_millis(300), retry.next()).await;
    assert!(abandoned.is_err(), "the first wait is one second long");
    assert_eq!(retry.next().await, Some(2));
    assert_eq!(start.elapsed(), Duration::from_secs(1), "the resumed wait ends when the first would have");
    assert_eq!(retry.attempts(), 2);
    assert_eq!(retry.next().await, None);
    assert_eq!(retry.stop_reason(), Some(StopReason::RetriesExhausted));
}

mod mutants {
    use super::*;
    use racekit::model::Model;

    /// With the closer looked at only before a sleep, the close that ends the sleep at
    /// 100 ms is followed by a second attempt. The mutation point is switched on for one
    /// check, whose body runs the loop on a paused current-thread runtime.
    #[test]
    fn cancellation_checked_only_before_sleeping_is_caught() {
        Model::named("retry: async loop checks only before sleeping")
            .mutant("retry.step.checks_only_before_sleeping")
            .iterations(1)
            .check(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .start_paused(true)
                    .build()
                    .expect("a current-thread runtime");
                let violation = runtime.block_on(stops_promptly_when_closed_mid_sleep());
                let violation = violation.expect_err("the mutant escaped: it stopped promptly");
                assert!(violation.contains("attempts: 2"), "{violation}");
            });
    }
}
