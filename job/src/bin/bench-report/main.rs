//! `cargo bench-report`: runs racekit's criterion benches and writes the decision report
//! (Mutex or RwLock, channel or lock), with SVG plots, from criterion's output and the side
//! files the decision benches write.
//!
//! - `cargo bench-report --run`: clears earlier output, runs every bench at full budget
//!   three times, each time in processes of their own (the report's Cost line says how
//!   long that takes), writes `docs/benchmarks/REPORT.md`.
//! - `cargo bench-report --quick`: a smoke run of every bench with tiny budgets, twice,
//!   report in `bench-report/` of the target folder, labelled as a smoke run.
//! - `cargo bench-report --checkers`: also builds and runs the `checkers` bench under loom
//!   and shuttle (racekit's harness against the raw checkers; each a build of its own).
//! - `cargo bench-report`: only writes the report from the criterion output there is.
//! - `cargo bench-report figures [--job reports/job/job.json] [--check]`: README's
//!   generated sections from the committed figure files (see [`figures`]).
//! - `cargo bench-report compare OLD.json NEW.json`: whether two runs agree on every verdict
//!   they both give (see [`compare`]); exit status 0 when they do, 1 when some differ, 2 on
//!   bad input. `--compare-with OLD.json` on a report appends the same comparison to it.
//!
//! Every verdict comes from [`repeats::MIN_REPEATS`] repeats or is labelled (see
//! [`repeats`]).

mod analysis;
mod compare;
mod data;
mod figures;
mod plot;
mod render;
mod repeats;
mod run;
mod stats;

use anyhow::{Context, Result};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[derive(Parser)]
#[command(
    about = "Run racekit's benches and write the decision report (Mutex or RwLock, channel or lock)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Also build and run the `checkers` bench under loom and shuttle (racekit's harness
    /// against the raw checkers); a cold build of each takes minutes.
    #[arg(long)]
    checkers: bool,
    /// Run every bench first at full budget, after clearing earlier criterion output
    /// (the report's Cost line says how long that takes; run it on a quiet machine).
    #[arg(long)]
    run: bool,
    /// Smoke run: every bench with tiny budgets and one round (implies --run); the report
    /// says its figures are not measurements.
    #[arg(long)]
    quick: bool,
    /// Where to write REPORT.md and its plots [default: docs/benchmarks; with --quick, bench-report in the target folder].
    #[arg(long)]
    out: Option<PathBuf>,
    /// criterion's output folder [default: $CRITERION_HOME, else $CARGO_TARGET_DIR/criterion, else target/criterion].
    #[arg(long)]
    criterion_dir: Option<PathBuf>,
    /// Run only this bench (repeatable) [default: every `[[bench]]` of the package].
    #[arg(long = "bench", value_name = "NAME")]
    benches: Vec<String>,
    /// How many times to run every bench, each time in processes of their own; a verdict
    /// needs 3 [default: 3; with --quick, 2].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=20))]
    repeats: Option<u64>,
    /// After writing the report, append the section "Agreement with an earlier run": its
    /// verdicts against those of this earlier figures.json (read before any bench runs, so
    /// it may be the figures.json the report replaces). The exit status does not depend on
    /// the agreement; `bench-report compare` gives it as a status.
    #[arg(long, value_name = "OLD_JSON")]
    compare_with: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Rewrite README's generated sections (pattern ratios, verdicts, mutant detection)
    /// from docs/benchmarks/figures.json and docs/benchmarks/detection.json.
    Figures {
        /// First summarise this job report (`job.json` of `cargo racekit`) into
        /// docs/benchmarks/detection.json, stamped with the commit checked out.
        #[arg(long, value_name = "JOB_JSON")]
        job: Option<PathBuf>,
        /// Change nothing: exit 1 if README differs from what the figure files generate.
        #[arg(long)]
        check: bool,
    },
    /// Match the verdicts of two figures.json files by key and show, per section, how many
    /// both give, how many agree and which differ. Exit status: 0 when every verdict both
    /// give agrees, 1 when some differ, 2 when a file is missing or not a figures file.
    Compare {
        /// The earlier run's figures.json.
        old: PathBuf,
        /// The later run's figures.json.
        new: PathBuf,
    },
}

/// Exit status of a figures file that cannot be read or compared.
const BAD_INPUT: u8 = 2;

