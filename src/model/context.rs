//! The check a thread belongs to: live-task accounting and the seed of the current run.
//!
//! # Invariants
//!
//! - `live` counts tasks registered through the facade ([`TaskGuard::register`]) that have
//!   not yet finished: it is raised before the backend spawns (so a task can never finish
//!   before it is counted) and lowered when the task's guard drops, on return or unwind.
//! - The counters are plain `std` atomics on purpose: they are the harness observing the
//!   model, not part of it, so the model checkers must not schedule around them.
//! - Under loom and shuttle every model thread runs as a coroutine on the OS thread that
//!   called `check`, so the thread-local current context is already the check's; on real
//!   threads a spawned thread installs its parent's context for its lifetime.

use super::detect::Detection;
use super::trace::{Trace, KEPT_STEPS};
use super::FailureKind;
use crate::sync::lock_order::LockOrder;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// State shared by every task of one run of a check body.
#[derive(Debug)]
pub(crate) struct CheckContext {
    live: AtomicUsize,
    spawned: AtomicUsize,
    /// `choose()` calls of this execution that spent a loom thread.
    #[cfg(racekit_loom)]
    loom_choices: AtomicUsize,
    /// Seed of the current run: the std iteration seed, or the model seed.
    seed: AtomicU64,
    /// Random stream for [`choose`](crate::model::choose) and the std `Rng` on real threads.
    rng: Mutex<fastrand::Rng>,
    /// Panic messages of facade threads and tasks of this run, in the order they were
    /// caught (real threads only: the model checkers fail an execution on any thread's
    /// panic themselves).
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    panics: Mutex<Vec<String>>,
    /// Whether a `join` in this run returned a thread's panic (so a panic that follows,
    /// such as `join().unwrap()`'s, is a consequence, not the cause).
    joined_a_panic: AtomicBool,
    /// Locks held and lock-order edges of this run.
    lock_order: Mutex<LockOrder>,
    /// What the detectors and the checker found in this run, with its kind (see
    /// [`detect`](super::detect)).
    detections: Mutex<Vec<Detection>>,
    /// Mutation points this check switched on (see [`crate::mutation`]).
    mutants: Mutex<Option<Arc<crate::mutation::Selection>>>,
    /// The facade operations of this run.
    trace: Mutex<Trace>,
    options: ContextOptions,
    /// Timer tasks of this run's pending timed waits (shuttle: the scheduler runs them only
    /// when nothing else can run, see [`Timers`]).
    #[cfg(racekit_shuttle)]
    timers: Mutex<Timers>,
    /// Whether `timers` has a pending timer: the scheduler asks at every scheduling
    /// decision, and most runs never arm one (kept equal to `!pending.is_empty()` by
    /// [`TimersGuard`]).
    #[cfg(racekit_shuttle)]
    timers_pending: AtomicBool,
}

/// The timer tasks of pending timed waits under shuttle, and which one time advanced for.
///
/// A timed wait that may time out spawns a timer task; the scheduler hides timer tasks while
/// any other task can run and, once none can, runs the timer of the earliest deadline and
/// marks it [`woken_alone`](Timers::woken_alone): time advanced, so its wait times out.
#[cfg(racekit_shuttle)]
#[derive(Debug, Default)]
pub(crate) struct Timers {
    /// Timer task ids (shuttle's `usize` form) with their deadlines (`None`: too far to
    /// represent), in arming order.
    pub pending: Vec<(usize, Option<std::time::Instant>)>,
    /// The timer the scheduler ran because nothing else could run.
    pub woken_alone: Option<usize>,
}

/// The locked [`Timers`] of a run; when dropped, it publishes whether any timer is pending.
#[cfg(racekit_shuttle)]
#[derive(Debug)]
pub(crate) struct TimersGuard<'a> {
    timers: MutexGuard<'a, Timers>,
    any_pending: &'a AtomicBool,
}

#[cfg(racekit_shuttle)]
impl std::ops::Deref for TimersGuard<'_> {
    type Target = Timers;

    fn deref(&self) -> &Timers {
        &self.timers
    }
}

#[cfg(racekit_shuttle)]
impl std::ops::DerefMut for TimersGuard<'_> {
    fn deref_mut(&mut self) -> &mut Timers {
        &mut self.timers
    }
}

