//! loom: bounded exhaustive exploration, preemption bound 1, then 2, ... up to the limit.
//!
//! A time budget caps the whole check ([`DEFAULT_LOOM_TIME_BUDGET`] when none is set): a
//! bound it cuts short is reported as not explored fully. A deep budget
//! (`RACEKIT_TIME_BUDGET`) raises the bound past the limit while time is left, and stops
//! early once a bound explores no more executions than the one below it.
//!
//! Iterating the bound finds shallow bugs fast: a bug that needs one preemption is found
//! within bound 1's few hundred executions instead of somewhere in bound 3's hundreds of
//! thousands.
//!
//! # The failing execution's checkpoint
//!
//! loom writes a checkpoint (the path of one execution) only before an execution, every
//! `checkpoint_interval` executions, and offers no hook on failure. Writing one before every
//! execution costs several times the execution itself, so a bound is explored with a
//! checkpoint every [`BUDGET_CHECK_INTERVAL`] executions instead. A bound's exploration is
//! deterministic: when execution `k` fails, the bound is resumed from the last periodic
//! checkpoint (execution `c`, or the start when `k` came first), with one checkpoint written
//! exactly before execution `k`, which is `k - c + 1` executions into the resumed run. That
//! re-runs fewer than [`BUDGET_CHECK_INTERVAL`] executions and writes one file; the
//! checkpoint left on disk is the failing execution's path, and replaying it runs that
//! execution alone.

use super::context::{self, CheckContext};
use super::{detect, instrumented, panic_message, Body, Failure, Phase, Report, Run, DEFAULT_LOOM_TIME_BUDGET};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often (in executions) loom checks the time budget.
const BUDGET_CHECK_INTERVAL: usize = 256;

fn builder(bound: usize) -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder.checkpoint_file = None;
    builder.checkpoint_interval = BUDGET_CHECK_INTERVAL;
    builder
}

/// Runs `builder` over the body, counting executions.
fn explore_with(
    builder: &loom::model::Builder,
    body: &Body,
    context: &Arc<CheckContext>,
    executions: &Arc<AtomicU64>,
) -> Result<(), Box<dyn std::any::Any + Send>> {
    let counter = executions.clone();
    let execution_body = instrumented(body.clone(), context.clone(), 0);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        builder.check(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            execution_body();
        })
    }))
}

/// Where checkpoints go: `<target dir>/racekit/loom`, next to the test binary's build
/// (found once per process: every bound of every check asks).
fn checkpoint_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let from_exe = std::env::current_exe().ok().and_then(|exe| {
            exe.ancestors()
                .find(|dir| dir.file_name().is_some_and(|name| name == "deps"))
                .and_then(Path::parent)
                .and_then(Path::parent)
                .map(Path::to_path_buf)
        });
        from_exe.unwrap_or_else(std::env::temp_dir).join("racekit").join("loom")
    })
}

/// A checkpoint file of this check, removed when dropped (loom resumes from a checkpoint
/// file that exists, so a stale one must never outlive its bound).
struct CheckpointFile {
    path: PathBuf,
    /// Whether loom may have written it (a bound that ran fewer executions than the
    /// interval never did: nothing to remove).
    may_exist: bool,
}

impl CheckpointFile {
    /// A fresh, unused path for `run`'s checkpoints (`None` when the directory cannot be
    /// made: the bound is then explored without periodic checkpoints).
    fn new(run: &Run) -> Option<CheckpointFile> {
        let dir = checkpoint_dir();
        if let Err(error) = std::fs::create_dir_all(dir) {
            eprintln!("racekit: cannot create {}: {error}; a loom failure will be explored again", dir.display());
            return None;
        }
        let stem: String = run.id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let path = dir.join(format!("{stem}-{}-{:x}.json", std::process::id(), fastrand::u64(..)));
        Some(CheckpointFile { path, may_exist: true })
    }
}

