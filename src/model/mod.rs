//! `check(body)`: one test body, run by whichever backend the build selected.
//!
//! | build | what `check` does |
//! |---|---|
//! | `--cfg racekit_loom` | loom explores every execution within preemption bound 1, then 2, ... up to `LOOM_MAX_PREEMPTIONS` (default 2): shallow bugs are found at bound 1 in milliseconds, before the larger bounds' state space is entered |
//! | `--cfg racekit_shuttle` | shuttle runs a portfolio of schedulers (random and PCT, several seeds; or one of them), `RACEKIT_ITERATIONS` schedules in all |
//! | default | the body runs `RACEKIT_ITERATIONS` times (default 200) on real threads, each run on its own thread with a seed that drives the facade's random yields, the injected `Rng` and [`choose`] |
//!
//! Every failure is returned (or, from [`check`], panicked) as a [`Failure`] carrying a
//! shell command that reproduces it: shuttle's encoded schedule, loom's checkpoint file, or
//! the std run's seed, in `RACEKIT_REPLAY`. A run also fails when a thread or task spawned
//! through [`crate::sync`] is still running when the body returns ("leaked task").
//!
//! # What each backend cannot see
//!
//! - **loom**: at most five threads counting the main one, and racekit's choices take from
//!   them: the first [`LOOM_CHOICES_PER_EXECUTION`] choices of an execution ([`choose`]
//!   calls, [`park`](crate::sync::thread::park)s, which may be spurious, and timed waits,
//!   together) cost one model thread each; past them, `choose` answers `false`, a park is
//!   never spurious and a timed wait ends only on a notification (or unpark). `SeqCst` loads and stores are treated as
//!   `AcqRel`. Time is not measured: a timed wait's timeout is explored as a choice (at
//!   once, or at any point after its waiter blocks), whatever its duration, so two
//!   timeouts are not ordered by length (see
//!   [`Condvar::wait_timeout`](crate::sync::Condvar::wait_timeout)). `notify_one` wakes
//!   the longest-waiting thread (loom's waiter queue is first in, first out), so a bug that
//!   needs another waiter woken is not found; `Condvar::wait` is never woken spuriously.
//!   No tokio; the state space explodes past bound 2-3.
//! - **shuttle**: every atomic access is `SeqCst` (no weak-memory bugs); the facade's `Arc`
//!   is std's with scheduling points at its count operations (no leak detection, and a drop
//!   is not a scheduling point); time advances only when nothing else can run (a pending
//!   timed wait then times out, the earliest deadline first), so a timeout never fires
//!   while another thread could still make progress, except the "at once" outcome that
//!   stands for it; each timed wait's timer is a task of its own. PCT can starve a freshly
//!   spawned thread, and a model whose first, oldest-task-first run never has two runnable
//!   threads gives PCT nothing to prioritize (that member's schedules then go to the
//!   random scheduler; the portfolio's random members cover both).
//! - **all**: a lock taken again by its holder or in an order that can deadlock with
//!   another thread's is reported from any schedule (see
//!   [lock-order checking](crate::sync#lock-order-checking)); plain shared fields in a
//!   [`RaceCell`](crate::sync::RaceCell) are checked for data races. `try_lock` fails
//!   exactly when the lock is held, as std's does: no backend makes it fail spuriously.
//! - **std**: finds only what happens to occur; use it for load, leaks and bounds, not for
//!   proof. A std replay fixes the seed (every random choice), not the OS interleaving, so
//!   it is retried up to ten times.
//!
//! # Examples
//!
//! ```
//! use racekit::sync::{thread, Arc, Mutex};
//!
//! // Two threads increment a counter under a lock: every schedule ends with 2.
//! racekit::check(|| {
//!     let counter = Arc::new(Mutex::new(0));
//!     let other = {
//!         let counter = counter.clone();
//!         thread::spawn(move || *counter.lock() += 1)
//!     };
//!     *counter.lock() += 1;
//!     other.join().unwrap();
//!     assert_eq!(*counter.lock(), 2);
//! });
//! ```

pub(crate) mod context;
pub(crate) mod detect;
#[cfg(racekit_loom)]
mod loom_token;
mod replay;
mod report;
pub mod scenario;
pub(crate) mod settings;
#[cfg(racekit_shuttle)]
mod shuttle_output;
pub(crate) mod trace;

