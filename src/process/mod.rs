//! Process manager: real child processes, output streamed line by line to callbacks, stop
//! one or all concurrently collecting every error, no child left behind.
//!
//! [`ProcessManager::start`] spawns a child (through a [`Spawner`]: [`TokioSpawner`] for
//! real processes, or a fake in tests) and a supervising task that streams its output,
//! reaps it and publishes its exit. [`stop`](ProcessManager::stop) asks the supervisor to
//! end one process (`SIGTERM` to its group, then `SIGKILL` once the spec's
//! [`stop_grace`](ProcessSpec::stop_grace) has passed) and waits for the reap; [`stop_all`](ProcessManager::stop_all) does that
//! for every process at once and returns every failure (an [`ErrorCollector`]);
//! [`shutdown`](ProcessManager::shutdown) also refuses new starts, for good.
//!
//! # Guarantees
//!
//! - *No zombie, no orphan*: every child is waited for by its supervisor. Real children
//!   run in a process group of their own, and the whole group is killed when the process
//!   is stopped and when its leader exits, so a background grandchild (`sh -c 'sleep 9 &'`)
//!   does not outlive it. After `shutdown` returns, every child the manager started has
//!   been reaped. As a last resort (a runtime dropped with supervisors still running) the
//!   child is killed on drop (`kill_on_drop` and a group kill); reaping is then up to
//!   tokio. A process that leaves its group (`setsid`) is beyond any manager's reach.
//! - *Short lock*: the [`table`] lock is held only to look up, insert or remove an entry:
//!   never across a spawn, a kill, a wait, or a callback.
//! - *Callbacks*: each line of output is delivered, in order per stream, to every callback
//!   registered (see [`callbacks`]), outside every lock; a callback may call back into the
//!   manager (list processes, add or remove callbacks, start or stop processes). A
//!   panicking callback is caught and counted. Lines a process wrote before it was killed
//!   are still delivered (they are in the pipe).
//! - *Errors collected*: `stop_all` stops every process even when some fail, and returns
//!   each failure.
//! - *Bounded output*: a line longer than the spec's
//!   [`max_line_bytes`](ProcessSpec::max_line_bytes) is cut there; the rest is read and
//!   dropped as it arrives (never buffered), and counted in
//!   [`truncated_output`](ProcessManager::truncated_output).
//! - *Spawn errors say why*: a missing program, a missing working directory and a
//!   permission problem each get their own message.
//!
//! Timestamps of output lines come from the injected [`Clock`].
//!
//! # Invariants
//!
//! - Each started process has exactly one supervisor; it alone kills, waits and finishes
//!   the table entry, and it publishes the exit (once) only after the child is reaped and
//!   its output read to the end.
//! - A process is in the table from its reservation until its supervisor finishes it (or,
//!   when its spawn fails, its start abandons it, publishing that it never ran), so a
//!   shutdown's `close` either refuses a start or returns its entry to be stopped, and a
//!   stop that took an entry always learns how it ended.
//!
//! Lock order: the table's lock and the callback list's lock are never held together, and
//! neither is held across user code or an await.

pub mod callbacks;
pub mod table;
#[cfg(not(racekit_shuttle))]
mod tokio_child;

#[cfg(not(racekit_shuttle))]
pub use tokio_child::{PipeLines, TokioChild, TokioSpawner};

use crate::error_collector::{ErrorCollector, Errors};
use crate::output::{OutputLine, OutputStream};
use crate::stopper::CancelToken;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::Arc;
use crate::time::Clock;
use callbacks::{CallbackId, OutputCallbacks};
use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use table::{Entry, ExitSlot, ProcessTable};
use thiserror::Error;

