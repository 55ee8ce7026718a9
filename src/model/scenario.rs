//! Scenarios: proptest picks the parameters, the model checker explores each scenario's
//! interleavings, and the failure that is printed last replays when pasted.
//!
//! [`check`] runs a proptest over a strategy and, for
//! each value it draws, a check named after that value (its `Debug` text), so that a
//! replay token finds its own scenario among all the others. proptest runs with
//! [`config`]: a fixed seed (the same scenarios in the same order every run, so a replay
//! meets the failing one again), and no persistence files written into your source tree.
//!
//! When a scenario fails, proptest shrinks it: every smaller scenario that still fails
//! prints its own failure. The panic that ends the test names the minimal scenario and
//! ends with its reproduce command on a line of its own. Paste that command: with
//! `RACEKIT_REPLAY` set, every scenario but the one the token names is skipped, that one is
//! replayed, and the test fails again with the same failure. A token that matches none of
//! the test's scenarios (the code or the strategy changed) fails the test, saying so,
//! instead of passing with nothing checked.
//!
//! # Examples
//!
//! ```
//! use racekit::model::scenario;
//! use racekit::sync::{thread, Arc, Mutex};
//!
//! // Buyers race for the stock: never more sales than items.
//! scenario::check(scenario::config(8), (0u32..3, 1usize..3), |&(stock, buyers)| {
//!     move || {
//!         let left = Arc::new(Mutex::new(stock));
//!         let threads: Vec<_> = (0..buyers)
//!             .map(|_| {
//!                 let left = left.clone();
//!                 thread::spawn(move || {
//!                     let mut left = left.lock();
//!                     let sold = *left > 0;
//!                     *left -= u32::from(sold);
//!                     sold
//!                 })
//!             })
//!             .collect();
//!         let sold = threads.into_iter().map(|t| t.join().unwrap()).filter(|&sold| sold).count();
//!         assert_eq!(sold as u32, stock.min(buyers as u32));
//!     }
//! });
//! ```

use super::{Model, Report};
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use std::fmt::Debug;
use std::panic::Location;

/// The environment variable that overrides the number of scenarios (proptest's own).
pub const CASES_VARIABLE: &str = "PROPTEST_CASES";

/// The proptest configuration for scenarios: `cases` scenarios (or `PROPTEST_CASES`), a
/// fixed seed ([`DEFAULT_SEED`](super::DEFAULT_SEED)) so every run draws the same
/// scenarios, and no failure persistence (proptest would otherwise write
/// `proptest-regressions/` files next to your tests, and a replay needs none).
///
/// Use it with [`check`], or in a `proptest!` block (`#![proptest_config(...)]`) whose
/// body names each model after its parameters ([`model`]).
///
/// # Panics
///
/// When `PROPTEST_CASES` is set to anything but a whole number from 1 to `u32::MAX` (like
/// an invalid racekit setting, the message names the variable and what it takes).
#[track_caller]
pub fn config(cases: u32) -> Config {
    let cases = super::settings::scenario_cases(cases).unwrap_or_else(|error| panic!("racekit: {error}"));
    Config { cases, failure_persistence: None, rng_seed: RngSeed::Fixed(super::DEFAULT_SEED), ..Config::default() }
}

/// The model of one scenario: named after `params` (their `Debug` text), which is what
/// lets a replay token pick its own scenario out of all those one call site runs.
#[track_caller]
pub fn model<P: Debug + ?Sized>(params: &P) -> Model {
    Model::named(format!("{params:?}"))
}

/// Runs a proptest over `strategy` with `config`; each value drawn becomes a check of
/// `scenario(&value)`'s body, named after the value (see the [module
/// documentation](self)). Budgets come from the environment, as for any check; use [`run`]
/// to set them per model.
///
/// # Panics
///
/// Fails the test (by panicking) with the minimal failing scenario and its reproduce
/// command, or when `RACEKIT_REPLAY` is set and matched none of the scenarios.
#[track_caller]
pub fn check<S, B>(config: Config, strategy: S, scenario: impl Fn(&S::Value) -> B) -> Vec<Report>
where
    S: Strategy,
    S::Value: Debug,
    B: Fn() + Send + Sync + 'static,
{
    let at = Location::caller();
    run(config, strategy, |params| Model::at(at).name(format!("{params:?}")), scenario)
}

/// [`check`] with per-scenario model settings: `model(&value)` gives the model each
/// scenario runs under (keep its name from [`model`], or at least unique per value).
#[track_caller]
pub fn run<S, B>(
    config: Config,
    strategy: S,
    model: impl Fn(&S::Value) -> Model,
    scenario: impl Fn(&S::Value) -> B,
) -> Vec<Report>
where
    S: Strategy,
    S::Value: Debug,
    B: Fn() + Send + Sync + 'static,
{
    let reports = std::cell::RefCell::new(Vec::new());
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |params| match model(&params).run_reporting(scenario(&params)) {
        Ok(report) => {
            reports.borrow_mut().push(report);
            Ok(())
        }
        Err(failure) => Err(TestCaseError::fail(failure.to_string())),
    });
    match result {
        Ok(()) => {}
        Err(TestError::Abort(why)) => panic!("racekit: the scenarios were aborted: {why}"),
        // The failure's own text ends with its reproduce command on a line of its own:
        // nothing may follow it on that line.
        Err(TestError::Fail(why, minimal)) => {
            panic!("racekit: minimal failing scenario: {minimal:?}\n{}", why.message())
        }
    }
    let reports = reports.into_inner();
    if let Ok(token) = std::env::var("RACEKIT_REPLAY") {
        if !reports.is_empty() && reports.iter().all(|report| !report.ran()) {
            panic!(
                "racekit: RACEKIT_REPLAY={token} matched none of the {} scenario(s) this test ran: the code, the \
                 strategy or the proptest configuration changed since the token was printed; run the test without \
                 RACEKIT_REPLAY to find the failure again",
                reports.len()
            );
        }
    }
    reports
}