#[cfg(racekit_shuttle)]
impl Drop for TimersGuard<'_> {
    fn drop(&mut self) {
        self.any_pending.store(!self.timers.pending.is_empty(), Ordering::Relaxed);
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<CheckContext>>> = const { RefCell::new(None) };
    static NEW_CONTEXTS: Cell<ContextOptions> = const { Cell::new(ContextOptions::DEFAULT) };
}

/// What the contexts a check creates on this thread start with (set by the check for its
/// backend runner, which creates them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ContextOptions {
    /// How many steps each run's trace keeps.
    pub trace_steps: usize,
    /// See [`Model::join_detached`](crate::model::Model::join_detached).
    pub join_detached: bool,
}

impl ContextOptions {
    const DEFAULT: ContextOptions = ContextOptions { trace_steps: KEPT_STEPS, join_detached: false };
}

/// Makes `options` apply to contexts created on this thread until the guard drops.
pub(crate) fn configure_new_contexts(options: ContextOptions) -> Configured {
    Configured(NEW_CONTEXTS.with(|cell| cell.replace(options)))
}

/// The options contexts created on this thread start with.
pub(crate) fn new_context_options() -> ContextOptions {
    NEW_CONTEXTS.with(Cell::get)
}

/// Restores the previous [`ContextOptions`] when dropped.
#[derive(Debug)]
pub(crate) struct Configured(ContextOptions);

impl Drop for Configured {
    fn drop(&mut self) {
        NEW_CONTEXTS.with(|cell| cell.set(self.0));
    }
}

/// Check contexts alive in this process. While none is, no thread can have one current,
/// so [`current`] and [`with_current`] answer without the thread-local lookup: a facade
/// operation outside every check (a pattern's lock in production code) costs a relaxed
/// load of this.
///
/// A thread with a current context got it, through some synchronization, after the
/// context's creation counted it in, and holds it until after its last lookup, so the
/// count-down in the context's drop comes after: such a thread always reads at least one.
static CONTEXTS_ALIVE: AtomicUsize = AtomicUsize::new(0);

