//! Stopper: tasks admitted until quiesce, cancel-on-quiesce tokens, closers run exactly once,
//! idempotent stop (CockroachDB's `stop.Stopper`).
//!
//! A [`Stopper`] supervises the tasks of a service: threads ([`Stopper::spawn_thread`]),
//! tokio tasks ([`Stopper::spawn_task`]) and calls on the caller's thread
//! ([`Stopper::run_task`]). [`Stopper::stop`] shuts it down in three steps:
//!
//! 1. **Quiesce**: new tasks are refused with [`TaskRefused`]; every task's [`CancelToken`]
//!    and every [`Stopper::cancel_on_quiesce`] token is cancelled, before any closer runs.
//! 2. **Drain**: stop waits, woken by the last task's exit (never by polling), until no
//!    task is running. [`Stopper::stop_timeout`] gives up at a deadline and names the
//!    tasks still running.
//! 3. **Close**: the closers run, last added first, each exactly once, outside every lock.
//!
//! # Guarantees
//!
//! - *Sticky admission*: a task is admitted or refused under the same lock that quiesce
//!   takes; once quiesce has begun, no task starts, and a task that was admitted is
//!   counted before `spawn_*` returns, so stop waits for it.
//! - *No leak*: stop returns only when every admitted task has ended (returned, panicked,
//!   or, for async tasks, been dropped by its runtime).
//! - *Exactly once*: each closer runs once, including closers added while stop runs
//!   (they run before the older ones still pending) and after stop finished (they run at
//!   once, on the caller's thread, and [`add_closer`](Stopper::add_closer) says so).
//! - *Tokens first*: when any stop returns, and before any closer starts, every
//!   cancel-on-quiesce token and the quiesce token are cancelled, even when the quiesce
//!   was begun by another thread that has not finished cancelling: a stop that finds no
//!   task waits for that cancellation before it closes anything.
//! - *Idempotent stop*: every call, concurrent or later, returns the same [`StopReport`],
//!   and none returns before the closers have all run.
//! - *No user code under the lock*: tasks, closers and token wake-ups run unlocked, so a
//!   closer may call back into the stopper (add a closer, try a task, read its state).
//!   A task or closer must not wait for the stop it is part of: call
//!   [`quiesce`](Stopper::quiesce), which does not wait. A closer that calls
//!   [`try_stop`](Stopper::try_stop) or [`stop_timeout`](Stopper::stop_timeout) gets
//!   [`StopError::CalledFromCloser`] instead of a deadlock, and a thread task (from
//!   [`spawn_thread`](Stopper::spawn_thread) or [`run_task`](Stopper::run_task)) gets
//!   [`StopError::CalledFromTask`]. (An async task that awaits
//!   [`stop_async`](Stopper::stop_async) waits for itself: tasks move between threads, so
//!   only thread tasks are recognised.)
//!
//! # Task quotas
//!
//! [`TaskOpts`] start a task with a [`TaskQuota`] (a semaphore of this stopper): when all
//! its places are taken the caller fails fast ([`SpawnError::QuotaExhausted`]) or waits for
//! a task of the quota to end; quiesce ends every such wait with
//! [`SpawnError::CancelledWhileWaiting`]. See [`Stopper::spawn_task_with`],
//! [`Stopper::spawn_thread_with`] and [`Stopper::run_task_with`].
//!
//! # Closer order
//!
//! Closers form a stack: the last added runs first. A resource opened later usually uses
//! the ones opened before it (a server uses its database pool), so it must close first;
//! this is the order of Rust's drops and Go's `defer`, and of the seed's `Application`
//! (CockroachDB's own stopper runs closers in insertion order). They run one at a time on
//! the thread whose stop saw the last task end; a panicking closer is counted in
//! [`StopReport::closers_panicked`] and the others still run.
//!
//! # Compared with tokio-util's `TaskTracker` + `CancellationToken`
//!
//! The same quiesce-then-wait shape, plus: refusal after quiesce is an error rather than
//! a task that starts anyway, threads and tokio tasks under one count, closers, names of
//! the tasks a timed-out stop is still waiting for, and a blocking stop for threads. The
//! price is one lock per spawn and per exit (the tracker uses one atomic); see
//! `benches/stopper.rs`.
//!
//! # Invariants
//!
//! Under the one lock (`state`):
//! - `phase` only moves forward: `Running` → `Quiescing` → `Closing` → `Stopped`;
//! - `tasks` holds exactly the admitted tasks that have not ended: each is inserted by
//!   its admission and removed by its own guard's drop, which happens once (the guard is
//!   owned by the task), so the live count `tasks.len()` never goes below zero;
//! - no task is inserted unless `phase == Running`; `tokens` is drained, and closed to
//!   inserts, by the move out of `Running`;
//! - `tokens_cancelled` is set, by the call that drained the tokens, only after it has
//!   cancelled every one of them (unlocked); `Quiescing` → `Closing` requires it, so no
//!   closer runs, and no stop returns, before every token is cancelled;
//! - each quota's `in_use` is the number of live tasks holding one of its places, and
//!   never exceeds its limit (see the `quota` module);
//! - `closing_thread` is the thread that entered `Closing` (it runs the closers);
//! - `Closing` is entered by exactly one thread, which alone pops and runs closers until
//!   the stack is empty and then sets `Stopped` in the same critical section as that
//!   last pop, so a closer pushed meanwhile is always popped.
//!
//! Lock order: `state` is the only lock; it is never held while user code, a token's
//! cancellation or a wake-up runs.

