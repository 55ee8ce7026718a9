//! Budgets: what the job tells each test through the environment racekit reads.
//!
//! The harness lets an environment variable override every model's own (CI-scale)
//! budget, so the job raises all of them at once:
//!
//! | job option | variable | backends |
//! |---|---|---|
//! | `--budget 10m` | `RACEKIT_TIME_BUDGET` (this test's share of what is left) | all |
//! | `--iterations N` | `RACEKIT_ITERATIONS` | shuttle (schedules), std (runs) |
//! | `--preemption-bound N` | `LOOM_MAX_PREEMPTIONS` | loom (bounds 1..=N in turn) |
//! | `--scheduler`, `--pct-depth` | `RACEKIT_SCHEDULER`, `RACEKIT_PCT_DEPTH` | shuttle |
//! | `--seed` | `RACEKIT_SEED` | shuttle, std |
//! | `--std-run-timeout` | `RACEKIT_STD_RUN_TIMEOUT` | std mutants |
//!
//! An option not given falls back to the variable inherited from the job's own
//! environment, then to the model's own budget (the variable is left unset). Every
//! variable the job sets is recorded in the row and in its rerun command.
//!
//! Budgets that cannot explore anything (`--preemption-bound 0`, `--iterations 0`, a zero
//! or negative duration) are refused with a message, never run vacuously.

use anyhow::{bail, Result};
use std::time::Duration;

use crate::results::Backend;

/// With a time budget and no `--iterations`, schedules are unlimited: time is the limit.
pub const UNLIMITED_ITERATIONS: u64 = 1_000_000_000;
/// With a time budget and no `--preemption-bound`, loom goes one bound past CI's 2.
pub const TIME_MODE_PREEMPTION_BOUND: u32 = 3;
/// The per-test timeout at the models' own budgets.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The per-test timeout when `--iterations` or `--preemption-bound` raise the budgets
/// and no `--timeout` is given: deep runs are long, a hang still ends.
pub const RAISED_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// With a time budget, a test may take this many times its share before it is killed
/// (a test may hold several checks, each of which gets the share).
pub const SHARE_TIMEOUT_FACTOR: u32 = 40;
/// The smallest time share a test gets, however little of the budget is left.
pub const MIN_SHARE: Duration = Duration::from_millis(200);

/// Every variable the job controls; the rest of the environment passes through.
pub const CONTROLLED: &[&str] = &[
    "LOOM_MAX_PREEMPTIONS",
    "RACEKIT_ITERATIONS",
    "RACEKIT_SCHEDULER",
    "RACEKIT_PCT_DEPTH",
    "RACEKIT_SEED",
    "RACEKIT_TIME_BUDGET",
    "RACEKIT_STD_RUN_TIMEOUT",
    "RACEKIT_REPLAY",
    "RACEKIT_REPORT_FILE",
    "PROPTEST_CASES",
];

/// The budget of one job, resolved from its options and the inherited environment.
#[derive(Clone, Debug, Default)]
pub struct Budget {
    /// Wall-clock time for running every test (builds excluded).
    pub time: Option<Duration>,
    pub iterations: Option<u64>,
    pub preemption_bound: Option<u32>,
    pub scheduler: Option<String>,
    pub pct_depth: Option<u32>,
    /// The base seed of shuttle and std (the models' own when unset).
    pub seed: Option<u64>,
    /// One run's hang limit for std mutants (a deadlocked mutant is caught this fast).
    pub std_run_timeout: Duration,
    pub proptest_cases: Option<u32>,
}

