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
