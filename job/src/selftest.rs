//! `racekit selftest`: proves the failure path end to end, on each model checker.
//!
//! The broken model is the harness's own: `harness::a_racy_body_fails_under_each_model_checker`
//! checks a lost-update body (two threads each load, then store, a counter) that fails in
//! some schedule. Its test asserts that the check fails (so the test itself passes), and
//! the failed check is written to the job's report file like any failing model's.
//!
//! 1. The job runs that test exactly as it runs every test (own process, report file) and
//!    must find the failed check, with its message and reproduce command.
//! 2. The printed command is pasted, unchanged, into `bash -c` from the repository root
//!    (only `RACEKIT_REPORT_FILE` is added around it, to read the result): the replayed
//!    check must fail again, with the same message, in one schedule.
//! 3. The same test under a zero per-test timeout (killed at the first look, while it
//!    starts) must come back as a timeout row with a rerun command, not stall the job.

use anyhow::{bail, Context as _, Result};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::budget::Budget;
use crate::exec::{self, Runner};
use crate::progress::Progress;
use crate::results::{parse_check_lines, Backend, Outcome};
use crate::Context;

/// The test holding the deliberately broken model.
pub const BROKEN_MODEL_TEST: &str = "harness::a_racy_body_fails_under_each_model_checker";
/// What its failing assertion says.
const BROKEN_MODEL_MESSAGE: &str = "an increment was lost";

pub fn run(context: &Context) -> Result<ExitCode> {
    let backends: Vec<Backend> = context.backends.iter().copied().filter(|b| b.is_model_checker()).collect();
    if backends.is_empty() {
        bail!("the self-test needs a model checker: --backend loom and/or shuttle (real threads find the race only by chance)");
    }
    let context = Context {
        root: context.root.clone(),
        base: context.base.clone(),
        out: context.out.join("selftest"),
        backends,
        interrupted: context.interrupted.clone(),
    };
    let (built, builds) = context.build_all();
    if let Some(broken) = builds.iter().find(|build| !build.ok) {
        bail!("the {} build failed: {}", broken.backend, broken.error.as_deref().unwrap_or(""));
    }
    let cases = context.cases(&built, |test| test == BROKEN_MODEL_TEST)?;
    if cases.len() != context.backends.len() {
        bail!("{BROKEN_MODEL_TEST} is missing from a model build: was it renamed? the self-test needs it");
    }
    let runner = |timeout: Option<Duration>| Runner {
        root: context.root.clone(),
        base: context.base.clone(),
        logs: context.out.join("logs"),
        jobs: 1,
        timeout,
        budget: Budget { std_run_timeout: Duration::from_secs(2), ..Budget::default() },
        shard: None,
        backtraces: false,
        interrupted: Arc::new(AtomicBool::new(false)),
    };
    let quiet = Progress::new(0, None);
    let mut failed = 0;
    for case in &cases {
        let backend = case.backend;
        println!("== {backend}: the broken model in {BROKEN_MODEL_TEST}");
        let result = check_backend(&context, &runner(None), &runner(Some(Duration::ZERO)), case, &quiet);
        match result {
            Ok(()) => println!("   {backend}: OK\n"),
            Err(error) => {
                failed += 1;
                println!("   {backend}: FAILED: {error:#}\n");
            }
        }
        if context.interrupted.load(Ordering::SeqCst) {
            return Ok(ExitCode::from(130));
        }
    }
    quiet.finish();
    if failed == 0 {
        println!(
            "self-test passed: a broken model shows up as a failure, and its printed command, pasted, reproduces it"
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("self-test FAILED on {failed} backend(s)");
        Ok(ExitCode::FAILURE)
    }
}

fn check_backend(
    context: &Context,
    runner: &Runner,
    impatient: &Runner,
    case: &crate::plan::Case,
    progress: &Progress,
) -> Result<()> {
    // 1. The job finds the failure and its reproduce command.
    let row = runner.run(std::slice::from_ref(case), progress).pop().context("no row")?;
    if row.outcome != Outcome::Passed {
        bail!(
            "the meta-test did not pass ({:?}: {}): see {}",
            row.outcome,
            row.exit,
            row.log.as_deref().unwrap_or("its log")
        );
    }
    let failure = row
        .checks
        .iter()
        .filter_map(|line| line.failure.as_ref())
        .find(|failure| failure.message.contains(BROKEN_MODEL_MESSAGE))
        .context("the job's report holds no failed check for the broken model")?;
    println!("   1. the job found the failure:");
    println!(
        "      model `{}` failed under {} ({}) after {} schedule(s): {}: {}",
        failure.model,
        failure.backend,
        failure.phase,
        failure.schedules,
        failure.kind,
        first_line(&failure.message)
    );
    println!("      reproduce with:\n        {}", failure.replay.command);

    // 2. The command, pasted into a shell, reproduces it.
    let dir = context.out.join("logs");
    std::fs::create_dir_all(&dir)?;
    let report_file = dir.join(format!("pasted-{}.jsonl", case.backend));
    let log = dir.join(format!("pasted-{}.log", case.backend));
    let _ = std::fs::remove_file(&report_file);
    let status = exec::paste(&context.root, &failure.replay.command, &[("RACEKIT_REPORT_FILE", &report_file)], &log)?;
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let lines = parse_check_lines(&std::fs::read_to_string(&report_file).unwrap_or_default());
    let again =
        lines.iter().filter_map(|line| line.failure.as_ref()).find(|again| again.replayed).with_context(|| {
            format!("the pasted command ({status}) replayed nothing; its output is in {}", log.display())
        })?;
    if again.message != failure.message || again.kind != failure.kind {
        bail!(
            "the replay failed differently: {}: {} (expected {}: {})",
            again.kind,
            again.message,
            failure.kind,
            failure.message
        );
    }
    if !output.contains("test result:") {
        bail!("the pasted command did not run the test; see {}", log.display());
    }
    println!(
        "   2. pasted into bash: the check failed again ({}: {}) in {} schedule(s) ({}); the test, which expects it, {}",
        again.kind,
        first_line(&again.message),
        again.schedules,
        again.phase,
        if status.success() { "passed" } else { "failed" }
    );

    // 3. A test that outlives its timeout becomes a timeout row, not a stuck job.
    let row = impatient.run(std::slice::from_ref(case), progress).pop().context("no row")?;
    if row.outcome != Outcome::TimedOut || !row.is_failure() {
        bail!("a test past its timeout came back as {:?}, not a timeout failure", row.outcome);
    }
    println!("   3. past a zero timeout it is a {} row ({}); rerun: {}", row.verdict().word(), row.exit, row.rerun);
    Ok(())
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