mod quota;
mod slots;
mod token;

pub use quota::{SpawnError, TaskOpts, TaskQuota, ZeroQuota};

pub(crate) use slots::Slots;
pub use token::CancelToken;
pub(crate) use token::Signal;

use crate::sync::async_sync::Notify;
use crate::sync::{thread, Arc, Condvar, Deadline, Mutex};
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::time::Duration;
use thiserror::Error;

/// The [mutation points](crate::mutation) planted in this pattern: one-expression bugs a
/// model switches on with [`Model::mutant`](crate::model::Model::mutant).
pub const MUTATION_POINTS: &[crate::mutation::MutationPoint] = &[
    point("stopper.stop.closes_before_tokens_cancelled", "a stop that finds no task closes without waiting for the quiesce begun by another call to finish cancelling the tokens"),
    point("stopper.stop.second_stop_returns_early", "a stop that finds the stopper already quiescing returns at once, before the closers ran"),
    point("stopper.stop.closer_waits_for_its_own_stop", "a closer's stop call is not recognised and waits for the stop that is running it"),
    point("stopper.stop_async.registers_after_reading_state", "stop_async waits on a wake-up registered after it read the state, so a change in between is lost"),
    point("stopper.admit.phase_checked_outside_the_lock", "admission checks the phase, releases the lock and counts the task under a second lock, so quiesce can slip in between"),
    point("stopper.finish.last_task_wakes_nobody", "the last task to end does not wake the waiting stops"),
    point("stopper.task.counted_down_twice", "a task's guard counts it down twice, removing the slot another task may have reused"),
    point("stopper.task.unwinding_task_not_counted_down", "a task that panics is never counted down, so a stop waits for it forever"),
    point("stopper.spawn.failed_spawn_not_counted_down", "the count-down is armed only once the task's body starts, so a spawn that fails before that keeps its admission forever"),
    point("stopper.close.closer_runs_under_the_lock", "closers run while the state lock is held, so a closer calling back into the stopper deadlocks"),
    point("stopper.close.stopped_outside_the_last_pop", "the closer stack is found empty in one critical section and the stopper marked stopped in another, so a closer added in between never runs"),
    point("stopper.cancel_on_quiesce.registered_after_the_phase_check", "a token is registered under a second lock after the phase check, so a quiesce in between never cancels it"),
    point("stopper.token.is_cancelled_reads_relaxed", "is_cancelled loads the flag with Relaxed instead of Acquire, so what the canceller wrote before cancelling is not published to the reader"),
    point("stopper.quota.admits_one_over_the_limit", "the quota counts a place as free while in_use equals the limit, so one task more than the limit runs"),
    point("stopper.quota.release_wakes_nobody", "a task that gives its quota place back does not wake the callers waiting for one"),
    point("stopper.quota.waiter_ignores_quiesce", "a caller waiting for quota re-checks only the quota when woken, so quiesce does not end its wait and it starts a task during shutdown"),
    point("stopper.token.cancelled_registers_after_reading_flag", "an async wait for cancellation waits on a wake-up registered after it read the flag, so a cancel in between is lost"),
];

const fn point(name: &'static str, bug: &'static str) -> crate::mutation::MutationPoint {
    crate::mutation::MutationPoint { name, bug }
}

/// A task's name, shown in [`StopTimedOut`] and [`Stopper::running_tasks`]: a `&'static
/// str` costs no allocation.
pub type TaskName = Cow<'static, str>;

/// A task was not started because the stopper is quiescing or stopped.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("task `{task}` was refused: the stopper is shutting down; start tasks before calling quiesce/stop, or treat this as the signal to wind down")]
pub struct TaskRefused {
    /// The refused task's name.
    pub task: String,
}

/// [`Stopper::stop_timeout`] gave up before the stopper stopped.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error(
    "stop timed out: {} task(s) still running {:?}{}; their cancel tokens are cancelled, so make them watch the token, or call stop again to keep waiting",
    still_running.len(),
    still_running,
    if *closers_running { " and closers still running" } else { "" }
)]
pub struct StopTimedOut {
    /// Names of the tasks still running (a name shows once per running task).
    pub still_running: Vec<String>,
    /// Whether the tasks had ended and closers were still running.
    pub closers_running: bool,
}

