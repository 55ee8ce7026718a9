//! `cargo racekit`: the model-checking job. Builds every backend (loom, shuttle, real
//! threads), runs every model and mutant test in its own process at a chosen budget, shows
//! progress, and writes the summary, the mutant detection table and the reports
//! (`job.md`, `job.json`, `junit.xml`) to `reports/job/`.
//!
//! - `cargo racekit`: every backend, every model and mutant, each model at its own budget.
//! - `cargo racekit --budget 30m`: a time-boxed deep run (the time is shared by the tests).
//! - `cargo racekit --iterations 100000 --preemption-bound 3`: a fixed deeper budget.
//! - `cargo racekit --pattern queue,pool --backend loom`: a part of it.
//! - `cargo racekit --shard 2/4`, then `cargo racekit merge DIR...`: one job on n machines.
//! - `cargo racekit selftest`: a broken model's failure and its pasted reproduce command.
//!
//! Exit status: 0 when every model passed and every mutant was caught by a model checker;
//! 1 on any failure, escaped mutant or broken build; 130 when stopped by Ctrl-C (the
//! reports then hold what was found).

mod budget;
mod cargo;
mod exec;
mod init;
mod plan;
mod progress;
mod report;
mod results;
mod selftest;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use budget::{parse_duration, Budget};
use exec::Runner;
use plan::{Case, Shard, ShardMode};
use report::{BuildRecord, JobReport, FORMAT_VERSION};
use results::Backend;

#[derive(Parser)]
#[command(
    name = "racekit",
    about = "The racekit model-checking job: build every backend, run every model and mutant, report",
    long_about = "The racekit model-checking job: builds the loom, shuttle and real-thread backends, runs \
                  every model and mutant test in its own process at a chosen budget, and writes a summary, \
                  the mutant detection table and Markdown, JSON and JUnit reports.\n\n\
                  Without a subcommand it runs the job (`run`).",
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
    /// Run the job (the default).
    Run(RunArgs),
    /// Build and print the tests the job would run (with the same filters and shard).
    List(RunArgs),
    /// Merge the reports of several shards (folders holding job.json) into one.
    Merge(MergeArgs),
    /// Prove the failure path: a deliberately broken model fails, and its printed
    /// reproduce command, pasted into a shell, reproduces the failure.
    Selftest(SelftestArgs),
    /// Add racekit's setup to a crate's Cargo.toml (the tokio rename, check-cfg lints, the
    /// test profile); a second run changes nothing.
    Init(init::InitArgs),
}

#[derive(Args, Clone)]
struct Selection {
    /// Backends to build and run, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_enum)]
    backend: Vec<Backend>,
    /// Base target directory: std builds there, loom in DIR/loom, shuttle in DIR/shuttle
    /// [default: $CARGO_TARGET_DIR, else target].
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// Where to write the reports [default: reports/job].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    selection: Selection,
    /// Only these patterns (test-path prefixes such as `queue` or `pool::mutants`), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pattern: Vec<String>,
    /// Time budget for running the tests (builds excluded), such as 90s, 10m or 1h30m,
    /// shared by the tests (each gets RACEKIT_TIME_BUDGET = its share of what is left);
    /// schedules are then unlimited unless --iterations is given, and loom goes to bound 3
    /// unless --preemption-bound is given.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    budget: Option<Duration>,
    /// shuttle schedules and std runs per model (RACEKIT_ITERATIONS).
    #[arg(long, value_name = "N")]
    iterations: Option<u64>,
    /// loom: explore preemption bounds 1 up to N (LOOM_MAX_PREEMPTIONS).
    #[arg(long, value_name = "N")]
    preemption_bound: Option<u32>,
    /// shuttle scheduler: portfolio (random and PCT, several seeds), pct or random.
    #[arg(long, value_parser = ["portfolio", "pct", "random"])]
    scheduler: Option<String>,
    /// shuttle PCT bug depth.
    #[arg(long, value_name = "N")]
    pct_depth: Option<u32>,
    /// Base seed for shuttle and std (a number, or `random`: picked once, and printed).
    #[arg(long)]
    seed: Option<String>,
    /// std: how long one run of a mutant may take before it counts as a hang (a deadlocked
    /// mutant is caught that fast; the models keep their own limit).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2s")]
    std_run_timeout: Duration,
    /// PROPTEST_CASES for the stress suites [default: each suite's own].
    #[arg(long, value_name = "N")]
    proptest_cases: Option<u32>,
    /// Kill a test process after this long and report it as a timeout [default: 2m at the
    /// models' own budgets, 30m with --iterations/--preemption-bound, 40 x its share (at
    /// least 2m) with --budget].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Let test processes print panic backtraces (RUST_BACKTRACE as inherited; by default
    /// the job sets it to 0, as symbolising one takes about half a second and would swamp
    /// the detection times).
    #[arg(long)]
    backtraces: bool,
    /// Test processes run at once [default: the number of cores].
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Run shard i of n (such as 2/4): a share of the tests, and its own seed range.
    #[arg(long, value_name = "i/n", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// How --shard divides the work.
    #[arg(long, value_enum, default_value = "models")]
    shard_mode: ShardMode,
}

