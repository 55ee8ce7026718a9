//! The Markdown report and its plots.

use crate::analysis::{
    self, axis, crossover, disturbed, lock_points, racekit_contender, rule_verdict, rules, LockPoint, Verdict,
    DECISION_GROUPS, LOCK_GROUP, LOCK_PAIRS, MATRIX,
};
use crate::data::{Cell, Contender, Dataset};
use crate::plot::{self, Chart, Panel, Point, Series};
use crate::repeats::{Consensus, Runs, MIN_REPEATS};
use crate::run::RunLog;
use crate::stats::{compare, fmt_ns, fmt_ratio, noise_band, rank, typical, Outcome};
use anyhow::Result;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Where the report came from, for its header.
pub struct Provenance {
    pub commit: String,
    pub rustc: String,
    pub command: String,
    pub run: Option<RunLog>,
}

/// Writes `REPORT.md` and its SVG plots into `out`: figures from every repeat pooled,
/// answers (verdicts, crossovers, winners) from each repeat alone (see [`crate::repeats`]).
pub fn write_report(runs: &Runs, provenance: &Provenance, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let data = &runs.pooled;
    let mut md = String::new();
    header(&mut md, runs, provenance);
    let bands = Bands::of(data);
    summary(&mut md, runs, &bands);
    locks(&mut md, runs, &bands, out)?;
    rules_section(&mut md, runs, &bands);
    ranked_group(
        &mut md,
        runs,
        &bands,
        "channels/handoff",
        "Channel or lock: handing work between threads",
        CHANNELS_TEXT,
    );
    plot_by_contender(
        data,
        "channels/handoff",
        &["producers", "consumers"],
        "capacity",
        out.join("channels.svg").as_path(),
        "ns per item handed over",
    )?;
    if data.group("channels/handoff").next().is_some() {
        md.push_str("![channels](channels.svg)\n\n");
    }
    ranked_group(&mut md, runs, &bands, "counters/atomic-vs-mutex", "Counters: atomics or a Mutex", COUNTERS_TEXT);
    plot_by_contender(
        data,
        "counters/atomic-vs-mutex",
        &[],
        "threads",
        out.join("counters.svg").as_path(),
        "ns per operation",
    )?;
    if data.group("counters/atomic-vs-mutex").next().is_some() {
        md.push_str("![counters](counters.svg)\n\n");
    }
    matrix(&mut md, runs, &bands);
    patterns(&mut md, runs, &bands);
    if !runs.checkers.is_empty() {
        md.push_str("## racekit's harness against raw loom and shuttle\n\n");
        md.push_str(CHECKERS_TEXT);
        md.push_str(&crate::figures::checkers_table(&runs.checkers));
    }
    machine(&mut md, runs, provenance);
    std::fs::write(out.join("REPORT.md"), md)?;
    let figures = serde_json::to_string_pretty(&figures(runs, &bands, provenance))?;
    std::fs::write(out.join("figures.json"), figures + "\n")?;
    Ok(())
}

const CHECKERS_TEXT: &str = "The `checkers` bench, built with `--cfg racekit_loom` and with `--cfg racekit_shuttle`: \
schedules per second of racekit's `check` against the raw checker on the same small passing models (written once \
over either set of primitives), and the time to the failure of a lost update. Under loom both use preemption bound \
2 (racekit explores bound 1 first, then 2); under shuttle both run the same number of random schedules. Median of \
five runs (one in a smoke run), the contenders taking turns. The facade adds checker operations the raw primitives \
lack (under loom a loom atomic each lock release updates, so that a failing `try_lock` is reachable; under shuttle a \
scheduling point at each `Arc` clone): \"raw with the facade's operations\" is the raw checker with those added, \
what bounds any harness over the facade, and racekit's rate over it is what the harness's own bookkeeping leaves.\n\n";

/// What README shows of this report (see [`crate::figures`]).
fn figures(runs: &Runs, bands: &Bands, provenance: &Provenance) -> crate::figures::Figures {
    let data = &runs.pooled;
    let grids: Vec<Vec<Vec<LockPoint>>> = LOCK_PAIRS.iter().map(|pair| repeat_grids(runs, pair)).collect();
    let rules = if data.group(LOCK_GROUP).next().is_none() {
        Vec::new()
    } else {
        rules()
            .iter()
            .map(|rule| {
                let answer = |grids: &[Vec<LockPoint>]| rule_consensus(grids, rule, |_| true).show();
                (rule.name.to_string(), answer(&grids[0]), answer(&grids[1]))
            })
            .collect()
    };
    let matrix = MATRIX
        .iter()
        .filter(|row| data.group(row.group).next().is_some())
        .map(|row| (row.scenario.to_string(), row.recommendation.to_string(), matrix_consensus(runs, row.group).show()))
        .collect();
    let mut patterns = Vec::new();
    let mut verdicts = decision_verdicts(runs, bands, &grids);
    for group in analysis::pattern_groups(data) {
        let band = bands.get(&group);
        for cell in data.group(&group) {
            let Some(base_id) = racekit_contender(cell) else { continue };
            let base = &cell.contenders[base_id];
            for (id, contender) in cell.contenders.iter().filter(|(id, _)| id.as_str() != base_id) {
                let Some(cmp) = compare(contender, base, band) else { continue };
                let call = outcome_consensus(runs, cell, id, base_id);
                patterns.push(crate::figures::PatternRatio {
                    group: group.clone(),
                    cell: cell.label.clone(),
                    contender: id.clone(),
                    ratio: cmp.show(),
                    call: call.short(),
                    allocations: allocations(base)
                        .zip(allocations(contender))
                        .map(|(ours, theirs)| (fmt_allocations(ours), fmt_allocations(theirs))),
                });
                verdicts.add("patterns", format!("{group} / {} / {id}", cell.label), call);
            }
        }
    }
    crate::figures::Figures {
        commit: provenance.commit.clone(),
        measured: data.runs.first().map_or_else(|| "unknown".into(), |r| utc(r.started_unix)),
        command: provenance.command.clone(),
        mode: if smoke_runs(data) { "quick" } else { "full" }.into(),
        repeats: runs.repeats.len(),
        rules,
        matrix,
        patterns,
        checkers: runs.checkers.clone(),
        verdicts: verdicts.0,
    }
}