impl Drop for CheckpointFile {
    fn drop(&mut self) {
        if self.may_exist {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The replay payloads of a bound's first execution, by bound, once captured in this
/// process. That execution's checkpoint is the start of the exploration, the same for
/// every body (loom writes the path it has before running anything, and a fresh path
/// depends on the bound alone), so a shallow bug found at a bound's first execution reuses
/// it instead of having loom write and racekit read a file again.
static FIRST_EXECUTION_PAYLOADS: std::sync::Mutex<Vec<(usize, String)>> = std::sync::Mutex::new(Vec::new());

/// A failing execution of a bound's exploration, and what exploring it again takes.
struct FailedExecution<'a> {
    run: &'a Run,
    bound: usize,
    /// Its number among the bound's executions, from 1.
    number: u64,
    body: &'a Body,
    context: &'a Arc<CheckContext>,
}

/// The replay payload of `failed`: its checkpoint, captured (see [`capture_checkpoint`])
/// and encoded, or reused for a bound's first execution.
fn failing_payload(failed: &FailedExecution<'_>, periodic: Option<CheckpointFile>) -> Result<String, String> {
    let first_executions = || FIRST_EXECUTION_PAYLOADS.lock().unwrap_or_else(|e| e.into_inner());
    let first = failed.number == 1;
    if first {
        if let Some((_, payload)) = first_executions().iter().find(|(bound, _)| *bound == failed.bound) {
            return Ok(payload.clone());
        }
    }
    let file = capture_checkpoint(failed, periodic)?;
    let payload = super::loom_token::encode(failed.bound, &file.path)?;
    if first {
        first_executions().push((failed.bound, payload.clone()));
    }
    Ok(payload)
}

/// Resumes `bound` from its last periodic checkpoint (`periodic`; unused when execution
/// `failed` came before the first one) and writes a checkpoint before execution `failed`
/// alone, so the file ends up holding the failing execution's path.
///
/// When the bound's first execution failed, nothing is run again: its path is the start
/// of the exploration, whatever the body does, and loom writes it before running anything
/// (a shallow bug, the common case, costs one checkpoint write).
fn capture_checkpoint(
    failed: &FailedExecution<'_>,
    periodic: Option<CheckpointFile>,
) -> Result<CheckpointFile, String> {
    let FailedExecution { run, bound, number: failed, body, context } = *failed;
    let interval = BUDGET_CHECK_INTERVAL as u64;
    let (file, resumed_at) = match periodic {
        // loom wrote the periodic checkpoint before execution `c`, the last multiple of the
        // interval not after the failure, and resumes with it as its execution 1.
        Some(file) if failed >= interval && file.path.exists() => (file, failed / interval * interval),
        // Before the first periodic checkpoint loom never wrote the file: its path is fresh.
        Some(mut file) if failed < interval => {
            file.may_exist = true;
            (file, 1)
        }
        _ => (CheckpointFile::new(run).ok_or("no checkpoint directory")?, 1),
    };
    let nth = usize::try_from(failed - resumed_at + 1).map_err(|_| "the failing execution is out of range")?;
    let mut builder = builder(bound);
    builder.checkpoint_file = Some(file.path.clone());
    builder.checkpoint_interval = nth;
    let first_of_bound = resumed_at == 1 && nth == 1;
    // loom checks this bound right after writing a checkpoint: at the first one when the
    // failing execution is the bound's first (its path is written, nothing runs); else at
    // the second one, where the failure has not recurred where it was.
    builder.max_permutations = Some(if first_of_bound { 1 } else { nth.saturating_mul(2) });
    let executions = Arc::new(AtomicU64::new(0));
    match explore_with(&builder, body, context, &executions) {
        Ok(()) if first_of_bound && executions.load(Ordering::Relaxed) == 0 && file.path.exists() => Ok(file),
        Err(_) if executions.load(Ordering::Relaxed) == nth as u64 => Ok(file),
        _ => Err("the failure did not recur at the same execution when the bound was explored again: the body \
                  depends on something loom does not control (a HashMap's order, real time, global state)"
            .to_owned()),
    }
}

/// The bounds to explore: 1 up to the largest, or past it while time is left when the
/// time budget is a deep one (`RACEKIT_TIME_BUDGET`).
fn bounds(run: &Run) -> std::ops::RangeInclusive<usize> {
    match run.settings.preemption_bound {
        0 => 0..=0,
        _ if run.settings.escalate => 1..=usize::MAX,
        largest => 1..=largest,
    }
}

pub(crate) fn explore(run: &Run, body: Body) -> Result<Report, Failure> {
    let context = CheckContext::new(run.settings.seed);
    let _entered = context::enter(Some(context.clone()));
    // Without a time budget a large model could run for hours with no verdict: the default
    // budget stops it and the report says what was left unexplored.
    let deadline = run.deadline().unwrap_or(run.started + DEFAULT_LOOM_TIME_BUDGET);
    let executions = Arc::new(AtomicU64::new(0));
    let mut phases: Vec<Phase> = Vec::new();
    for bound in bounds(run) {
        let mut builder = builder(bound);
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining == Duration::ZERO {
            break;
        }
        let mut periodic = CheckpointFile::new(run);
        builder.checkpoint_file = periodic.as_ref().map(|file| file.path.clone());
        builder.max_duration = Some(remaining);
        let before = executions.load(Ordering::Relaxed);
        let started = Instant::now();
        let result = explore_with(&builder, &body, &context, &executions);
        let schedules = executions.load(Ordering::Relaxed) - before;
        if let Some(file) = periodic.as_mut() {
            // loom writes it before execution `interval` (and every interval after), if it
            // gets there.
            file.may_exist = schedules + 1 >= BUDGET_CHECK_INTERVAL as u64;
        }
        match result {
            Ok(()) => {
                let complete = started.elapsed() < remaining;
                let mut label = format!("loom bound {bound}");
                if bound > run.settings.preemption_bound {
                    label.push_str(" (escalation)");
                }
                if !complete && run.settings.time_budget.is_none() {
                    label.push_str(&format!(
                        " (not explored fully: loom's default time budget of {} s ran out; set RACEKIT_TIME_BUDGET \
                         to explore further, or lower the bound)",
                        DEFAULT_LOOM_TIME_BUDGET.as_secs()
                    ));
                }
                // A bound that explores no more executions than the one below it limited
                // nothing: every execution has been seen, and higher bounds would repeat them.
                let exhausted =
                    complete && phases.last().is_some_and(|last| last.complete && last.schedules == schedules);
                phases.push(Phase { label, schedules, elapsed: started.elapsed(), complete });
                if exhausted || !complete {
                    break;
                }
            }
            Err(payload) => {
                let message = panic_message(&*payload);
                let kind = detect::kind_of(&context, &message);
                let total = executions.load(Ordering::Relaxed);
                let failed = FailedExecution { run, bound, number: schedules, body: &body, context: &context };
                let payload = match failing_payload(&failed, periodic) {
                    Ok(payload) => payload,
                    Err(why) => {
                        eprintln!("racekit: no loom checkpoint for this failure: {why}");
                        format!("{bound},")
                    }
                };
                return Err(run.failure(format!("loom bound {bound}"), total, message, kind, payload));
            }
        }
    }
    Ok(run.report(phases, context.spawned()))
}

pub(crate) fn replay(run: &Run, payload: &str, body: Body) -> Result<Report, Failure> {
    let decoded = super::loom_token::decode(payload).unwrap_or_else(|error| panic!("racekit: {error}"));
    let bound = decoded.bound;
    let context = CheckContext::new(run.settings.seed);
    let _entered = context::enter(Some(context.clone()));
    let mut builder = builder(bound);
    match &decoded.checkpoint {
        None => eprintln!("racekit: no checkpoint was captured; exploring bound {bound} again instead"),
        Some(checkpoint) => {
            builder.checkpoint_file = Some(checkpoint.0.clone());
            builder.checkpoint_interval = 1;
            // Execution 1 is the checkpointed one; loom stops before running a second.
            builder.max_permutations = Some(2);
        }
    }
    let executions = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let result = explore_with(&builder, &body, &context, &executions);
    drop(decoded);
    let schedules = executions.load(Ordering::Relaxed);
    match result {
        Ok(()) => {
            eprintln!("racekit: the replayed loom execution passed: the code under test changed, or the bug is fixed");
            let phase = Phase {
                label: format!("loom replay at bound {bound}"),
                schedules,
                elapsed: started.elapsed(),
                complete: true,
            };
            Ok(run.report(vec![phase], context.spawned()))
        }
        Err(panic) => {
            let message = panic_message(&*panic);
            let kind = detect::kind_of(&context, &message);
            Err(run.failure(format!("loom replay at bound {bound}"), schedules, message, kind, payload.to_owned()))
        }
    }
}