/// Why a stop could not complete.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum StopError {
    /// The deadline of [`Stopper::stop_timeout`] passed first.
    #[error(transparent)]
    TimedOut(#[from] StopTimedOut),
    /// Called from one of this stopper's own closers, which run inside the stop that would
    /// have to finish first.
    #[error(
        "stop was called from a closer of this same stopper, which runs inside the stop it would wait for: \
         the stop in progress completes on its own; call quiesce() from a closer if it needs one"
    )]
    CalledFromCloser,
    /// Called from one of this stopper's own thread tasks, which the stop would wait for:
    /// it could never return.
    #[error(
        "stop was called from a task of this same stopper, and a stop waits for every task to end: it would wait \
         for itself; call quiesce() from the task (it does not wait) and return, and stop from outside the tasks"
    )]
    CalledFromTask,
}

/// What happened to a closer passed to [`Stopper::add_closer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloserAdded {
    /// It will run when the stopper stops.
    Deferred,
    /// The stopper had already stopped: it has just run, on the calling thread.
    RanNow,
}

/// Where a stopper is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StopperPhase {
    /// Admitting tasks.
    Running,
    /// Refusing tasks, waiting for the running ones to end.
    Quiescing,
    /// No task left; closers running.
    Closing,
    /// Every closer has run.
    Stopped,
}

/// What a completed stop saw; every stop call returns the same one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopReport {
    /// Tasks admitted over the stopper's life.
    pub tasks_started: u64,
    /// Tasks refused because the stopper was shutting down (including callers that were
    /// waiting for quota when it began).
    pub tasks_refused: u64,
    /// Tasks not started because their quota was full and they would not wait.
    pub tasks_throttled: u64,
    /// Tasks that ended without returning: they panicked, or (async tasks) their runtime
    /// dropped them before they completed.
    pub tasks_abandoned: u64,
    /// Closers run by stop.
    pub closers_run: u64,
    /// Closers among them that panicked.
    pub closers_panicked: u64,
}

/// Counters and phase of a stopper, read together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopperStats {
    /// The current phase.
    pub phase: StopperPhase,
    /// Tasks running now.
    pub live_tasks: usize,
    /// Closers waiting to run.
    pub closers_pending: usize,
    /// The counters so far.
    pub counts: StopReport,
}

type Closer = Box<dyn FnOnce() + Send>;

struct State {
    phase: StopperPhase,
    tasks: Slots<TaskName>,
    closers: Vec<Closer>,
    tokens: Slots<CancelToken>,
    /// Every token drained by quiesce has been cancelled (see the invariants).
    tokens_cancelled: bool,
    /// The counts of each [`TaskQuota`], indexed by its id.
    quotas: Vec<quota::QuotaCount>,
    /// The thread running the closers, once `Closing`.
    closing_thread: Option<thread::ThreadId>,
    counts: StopReport,
    /// The counts when the stopper stopped: what every stop call returns.
    report: StopReport,
}

thread::thread_local! {
    /// The stoppers whose thread task this thread is running, innermost last (each by the
    /// address of its shared state): a stop of one of them here would wait for itself.
    // A plain initializer: loom's and shuttle's `thread_local!` take no `const` block.
    #[allow(clippy::missing_const_for_thread_local)]
    static RUNNING_TASKS_OF: std::cell::RefCell<Vec<usize>> = std::cell::RefCell::new(Vec::new());
}

/// Marks this thread as running a task of one stopper for as long as it lives.
struct InTask(usize);

impl InTask {
    fn enter(shared: &Shared) -> InTask {
        let id = shared.id();
        RUNNING_TASKS_OF.with(|running| running.borrow_mut().push(id));
        InTask(id)
    }

    /// Whether this thread is running a task of the stopper whose state is `shared`.
    fn is_running_a_task_of(shared: &Shared) -> bool {
        RUNNING_TASKS_OF.with(|running| running.borrow().contains(&shared.id()))
    }
}

impl Drop for InTask {
    fn drop(&mut self) {
        RUNNING_TASKS_OF.with(|running| {
            let mut running = running.borrow_mut();
            if let Some(at) = running.iter().rposition(|&id| id == self.0) {
                running.remove(at);
            }
        });
    }
}

struct Shared {
    state: Mutex<State>,
    /// Blocking stoppers wait here for the last task to end, or for `Stopped`.
    changed: Condvar,
    /// The same events for async stoppers.
    changed_async: Notify,
    /// Cancelled at quiesce; every task gets a clone.
    quiesce: CancelToken,
}

