//! Helpers shared by the stress suites.

#![allow(dead_code)]

use proptest::test_runner::Config;

/// A proptest configuration running `default_cases` scenarios, or `PROPTEST_CASES` when
/// that is set (so CI and long jobs scale every suite at once).
pub fn cases(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    Config { cases, ..Config::default() }
}
