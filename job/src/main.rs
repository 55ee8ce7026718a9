//! `cargo racekit`: the model-checking job, for any crate that uses racekit. Builds the test
//! binaries of the selected packages once per backend (loom, shuttle, real threads) into
//! cargo-nextest archives, runs them through nextest at a chosen budget, and writes the
//! summary, the mutant detection table, one reproduce command per failure and the reports
//! (`job.md`, `job.json`, `junit.xml`).
//!
//! - `cargo racekit`: every backend, every test of the packages that use racekit.
//! - `cargo racekit --budget 30m`: a time-boxed deep run (the time is shared by the tests).
//! - `cargo racekit --filter 'test(queue)' --backend loom,shuttle`: a part of it.
//! - `cargo racekit archive --out DIR`, then on n machines
//!   `cargo racekit run --archives DIR --partition i/n`, then `cargo racekit merge DIR...`.
//!
//! Exit status: 0 when every model passed and every counted mutant was caught; 1 on any
//! failure, escaped mutant or broken build; 2 on bad input; 130 when stopped by Ctrl-C or
//! SIGTERM (the reports then hold what was found, marked interrupted).

mod budget;
mod collect;
mod commands;
mod init;
mod nextest;
mod plan;
mod report;
mod results;
mod workspace;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use budget::{human_duration, parse_duration, parse_positive, parse_positive_u32, Budget};
use commands::Commands;
use nextest::{Ended, Listed, RunSpec, Selection};
use plan::Partition;
use report::{BuildRecord, JobReport, FORMAT_VERSION};
use results::{Backend, Row};
use workspace::Workspace;

#[derive(Parser)]
#[command(
    name = "cargo-racekit",
    bin_name = "cargo racekit",
    about = "Model-check a crate that uses racekit on loom, shuttle and real threads, through cargo-nextest",
    long_about = "Builds the test binaries of the packages that use racekit once per backend (loom, shuttle, real \
                  threads) into cargo-nextest archives, runs every selected test in its own process at a chosen \
                  budget, and writes a summary, the mutant detection table, one reproduce command per failure and \
                  Markdown, JSON and JUnit reports.\n\nWithout a subcommand it runs the job (`run`).",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Build, then run the job (the default).
    Run(RunArgs),
    /// Build each backend's nextest archive into --out (for runs on other machines).
    Archive(Target),
    /// Print the tests the job would run (with the same filters and partition).
    List(RunArgs),
    /// Merge the reports of several runs (folders holding job.json) into one.
    Merge(MergeArgs),
    /// Add racekit's setup to a crate's Cargo.toml (the tokio rename, check-cfg lints, the
    /// test profile); a second run changes nothing.
    Init(init::InitArgs),
}