/// Supervises threads and tokio tasks until a graceful, idempotent stop. See the
/// [module documentation](self) for the guarantees.
///
/// Cheap to clone: clones share one stopper.
///
/// # Examples
///
/// ```
/// use racekit::stopper::{CloserAdded, Stopper};
/// use racekit::sync::atomic::{AtomicBool, Ordering};
/// use racekit::sync::Arc;
///
/// let stopper = Stopper::new();
/// let database_open = Arc::new(AtomicBool::new(true));
/// let closer = {
///     let database_open = database_open.clone();
///     move || database_open.store(false, Ordering::SeqCst)
/// };
/// assert_eq!(stopper.add_closer(closer), CloserAdded::Deferred);
///
/// let database = database_open.clone();
/// stopper.spawn_thread("poller", move |cancel| {
///     while !cancel.is_cancelled() {
///         // Tasks end before closers run: the database is still open here.
///         assert!(database.load(Ordering::SeqCst));
///         cancel.wait_timeout(std::time::Duration::from_millis(1));
///     }
/// })?;
///
/// let report = stopper.stop(); // cancels the poller, waits for it, runs the closer
/// assert_eq!((report.tasks_started, report.closers_run), (1, 1));
/// assert!(!database_open.load(Ordering::SeqCst));
/// assert!(stopper.run_task("late", |_| ()).is_err(), "refused after stop");
/// assert_eq!(stopper.stop(), report, "stop is idempotent");
/// # Ok::<(), racekit::stopper::TaskRefused>(())
/// ```
#[derive(Clone)]
pub struct Stopper {
    shared: Arc<Shared>,
}

/// What a stop call does next, decided under the lock.
enum Step {
    /// This call moved the stopper out of `Running`: cancel these tokens (unlocked).
    Cancel(Vec<CancelToken>),
    /// This call saw the last task end and entered `Closing`: it runs the closers.
    RunClosers,
    /// Tasks are running, or another call is running closers.
    Wait,
    /// Stopped.
    Done(StopReport),
    /// Called from a closer this stopper is running.
    FromCloser,
}

impl Default for Stopper {
    fn default() -> Self {
        Stopper::new()
    }
}

