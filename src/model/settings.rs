//! Budgets and scheduler choices, from the environment and the [`Model`](super::Model)
//! builder.
//!
//! Precedence: an environment variable, when set, wins over the builder (the builder holds
//! the model's CI-scale default; the environment is how a long model-checking job raises
//! every model's budget at once), and the builder wins over racekit's defaults.

use std::time::Duration;
use thiserror::Error;

/// Default number of schedules (shuttle, split across the portfolio) or runs (std).
pub const DEFAULT_SHUTTLE_ITERATIONS: usize = 2_000;
/// Default number of runs of the body on real threads.
pub const DEFAULT_STD_ITERATIONS: usize = 200;
/// Default largest loom preemption bound (bounds 1..=this are explored in turn).
pub const DEFAULT_PREEMPTION_BOUND: usize = 2;
/// Default PCT bug depth.
pub const DEFAULT_PCT_DEPTH: usize = 3;
/// Default seed: fixed, so `cargo test` is reproducible; set `RACEKIT_SEED` to explore more.
pub const DEFAULT_SEED: u64 = 0x5eed;
/// Default limit on one run of the body on real threads before it is reported as hung.
pub const DEFAULT_STD_RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// loom's time budget when none is set: past it, exploration stops and the report says the
/// bound was not explored fully (instead of a large model running without a verdict).
pub const DEFAULT_LOOM_TIME_BUDGET: Duration = Duration::from_secs(60);

/// The longest time budget or run timeout racekit uses, about 31 years: a longer
/// environment value is refused (naming its variable), and a longer builder value
/// ([`Model::time_budget`](super::Model::time_budget), `Duration::MAX` included) means no
/// limit, so no duration can overflow the clock.
pub const LONGEST_DURATION: Duration = Duration::from_secs(1_000_000_000);

/// The environment variables racekit reads, with what each means.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "LOOM_MAX_PREEMPTIONS",
        "loom: largest preemption bound; bounds 1, 2, ... up to it are explored in turn (default 2)",
    ),
    (
        "RACEKIT_ITERATIONS",
        "shuttle: schedules per model, split across the portfolio (default 2000); std: runs of the body (default 200)",
    ),
    ("RACEKIT_SCHEDULER", "shuttle: portfolio | pct | random (default portfolio: random and PCT, several seeds)"),
    ("RACEKIT_PCT_DEPTH", "shuttle: PCT bug depth (default 3)"),
    ("RACEKIT_SEED", "shuttle and std: base seed, a number or `random` (default 24301)"),
    (
        "RACEKIT_TIME_BUDGET",
        "all backends: wall-clock seconds per model; exploration stops early when reached (default none; loom 60). \
         Set here, it is a deep budget: loom raises its bound past LOOM_MAX_PREEMPTIONS and shuttle runs the \
         escalation plan while time is left",
    ),
    ("RACEKIT_STD_RUN_TIMEOUT", "std: seconds one run of the body may take before it is reported as hung (default 60)"),
    ("RACEKIT_REPLAY", "replay one failure: the token printed in the failure's reproduce command"),
    (
        "RACEKIT_REPORT_FILE",
        "append one JSON line per check (verdict, schedules, time, reproduce command) to this file",
    ),
    ("LOOM_MAX_BRANCHES", "loom: branches per execution before it is reported as a livelock (loom's default 1000)"),
    ("LOOM_MAX_PERMUTATIONS", "loom: executions per preemption bound before exploration stops (default unlimited)"),
];

/// The schedulers shuttle runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchedulerChoice {
    /// Random and PCT schedulers with several seeds, one after another (the default).
    Portfolio,
    /// Probabilistic concurrency testing: finds bugs of small depth with a known probability.
    Pct,
    /// Uniformly random scheduling at every step.
    Random,
}

impl SchedulerChoice {
    fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "portfolio" => Some(SchedulerChoice::Portfolio),
            "pct" => Some(SchedulerChoice::Pct),
            "random" => Some(SchedulerChoice::Random),
            _ => None,
        }
    }
}

/// A setting that cannot be used, and how to fix it.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SettingsError {
    /// An environment variable holds something racekit cannot parse.
    #[error("{variable}={value:?} is not valid: expected {expected}")]
    InvalidEnvironment {
        /// The variable.
        variable: &'static str,
        /// What it held.
        value: String,
        /// What it should hold.
        expected: &'static str,
    },
    /// A budget of zero would run nothing and pass vacuously.
    #[error("{what} is 0: a check that runs its body zero times proves nothing; use at least 1")]
    ZeroBudget {
        /// Which budget.
        what: &'static str,
    },
    /// A PCT depth of zero is meaningless (depth 1 already means "no preemption").
    #[error("the PCT depth is 0: use a depth of at least 1 (3 finds most bugs of two or three ordering constraints)")]
    ZeroPctDepth,
}