/// Where the job runs and what it builds.
#[derive(Args, Clone)]
struct Target {
    /// Path to the Cargo.toml of the crate or workspace [default: the one around the
    /// current directory].
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Packages to model-check [default: the root package if it uses racekit, else every
    /// workspace member that depends on racekit].
    #[arg(long, short = 'p', value_name = "SPEC")]
    package: Vec<String>,
    /// Build only these test targets (cargo's `--test NAME`, repeatable) [default: every
    /// test target and the unit tests of the selected packages].
    #[arg(long = "test", value_name = "NAME")]
    tests: Vec<String>,
    /// Backends to build and run, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_enum)]
    backend: Vec<Backend>,
    /// Base target directory: std builds there, loom in DIR/loom, shuttle in DIR/shuttle
    /// [default: $CARGO_TARGET_DIR, else cargo's target directory].
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// Where to write the reports (and, for `archive`, the archives) [default:
    /// TARGET/racekit, TARGET being cargo's target directory].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    target: Target,
    /// Run only the tests this nextest filterset selects (such as `test(queue)` or
    /// `binary(models)`); repeat to narrow further.
    #[arg(long, short = 'E', value_name = "FILTERSET")]
    filter: Vec<String>,
    /// Run `#[ignore]`d tests too, on every backend (as `cargo test -- --include-ignored`):
    /// planted bugs that must fail, models kept out of `cargo test` for their cost. By
    /// default an ignored test does not apply to the backend and is skipped, except mutant
    /// tests on real threads, which the job always runs.
    #[arg(long)]
    include_ignored: bool,
    /// Run partition i of n (such as 2/4), nextest's hash partitioning; merge the n
    /// reports with `merge`.
    #[arg(long, value_name = "i/n", value_parser = Partition::parse)]
    partition: Option<Partition>,
    /// Run the archives `cargo racekit archive` built in DIR instead of building.
    #[arg(long, value_name = "DIR")]
    archives: Option<PathBuf>,
    /// Time budget for running the tests (builds excluded), such as 90s, 10m or 1h30m,
    /// shared by the tests (each gets RACEKIT_TIME_BUDGET = its share); shuttle schedules
    /// and std runs are then unlimited unless --iterations is given, and loom explores
    /// preemption bounds up to 3 unless --preemption-bound is given.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    budget: Option<Duration>,
    /// shuttle schedules and std runs per model (RACEKIT_ITERATIONS), at least 1.
    #[arg(long, value_name = "N", value_parser = parse_positive, allow_hyphen_values = true)]
    iterations: Option<u64>,
    /// loom: explore preemption bounds 1 up to N (LOOM_MAX_PREEMPTIONS), at least 1.
    #[arg(long, value_name = "N", value_parser = parse_positive_u32, allow_hyphen_values = true)]
    preemption_bound: Option<u32>,
    /// shuttle scheduler: portfolio (random and PCT, several seeds), pct or random.
    #[arg(long, value_parser = ["portfolio", "pct", "random"])]
    scheduler: Option<String>,
    /// shuttle PCT bug depth, at least 1.
    #[arg(long, value_name = "N", value_parser = parse_positive_u32, allow_hyphen_values = true)]
    pct_depth: Option<u32>,
    /// Base seed for shuttle and std (a number, or `random`: picked once, and printed).
    #[arg(long)]
    seed: Option<String>,
    /// std: how long one run of a mutant test may take before it counts as a hang (a
    /// deadlocked mutant is caught that fast; other tests keep the harness's limit).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2s", allow_hyphen_values = true)]
    std_run_timeout: Duration,
    /// PROPTEST_CASES for every test [default: each suite's own].
    #[arg(long, value_name = "N", value_parser = parse_positive_u32, allow_hyphen_values = true)]
    proptest_cases: Option<u32>,
    /// nextest kills a test after this long and reports a timeout [default: 2m at the
    /// models' own budgets, 30m with --iterations/--preemption-bound, 40 x its share (at
    /// least 2m) with --budget].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    timeout: Option<Duration>,
    /// Let tests print panic backtraces (RUST_BACKTRACE as inherited; by default 0).
    #[arg(long)]
    backtraces: bool,
    /// Tests run at once [default: the number of cores].
    #[arg(long, short = 'j', value_parser = parse_positive, allow_hyphen_values = true)]
    jobs: Option<u64>,
}

#[derive(Args)]
struct MergeArgs {
    /// Folders holding a job.json each (the partitions' --out).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Where to write the merged reports [default: the current directory's racekit-job].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    // As a cargo subcommand, cargo passes the subcommand's own name first.
    let args = std::env::args_os().enumerate().filter(|(i, arg)| !(*i == 1 && arg == "racekit")).map(|(_, a)| a);
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        None => run(cli.run, Mode::Run),
        Some(Command::Run(args)) => run(args, Mode::Run),
        Some(Command::List(args)) => run(args, Mode::List),
        Some(Command::Archive(target)) => archive_only(target),
        Some(Command::Merge(args)) => merge(args),
        Some(Command::Init(args)) => init::run(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("cargo racekit: {error:#}");
            ExitCode::from(2)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Run,
    List,
}

/// Where things are, shared by the subcommands that build or run.
struct Context {
    workspace: Workspace,
    /// The base target directory.
    base: PathBuf,
    out: PathBuf,
    backends: Vec<Backend>,
    stop: Arc<AtomicBool>,
}

impl Target {
    fn context(&self) -> Result<Context> {
        nextest::ensure_installed()?;
        let workspace = Workspace::load(self.manifest_path.as_deref(), &self.package, &self.tests)?;
        let cwd = std::env::current_dir().context("no current directory")?;
        let base = self
            .target_dir
            .clone()
            .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
            .map_or_else(|| workspace.target_dir.clone(), |dir| cwd.join(dir));
        let out = self.out.as_ref().map_or_else(|| workspace.target_dir.join("racekit"), |dir| cwd.join(dir));
        let mut backends = if self.backend.is_empty() { Backend::ALL.to_vec() } else { self.backend.clone() };
        backends.sort();
        backends.dedup();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        // cargo, nextest and the tests run in process groups of their own: only the job
        // hears Ctrl-C (and, with ctrlc's `termination` feature, a CI runner's SIGTERM),
        // and stops each group itself.
        if let Err(error) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
            eprintln!("cargo racekit: Ctrl-C will not stop cleanly: {error}");
        }
        Ok(Context { workspace, base, out, backends, stop })
    }
}

impl Context {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Builds each backend's archive into `dir`; a failed build is recorded and the
    /// other backends still build.
    fn build(&self, dir: &Path) -> Result<(Vec<Backend>, Vec<BuildRecord>)> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut built = Vec::new();
        let mut records = Vec::new();
        for &backend in &self.backends {
            if self.stopped() {
                records.push(BuildRecord {
                    backend,
                    ok: false,
                    seconds: 0.0,
                    error: Some("not started: interrupted".into()),
                });
                continue;
            }
            let target = Workspace::backend_target_dir(&self.base, backend);
            eprintln!("[{backend}] building {} into {}", self.workspace.packages.join(", "), target.display());
            let started = Instant::now();
            let ended = nextest::archive(
                &self.workspace,
                &self.base,
                backend,
                &nextest::archive_path(dir, backend),
                &self.stop,
            )?;
            let seconds = started.elapsed().as_secs_f64();
            let error = match ended {
                Ended::Exited(status) if status.success() => None,
                Ended::Exited(status) => Some(format!("the build failed ({status}): cargo's errors are above")),
                Ended::Interrupted => Some("interrupted: the build was stopped by Ctrl-C or SIGTERM".to_owned()),
            };
            match &error {
                None => {
                    eprintln!("[{backend}] built in {}", human_duration(started.elapsed()));
                    built.push(backend);
                }
                Some(error) if self.stopped() => eprintln!("[{backend}] {error}"),
                Some(error) => eprintln!("[{backend}] {error}; the other backends still run"),
            }
            records.push(BuildRecord { backend, ok: error.is_none(), seconds, error });
        }
        Ok((built, records))
    }
}

