use super::schedule::{base_nanos, jittered, Machine, Step};
use super::*;
use crate::time::{Clock, ManualClock, Rng, SeededRng};
use std::time::{Duration, Instant};

/// Counts its draws, so a test can tell whether the jitter drew at all.
#[derive(Debug, Default)]
struct CountingRng {
    draws: u64,
    value: u64,
}

impl Rng for CountingRng {
    fn next_u64(&mut self) -> u64 {
        self.draws += 1;
        self.value
    }
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn no_jitter() -> Options {
    Options { randomization_factor: 0.0, ..Options::new() }
}

fn delays(options: &Options) -> Vec<Duration> {
    let mut schedule = options.schedule(ManualClock::new(), SeededRng::new(0)).unwrap();
    let mut out = Vec::new();
    while let Some(delay) = schedule.next() {
        schedule.clock().sleep(delay);
        out.push(delay);
    }
    out
}

#[test]
fn defaults_are_cockroachdbs() {
    let options = Options::default();
    assert_eq!((options.initial_backoff, options.max_backoff), (ms(50), ms(2000)));
    assert_eq!((options.multiplier, options.randomization_factor), (2.0, 0.15));
    assert_eq!((options.max_retries, options.max_duration, options.preemptive_cancel), (None, None, false));
    assert!(options.closer.is_none());
    options.validate().unwrap();
}

#[test]
fn bad_options_are_typed_errors_that_say_what_to_do() {
    let cases = [
        (Options { multiplier: 0.5, ..Options::new() }, "at least 1"),
        (Options { multiplier: f64::NAN, ..Options::new() }, "at least 1"),
        (Options { multiplier: f64::INFINITY, ..Options::new() }, "finite"),
        (Options { randomization_factor: -0.1, ..Options::new() }, "from 0"),
        (Options { randomization_factor: 1.5, ..Options::new() }, "to 1"),
        (Options { randomization_factor: f64::NAN, ..Options::new() }, "from 0"),
        (Options { initial_backoff: ms(10), max_backoff: ms(5), ..Options::new() }, "raise max_backoff"),
        (Options { max_backoff: Duration::MAX, ..Options::new() }, "use at most"),
    ];
    for (options, advice) in cases {
        let error = options.schedule(ManualClock::new(), SeededRng::new(0)).unwrap_err();
        assert!(error.to_string().contains(advice), "{error}");
        // The loop validates the same way (compared as text: NaN is not equal to itself).
        assert_eq!(options.start(ManualClock::new(), SeededRng::new(0)).unwrap_err().to_string(), error.to_string());
    }
    let error = Options::new().with_max_attempts(0).unwrap_err();
    assert_eq!(error, InvalidOptions::ZeroAttempts);
    assert!(error.to_string().contains("use at least 1"), "{error}");
}

#[test]
fn the_backoff_doubles_from_initial_and_is_capped() {
    let options = Options { max_retries: Some(8), ..no_jitter() };
    let expected = [50, 100, 200, 400, 800, 1600, 2000, 2000].map(ms);
    assert_eq!(delays(&options), expected);
    // Far past the cap (where the power overflows to infinity) the base stays at the cap.
    assert_eq!(base_nanos(&options, u32::MAX), 2_000_000_000);
}

#[test]
fn zero_means_zero() {
    let zero_backoff = Options {
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        max_retries: Some(3),
        ..Options::new()
    };
    assert_eq!(delays(&zero_backoff), [Duration::ZERO; 3]);
    assert_eq!(base_nanos(&zero_backoff, u32::MAX), 0, "0 × an overflowing power is still 0");
    assert!(delays(&Options { max_retries: Some(0), ..Options::new() }).is_empty(), "no retries: one attempt");
    assert!(
        delays(&Options { max_duration: Some(Duration::ZERO), ..Options::new() }).is_empty(),
        "no time: one attempt"
    );
}

#[test]
fn jitter_stays_in_its_closed_band_at_both_ends() {
    // base 10 ns, factor 0.15: half-width floor(1.5) = 1, band [9, 11].
    for (draw, expected) in [(0, 9), (u64::MAX / 2, 10), (u64::MAX, 11)] {
        let mut rng = CountingRng { draws: 0, value: draw };
        assert_eq!(jittered(10, 0.15, &mut rng), expected);
    }
    // A factor of 1 reaches from 0 to twice the base.
    assert_eq!(jittered(7, 1.0, &mut CountingRng { draws: 0, value: 0 }), 0);
    assert_eq!(jittered(7, 1.0, &mut CountingRng { draws: 0, value: u64::MAX }), 14);
}

#[test]
fn no_jitter_draws_nothing() {
    let mut rng = CountingRng::default();
    assert_eq!(jittered(1_000, 0.0, &mut rng), 1_000);
    assert_eq!(jittered(3, 0.2, &mut rng), 3, "a half-width below 1 ns is no jitter");
    assert_eq!(rng.draws, 0);
}

#[test]
fn the_budget_clamps_the_last_sleep_or_stops_preemptively() {
    let options = Options { max_duration: Some(ms(500)), ..no_jitter() };
    // 50 + 100 + 200 = 350; 400 would end at 750, so the last sleep is cut to 150.
    assert_eq!(delays(&options), [50, 100, 200, 150].map(ms));
    let preemptive = Options { preemptive_cancel: true, ..options };
    assert_eq!(delays(&preemptive), [50, 100, 200].map(ms));
}

#[test]
fn the_same_seed_gives_the_same_delays() {
    let options = Options { max_retries: Some(20), ..Options::new() };
    assert_eq!(delays(&options), delays(&options));
    assert_ne!(delays(&options), delays(&Options { randomization_factor: 0.0, ..options.clone() }));
}

#[test]
fn a_closed_closer_stops_the_schedule_at_once_and_for_good() {
    let closer = Closer::new();
    let options = Options { closer: Some(closer.clone()), ..Options::new() };
    let mut schedule = options.schedule(ManualClock::new(), SeededRng::new(0)).unwrap();
    assert!(schedule.next().is_some());
    assert!(closer.close());
    assert!(!closer.close(), "only the first close reports closing it");
    assert_eq!(schedule.next(), None);
    assert_eq!(schedule.next(), None);
    assert_eq!(schedule.stop_reason(), Some(StopReason::Closed));
    assert_eq!(schedule.retries(), 1);
}

#[test]
fn an_abandoned_wait_resumes_with_the_time_left() {
    let options = Options { max_retries: Some(1), ..no_jitter() };
    let start = Instant::now();
    let mut machine = Machine::new(&options, SeededRng::new(0), start).unwrap();
    assert_eq!(machine.step(start), Step::Attempt);
    assert_eq!(machine.step(start), Step::Wait(ms(50)));
    // The wait is abandoned 20 ms in; asking again resumes it, drawing nothing new.
    assert_eq!(machine.step(start + ms(20)), Step::Wait(ms(30)));
    assert_eq!(machine.step(start + ms(50)), Step::Attempt);
    assert_eq!(machine.step(start + ms(50)), Step::Stop(StopReason::RetriesExhausted));
    assert_eq!(machine.attempts(), 2);
}

#[test]
fn a_loop_closed_before_it_starts_makes_no_attempt() {
    let closer = Closer::new();
    closer.close();
    let options = Options { closer: Some(closer), ..Options::new() };
    let retry = options.start(ManualClock::new(), SeededRng::new(0)).unwrap();
    let result: Result<(), RetryError<()>> = retry.run(|_| panic!("no attempt may start"));
    assert_eq!(result, Err(RetryError::Cancelled { last_error: None, attempts: 0 }));
}

#[test]
fn a_close_during_a_sleep_cancels_with_the_last_error() {
    let closer = Closer::new();
    let options = Options { closer: Some(closer.clone()), ..Options::new() };
    let retry = options.start(ManualClock::new(), SeededRng::new(0)).unwrap();
    let result: Result<(), _> = retry.run(|attempt| {
        if attempt == 2 {
            closer.close();
        }
        Err(attempt)
    });
    let error = result.unwrap_err();
    assert_eq!(error, RetryError::Cancelled { last_error: Some(2), attempts: 2 });
    assert_eq!((error.attempts(), error.last_error()), (2, Some(&2)));
    assert!(error.to_string().contains("cancelled"), "{error}");
}

#[test]
fn a_deadline_stop_reports_the_last_error() {
    let options = Options { max_duration: Some(ms(120)), ..no_jitter() };
    let retry = options.start(ManualClock::new(), SeededRng::new(0)).unwrap();
    let result: Result<(), _> = retry.run(Err);
    // Attempts at 0, 50 and 120 ms (the 100 ms delay cut to the 70 ms left).
    assert_eq!(result, Err(RetryError::Exhausted { error: 3, attempts: 3, reason: StopReason::DeadlineReached }));
}