#[cfg(racekit_loom)]
#[path = "run_loom.rs"]
mod backend_runner;
#[cfg(racekit_shuttle)]
#[path = "run_shuttle.rs"]
mod backend_runner;
#[cfg(not(any(racekit_loom, racekit_shuttle)))]
#[path = "run_std.rs"]
mod backend_runner;

pub use replay::ReplayTokenError;
pub use report::{Failure, FailureKind, Phase, Replay, Report};
pub use settings::{
    SchedulerChoice, Settings, SettingsError, DEFAULT_LOOM_TIME_BUDGET, DEFAULT_PCT_DEPTH, DEFAULT_PREEMPTION_BOUND,
    DEFAULT_SEED, DEFAULT_SHUTTLE_ITERATIONS, DEFAULT_STD_ITERATIONS, DEFAULT_STD_RUN_TIMEOUT, ENVIRONMENT,
};
pub use trace::{TraceStep, KEPT_STEPS, KEPT_STEPS_ON_REPLAY};

use crate::sync::Backend;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The body of a check, shared by every run.
pub(crate) type Body = Arc<dyn Fn() + Send + Sync + 'static>;

/// Runs `body` under the backend this build selected, with budgets from the environment,
/// and panics with the failure (and its reproduce command) if any schedule fails.
///
/// Returns the [`Report`] of what was explored. See the [module documentation](self) for
/// what each backend does; use [`Model`] for per-model settings and [`Model::run`] to get a
/// failure as a value (for tests that expect one).
#[track_caller]
pub fn check<F>(body: F) -> Report
where
    F: Fn() + Send + Sync + 'static,
{
    Model::new().check(body)
}

/// Per-model settings for [`check`]; the environment, when set, overrides them (see
/// [`ENVIRONMENT`]).
///
/// # Examples
///
/// ```
/// use racekit::model::Model;
/// use racekit::sync::{thread, atomic::{AtomicUsize, Ordering}, Arc};
///
/// // A racy read-modify-write: some schedule loses an update.
/// let found = Model::named("lost update")
///     .preemption_bound(1)
///     .iterations(500)
///     .run(|| {
///         let value = Arc::new(AtomicUsize::new(0));
///         let other = {
///             let value = value.clone();
///             thread::spawn(move || {
///                 let seen = value.load(Ordering::SeqCst);
///                 value.store(seen + 1, Ordering::SeqCst);
///             })
///         };
///         let seen = value.load(Ordering::SeqCst);
///         value.store(seen + 1, Ordering::SeqCst);
///         other.join().unwrap();
///         assert_eq!(value.load(Ordering::SeqCst), 2, "an increment was lost");
///     });
/// // Real threads rarely hit this window; both model checkers always do.
/// if racekit::sync::Backend::CURRENT.is_model_checker() {
///     let failure = found.expect_err("the model checker finds the lost update");
///     assert!(failure.message.contains("lost"));
///     assert!(failure.replay.command.contains("RACEKIT_REPLAY="));
/// }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a Model does nothing until `check` or `run` is called"]
pub struct Model {
    name: Option<String>,
    requested: settings::Requested,
    explicit_replay: Option<String>,
    mutants: Vec<String>,
    location: &'static Location<'static>,
    join_detached: bool,
}

impl Model {
    /// A model named after the running test (or the call site).
    #[track_caller]
    pub fn new() -> Model {
        Model::at(Location::caller())
    }

    /// A model whose check is identified by `location` (for helpers that call `check` on
    /// their caller's behalf).
    pub(crate) fn at(location: &'static Location<'static>) -> Model {
        Model {
            name: None,
            requested: settings::Requested::default(),
            explicit_replay: None,
            mutants: Vec::new(),
            location,
            join_detached: false,
        }
    }

    /// A model with an explicit name, as reports show it.
    #[track_caller]
    pub fn named(name: impl Into<String>) -> Model {
        Model { name: Some(name.into()), ..Model::new() }
    }

    /// Renames the model (the name also tells apart the scenarios one call site runs).
    pub fn name(mut self, name: impl Into<String>) -> Model {
        self.name = Some(name.into());
        self
    }