/// The [mutation points](crate::mutation) planted in this pattern: one-expression bugs a
/// model switches on with [`Model::mutant`](crate::model::Model::mutant).
pub const MUTATION_POINTS: &[crate::mutation::MutationPoint] = &[
    crate::mutation::MutationPoint {
        name: "process.reserve.closed_checked_outside_the_lock",
        bug: "a start checks that the table is open, releases the lock and inserts its entry under a second \
              acquisition, so a shutdown's close can land in between",
    },
    crate::mutation::MutationPoint {
        name: "process.close.collects_before_closing",
        bug: "a shutdown collects the entries to stop and marks the table closed in two critical sections, so a \
              start in between is neither refused nor stopped",
    },
    crate::mutation::MutationPoint {
        name: "process.deliver.calls_back_under_the_lock",
        bug: "a delivery keeps the callback list's lock while it calls the callbacks",
    },
    crate::mutation::MutationPoint {
        name: "process.update_callbacks.copies_outside_the_lock",
        bug: "adding or removing a callback copies the list under one acquisition and stores the copy under \
              another, losing a concurrent update",
    },
    crate::mutation::MutationPoint {
        name: "process.update_callbacks.drops_the_old_list_under_the_lock",
        bug: "removing a callback drops the replaced list (and the callback's captured state) before releasing \
              the lock",
    },
    crate::mutation::MutationPoint {
        name: "process.stop.reports_a_failed_spawn",
        bug: "a stop that took the entry of a start whose spawn then failed reports the spawn's error as a \
              failure to stop a process that never ran",
    },
    crate::mutation::MutationPoint {
        name: "process.start.keeps_a_failed_reservation",
        bug: "a start whose spawn fails leaves its reservation in the table, unfinished",
    },
];

/// The longest output line delivered whole by default ([`ProcessSpec::max_line_bytes`]).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// How long a stopped process has by default between `SIGTERM` and `SIGKILL`
/// ([`ProcessSpec::stop_grace`]).
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(2);

/// What to run: a program, its arguments, environment and directory, and how its output
/// and its stop are bounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The program (looked up in `PATH` when it has no slash).
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
    /// The working directory (the manager's own when `None`).
    pub current_dir: Option<PathBuf>,
    /// The most bytes of one output line kept (at least 1; default
    /// [`DEFAULT_MAX_LINE_BYTES`]): the rest of a longer line is read and dropped, never
    /// buffered, and counted in [`ProcessManager::truncated_output`].
    pub max_line_bytes: usize,
    /// How long a stop waits after `SIGTERM` before `SIGKILL` (default
    /// [`DEFAULT_STOP_GRACE`]; zero kills at once; `Duration::MAX` never escalates).
    pub stop_grace: Duration,
}

impl Default for ProcessSpec {
    fn default() -> Self {
        ProcessSpec {
            program: OsString::new(),
            args: Vec::new(),
            env: Vec::new(),
            current_dir: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            stop_grace: DEFAULT_STOP_GRACE,
        }
    }
}

impl ProcessSpec {
    /// Runs `program`.
    pub fn new(program: impl Into<OsString>) -> ProcessSpec {
        ProcessSpec { program: program.into(), ..ProcessSpec::default() }
    }

    /// Keeps at most `bytes` of each output line (see [`max_line_bytes`](Self::max_line_bytes)).
    pub fn max_line_bytes(mut self, bytes: usize) -> ProcessSpec {
        self.max_line_bytes = bytes;
        self
    }

    /// Waits `grace` after `SIGTERM` before `SIGKILL` (see [`stop_grace`](Self::stop_grace)).
    pub fn stop_grace(mut self, grace: Duration) -> ProcessSpec {
        self.stop_grace = grace;
        self
    }

