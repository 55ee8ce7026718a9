//! Helpers shared by the model suites.

#![allow(dead_code)]

use racekit::model::{Failure, FailureKind, Model, Report};
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

/// Runs `body` under `model` and requires every schedule to pass, and more than one to have
/// been explored: a model that runs a single schedule proves nothing about interleavings.
#[track_caller]
pub fn expect_sound<F>(model: Model, body: F) -> Report
where
    F: Fn() + Send + Sync + 'static,
{
    let report = model.check(body);
    assert!(
        !report.ran() || report.schedules > 1,
        "the model explored {} schedule(s): give it a second thread or task to interleave\n{report}",
        report.schedules
    );
    report
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

/// Runs each named scenario as a sound model of its own, at preemption bound 1 (the
/// scenarios of a group of mutants, with no bug switched on). One model per scenario, not one body
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

/// Runs `scenario` under `model` with the mutation point `mutant` switched on and requires
/// the failure it must cause: of `kind`, with `fragment` in its message. Panics (failing the
/// test) with the report when every schedule passed (the mutant escaped), and with the
/// failure when it is of another kind or says something else (the model caught something,
/// but not this bug's symptom).
#[track_caller]
pub fn expect_mutant<F>(mutant: &str, model: Model, scenario: F, kind: FailureKind, fragment: &str) -> Failure
where
    F: Fn() + Send + Sync + 'static,
{
    let failure = expect_caught(model.mutant(mutant), scenario);
    assert!(
        failure.kind == kind && failure.message.contains(fragment),
        "mutant `{mutant}` was caught, but not as expected: wanted {kind} containing {fragment:?}, got {}:\n{failure}",
        failure.kind
    );
    failure
}

/// A mutant test: the mutation point `mutant`, switched on in the real type, must make
/// `scenario` fail under `model` with the symptom pinned for each backend:
///
/// ```text
/// mutant_test! {
///     /// Why the scenario shows this bug.
///     fn a_pop_that_forgets_to_wake_producers_is_caught() {
///         mutant: "queue.pop.forgets_to_wake_producers",
///         model: Model::named("queue: lost wake-up").preemption_bound(2),
///         scenario: hand_off,
///         loom: Deadlock "deadlock",
///         shuttle: Deadlock "deadlock",
///         std: Hang "did not finish",
///     }
/// }
/// ```
///
/// Each backend's line is `Kind "message fragment"` (a [`FailureKind`] variant), or
/// `Skip "reason"` where that backend cannot show the bug (a memory-ordering bug under
/// shuttle's sequentially consistent atomics, say): under a model checker the test is then
/// ignored there with the reason, and fails with it if run anyway; on real threads it is
/// not built. On real threads mutant tests are ignored by `cargo test` (a race is caught
/// only when it happens) and run by the model-checking job.
#[macro_export]
macro_rules! mutant_test {
    (
        $(#[$doc:meta])*
        fn $name:ident() {
            mutant: $mutant:literal,
            model: $model:expr,
            scenario: $scenario:expr,
            loom: $loom_kind:ident $loom_text:literal,
            shuttle: $shuttle_kind:ident $shuttle_text:literal,
            std: $std_kind:ident $std_text:literal $(,)?
        }
    ) => {
        #[cfg(racekit_loom)]
        $crate::mutant_test!(@test $(#[$doc])* $name, $mutant, $model, $scenario, $loom_kind $loom_text, checked);
        #[cfg(racekit_shuttle)]
        $crate::mutant_test!(@test $(#[$doc])* $name, $mutant, $model, $scenario, $shuttle_kind $shuttle_text, checked);
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        $crate::mutant_test!(@test $(#[$doc])* $name, $mutant, $model, $scenario, $std_kind $std_text, by_chance);
    };
    // Real threads that cannot show a bug get no test: the job's detection table then says
    // the mutant was not built for them, rather than that real threads let it escape.
    (@test $(#[$doc:meta])* $name:ident, $mutant:literal, $model:expr, $scenario:expr, Skip $reason:literal, by_chance) => {};
    (@test $(#[$doc:meta])* $name:ident, $mutant:literal, $model:expr, $scenario:expr, Skip $reason:literal, $how:ident) => {
        $(#[$doc])*
        #[test]
        #[ignore = $reason]
        fn $name() {
            panic!("`{}` does not apply to this backend: {}", $mutant, $reason);
        }
    };
    (@test $(#[$doc:meta])* $name:ident, $mutant:literal, $model:expr, $scenario:expr, $kind:ident $text:literal, checked) => {
        $(#[$doc])*
        #[test]
        fn $name() {
            $crate::support::expect_mutant($mutant, $model, $scenario, racekit::model::FailureKind::$kind, $text);
        }
    };
    (@test $(#[$doc:meta])* $name:ident, $mutant:literal, $model:expr, $scenario:expr, $kind:ident $text:literal, by_chance) => {
        $(#[$doc])*
        #[test]
        #[ignore = "real threads catch a race only when it happens; the model-checking job runs this"]
        fn $name() {
            $crate::support::expect_mutant($mutant, $model, $scenario, racekit::model::FailureKind::$kind, $text);
        }
    };
}
