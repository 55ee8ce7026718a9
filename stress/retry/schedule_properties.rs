//! Properties of the schedule, run on a manual clock (nothing sleeps): every delay in its
//! jitter band under the documented cap, retries within `max_retries`, attempts within
//! `max_duration`, a close honoured within one step, the same seed giving the same delays.
//! Each property is a function over a trace, so the mutants below run through the very same
//! check and must be rejected by it.

use crate::support::cases;
use proptest::prelude::*;
use racekit::retry::{Closer, Options, Schedule};
use racekit::time::{ManualClock, SeededRng};
use std::time::Duration;

type Real = Schedule<ManualClock, SeededRng>;

/// What the environment does around a schedule.
#[derive(Clone, Debug)]
struct Scenario {
    /// Without a closer: the simulation adds one.
    options: Options,
    seed: u64,
    /// How long each attempt takes, cycled.
    costs: Vec<Duration>,
    /// Close the closer once this many delays have been handed out.
    close_after: Option<usize>,
}

impl Scenario {
    fn cost(&self, attempt: usize) -> Duration {
        self.costs[attempt % self.costs.len()]
    }
}

/// What a schedule did, by the manual clock (time since the start).
#[derive(Debug, PartialEq)]
struct Trace {
    /// For each delay handed out: when it was asked for, and the delay.
    delays: Vec<(Duration, Duration)>,
    /// When each attempt started (the first at zero).
    attempt_starts: Vec<Duration>,
    /// When the last attempt ended.
    end: Duration,
}

/// A runaway schedule is cut off here (and then fails its retry property).
const STEP_LIMIT: usize = 10_000;

/// Runs the schedule as a loop would: attempt, ask for a delay, sleep it, attempt again.
fn simulate(scenario: &Scenario) -> Trace {
    let closer = Closer::new();
    let options = Options { closer: Some(closer.clone()), ..scenario.options.clone() };
    let mut schedule: Real =
        options.schedule(ManualClock::new(), SeededRng::new(scenario.seed)).expect("scenarios hold valid options");
    let clock = |schedule: &Real| schedule.clock().elapsed();
    let mut trace = Trace { delays: Vec::new(), attempt_starts: vec![Duration::ZERO], end: Duration::ZERO };
    schedule.clock().advance(scenario.cost(0));
    while trace.delays.len() <= STEP_LIMIT {
        if scenario.close_after == Some(trace.delays.len()) {
            closer.close();
        }
        let asked = clock(&schedule);
        let Some(delay) = schedule.next() else { break };
        trace.delays.push((asked, delay));
        schedule.clock().advance(delay);
        trace.attempt_starts.push(clock(&schedule));
        schedule.clock().advance(scenario.cost(trace.attempt_starts.len() - 1));
    }
    trace.end = clock(&schedule);
    trace
}

/// The documented band of retry `retry` (1-based), in nanoseconds, computed from the
/// formula in the module documentation rather than from the implementation.
fn band(options: &Options, retry: usize) -> (u64, u64) {
    let initial = options.initial_backoff.as_nanos() as f64;
    let cap = options.max_backoff.as_nanos() as u64;
    let power = options.multiplier.powi(i32::try_from(retry - 1).unwrap_or(i32::MAX));
    let base = if initial == 0.0 { 0 } else { ((initial * power) as u64).min(cap) };
    let half_width = (options.randomization_factor * base as f64) as u64;
    (base - half_width, base + half_width)
}

/// Every property of one trace; the first violation, described.
fn check(scenario: &Scenario, trace: &Trace) -> Result<(), String> {
    let options = &scenario.options;
    let (_, cap) = band(options, usize::MAX);
    for (index, &(asked, delay)) in trace.delays.iter().enumerate() {
        let retry = index + 1;
        let (low, high) = band(options, retry);
        let nanos = delay.as_nanos() as u64;
        // Without preemptive cancel, the last sleep may be cut short to end at the deadline.
        let cut_to_deadline = options
            .max_duration
            .is_some_and(|budget| !options.preemptive_cancel && asked + delay == budget && nanos < low);
        if !(low..=high).contains(&nanos) && !cut_to_deadline {
            return Err(format!("retry {retry}: delay {nanos} ns is outside its jitter band [{low}, {high}] ns"));
        }
        if nanos > cap {
            return Err(format!("retry {retry}: delay {nanos} ns is above the cap plus jitter, {cap} ns"));
        }
    }
    let retries = trace.delays.len();
    if let Some(max) = options.max_retries.map(|max| max as usize) {
        if retries > max {
            return Err(format!("{retries} retries were granted; max_retries is {max}"));
        }
        if retries < max && options.max_duration.is_none() && scenario.close_after.is_none_or(|close| close > retries) {
            return Err(format!("stopped after {retries} retries with nothing stopping it before {max}"));
        }
    }
    if let Some(budget) = options.max_duration {
        if let Some(late) = trace.attempt_starts.iter().find(|start| **start > budget) {
            return Err(format!("an attempt started {late:?} after the start; max_duration is {budget:?}"));
        }
        let last_cost = scenario.cost(trace.attempt_starts.len() - 1);
        if trace.end > budget.max(trace.attempt_starts[trace.attempt_starts.len() - 1]) + last_cost {
            return Err(format!(
                "the loop ran until {:?}, past max_duration {budget:?} plus the last attempt",
                trace.end
            ));
        }
    }
    if let Some(close) = scenario.close_after {
        if retries > close {
            return Err(format!(
                "closed after {close} retries, yet {retries} were granted: a close must stop it within one step"
            ));
        }
    }
    Ok(())
}