    /// Runs `script` with `sh -c`.
    pub fn shell(script: impl Into<OsString>) -> ProcessSpec {
        ProcessSpec::new("sh").arg("-c").arg(script)
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> ProcessSpec {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> ProcessSpec {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the working directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> ProcessSpec {
        self.current_dir = Some(dir.into());
        self
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcessExit {
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that ended it, if one did (Unix).
    pub signal: Option<i32>,
    /// Whether the manager killed it (a stop, or a shutdown).
    pub killed: bool,
}

impl ProcessExit {
    /// Whether it exited on its own with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.killed
    }
}

/// Why a process's end could not be observed (the wait for it failed).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("waiting for the process failed ({kind:?}): {message}")]
pub struct ProcessFailure {
    /// The I/O error's kind.
    pub kind: io::ErrorKind,
    /// The I/O error's message.
    pub message: String,
}

impl From<io::Error> for ProcessFailure {
    fn from(error: io::Error) -> Self {
        ProcessFailure { kind: error.kind(), message: error.to_string() }
    }
}

/// How a supervised process ended.
pub type ExitOutcome = Result<ProcessExit, ProcessFailure>;

/// A process could not be started.
#[derive(Debug, Error)]
pub enum StartError {
    /// The manager was shut down.
    #[error(
        "process `{name}` was not started: the manager is shut down; create a new manager to start processes again"
    )]
    ManagerClosed {
        /// The process's name.
        name: String,
    },
    /// A process of that name is running.
    #[error("process `{name}` is already running: stop it first or pick another name")]
    AlreadyRunning {
        /// The process's name.
        name: String,
    },
    /// Called outside a tokio runtime, where its supervisor could not run.
    #[error(
        "process `{name}` was not started: start must be called within a tokio runtime (the supervisor is a \
         task on it); call it from async code or inside Runtime::block_on / Handle::enter"
    )]
    NoRuntime {
        /// The process's name.
        name: String,
    },
    /// A line limit of zero would deliver every line empty.
    #[error("process `{name}` was not started: max_line_bytes is 0; keep at least 1 byte of each line")]
    ZeroLineLimit {
        /// The process's name.
        name: String,
    },
    /// The operating system refused to spawn it; the error says why (a missing program, a
    /// missing working directory, a permission).
    #[error("process `{name}` could not be spawned: {source}")]
    Spawn {
        /// The process's name.
        name: String,
        /// The spawn error.
        #[source]
        source: io::Error,
    },
}

/// A process could not be stopped cleanly.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum StopError {
    /// No process of that name is running (it may have exited on its own, or its spawn
    /// failed).
    #[error("process `{name}` is not running")]
    NotRunning {
        /// The process's name.
        name: String,
    },
    /// It was killed, but waiting for it failed.
    #[error("process `{name}`: {source}")]
    Failed {
        /// The process's name.
        name: String,
        /// What failed.
        #[source]
        source: ProcessFailure,
    },
}

/// Starts children: the seam between the manager's bookkeeping and the operating system.
/// [`TokioSpawner`] is the real one; tests use fakes so the model checkers can drive the
/// manager without processes.
pub trait Spawner: Send + Sync + 'static {
    /// A running child.
    type Child: ChildProcess;
    /// Its output, read line by line.
    type Output: OutputSource;
    /// Starts `spec`; called without any lock of the manager held.
    fn spawn(&self, spec: &ProcessSpec) -> io::Result<(Self::Child, Self::Output)>;
}

/// A running child, owned by its supervisor.
pub trait ChildProcess: Send + 'static {
    /// Its operating-system process id.
    fn pid(&self) -> Option<u32>;
    /// Kills it and everything it started (its process group), without waiting. Called
    /// again after it exited, to clean up what it left behind; must then do no harm.
    fn kill(&mut self) -> io::Result<()>;
    /// Asks it and its group to end (`SIGTERM`), without waiting; a stop calls
    /// [`kill`](Self::kill) if it has not ended after its grace. The default kills at once.
    fn terminate(&mut self) -> io::Result<()> {
        self.kill()
    }
    /// Waits for it to end and reaps it. Must be cancel safe.
    fn wait(&mut self) -> impl Future<Output = io::Result<ProcessExit>> + Send;
}

/// The output of a child.
pub trait OutputSource: Send + 'static {
    /// The next whole line of either stream, without its terminator; `None` once both are
    /// closed. Must be cancel safe (a partly read line is kept for the next call).
    fn next_line(&mut self) -> impl Future<Output = io::Result<Option<(OutputStream, String)>>> + Send;
    /// Bytes cut from the line [`next_line`](Self::next_line) returned last, for being
    /// over the limit. The default cuts nothing.
    fn truncated_bytes(&self) -> u64 {
        0
    }
}

/// A started process: its name, pid, and a way to wait for its end.
#[derive(Clone, Debug)]
pub struct ProcessHandle {
    name: table::Name,
    pid: Option<u32>,
    kill: CancelToken,
    exit: Arc<ExitSlot>,
}

impl ProcessHandle {
    /// The name it was started under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its operating-system process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Asks its supervisor to kill it (and its process group), without waiting; a no-op once
    /// it has ended. [`wait`](Self::wait) then reports the reap.
    pub fn kill(&self) {
        self.kill.cancel();
    }

    /// How it ended, if it has.
    pub fn exit(&self) -> Option<ExitOutcome> {
        self.exit.get()
    }