impl Stopper {
    /// A running stopper with no tasks and no closers.
    pub fn new() -> Stopper {
        Stopper {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    phase: StopperPhase::Running,
                    tasks: Slots::default(),
                    closers: Vec::new(),
                    tokens: Slots::default(),
                    tokens_cancelled: false,
                    quotas: Vec::new(),
                    closing_thread: None,
                    counts: StopReport::default(),
                    report: StopReport::default(),
                }),
                changed: Condvar::new(),
                changed_async: Notify::new(),
                quiesce: CancelToken::new(),
            }),
        }
    }

    /// Runs `body` on a new thread named `name`, as a task of this stopper; `body` gets the
    /// stopper's quiesce token. Refused once quiesce has begun.
    pub fn spawn_thread<F, T>(&self, name: impl Into<TaskName>, body: F) -> Result<thread::JoinHandle<T>, TaskRefused>
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let name = name.into();
        let thread_name = name.to_string();
        let task = self.admit(name)?;
        Ok(self.launch_thread(task, thread_name, body))
    }

    /// Runs an admitted task's `body` on a new thread.
    fn launch_thread<F, T>(&self, mut task: TaskGuard, thread_name: String, body: F) -> thread::JoinHandle<T>
    where
        F: FnOnce(CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let token = self.shared.quiesce.clone();
        thread::spawn_named(thread_name, move || {
            let _in_task = InTask::enter(&task.shared);
            task.mark_started();
            let value = body(token);
            task.mark_returned();
            value
        })
    }

    /// Spawns the future `make` returns on the current tokio runtime, as a task of this
    /// stopper; `make` gets the stopper's quiesce token. Refused once quiesce has begun.
    /// Must be called within a tokio runtime (as `tokio::spawn`).
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::stopper::Stopper;
    ///
    /// racekit::sync::task::block_on(async {
    ///     let stopper = Stopper::new();
    ///     let handle = stopper
    ///         .spawn_task("ticker", |cancel| async move {
    ///             cancel.cancelled().await; // runs until the stopper quiesces
    ///             "done"
    ///         })
    ///         .unwrap();
    ///     let report = stopper.stop_async().await;
    ///     assert_eq!(report.tasks_started, 1);
    ///     assert_eq!(handle.await.unwrap(), "done");
    /// });
    /// ```
    pub fn spawn_task<F, Fut>(
        &self,
        name: impl Into<TaskName>,
        make: F,
    ) -> Result<crate::sync::task::JoinHandle<Fut::Output>, TaskRefused>
    where
        F: FnOnce(CancelToken) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let task = self.admit(name.into())?;
        Ok(self.launch_task(task, make))
    }

    /// Spawns an admitted task's future on the current tokio runtime. If `make` panics the
    /// guard unwinds with it and releases the admission.
    fn launch_task<F, Fut>(&self, mut task: TaskGuard, make: F) -> crate::sync::task::JoinHandle<Fut::Output>
    where
        F: FnOnce(CancelToken) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let future = make(self.shared.quiesce.clone());
        crate::sync::task::spawn(async move {
            task.mark_started();
            let value = future.await;
            task.mark_returned();
            value
        })
    }

    /// Runs `body` on the calling thread as a task of this stopper (stop waits for it);
    /// refused, without running it, once quiesce has begun.
    pub fn run_task<F, T>(&self, name: impl Into<TaskName>, body: F) -> Result<T, TaskRefused>
    where
        F: FnOnce(CancelToken) -> T,
    {
        let task = self.admit(name.into())?;
        Ok(self.run_admitted(task, body))
    }

    /// Runs an admitted task's `body` on the calling thread.
    fn run_admitted<F, T>(&self, mut task: TaskGuard, body: F) -> T
    where
        F: FnOnce(CancelToken) -> T,
    {
        let _in_task = InTask::enter(&self.shared);
        task.mark_started();
        let value = body(self.shared.quiesce.clone());
        task.mark_returned();
        value
    }

    /// The token every task gets: cancelled when quiesce begins.
    pub fn quiesce_token(&self) -> CancelToken {
        self.shared.quiesce.clone()
    }

    /// A token of its own that quiesce cancels, which its holder may also cancel alone
    /// (CockroachDB's `WithCancelOnQuiesce`). After quiesce has begun it comes back
    /// already cancelled. Dropping the returned guard unregisters the token (without
    /// cancelling it), so short-lived tokens do not accumulate.
    pub fn cancel_on_quiesce(&self) -> QuiesceToken {
        let token = CancelToken::new();
        let mut state = self.shared.state.lock();
        let running = state.phase == StopperPhase::Running;
        state = mutation_point!("stopper.cancel_on_quiesce.registered_after_the_phase_check", state, {
            drop(state);
            self.shared.state.lock()
        });
        let slot = running.then(|| state.tokens.insert(token.clone()));
        drop(state);
        if slot.is_none() {
            token.cancel();
        }
        QuiesceToken { token, slot, shared: self.shared.clone() }
    }

    /// Adds a closer, run once when the stopper stops (see the module documentation for
    /// the order). If the stopper has already stopped, runs it now on this thread; its panic
    /// is caught and counted in [`StopperStats::counts`], as a panic during a stop is.
    pub fn add_closer<F>(&self, closer: F) -> CloserAdded
    where
        F: FnOnce() + Send + 'static,
    {
        let closer: Closer = Box::new(closer);
        let mut state = self.shared.state.lock();
        if state.phase == StopperPhase::Stopped {
            drop(state);
            let panicked = crate::sync::catch_unwind(closer).is_err();
            let mut state = self.shared.state.lock();
            state.counts.closers_run += 1;
            state.counts.closers_panicked += u64::from(panicked);
            return CloserAdded::RanNow;
        }
        state.closers.push(closer);
        CloserAdded::Deferred
    }

    /// Begins quiescing without waiting: refuses new tasks and cancels every token. Safe to
    /// call from a task or a closer; a no-op after the first call (of it or of a stop).
    pub fn quiesce(&self) {
        let tokens = Self::begin_quiesce(&mut self.shared.state.lock());
        if let Some(tokens) = tokens {
            self.cancel(tokens);
        }
    }

    /// Quiesces, waits for every task to end, runs the closers, and returns what it saw.
    /// Concurrent and later calls wait for the first to complete and return the same
    /// report. Blocks the calling thread: from async code use
    /// [`stop_async`](Self::stop_async).
    ///
    /// # Panics
    ///
    /// When called from one of this stopper's own closers (it would wait for itself): the
    /// panic ends that closer, which the stop in progress catches and counts in
    /// [`StopReport::closers_panicked`]. Likewise from one of its thread tasks, which the
    /// stop would wait for: the panic ends that task. Call [`try_stop`](Self::try_stop)
    /// where that can happen, to get [`StopError::CalledFromCloser`] or
    /// [`StopError::CalledFromTask`] instead.
    pub fn stop(&self) -> StopReport {
        match self.try_stop() {
            Ok(report) => report,
            Err(error) => panic!("{error}"),
        }
    }

    /// [`stop`](Self::stop), returning [`StopError::CalledFromCloser`] or
    /// [`StopError::CalledFromTask`] rather than waiting for itself when called from one of
    /// this stopper's closers or thread tasks.
    pub fn try_stop(&self) -> Result<StopReport, StopError> {
        self.stop_until(None)
    }

    /// [`stop`](Self::stop), giving up after `timeout`: the error names the tasks still
    /// running. The stopper stays quiescing; a later stop call carries on where this left
    /// off. A timeout too long to represent (`Duration::MAX`) is no deadline. Under the
    /// model checkers the timeout firing is the checker's choice.
    pub fn stop_timeout(&self, timeout: Duration) -> Result<StopReport, StopError> {
        self.stop_until(Deadline::within(timeout))
    }

    /// [`stop`](Self::stop) for async code: waits without blocking the runtime's thread
    /// (tasks of this stopper on the same runtime keep running meanwhile). Closers run
    /// synchronously inside it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the future holds no lock across an await and runs every closer within
    /// one poll, so dropping it (say, on a `tokio::time::timeout`) leaves the stopper
    /// quiescing or stopped, never half-closed; a later stop call carries on.
    pub async fn stop_async(&self) -> StopReport {
        loop {
            let changed = self.shared.changed_async.notified();
            tokio::pin!(changed);
            // Registered before the state is read: a change after the read wakes us.
            changed.as_mut().enable();
            let step = Self::step(&mut self.shared.state.lock());
            match step {
                Step::Cancel(tokens) => self.cancel(tokens),
                Step::RunClosers => return self.run_closers(),
                Step::Done(report) => return report,
                Step::Wait => {
                    mutation_point!(
                        "stopper.stop_async.registers_after_reading_state",
                        changed.await,
                        self.shared.changed_async.notified().await
                    )
                }
                Step::FromCloser => panic!("{}", StopError::CalledFromCloser),
            }
        }
    }

    /// The phase now.
    pub fn phase(&self) -> StopperPhase {
        self.shared.state.lock().phase
    }

    /// Tasks running now.
    pub fn live_tasks(&self) -> usize {
        self.shared.state.lock().tasks.len()
    }

    /// Names of the tasks running now.
    pub fn running_tasks(&self) -> Vec<String> {
        self.shared.state.lock().tasks.values().map(|name| name.to_string()).collect()
    }

    /// Phase and counters, read together.
    pub fn stats(&self) -> StopperStats {
        let state = self.shared.state.lock();
        StopperStats {
            phase: state.phase,
            live_tasks: state.tasks.len(),
            closers_pending: state.closers.len(),
            counts: state.counts,
        }
    }

    fn admit(&self, name: TaskName) -> Result<TaskGuard, TaskRefused> {
        let mut state = self.shared.state.lock();
        if state.phase != StopperPhase::Running {
            state.counts.tasks_refused += 1;
            drop(state);
            return Err(TaskRefused { task: name.into_owned() });
        }
        state = mutation_point!("stopper.admit.phase_checked_outside_the_lock", state, {
            drop(state);
            self.shared.state.lock()
        });
        Ok(self.insert_task(&mut state, name, None))
    }

    /// Counts an admitted task in (the caller checked the phase, and took its quota place).
    fn insert_task(&self, state: &mut State, name: TaskName, quota: Option<usize>) -> TaskGuard {
        let slot = state.tasks.insert(name);
        state.counts.tasks_started += 1;
        TaskGuard { shared: self.shared.clone(), slot, quota, started: false, returned: false }
    }

    /// Moves a running stopper to `Quiescing`; the tokens to cancel, for the call that did.
    fn begin_quiesce(state: &mut State) -> Option<Vec<CancelToken>> {
        if state.phase != StopperPhase::Running {
            return None;
        }
        state.phase = StopperPhase::Quiescing;
        Some(state.tokens.drain())
    }

    /// Cancels what quiesce drained, then records that it did: the stops waiting to close
    /// wait for this record, not only for the tasks.
    fn cancel(&self, tokens: Vec<CancelToken>) {
        self.shared.quiesce.cancel();
        for token in tokens {
            token.cancel();
        }
        self.shared.state.lock().tokens_cancelled = true;
        // The stopper may have had no task to wait for.
        self.shared.wake_stoppers();
    }

    fn step(state: &mut State) -> Step {
        if let Some(tokens) = Self::begin_quiesce(state) {
            return Step::Cancel(tokens);
        }
        match state.phase {
            StopperPhase::Quiescing
                if state.tasks.is_empty()
                    && mutation_point!("stopper.stop.closes_before_tokens_cancelled", state.tokens_cancelled, true) =>
            {
                state.phase = StopperPhase::Closing;
                state.closing_thread = Some(thread::current_id());
                Step::RunClosers
            }
            StopperPhase::Closing
                if mutation_point!(
                    "stopper.stop.closer_waits_for_its_own_stop",
                    state.closing_thread == Some(thread::current_id()),
                    false
                ) =>
            {
                Step::FromCloser
            }
            StopperPhase::Stopped => Step::Done(state.report),
            _ => Step::Wait,
        }
    }

    fn stop_until(&self, deadline: Option<Deadline>) -> Result<StopReport, StopError> {
        if InTask::is_running_a_task_of(&self.shared) {
            return Err(StopError::CalledFromTask);
        }
        let mut state = self.shared.state.lock();
        if mutation_point!("stopper.stop.second_stop_returns_early", false, state.phase != StopperPhase::Running) {
            return Ok(state.counts);
        }
        let mut gave_up = false;
        loop {
            match Self::step(&mut state) {
                Step::Cancel(tokens) => {
                    drop(state);
                    self.cancel(tokens);
                    state = self.shared.state.lock();
                }
                Step::RunClosers => {
                    drop(state);
                    return Ok(self.run_closers());
                }
                Step::Done(report) => return Ok(report),
                Step::FromCloser => return Err(StopError::CalledFromCloser),
                Step::Wait if gave_up => {
                    return Err(StopError::TimedOut(StopTimedOut {
                        still_running: state.tasks.values().map(|name| name.to_string()).collect(),
                        closers_running: state.phase == StopperPhase::Closing,
                    }))
                }
                Step::Wait => {
                    // A timeout re-checks the state once more before giving up, so a
                    // wake-up racing the deadline is never lost.
                    let (next, timed_out) = self.shared.changed.wait_until_some(state, deadline);
                    state = next;
                    gave_up = timed_out;
                }
            }
        }
    }

    /// Runs every closer, newest first, then marks the stopper stopped. Called only by the
    /// one call that entered `Closing`.
    fn run_closers(&self) -> StopReport {
        let mut previous_panicked = false;
        loop {
            let mut state = self.shared.state.lock();
            if previous_panicked {
                state.counts.closers_panicked += 1;
            }
            let Some(closer) = state.closers.pop() else {
                // Stopped in the critical section that found the stack empty: a closer
                // added after this sees `Stopped` and runs itself.
                state = mutation_point!("stopper.close.stopped_outside_the_last_pop", state, {
                    drop(state);
                    self.shared.state.lock()
                });
                state.phase = StopperPhase::Stopped;
                state.report = state.counts;
                let report = state.report;
                drop(state);
                self.shared.wake_stoppers();
                return report;
            };
            state.counts.closers_run += 1;
            // Released before the closer runs: it may call back into the stopper.
            let held = mutation_point!(
                "stopper.close.closer_runs_under_the_lock",
                {
                    drop(state);
                    None
                },
                Some(state)
            );
            previous_panicked = crate::sync::catch_unwind(closer).is_err();
            drop(held);
        }
    }
}

