//! The figures README shows, generated, never typed:
//!
//! - `figures.json`, written beside `REPORT.md` by every report: the answers of the report
//!   (the rules' and matrix rows' verdicts, the pattern benches' ratios with the repeats'
//!   calls and allocations, the harness against raw checkers), stamped with the commit it
//!   measured; and under `verdicts` every answer the report gives, each under a key that
//!   stays the same from run to run, with how many repeats gave what (what
//!   `cargo bench-report compare` matches);
//! - `detection.json`, written by `cargo bench-report figures --job reports/job/job.json`
//!   from the model-checking job's report: mutants caught per backend, stamped with the
//!   commit checked out when it was taken (refused when the job report predates it);
//! - `cargo bench-report figures` rewrites README's generated sections (between
//!   `<!-- figures:begin NAME -->` and `<!-- figures:end NAME -->`) from those two files in
//!   `docs/benchmarks/`; `--check` only compares and fails when README differs (CI runs it).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// What a report says, in the form README shows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Figures {
    /// The commit measured (`abc1234`, with `(with local changes)` when the tree was dirty).
    pub commit: String,
    /// When the first bench of the run started (UTC).
    pub measured: String,
    pub command: String,
    /// `full` or `quick`.
    pub mode: String,
    pub repeats: usize,
    /// (claim, std's answer, parking_lot's answer).
    pub rules: Vec<(String, String, String)>,
    /// (scenario, seed's recommendation, answer).
    pub matrix: Vec<(String, String, String)>,
    pub patterns: Vec<PatternRatio>,
    pub checkers: Vec<CheckerRow>,
    /// Every answer the report gives, by section ([`SECTIONS`]), in the report's order.
    /// Files written before it existed have none (`compare` then reads the rules, matrix
    /// and pattern answers from the fields above).
    #[serde(default)]
    pub verdicts: BTreeMap<String, Vec<KeyedAnswer>>,
}

/// The sections of [`Figures::verdicts`] and how their keys are made.
pub const SECTIONS: [(&str, &str); 7] = [
    (
        "rules",
        "the seed's rule of thumb and the lock family, then the thread count where the report splits it: `Mutex \
         for short sections / std`, `Mutex for short sections / std / 4 threads`",
    ),
    ("matrix", "the decision-matrix row: `Log storage`"),
    (
        "crossovers",
        "the RwLock-over-Mutex crossover of a lock family, thread count and section: `std / 4 threads / 1µs`",
    ),
    (
        "grid",
        "RwLock faster, Mutex faster or a tie at one point of the lock grid: `std / 4 threads / 1µs / 90 % reads`",
    ),
    ("fastest", "the fastest contender of a cell, by group and cell: `channels/handoff / p1c1-cap16`"),
    (
        "calls",
        "the faster/tie/slower call of a decision bench's contender against the baseline (the matrix: against the \
         seed's recommendation), by group, cell and contender: `channels/handoff / p1c1-cap16 / tokio-mpsc`",
    ),
    ("patterns", "the call of a pattern ratio, by group, cell and the other contender: `queue/spsc / 1x1 / crossbeam`"),
];

/// One answer of the report under its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedAnswer {
    pub key: String,
    #[serde(flatten)]
    pub answer: RepeatAnswer,
}

/// What the repeats answered to one question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatAnswer {
    /// The answer when it is a verdict: at least [`crate::repeats::MIN_REPEATS`] repeats
    /// gave it and none gave another.
    pub verdict: Option<String>,
    /// Every answer given and how many repeats gave it, most given first.
    pub answers: Vec<(String, usize)>,
    /// As the report shows it, with the repeats' agreement.
    pub shown: String,
}

/// One contender of a pattern bench against racekit's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PatternRatio {
    pub group: String,
    pub cell: String,
    pub contender: String,
    /// The contender's time over racekit's, with its interval.
    pub ratio: String,
    /// The repeats' faster/tie/slower call (of the contender against racekit).
    pub call: String,
    /// Allocations per operation: racekit's, then the contender's, where counted.
    pub allocations: Option<(String, String)>,
}

/// One model of the harness-against-raw-checkers bench.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckerRow {
    pub backend: String,
    pub model: String,
    pub measure: String,
    pub settings: String,
    pub racekit_per_second: f64,
    pub raw_per_second: f64,
    pub racekit_seconds: f64,
    pub raw_seconds: f64,
    /// Schedules per second of the raw checker with the facade's own checker operations
    /// added (what bounds any harness over the facade), for a passing model, when measured.
    #[serde(default)]
    pub bound_per_second: Option<f64>,
}

