//! The job's reports: the terminal summary, Markdown for people, JSON for tools (also the
//! input of `cargo racekit merge`), JUnit XML for CI test views.
//!
//! An interrupted run, or one whose build failed, never reads as green: every report says
//! so, and the JUnit file holds an error test case for it.

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset};
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::budget::{human_seconds, thousands};
use crate::results::{escaped_mutants, grid, Backend, Cell, HistogramLine, Row, Verdict};

/// Bumped when the JSON layout changes incompatibly.
pub const FORMAT_VERSION: u32 = 2;

/// A backend's build.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BuildRecord {
    pub backend: Backend,
    pub ok: bool,
    pub seconds: f64,
    #[serde(default)]
    pub error: Option<String>,
}

/// Everything one job (or several merged partitions) found: `job.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobReport {
    pub version: u32,
    /// When the job started and finished (RFC 3339, with the zone offset).
    pub started: DateTime<FixedOffset>,
    pub finished: DateTime<FixedOffset>,
    /// Wall-clock seconds, builds included (the longest partition's, when merged).
    pub elapsed: f64,
    pub budget: String,
    pub backends: Vec<Backend>,
    /// The nextest filtersets that selected the tests.
    pub filters: Vec<String>,
    /// The partitions this report holds (`1/4`, ...); empty for an unpartitioned run.
    pub partitions: Vec<String>,
    pub interrupted: bool,
    pub builds: Vec<BuildRecord>,
    pub rows: Vec<Row>,
    /// The outcome histograms litmus tests recorded.
    #[serde(default)]
    pub histograms: Vec<HistogramLine>,
}

/// What the job's exit status says.
#[derive(Debug, PartialEq, Eq)]
pub struct Judgement {
    /// Failing, crashed or timed-out models and crashed mutants.
    pub failures: Vec<String>,
    /// Mutants no counted backend caught.
    pub escaped: Vec<String>,
    pub broken_builds: Vec<Backend>,
}

impl Judgement {
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.escaped.is_empty() && self.broken_builds.is_empty()
    }
}

impl JobReport {
    pub fn judge(&self) -> Judgement {
        Judgement {
            failures: self
                .rows
                .iter()
                .filter(|row| row.is_failure())
                .map(|row| format!("{} {}", row.backend, row.test))
                .collect(),
            escaped: escaped_mutants(&self.rows).into_iter().map(|(_, test)| test).collect(),
            broken_builds: self.builds.iter().filter(|build| !build.ok).map(|build| build.backend).collect(),
        }
    }

