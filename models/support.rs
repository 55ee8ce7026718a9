//! Helpers shared by the model suites.

#![allow(dead_code)]

use racekit::model::{Failure, Model, Report};
use racekit::sync::Backend;

/// Whether this build runs a model checker (mutant tests assert only there).
pub const MODEL_CHECKER: bool = !matches!(Backend::CURRENT, Backend::Std);

/// Runs `body` under `model` and returns the failure it must find. Panics (failing the
/// test) with the report when every schedule passed: the mutant escaped.
#[track_caller]
pub fn expect_caught<F>(model: Model, body: F) -> Failure
where
    F: Fn() + Send + Sync + 'static,
{
    match model.run(body) {
        Ok(report) => panic!("the mutant escaped: every explored schedule passed\n{report}"),
        Err(failure) => failure,
    }
}

/// Runs `body` under `model` and requires every schedule to pass.
#[track_caller]
pub fn expect_sound<F>(model: Model, body: F) -> Report
where
    F: Fn() + Send + Sync + 'static,
{
    model.check(body)
}

/// A proptest configuration for scenario-picking around `check`: `default_cases`
/// scenarios (each of which the model checker explores fully), or `PROPTEST_CASES`.
pub fn scenario_cases(default_cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    // A fixed seed, so a reproduce command reruns the same scenarios (each scenario's model
    // is named after its parameters, so the replay token finds its own).
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(racekit::model::DEFAULT_SEED),
        ..proptest::test_runner::Config::default()
    }
}

/// Runs each named scenario as a sound model of its own, at preemption bound 1 (for mutant
/// scaffolds: the scenarios with no bug switched on). One model per scenario, not one body
/// chaining them: loom counts every thread an execution spawns.
#[track_caller]
pub fn expect_each_sound(prefix: &str, scenarios: &[(&str, fn())]) {
    for &(name, scenario) in scenarios {
        expect_sound(Model::named(format!("{prefix}, {name}")).preemption_bound(1), scenario);
    }
}

/// Whether a check ran its whole budget: every phase complete (no time budget cut it
/// short) and at least one phase (not skipped by a replay of another check). Tests that
/// assert what exploration *reached* only owe that when this holds.
pub fn explored_fully(report: &Report) -> bool {
    !report.phases.is_empty() && report.phases.iter().all(|phase| phase.complete)
}
