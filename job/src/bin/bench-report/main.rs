//! `cargo bench-report`: runs racekit's criterion benches and writes the decision report
//! (Mutex or RwLock, channel or lock), with SVG plots, from criterion's output and the side
//! files the decision benches write.
//!
//! - `cargo bench-report --run`: clears earlier output, runs every bench at full budget
//!   three times, each time in processes of their own (the report's Cost line says how
//!   long that takes), writes `docs/benchmarks/REPORT.md`.
//! - `cargo bench-report --quick`: a smoke run of every bench with tiny budgets, twice,
//!   report in `bench-report/` of the target folder, labelled as a smoke run.
//! - `cargo bench-report`: only writes the report from the criterion output there is.
//!
//! Every verdict comes from [`repeats::MIN_REPEATS`] repeats or is labelled (see
//! [`repeats`]).

mod analysis;
mod data;
mod plot;
mod render;
mod repeats;
mod run;
mod stats;

use anyhow::Result;
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser)]
#[command(about = "Run racekit's benches and write the decision report (Mutex or RwLock, channel or lock)")]
struct Cli {
    /// Run every bench first at full budget, after clearing earlier criterion output
    /// (about 10 minutes on 2 cores; run it on a quiet machine).
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

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
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
    let failed = run.as_ref().is_some_and(|r| r.benches.iter().any(|b| !b.1));

    let runs = repeats::Runs::load(&criterion_dir)?;
    let dirty = !first_line("git", &["status", "--porcelain", "--untracked-files=no"], &root).eq("unknown");
    let commit = format!(
        "{}{}",
        first_line("git", &["rev-parse", "--short", "HEAD"], &root),
        if dirty { " (with local changes)" } else { "" }
    );
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
    anyhow::ensure!(!failed, "some benches failed (see above); the report lacks them");
    Ok(())
}