/// Everything one check needs to run, resolved from the environment and the builder.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Largest loom preemption bound.
    pub preemption_bound: usize,
    /// Schedules (shuttle) or runs (std).
    pub iterations: usize,
    /// Shuttle scheduler.
    pub scheduler: SchedulerChoice,
    /// PCT depth.
    pub pct_depth: usize,
    /// Base seed.
    pub seed: u64,
    /// Wall-clock cap for the whole check.
    pub time_budget: Option<Duration>,
    /// Limit on one std run.
    pub std_run_timeout: Duration,
    /// A replay token, when replaying.
    pub replay: Option<String>,
    /// Where to append the JSON report line.
    pub report_file: Option<std::path::PathBuf>,
    /// The time budget came from `RACEKIT_TIME_BUDGET`, the deep budget of a
    /// model-checking job: loom raises its bound past the largest while time is left, and
    /// the shuttle portfolio follows its escalation plan (random, PCT at depths 1-4 and
    /// uniform random walk, in rounds of growing schedule counts).
    pub escalate: bool,
}

/// What the builder asked for; `None` falls back to the defaults.
#[derive(Clone, Debug, Default)]
pub(crate) struct Requested {
    pub preemption_bound: Option<usize>,
    pub iterations: Option<usize>,
    pub scheduler: Option<SchedulerChoice>,
    pub pct_depth: Option<usize>,
    pub seed: Option<u64>,
    pub time_budget: Option<Duration>,
    pub std_run_timeout: Option<Duration>,
}