impl Budget {
    /// The environment for the tests of `backend` (mutant tests get a short std hang limit
    /// of their own); `share` is each test's part of the time budget.
    pub fn env(&self, backend: Backend, mutants: bool, share: Option<Duration>) -> Vec<(String, String)> {
        let mut env = Vec::new();
        let mut set = |name: &str, value: Option<String>| {
            if let Some(value) = value.or_else(|| inherited(name)) {
                env.push((name.to_owned(), value));
            }
        };
        let time_mode = self.time.is_some();
        match backend {
            Backend::Loom => {
                let bound = self.preemption_bound.or(time_mode.then_some(TIME_MODE_PREEMPTION_BOUND));
                set("LOOM_MAX_PREEMPTIONS", bound.map(|b| b.to_string()));
            }
            Backend::Shuttle => {
                set("RACEKIT_ITERATIONS", self.iterations(time_mode));
                set("RACEKIT_SCHEDULER", self.scheduler.clone());
                set("RACEKIT_PCT_DEPTH", self.pct_depth.map(|d| d.to_string()));
                set("RACEKIT_SEED", self.seed.map(|s| s.to_string()));
            }
            Backend::Std => {
                set("RACEKIT_ITERATIONS", self.iterations(time_mode));
                set("RACEKIT_SEED", self.seed.map(|s| s.to_string()));
                if mutants {
                    set("RACEKIT_STD_RUN_TIMEOUT", Some(seconds(self.std_run_timeout)));
                }
            }
        }
        set("PROPTEST_CASES", self.proptest_cases.map(|c| c.to_string()));
        set("RACEKIT_TIME_BUDGET", share.map(seconds));
        env
    }

    fn iterations(&self, time_mode: bool) -> Option<String> {
        self.iterations.or(time_mode.then_some(UNLIMITED_ITERATIONS)).map(|n| n.to_string())
    }

    /// A line describing the budget for `backends`, for the reports.
    pub fn describe(&self, backends: &[Backend]) -> String {
        let loom = backends.contains(&Backend::Loom);
        let randomised = backends.iter().any(|backend| *backend != Backend::Loom);
        let mut parts = Vec::new();
        match self.time {
            Some(time) => parts.push(format!("time budget {} split across the tests", human_duration(time))),
            None if self.iterations.is_none() && self.preemption_bound.is_none() => {
                parts.push("each model's own budget (as `cargo test`)".to_owned())
            }
            None => {}
        }
        if let (Some(n), true) = (self.iterations, randomised) {
            parts.push(format!("{n} shuttle schedules / std runs per model"));
        }
        match (self.preemption_bound, self.time) {
            _ if !loom => {}
            (Some(bound), _) => parts.push(format!("loom preemption bounds 1..={bound}")),
            (None, Some(_)) => parts.push(format!("loom preemption bounds 1..={TIME_MODE_PREEMPTION_BOUND}")),
            _ => {}
        }
        if let Some(scheduler) = &self.scheduler {
            parts.push(format!("shuttle scheduler {scheduler}"));
        }
        if let Some(depth) = self.pct_depth {
            parts.push(format!("PCT depth {depth}"));
        }
        if let Some(seed) = self.seed {
            parts.push(format!("seed {seed}"));
        }
        if backends.contains(&Backend::Std) {
            parts.push(format!("std mutants hang after {}", human_duration(self.std_run_timeout)));
        }
        parts.join("; ")
    }
}

/// Each test's share of the time budget: the budget spread over the tests, `jobs` at a
/// time. A test that finishes early (loom exhausting its bounds, a mutant caught at once)
/// leaves its time unspent: the budget is an upper bound on the tests' time, not a target.
pub fn time_share(left: Duration, jobs: usize, tests_left: usize) -> Duration {
    let share = left.mul_f64(jobs.max(1) as f64 / tests_left.max(1) as f64);
    share.clamp(MIN_SHARE, left.max(MIN_SHARE))
}

fn inherited(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// Seconds as the harness reads them.
pub fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}")
    } else {
        format!("{secs:.2}")
    }
}

/// The longest duration the harness takes (racekit's `model::settings::LONGEST_DURATION`,
/// about 31 years): a longer one would reach every test as a setting it refuses.
pub const LONGEST_DURATION: Duration = Duration::from_secs(1_000_000_000);

/// Parses a positive duration (`90s`, `10m`, `1h 30m`, `2.5s` or a plain number of
/// seconds) with humantime; zero, negative, unitless-garbage and longer than
/// [`LONGEST_DURATION`] durations are refused.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    if text.starts_with('-') {
        bail!("{text:?}: a duration must be positive, such as 90s, 10m or 1h30m");
    }
    let duration = match text.parse::<f64>() {
        // Converted without panicking: a finite number of seconds can still be too long for a Duration.
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX),
        Ok(_) => bail!("{text:?} is not a duration: use 90s, 10m or 1h30m"),
        Err(_) => humantime::parse_duration(text)
            .map_err(|error| anyhow::anyhow!("{text:?} is not a duration ({error}): use 90s, 10m or 1h30m"))?,
    };
    if duration.is_zero() {
        bail!("{text:?}: a zero duration explores nothing; give a positive one, such as 90s or 10m");
    }
    if duration > LONGEST_DURATION {
        bail!("{text:?} is too long: give at most 1000000000 seconds (about 31 years), such as 90s or 10m");
    }
    Ok(duration)
}