    /// Threads the body spawns and does not join are waited for before the run is judged,
    /// as loom's and shuttle's own checkers do, instead of failing the run as leaked tasks.
    ///
    /// For tests ported from loom or shuttle that leave threads running. The default
    /// (every thread joined before the body returns) is what a service needs: a thread
    /// nobody joins is a thread nobody stops. On real threads the wait is bounded by the
    /// run timeout (a thread still running then is reported as a hang).
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::model::Model;
    /// use racekit::sync::{thread, atomic::{AtomicUsize, Ordering}, Arc};
    ///
    /// Model::named("detached increment").join_detached().check(|| {
    ///     let counter = Arc::new(AtomicUsize::new(0));
    ///     let counter2 = counter.clone();
    ///     let _detached = thread::spawn(move || counter2.fetch_add(1, Ordering::SeqCst));
    ///     counter.fetch_add(1, Ordering::SeqCst);
    /// });
    /// ```
    pub fn join_detached(mut self) -> Model {
        self.join_detached = true;
        self
    }

    /// loom: the largest preemption bound (bounds 1 up to it are explored in turn). Keep
    /// `cargo test` models at 2 or less.
    pub fn preemption_bound(mut self, bound: usize) -> Model {
        self.requested.preemption_bound = Some(bound);
        self
    }

    /// shuttle: schedules in all; std: runs of the body.
    pub fn iterations(mut self, iterations: usize) -> Model {
        self.requested.iterations = Some(iterations);
        self
    }

    /// shuttle: which scheduler(s) to run.
    pub fn scheduler(mut self, scheduler: SchedulerChoice) -> Model {
        self.requested.scheduler = Some(scheduler);
        self
    }

    /// shuttle: the PCT bug depth.
    pub fn pct_depth(mut self, depth: usize) -> Model {
        self.requested.pct_depth = Some(depth);
        self
    }

    /// shuttle and std: the base seed.
    pub fn seed(mut self, seed: u64) -> Model {
        self.requested.seed = Some(seed);
        self
    }

    /// Every backend: stop exploring once this much wall-clock time has passed (the report
    /// marks the phase as cut short).
    pub fn time_budget(mut self, budget: Duration) -> Model {
        self.requested.time_budget = Some(budget);
        self
    }

    /// std: how long one run of the body may take before it is reported as a hang (zero is
    /// refused: every run would be reported as hung).
    pub fn std_run_timeout(mut self, timeout: Duration) -> Model {
        self.requested.std_run_timeout = Some(timeout);
        self
    }

    /// Replays one failure instead of exploring: `token` is [`Replay::token`] of a
    /// [`Failure`] (the value `RACEKIT_REPLAY` takes). Unlike the environment variable, an
    /// explicit token replays whichever body this model runs, wherever it is called from.
    pub fn replay(mut self, token: impl Into<String>) -> Model {
        self.explicit_replay = Some(token.into());
        self
    }

    /// Switches the [mutation point](crate::mutation) `name` to its mutated code, for this
    /// check only (every run, every thread of it). Running the model panics, like an
    /// invalid setting, when [`CATALOG`](crate::mutation::CATALOG) has no such point.
    pub fn mutant(mut self, name: impl Into<String>) -> Model {
        self.mutants.push(name.into());
        self
    }

    /// The model's explicit name, if it was given one.
    pub(crate) fn explicit_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The same model under another name (which also tells its replay id apart).
    pub(crate) fn renamed(mut self, name: String) -> Model {
        self.name = Some(name);
        self
    }

    /// The settings this model will run with, after the environment is applied.
    pub fn settings(&self) -> Result<Settings, SettingsError> {
        let mut settings = Settings::resolve(&self.requested)?;
        if let Some(token) = &self.explicit_replay {
            settings.replay = Some(token.clone());
        }
        Ok(settings)
    }

