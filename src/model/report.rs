//! What a check found: a [`Report`] when every explored schedule passed, a [`Failure`]
//! (with the command that reproduces it) when one did not.

use super::trace::{Table, TraceStep};
use crate::sync::Backend;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// One stage of a check: a loom preemption bound, one shuttle scheduler with its seed, or
/// the std runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Phase {
    /// What ran, such as `loom bound 2` or `shuttle pct(depth 3) seed 24302`.
    pub label: String,
    /// Schedules (executions, runs) explored.
    pub schedules: u64,
    /// Wall-clock time.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
    /// Whether the stage ran its whole budget (for loom: explored every execution within
    /// the bound); `false` when the time budget cut it short.
    pub complete: bool,
}

/// A check that passed: what was explored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The model's name.
    pub model: String,
    /// Where the check was called (`file:line:column`), which identifies it for replay.
    pub id: String,
    /// The backend it ran on.
    pub backend: Backend,
    /// Schedules explored across every phase.
    pub schedules: u64,
    /// Wall-clock time of the whole check.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
    /// The phases, in the order they ran.
    pub phases: Vec<Phase>,
    /// Tasks spawned through the facade in the last run of the body (shows the model
    /// really was concurrent).
    pub tasks_spawned: usize,
    /// Why the check did not run, when it did not: a replay token (`RACEKIT_REPLAY`) named
    /// another check. A skipped check explored nothing and proves nothing.
    pub skipped: Option<String>,
}

impl Report {
    /// Whether the check ran (it was not skipped by a replay token of another check).
    pub fn ran(&self) -> bool {
        self.skipped.is_none()
    }
}

/// What kind of failure a check found, as recorded by whatever detected it: racekit's
/// detectors, the checker (a panic raised in loom's or shuttle's own code), or the std
/// runner's timeout. A panic no detector raised is a [`Panic`](FailureKind::Panic), whatever
/// its text says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The body (or a thread it spawned) panicked: an assertion failed, or any other panic
    /// that no detector raised (a user's `panic!("deadlock")` included).
    Panic,
    /// Every thread was blocked (the checker found no thread able to run), or a thread
    /// took a facade lock it already held.
    Deadlock,
    /// Threads take facade locks in orders that deadlock in some schedule (A then B on one
    /// thread, B then A on another; or a read lock re-taken while a writer can queue), found
    /// by racekit's lock-order detector before any thread blocks.
    LockOrder,
    /// The body returned while threads or tasks it spawned through the facade were still
    /// running.
    LeakedTasks,
    /// A run exceeded the model checker's step bound: a livelock or a spin loop.
    StepBound,
    /// A run on real threads did not finish within the run timeout.
    Hang,
    /// Two accesses to a [`RaceCell`](crate::sync::RaceCell), one of them a write, were not
    /// ordered by the program's synchronization.
    DataRace,
    /// The model cannot run on this backend as set up: tokio reached under loom or outside
    /// any runtime, or a shuttle primitive reached from a tokio runtime that is not
    /// shuttle's. The message names the fix.
    Setup,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Panic => "panic",
            FailureKind::Deadlock => "deadlock",
            FailureKind::LockOrder => "lock order",
            FailureKind::LeakedTasks => "leaked tasks",
            FailureKind::StepBound => "step bound exceeded (livelock?)",
            FailureKind::Hang => "hang",
            FailureKind::DataRace => "data race",
            FailureKind::Setup => "setup",
        })
    }
}

/// How to reproduce a failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Replay {
    /// The value for `RACEKIT_REPLAY`.
    pub token: String,
    /// A shell command that reruns the failing test with that token.
    pub command: String,
}

/// A check that failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    /// The model's name.
    pub model: String,
    /// Where the check was called (`file:line:column`).
    pub id: String,
    /// The backend that found it.
    pub backend: Backend,
    /// What went wrong.
    pub kind: FailureKind,
    /// The panic message (or a description of the deadlock, leak or hang).
    pub message: String,
    /// The phase that found it (`loom bound 1`, `shuttle random seed 24301`, ...).
    pub phase: String,
    /// Schedules explored, counting the failing one, before it was found.
    pub schedules: u64,
    /// Wall-clock time until it was found.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
    /// How to reproduce it.
    pub replay: Replay,
    /// Whether this failure came from replaying a token rather than from exploration.
    pub replayed: bool,
    /// The last facade operations of the failing execution (every one kept, on a replay),
    /// oldest first. Empty when the failure happened outside any operation the facade sees.
    pub trace: Vec<TraceStep>,
    /// What else happened after the failure (a `join().unwrap()` that panicked because the
    /// joined thread had failed, another thread's later panic).
    pub notes: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "racekit: model `{}` failed under {} ({}) after {} schedule(s) in {:.2?}",
            self.model, self.backend, self.phase, self.schedules, self.elapsed
        )?;
        writeln!(f, "  {}: {}", self.kind, self.message)?;
        for note in &self.notes {
            writeln!(f, "  then: {note}")?;
        }
        if let Some(first) = self.trace.first() {
            let shown = if first.step == 1 { "every step" } else { "its last steps" };
            writeln!(f, "  what the threads did, {shown} (oldest first):")?;
            write!(f, "{}", Table(&self.trace))?;
        }
        // The command ends the text on a line of its own, so that whatever a wrapper appends
        // (proptest adds a period) cannot end up inside it.
        writeln!(f, "  reproduce with:\n    {}", self.replay.command)
    }
}

impl std::error::Error for Failure {}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.skipped {
            return write!(f, "racekit: model `{}` SKIPPED (not run, proves nothing): {why}", self.model);
        }
        write!(
            f,
            "racekit: model `{}` passed under {}: {} schedule(s) in {:.2?}",
            self.model, self.backend, self.schedules, self.elapsed
        )?;
        for phase in &self.phases {
            write!(
                f,
                "\n  {}: {} schedule(s) in {:.2?}{}",
                phase.label,
                phase.schedules,
                phase.elapsed,
                if phase.complete { "" } else { " (stopped by the time budget)" }
            )?;
        }
        Ok(())
    }
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}