/// The first violation over `scenarios`, for the schedule under test.
fn first_violation(scenarios: &[Scenario]) -> Option<String> {
    scenarios.iter().find_map(|scenario| check(scenario, &simulate(scenario)).err())
}

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    let backoff = (prop_oneof![0u64..=100, 0u64..=100_000_000], 0u64..=1_000_000_000);
    let shape = (1.0f64..=4.0, prop_oneof![Just(0.0), Just(1.0), 0.0f64..=1.0]);
    let limits = (prop::option::of(0u32..=30), prop::option::of(0u64..=2_000_000_000), any::<bool>());
    // Attempts take at least 1 ms, so a schedule bounded only by time ends in a few thousand steps.
    let environment =
        (any::<u64>(), prop::collection::vec(1_000_000u64..=50_000_000, 1..4), prop::option::of(0usize..=40));
    (backoff, shape, limits, environment).prop_map(
        |(
            (initial, extra),
            (multiplier, randomization_factor),
            (max_retries, max_duration, preemptive_cancel),
            (seed, costs, close_after),
        )| {
            // Something must end the loop: with no limit and no close, allow ten retries.
            let max_retries = if max_retries.is_none() && max_duration.is_none() && close_after.is_none() {
                Some(10)
            } else {
                max_retries
            };
            Scenario {
                options: Options {
                    initial_backoff: Duration::from_nanos(initial),
                    max_backoff: Duration::from_nanos(initial + extra),
                    multiplier,
                    randomization_factor,
                    max_retries,
                    max_duration: max_duration.map(Duration::from_nanos),
                    preemptive_cancel,
                    closer: None,
                },
                seed,
                costs: costs.into_iter().map(Duration::from_nanos).collect(),
                close_after,
            }
        },
    )
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn every_schedule_keeps_its_band_cap_limits_and_closer(scenario in scenario_strategy()) {
        let trace = simulate(&scenario);
        if let Err(violation) = check(&scenario, &trace) {
            return Err(TestCaseError::fail(format!("{violation}\n{trace:?}")));
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule(scenario in scenario_strategy()) {
        prop_assert_eq!(simulate(&scenario), simulate(&scenario));
    }
}

/// Fixed scenarios each mutant must fail and the real schedule must pass: nanosecond
/// backoffs (where rounding shows), a retry limit, and a close after two retries.
fn mutant_scenarios() -> Vec<Scenario> {
    let options = Options {
        initial_backoff: Duration::from_nanos(10),
        max_backoff: Duration::from_nanos(1_000),
        multiplier: 1.5,
        randomization_factor: 0.15,
        max_retries: Some(12),
        ..Options::new()
    };
    let costs = vec![Duration::from_millis(1)];
    (0..40)
        .map(|seed| Scenario { options: options.clone(), seed, costs: costs.clone(), close_after: None })
        .chain((0..4).map(|seed| Scenario {
            options: options.clone(),
            seed,
            costs: costs.clone(),
            close_after: Some(2),
        }))
        .collect()
}

#[test]
fn the_real_schedule_passes_the_mutant_scenarios() {
    assert_eq!(first_violation(&mutant_scenarios()), None);
}

/// The schedule's mutation points, each switched on for one check whose body runs the
/// mutant scenarios through the same properties.
mod mutants {
    use super::*;
    use racekit::model::Model;

    fn caught(mutant: &str, expected: &'static str) {
        Model::named(format!("retry schedule: {mutant}")).mutant(mutant).iterations(1).check(move || {
            let violation = first_violation(&mutant_scenarios()).expect("the mutant escaped: every scenario passed");
            assert!(violation.contains(expected), "caught, but by another property: {violation}");
        });
    }

    #[test]
    fn jitter_outside_the_band_is_caught() {
        caught("retry.jitter.seed_float_formula", "outside its jitter band");
    }

    #[test]
    fn an_off_by_one_in_max_retries_is_caught() {
        caught("retry.next_delay.one_retry_too_many", "max_retries is 12");
    }

    #[test]
    fn a_schedule_ignoring_its_closer_is_caught() {
        caught("retry.next_delay.ignores_the_closer", "within one step");
    }
}