/// The verdicts of the report's decision sections, keyed as [`crate::figures::SECTIONS`]
/// says; `grids` holds each lock pair's grid in each repeat.
fn decision_verdicts(runs: &Runs, bands: &Bands, grids: &[Vec<Vec<LockPoint>>]) -> Answers {
    let data = &runs.pooled;
    let mut verdicts = Answers::default();
    let lock_band = bands.get(LOCK_GROUP);
    for rule in rules() {
        for (pair, grids) in LOCK_PAIRS.iter().zip(grids) {
            let key = format!("{} / {}", rule.name, pair.name);
            verdicts.add("rules", key.clone(), rule_consensus(grids, &rule, |_| true));
            for t in axis(&lock_points(data, pair, lock_band), |p| p.threads) {
                verdicts.add("rules", format!("{key} / {t} threads"), rule_consensus(grids, &rule, |p| p.threads == t));
            }
        }
    }
    for row in &MATRIX {
        verdicts.add("matrix", row.scenario.to_string(), matrix_consensus(runs, row.group));
    }
    for (pair, grids) in LOCK_PAIRS.iter().zip(grids) {
        let points = lock_points(data, pair, lock_band);
        for t in axis(&points, |p| p.threads) {
            for cs in axis(&points, |p| p.cs_ns) {
                let key = format!("{} / {t} threads / {}", pair.name, analysis::ns_label(cs));
                verdicts.add("crossovers", key.clone(), crossover_consensus(grids, t, cs));
                for point in points.iter().filter(|p| p.threads == t && p.cs_ns == cs) {
                    verdicts.add("grid", format!("{key} / {} % reads", point.reads_pct), grid_consensus(grids, point));
                }
            }
        }
    }
    for cell in data.cells.iter().filter(|cell| cell.group != LOCK_GROUP) {
        verdicts.add("fastest", format!("{} / {}", cell.group, cell.label), winner_consensus(runs, cell));
    }
    let ranked = DECISION_GROUPS.iter().filter(|group| **group != LOCK_GROUP).map(|group| (*group, false));
    for (group, by_recommendation) in ranked.chain(MATRIX.iter().map(|row| (row.group, true))) {
        let cells: Vec<&Cell> = data.group(group).collect();
        let first = cells.first().map(|cell| if by_recommendation { &cell.recommended } else { &cell.baseline });
        let Some(Some(baseline)) = first else { continue };
        for cell in cells.iter().filter(|cell| cell.contenders.contains_key(baseline)) {
            for id in cell.contenders.keys().filter(|id| *id != baseline) {
                let key = format!("{group} / {} / {id}", cell.label);
                verdicts.add("calls", key, outcome_consensus(runs, cell, id, baseline));
            }
        }
    }
    verdicts
}

/// [`crate::figures::Figures::verdicts`] as it is filled: questions no repeat could answer
/// are left out, as the report shows them as a dash.
#[derive(Default)]
struct Answers(BTreeMap<String, Vec<crate::figures::KeyedAnswer>>);

impl Answers {
    fn add(&mut self, section: &str, key: String, consensus: Consensus) {
        if consensus != Consensus::None {
            let answer = crate::figures::KeyedAnswer { key, answer: consensus.record() };
            self.0.entry(section.to_string()).or_default().push(answer);
        }
    }
}

const CHANNELS_TEXT: &str = "Producers send `u64` items through a bounded hand-off to consumers that add them up; \
one operation is one item handed over, timed until every item is received. `mutex-vecdeque-condvar` is the \
baseline (the lock-based queue most people write first); `tokio-mpsc` runs as tasks on one runtime worker per \
core, so its producers and consumers often share a thread and hand over without waking another.";

const COUNTERS_TEXT: &str = "Every thread increments one shared counter and reads the total on 1 % of its \
operations. `std-mutex` is the baseline.";

/// The noise band of each group.
struct Bands(BTreeMap<String, f64>);

impl Bands {
    fn of(data: &Dataset) -> Bands {
        let mut groups: Vec<&str> = data.cells.iter().map(|c| c.group.as_str()).collect();
        groups.sort_unstable();
        groups.dedup();
        Bands(groups.into_iter().map(|g| (g.to_string(), noise_band(data.group(g)))).collect())
    }

    fn get(&self, group: &str) -> f64 {
        self.0.get(group).copied().unwrap_or(crate::stats::MIN_BAND)
    }
}

/// The noise band of `group` in one repeat (answers are worked out on each repeat alone).
fn band_in(data: &Dataset, group: &str) -> f64 {
    noise_band(data.group(group))
}

fn smoke(data: &Dataset, provenance: &Provenance) -> bool {
    provenance.run.as_ref().is_some_and(|r| r.quick) || data.runs.iter().any(|r| r.mode != "full")
}

/// `2026-11-23 14:05 UTC`.
pub fn utc(unix: u64) -> String {
    let (mut days, secs) = (unix / 86_400, unix % 86_400);
    let leap = |y: u64| y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400));
    let mut year = 1970;
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let lengths = [31, if leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 0;
    while days >= lengths[month] {
        days -= lengths[month];
        month += 1;
    }
    format!("{year:04}-{:02}-{:02} {:02}:{:02} UTC", month + 1, days + 1, secs / 3600, secs % 3600 / 60)
}

