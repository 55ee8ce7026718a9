//! What the job found: one [`Row`] per test and backend, the harness's JSON lines inside
//! it, and the verdicts derived from both.
//!
//! A row's [`Outcome`] is what the test process did (libtest's exit status, or the job
//! killing it). Its [`Verdict`] reads that outcome in the test's light: a mutant test that
//! passes means the checker *caught* the mutant; one that fails means the mutant *escaped*.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A build of the crate: real threads, or one of the two model checkers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// loom: bounded exhaustive exploration at increasing preemption bounds.
    Loom,
    /// shuttle: the random and PCT scheduler portfolio.
    Shuttle,
    /// Real threads: the models run many times, and the stress suites.
    Std,
}

impl Backend {
    /// Every backend, in the order the job runs and reports them.
    pub const ALL: [Backend; 3] = [Backend::Loom, Backend::Shuttle, Backend::Std];

    /// The name racekit and its reports use.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Loom => "loom",
            Backend::Shuttle => "shuttle",
            Backend::Std => "std",
        }
    }

    /// The cfg flag that selects this backend (none for std).
    pub fn cfg_flag(self) -> Option<&'static str> {
        match self {
            Backend::Loom => Some("--cfg racekit_loom"),
            Backend::Shuttle => Some("--cfg racekit_shuttle"),
            Backend::Std => None,
        }
    }

    /// The `RUSTFLAGS` this backend builds with: the user's own (`user`) plus its cfg
    /// flag; `None` when there are none at all.
    pub fn rustflags(self, user: Option<&str>) -> Option<String> {
        let user = user.map(str::trim).filter(|flags| !flags.is_empty());
        match (user, self.cfg_flag()) {
            (Some(user), Some(flag)) => Some(format!("{user} {flag}")),
            (None, Some(flag)) => Some(flag.to_owned()),
            (Some(user), None) => Some(user.to_owned()),
            (None, None) => None,
        }
    }

    /// The folder under the base target directory this backend builds in (as the CI
    /// scripts do), so that switching backends never rebuilds another's artifacts.
    pub fn target_subdir(self) -> Option<&'static str> {
        match self {
            Backend::Loom => Some("loom"),
            Backend::Shuttle => Some("shuttle"),
            Backend::Std => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One phase of a check, as the harness reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Phase {
    pub label: String,
    pub schedules: u64,
    pub elapsed: f64,
    pub complete: bool,
}

/// A passing check, as the harness reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckReport {
    pub model: String,
    pub id: String,
    pub backend: String,
    pub schedules: u64,
    pub elapsed: f64,
    pub phases: Vec<Phase>,
    pub tasks_spawned: u64,
}

/// How to reproduce a failing check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Replay {
    pub token: String,
    pub command: String,
}

/// A failing check, as the harness reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckFailure {
    pub model: String,
    pub id: String,
    pub backend: String,
    pub kind: String,
    pub message: String,
    pub phase: String,
    pub schedules: u64,
    pub elapsed: f64,
    pub replay: Replay,
    pub replayed: bool,
}

/// One line of `RACEKIT_REPORT_FILE`: one `check` or `Model::run`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckLine {
    pub test: Option<String>,
    pub binary: Option<String>,
    pub verdict: String,
    pub report: Option<CheckReport>,
    pub failure: Option<CheckFailure>,
}

impl CheckLine {
    /// Schedules this check explored (up to and including the failing one).
    pub fn schedules(&self) -> u64 {
        match (&self.report, &self.failure) {
            (Some(report), _) => report.schedules,
            (None, Some(failure)) => failure.schedules,
            (None, None) => 0,
        }
    }

    /// Whether any phase was cut short by the time budget.
    pub fn cut_short(&self) -> bool {
        self.report.as_ref().is_some_and(|report| report.phases.iter().any(|phase| !phase.complete))
    }
}

/// One outcome histogram of a litmus test (`racekit::litmus`): a report-file line with
/// `"record": "histogram"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistogramLine {
    #[serde(default)]
    pub test: Option<String>,
    #[serde(default)]
    pub binary: Option<String>,
    pub histogram: Histogram,
}

/// Every outcome a litmus test saw, with its grade and how often.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub name: String,
    pub backend: String,
    pub verdict: String,
    pub runs: u64,
    pub outcomes: Vec<HistogramOutcome>,
}

/// One row of a [`Histogram`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistogramOutcome {
    pub outcome: String,
    pub grade: String,
    pub count: u64,
    pub meaning: String,
}