    /// Runs the model and panics with the [`Failure`] if any schedule fails.
    #[track_caller]
    pub fn check<F>(self, body: F) -> Report
    where
        F: Fn() + Send + Sync + 'static,
    {
        match self.run_quietly(body, Verbosity::ReportsOnly) {
            Ok(report) => report,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// Runs the model and returns what it found. Panics only when the settings or the
    /// replay token are invalid (the message names the variable and what it should hold).
    pub fn run<F>(self, body: F) -> Result<Report, Failure>
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.run_quietly(body, Verbosity::ReportsAndFailures)
    }

    /// [`run`](Self::run) that leaves printing the failure to the caller.
    pub(crate) fn run_reporting<F>(self, body: F) -> Result<Report, Failure>
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.run_quietly(body, Verbosity::ReportsOnly)
    }

    fn run_quietly<F>(self, body: F, verbosity: Verbosity) -> Result<Report, Failure>
    where
        F: Fn() + Send + Sync + 'static,
    {
        let settings = self.settings().unwrap_or_else(|error| panic!("racekit: {error}"));
        detect::install();
        // The call site identifies the check; an explicit name tells apart the scenarios
        // one call site runs (a proptest around `check`, a loop over cases).
        let mut id = format!("{}:{}:{}", self.location.file(), self.location.line(), self.location.column());
        if let Some(name) = &self.name {
            id = format!("{id}#{}", name.replace('|', "/"));
        }
        let name = self.name.clone().or_else(replay::current_test_name).unwrap_or_else(|| id.clone());
        let explicit = self.explicit_replay.is_some();
        let run = Run { name, id, settings, started: Instant::now(), explicit_replay: explicit };
        let mut body: Body = Arc::new(body);
        let _selecting = if self.mutants.is_empty() {
            None
        } else {
            let selection = crate::mutation::Selection::new(self.mutants.clone()).unwrap_or_else(|unknown| {
                panic!("racekit: no mutation point is named `{unknown}`: use a name from racekit::mutation::CATALOG")
            });
            let active = selection.activate();
            let inner = body;
            body = Arc::new(move || {
                if let Some(context) = context::current() {
                    context.select_mutants(selection.clone());
                }
                inner()
            });
            Some(active)
        };
        let _options = context::configure_new_contexts(context::ContextOptions {
            trace_steps: KEPT_STEPS,
            join_detached: self.join_detached,
        });
        let result = match run.settings.replay.as_deref() {
            Some(text) => run.replay(text, body),
            None => backend_runner::explore(&run, body),
        };
        run.record(&result);
        match &result {
            Ok(report) => eprintln!("{report}"),
            Err(failure) if verbosity == Verbosity::ReportsAndFailures => eprintln!("{failure}"),
            Err(_) => {}
        }
        result
    }
}

/// What [`Model`] prints to stderr (libtest shows it for failing tests only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verbosity {
    /// Passing reports; the failure travels in the panic instead.
    ReportsOnly,
    ReportsAndFailures,
}

impl Default for Model {
    #[track_caller]
    fn default() -> Self {
        Model::new()
    }
}

/// How many [`choose`] calls per loom execution explore both answers; later ones answer
/// `false`. Each costs one of loom's five threads.
pub const LOOM_CHOICES_PER_EXECUTION: usize = 2;

/// A nondeterministic choice the checker explores: both answers under loom (at the cost
/// of one model thread, for the first [`LOOM_CHOICES_PER_EXECUTION`] choices of an
/// execution; later ones answer `false`), a recorded random choice under shuttle (so it
/// replays), and a draw from the run's seed on real threads.
///
/// Use it for "the timeout fires or not", "the connection fails or not": anything the
/// environment decides that the model should explore both ways.
#[track_caller]
pub fn choose() -> bool {
    trace::record("choose", None, Location::caller());
    #[cfg(racekit_shuttle)]
    {
        use shuttle::rand::RngCore;
        shuttle::rand::thread_rng().next_u64() & 1 == 1
    }
    #[cfg(racekit_loom)]
    {
        if !context::current().is_some_and(|context| context.take_loom_choice()) {
            // Out of threads (or outside a check): the choice is "no".
            return false;
        }
        // loom explores every value a load may read. The helper thread's store may or may
        // not have happened when the load runs, so both answers are explored.
        use loom::sync::atomic::{AtomicBool, Ordering};
        let flag = loom::sync::Arc::new(AtomicBool::new(false));
        let setter = flag.clone();
        let _detached = loom::thread::spawn(move || setter.store(true, Ordering::Relaxed));
        flag.load(Ordering::Relaxed)
    }
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    {
        match context::current() {
            Some(context) => context.next_u64() & 1 == 1,
            None => fastrand::bool(),
        }
    }
}