/// A count that must be at least 1 and fit the 32 bits the harness reads it into
/// (`--preemption-bound`, `--pct-depth`, `--proptest-cases`): a larger one is refused
/// rather than truncated.
pub fn parse_positive_u32(text: &str) -> Result<u32> {
    let count = parse_positive(text)?;
    u32::try_from(count).map_err(|_| anyhow::anyhow!("{count} is too large: give at most {}", u32::MAX))
}

/// A count that must be at least 1 (`--iterations`, `--jobs`).
pub fn parse_positive(text: &str) -> Result<u64> {
    match text.trim().parse::<u64>() {
        Ok(0) => bail!("0 would explore nothing and pass vacuously: use at least 1"),
        Ok(n) => Ok(n),
        Err(_) => bail!("{text:?} is not a whole number of at least 1"),
    }
}

/// A duration for people, to the millisecond: `2m 5s`, `1s 500ms`.
pub fn human_duration(duration: Duration) -> String {
    humantime::format_duration(Duration::from_millis(duration.as_millis() as u64)).to_string()
}

/// Seconds for people: `<1 ms`, `0.031 s`, `2.4 s`, `1m 05s`, `1h 02m`.
pub fn human_seconds(secs: f64) -> String {
    if secs < 0.0005 {
        "<1 ms".to_owned()
    } else if secs < 0.1 {
        format!("{secs:.3} s")
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        let whole = secs.round() as u64;
        format!("{}m {:02}s", whole / 60, whole % 60)
    } else {
        let whole = secs.round() as u64;
        format!("{}h {:02}m", whole / 3600, (whole % 3600) / 60)
    }
}

/// `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_impossible_ones_are_refused() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        for bad in ["", "m", "10x", "0", "0s", "-3", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("-5m").unwrap_err().to_string().contains("must be positive"));
        assert_eq!(parse_positive("3").unwrap(), 3);
        assert!(parse_positive("0").unwrap_err().to_string().contains("vacuously"));
    }

    #[test]
    fn each_backend_gets_only_its_variables() {
        let budget = Budget {
            time: Some(Duration::from_secs(60)),
            std_run_timeout: Duration::from_secs(2),
            ..Budget::default()
        };
        let names = |backend, mutant| -> Vec<String> {
            budget
                .env(backend, mutant, Some(Duration::from_millis(1500)))
                .into_iter()
                .filter(|(name, _)| !name.starts_with("PROPTEST") && std::env::var_os(name).is_none())
                .map(|(name, value)| format!("{name}={value}"))
                .collect()
        };
        assert_eq!(names(Backend::Loom, false), ["LOOM_MAX_PREEMPTIONS=3", "RACEKIT_TIME_BUDGET=1.50"]);
        assert_eq!(names(Backend::Shuttle, true), ["RACEKIT_ITERATIONS=1000000000", "RACEKIT_TIME_BUDGET=1.50"]);
        assert_eq!(
            names(Backend::Std, true),
            ["RACEKIT_ITERATIONS=1000000000", "RACEKIT_STD_RUN_TIMEOUT=2", "RACEKIT_TIME_BUDGET=1.50"]
        );
    }

    #[test]
    fn time_shares_spread_what_is_left() {
        assert_eq!(time_share(Duration::from_secs(100), 2, 50), Duration::from_secs(4));
        assert_eq!(time_share(Duration::ZERO, 2, 50), MIN_SHARE);
        assert_eq!(time_share(Duration::from_secs(10), 4, 1), Duration::from_secs(10));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(human_seconds(65.0), "1m 05s");
        assert_eq!(human_seconds(0.0314), "0.031 s");
        assert_eq!(human_seconds(0.0001), "<1 ms");
    }
}