    /// Waits until it has ended and been reaped, with its output delivered.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub async fn wait(&self) -> ExitOutcome {
        self.exit.wait().await
    }
}

/// A running process, as [`ProcessManager::running`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Its name.
    pub name: String,
    /// Its pid (`None` while it is being spawned).
    pub pid: Option<u32>,
    /// When it was started (from the manager's clock).
    pub started_at: Instant,
}

struct Shared<S> {
    spawner: S,
    clock: Box<dyn Clock>,
    table: ProcessTable,
    callbacks: OutputCallbacks,
    /// Lines cut at their process's limit, and the bytes cut from them.
    truncated_lines: AtomicU64,
    truncated_bytes: AtomicU64,
}

/// Starts, supervises and stops child processes. See the [module documentation](self).
///
/// Cheap to clone: clones share one manager.
///
/// # Examples
///
/// ```
/// # #[cfg(unix)] {
/// use racekit::output::OutputLine;
/// use racekit::process::{ProcessManager, ProcessSpec};
/// use racekit::sync::{Arc, Mutex};
///
/// racekit::sync::task::block_on(async {
///     let manager = ProcessManager::new();
///     let lines = Arc::new(Mutex::new(Vec::new()));
///     {
///         let lines = lines.clone();
///         manager.add_callback(move |line: &OutputLine| lines.lock().push(line.line.clone()));
///     }
///     let greeter = manager.start("greeter", &ProcessSpec::shell("echo hello; echo world")).unwrap();
///     assert!(greeter.wait().await.unwrap().success());
///     assert_eq!(*lines.lock(), ["hello", "world"]);
///
///     manager.start("sleeper", &ProcessSpec::new("sleep").arg("30")).unwrap();
///     let stopped = manager.shutdown().await.unwrap(); // kills and reaps it
///     assert!(stopped[0].1.killed);
/// });
/// # }
/// ```
pub struct ProcessManager<S: Spawner> {
    shared: Arc<Shared<S>>,
}

impl<S: Spawner> Clone for ProcessManager<S> {
    fn clone(&self) -> Self {
        ProcessManager { shared: self.shared.clone() }
    }
}

#[cfg(not(racekit_shuttle))]
impl ProcessManager<TokioSpawner> {
    /// A manager of real processes, with the system clock.
    pub fn new() -> ProcessManager<TokioSpawner> {
        ProcessManager::with_spawner(TokioSpawner, Box::new(crate::time::SystemClock))
    }
}

#[cfg(not(racekit_shuttle))]
impl Default for ProcessManager<TokioSpawner> {
    fn default() -> Self {
        ProcessManager::new()
    }
}

impl<S: Spawner> ProcessManager<S> {
    /// A manager that starts children through `spawner` and stamps output with `clock`.
    pub fn with_spawner(spawner: S, clock: Box<dyn Clock>) -> ProcessManager<S> {
        ProcessManager {
            shared: Arc::new(Shared {
                spawner,
                clock,
                table: ProcessTable::new(),
                callbacks: OutputCallbacks::new(),
                truncated_lines: AtomicU64::new(0),
                truncated_bytes: AtomicU64::new(0),
            }),
        }
    }