/// The job's detection table, summed per backend.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Detection {
    pub commit: String,
    /// When the job finished.
    pub finished: String,
    pub backends: Vec<BackendDetection>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackendDetection {
    pub backend: String,
    pub caught: usize,
    pub mutants: usize,
    pub median_schedules: Option<u64>,
    /// The slowest detection: (mutant test, schedules, seconds).
    pub slowest: Option<(String, u64, f64)>,
    /// The mutant tests that escaped on this backend.
    pub escaped: Vec<String>,
}

/// Summarises a job report (`job.json`, as `cargo racekit` writes it) per backend: a mutant
/// test that passed caught its mutant; its detection is the first failure its checks
/// recorded (not a replay), or the whole test when none did.
pub fn detection_from_job(job: &Value, commit: String) -> Result<Detection> {
    let rows = job["rows"].as_array().context("the job report has no rows: is it a `cargo racekit` job.json?")?;
    let mut backends: BTreeMap<String, BackendDetection> = BTreeMap::new();
    let mut schedules: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    // Mutant tests ignored by `cargo test` on a backend (real threads) still run in the job,
    // for the record: they count as the job's own table counts them.
    for row in rows.iter().filter(|r| r["mutant"] == true) {
        let (backend, test, outcome) = (str_of(&row["backend"]), str_of(&row["test"]), str_of(&row["outcome"]));
        if outcome == "not_run" || outcome == "interrupted" {
            continue;
        }
        let entry = backends.entry(backend.clone()).or_insert_with(|| BackendDetection {
            backend: backend.clone(),
            caught: 0,
            mutants: 0,
            median_schedules: None,
            slowest: None,
            escaped: Vec::new(),
        });
        entry.mutants += 1;
        if outcome != "passed" {
            entry.escaped.push(test);
            continue;
        }
        entry.caught += 1;
        let failure = row["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|check| &check["failure"])
            .find(|failure| failure.is_object() && failure["replayed"] != true);
        let (count, seconds) = match failure {
            Some(failure) => (failure["schedules"].as_u64().unwrap_or(0), failure["elapsed"].as_f64().unwrap_or(0.0)),
            None => (row["schedules"].as_u64().unwrap_or(0), row["elapsed"].as_f64().unwrap_or(0.0)),
        };
        schedules.entry(backend).or_default().push(count);
        if entry.slowest.as_ref().is_none_or(|slowest| count > slowest.1) {
            entry.slowest = Some((test, count, seconds));
        }
    }
    for (backend, mut counts) in schedules {
        counts.sort_unstable();
        if let Some(entry) = backends.get_mut(&backend) {
            entry.median_schedules = counts.get(counts.len() / 2).copied();
        }
    }
    Ok(Detection { commit, finished: str_of(&job["finished"]), backends: backends.into_values().collect() })
}

fn str_of(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// The generated sections of README, by name.
pub fn sections(figures: Option<&Figures>, detection: Option<&Detection>) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("patterns", patterns_section(figures)),
        ("verdicts", verdicts_section(figures)),
        ("detection", detection_section(detection)),
    ])
}

const NO_RUN: &str = "No full benchmark run is recorded in `docs/benchmarks/figures.json` yet: run \
`cargo bench-report --run` on a quiet machine, then `cargo bench-report figures`.\n";

fn stamp(figures: &Figures) -> String {
    format!(
        "From `{}` at commit `{}` ({}, {} mode, {} repeats; `docs/benchmarks/figures.json`, written by `cargo \
         bench-report figures`).",
        figures.command, figures.commit, figures.measured, figures.mode, figures.repeats
    )
}

fn patterns_section(figures: Option<&Figures>) -> String {
    let Some(figures) = figures.filter(|f| !f.patterns.is_empty()) else { return NO_RUN.into() };
    let mut out = format!(
        "{} A ratio is the other's time over racekit's, with its interval (below 1: the other is \
         faster); the call says how the other compares with racekit, as the repeats make it (a verdict needs three \
         agreeing; *unstable*: they disagree).\n\n",
        stamp(figures)
    );
    out.push_str(
        "| bench | cell | against | ratio | the other is | allocations per op (racekit / other) |\n|---|---|---|---|---|---|\n",
    );
    for p in &figures.patterns {
        let allocations =
            p.allocations.as_ref().map_or_else(|| "—".to_string(), |(ours, theirs)| format!("{ours} / {theirs}"));
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {allocations} |",
            p.group, p.cell, p.contender, p.ratio, p.call
        );
    }
    out
}

