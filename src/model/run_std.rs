//! Real threads: the body runs many times, each run on its own thread with its own seed.
//!
//! A run on real threads cannot be replayed exactly: the seed fixes every random choice
//! (the facade's perturbation yields, [`choose`](super::choose), the injected `Rng`) but
//! not the OS scheduler, so a replay retries the seed up to [`REPLAY_ATTEMPTS`] times.

use super::context::{self, CheckContext};
use super::detect::kind_of;
use super::{panic_message, Body, Failure, FailureKind, Phase, ReplayTokenError, Report, Run, TraceStep};
use crate::sync::{perturb, Backend};
use std::sync::mpsc;
use std::time::Instant;

/// How many times a std replay reruns its seed before reporting that it did not reproduce.
pub(crate) const REPLAY_ATTEMPTS: u64 = 10;

/// Seed of run `index` of a check seeded with `base` (SplitMix64's mixer, so neighbouring
/// indices give unrelated streams).
fn run_seed(base: u64, index: u64) -> u64 {
    let mut z = base.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Why a run failed: its kind, message, what followed, and the run's trace.
struct RunFailure {
    kind: FailureKind,
    message: String,
    notes: Vec<String>,
    trace: Vec<TraceStep>,
}

impl RunFailure {
    fn new(kind: FailureKind, message: String) -> RunFailure {
        RunFailure { kind, message, notes: Vec::new(), trace: Vec::new() }
    }

    fn into_failure(self, run: &Run, phase: String, schedules: u64, payload: String) -> Failure {
        let mut failure = run.failure(phase, schedules, self.message, self.kind, payload);
        failure.notes = self.notes;
        failure.trace = self.trace;
        failure
    }
}

/// What one run did: the tasks it spawned, or why it failed.
type RunOutcome = Result<usize, RunFailure>;

/// What tokio's `JoinError` of a panicked task says, in the panic of a body that unwrapped
/// it: the body's panic follows the task's.
const JOINED_A_PANICKED_TASK: &str = "JoinError::Panic";

/// The run's failure: the first failure of any of its threads. The body's own panic is the
/// cause unless it followed a `join` that returned a spawned thread's panic (the
/// `join().unwrap()` of a thread that failed): then the thread's panic is the cause, and
/// the body's is noted after it.
fn cause(context: &CheckContext, body_panic: Option<String>) -> Option<RunFailure> {
    let threads = context.panics();
    let body_followed_a_thread = body_panic
        .as_deref()
        .is_some_and(|body| !threads.is_empty() && (context.joined_a_panic() || body.contains(JOINED_A_PANICKED_TASK)));
    let (mut failure, others) = match (body_panic, threads.split_first()) {
        (Some(body), Some((thread, others))) if body_followed_a_thread => {
            let mut failure = RunFailure::new(kind_of(context, thread), thread.clone());
            failure.notes.push(format!("the body panicked after joining the failed thread: {body}"));
            (failure, others)
        }
        (Some(body), _) => (RunFailure::new(kind_of(context, &body), body), threads.as_slice()),
        (None, Some((thread, others))) => (RunFailure::new(kind_of(context, thread), thread.clone()), others),
        (None, None) => return None,
    };
    failure.notes.extend(others.iter().map(|other| format!("another thread panicked: {other}")));
    Some(failure)
}

fn run_once(run: &Run, body: &Body, seed: u64) -> RunOutcome {
    let context = CheckContext::new(seed);
    let (done, outcome) = mpsc::channel();
    let thread_body = body.clone();
    let thread_context = context.clone();
    let timeout = run.settings.std_run_timeout;
    let spawned = std::thread::Builder::new().name(format!("racekit-run-{seed:016x}")).spawn(move || {
        let _entered = context::enter(Some(thread_context.clone()));
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            thread_body();
            if thread_context.joins_detached() {
                wait_for_detached(&thread_context, started + timeout);
            }
        }));
        let body_panic = result.err().map(|payload| panic_message(&*payload));
        let failure = cause(&thread_context, body_panic).or_else(|| {
            let leaked = std::panic::catch_unwind(|| super::assert_no_leaked_tasks(&thread_context));
            leaked.err().map(|payload| RunFailure::new(FailureKind::LeakedTasks, panic_message(&*payload)))
        });
        let _ = done.send(match failure {
            None => Ok(thread_context.spawned()),
            Some(mut failure) => {
                failure.trace = thread_context.trace().steps();
                Err(failure)
            }
        });
    });
    if let Err(error) = spawned {
        return Err(RunFailure::new(FailureKind::Panic, format!("could not start a thread for the run: {error}")));
    }
    match outcome.recv_timeout(timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let mut failure = RunFailure::new(
                FailureKind::Hang,
                format!(
                    "the run did not finish within {timeout:?} (RACEKIT_STD_RUN_TIMEOUT): a deadlock or a lost \
                     wake-up; {}",
                    match (context.live(), context.spawned()) {
                        (_, 0) => "the body's own thread never returned (it started no task)".to_owned(),
                        (live, spawned) =>
                            format!("the body's own thread and {live} of its {spawned} task(s) were still running"),
                    }
                ),
            );
            failure.trace = context.trace().steps();
            Err(failure)
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(RunFailure::new(FailureKind::Panic, "the run's thread ended without reporting (aborted?)".to_owned()))
        }
    }
}