    /// Reads `dir/job.json`.
    pub fn load(dir: &Path) -> Result<JobReport> {
        let path = dir.join("job.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let report: JobReport =
            serde_json::from_str(&text).with_context(|| format!("{} is not a job report", path.display()))?;
        anyhow::ensure!(
            report.version == FORMAT_VERSION,
            "{} has report format {} but this job reads {FORMAT_VERSION}: merge reports of the same racekit version",
            path.display(),
            report.version
        );
        Ok(report)
    }

    /// One report from the partitions' reports.
    pub fn merge(reports: Vec<JobReport>) -> JobReport {
        let now = chrono::Local::now().fixed_offset();
        let mut merged = JobReport {
            version: FORMAT_VERSION,
            started: reports.iter().map(|r| r.started).min().unwrap_or(now),
            finished: reports.iter().map(|r| r.finished).max().unwrap_or(now),
            elapsed: reports.iter().map(|r| r.elapsed).fold(0.0, f64::max),
            budget: unique(reports.iter().map(|r| r.budget.clone())).join(" | "),
            backends: unique(reports.iter().flat_map(|r| r.backends.clone())),
            filters: unique(reports.iter().flat_map(|r| r.filters.clone())),
            partitions: unique(reports.iter().flat_map(|r| r.partitions.clone())),
            interrupted: reports.iter().any(|r| r.interrupted),
            builds: Vec::new(),
            rows: Vec::new(),
            histograms: Vec::new(),
        };
        for report in reports {
            merged.builds.extend(report.builds);
            merged.rows.extend(report.rows);
            merged.histograms.extend(report.histograms);
        }
        merged
    }

    /// Writes `job.json`, `job.md` and `junit.xml` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let files = [
            (dir.join("job.json"), serde_json::to_string_pretty(self)?),
            (dir.join("job.md"), self.markdown()),
            (dir.join("junit.xml"), self.junit()?),
        ];
        let mut written = Vec::new();
        for (path, text) in files {
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            written.push(path);
        }
        Ok(written)
    }

    fn columns(&self) -> Vec<Backend> {
        let present: BTreeSet<Backend> =
            self.rows.iter().map(|row| row.backend).chain(self.backends.iter().copied()).collect();
        present.into_iter().collect()
    }

    /// The end-of-run summary for the terminal.
    pub fn summary(&self) -> String {
        let columns = self.columns();
        let mut table: Vec<Vec<String>> =
            vec![std::iter::once("model".to_owned()).chain(columns.iter().map(|b| b.name().to_owned())).collect()];
        for ((binary, test), cells) in grid(&self.rows) {
            let mut line = vec![test_label(&binary, &test)];
            line.extend(
                columns
                    .iter()
                    .map(|backend| cells.get(backend).map_or("-".to_owned(), |rows| cell_text(&Cell::of(rows)))),
            );
            table.push(line);
        }
        let mut out = String::new();
        let _ = writeln!(out, "\n{}", self.headline());
        out.push_str(&aligned(&table));
        out.push_str(&self.totals_text());
        let problems = self.problem_rows();
        if !problems.is_empty() {
            let _ = writeln!(out, "\nTo look at ({}):", problems.len());
            for row in problems {
                let _ = writeln!(out, "  {} {} {}", row.verdict().word(), row.backend, row.test);
                if let Some(message) = &row.message {
                    for line in message.lines().take(6) {
                        let _ = writeln!(out, "      {line}");
                    }
                }
                let _ = writeln!(out, "    reproduce: {}", row.reproduce());
                if row.replay.is_some() {
                    let _ = writeln!(out, "    rerun:     {}", row.rerun);
                }
                if let Some(log) = &row.log {
                    let _ = writeln!(out, "    log:       {log}");
                }
            }
        }
        for build in self.builds.iter().filter(|build| !build.ok) {
            let _ = writeln!(out, "\nThe {} build failed: {}", build.backend, build.error.as_deref().unwrap_or(""));
        }
        out
    }

    fn headline(&self) -> String {
        let tests = grid(&self.rows).len();
        let shards = if self.partitions.is_empty() {
            String::new()
        } else {
            format!(", partition(s) {}", self.partitions.join(", "))
        };
        format!(
            "racekit job: {} test(s) × {} backend(s) = {} run(s) in {}{}{}; budget: {}",
            tests,
            self.columns().len(),
            self.rows.len(),
            human_seconds(self.elapsed),
            shards,
            if self.interrupted { " (INTERRUPTED: partial results)" } else { "" },
            self.budget
        )
    }

    /// Per backend: models passed, mutants caught, schedules, time.
    fn totals(&self) -> Vec<(Backend, Totals)> {
        self.columns()
            .into_iter()
            .map(|backend| {
                let mut totals = Totals::default();
                for row in self.rows.iter().filter(|row| row.backend == backend) {
                    totals.schedules += row.schedules;
                    totals.seconds += row.elapsed;
                    match row.verdict() {
                        Verdict::Pass => totals.models_passed += 1,
                        Verdict::Caught => totals.mutants_caught += 1,
                        _ => {}
                    }
                    if row.mutant {
                        totals.mutants += 1;
                    } else {
                        totals.models += 1;
                    }
                }
                (backend, totals)
            })
            .collect()
    }

    fn totals_text(&self) -> String {
        let mut out = String::from("\n");
        for (backend, t) in self.totals() {
            let _ = writeln!(
                out,
                "{:<8} models passed {}/{}, mutants caught {}/{}, {} schedules, {} of test time",
                backend.name(),
                t.models_passed,
                t.models,
                t.mutants_caught,
                t.mutants,
                thousands(t.schedules),
                human_seconds(t.seconds)
            );
        }
        let judgement = self.judge();
        let _ = writeln!(
            out,
            "{}",
            if self.interrupted {
                "verdict: INTERRUPTED".to_owned()
            } else if judgement.ok() {
                "verdict: OK (every model passed; no mutant escaped every model checker that ran it)".to_owned()
            } else {
                format!(
                    "verdict: FAILED ({} failing run(s), {} mutant(s) escaped every counted backend, {} broken build(s))",
                    judgement.failures.len(),
                    judgement.escaped.len(),
                    judgement.broken_builds.len()
                )
            }
        );
        out
    }

    /// Rows worth a look: failures, timeouts, and escapes where `cargo test` runs them.
    fn problem_rows(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|row| {
                row.is_failure()
                    || row.verdict() == Verdict::Timeout
                    || (row.verdict() == Verdict::Escaped && !row.ignored)
            })
            .collect()
    }

    /// `job.md`.
    pub fn markdown(&self) -> String {
        let columns = self.columns();
        let mut out = String::new();
        let _ = writeln!(out, "# racekit model-checking job\n");
        let _ = writeln!(
            out,
            "Started {}, finished {}. {}\n",
            self.started.to_rfc3339(),
            self.finished.to_rfc3339(),
            self.headline()
        );
        let _ = writeln!(out, "```text{}```\n", self.totals_text());
        for build in self.builds.iter().filter(|build| !build.ok) {
            let _ = writeln!(
                out,
                "**The {} build failed**:\n\n```text\n{}\n```\n",
                build.backend,
                build.error.as_deref().unwrap_or("")
            );
        }

        let problems = self.problem_rows();
        if !problems.is_empty() {
            let _ = writeln!(out, "## Failures\n");
            for row in problems {
                let _ = writeln!(out, "### {} {} ({})\n", row.backend, row.test, row.verdict().word());
                if let Some(message) = &row.message {
                    let _ = writeln!(out, "```text\n{}\n```\n", message.trim_end());
                }
                let _ = writeln!(out, "Reproduce (from where the job ran):\n\n```sh\n{}\n```\n", row.reproduce());
                if row.replay.is_some() {
                    let _ = writeln!(out, "Rerun the whole test with the job's budget:\n\n```sh\n{}\n```\n", row.rerun);
                }
                if let Some(log) = &row.log {
                    let _ = writeln!(out, "Output: `{log}`\n");
                }
            }
        }

        let _ = writeln!(out, "## Mutant detection\n");
        out.push_str(&self.detection_markdown());

        let _ = writeln!(out, "\n## Every model\n");
        let _ = writeln!(out, "Verdict, schedules explored (loom executions, shuttle schedules, std runs) and test time; `*`: the time budget cut exploration short.\n");
        table_header(&mut out, "model", &columns);
        for ((binary, test), cells) in grid(&self.rows) {
            let _ = write!(out, "| `{}` |", test_label(&binary, &test));
            for backend in &columns {
                let text = cells.get(backend).map_or("–".to_owned(), |rows| cell_text(&Cell::of(rows)));
                let _ = write!(out, " {text} |");
            }
            out.push('\n');
        }
        out.push_str(&self.histograms_markdown());
        out
    }

    /// One table per outcome histogram: every outcome a litmus test saw, its grade, how
    /// often, and what it means.
    fn histograms_markdown(&self) -> String {
        let mut out = String::new();
        if self.histograms.is_empty() {
            return out;
        }
        let _ = writeln!(out, "\n## Outcome histograms\n");
        for line in &self.histograms {
            let histogram = &line.histogram;
            let _ = writeln!(
                out,
                "### {} ({}, {}, {} runs)\n",
                histogram.name,
                histogram.backend,
                histogram.verdict,
                thousands(histogram.runs)
            );
            let _ = writeln!(out, "| outcome | grade | count | meaning |\n|---|---|---|---|");
            for outcome in &histogram.outcomes {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} |",
                    outcome.outcome,
                    outcome.grade,
                    thousands(outcome.count),
                    outcome.meaning
                );
            }
            out.push('\n');
        }
        out
    }

    /// The detection table: for each mutant, which backends caught it, after how many
    /// schedules and how long.
    pub fn detection_markdown(&self) -> String {
        let columns = self.columns();
        let mutants: BTreeMap<_, _> =
            grid(&self.rows).into_iter().filter(|(_, cells)| cells.values().flatten().any(|row| row.mutant)).collect();
        let mut out = String::new();
        if mutants.is_empty() {
            out.push_str("No mutant tests ran.\n");
            return out;
        }
        let _ = writeln!(
            out,
            "For each mutant: schedules explored until the failing one (the detection) and time, per backend; \
             on real threads (std) a mutant is caught only when a run happens to hit the bug. \
             `escaped`: every explored schedule passed; `–`: not built for that backend.\n"
        );
        table_header(&mut out, "mutant", &columns);
        let mut caught: BTreeMap<Backend, (usize, usize, Vec<u64>)> = BTreeMap::new();
        for ((binary, test), cells) in &mutants {
            let _ = write!(out, "| `{}` |", test_label(binary, test));
            for backend in &columns {
                let text = match cells.get(backend) {
                    None => "–".to_owned(),
                    Some(rows) => {
                        let cell = Cell::of(rows);
                        let entry = caught.entry(*backend).or_default();
                        entry.1 += 1;
                        match &cell.detection {
                            Some(detection) if detection.schedules == 0 => {
                                entry.0 += 1;
                                format!("**caught** by its property test, {}", human_seconds(detection.elapsed))
                            }
                            Some(detection) => {
                                entry.0 += 1;
                                entry.2.push(detection.schedules);
                                let kind = if detection.kind.is_empty() {
                                    String::new()
                                } else {
                                    format!(", {}", kind_words(&detection.kind))
                                };
                                format!(
                                    "**{}** sched., {}{kind}",
                                    thousands(detection.schedules),
                                    human_seconds(detection.elapsed)
                                )
                            }
                            None => cell_text(&cell),
                        }
                    }
                };
                let _ = write!(out, " {text} |");
            }
            out.push('\n');
        }
        let _ = write!(out, "| **caught** |");
        for backend in &columns {
            let text = match caught.get_mut(backend) {
                Some((hits, total, schedules)) => {
                    schedules.sort_unstable();
                    let median = schedules
                        .get(schedules.len() / 2)
                        .map_or(String::new(), |m| format!(", median {} sched.", thousands(*m)));
                    format!("**{hits}/{total}**{median}")
                }
                None => "–".to_owned(),
            };
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
        out
    }

    /// `junit.xml`: a suite per backend, a case per test. A mutant is a success when it was
    /// caught; an escape is a failure only when no counted backend caught it (an escape
    /// where `cargo test` ignores the mutant, or on one checker when the other caught it,
    /// is a skip with the reason). A failure's `type` is its kind (`panic`, `deadlock`,
    /// `escaped`, `timeout`, ...), its `message` one line (model and headline), and its
    /// system-out the failure text with the reproduce command. An interrupted run and a
    /// failed build each add an error case, so a CI view never shows them green.
    pub fn junit(&self) -> Result<String> {
        let escaped: BTreeSet<(String, String)> = escaped_mutants(&self.rows).into_iter().collect();
        let mut report = quick_junit::Report::new("racekit-job");
        report.set_time(Duration::from_secs_f64(self.elapsed.max(0.0)));
        report.set_timestamp(self.started);
        for backend in self.columns() {
            let mut suite = TestSuite::new(format!("racekit {backend}"));
            let rows: Vec<&Row> = self.rows.iter().filter(|row| row.backend == backend).collect();
            suite.set_time(Duration::from_secs_f64(rows.iter().map(|row| row.elapsed).sum::<f64>().max(0.0)));
            suite.set_timestamp(rows.iter().filter_map(|row| row.started).min().unwrap_or(self.started));
            for build in self.builds.iter().filter(|build| build.backend == backend && !build.ok) {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_type("build");
                status.set_message(format!("the {backend} build did not finish"));
                status.set_description(build.error.clone().unwrap_or_default());
                suite.add_test_case(TestCase::new(format!("build {backend}"), status));
            }
            if self.interrupted {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_type("interrupted");
                status.set_message("the job was stopped by Ctrl-C or SIGTERM: these results are partial");
                suite.add_test_case(TestCase::new(format!("racekit job on {backend}"), status));
            }
            for row in rows {
                suite.add_test_case(junit_case(row, &escaped));
            }
            report.add_test_suite(suite);
        }
        Ok(report.to_string()?)
    }
}