/// The JSON lines of a report file that are records of `kind` (`None`: check lines, which
/// carry no `record` field), skipping any that are not JSON (a process killed mid-write
/// leaves a partial last line).
fn records<'a>(text: &'a str, kind: Option<&'a str>) -> impl Iterator<Item = serde_json::Value> + 'a {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(move |value| value.get("record").and_then(|record| record.as_str()) == kind)
}

/// The check lines of a report file.
pub fn parse_check_lines(text: &str) -> Vec<CheckLine> {
    records(text, None).filter_map(|value| serde_json::from_value(value).ok()).collect()
}

/// The outcome histograms of a report file.
pub fn parse_histogram_lines(text: &str) -> Vec<HistogramLine> {
    records(text, Some("histogram")).filter_map(|value| serde_json::from_value(value).ok()).collect()
}

/// What the test process did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// libtest ran the test and it passed.
    Passed,
    /// libtest ran the test and it failed.
    Failed,
    /// nextest killed it at the per-test timeout.
    TimedOut,
    /// It died (a signal, an abort) or exited without libtest's verdict.
    Crashed,
    /// Ctrl-C or SIGTERM stopped the job while it ran.
    Interrupted,
    /// It was never started (the job was interrupted first).
    NotRun,
}

/// One test run under one backend.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    pub backend: Backend,
    /// nextest's binary id: `shop::job_proof` (an integration test target), `shop` (the
    /// library's unit tests).
    pub binary: String,
    /// The package, and the cargo target kind (`lib`, `test`, `bin`, ...) and name, for the
    /// reproduce commands.
    #[serde(default)]
    pub package: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub target: String,
    /// libtest's full test name, such as `queue::mutants::a_close_that_wakes_nobody_is_caught`.
    pub test: String,
    /// The pattern: the first segment of the test name.
    pub pattern: String,
    /// A mutant test: it passes when the checker catches the mutant.
    pub mutant: bool,
    /// `#[ignore]`d in this build: `cargo test` does not run it (the job does).
    pub ignored: bool,
    /// `i/n` when the job ran one partition.
    #[serde(default)]
    pub partition: Option<String>,
    /// When the test started (RFC 3339, from nextest).
    #[serde(default)]
    pub started: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub outcome: Outcome,
    /// How the process ended, as nextest says: `test failure with exit code 101`, `test timeout`.
    #[serde(default)]
    pub exit: String,
    /// Wall-clock seconds of the test process.
    pub elapsed: f64,
    /// Schedules (loom executions, shuttle schedules, std runs) across the test's checks.
    pub schedules: u64,
    /// The environment the job gave the test (budgets, seed).
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// The harness's JSON lines, one per check the test ran.
    #[serde(default)]
    pub checks: Vec<CheckLine>,
    /// Why it failed: the failing check's message, or the tail of the test's output.
    #[serde(default)]
    pub message: Option<String>,
    /// The command that replays the failing schedule (from the harness), when there is one.
    #[serde(default)]
    pub replay: Option<String>,
    /// The command that reruns this test with the same environment.
    pub rerun: String,
    /// The test's output (from nextest), kept when the test failed.
    #[serde(default)]
    pub log: Option<String>,
}

/// When and how a mutant was caught.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub schedules: u64,
    pub elapsed: f64,
    pub phase: String,
    pub kind: String,
}

/// A row read in the light of its test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Pass,
    Caught,
    NotRun,
    Interrupted,
    Escaped,
    Timeout,
    Crash,
    Fail,
}

impl Verdict {
    /// The word the tables show.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Caught => "caught",
            Verdict::NotRun => "not run",
            Verdict::Interrupted => "interrupted",
            Verdict::Escaped => "escaped",
            Verdict::Timeout => "TIMEOUT",
            Verdict::Crash => "CRASH",
            Verdict::Fail => "FAIL",
        }
    }
}

impl Row {
    /// The verdict: what the outcome means for this test.
    pub fn verdict(&self) -> Verdict {
        match (self.outcome, self.mutant) {
            (Outcome::Passed, false) => Verdict::Pass,
            (Outcome::Passed, true) => Verdict::Caught,
            (Outcome::Failed, false) => Verdict::Fail,
            (Outcome::Failed, true) => Verdict::Escaped,
            (Outcome::TimedOut, _) => Verdict::Timeout,
            (Outcome::Crashed, _) => Verdict::Crash,
            (Outcome::Interrupted, _) => Verdict::Interrupted,
            (Outcome::NotRun, _) => Verdict::NotRun,
        }
    }