impl fmt::Debug for Stopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stopper").field("stats", &self.stats()).finish()
    }
}

impl Shared {
    /// This stopper's identity while it lives: the address of its shared state.
    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    fn wake_stoppers(&self) {
        self.changed.notify_all();
        self.changed_async.notify_waiters();
    }

    /// Counts a task down: called once per admitted task, by its guard.
    fn finish(&self, slot: usize, quota: Option<usize>, returned: bool) {
        let mut state = self.state.lock();
        let removed = state.tasks.remove(slot);
        debug_assert!(removed.is_some(), "a task is counted down once, by its own guard");
        if !returned {
            state.counts.tasks_abandoned += 1;
        }
        let place_wanted = quota.is_some_and(|quota| state.quotas[quota].release());
        let last = state.tasks.is_empty() && state.phase == StopperPhase::Quiescing;
        drop(state);
        let last = mutation_point!("stopper.finish.last_task_wakes_nobody", last, false);
        if last || mutation_point!("stopper.quota.release_wakes_nobody", place_wanted, false) {
            self.wake_stoppers();
        }
    }
}

/// One admitted task; counts it down when dropped, whether it returned, unwound, or never
/// started (its spawn failed).
struct TaskGuard {
    shared: Arc<Shared>,
    slot: usize,
    /// The quota whose place the task holds.
    quota: Option<usize>,
    /// The task's body began (only the mutation point that arms the count-down late reads it).
    started: bool,
    returned: bool,
}