fn header(md: &mut String, runs: &Runs, provenance: &Provenance) {
    let data = &runs.pooled;
    md.push_str("# Benchmark report: Mutex or RwLock, channel or lock\n\n");
    if smoke(data, provenance) {
        md.push_str(
            "> **Smoke run.** These figures come from a quick run (tiny budgets, one round per repeat) that only proves every \
             bench runs and the report is produced end to end. They are not measurements: do not draw conclusions \
             from them. Produce real figures on a quiet machine with `cargo bench-report --run`.\n\n",
        );
    }
    let when = data.runs.first().map_or_else(|| "unknown".into(), |r| utc(r.started_unix));
    let machine = data.runs.first().map_or_else(
        || "unknown machine".into(),
        |r| format!("{} logical cores ({}), Linux {}", r.cores, r.cpu_model, r.kernel),
    );
    let _ = writeln!(
        md,
        "Measured {when} on {machine}; commit `{}`, {}. Produced by `{}`.\n",
        provenance.commit, provenance.rustc, provenance.command
    );
    md.push_str(
        "**How to read it.** Times are per operation (one lock operation, one item handed over, one event), the \
         median of criterion's samples; with several threads this is the inverse of the whole system's throughput. \
         A *ratio* is a contender's time over another's, the median over rounds of each round's ratio: below 1 it is \
         faster. Brackets give its spread: a 95 % bootstrap interval over the samples, widened to include each \
         round's ratio (from four rounds on, all but the most extreme one on each side). Contenders of a cell run \
         one after another in rounds of alternating order (A B C, then C B A), so a machine that drifts biases \
         none of them. A difference counts only if the whole interval is on one side of 1 *and* the ratio \
         is beyond the group's noise band (twice the median change of a contender against itself between rounds, \
         at least 3 %); otherwise it is a **tie**, not a win. A † marks a cell measured while other processes \
         used more than a quarter of the machine, or its threads waited that long for a core without being \
         oversubscribed, or the CPU ran more than 15 % slower than calibrated just before or after (a neighbour on \
         the same physical core, which `/proc/stat` does not show): treat it with suspicion. \"Oversubscribed\" is 4 threads per core.\n\n",
    );
    let _ = writeln!(
        md,
        "**Repeats.** The benches ran {} time(s), each time in processes of their own. Figures pool every repeat's \
         rounds; every answer (a verdict, a crossover, a winner, a faster/tie/slower call) is worked out on each \
         repeat alone and given as a verdict only when at least {MIN_REPEATS} repeats gave it and none gave another, \
         with the count (\"3/3 repeats\"). An answer that changes between repeats is labelled **unstable**, with how \
         many repeats gave each answer; one from fewer than {MIN_REPEATS} repeats carries a `?`.\n",
        runs.repeats.len()
    );
    let _ = writeln!(md, "**Cost.** {}\n", cost(runs, provenance));
}

/// What this run cost and what a full run costs, from the side files' wall times.
fn cost(runs: &Runs, provenance: &Provenance) -> String {
    let bench_seconds: f64 = runs.pooled.runs.iter().map(|r| r.wall_seconds).sum();
    let repeats = runs.repeats.len().max(1);
    let mut text = format!(
        "The benches measured here took {:.1} minutes of bench time over {repeats} repeat(s)",
        bench_seconds / 60.0
    );
    if let Some(run) = &provenance.run {
        let _ = write!(text, "; the whole command took {:.1} minutes, build included", run.total_seconds / 60.0);
    }
    text.push('.');
    if let Some(full) = full_run_estimate(runs) {
        let _ = write!(
            text,
            " A full run (`cargo bench-report --run`: {MIN_REPEATS} repeats, full budgets) takes about {:.0} minutes on \
             this machine, build aside{}.",
            full / 60.0,
            if smoke_runs(&runs.pooled) {
                " (estimated from this run's benchmarks: their count at full rounds, each costing the full warm-up and \
                 measurement time plus the start-up and batch sizing this run measured)"
            } else {
                " (this run's bench time per repeat, times the repeats)"
            }
        );
    }
    text
}

/// Seconds of bench time a full run takes: measured per repeat when this run was one,
/// otherwise estimated from the structure of this run (see [`cost`]).
fn full_run_estimate(runs: &Runs) -> Option<f64> {
    let first = runs.repeats.first()?;
    if first.runs.is_empty() {
        return None;
    }
    if !smoke_runs(&runs.pooled) {
        let per_repeat: f64 = first.runs.iter().map(|r| r.wall_seconds).sum();
        return Some(per_repeat * MIN_REPEATS as f64);
    }
    // Full budgets per benchmark (common::Suite): 30 ms warm-up, 120 ms measurement, 4 rounds.
    const FULL_SECONDS_PER_BENCHMARK: f64 = 0.15;
    const FULL_ROUNDS: f64 = 4.0;
    const QUICK_SECONDS_PER_BENCHMARK: f64 = 0.04;
    let per_repeat: f64 = first
        .runs
        .iter()
        .map(|run| {
            let benchmarks = run.entries.len().max(1) as f64;
            let overhead = (run.wall_seconds / benchmarks - QUICK_SECONDS_PER_BENCHMARK).max(0.0);
            benchmarks / run.rounds.max(1) as f64 * FULL_ROUNDS * (FULL_SECONDS_PER_BENCHMARK + overhead)
        })
        .sum();
    Some(per_repeat * MIN_REPEATS as f64)
}

fn smoke_runs(data: &Dataset) -> bool {
    data.runs.iter().any(|r| r.mode != "full")
}

/// Each repeat's word on `rule` for one lock pair's grids (see [`repeat_grids`]), over the
/// points `keep` selects.
fn rule_consensus(grids: &[Vec<LockPoint>], rule: &analysis::Rule, keep: impl Fn(&LockPoint) -> bool) -> Consensus {
    Consensus::of(
        grids
            .iter()
            .map(|points| {
                let subset: Vec<LockPoint> = points.iter().filter(|p| keep(p)).cloned().collect();
                rule_verdict(rule, &subset).word().to_string()
            })
            .filter(|word| word != "no data")
            .collect(),
    )
}