fn junit_case(row: &Row, escaped: &BTreeSet<(String, String)>) -> TestCase {
    let backend = row.backend;
    let verdict = row.verdict();
    let skipped = |message: String| {
        let mut status = TestCaseStatus::skipped();
        status.set_message(message);
        status
    };
    let status = match verdict {
        Verdict::Pass | Verdict::Caught => TestCaseStatus::success(),
        Verdict::Escaped if !escaped.contains(&row.test_key()) => {
            let why =
                if row.ignored { "cargo test ignores it in this build" } else { "another backend or run caught it" };
            skipped(format!("the mutant escaped on {backend} ({why})"))
        }
        Verdict::NotRun => skipped("not run: the job stopped first".to_owned()),
        Verdict::Timeout if row.mutant && !escaped.contains(&row.test_key()) => {
            skipped("timed out (another backend or run caught the mutant)".to_owned())
        }
        Verdict::Interrupted | Verdict::Escaped | Verdict::Timeout | Verdict::Crash | Verdict::Fail => {
            let kind = if matches!(verdict, Verdict::Crash | Verdict::Interrupted) {
                NonSuccessKind::Error
            } else {
                NonSuccessKind::Failure
            };
            let mut status = TestCaseStatus::non_success(kind);
            status.set_type(failure_type(row));
            status.set_message(one_line(row));
            status
        }
    };
    let mut case = TestCase::new(row.test.clone(), status);
    case.set_classname(format!("{backend}.{}", row.binary));
    case.set_time(Duration::from_secs_f64(row.elapsed.max(0.0)));
    if let Some(started) = row.started {
        case.set_timestamp(started);
    }
    if !matches!(verdict, Verdict::Pass | Verdict::Caught) {
        let mut text = row.message.clone().unwrap_or_default();
        let _ = write!(text, "\n\nreproduce: {}", row.reproduce());
        if row.replay.is_some() {
            let _ = write!(text, "\nrerun:     {}", row.rerun);
        }
        case.set_system_out(text);
        if let Some(log) = &row.log {
            case.set_system_err(std::fs::read_to_string(log).unwrap_or_else(|_| format!("output: {log}")));
        }
    }
    case.add_property(Property::new("schedules", row.schedules.to_string()));
    if let Some(partition) = &row.partition {
        case.add_property(Property::new("partition", partition.clone()));
    }
    if let Some(detection) = row.detection() {
        case.add_property(Property::new("detected_after_schedules", detection.schedules.to_string()));
    }
    case
}