impl TaskGuard {
    /// The task's body is about to run. Like [`mark_returned`](Self::mark_returned), a
    /// method so that closures capture the whole guard.
    fn mark_started(&mut self) {
        self.started = true;
    }

    /// The task's body returned. A method, not a field write, so that closures capture
    /// the whole guard (a closure writing the field would capture only the field).
    fn mark_returned(&mut self) {
        self.returned = true;
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let counts_down =
            mutation_point!("stopper.task.unwinding_task_not_counted_down", true, !std::thread::panicking())
                && mutation_point!("stopper.spawn.failed_spawn_not_counted_down", true, self.started);
        if counts_down && !crate::sync::unwinding_from_a_failure() {
            self.shared.finish(self.slot, self.quota, self.returned);
            mutation_point!(
                "stopper.task.counted_down_twice",
                (),
                self.shared.finish(self.slot, self.quota, self.returned)
            );
        }
    }
}

/// A token from [`Stopper::cancel_on_quiesce`]: derefs to its [`CancelToken`];
/// unregisters it from the stopper when dropped.
pub struct QuiesceToken {
    token: CancelToken,
    slot: Option<usize>,
    shared: Arc<Shared>,
}

impl QuiesceToken {
    /// A clone of the token (it stays cancellable by quiesce while this guard lives).
    pub fn token(&self) -> CancelToken {
        self.token.clone()
    }
}

impl std::ops::Deref for QuiesceToken {
    type Target = CancelToken;
    fn deref(&self) -> &CancelToken {
        &self.token
    }
}

impl fmt::Debug for QuiesceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuiesceToken").field("cancelled", &self.token.is_cancelled()).finish()
    }
}

impl Drop for QuiesceToken {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            if !crate::sync::unwinding_from_a_failure() {
                // Already gone if quiesce drained it.
                self.shared.state.lock().tokens.remove(slot);
            }
        }
    }
}

#[cfg(all(test, not(any(racekit_loom, racekit_shuttle))))]
mod tests {
    use super::*;

    use crate::sync::Mutex;