/// Each repeat's word on a decision-matrix row.
fn matrix_consensus(runs: &Runs, group: &str) -> Consensus {
    runs.answer(|repeat| {
        let verdict = analysis::matrix_verdict(repeat.group(group), band_in(repeat, group));
        Some(verdict.word().to_string()).filter(|word| word != "no data")
    })
}

/// A cell's winner (or the contenders tied for first) in each repeat.
fn winner_consensus(runs: &Runs, cell: &Cell) -> Consensus {
    runs.cell_answer(cell, |repeat, c| {
        let ranking = rank(c, band_in(repeat, &c.group))?;
        let mut tied: Vec<&str> = ranking.tied();
        if tied.is_empty() {
            return Some(ranking.winner.clone());
        }
        tied.push(&ranking.winner);
        tied.sort_unstable();
        Some(format!("tie: {}", tied.join(", ")))
    })
}

/// The pooled ranking of a cell when every repeat agrees on its winner, with the count;
/// otherwise what the repeats said.
fn winner_text(runs: &Runs, cell: &Cell, band: f64) -> String {
    let consensus = winner_consensus(runs, cell);
    match (consensus.verdict(), rank(cell, band)) {
        (Some(_), Some(ranking)) => format!("{} ({n}/{n} repeats)", ranking.describe(), n = runs.repeats.len()),
        _ => consensus.show(),
    }
}

/// Each repeat's faster/tie/slower call of contender `id` against `baseline` in `cell`.
fn outcome_consensus(runs: &Runs, cell: &Cell, id: &str, baseline: &str) -> Consensus {
    runs.cell_answer(cell, |repeat, c| {
        let cmp = compare(c.contenders.get(id)?, c.contenders.get(baseline)?, band_in(repeat, &c.group))?;
        Some(outcome_word(cmp.outcome).to_string())
    })
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Faster => "faster",
        Outcome::Tie => "tie",
        Outcome::Slower => "slower",
    }
}

/// The pooled verdict's figures with the repeats' answer: `**supported** (3/3 repeats);
/// pooled 4 / 2 / 0 of 6 cells (faster / tie / slower)`.
fn verdict_with_consensus(consensus: &Consensus, pooled: &Verdict) -> String {
    if consensus == &Consensus::None {
        return "no data".into();
    }
    format!("{}; pooled: {}", consensus.show(), verdict_cell(pooled))
}

fn summary(md: &mut String, runs: &Runs, bands: &Bands) {
    let data = &runs.pooled;
    md.push_str("## Verdicts at a glance\n\n");
    let points: Vec<Vec<LockPoint>> =
        LOCK_PAIRS.iter().map(|pair| lock_points(data, pair, bands.get(LOCK_GROUP))).collect();
    md.push_str("| The first seed's claim | std's locks | parking_lot's locks |\n|---|---|---|\n");
    let grids: Vec<Vec<Vec<LockPoint>>> = LOCK_PAIRS.iter().map(|pair| repeat_grids(runs, pair)).collect();
    for rule in rules() {
        let verdicts: Vec<String> = points
            .iter()
            .zip(&grids)
            .map(|(p, grids)| verdict_with_consensus(&rule_consensus(grids, &rule, |_| true), &rule_verdict(&rule, p)))
            .collect();
        let _ = writeln!(md, "| {}: *\"{}\"* | {} | {} |", rule.name, rule.quote, verdicts[0], verdicts[1]);
    }
    md.push_str(
        "\n| Decision-matrix row | Seed recommends | Verdict | Fastest measured, per cell |\n|---|---|---|---|\n",
    );
    for row in &MATRIX {
        let band = bands.get(row.group);
        let verdict = analysis::matrix_verdict(data.group(row.group), band);
        let winners: Vec<String> =
            data.group(row.group).map(|cell| format!("{}: {}", cell.label, winner_text(runs, cell, band))).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            row.scenario,
            row.recommendation,
            verdict_with_consensus(&matrix_consensus(runs, row.group), &verdict),
            or_dash(winners.join("; "))
        );
    }
    md.push('\n');
}

fn or_dash(text: String) -> String {
    if text.is_empty() {
        "—".into()
    } else {
        text
    }
}

fn verdict_cell(verdict: &Verdict) -> String {
    let word = verdict.word();
    if word == "no data" {
        return word.into();
    }
    format!(
        "{word} ({} / {} / {} of {} cells: faster / tie / slower)",
        verdict.wins.len(),
        verdict.ties.len(),
        verdict.losses.len(),
        verdict.wins.len() + verdict.ties.len() + verdict.losses.len()
    )
}

fn thread_label(point: &LockPoint) -> String {
    if point.oversubscribed {
        format!("{} (oversubscribed)", point.threads)
    } else {
        point.threads.to_string()
    }
}

/// One lock pair's grid in each repeat.
fn repeat_grids(runs: &Runs, pair: &analysis::LockPair) -> Vec<Vec<LockPoint>> {
    runs.repeats.iter().map(|repeat| lock_points(repeat, pair, band_in(repeat, LOCK_GROUP))).collect()
}

/// Each repeat's crossover for one thread count and section length of a pair's grids.
fn crossover_consensus(grids: &[Vec<LockPoint>], threads: u64, cs_ns: u64) -> Consensus {
    Consensus::of(
        grids
            .iter()
            .filter_map(|points| {
                let line: Vec<&LockPoint> =
                    points.iter().filter(|p| p.threads == threads && p.cs_ns == cs_ns).collect();
                (!line.is_empty()).then(|| crossover(&line).show())
            })
            .collect(),
    )
}