/// A failure's `type`: the failing check's kind, else what the row's verdict says.
fn failure_type(row: &Row) -> String {
    let failed_check = row.checks.iter().rev().filter_map(|line| line.failure.as_ref()).find(|f| !f.replayed);
    match (row.verdict(), failed_check) {
        (Verdict::Fail, Some(failure)) => failure.kind.clone(),
        (Verdict::Fail, None) => "test failure".to_owned(),
        (Verdict::Escaped, _) => "escaped".to_owned(),
        (Verdict::Timeout, _) => "timeout".to_owned(),
        (Verdict::Interrupted, _) => "interrupted".to_owned(),
        _ => "crash".to_owned(),
    }
}

/// `model: headline`, on one line.
fn one_line(row: &Row) -> String {
    let failed_check = row.checks.iter().rev().filter_map(|line| line.failure.as_ref()).find(|f| !f.replayed);
    let headline = row.message.as_deref().and_then(|m| m.lines().next()).unwrap_or(row.exit.as_str());
    match failed_check {
        Some(failure) if row.verdict() == Verdict::Fail => format!("{}: {headline}", failure.model),
        _ => format!("{}: {headline}", row.test),
    }
}

#[derive(Default)]
struct Totals {
    models: usize,
    models_passed: usize,
    mutants: usize,
    mutants_caught: usize,
    schedules: u64,
    seconds: f64,
}