/// Where settings come from: the process environment, or a fixed table in tests.
type Lookup<'a> = &'a dyn Fn(&'static str) -> Option<String>;

/// A value that is not Unicode is passed on lossily, so its parser refuses it by name
/// instead of the variable being ignored as if unset.
fn process_environment(name: &'static str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

fn parse_number(var: Lookup<'_>, name: &'static str, expected: &'static str) -> Result<Option<u64>, SettingsError> {
    match var(name) {
        None => Ok(None),
        Some(value) => value.trim().parse::<u64>().map(Some).map_err(|_| SettingsError::InvalidEnvironment {
            variable: name,
            value,
            expected,
        }),
    }
}

/// The number of scenarios a proptest-driven check runs: `PROPTEST_CASES` (proptest's own
/// variable) when set, else `default`. A value that is not a whole number from 1 to
/// `u32::MAX` is an error naming the variable, never a silent fall-back to the default.
pub(crate) fn scenario_cases(default: u32) -> Result<u32, SettingsError> {
    const EXPECTED: &str = "a whole number of scenarios from 1 to 4294967295";
    match parse_number(&process_environment, super::scenario::CASES_VARIABLE, EXPECTED)? {
        None => Ok(default),
        Some(0) => Err(SettingsError::ZeroBudget { what: super::scenario::CASES_VARIABLE }),
        Some(cases) => u32::try_from(cases).map_err(|_| SettingsError::InvalidEnvironment {
            variable: super::scenario::CASES_VARIABLE,
            value: cases.to_string(),
            expected: EXPECTED,
        }),
    }
}

/// A positive number of seconds, at most [`LONGEST_DURATION`]; anything else, however
/// large or malformed, is an error naming the variable.
fn parse_seconds(var: Lookup<'_>, name: &'static str) -> Result<Option<Duration>, SettingsError> {
    match var(name) {
        None => Ok(None),
        Some(value) => match value.trim().parse::<f64>().ok().and_then(|secs| Duration::try_from_secs_f64(secs).ok()) {
            Some(duration) if !duration.is_zero() && duration <= LONGEST_DURATION => Ok(Some(duration)),
            _ => Err(SettingsError::InvalidEnvironment {
                variable: name,
                value,
                expected: "a positive number of seconds up to 1000000000 (about 31 years), such as 30 or 0.5",
            }),
        },
    }
}

/// A builder's duration, with anything beyond [`LONGEST_DURATION`] meaning no limit.
fn within_longest(duration: Option<Duration>) -> Option<Duration> {
    duration.filter(|duration| *duration <= LONGEST_DURATION)
}

impl Settings {
    /// Resolves the settings for the current backend.
    pub(crate) fn resolve(requested: &Requested) -> Result<Settings, SettingsError> {
        Settings::resolve_with(requested, &process_environment)
    }

    /// Resolves against `lookup` instead of the process environment.
    fn resolve_with(requested: &Requested, lookup: Lookup<'_>) -> Result<Settings, SettingsError> {
        let non_empty = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let var: Lookup<'_> = &non_empty;
        let preemption_bound = parse_number(var, "LOOM_MAX_PREEMPTIONS", "a preemption bound such as 2")?
            .map(|n| n as usize)
            .or(requested.preemption_bound)
            .unwrap_or(DEFAULT_PREEMPTION_BOUND);
        let default_iterations = if crate::sync::Backend::CURRENT == crate::sync::Backend::Std {
            DEFAULT_STD_ITERATIONS
        } else {
            DEFAULT_SHUTTLE_ITERATIONS
        };
        let iterations = parse_number(var, "RACEKIT_ITERATIONS", "a number of schedules such as 2000")?
            .map(|n| n as usize)
            .or(requested.iterations)
            .unwrap_or(default_iterations);
        if iterations == 0 {
            return Err(SettingsError::ZeroBudget { what: "the number of iterations" });
        }
        let scheduler = match var("RACEKIT_SCHEDULER") {
            Some(value) => SchedulerChoice::parse(&value).ok_or(SettingsError::InvalidEnvironment {
                variable: "RACEKIT_SCHEDULER",
                value,
                expected: "portfolio, pct or random",
            })?,
            None => requested.scheduler.unwrap_or(SchedulerChoice::Portfolio),
        };
        let pct_depth = parse_number(var, "RACEKIT_PCT_DEPTH", "a PCT depth such as 3")?
            .map(|n| n as usize)
            .or(requested.pct_depth)
            .unwrap_or(DEFAULT_PCT_DEPTH);
        if pct_depth == 0 {
            return Err(SettingsError::ZeroPctDepth);
        }
        let seed = match var("RACEKIT_SEED") {
            Some(value) if value.trim().eq_ignore_ascii_case("random") => fastrand::u64(..),
            Some(value) => value.trim().parse::<u64>().map_err(|_| SettingsError::InvalidEnvironment {
                variable: "RACEKIT_SEED",
                value,
                expected: "a number, or `random`",
            })?,
            None => requested.seed.unwrap_or(DEFAULT_SEED),
        };
        let time_budget = parse_seconds(var, "RACEKIT_TIME_BUDGET")?.or(within_longest(requested.time_budget));
        let std_run_timeout = parse_seconds(var, "RACEKIT_STD_RUN_TIMEOUT")?
            .or(requested.std_run_timeout.map(|timeout| timeout.min(LONGEST_DURATION)))
            .unwrap_or(DEFAULT_STD_RUN_TIMEOUT);
        if std_run_timeout.is_zero() {
            // Every run would be reported as hung before its body could start.
            return Err(SettingsError::ZeroBudget { what: "the std run timeout" });
        }
        Ok(Settings {
            preemption_bound,
            iterations,
            scheduler,
            pct_depth,
            seed,
            time_budget,
            std_run_timeout,
            replay: var("RACEKIT_REPLAY"),
            report_file: report_file(var("RACEKIT_REPORT_FILE"))?,
            escalate: var("RACEKIT_TIME_BUDGET").is_some(),
        })
    }
}

/// `RACEKIT_REPORT_FILE`, refused when its directory does not exist: every line written to
/// it would otherwise be lost.
fn report_file(value: Option<String>) -> Result<Option<std::path::PathBuf>, SettingsError> {
    let Some(value) = value else { return Ok(None) };
    let path = std::path::PathBuf::from(&value);
    let directory = path.parent().filter(|parent| !parent.as_os_str().is_empty());
    if value.is_empty() || directory.is_some_and(|directory| !directory.is_dir()) {
        return Err(SettingsError::InvalidEnvironment {
            variable: "RACEKIT_REPORT_FILE",
            value,
            expected: "a file in an existing directory (create the directory, or unset the variable)",
        });
    }
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(requested: &Requested, environment: &[(&'static str, &str)]) -> Result<Settings, SettingsError> {
        let lookup = |name: &'static str| environment.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned());
        Settings::resolve_with(requested, &lookup)
    }

    #[test]
    fn a_zero_budget_is_refused_with_what_to_do() {
        let error = resolve(&Requested { iterations: Some(0), ..Requested::default() }, &[]).unwrap_err();
        assert_eq!(error, SettingsError::ZeroBudget { what: "the number of iterations" });
        assert!(error.to_string().contains("use at least 1"), "{error}");
        let error = resolve(&Requested { pct_depth: Some(0), ..Requested::default() }, &[]).unwrap_err();
        assert!(error.to_string().contains("depth of at least 1"), "{error}");
    }

    #[test]
    fn invalid_environment_values_name_the_variable_and_what_it_takes() {
        let error = resolve(&Requested::default(), &[("RACEKIT_SCHEDULER", "fifo")]).unwrap_err();
        assert!(
            error.to_string().contains("RACEKIT_SCHEDULER=\"fifo\"")
                && error.to_string().contains("portfolio, pct or random"),
            "{error}"
        );
        let error = resolve(&Requested::default(), &[("RACEKIT_TIME_BUDGET", "-3")]).unwrap_err();
        assert!(error.to_string().contains("positive number of seconds"), "{error}");
        let error = resolve(&Requested::default(), &[("LOOM_MAX_PREEMPTIONS", "two")]).unwrap_err();
        assert!(error.to_string().contains("LOOM_MAX_PREEMPTIONS"), "{error}");
    }

    #[test]
    fn durations_of_any_size_are_refused_by_name_or_mean_no_limit() {
        for (variable, value) in [
            ("RACEKIT_TIME_BUDGET", "1e30"),
            ("RACEKIT_TIME_BUDGET", "1e19"),
            ("RACEKIT_TIME_BUDGET", "inf"),
            ("RACEKIT_TIME_BUDGET", "NaN"),
            ("RACEKIT_TIME_BUDGET", "0"),
            ("RACEKIT_TIME_BUDGET", "1e-12"),
            ("RACEKIT_STD_RUN_TIMEOUT", "1e30"),
            ("RACEKIT_STD_RUN_TIMEOUT", "-0.5"),
            ("RACEKIT_STD_RUN_TIMEOUT", "18446744073709551616"),
        ] {
            let error = resolve(&Requested::default(), &[(variable, value)]).unwrap_err();
            assert!(error.to_string().starts_with(&format!("{variable}=")), "{error}");
            assert!(error.to_string().contains("up to 1000000000"), "{error}");
        }
        let longest = resolve(&Requested::default(), &[("RACEKIT_TIME_BUDGET", "1e9")]).unwrap();
        assert_eq!(longest.time_budget, Some(LONGEST_DURATION));
        let forever = Requested {
            time_budget: Some(Duration::MAX),
            std_run_timeout: Some(Duration::MAX),
            ..Requested::default()
        };
        let settings = resolve(&forever, &[]).unwrap();
        assert_eq!((settings.time_budget, settings.std_run_timeout), (None, LONGEST_DURATION));
        for (variable, value) in [("RACEKIT_ITERATIONS", "1e19"), ("RACEKIT_PCT_DEPTH", "-1"), ("RACEKIT_SEED", "0x")] {
            let error = resolve(&Requested::default(), &[(variable, value)]).unwrap_err();
            assert!(error.to_string().starts_with(&format!("{variable}=")), "{error}");
        }
    }

    #[test]
    fn the_environment_wins_over_the_builder_and_the_builder_over_the_defaults() {
        let requested = Requested { iterations: Some(10), preemption_bound: Some(1), ..Requested::default() };
        let settings = resolve(&requested, &[("RACEKIT_ITERATIONS", "99")]).unwrap();
        assert_eq!((settings.iterations, settings.preemption_bound), (99, 1));
        let settings = resolve(&Requested::default(), &[("RACEKIT_SEED", " ")]).unwrap();
        assert_eq!(settings.seed, DEFAULT_SEED, "a blank variable counts as unset");
    }

    #[test]
    fn only_a_time_budget_from_the_environment_escalates() {
        let builder = Requested { time_budget: Some(Duration::from_secs(5)), ..Requested::default() };
        assert!(!resolve(&builder, &[]).unwrap().escalate, "a model's own time budget is a cap");
        assert!(resolve(&Requested::default(), &[("RACEKIT_TIME_BUDGET", "30")]).unwrap().escalate);
    }

    #[test]
    fn a_report_file_in_a_missing_directory_is_refused_naming_the_variable() {
        let missing = std::env::temp_dir().join("racekit-no-such-directory").join("checks.jsonl");
        let error = resolve(&Requested::default(), &[("RACEKIT_REPORT_FILE", missing.to_str().unwrap())]).unwrap_err();
        assert!(error.to_string().starts_with("RACEKIT_REPORT_FILE="), "{error}");
        assert!(error.to_string().contains("create the directory"), "{error}");
        let here = std::env::temp_dir().join("racekit-checks.jsonl");
        let settings = resolve(&Requested::default(), &[("RACEKIT_REPORT_FILE", here.to_str().unwrap())]).unwrap();
        assert_eq!(settings.report_file, Some(here));
        assert!(resolve(&Requested::default(), &[("RACEKIT_REPORT_FILE", "checks.jsonl")]).is_ok(), "a bare name");
    }
}