/// `cargo bench-report figures`.
fn figures_command(root: &Path, job: Option<&Path>, check: bool) -> Result<()> {
    let dir = root.join("docs/benchmarks");
    let detection_path = dir.join("detection.json");
    if let Some(job) = job {
        anyhow::ensure!(!check, "--job writes a figure file; run it without --check");
        let report: serde_json::Value = figures::read(job)?.ok_or_else(|| {
            anyhow::anyhow!("no job report at {}: run `cargo racekit --out reports/job` first", job.display())
        })?;
        let head_time: i64 = first_line("git", &["log", "-1", "--format=%ct"], root).parse().unwrap_or(0);
        let finished = report["finished"].as_str().and_then(|f| chrono::DateTime::parse_from_rfc3339(f).ok());
        if let Some(finished) = finished {
            anyhow::ensure!(
                finished.timestamp() >= head_time,
                "the job report at {} finished before the checked-out commit was made: it measured an older tree; \
                 rerun `cargo racekit --out reports/job`",
                job.display()
            );
        }
        let detection = figures::detection_from_job(&report, commit_label(root))?;
        std::fs::write(&detection_path, serde_json::to_string_pretty(&detection)? + "\n")?;
        eprintln!("bench-report: wrote {}", detection_path.display());
    }
    let figures_file: Option<figures::Figures> = figures::read(&dir.join("figures.json"))?;
    let detection: Option<figures::Detection> = figures::read(&detection_path)?;
    let sections = figures::sections(figures_file.as_ref(), detection.as_ref());
    let readme_path = root.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).context("reading README.md")?;
    let generated = figures::apply(&readme, &sections)?;
    if check {
        anyhow::ensure!(
            generated == readme,
            "README's generated figures differ from what docs/benchmarks/figures.json and detection.json give: run \
             `cargo bench-report figures` and commit README.md (never edit between the figures markers by hand)"
        );
        eprintln!("bench-report: README's figures match the committed figure files");
    } else if generated != readme {
        std::fs::write(&readme_path, generated)?;
        eprintln!("bench-report: rewrote README's figures");
    }
    Ok(())
}

/// `abc1234`, or `abc1234 (with local changes)` when tracked files differ from it.
fn commit_label(root: &Path) -> String {
    let dirty = !first_line("git", &["status", "--porcelain", "--untracked-files=no"], root).eq("unknown");
    format!(
        "{}{}",
        first_line("git", &["rev-parse", "--short", "HEAD"], root),
        if dirty { " (with local changes)" } else { "" }
    )
}

/// The workspace root: the job crate's parent folder.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// The first line of a command's output, or `unknown`.
fn first_line(program: &str, args: &[&str], root: &Path) -> String {
    Command::new(program)
        .args(args)
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    let root = workspace_root();
    match &cli.command {
        Some(Sub::Figures { job, check }) => {
            return figures_command(&root, job.as_deref(), *check).map(|()| ExitCode::SUCCESS)
        }
        Some(Sub::Compare { old, new }) => {
            return Ok(match compare::command(old, new) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(error) => bad_input(&error),
            })
        }
        None => {}
    }
    // The earlier run is read before any bench runs, so a bad path costs no run.
    let earlier = match cli.compare_with.as_deref().map(compare::Run::load).transpose() {
        Ok(earlier) => earlier,
        Err(error) => return Ok(bad_input(&error)),
    };
    let target = target_dir(&root);
    let criterion_dir = cli
        .criterion_dir
        .clone()
        .unwrap_or_else(|| std::env::var_os("CRITERION_HOME").map_or_else(|| target.join("criterion"), PathBuf::from));
    let out = cli.out.clone().unwrap_or_else(|| {
        if cli.quick {
            target.join("bench-report")
        } else {
            root.join("docs/benchmarks")
        }
    });

    let run = if cli.run || cli.quick {
        let repeats = cli.repeats.map_or(if cli.quick { 2 } else { repeats::MIN_REPEATS }, |r| r as usize);
        let logs = target.join("bench-report").join("logs");
        let log = run::run(&root, &criterion_dir, &logs, cli.quick, repeats, &cli.benches)?;
        let failed: Vec<&str> = log.benches.iter().filter(|b| !b.1).map(|b| b.0.as_str()).collect();
        if !failed.is_empty() {
            eprintln!("bench-report: these benches failed and are missing from the report: {}", failed.join(", "));
        }
        Some(log)
    } else {
        None
    };
    let mut failed = run.as_ref().is_some_and(|r| r.benches.iter().any(|b| !b.1));
    if cli.checkers {
        let home = repeats::checkers_dir(&criterion_dir);
        let logs = target.join("bench-report").join("logs");
        let results = run::run_checkers(&root, &target, &home, &logs, cli.quick)?;
        failed |= results.iter().any(|r| !r.1);
    }

    let runs = repeats::Runs::load(&criterion_dir)?;
    let commit = commit_label(&root);
    let command = match (cli.quick, cli.run) {
        (true, _) => "cargo bench-report --quick",
        (false, true) => "cargo bench-report --run",
        _ => "cargo bench-report",
    };
    let provenance =
        render::Provenance { commit, rustc: first_line("rustc", &["--version"], &root), command: command.into(), run };
    render::write_report(&runs, &provenance, &out)?;
    eprintln!(
        "bench-report: wrote {} ({} cells, {} repeats)",
        out.join("REPORT.md").display(),
        runs.pooled.cells.len(),
        runs.repeats.len()
    );
    if let Some(earlier) = &earlier {
        let agrees = compare::append_to_report(earlier, &out)?;
        eprintln!(
            "bench-report: {} with {} (see \"Agreement with an earlier run\" in the report)",
            if agrees { "every verdict both runs give agrees" } else { "some verdicts differ" },
            earlier.path.display()
        );
    }
    anyhow::ensure!(!failed, "some benches failed (see above); the report lacks them");
    Ok(ExitCode::SUCCESS)
}

fn bad_input(error: &compare::CompareError) -> ExitCode {
    eprintln!("bench-report: {error}");
    ExitCode::from(BAD_INPUT)
}