/// Each repeat's R / M / = call on one point of a pair's grids.
fn grid_consensus(grids: &[Vec<LockPoint>], point: &LockPoint) -> Consensus {
    Consensus::of(
        grids
            .iter()
            .filter_map(|points| {
                points
                    .iter()
                    .find(|p| p.threads == point.threads && p.cs_ns == point.cs_ns && p.reads_pct == point.reads_pct)
            })
            .map(|p| {
                match p.cmp.outcome {
                    Outcome::Faster => "R",
                    Outcome::Slower => "M",
                    Outcome::Tie => "=",
                }
                .to_string()
            })
            .collect(),
    )
}

fn locks(md: &mut String, runs: &Runs, bands: &Bands, out: &Path) -> Result<()> {
    let data = &runs.pooled;
    md.push_str("## Mutex or RwLock\n\n");
    let band = bands.get(LOCK_GROUP);
    let all: Vec<Vec<LockPoint>> = LOCK_PAIRS.iter().map(|pair| lock_points(data, pair, band)).collect();
    if all.iter().all(Vec::is_empty) {
        md.push_str("No lock measurements in this run.\n\n");
        return Ok(());
    }
    let grids: Vec<Vec<Vec<LockPoint>>> = LOCK_PAIRS.iter().map(|pair| repeat_grids(runs, pair)).collect();
    let _ = writeln!(
        md,
        "Every thread loops: draw a read (with the cell's probability) or a write, take the lock, spin for the \
         critical-section length (calibrated busy work), touch the protected data, release. Nothing happens between \
         sections, so the lock is as contended as the thread count allows. The ratio is **RwLock's time over \
         Mutex's** for the same implementation: below 1, RwLock is faster. Noise band of this group: {:.1} %.\n",
        band * 100.0
    );
    md.push_str("### Crossover: the read fraction from which RwLock beats Mutex\n\n");
    let reference = &all[0];
    let (threads, sections) = (axis(reference, |p| p.threads), axis(reference, |p| p.cs_ns));
    md.push_str("| threads | critical section | std | parking_lot |\n|---|---|---|---|\n");
    for &t in &threads {
        for &cs in &sections {
            let cells: Vec<String> = grids.iter().map(|grids| crossover_consensus(grids, t, cs).short()).collect();
            let label = reference.iter().find(|p| p.threads == t).map_or_else(|| t.to_string(), thread_label);
            let _ = writeln!(md, "| {label} | {} | {} | {} |", analysis::ns_label(cs), cells[0], cells[1]);
        }
    }
    md.push_str(
        "\n\"a–b %\": RwLock wins from read fraction b on (not yet at a); \"never\": at no read fraction measured. \
         Each repeat's crossover is worked out on its own; `?`: from fewer repeats than a verdict needs.\n\n",
    );
    for (pair, points) in LOCK_PAIRS.iter().zip(&all) {
        if points.is_empty() {
            continue;
        }
        let file = format!("locks-{}.svg", pair.name);
        plot_locks(pair.name, points, &out.join(&file))?;
        let _ = writeln!(md, "![{} locks]({file})\n", pair.name);
    }
    for ((pair, points), grids) in LOCK_PAIRS.iter().zip(&all).zip(&grids) {
        let _ = writeln!(md, "### The grid, {}: RwLock's time over Mutex's\n", pair.name);
        let reads = axis(points, |p| p.reads_pct);
        let _ = writeln!(
            md,
            "| threads | section | {} |",
            reads.iter().map(|r| format!("{r} % reads")).collect::<Vec<_>>().join(" | ")
        );
        let _ = writeln!(md, "|---|---|{}", "---|".repeat(reads.len()));
        for &t in &threads {
            for &cs in &sections {
                let row: Vec<String> = reads
                    .iter()
                    .map(|&r| {
                        points.iter().find(|p| p.threads == t && p.cs_ns == cs && p.reads_pct == r).map_or_else(
                            || "—".into(),
                            |p| {
                                let mark = match grid_consensus(grids, p) {
                                    c if c.verdict() == Some("R") => "**R**".to_string(),
                                    c => c.short(),
                                };
                                format!("{} {mark}{}", fmt_ratio(p.cmp.ratio), if p.disturbed { " †" } else { "" })
                            },
                        )
                    })
                    .collect();
                let label = points.iter().find(|p| p.threads == t).map_or_else(|| t.to_string(), thread_label);
                let _ = writeln!(md, "| {label} | {} | {} |", analysis::ns_label(cs), row.join(" | "));
            }
        }
        md.push_str(
            "\n**R**: RwLock faster; M: Mutex faster; =: tie (inside the noise band or the spread), in every \
             repeat; `?`: from fewer repeats than a verdict needs; *unstable*: the repeats disagree.\n\n",
        );
    }
    ranked_group(md, runs, bands, "locks/async", "Async code: tokio's locks or std's Mutex", ASYNC_TEXT);
    Ok(())
}

const ASYNC_TEXT: &str = "The same loop in tokio tasks on a runtime with one worker per core: std's `Mutex` \
(never held across an await, so it never blocks a worker for long) against tokio's `Mutex` and `RwLock`. \
`tasks` is the number of tasks, `r` the read percentage, `cs` the section. `std-mutex` is the baseline.";