    /// For a caught mutant: the first failing check, which is the detection.
    pub fn detection(&self) -> Option<Detection> {
        if self.verdict() != Verdict::Caught {
            return None;
        }
        let failure = self.checks.iter().filter_map(|line| line.failure.as_ref()).find(|failure| !failure.replayed);
        Some(match failure {
            Some(failure) => Detection {
                schedules: failure.schedules,
                elapsed: failure.elapsed,
                phase: failure.phase.clone(),
                kind: failure.kind.clone(),
            },
            // Caught by an assertion outside any check (a stress suite's probe): the whole
            // test is the detection.
            None => Detection {
                schedules: self.schedules,
                elapsed: self.elapsed,
                phase: String::new(),
                kind: "assertion".into(),
            },
        })
    }

    /// Whether any check of the test stopped early at its time budget.
    pub fn cut_short(&self) -> bool {
        self.checks.iter().any(CheckLine::cut_short)
    }

    /// The command to show for this row: the exact replay when the harness gave one,
    /// otherwise the rerun.
    pub fn reproduce(&self) -> &str {
        self.replay.as_deref().unwrap_or(&self.rerun)
    }

    /// Whether this row on its own makes the job fail (mutant escapes are judged across
    /// backends by [`escaped_mutants`]).
    pub fn is_failure(&self) -> bool {
        match self.verdict() {
            Verdict::Fail | Verdict::Crash => true,
            Verdict::Timeout => !self.mutant,
            _ => false,
        }
    }

    /// A key grouping the rows of one test across backends.
    pub fn test_key(&self) -> (String, String) {
        (self.binary.clone(), self.test.clone())
    }
}

/// The mutants no counted row caught: a mutant counts where `cargo test` runs it (not
/// `#[ignore]`d in that build); racekit's model mutants are ignored on real threads, where
/// a race is found only by chance, so an escape there is information, not a failure.
pub fn escaped_mutants(rows: &[Row]) -> Vec<(String, String)> {
    let mut by_test: BTreeMap<(String, String), Vec<&Row>> = BTreeMap::new();
    for row in rows.iter().filter(|row| row.mutant && !row.ignored) {
        by_test.entry(row.test_key()).or_default().push(row);
    }
    by_test
        .into_iter()
        .filter(|(_, rows)| {
            let concluded: Vec<_> =
                rows.iter().filter(|row| !matches!(row.verdict(), Verdict::NotRun | Verdict::Interrupted)).collect();
            !concluded.is_empty() && concluded.iter().all(|row| row.verdict() != Verdict::Caught)
        })
        .map(|(key, _)| key)
        .collect()
}

/// A mutant test, in any crate: in a `mutants` module and named `<what is wrong>_is_caught`
/// (or `_are_caught`). It passes only when the checker finds the bug. Other tests there (a
/// scaffold's soundness check) are models.
pub fn is_mutant_test(name: &str) -> bool {
    let mut segments = name.split("::");
    let last = name.rsplit("::").next().unwrap_or(name);
    segments.any(|segment| segment == "mutants") && (last.ends_with("_is_caught") || last.ends_with("_are_caught"))
}

/// The group a test belongs to in the tables: the first segment of its path.
pub fn pattern_of(name: &str) -> String {
    name.split("::").next().unwrap_or(name).to_owned()
}

/// The rows of one test and backend (one, or several when reports of repeated runs are
/// merged) read as one.
#[derive(Clone, Debug)]
pub struct Cell {
    pub verdict: Verdict,
    pub schedules: u64,
    pub elapsed: f64,
    /// The fastest detection among the rows, for a caught mutant.
    pub detection: Option<Detection>,
    pub cut_short: bool,
}

impl Cell {
    /// Combines the rows: the worst verdict, except that a mutant caught by any run is
    /// caught; schedules and time add up.
    pub fn of(rows: &[&Row]) -> Cell {
        let detection = rows.iter().filter_map(|row| row.detection()).min_by_key(|d| d.schedules);
        let verdict = if detection.is_some() {
            Verdict::Caught
        } else {
            rows.iter().map(|row| row.verdict()).max().unwrap_or(Verdict::NotRun)
        };
        Cell {
            verdict,
            schedules: rows.iter().map(|row| row.schedules).sum(),
            elapsed: rows.iter().map(|row| row.elapsed).sum(),
            detection,
            cut_short: rows.iter().any(|row| row.cut_short()),
        }
    }
}