#[derive(Args)]
struct MergeArgs {
    /// Folders holding a job.json each (the shards' --out).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Where to write the merged reports [default: reports/job].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct SelftestArgs {
    #[command(flatten)]
    selection: Selection,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run(cli.run, false),
        Some(Command::Run(args)) => run(args, false),
        Some(Command::List(args)) => run(args, true),
        Some(Command::Merge(args)) => merge(args),
        Some(Command::Selftest(args)) => selftest::run(&args.selection.context()),
        Some(Command::Init(args)) => init::run(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("racekit: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Where things are, shared by every subcommand.
pub struct Context {
    pub root: PathBuf,
    pub base: PathBuf,
    pub out: PathBuf,
    pub backends: Vec<Backend>,
    pub interrupted: Arc<AtomicBool>,
}

impl Selection {
    fn context(&self) -> Context {
        let root = cargo::workspace_root();
        let cwd = std::env::current_dir().unwrap_or_else(|_| root.clone());
        let base = self
            .target_dir
            .clone()
            .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
            .map_or_else(|| root.join("target"), |dir| cwd.join(dir));
        let out = self.out.as_ref().map_or_else(|| root.join("reports").join("job"), |dir| cwd.join(dir));
        let mut backends = if self.backend.is_empty() { Backend::ALL.to_vec() } else { self.backend.clone() };
        backends.sort();
        backends.dedup();
        let interrupted = Arc::new(AtomicBool::new(false));
        let flag = interrupted.clone();
        // Children run in their own process groups: only the job hears Ctrl-C (and, with
        // ctrlc's `termination` feature, SIGTERM from a CI runner cancelling it), and stops
        // them itself. (Builds share the job's group: cargo stops on its own.)
        if let Err(error) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
            eprintln!("racekit: Ctrl-C will not stop cleanly: {error}");
        }
        Context { root, base, out, backends, interrupted }
    }
}

impl Context {
    /// Builds each backend with a spinner; returns the built binaries per backend and the
    /// build records (a failed build is recorded, and the other backends still run).
    pub fn build_all(&self) -> (Vec<(Backend, Vec<cargo::TestBinary>)>, Vec<BuildRecord>) {
        let logs = self.out.join("logs");
        let _ = std::fs::create_dir_all(&logs);
        let mut built = Vec::new();
        let mut records = Vec::new();
        for &backend in &self.backends {
            if self.interrupted.load(Ordering::SeqCst) {
                break;
            }
            let target = cargo::relative(&cargo::target_dir(&self.base, backend), &self.root);
            let spinner = progress::spinner(format!("building {backend} ({target})"));
            let started = Instant::now();
            let result =
                cargo::build(&self.root, &self.base, backend, &logs.join(format!("build-{backend}.log")), |name| {
                    spinner.set_message(format!("building {backend} ({target}): {name}"));
                });
            spinner.finish_and_clear();
            let seconds = started.elapsed().as_secs_f64();
            match result {
                Ok(binaries) => {
                    eprintln!("built {backend} in {}", budget::human_seconds(seconds));
                    records.push(BuildRecord { backend, ok: true, seconds, error: None });
                    built.push((backend, binaries));
                }
                Err(error) => {
                    let error = if self.interrupted.load(Ordering::SeqCst) {
                        "stopped by Ctrl-C".to_owned()
                    } else {
                        format!("{error:#}")
                    };
                    eprintln!("the {backend} build failed; the other backends still run.\n{error}");
                    records.push(BuildRecord { backend, ok: false, seconds, error: Some(error) });
                }
            }
        }
        (built, records)
    }

    /// Every test of the built binaries that `keep` accepts.
    pub fn cases(&self, built: &[(Backend, Vec<cargo::TestBinary>)], keep: impl Fn(&str) -> bool) -> Result<Vec<Case>> {
        let mut cases = Vec::new();
        for (backend, binaries) in built {
            for binary in binaries {
                for test in cargo::list(&self.root, &binary.exe)? {
                    if keep(&test.name) {
                        cases.push(Case::new(*backend, &binary.target, binary.exe.clone(), test.name, test.ignored));
                    }
                }
            }
        }
        plan::sort(&mut cases);
        Ok(cases)
    }
}

fn resolve_seed(seed: Option<&str>) -> Result<Option<u64>> {
    match seed {
        None => Ok(None),
        Some(text) if text.eq_ignore_ascii_case("random") => {
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
            let seed = (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32);
            eprintln!("seed: {seed} (rerun this job with --seed {seed})");
            Ok(Some(seed))
        }
        Some(text) => {
            text.trim().parse().map(Some).with_context(|| format!("--seed {text:?}: expected a number or `random`"))
        }
    }
}

fn run(args: RunArgs, list_only: bool) -> Result<ExitCode> {
    let context = args.selection.context();
    let job_started = Instant::now();
    let started_at = report::utc(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs());
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let budget = Budget {
        time: args.budget,
        iterations: args.iterations,
        preemption_bound: args.preemption_bound,
        scheduler: args.scheduler.clone(),
        pct_depth: args.pct_depth,
        seed: resolve_seed(args.seed.as_deref())?,
        std_run_timeout: args.std_run_timeout,
        proptest_cases: args.proptest_cases,
        shard: args.shard.map(|shard| (shard.index, shard.count)),
    };
    if args.iterations == Some(0) {
        bail!("--iterations 0 would run nothing and pass vacuously: use at least 1");
    }
    // Logs of an earlier run would be mistaken for this one's.
    for backend in &context.backends {
        let _ = std::fs::remove_dir_all(context.out.join("logs").join(backend.name()));
    }
    let (built, builds) = context.build_all();
    let mut cases = context.cases(&built, |test| plan::matches_pattern(test, &args.pattern))?;
    if let Some(shard) = args.shard {
        cases = shard.select(cases, args.shard_mode);
    }
    if list_only {
        for case in &cases {
            println!(
                "{:<8} {:<7} {}{}",
                case.backend.name(),
                case.binary,
                case.test,
                if case.mutant { "  (mutant)" } else { "" }
            );
        }
        eprintln!("{} test run(s)", cases.len());
        return Ok(ExitCode::SUCCESS);
    }
    if cases.is_empty() && !args.pattern.is_empty() {
        eprintln!("racekit: no test matches --pattern {}", args.pattern.join(","));
    }

    let runner = Runner {
        root: context.root.clone(),
        base: context.base.clone(),
        logs: context.out.join("logs"),
        jobs,
        timeout: args.timeout,
        budget: budget.clone(),
        shard: args.shard.map(Shard::label),
        backtraces: args.backtraces,
        interrupted: context.interrupted.clone(),
    };
    eprintln!("running {} test(s), {jobs} at a time; budget: {}", cases.len(), budget.describe(&context.backends));
    let progress = progress::Progress::new(cases.len(), budget.time);
    let rows = if context.interrupted.load(Ordering::SeqCst) { Vec::new() } else { runner.run(&cases, &progress) };
    progress.finish();

    let report = JobReport {
        version: FORMAT_VERSION,
        started: started_at,
        elapsed: job_started.elapsed().as_secs_f64(),
        budget: budget.describe(&context.backends),
        backends: context.backends.clone(),
        patterns: args.pattern.clone(),
        shards: args.shard.map(Shard::label).into_iter().collect(),
        interrupted: context.interrupted.load(Ordering::SeqCst),
        builds,
        rows,
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
    let out = args.out.unwrap_or_else(|| cargo::workspace_root().join("reports").join("job"));
    finish(&merged, &out)
}