    /// Starts `spec` as process `name` and supervises it. Must be called within a tokio
    /// runtime (the supervisor is a task on it); elsewhere it is refused with
    /// [`StartError::NoRuntime`].
    pub fn start(&self, name: &str, spec: &ProcessSpec) -> Result<ProcessHandle, StartError> {
        let shared = &self.shared;
        if spec.max_line_bytes == 0 {
            return Err(StartError::ZeroLineLimit { name: name.to_owned() });
        }
        // Checked before anything is spawned: without a runtime the spawn itself would panic,
        // leaving the name reserved.
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StartError::NoRuntime { name: name.to_owned() });
        }
        let entry = shared.table.reserve(name, shared.clock.now())?;
        let (child, output) = match shared.spawner.spawn(spec) {
            Ok(spawned) => spawned,
            Err(source) => {
                // Released and published: the name is free again, and a shutdown that took
                // the reservation to stop is not left waiting for a process that never ran.
                let failure = ProcessFailure { kind: source.kind(), message: source.to_string() };
                mutation_point!("process.start.keeps_a_failed_reservation", shared.table.abandon(&entry, failure), ());
                return Err(StartError::Spawn { name: name.to_owned(), source });
            }
        };
        let pid = child.pid();
        shared.table.set_pid(&entry, pid);
        let handle =
            ProcessHandle { name: entry.name.clone(), pid, kill: entry.kill.clone(), exit: entry.exit.clone() };
        let supervisor = Supervisor { shared: self.shared.clone(), entry, grace: spec.stop_grace, finished: false };
        drop(crate::sync::task::spawn(supervisor.run(child, output)));
        Ok(handle)
    }

    /// Kills process `name` and waits until it is reaped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: once called, the kill is requested; dropping the future only stops
    /// waiting for the reap, which the supervisor does regardless.
    pub async fn stop(&self, name: &str) -> Result<ProcessExit, StopError> {
        let entry = self.shared.table.get(name).ok_or_else(|| StopError::NotRunning { name: name.to_owned() })?;
        Self::stop_entry(entry).await
    }

    /// Stops every running process concurrently; returns each one's exit, or every
    /// failure. Processes started meanwhile are not included, nor one whose spawn fails
    /// meanwhile (it never ran; its start returns the error).
    ///
    /// # Cancel safety
    ///
    /// As [`stop`](Self::stop): the kills are requested at the first poll.
    pub async fn stop_all(&self) -> Result<Vec<(String, ProcessExit)>, Errors<StopError>> {
        Self::stop_entries(self.shared.table.snapshot()).await
    }

    /// Refuses every later start, then stops every process (as [`stop_all`](Self::stop_all)).
    /// When it returns, every child this manager started has been reaped.
    ///
    /// # Cancel safety
    ///
    /// As [`stop`](Self::stop): new starts are refused and kills requested at the first poll.
    pub async fn shutdown(&self) -> Result<Vec<(String, ProcessExit)>, Errors<StopError>> {
        Self::stop_entries(self.shared.table.close()).await
    }

    /// The processes running now, by name.
    pub fn running(&self) -> Vec<ProcessInfo> {
        let entries = self.shared.table.snapshot();
        entries
            .into_iter()
            .map(|entry| ProcessInfo { name: entry.name.to_string(), pid: entry.pid, started_at: entry.started_at })
            .collect()
    }

    /// Registers an output callback (see [`callbacks`] for when it is called).
    pub fn add_callback<F>(&self, callback: F) -> CallbackId
    where
        F: Fn(&OutputLine) + Send + Sync + 'static,
    {
        self.shared.callbacks.add(callback)
    }

    /// Unregisters an output callback; whether it was registered.
    pub fn remove_callback(&self, id: CallbackId) -> bool {
        self.shared.callbacks.remove(id)
    }

    /// Lines delivered to callbacks and callback panics caught so far.
    pub fn output_counts(&self) -> (u64, u64) {
        self.shared.callbacks.counts()
    }

    /// Output lines cut at their process's [`ProcessSpec::max_line_bytes`] so far, and the
    /// bytes cut from them.
    pub fn truncated_output(&self) -> (u64, u64) {
        // Relaxed: statistics, read after the deliveries they count.
        (self.shared.truncated_lines.load(Ordering::Relaxed), self.shared.truncated_bytes.load(Ordering::Relaxed))
    }

    async fn stop_entry(entry: Entry) -> Result<ProcessExit, StopError> {
        entry.kill.cancel();
        let outcome = entry.exit.wait().await;
        if mutation_point!("process.stop.reports_a_failed_spawn", entry.exit.never_ran(), false) {
            // Its start failed to spawn it (and said why): there was nothing to stop.
            return Err(StopError::NotRunning { name: entry.name.to_string() });
        }
        outcome.map_err(|source| StopError::Failed { name: entry.name.to_string(), source })
    }

    async fn stop_entries(entries: Vec<Entry>) -> Result<Vec<(String, ProcessExit)>, Errors<StopError>> {
        // Every kill is requested before the first wait: the stops run concurrently.
        for entry in &entries {
            entry.kill.cancel();
        }
        let failures = ErrorCollector::new();
        let mut stopped = Vec::with_capacity(entries.len());
        for entry in entries {
            let name = entry.name.to_string();
            match Self::stop_entry(entry).await {
                // A start whose spawn failed while the stops were being requested: it never
                // ran, so it is neither stopped nor a failure to stop (its start reported it).
                Err(StopError::NotRunning { .. }) => {}
                result => {
                    if let Some(exit) = failures.add_result(result) {
                        stopped.push((name, exit));
                    }
                }
            }
        }
        failures.into_result().map(|()| stopped)
    }
}