/// The rows grouped by test (in name order) and backend.
pub fn grid(rows: &[Row]) -> BTreeMap<(String, String), BTreeMap<Backend, Vec<&Row>>> {
    let mut grid: BTreeMap<(String, String), BTreeMap<Backend, Vec<&Row>>> = BTreeMap::new();
    for row in rows {
        grid.entry(row.test_key()).or_default().entry(row.backend).or_default().push(row);
    }
    grid
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn row(backend: Backend, test: &str, outcome: Outcome, ignored: bool) -> Row {
        Row {
            backend,
            binary: "racekit::models".into(),
            package: "racekit".into(),
            kind: "test".into(),
            target: "models".into(),
            test: test.into(),
            pattern: pattern_of(test),
            mutant: is_mutant_test(test),
            ignored,
            partition: None,
            started: None,
            outcome,
            exit: String::new(),
            elapsed: 1.0,
            schedules: 10,
            env: Vec::new(),
            checks: Vec::new(),
            message: None,
            replay: None,
            rerun: "cargo test".into(),
            log: None,
        }
    }

    #[test]
    fn mutant_tests_are_recognised_by_module_and_name() {
        assert!(is_mutant_test("queue::mutants::a_close_that_wakes_nobody_is_caught"));
        assert!(is_mutant_test("retry::schedule_properties::mutants::jitter_outside_the_band_is_caught"));
        assert!(is_mutant_test("log_store::mutants::counters_updated_outside_the_lock_are_caught"));
        assert!(!is_mutant_test("pool::mutants::the_mutant_scaffold_is_sound_without_a_bug"));
        assert!(!is_mutant_test("queue::a_lost_wakeup_is_caught"));
        assert_eq!(pattern_of("retry::threads::x"), "retry");
    }

    #[test]
    fn a_mutant_escaping_only_where_cargo_test_ignores_it_is_not_a_failure() {
        let name = "queue::mutants::x_is_caught";
        let rows = vec![
            row(Backend::Loom, name, Outcome::Passed, false),
            row(Backend::Shuttle, name, Outcome::Failed, false),
            row(Backend::Std, name, Outcome::Failed, true),
        ];
        assert!(escaped_mutants(&rows).is_empty());
        let rows =
            vec![row(Backend::Shuttle, name, Outcome::Failed, false), row(Backend::Std, name, Outcome::Passed, true)];
        assert_eq!(escaped_mutants(&rows), [("racekit::models".to_owned(), name.to_owned())]);
    }

    #[test]
    fn verdicts_read_outcomes_in_the_light_of_the_test() {
        assert_eq!(row(Backend::Loom, "q::mutants::x_is_caught", Outcome::Passed, false).verdict(), Verdict::Caught);
        assert_eq!(row(Backend::Loom, "q::a_model", Outcome::Failed, false).verdict(), Verdict::Fail);
        assert!(row(Backend::Loom, "q::a_model", Outcome::Crashed, false).is_failure());
        assert!(!row(Backend::Std, "q::mutants::x_is_caught", Outcome::TimedOut, true).is_failure());
    }

    #[test]
    fn check_lines_parse_and_partial_lines_are_skipped() {
        let text = concat!(
            r#"{"test":"harness::x","binary":"models-1","verdict":"failed","report":null,"failure":{"model":"m","id":"i","backend":"shuttle","kind":"panic","message":"lost","phase":"p","schedules":4,"elapsed":0.5,"replay":{"token":"t","command":"c"},"replayed":false}}"#,
            "\n",
            r#"{"test":"harness::x","verdict":"passed","report":{"model":"m","schedules":7,"elapsed":0.1,"phases":[{"label":"l","schedules":7,"elapsed":0.1,"complete":false}]},"failure":null}"#,
            "\n{\"test\": \"trunc"
        );
        let lines = parse_check_lines(text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].schedules(), 4);
        assert_eq!(lines[0].failure.as_ref().unwrap().replay.command, "c");
        assert!(lines[1].cut_short());
    }

    #[test]
    fn a_cell_of_shards_is_caught_when_any_shard_caught() {
        let name = "q::mutants::x_is_caught";
        let caught = row(Backend::Shuttle, name, Outcome::Passed, false);
        let escaped = row(Backend::Shuttle, name, Outcome::Failed, false);
        let cell = Cell::of(&[&escaped, &caught]);
        assert_eq!(cell.verdict, Verdict::Caught);
        assert_eq!(cell.schedules, 20);
        let model = row(Backend::Shuttle, "q::m", Outcome::Passed, false);
        let failed = row(Backend::Shuttle, "q::m", Outcome::Failed, false);
        assert_eq!(Cell::of(&[&model, &failed]).verdict, Verdict::Fail);
    }
}