fn archive_only(target: Target) -> Result<ExitCode> {
    let context = target.context()?;
    let (built, records) = context.build(&context.out)?;
    for backend in &built {
        println!("{}", nextest::archive_path(&context.out, *backend).display());
    }
    Ok(if context.stopped() {
        ExitCode::from(130)
    } else if records.iter().all(|record| record.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn resolve_seed(seed: Option<&str>) -> Result<Option<u64>> {
    match seed {
        None => Ok(None),
        Some(text) if text.eq_ignore_ascii_case("random") => {
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos() as u64)
                ^ u64::from(std::process::id()).rotate_left(32);
            eprintln!("seed: {seed} (rerun this job with --seed {seed})");
            Ok(Some(seed))
        }
        Some(text) => {
            text.trim().parse().map(Some).with_context(|| format!("--seed {text:?}: expected a number or `random`"))
        }
    }
}

/// The filterset of racekit's mutant tests (see [`results::is_mutant_test`]).
/// Whether the job runs `test` on `backend` (without `--include-ignored`). A test ignored on a backend does not apply
/// there (loom-only weak-memory models, a bug only one scheduler reaches) and is skipped;
/// the exception is a mutant test on real threads, which models ignore because real threads
/// find races only by chance: the job runs those, with a short hang limit, and counts what
/// they catch without failing on what escapes.
fn runs_on(backend: Backend, test: &Listed) -> bool {
    !test.ignored || (backend == Backend::Std && results::is_mutant_test(&test.test))
}

const MUTANTS: &str = r"test(/(^|::)mutants::(.+::)?[^:]+_(is|are)_caught$/)";

fn run(args: RunArgs, mode: Mode) -> Result<ExitCode> {
    let context = args.target.context()?;
    let started_at = chrono::Local::now().fixed_offset();
    let job_started = Instant::now();
    let threads = args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()), |n| n as usize);
    let budget = Budget {
        time: args.budget,
        iterations: args.iterations,
        preemption_bound: args.preemption_bound,
        scheduler: args.scheduler.clone(),
        pct_depth: args.pct_depth,
        seed: resolve_seed(args.seed.as_deref())?,
        std_run_timeout: args.std_run_timeout,
        proptest_cases: args.proptest_cases,
    };
    let selection = Selection { filters: args.filter.clone(), partition: args.partition, run_ignored: true };

    let (archives, built, builds) = match &args.archives {
        Some(dir) => {
            let dir = std::path::absolute(dir)?;
            let present: Vec<Backend> =
                context.backends.iter().copied().filter(|b| nextest::archive_path(&dir, *b).exists()).collect();
            anyhow::ensure!(
                !present.is_empty(),
                "--archives {}: no archive there (build them with `cargo racekit archive --out DIR`)",
                dir.display()
            );
            (dir, present, Vec::new())
        }
        None => {
            let dir = context.out.join("archives");
            let (built, builds) = context.build(&dir)?;
            (dir, built, builds)
        }
    };

    let mut listed: Vec<(Backend, Vec<Listed>)> = Vec::new();
    for &backend in &built {
        if context.stopped() {
            break;
        }
        let mut tests =
            nextest::list(&context.workspace, &nextest::archive_path(&archives, backend), &selection, &context.stop)?;
        tests.retain(|test| args.include_ignored || runs_on(backend, test));
        listed.push((backend, tests));
    }
    if mode == Mode::List {
        for (backend, tests) in &listed {
            for test in tests {
                let mutant = if results::is_mutant_test(&test.test) { "  (mutant)" } else { "" };
                let ignored = if test.ignored { "  (ignored)" } else { "" };
                println!("{:<8} {} {}{mutant}{ignored}", backend.name(), test.binary_id, test.test);
            }
        }
        eprintln!("{} test run(s)", listed.iter().map(|(_, tests)| tests.len()).sum::<usize>());
        return Ok(ExitCode::SUCCESS);
    }

    let total: usize = listed.iter().map(|(_, tests)| tests.len()).sum();
    let share = budget.time.map(|time| budget::time_share(time, threads, total));
    let timeout = args.timeout.unwrap_or_else(|| match share {
        Some(share) => (share * budget::SHARE_TIMEOUT_FACTOR).max(budget::DEFAULT_TIMEOUT),
        None if budget.iterations.is_some() || budget.preemption_bound.is_some() => budget::RAISED_TIMEOUT,
        None => budget::DEFAULT_TIMEOUT,
    });
    eprintln!(
        "running {total} test(s) on {} backend(s), {threads} at a time, each killed after {}; budget: {}",
        listed.len(),
        human_duration(timeout),
        budget.describe(&context.backends)
    );
    let commands = Commands::new(&context.workspace, context.base.clone());
    let collector = collect::Collector {
        workspace: &context.workspace,
        commands: &commands,
        out: &context.out,
        partition: args.partition.map(Partition::label),
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut histograms = Vec::new();
    for (backend, tests) in &listed {
        let backend = *backend;
        let dir = context.out.join("logs").join(backend.name());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let report_file = dir.join("checks.jsonl");
        // Mutant tests on real threads get a short hang limit of their own, so they run
        // apart from the rest there.
        let mutants_listed = tests.iter().filter(|test| results::is_mutant_test(&test.test)).count();
        let groups: Vec<(&str, Option<String>, bool)> = match (backend, mutants_listed) {
            (Backend::Std, 0) => vec![("all", None, false)],
            (Backend::Std, n) if n == tests.len() => vec![("mutants", None, true)],
            (Backend::Std, _) => {
                vec![("models", Some(format!("not {MUTANTS}")), false), ("mutants", Some(MUTANTS.to_owned()), true)]
            }
            _ => vec![("all", None, false)],
        };
        let extracted = dir.join("extracted");
        let mut reports = Vec::new();
        let mut envs = Vec::new();
        for (name, filter, mutants) in groups {
            let env = budget.env(backend, mutants, share);
            let mut group = selection.clone();
            group.filters.extend(filter);
            // Only the mutant tests on real threads run although ignored (see `runs_on`).
            group.run_ignored = args.include_ignored || (mutants && backend == Backend::Std);
            let group_dir = dir.join(name);
            let spec = RunSpec {
                backend,
                archive: &nextest::archive_path(&archives, backend),
                selection: &group,
                env: &env,
                report_file: &report_file,
                dir: &group_dir,
                timeout,
                threads,
                backtraces: args.backtraces,
                extract_to: &extracted,
            };
            if context.stopped() {
                envs.push((mutants, env));
                continue;
            }
            let (_, junit) = nextest::run(&context.workspace, &spec, &context.stop)?;
            reports.extend(junit);
            envs.push((mutants, env));
        }
        let report_lines = std::fs::read_to_string(&report_file).unwrap_or_default();
        let checks = results::parse_check_lines(&report_lines);
        histograms.extend(results::parse_histogram_lines(&report_lines));
        rows.extend(collector.rows(&collect::BackendRun {
            backend,
            tests,
            junit: &reports,
            checks: &checks,
            envs: &envs,
            timeout,
            interrupted: context.stopped(),
        }));
        // The test binaries are in the archive; what the job needed from here is copied out.
        let _ = std::fs::remove_dir_all(&extracted);
    }

    let report = JobReport {
        version: FORMAT_VERSION,
        started: started_at,
        finished: chrono::Local::now().fixed_offset(),
        elapsed: job_started.elapsed().as_secs_f64(),
        budget: budget.describe(&context.backends),
        backends: context.backends.clone(),
        filters: args.filter.clone(),
        partitions: args.partition.map(Partition::label).into_iter().collect(),
        interrupted: context.stopped(),
        builds,
        rows,
        histograms,
    };
    finish(&report, &context.out)
}

/// Writes the reports, prints the summary and turns the judgement into the exit status.
fn finish(report: &JobReport, out: &Path) -> Result<ExitCode> {
    let written = report.write(out)?;
    print!("{}", report.summary());
    println!("\nreports: {}", written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    Ok(if report.interrupted {
        ExitCode::from(130)
    } else if report.judge().ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn merge(args: MergeArgs) -> Result<ExitCode> {
    let reports = args.dirs.iter().map(|dir| JobReport::load(dir)).collect::<Result<Vec<_>>>()?;
    let merged = JobReport::merge(reports);
    let out = args.out.unwrap_or_else(|| PathBuf::from("racekit-job"));
    finish(&merged, &out)
}