/// One invocation of a check: what every backend runner needs.
pub(crate) struct Run {
    pub name: String,
    pub id: String,
    pub settings: Settings,
    pub started: Instant,
    /// The token came from [`Model::replay`], not the environment: replay whatever the id.
    pub explicit_replay: bool,
}

impl Run {
    /// When the time budget runs out, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.settings.time_budget.map(|budget| self.started + budget)
    }

    /// The report of a passing check.
    pub fn report(&self, phases: Vec<Phase>, tasks_spawned: usize) -> Report {
        Report {
            model: self.name.clone(),
            id: self.id.clone(),
            backend: Backend::CURRENT,
            schedules: phases.iter().map(|p| p.schedules).sum(),
            elapsed: self.started.elapsed(),
            phases,
            tasks_spawned,
            skipped: None,
        }
    }

    /// The failure found in `phase` after `schedules`, replayed by `payload`.
    pub fn failure(
        &self,
        phase: String,
        schedules: u64,
        message: String,
        kind: FailureKind,
        payload: String,
    ) -> Failure {
        // A replayed failure keeps the id of the check that first found it.
        let id = match self.settings.replay.as_deref().map(replay::Token::parse) {
            Some(Ok(token)) => token.id,
            _ => self.id.clone(),
        };
        let token = replay::Token::new(Backend::CURRENT, &id, payload).encode();
        // Under the model checkers the runner's thread holds the check's context, whose
        // trace is the failing execution's (the std runner passes its run's trace itself).
        let message = with_setup_advice(message, kind);
        Failure {
            model: self.name.clone(),
            id: self.id.clone(),
            backend: Backend::CURRENT,
            kind,
            message,
            phase,
            schedules,
            elapsed: self.started.elapsed(),
            replay: Replay { command: replay::command(Backend::CURRENT, &token), token },
            replayed: self.settings.replay.is_some(),
            trace: context::current().map(|context| context.trace().steps()).unwrap_or_default(),
            notes: Vec::new(),
        }
    }

    fn replay(&self, text: &str, body: Body) -> Result<Report, Failure> {
        let token = replay::Token::parse(text).unwrap_or_else(|error| panic!("racekit: {error}"));
        if token.id != self.id && !self.explicit_replay {
            let mut report = self.report(Vec::new(), 0);
            report.skipped = Some(format!("RACEKIT_REPLAY replays the check at {}", token.id));
            return Ok(report);
        }
        if token.backend != Backend::CURRENT.name() {
            panic!(
                "racekit: this replay token comes from the {} backend but this build runs {}: rebuild with the \
                 RUSTFLAGS and CARGO_TARGET_DIR of the printed reproduce command",
                token.backend,
                Backend::CURRENT
            );
        }
        // A replay prints every step of the execution it reruns.
        let _whole_trace = context::configure_new_contexts(context::ContextOptions {
            trace_steps: KEPT_STEPS_ON_REPLAY,
            ..context::new_context_options()
        });
        backend_runner::replay(self, &token.payload, body)
    }

    /// Appends the JSON line for the job's reports, when `RACEKIT_REPORT_FILE` is set.
    fn record(&self, result: &Result<Report, Failure>) {
        let Some(path) = &self.settings.report_file else { return };
        let line = serde_json::json!({
            "test": replay::current_test_name(),
            "binary": std::env::current_exe().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())),
            "verdict": match result {
                Ok(report) if report.skipped.is_some() => "skipped",
                Ok(_) => "passed",
                Err(_) => "failed",
            },
            "report": result.as_ref().ok(),
            "failure": result.as_ref().err(),
        });
        append_report_line(path, line);
    }
}