impl Drop for CheckContext {
    fn drop(&mut self) {
        CONTEXTS_ALIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

impl CheckContext {
    pub(crate) fn new(seed: u64) -> Arc<CheckContext> {
        let options = new_context_options();
        CONTEXTS_ALIVE.fetch_add(1, Ordering::Relaxed);
        Arc::new(CheckContext {
            live: AtomicUsize::new(0),
            spawned: AtomicUsize::new(0),
            #[cfg(racekit_loom)]
            loom_choices: AtomicUsize::new(0),
            seed: AtomicU64::new(seed),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            #[cfg(not(any(racekit_loom, racekit_shuttle)))]
            panics: Mutex::new(Vec::new()),
            joined_a_panic: AtomicBool::new(false),
            lock_order: Mutex::new(LockOrder::default()),
            detections: Mutex::new(Vec::new()),
            mutants: Mutex::new(None),
            #[cfg(racekit_shuttle)]
            timers: Mutex::new(Timers::default()),
            #[cfg(racekit_shuttle)]
            timers_pending: AtomicBool::new(false),
            trace: Mutex::new(Trace::new(options.trace_steps)),
            options,
        })
    }

    /// Whether the run waits for unjoined threads instead of failing them as leaked.
    pub(crate) fn joins_detached(&self) -> bool {
        self.options.join_detached
    }

    /// The trace of the current run.
    pub(crate) fn trace(&self) -> MutexGuard<'_, Trace> {
        self.trace.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that a `join` returned a thread's panic.
    pub(crate) fn note_joined_panic(&self) {
        self.joined_a_panic.store(true, Ordering::Relaxed);
    }

    /// Whether a `join` of this run returned a thread's panic.
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    pub(crate) fn joined_a_panic(&self) -> bool {
        self.joined_a_panic.load(Ordering::Relaxed)
    }

    /// Starts a new run (execution) of the body with `seed`. The run's state is emptied in
    /// place: what it allocated is kept for the next of the checker's many executions.
    #[cfg(any(racekit_loom, racekit_shuttle))]
    pub(crate) fn reset(&self, seed: u64) {
        self.live.store(0, Ordering::Relaxed);
        self.spawned.store(0, Ordering::Relaxed);
        #[cfg(racekit_loom)]
        self.loom_choices.store(0, Ordering::Relaxed);
        self.seed.store(seed, Ordering::Relaxed);
        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = fastrand::Rng::with_seed(seed);
        self.lock_order().clear();
        self.detections().clear();
        self.joined_a_panic.store(false, Ordering::Relaxed);
        self.trace().clear();
        #[cfg(racekit_shuttle)]
        {
            let mut timers = self.timers();
            timers.pending.clear();
            timers.woken_alone = None;
        }
    }

    /// The timer tasks of this run (shuttle).
    #[cfg(racekit_shuttle)]
    pub(crate) fn timers(&self) -> TimersGuard<'_> {
        TimersGuard { timers: self.timers.lock().unwrap_or_else(|e| e.into_inner()), any_pending: &self.timers_pending }
    }

    /// Whether a timer task of this run is pending, without locking the timers.
    #[cfg(racekit_shuttle)]
    pub(crate) fn timers_pending(&self) -> bool {
        self.timers_pending.load(Ordering::Relaxed)
    }

    /// The lock-order state of the current run.
    pub(crate) fn lock_order(&self) -> MutexGuard<'_, LockOrder> {
        self.lock_order.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn detections(&self) -> MutexGuard<'_, Vec<Detection>> {
        self.detections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records what a detector (or the checker) found in this run.
    pub(crate) fn record_detection(&self, detection: Detection) {
        self.detections().push(detection);
    }

    /// The kind recorded for the failure whose message is `message`, if a detector raised it.
    pub(crate) fn detected_kind(&self, message: &str) -> Option<FailureKind> {
        self.detections().iter().find(|detection| detection.message == message).map(|detection| detection.kind)
    }

    /// Whether the checker itself raised the panic with `message` in this run.
    #[cfg(racekit_loom)]
    pub(crate) fn detected_by_checker(&self, message: &str) -> bool {
        self.detections().iter().any(|detection| detection.by_checker && detection.message == message)
    }

    /// Installs the check's mutation-point selection for this run.
    pub(crate) fn select_mutants(&self, selection: Arc<crate::mutation::Selection>) {
        *self.mutants.lock().unwrap_or_else(|e| e.into_inner()) = Some(selection);
    }

    /// The check's mutation-point selection, if it made one.
    pub(crate) fn mutants(&self) -> Option<Arc<crate::mutation::Selection>> {
        self.mutants.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Takes one of the execution's loom choice threads; `false` once they are spent.
    #[cfg(racekit_loom)]
    pub(crate) fn take_loom_choice(&self) -> bool {
        self.loom_choices.fetch_add(1, Ordering::Relaxed) < crate::model::LOOM_CHOICES_PER_EXECUTION
    }

    /// Records that a facade thread or task of this run panicked.
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    pub(crate) fn record_panic(&self, message: String) {
        self.trace().freeze();
        self.panics.lock().unwrap_or_else(|e| e.into_inner()).push(message);
    }

    /// The panics recorded in this run.
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    pub(crate) fn panics(&self) -> Vec<String> {
        self.panics.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Tasks spawned through the facade that have not finished.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Tasks spawned through the facade in this run.
    pub(crate) fn spawned(&self) -> usize {
        self.spawned.load(Ordering::SeqCst)
    }

    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    pub(crate) fn seed(&self) -> u64 {
        self.seed.load(Ordering::Relaxed)
    }

    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    pub(crate) fn next_u64(&self) -> u64 {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).u64(..)
    }
}

/// The context of the calling thread, if it runs inside a check (`None` also while the
/// thread's thread-locals are being destroyed: the panic hook asks on every panic, and must
/// not panic itself).
#[inline]
pub(crate) fn current() -> Option<Arc<CheckContext>> {
    with_current_arc(Arc::clone)
}

/// Runs `f` with the context of the calling thread, if it runs inside a check, without
/// taking a reference count (what the facade's per-operation hooks use). `f` must not
/// enter another context.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&CheckContext) -> R) -> Option<R> {
    with_current_arc(|context| f(context))
}

/// Whether any check context is alive in the process (see [`CONTEXTS_ALIVE`]): when not,
/// no thread has one current. The test every facade operation makes first, inlined into it,
/// so that outside every check its bookkeeping costs one relaxed load and a branch.
#[inline]
pub(crate) fn any_alive() -> bool {
    CONTEXTS_ALIVE.load(Ordering::Relaxed) != 0
}

/// The one look-up of the calling thread's context: none while no context is alive in the
/// process, else the thread-local.
#[inline]
fn with_current_arc<R>(f: impl FnOnce(&Arc<CheckContext>) -> R) -> Option<R> {
    if !any_alive() {
        return None;
    }
    look_up_current(f)
}

#[inline(never)]
fn look_up_current<R>(f: impl FnOnce(&Arc<CheckContext>) -> R) -> Option<R> {
    CURRENT.try_with(|current| current.try_borrow().ok().and_then(|current| current.as_ref().map(f))).ok().flatten()
}

/// Makes `context` current on this thread until the returned guard drops.
pub(crate) fn enter(context: Option<Arc<CheckContext>>) -> Entered {
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    crate::sync::perturb::seed_thread(context.as_ref().map(|c| {
        // Each thread of a run gets its own perturbation stream, derived from the run seed.
        c.seed() ^ c.next_u64()
    }));
    let previous = CURRENT.with(|current| std::mem::replace(&mut *current.borrow_mut(), context));
    Entered { previous: Some(previous) }
}

/// Restores the previous context when dropped.
#[derive(Debug)]
pub(crate) struct Entered {
    previous: Option<Option<Arc<CheckContext>>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            CURRENT.with(|current| *current.borrow_mut() = previous);
        }
    }
}