fn unique<T: Ord + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    items.collect::<BTreeSet<T>>().into_iter().collect()
}

fn test_label(binary: &str, test: &str) -> String {
    if binary == "models" {
        test.to_owned()
    } else {
        format!("{binary}: {test}")
    }
}

/// `pass 2,000 · 0.4 s`, `caught @12 · 0.01 s`, `TIMEOUT`.
fn cell_text(cell: &Cell) -> String {
    let star = if cell.cut_short { "*" } else { "" };
    match (cell.verdict, &cell.detection) {
        // A property test's assertion, outside any check: no schedules to count.
        (Verdict::Caught, Some(detection)) if detection.schedules == 0 => {
            format!("caught · {}", human_seconds(detection.elapsed))
        }
        (Verdict::Caught, Some(detection)) => {
            format!("caught @{} · {}", thousands(detection.schedules), human_seconds(detection.elapsed))
        }
        (Verdict::NotRun | Verdict::Interrupted | Verdict::Crash, _) => cell.verdict.word().to_owned(),
        (Verdict::Timeout, _) => format!("TIMEOUT {}", human_seconds(cell.elapsed)),
        (verdict, _) => {
            format!("{} {}{star} · {}", verdict.word(), thousands(cell.schedules), human_seconds(cell.elapsed))
        }
    }
}