    #[test]
    fn closers_run_last_added_first_and_late_closers_run_at_once() {
        let stopper = Stopper::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        for n in 0..3 {
            let order = order.clone();
            assert_eq!(stopper.add_closer(move || order.lock().push(n)), CloserAdded::Deferred);
        }
        let report = stopper.stop();
        assert_eq!(*order.lock(), [2, 1, 0]);
        assert_eq!(report.closers_run, 3);
        let late = order.clone();
        assert_eq!(stopper.add_closer(move || late.lock().push(9)), CloserAdded::RanNow);
        assert_eq!(*order.lock(), [2, 1, 0, 9]);
        assert_eq!(stopper.stop(), report, "a later stop returns the first one's report");
    }

    #[test]
    fn a_closer_added_by_a_closer_runs_before_the_older_ones() {
        let stopper = Stopper::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = order.clone();
        stopper.add_closer(move || first.lock().push("oldest"));
        let (inner, second) = (stopper.clone(), order.clone());
        stopper.add_closer(move || {
            second.lock().push("newest");
            let nested = second.clone();
            assert_eq!(inner.add_closer(move || nested.lock().push("added while closing")), CloserAdded::Deferred);
        });
        assert_eq!(stopper.stop().closers_run, 3);
        assert_eq!(*order.lock(), ["newest", "added while closing", "oldest"]);
    }

    #[test]
    fn panicking_tasks_and_closers_are_counted_and_the_rest_still_run() {
        let stopper = Stopper::new();
        let ran = Arc::new(Mutex::new(0));
        let counter = ran.clone();
        stopper.add_closer(move || *counter.lock() += 1);
        stopper.add_closer(|| panic!("closer fails"));
        let crashed = stopper.spawn_thread("crashes", |_| panic!("task fails")).unwrap();
        assert!(crashed.join().is_err());
        let unwound =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stopper.run_task("also", |_| panic!("inline"))));
        assert!(unwound.is_err(), "a panic in run_task reaches its caller");
        let report = stopper.stop();
        assert_eq!((report.tasks_started, report.tasks_abandoned), (2, 2));
        assert_eq!((report.closers_run, report.closers_panicked), (2, 1));
        assert_eq!(*ran.lock(), 1);
    }

    #[test]
    fn a_closer_calling_stop_is_refused_not_deadlocked() {
        let stopper = Stopper::new();
        let own = stopper.clone();
        let refused = Arc::new(Mutex::new(None));
        let seen = refused.clone();
        stopper.add_closer(move || {
            *seen.lock() = Some(own.try_stop());
            own.stop();
        });
        let report = stopper.stop();
        assert_eq!(*refused.lock(), Some(Err(StopError::CalledFromCloser)));
        assert_eq!((report.closers_run, report.closers_panicked), (1, 1), "stop from a closer panics, counted");
        assert_eq!(stopper.try_stop(), Ok(report), "outside a closer the report comes back");
        assert_eq!(stopper.stop_timeout(Duration::MAX), Ok(report), "Duration::MAX is no deadline");
    }

    #[test]
    fn quota_errors_are_typed_and_counted() {
        let stopper = Stopper::new();
        assert_eq!(stopper.task_quota(0).unwrap_err(), ZeroQuota);
        let quota = stopper.task_quota(1).unwrap();
        let foreign = Stopper::new().task_quota(1).unwrap();
        assert!(matches!(
            stopper.run_task_with(TaskOpts::new("elsewhere").quota(&foreign), |_| ()),
            Err(SpawnError::ForeignQuota { task }) if task == "elsewhere"
        ));
        let held = stopper.run_task_with(TaskOpts::new("outer").quota(&quota), |_| {
            assert_eq!(quota.in_use(), 1);
            stopper.run_task_with(TaskOpts::new("inner").quota(&quota), |_| ())
        });
        assert_eq!(held.unwrap(), Err(SpawnError::QuotaExhausted { task: "inner".into(), limit: 1 }));
        assert_eq!(quota.in_use(), 0, "the place is given back when the task ends");
        let report = stopper.stop();
        assert_eq!((report.tasks_started, report.tasks_throttled), (1, 1));
        let waiting = TaskOpts::new("after stop").quota(&quota).wait_for_quota();
        assert!(matches!(stopper.run_task_with(waiting, |_| ()), Err(SpawnError::Refused(_))));
    }

    #[test]
    fn quiesce_tokens_are_cancelled_once_and_unregistered_on_drop() {
        let stopper = Stopper::new();
        let kept = stopper.cancel_on_quiesce();
        let dropped = stopper.cancel_on_quiesce();
        let clone = dropped.token();
        drop(dropped);
        assert_eq!(stopper.shared.state.lock().tokens.len(), 1, "the dropped guard unregistered its token");
        kept.cancel();
        assert!(!stopper.quiesce_token().is_cancelled(), "cancelling one token cancels nothing else");
        stopper.quiesce();
        assert!(stopper.quiesce_token().is_cancelled());
        assert!(!clone.is_cancelled(), "an unregistered token is left alone");
        assert!(stopper.cancel_on_quiesce().is_cancelled(), "after quiesce a token comes cancelled");
        assert!(matches!(stopper.spawn_thread("late", |_| ()), Err(TaskRefused { task }) if task == "late"));
    }
}