/// Appends `line` (a JSON object) to the `RACEKIT_REPORT_FILE` at `path`, with the running
/// test's name and binary added. A line that cannot be written fails the check (panics with
/// what to do) rather than vanish from the report the caller asked for.
pub(crate) fn append_report_line(path: &std::path::Path, mut line: serde_json::Value) {
    if let Some(fields) = line.as_object_mut() {
        fields.insert("test".into(), replay::current_test_name().into());
        let binary = std::env::current_exe().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        fields.insert("binary".into(), binary.into());
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes()));
    if let Err(error) = written {
        panic!(
            "racekit: could not append to RACEKIT_REPORT_FILE={}: {error}; make the file writable, or unset the \
             variable",
            path.display()
        );
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

#[cfg(any(racekit_loom, racekit_shuttle))]
/// The body as one model execution runs it: a fresh run of the check's context, then the
/// leak check once the body returns.
pub(crate) fn instrumented(
    body: Body,
    context: Arc<context::CheckContext>,
    seed: u64,
) -> impl Fn() + Send + Sync + 'static {
    move || {
        context.reset(seed);
        let boundary = detect::ThreadBoundary;
        body();
        drop(boundary);
        // With `join_detached` the checker itself runs the remaining threads to their end
        // (and fails the execution if one panics or deadlocks).
        if !context.joins_detached() {
            assert_no_leaked_tasks(&context);
        }
    }
}

/// Panics with the leaked-task failure if tasks of the run are still live.
pub(crate) fn assert_no_leaked_tasks(context: &context::CheckContext) {
    let live = context.live();
    if live > 0 {
        detect::fail(
            FailureKind::LeakedTasks,
            format!(
                "leaked task(s): {live} of the {} thread(s) or task(s) spawned through racekit::sync were still \
                 running when the body returned; join (or stop and join) everything the body starts, or, for a test \
                 ported from loom or shuttle that leaves threads running, let the run wait for them with \
                 `Model::join_detached()`",
                context.spawned()
            ),
        );
    }
}

/// The message of a failure, with what to do added to a setup failure that does not say it
/// yet (tokio's own "no runtime" panic, shuttle's "outside of a Shuttle test").
fn with_setup_advice(message: String, kind: FailureKind) -> String {
    let advice = match Backend::CURRENT {
        Backend::Loom => LOOM_CANNOT_RUN_TOKIO,
        Backend::Shuttle => SHUTTLE_NEEDS_SHUTTLE_TOKIO,
        Backend::Std => STD_NEEDS_A_RUNTIME,
    };
    if kind != FailureKind::Setup || message.starts_with(advice) {
        return message;
    }
    format!("{advice}\n  (the runtime said: {message})")
}

/// What a loom model that reaches tokio fails with.
pub(crate) const LOOM_CANNOT_RUN_TOKIO: &str =
    "loom cannot run tokio: gate this model with `cfg(not(racekit_loom))` (shuttle model-checks async code)";

/// What a model on real threads that calls tokio outside a runtime fails with.
const STD_NEEDS_A_RUNTIME: &str =
    "tokio was called outside a runtime: run async code inside `racekit::sync::task::block_on`";

/// What a shuttle model that reaches a tokio runtime other than shuttle's fails with.
pub(crate) const SHUTTLE_NEEDS_SHUTTLE_TOKIO: &str = "the body reached tokio outside shuttle's executor, so shuttle \
     cannot schedule it: depend on tokio as `tokio = { package = \"shuttle-tokio\", version = \"1\", ... }` and enable \
     its `shuttle` feature under `[target.'cfg(racekit_shuttle)'.dependencies]` (`cargo racekit init` adds both), \
     and run async code inside `racekit::sync::task::block_on`";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setup_failure_names_the_fix_and_keeps_what_the_runtime_said() {
        let tokio = "there is no reactor running, must be called from the context of a Tokio 1.x runtime";
        let message = with_setup_advice(tokio.to_owned(), FailureKind::Setup);
        assert!(message.contains("the runtime said: there is no reactor running"), "{message}");
        assert!(message.contains("block_on"), "{message}");
        let advice = with_setup_advice(message.clone(), FailureKind::Setup);
        assert_eq!(advice, message, "advice is given once");
    }

    #[test]
    fn a_panic_that_quotes_a_runtime_is_left_as_it_is() {
        let message = with_setup_advice("there is no reactor running".to_owned(), FailureKind::Panic);
        assert_eq!(message, "there is no reactor running");
    }
}