/// With [`Model::join_detached`](super::Model::join_detached): waits until every thread of
/// the run has finished, or `deadline` passes (the run is then reported as a hang).
fn wait_for_detached(context: &CheckContext, deadline: Instant) {
    while context.live() > 0 && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

pub(crate) fn explore(run: &Run, body: Body) -> Result<Report, Failure> {
    let _perturbing = perturb::Active::start();
    let deadline = run.deadline();
    let phase_started = Instant::now();
    let mut runs = 0u64;
    let mut tasks_spawned = 0;
    let mut complete = true;
    for index in 0..run.settings.iterations as u64 {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            complete = false;
            break;
        }
        let seed = run_seed(run.settings.seed, index);
        runs += 1;
        match run_once(run, &body, seed) {
            Ok(spawned) => tasks_spawned = spawned,
            Err(failure) => {
                let phase = format!("std run {index} seed {seed}");
                return Err(failure.into_failure(run, phase, runs, seed.to_string()));
            }
        }
    }
    let phase = Phase {
        label: format!("std {} run(s) from seed {}", runs, run.settings.seed),
        schedules: runs,
        elapsed: phase_started.elapsed(),
        complete,
    };
    Ok(run.report(vec![phase], tasks_spawned))
}

pub(crate) fn replay(run: &Run, payload: &str, body: Body) -> Result<Report, Failure> {
    let seed: u64 = payload.parse().unwrap_or_else(|_| {
        panic!("racekit: {}", ReplayTokenError::payload(Backend::Std, format!("{payload:?} is not a seed")))
    });
    let _perturbing = perturb::Active::start();
    let started = Instant::now();
    for attempt in 1..=REPLAY_ATTEMPTS {
        if let Err(failure) = run_once(run, &body, seed) {
            let phase = format!("std replay of seed {seed}, attempt {attempt}");
            return Err(failure.into_failure(run, phase, attempt, seed.to_string()));
        }
    }
    eprintln!(
        "racekit: seed {seed} passed {REPLAY_ATTEMPTS} times: real threads fix the seed, not the interleaving; \
         replay it under shuttle or loom to reproduce an interleaving exactly"
    );
    let phase = Phase {
        label: format!("std replay of seed {seed}"),
        schedules: REPLAY_ATTEMPTS,
        elapsed: started.elapsed(),
        complete: true,
    };
    Ok(run.report(vec![phase], 0))
}

#[cfg(test)]
mod tests {
    use super::run_seed;

    #[test]
    fn run_seeds_differ_between_runs_and_repeat_for_a_base() {
        assert_ne!(run_seed(1, 0), run_seed(1, 1));
        assert_eq!(run_seed(7, 3), run_seed(7, 3));
    }
}