fn verdicts_section(figures: Option<&Figures>) -> String {
    let Some(figures) = figures.filter(|f| !f.rules.is_empty() || !f.matrix.is_empty() || !f.checkers.is_empty())
    else {
        return NO_RUN.into();
    };
    let mut out = format!("{}\n\n", stamp(figures));
    if !figures.rules.is_empty() {
        out.push_str("| the seed's rule of thumb | std's locks | parking_lot's locks |\n|---|---|---|\n");
        for (claim, std, parking_lot) in &figures.rules {
            let _ = writeln!(out, "| {claim} | {std} | {parking_lot} |");
        }
        out.push('\n');
    }
    if !figures.matrix.is_empty() {
        out.push_str("| decision-matrix row | seed recommends | verdict |\n|---|---|---|\n");
        for (scenario, recommendation, verdict) in &figures.matrix {
            let _ = writeln!(out, "| {scenario} | {recommendation} | {verdict} |");
        }
        out.push('\n');
    }
    out.push_str(&checkers_table(&figures.checkers));
    out.trim_end().to_string() + "\n"
}

/// The harness against raw checkers, one row per backend and model (empty without rows).
pub fn checkers_table(rows: &[CheckerRow]) -> String {
    let mut out = String::new();
    if !rows.is_empty() {
        let with_bounds = rows.iter().any(|c| c.bound_per_second.is_some());
        out.push_str("| checker | model | measure | racekit | raw | racekit / raw |");
        out.push_str(if with_bounds { " raw with the facade's operations | racekit / that |\n" } else { "\n" });
        out.push_str(if with_bounds { "|---|---|---|---|---|---|---|---|\n" } else { "|---|---|---|---|---|---|\n" });
        for c in rows {
            let (ours, raw) = if c.measure == "time to the failure" {
                (crate::stats::fmt_ns(c.racekit_seconds * 1e9), crate::stats::fmt_ns(c.raw_seconds * 1e9))
            } else {
                (format!("{:.0} sched./s", c.racekit_per_second), format!("{:.0} sched./s", c.raw_per_second))
            };
            let ratio = if c.measure == "time to the failure" {
                c.racekit_seconds / c.raw_seconds.max(1e-9)
            } else {
                c.racekit_per_second / c.raw_per_second.max(1e-9)
            };
            let _ = write!(
                out,
                "| {} ({}) | {} | {} | {ours} | {raw} | {} |",
                c.backend,
                c.settings,
                c.model,
                c.measure,
                crate::stats::fmt_ratio(ratio)
            );
            match c.bound_per_second.filter(|_| with_bounds) {
                Some(bound) => {
                    let over = crate::stats::fmt_ratio(c.racekit_per_second / bound.max(1e-9));
                    let _ = write!(out, " {bound:.0} sched./s | {over} |");
                }
                None if with_bounds => out.push_str(" — | — |"),
                None => {}
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// The rows of the `checkers` bench's files (`checkers-<backend>.json`) in `dir`.
pub fn checker_rows(dir: &Path) -> Result<Vec<CheckerRow>> {
    let mut rows = Vec::new();
    for backend in ["loom", "shuttle"] {
        let Some(file) = read::<Value>(&dir.join(format!("checkers-{backend}.json")))? else { continue };
        let settings = str_of(&file["settings"]);
        let bound_of = |model: &str| {
            file["bounds"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|b| b["model"].as_str() == Some(model))
                .and_then(|b| b["raw_with_facade_points"]["per_second"].as_f64())
        };
        for row in file["rows"].as_array().into_iter().flatten() {
            let number = |side: &str, field: &str| row[side][field].as_f64().unwrap_or(f64::NAN);
            rows.push(CheckerRow {
                backend: backend.to_string(),
                model: str_of(&row["model"]),
                measure: str_of(&row["measure"]),
                settings: settings.clone(),
                racekit_per_second: number("racekit", "per_second"),
                raw_per_second: number("raw", "per_second"),
                racekit_seconds: number("racekit", "seconds"),
                raw_seconds: number("raw", "seconds"),
                bound_per_second: bound_of(&str_of(&row["model"])),
            });
        }
    }
    Ok(rows)
}

fn detection_section(detection: Option<&Detection>) -> String {
    let Some(detection) = detection.filter(|d| !d.backends.is_empty()) else {
        return "No job report is recorded in `docs/benchmarks/detection.json` yet: run `cargo racekit --out \
                reports/job`, then `cargo bench-report figures --job reports/job/job.json`.\n"
            .into();
    };
    let mut out = format!(
        "From the model-checking job at commit `{}` (finished {}; `docs/benchmarks/detection.json`, written by \
         `cargo bench-report figures --job reports/job/job.json`).\n\n",
        detection.commit, detection.finished
    );
    out.push_str("| backend | mutants caught | median schedules to detection | slowest detection | escaped |\n|---|---|---|---|---|\n");
    for b in &detection.backends {
        let median = b.median_schedules.map_or_else(|| "—".to_string(), |m| m.to_string());
        let slowest = b.slowest.as_ref().map_or_else(
            || "—".to_string(),
            |(test, schedules, seconds)| format!("`{test}`: {schedules} schedules, {seconds:.2} s"),
        );
        let escaped = if b.escaped.is_empty() {
            "none".to_string()
        } else {
            b.escaped.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(out, "| {} | {} / {} | {median} | {slowest} | {escaped} |", b.backend, b.caught, b.mutants);
    }
    out
}

fn begin_marker(name: &str) -> String {
    format!("<!-- figures:begin {name} (generated by `cargo bench-report figures`: do not edit) -->")
}

fn end_marker(name: &str) -> String {
    format!("<!-- figures:end {name} -->")
}

/// `readme` with every generated section replaced; an error names a missing marker.
pub fn apply(readme: &str, sections: &BTreeMap<&'static str, String>) -> Result<String> {
    let mut text = readme.to_string();
    for (name, body) in sections {
        let (begin, end) = (begin_marker(name), end_marker(name));
        let Some(start) = text.find(&begin) else {
            bail!("README has no `{begin}` line: add it, with `{end}` after it, where the {name} figures go")
        };
        let body_start = start + begin.len();
        let Some(stop) = text[body_start..].find(&end).map(|i| body_start + i) else {
            bail!("README has `{begin}` but no `{end}` after it")
        };
        text.replace_range(body_start..stop, &format!("\n{body}"));
    }
    Ok(text)
}

/// Reads a figure file if it exists.
pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sections_are_replaced_between_their_markers_and_nowhere_else() {
        let readme = format!("intro\n{}\nold\n{}\nafter\n", begin_marker("patterns"), end_marker("patterns"));
        let sections = BTreeMap::from([("patterns", "new\n".to_string())]);
        let out = apply(&readme, &sections).unwrap();
        assert_eq!(out, format!("intro\n{}\nnew\n{}\nafter\n", begin_marker("patterns"), end_marker("patterns")));
        assert_eq!(apply(&out, &sections).unwrap(), out, "applying twice changes nothing");
        let missing = BTreeMap::from([("detection", String::new())]);
        assert!(apply(&readme, &missing).unwrap_err().to_string().contains("figures:begin detection"));
    }

    #[test]
    fn the_detection_summary_counts_caught_and_escaped_mutants_per_backend() {
        let job = json!({ "finished": "2026-12-02T21:02:36Z", "rows": [
            { "backend": "loom", "test": "q::mutants::a_is_caught", "mutant": true, "outcome": "passed", "schedules": 9, "elapsed": 0.5,
              "checks": [{ "failure": { "schedules": 3, "elapsed": 0.1, "replayed": false } }] },
            { "backend": "loom", "test": "q::mutants::b_is_caught", "mutant": true, "outcome": "passed", "schedules": 40, "elapsed": 0.2, "checks": [] },
            { "backend": "std", "test": "q::mutants::a_is_caught", "mutant": true, "outcome": "failed", "schedules": 200, "elapsed": 1.0, "checks": [] },
            { "backend": "loom", "test": "q::sound", "mutant": false, "outcome": "passed", "schedules": 5, "elapsed": 0.1, "checks": [] },
        ]});
        let detection = detection_from_job(&job, "abc1234".into()).unwrap();
        let loom = &detection.backends[0];
        assert_eq!((loom.backend.as_str(), loom.caught, loom.mutants), ("loom", 2, 2));
        assert_eq!(loom.slowest.as_ref().map(|s| s.1), Some(40), "a test caught outside any check counts whole");
        let std = &detection.backends[1];
        assert_eq!((std.caught, std.escaped.len()), (0, 1));
    }
}
