//! Running the benches: a build, then each bench binary with this mode's budgets, its
//! output kept in a log file beside the report's working files.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The benches that write side files and take their budgets from `RACEKIT_BENCH_MODE`:
/// every comparison (decision and pattern benches).
pub const DECISION_BENCHES: [&str; 8] =
    ["locks", "channels", "counters", "decision_matrix", "event_bus", "stopper", "pool", "log_store"];

/// How a run went, for the report.
pub struct RunLog {
    pub quick: bool,
    pub build_seconds: f64,
    /// How many times every bench ran, each time in a process of its own.
    pub repeats: usize,
    /// (bench and repeat, succeeded, seconds, log file).
    pub benches: Vec<(String, bool, f64, PathBuf)>,
    pub total_seconds: f64,
}

/// The bench that compares racekit's harness with raw loom and shuttle, built per backend.
pub const CHECKERS_BENCH: &str = "checkers";

/// Builds and runs the checkers bench under loom and under shuttle, each in its backend's
/// own target folder (`<target>/loom`, `<target>/shuttle`, as the CI tiers use), writing
/// into `checkers_home`. Returns (backend, succeeded, seconds) per backend.
pub fn run_checkers(
    root: &Path,
    target: &Path,
    checkers_home: &Path,
    logs: &Path,
    quick: bool,
) -> Result<Vec<(String, bool, f64)>> {
    std::fs::create_dir_all(logs)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut results = Vec::new();
    for backend in ["loom", "shuttle"] {
        let log = logs.join(format!("checkers-{backend}.log"));
        eprintln!("bench-report: checkers under {backend} (a cold build takes minutes; log: {})", log.display());
        let mut command = Command::new(&cargo);
        command
            .current_dir(root)
            .args(["bench", "--bench", CHECKERS_BENCH])
            .env("RUSTFLAGS", format!("--cfg racekit_{backend}"))
            .env("CARGO_TARGET_DIR", target.join(backend))
            .env("CRITERION_HOME", checkers_home)
            .env("RACEKIT_BENCH_MODE", if quick { "quick" } else { "full" });
        let (ok, seconds) = run_logged(&mut command, &format!("checkers under {backend}"), &log)?;
        results.push((backend.to_string(), ok, seconds));
    }
    Ok(results)
}

/// Runs `command` with its output in `log`, says how it went as `what`, and shows the end
/// of the log when it failed. Returns (succeeded, seconds).
fn run_logged(command: &mut Command, what: &str, log: &Path) -> Result<(bool, f64)> {
    let file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let started = Instant::now();
    let status = command
        .stdout(Stdio::from(file.try_clone()?))
        .stderr(Stdio::from(file))
        .status()
        .with_context(|| format!("running {what}"))?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "bench-report: {what}: {} in {seconds:.0} s (log: {})",
        if status.success() { "done" } else { "FAILED" },
        log.display()
    );
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        tail.iter().rev().for_each(|line| eprintln!("    {line}"));
    }
    Ok((status.success(), seconds))
}

/// Every `[[bench]]` name in the package manifest at `root`.
pub fn bench_names(root: &Path) -> Result<Vec<String>> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    let mut names = Vec::new();
    let mut in_bench = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bench = line == "[[bench]]";
        } else if let (true, Some(value)) = (in_bench, line.strip_prefix("name").map(str::trim_start)) {
            if let Some(name) = value.strip_prefix('=').map(|v| v.trim().trim_matches('"')) {
                names.push(name.to_string());
            }
        }
    }
    Ok(names)
}

/// Bench name -> executable, from cargo's JSON messages.
fn bench_executables(messages: &[u8]) -> BTreeMap<String, PathBuf> {
    String::from_utf8_lossy(messages)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| {
            m["reason"] == "compiler-artifact"
                && m["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bench"))
        })
        .filter_map(|m| Some((m["target"]["name"].as_str()?.to_string(), PathBuf::from(m["executable"].as_str()?))))
        .collect()
}

/// criterion's budgets for benches that set none of their own (the patterns' benches):
/// short enough for the whole run to fit its time budget.
fn pattern_bench_args(quick: bool) -> Vec<&'static str> {
    if quick {
        vec!["--warm-up-time", "0.01", "--measurement-time", "0.05", "--sample-size", "10", "--noplot"]
    } else {
        vec!["--warm-up-time", "0.5", "--measurement-time", "2", "--sample-size", "20", "--noplot"]
    }
}

/// Clears `criterion_dir`, builds, and runs `benches` (all `[[bench]]` targets if empty)
/// `repeats` times: every bench once per repeat, repeat after repeat (so the repeats of one
/// bench are minutes apart), each into its own folder (see [`crate::repeats`]).
pub fn run(
    root: &Path,
    criterion_dir: &Path,
    logs: &Path,
    quick: bool,
    repeats: usize,
    benches: &[String],
) -> Result<RunLog> {
    let started = Instant::now();
    let names = if benches.is_empty() {
        // The checkers bench measures the model-checking builds: `run_checkers` runs it.
        bench_names(root)?.into_iter().filter(|name| name != CHECKERS_BENCH).collect()
    } else {
        benches.to_vec()
    };
    if criterion_dir.exists() {
        std::fs::remove_dir_all(criterion_dir).with_context(|| format!("clearing {}", criterion_dir.display()))?;
    }
    std::fs::create_dir_all(logs)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mode = if quick { "quick" } else { "full" };

    eprintln!("bench-report: building {} benches", names.len());
    let build_started = Instant::now();
    let mut build = Command::new(&cargo);
    build
        .current_dir(root)
        .args(["bench", "--no-run", "--message-format=json-render-diagnostics"])
        .stdout(Stdio::piped());
    names.iter().for_each(|name| {
        build.args(["--bench", name]);
    });
    let output = build.output().context("running cargo")?;
    if !output.status.success() {
        bail!("the benches do not build: fix the error above, then rerun");
    }
    let executables = bench_executables(&output.stdout);
    let build_seconds = build_started.elapsed().as_secs_f64();

    let mut results = Vec::new();
    for (repeat, name) in (1..=repeats).flat_map(|repeat| names.iter().map(move |name| (repeat, name))) {
        let log = logs.join(format!("{name}-{repeat}.log"));
        let executable =
            executables.get(name).with_context(|| format!("cargo built no executable for bench {name}"))?;
        // Run the binary as `cargo bench` would, without cargo's per-invocation overhead.
        let mut command = Command::new(executable);
        command
            .current_dir(root)
            .env("RACEKIT_BENCH_MODE", mode)
            .env("CRITERION_HOME", crate::repeats::repeat_dir(criterion_dir, repeat))
            .arg("--bench");
        if !DECISION_BENCHES.contains(&name.as_str()) {
            command.args(pattern_bench_args(quick));
        }
        let (ok, seconds) = run_logged(&mut command, &format!("{name} (repeat {repeat}/{repeats})"), &log)?;
        results.push((format!("{name} (repeat {repeat})"), ok, seconds, log));
    }
    Ok(RunLog { quick, build_seconds, repeats, benches: results, total_seconds: started.elapsed().as_secs_f64() })
}