/// One task counted as live in its check until dropped.
#[derive(Debug)]
pub(crate) struct TaskGuard {
    context: Option<Arc<CheckContext>>,
}

impl TaskGuard {
    /// Records a panic of this task in its check (if it runs in one).
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    pub(crate) fn record_panic(&self, payload: &(dyn std::any::Any + Send)) {
        if let Some(context) = &self.context {
            context.record_panic(crate::model::panic_message(payload));
        }
    }

    /// Counts a task about to be spawned by the calling thread.
    pub(crate) fn register() -> TaskGuard {
        let context = current();
        if let Some(context) = &context {
            context.live.fetch_add(1, Ordering::SeqCst);
            context.spawned.fetch_add(1, Ordering::SeqCst);
        }
        TaskGuard { context }
    }

    /// Whether the task belongs to a check (outside one there is nothing to count).
    #[cfg(not(racekit_loom))]
    pub(crate) fn in_check(&self) -> bool {
        self.context.is_some()
    }

    /// Runs on the new thread: makes the parent's check current for the thread's lifetime.
    /// The returned guard lowers the live count when the thread returns or unwinds.
    pub(crate) fn enter(self) -> RunningTask {
        let entered = enter(self.context.clone());
        RunningTask { task: self, _entered: entered }
    }

    /// Makes the task's check current while a future is polled.
    #[cfg(not(racekit_loom))]
    pub(crate) fn enter_for_poll(&self) -> Entered {
        let previous = CURRENT.with(|current| std::mem::replace(&mut *current.borrow_mut(), self.context.clone()));
        Entered { previous: Some(previous) }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if let Some(context) = &self.context {
            context.live.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A task running on its own thread (field order: the context is restored after the count
/// is lowered).
#[derive(Debug)]
pub(crate) struct RunningTask {
    // Under the model checkers it is only held for its `Drop` (the live count).
    #[cfg_attr(any(racekit_loom, racekit_shuttle), allow(dead_code))]
    task: TaskGuard,
    _entered: Entered,
}

impl RunningTask {
    /// Runs the thread's body; on real threads a panic is recorded in the check before it
    /// continues to unwind (so a panic in a thread nobody joins still fails the check, as
    /// it does under loom and shuttle).
    pub(crate) fn run<T>(self, body: impl FnOnce() -> T) -> T {
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                Ok(value) => value,
                Err(payload) => {
                    self.task.record_panic(&*payload);
                    std::panic::resume_unwind(payload)
                }
            }
        }
        #[cfg(any(racekit_loom, racekit_shuttle))]
        {
            let _running = self;
            let _boundary = super::detect::ThreadBoundary;
            body()
        }
    }
}