/// A failure kind as readers see it: the report files' `lock_order` is "lock order".
pub(crate) fn kind_words(kind: &str) -> String {
    kind.replace('_', " ")
}

/// A Markdown table's header: `first`, then a column per backend.
fn table_header(out: &mut String, first: &str, columns: &[Backend]) {
    let names: Vec<&str> = columns.iter().map(|backend| backend.name()).collect();
    let _ = writeln!(out, "| {first} | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(columns.len()));
}

/// Left-aligned columns, two spaces apart.
fn aligned(table: &[Vec<String>]) -> String {
    let width =
        |column: usize| table.iter().map(|row| row.get(column).map_or(0, |c| c.chars().count())).max().unwrap_or(0);
    let widths: Vec<usize> = (0..table.first().map_or(0, Vec::len)).map(width).collect();
    let mut out = String::new();
    for row in table {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::row;
    use crate::results::Outcome;

    fn report(rows: Vec<Row>) -> JobReport {
        JobReport {
            version: FORMAT_VERSION,
            started: DateTime::parse_from_rfc3339("2026-12-02T18:00:00+01:00").unwrap(),
            finished: DateTime::parse_from_rfc3339("2026-12-02T18:00:03+01:00").unwrap(),
            elapsed: 3.0,
            budget: "test".into(),
            backends: vec![Backend::Loom, Backend::Shuttle, Backend::Std],
            filters: Vec::new(),
            partitions: Vec::new(),
            interrupted: false,
            builds: Vec::new(),
            rows,
            histograms: Vec::new(),
        }
    }

    #[test]
    fn histogram_records_are_not_checks_and_get_a_section_of_their_own() {
        let lines = concat!(
            r#"{"test":"litmus::mp","binary":"models-1","verdict":"passed","report":null,"failure":null}"#,
            "\n",
            r#"{"record":"histogram","test":"litmus::mp","binary":"models-1","histogram":{"name":"mp","backend":"loom","verdict":"passed","runs":12,"outcomes":[{"outcome":"(0, 11)","grade":"acceptable","count":9,"meaning":"reader last"},{"outcome":"(0, 10)","grade":"interesting","count":3,"meaning":"weak memory"}]}}"#,
            "\n"
        );
        let checks = crate::results::parse_check_lines(lines);
        assert_eq!(checks.len(), 1, "the histogram line is not a check: {checks:?}");
        let mut with_histogram = report(Vec::new());
        with_histogram.histograms = crate::results::parse_histogram_lines(lines);
        assert_eq!(with_histogram.histograms.len(), 1);
        let markdown = with_histogram.markdown();
        assert!(markdown.contains("## Outcome histograms"), "{markdown}");
        assert!(markdown.contains("### mp (loom, passed, 12 runs)"), "{markdown}");
        assert!(markdown.contains("| `(0, 10)` | interesting | 3 | weak memory |"), "{markdown}");
        let merged = JobReport::merge(vec![with_histogram.clone(), with_histogram]);
        assert_eq!(merged.histograms.len(), 2, "merge keeps every partition's histograms");
    }

    #[test]
    fn timestamps_are_rfc3339_with_a_zone_and_interrupted_runs_are_errors_in_junit() {
        let mut interrupted = report(vec![row(Backend::Loom, "q::model", Outcome::Interrupted, false)]);
        interrupted.interrupted = true;
        let json = serde_json::to_string(&interrupted).unwrap();
        assert!(json.contains(r#""started":"2026-12-02T18:00:00+01:00""#), "{json}");
        let xml = interrupted.junit().unwrap();
        assert!(xml.contains(r#"errors="2""#) && xml.contains(r#"type="interrupted""#), "{xml}");
        assert!(xml.contains(r#"timestamp="2026-12-02T18:00:00"#), "{xml}");
    }

    #[test]
    fn kinds_read_as_words() {
        assert_eq!(kind_words("lock_order"), "lock order");
        assert_eq!(kind_words("data_race"), "data race");
        assert_eq!(kind_words("panic"), "panic");
    }

    #[test]
    fn a_failure_in_junit_has_its_kind_one_line_and_the_reproduce_command() {
        let mut failed = row(Backend::Shuttle, "q::model", Outcome::Failed, false);
        failed.message = Some("panic: lost\nmore".into());
        failed.replay = Some("RACEKIT_REPLAY=x cargo test".into());
        failed.checks = crate::results::parse_check_lines(
            r#"{"verdict":"failed","failure":{"model":"queue","kind":"panic","message":"lost"}}"#,
        );
        let xml = report(vec![failed]).junit().unwrap();
        assert!(
            xml.contains(r#"<failure type="panic" message="queue: panic: lost"/>"#)
                || xml.contains(r#"message="queue: panic: lost" type="panic""#),
            "{xml}"
        );
        assert!(xml.contains("reproduce: RACEKIT_REPLAY=x cargo test"), "{xml}");
    }

    #[test]
    fn the_judgement_fails_on_failing_models_and_mutants_escaping_everywhere() {
        let mutant = "q::mutants::x_is_caught";
        let good = report(vec![
            row(Backend::Loom, "q::model", Outcome::Passed, false),
            row(Backend::Loom, mutant, Outcome::Passed, false),
            row(Backend::Std, mutant, Outcome::Failed, true),
        ]);
        assert!(good.judge().ok());
        let bad = report(vec![
            row(Backend::Loom, "q::model", Outcome::Failed, false),
            row(Backend::Shuttle, mutant, Outcome::Failed, false),
        ]);
        let judgement = bad.judge();
        assert_eq!(judgement.failures, ["loom q::model"]);
        assert_eq!(judgement.escaped, [mutant]);
        assert!(bad.summary().contains("reproduce: cargo test"));
    }

    #[test]
    fn reports_render_and_merge() {
        let mutant = "q::mutants::x_is_caught";
        let mut first = report(vec![row(Backend::Shuttle, mutant, Outcome::Failed, false)]);
        first.partitions = vec!["1/2".into()];
        let mut second = report(vec![
            row(Backend::Shuttle, mutant, Outcome::Passed, false),
            row(Backend::Std, "q::m", Outcome::Passed, false),
        ]);
        second.partitions = vec!["2/2".into()];
        let merged = JobReport::merge(vec![first, second]);
        assert_eq!(merged.partitions, ["1/2", "2/2"]);
        assert!(merged.judge().ok(), "a mutant caught by one run is caught");
        let markdown = merged.markdown();
        assert!(markdown.contains("## Mutant detection"), "{markdown}");
        assert!(markdown.contains("**1/1**"), "{markdown}");
        let xml = merged.junit().unwrap();
        assert!(xml.contains("racekit shuttle") && xml.contains("skipped"), "{xml}");
        let round_trip: JobReport = serde_json::from_str(&serde_json::to_string(&merged).unwrap()).unwrap();
        assert_eq!(round_trip.rows.len(), 3);
    }
}