fn plot_locks(name: &str, points: &[LockPoint], path: &Path) -> Result<()> {
    let reads = axis(points, |p| p.reads_pct);
    let panels = axis(points, |p| p.threads)
        .into_iter()
        .map(|t| Panel {
            title: points
                .iter()
                .find(|p| p.threads == t)
                .map_or_else(String::new, |p| format!("threads: {}", thread_label(p))),
            series: axis(points, |p| p.cs_ns)
                .into_iter()
                .map(|cs| Series {
                    name: format!("section {}", analysis::ns_label(cs)),
                    points: points
                        .iter()
                        .filter(|p| p.threads == t && p.cs_ns == cs)
                        .filter_map(|p| {
                            let x = reads.iter().position(|r| *r == p.reads_pct)?;
                            Some(Point { x, y: p.cmp.ratio, lo: p.cmp.lo, hi: p.cmp.hi })
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    plot::draw(
        &Chart {
            title: format!("{name}: RwLock time / Mutex time (below 1: RwLock faster)"),
            x_desc: "reads (%)".into(),
            x_labels: reads.iter().map(u64::to_string).collect(),
            y_desc: "RwLock / Mutex".into(),
            reference: Some(1.0),
            panels,
        },
        path,
    )
}

fn rules_section(md: &mut String, runs: &Runs, bands: &Bands) {
    let data = &runs.pooled;
    md.push_str("## The seed's rules of thumb\n\n");
    let _ = writeln!(
        md,
        "The rules speak of lines of code; the benches of nanoseconds. Mapping used: **one line ≈ {} ns** (a line of \
         straight-line code is a few instructions, 1–3 ns; lines that hash, allocate or chase pointers cost 20–100 ns; \
         5 ns is a typical line of a read-heavy section). So \"< 20 lines\" is a section under 100 ns (only the ≈0 \
         sections here) and \"> 50 lines\" is over 250 ns (the 1 µs and 10 µs sections). \"Reads > 3x writes\" is more \
         than 75 % reads; \"writes > 25 %\" is fewer than 75 % reads. Every thread count measured is a deciding cell.\n",
        analysis::NS_PER_LINE
    );
    md.push_str(
        "A rule is **supported** when its recommended lock is faster (beyond noise) in at least half of the cells \
         of its region and slower in none; **refuted** when the other lock is faster in at least half; \
         **inconclusive** otherwise (mostly ties, or mixed). Cells are named threads/section/reads with the \
         RwLock/Mutex ratio.\n\n",
    );
    let band = bands.get(LOCK_GROUP);
    let grids: Vec<Vec<Vec<LockPoint>>> = LOCK_PAIRS.iter().map(|pair| repeat_grids(runs, pair)).collect();
    for rule in rules() {
        let _ = writeln!(md, "### {}\n\n> {}\n\nRegion: {}.\n", rule.name, rule.quote, rule.region);
        for (pair, grids) in LOCK_PAIRS.iter().zip(&grids) {
            let points = lock_points(data, pair, band);
            let verdict = rule_verdict(&rule, &points);
            let consensus = rule_consensus(grids, &rule, |_| true);
            let _ = writeln!(md, "- **{}** — {}; pooled: {}.", pair.name, consensus.show(), verdict.counts());
            let by_threads: Vec<String> = axis(&points, |p| p.threads)
                .into_iter()
                .filter_map(|t| {
                    let subset: Vec<LockPoint> = points.iter().filter(|p| p.threads == t).cloned().collect();
                    let v = rule_verdict(&rule, &subset);
                    let label = thread_label(subset.first()?);
                    Some(format!(
                        "{label} threads: {} ({}/{}/{})",
                        rule_consensus(grids, &rule, |p| p.threads == t).short(),
                        v.wins.len(),
                        v.ties.len(),
                        v.losses.len()
                    ))
                })
                .collect();
            if by_threads.len() > 1 {
                let _ = writeln!(md, "  - by thread count (faster/tie/slower): {}", by_threads.join("; "));
            }
            for (what, cells) in [
                ("recommendation faster", &verdict.wins),
                ("tie", &verdict.ties),
                ("recommendation slower", &verdict.losses),
            ] {
                if !cells.is_empty() {
                    let _ = writeln!(md, "  - {what}: {}", cells.join("; "));
                }
            }
        }
        md.push('\n');
    }
}

/// `p4c1-cap16 (oversubscribed)`.
fn cell_name(cell: &Cell) -> String {
    let mut name = cell.label.clone();
    if cell.oversubscribed() {
        name.push_str(" (oversubscribed)");
    }
    if disturbed(cell) {
        name.push_str(" †");
    }
    name
}

/// Contender ids of a set of cells, in first-seen order.
fn contender_ids<'a>(cells: impl Iterator<Item = &'a Cell>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for cell in cells {
        for id in cell.contenders.keys() {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
    }
    ids
}

/// A table of cells: the winner, then each contender's time and its ratio to the baseline.
/// A contender's allocations per operation (the median over its rounds), where counted.
pub fn allocations(contender: &Contender) -> Option<(f64, f64)> {
    let counted: Vec<(f64, f64)> = contender.rounds.values().filter_map(|round| round.allocations).collect();
    (!counted.is_empty()).then(|| {
        let (count, bytes): (Vec<f64>, Vec<f64>) = counted.into_iter().unzip();
        (crate::stats::median(&count), crate::stats::median(&bytes))
    })
}

/// `2.0 alloc, 117 B per op`.
pub fn fmt_allocations((count, bytes): (f64, f64)) -> String {
    let count = if count == count.round() { format!("{count:.0}") } else { format!("{count:.2}") };
    format!("{count} alloc, {bytes:.0} B per op")
}

fn cell_table(md: &mut String, runs: &Runs, cells: &[&Cell], baseline: Option<&str>, band: f64) {
    let mut ids = contender_ids(cells.iter().copied());
    if let Some(base) = baseline {
        ids.sort_by_key(|id| id != base);
    }
    let _ = writeln!(
        md,
        "| cell | fastest | {} |",
        ids.iter()
            .map(|id| if Some(id.as_str()) == baseline { format!("{id} (baseline)") } else { id.clone() })
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(md, "|---|---|{}", "---|".repeat(ids.len()));
    for cell in cells {
        let base = baseline.and_then(|b| cell.contenders.get(b));
        let columns: Vec<String> = ids
            .iter()
            .map(|id| match cell.contenders.get(id) {
                None => "—".into(),
                Some(c) => {
                    let mut text = fmt_ns(typical(c));
                    if let Some(counted) = allocations(c) {
                        let _ = write!(text, "; {}", fmt_allocations(counted));
                    }
                    let versus = base.filter(|_| Some(id.as_str()) != baseline).and_then(|b| compare(c, b, band));
                    if let (Some(cmp), Some(base_id)) = (versus, baseline) {
                        let call = outcome_consensus(runs, cell, id, base_id).short();
                        let _ = write!(text, " ({}, {call})", cmp.show());
                    }
                    text
                }
            })
            .collect();
        let winner = winner_text(runs, cell, band);
        let _ = writeln!(md, "| {} | {winner} | {} |", cell_name(cell), columns.join(" | "));
    }
    md.push('\n');
}

fn ranked_group(md: &mut String, runs: &Runs, bands: &Bands, group: &str, title: &str, text: &str) {
    let cells: Vec<&Cell> = runs.pooled.group(group).collect();
    if cells.is_empty() {
        return;
    }
    let band = bands.get(group);
    let baseline = cells[0].baseline.clone();
    let _ = writeln!(md, "## {title}\n\n{text} {TABLE_TEXT} Noise band: {:.1} %.\n", band * 100.0);
    cell_table(md, runs, &cells, baseline.as_deref(), band);
}

/// Quartiles of a contender's samples, pooled over rounds (the spread drawn in plots).
fn quartiles(contender: &Contender) -> (f64, f64) {
    let mut all: Vec<f64> = contender.rounds.values().flat_map(|r| r.samples.iter().copied()).collect();
    all.sort_by(f64::total_cmp);
    let at = |q: f64| all.get(((all.len().saturating_sub(1)) as f64 * q).round() as usize).copied().unwrap_or(f64::NAN);
    (at(0.25), at(0.75))
}

/// Time per operation by contender: one panel per distinct value of `panel_keys`, `x_key` along x.
fn plot_by_contender(
    data: &Dataset,
    group: &str,
    panel_keys: &[&str],
    x_key: &str,
    path: &Path,
    y_desc: &str,
) -> Result<()> {
    let cells: Vec<&Cell> = data.group(group).collect();
    if cells.is_empty() {
        return Ok(());
    }
    let value = |cell: &Cell, key: &str| cell.num(key).unwrap_or(f64::NAN) as u64;
    let mut xs: Vec<u64> = cells.iter().map(|c| value(c, x_key)).collect();
    xs.sort_unstable();
    xs.dedup();
    let panel_of =
        |cell: &Cell| panel_keys.iter().map(|k| format!("{k} {}", value(cell, k))).collect::<Vec<_>>().join(", ");
    let mut panel_names: Vec<String> = Vec::new();
    for cell in &cells {
        let name = panel_of(cell);
        if !panel_names.contains(&name) {
            panel_names.push(name);
        }
    }
    let ids = contender_ids(cells.iter().copied());
    let panels = panel_names
        .iter()
        .map(|panel| Panel {
            title: panel.clone(),
            series: ids
                .iter()
                .map(|id| Series {
                    name: id.clone(),
                    points: cells
                        .iter()
                        .filter(|c| &panel_of(c) == panel)
                        .filter_map(|c| {
                            let contender = c.contenders.get(id)?;
                            let (lo, hi) = quartiles(contender);
                            Some(Point {
                                x: xs.iter().position(|x| *x == value(c, x_key))?,
                                y: typical(contender),
                                lo,
                                hi,
                            })
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    plot::draw(
        &Chart {
            title: format!("{group}: {y_desc} (bars: quartiles of the samples)"),
            x_desc: x_key.into(),
            x_labels: xs.iter().map(u64::to_string).collect(),
            y_desc: y_desc.into(),
            reference: None,
            panels,
        },
        path,
    )
}

/// How to read a [`cell_table`].
const TABLE_TEXT: &str = "Times are per operation (allocations per operation where the bench counts them); \
brackets: time over the baseline's, with spread, and the repeats' faster/tie/slower call against the baseline.";

fn matrix(md: &mut String, runs: &Runs, bands: &Bands) {
    let data = &runs.pooled;
    md.push_str("## The seed's Channel vs Mutex decision matrix\n\n");
    md.push_str(
        "Each row of the matrix is a scenario of its own, the seed's recommendation (the baseline) against the \
         alternatives a reader would consider. Each run ends when every item is fully handled, so no contender wins \
         by leaving work queued. In a cell the recommendation *wins* if every alternative is slower beyond noise, \
         *loses* if any is faster; the row's verdict follows the same rule as the rules of thumb. Brackets: the \
         alternative's time over the recommendation's.\n\n",
    );
    for row in &MATRIX {
        let cells: Vec<&Cell> = data.group(row.group).collect();
        if cells.is_empty() {
            continue;
        }
        let band = bands.get(row.group);
        let verdict = analysis::matrix_verdict(cells.iter().copied(), band);
        let _ = writeln!(
            md,
            "### {} — seed: \"{}\" ({})\n\n`{}`: {}; pooled: {}. Noise band {:.1} %.\n",
            row.scenario,
            row.recommendation,
            row.rationale,
            row.group,
            matrix_consensus(runs, row.group).show(),
            verdict.counts(),
            band * 100.0
        );
        cell_table(md, runs, &cells, cells[0].recommended.as_deref(), band);
    }
}

fn patterns(md: &mut String, runs: &Runs, bands: &Bands) {
    let data = &runs.pooled;
    let groups = analysis::pattern_groups(data);
    if groups.is_empty() {
        return;
    }
    md.push_str("## Pattern benches\n\n");
    let _ = writeln!(
        md,
        "The patterns' own benches, each against what a user would otherwise pick, their contenders in alternating \
         rounds like the decision benches. {TABLE_TEXT} The baseline is racekit's contender (the id starting with \
         `racekit`), so a ratio is the other's time over racekit's.\n"
    );
    for group in groups {
        let cells: Vec<&Cell> = data.group(&group).collect();
        let baseline = cells.iter().find_map(|c| racekit_contender(c)).map(str::to_string);
        let _ = writeln!(md, "### `{group}`\n");
        if baseline.is_none() {
            md.push_str("No contender id starts with `racekit`: times only.\n\n");
        }
        cell_table(md, runs, &cells, baseline.as_deref(), bands.get(&group));
    }
}

fn machine(md: &mut String, runs: &Runs, provenance: &Provenance) {
    let data = &runs.pooled;
    md.push_str("## Machine and run\n\n");
    if !data.runs.is_empty() {
        md.push_str(
            "One row per bench binary and repeat. *Others' CPU*: the share of the machine's CPU capacity used by other \
             processes while it ran (from `/proc/stat` minus this process); load averages from `/proc/loadavg`. \
             Per benchmark the side files also record the CPU time each bench thread got and how long it waited for \
             a core (`/proc/thread-self/schedstat`), and the CPU's speed just before and after against the spin \
             calibration (best of three 100 µs spins); † in the tables above marks the cells where these show a busy \
             machine.\n\n",
        );
        md.push_str("| bench | mode | rounds | started | wall | load before → after | others' CPU | CPU per bench thread (median) | CPU speed (median, lowest) | disturbed cells | spin calibration |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
        for run in &data.runs {
            let groups: Vec<&str> = {
                let mut g: Vec<&str> = run.entries.iter().map(|e| e.group.as_str()).collect();
                g.dedup();
                g
            };
            let cells: Vec<&Cell> =
                data.cells.iter().filter(|c| groups.contains(&c.group.as_str()) && !c.params.is_null()).collect();
            let disturbed_cells = cells.iter().filter(|c| disturbed(c)).count();
            let cpu: Vec<f64> = run.entries.iter().filter_map(|e| e.cpu_share).collect();
            let speeds: Vec<f64> = run.entries.iter().filter_map(|e| e.cpu_speed).collect();
            let speed = if speeds.is_empty() {
                "—".into()
            } else {
                format!(
                    "{:.0} %, {:.0} %",
                    crate::stats::median(&speeds) * 100.0,
                    speeds.iter().copied().fold(f64::MAX, f64::min) * 100.0
                )
            };
            let load = |l: &[f64]| l.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>().join(" ");
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.0} s | {} → {} | {} | {} | {speed} | {} of {} | {:.3} ns/unit |",
                run.bench,
                run.mode,
                run.rounds,
                utc(run.started_unix),
                run.wall_seconds,
                load(&run.loadavg_before),
                load(&run.loadavg_after),
                run.others_share.map_or_else(|| "—".into(), |s| format!("{:.0} %", s * 100.0)),
                if cpu.is_empty() { "—".into() } else { format!("{:.0} %", crate::stats::median(&cpu) * 100.0) },
                disturbed_cells,
                cells.len(),
                run.spin_ns_per_unit
            );
        }
        if let Some(run) = data.runs.first() {
            let _ = writeln!(
                md,
                "\nMachine: {} logical cores, {}, Linux {}. Bench arguments: `{}`.\n",
                run.cores,
                run.cpu_model,
                run.kernel,
                run.args.get(1..).unwrap_or_default().join(" ")
            );
        }
    }
    if let Some(run) = &provenance.run {
        let _ = writeln!(md, "Run: build {:.0} s, then {} repeat(s) of:\n", run.build_seconds, run.repeats);
        for (bench, ok, seconds, _) in &run.benches {
            let _ = writeln!(md, "- `{bench}`: {} in {seconds:.0} s", if *ok { "ran" } else { "**failed**" });
        }
        let _ = writeln!(md, "\nTotal {:.1} minutes.\n", run.total_seconds / 60.0);
    }
    md.push_str(
        "### Reproduce\n\n```sh\n# the full report, from scratch (3 repeats; see Cost above for how long; run it on a quiet machine)\n\
         cargo bench-report --run\n# a smoke run of every bench (a minute or two; its report goes to target/bench-report/)\n\
         cargo bench-report --quick\n# one bench by hand, then the report from whatever criterion output exists\n\
         cargo bench --bench locks && cargo bench-report\n\
         # a second full run, its verdicts checked against the committed ones (exit 1 when any differ)\n\
         cp docs/benchmarks/figures.json /tmp/earlier.json && cargo bench-report --run --compare-with /tmp/earlier.json \
         && cargo bench-report compare /tmp/earlier.json docs/benchmarks/figures.json\n```\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repeats::{runs_of, two_contenders};

    fn verdicts(runs: &Runs) -> BTreeMap<String, Vec<crate::figures::KeyedAnswer>> {
        let provenance =
            Provenance { commit: "abc1234".into(), rustc: "rustc".into(), command: "test".into(), run: None };
        figures(runs, &Bands::of(&runs.pooled), &provenance).verdicts
    }

    fn verdict<'a>(
        verdicts: &'a BTreeMap<String, Vec<crate::figures::KeyedAnswer>>,
        section: &str,
        key: &str,
    ) -> Option<&'a str> {
        let keyed = verdicts[section].iter().find(|k| k.key == key).unwrap_or_else(|| panic!("no {section} key {key}"));
        keyed.answer.verdict.as_deref()
    }

    #[test]
    fn figures_key_the_fastest_contender_and_the_calls_of_every_cell() {
        let runs = runs_of((0..3).map(|_| two_contenders("channels/handoff", 10.0, 20.0)).collect());
        let all = verdicts(&runs);
        assert_eq!(verdict(&all, "fastest", "channels/handoff / c"), Some("a"));
        assert_eq!(verdict(&all, "calls", "channels/handoff / c / b"), Some("slower"));
        let split = runs_of(vec![
            two_contenders("channels/handoff", 10.0, 20.0),
            two_contenders("channels/handoff", 10.0, 20.0),
            two_contenders("channels/handoff", 20.0, 10.0),
        ]);
        let all = verdicts(&split);
        assert_eq!(verdict(&all, "fastest", "channels/handoff / c"), None, "the third repeat disagrees");
        assert_eq!(all["fastest"][0].answer.answers, vec![("a".to_string(), 2), ("b".to_string(), 1)]);
    }
}