impl<S: Spawner> fmt::Debug for ProcessManager<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessManager").field("running", &self.running()).finish()
    }
}

/// The one task that owns a child: streams its output, kills it on request, reaps it, and
/// publishes its end.
struct Supervisor<S: Spawner> {
    shared: Arc<Shared<S>>,
    entry: Entry,
    /// Between `SIGTERM` and `SIGKILL` on a stop.
    grace: Duration,
    finished: bool,
}

impl<S: Spawner> Supervisor<S> {
    async fn run(mut self, mut child: S::Child, mut output: S::Output) {
        let kill = self.entry.kill.clone();
        let mut output_open = true;
        let mut exit: Option<io::Result<ProcessExit>> = None;
        // A stop was asked for (`SIGTERM` sent), and `SIGKILL` sent (or due when the grace ends).
        let mut killed = false;
        let mut hard_killed = false;
        let mut grace: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        // Until the child is reaped and its output read to the end (killing the group
        // when the leader exits closes the pipes its leftovers held).
        while output_open || exit.is_none() {
            tokio::select! {
                biased;
                () = kill.cancelled(), if !killed && exit.is_none() => {
                    killed = true;
                    // If a signal fails the child is already gone: the wait says how.
                    if self.grace.is_zero() {
                        hard_killed = true;
                        let _ = child.kill();
                    } else {
                        let _ = child.terminate();
                        grace = Some(Box::pin(tokio::time::sleep(self.grace)));
                    }
                }
                () = grace_ended(&mut grace), if !hard_killed && exit.is_none() => {
                    hard_killed = true;
                    let _ = child.kill();
                }
                status = child.wait(), if exit.is_none() => {
                    exit = Some(status);
                    if !hard_killed {
                        // The leader exited: end whatever it left running in its group.
                        let _ = child.kill();
                    }
                }
                line = output.next_line(), if output_open => match line {
                    Ok(Some((stream, text))) => {
                        self.count_truncation(output.truncated_bytes());
                        self.deliver(stream, text)
                    }
                    // A read error ends the stream like an end of file; the wait still
                    // reports how the process ended.
                    Ok(None) | Err(_) => output_open = false,
                },
            }
        }
        let outcome = match exit {
            Some(Ok(exit)) => Ok(ProcessExit { killed, ..exit }),
            Some(Err(error)) => Err(ProcessFailure::from(error)),
            None => unreachable!("the loop ends only once the child is reaped"),
        };
        self.shared.table.finish(&self.entry, outcome);
        self.finished = true;
    }

    fn count_truncation(&self, bytes: u64) {
        if bytes > 0 {
            // Relaxed: statistics.
            self.shared.truncated_lines.fetch_add(1, Ordering::Relaxed);
            self.shared.truncated_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    fn deliver(&self, stream: OutputStream, line: String) {
        let line = OutputLine { process: self.entry.name.clone(), stream, at: self.shared.clock.now(), line };
        self.shared.callbacks.deliver(&line);
    }
}

/// Completes when a stop's grace has ended; never while no stop has begun.
async fn grace_ended(grace: &mut Option<std::pin::Pin<Box<tokio::time::Sleep>>>) {
    match grace {
        Some(timer) => timer.as_mut().await,
        None => std::future::pending().await,
    }
}

impl<S: Spawner> Drop for Supervisor<S> {
    fn drop(&mut self) {
        // The runtime dropped the task before the child was reaped: the child is killed by
        // its own drop; publish that the end was not observed, so no one waits forever.
        if !self.finished && !crate::sync::unwinding_from_a_failure() {
            let failure = ProcessFailure {
                kind: io::ErrorKind::Interrupted,
                message: "the supervising task was dropped (its runtime shut down) before the process was reaped"
                    .to_owned(),
            };
            self.shared.table.finish(&self.entry, Err(failure));
        }
    }
}
