//! Threads over the selected backend, counted as live tasks of the surrounding check.

use super::backend;
use super::perturb;
use crate::model::context;
use crate::model::trace::{self, ObjectKind};
use std::panic::Location;
use std::time::Duration;

/// Owned permission to join a thread spawned with [`spawn`] or a [`Builder`].
#[derive(Debug)]
pub struct JoinHandle<T> {
    inner: backend::thread::JoinHandle<T>,
    /// The thread's identity in the trace.
    trace_id: u64,
    thread: Thread,
}

impl<T> JoinHandle<T> {
    fn new(inner: backend::thread::JoinHandle<T>, trace_id: u64) -> Self {
        let thread = Thread { inner: inner.thread().clone() };
        JoinHandle { inner, trace_id, thread }
    }

    /// Waits for the thread to finish; `Err` carries the payload of its panic.
    ///
    /// Inside a check, the panic a joined thread raised is the run's failure: a panic that
    /// follows from it (`join().unwrap()`) is reported as a consequence, not as the cause.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        trace::record("join", Some((ObjectKind::Thread, self.trace_id)), Location::caller());
        let result = self.inner.join();
        if result.is_err() {
            if let Some(context) = context::current() {
                context.note_joined_panic();
            }
        }
        result
    }

    /// The handle of the thread (its name and identifier, and [`Thread::unpark`]).
    pub fn thread(&self) -> &Thread {
        &self.thread
    }
}

/// The calling thread's identity and backend name, for the trace.
pub(crate) fn current_label() -> (ThreadId, Option<String>) {
    let me = backend::thread::current();
    (ThreadId(me.id()), me.name().map(str::to_owned))
}

/// Registers a thread about to be spawned: counted as a live task, recorded in the trace.
/// Returns its trace identity and the body it runs.
#[track_caller]
fn prepare<F, T>(body: F) -> (u64, impl FnOnce() -> T + Send + 'static)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let at = Location::caller();
    let thread = trace::new_object_id();
    trace::record("spawn", Some((ObjectKind::Thread, thread)), at);
    let task = context::TaskGuard::register();
    (thread, move || {
        let running = task.enter();
        trace::thread_started(thread, at);
        running.run(body)
    })
}

/// Spawns a thread on the selected backend.
///
/// Inside [`check`](crate::check) the thread is a live task of the check until it returns
/// or unwinds: a check fails with "leaked task" when one is still running when the body
/// returns, and fails when the thread panics, whether or not anyone joins it (as loom and
/// shuttle do; catch the panic inside the thread if it is expected). Under loom a model
/// may have at most five threads, counting its main thread.
#[track_caller]
pub fn spawn<F, T>(body: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (trace_id, body) = prepare(body);
    JoinHandle::new(backend::thread::spawn(body), trace_id)
}

/// Spawns a named thread (the name shows in panic messages and in model-checker reports,
/// and [`Thread::name`] returns it).
///
/// # Panics
///
/// When the operating system refuses to start a thread (as [`spawn`] does); use a
/// [`Builder`] to get that as an error instead.
#[track_caller]
pub fn spawn_named<F, T>(name: impl Into<String>, body: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().name(name.into()).spawn(body).expect("the operating system refused to start a thread")
}

/// Configures a thread before spawning it, as `std::thread::Builder` does: its name and
/// stack size. The thread counts as a live task of the surrounding check, as with [`spawn`].
///
/// # Examples
///
/// ```
/// use racekit::sync::thread;
///
/// let worker = thread::Builder::new()
///     .name("worker-1".to_owned())
///     .spawn(|| thread::current().name().map(str::to_owned))
///     .unwrap();
/// assert_eq!(worker.thread().name(), Some("worker-1"));
/// assert_eq!(worker.join().unwrap().as_deref(), Some("worker-1"));
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the thread.
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Sets the thread's stack size in bytes (ignored by shuttle, which runs threads as
    /// coroutines on stacks of its configured size).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns the thread; `Err` when the operating system refuses to start it.
    #[track_caller]
    pub fn spawn<F, T>(self, body: F) -> std::io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let mut builder = backend::thread::Builder::new();
        if let Some(name) = self.name {
            builder = builder.name(name);
        }
        if let Some(size) = self.stack_size {
            builder = builder.stack_size(size);
        }
        let (trace_id, body) = prepare(body);
        builder.spawn(body).map(|inner| JoinHandle::new(inner, trace_id))
    }
}

/// Offers the scheduler a chance to run another thread. Under the model checkers this is
/// a scheduling point; a spin loop must call it, or loom and shuttle report it as a
/// livelock (step bound exceeded).
pub fn yield_now() {
    backend::thread::yield_now();
}

/// Sleeps for `duration` on real threads. Under the model checkers time is not modelled:
/// the call is a scheduling point and returns at once, so a model that needs "the other
/// thread ran meanwhile" gets that from the checker, not the clock.
///
/// Under shuttle it is shuttle's own `sleep`: a plain context switch, not a yield. (PCT
/// treats a yield as "deprioritize me"; a thread that sleeps is not asking to run last.)
/// Under loom it is a yield, loom's only scheduling point without an operation.
///
/// Under both model checkers the execution's model time advances by `duration`, which
/// [`Instant`](super::Instant) reads.
pub fn sleep(duration: Duration) {
    super::instant::advance(duration);
    #[cfg(racekit_loom)]
    backend::thread::yield_now();
    #[cfg(not(racekit_loom))]
    backend::thread::sleep(duration);
}

/// Blocks the calling thread until its [`Thread::unpark`] is called (or spuriously, as
/// `std::thread::park` may). A token makes an `unpark` before the `park` count: the park
/// then returns at once. Always re-check the condition you parked for in a loop.
///
/// Spurious wake-ups are produced inside a check, so code that parks once under `if`
/// fails: shuttle chooses them itself, loom explores one as a choice (one of the
/// execution's [`LOOM_CHOICES_PER_EXECUTION`](crate::model::LOOM_CHOICES_PER_EXECUTION)
/// model threads), real threads return early one park in sixteen.
///
/// Under the model checkers a thread parked with no unpark coming is a deadlock, and is
/// reported as one: the lost-wakeup bugs of hand-written parkers are what this finds.
///
/// # Examples
///
/// ```
/// use racekit::sync::{thread, atomic::{AtomicBool, Ordering}, Arc};
///
/// let ready = Arc::new(AtomicBool::new(false));
/// let waiter = thread::current();
/// let setter = {
///     let ready = ready.clone();
///     thread::spawn(move || {
///         ready.store(true, Ordering::Release);
///         waiter.unpark();
///     })
/// };
/// while !ready.load(Ordering::Acquire) {
///     thread::park();
/// }
/// setter.join().unwrap();
/// ```
#[track_caller]
pub fn park() {
    trace::record("park", None, Location::caller());
    perturb::point();
    if spurious_park() {
        return;
    }
    backend::thread::park();
}

/// Whether the park about to start returns at once, as if woken spuriously (see [`park`]).
fn spurious_park() -> bool {
    #[cfg(racekit_loom)]
    return crate::model::choose();
    // shuttle wakes parked threads spuriously itself.
    #[cfg(racekit_shuttle)]
    return false;
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    return perturb::spurious_wakeup();
}

/// Blocks the calling thread until its [`Thread::unpark`] is called or `timeout` elapses
/// (or spuriously), like `std::thread::park_timeout`.
///
/// On real threads this is `std`'s. Under the model checkers time advances when nothing
/// else can happen: the park may end at once (the timeout fired while others ran), on an
/// unpark, or once every other thread is blocked or finished, so a pure timed sleep
/// passes where an untimed [`park`] with no unpark coming would be reported as a
/// deadlock. Under loom the timer costs one of the execution's
/// [`LOOM_CHOICES_PER_EXECUTION`](crate::model::LOOM_CHOICES_PER_EXECUTION) model threads;
/// once they are spent the park only ends on an unpark.
///
/// # Examples
///
/// ```
/// use racekit::sync::thread;
/// use std::time::Duration;
///
/// // Nobody unparks this thread: the timeout ends the park, on every backend.
/// racekit::check(|| thread::park_timeout(Duration::from_millis(1)));
/// ```
pub fn park_timeout(timeout: Duration) {
    #[cfg(any(racekit_loom, racekit_shuttle))]
    {
        let me = backend::thread::current();
        let alarm = super::condvar::Alarm::arm(timeout, move || me.unpark());
        if !alarm.times_out_at_once() {
            alarm.blocking();
            backend::thread::park();
        }
        alarm.disarm();
    }
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    {
        perturb::point();
        std::thread::park_timeout(timeout);
    }
}

/// A handle to a thread of the selected backend: what [`park`] waits on.
#[derive(Clone, Debug)]
pub struct Thread {
    inner: backend::thread::Thread,
}

impl Thread {
    /// Wakes the thread if it is parked, or makes its next [`park`] return at once.
    #[track_caller]
    pub fn unpark(&self) {
        trace::record("unpark", None, Location::caller());
        perturb::point();
        self.inner.unpark();
    }

    /// The thread's identifier.
    pub fn id(&self) -> ThreadId {
        ThreadId(self.inner.id())
    }

    /// The thread's name, if it was spawned with one (see [`Builder::name`]).
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }
}

/// The handle of the calling thread (send it to the thread that will unpark it).
pub fn current() -> Thread {
    Thread { inner: backend::thread::current() }
}

/// Identifies a thread of the selected backend (a model thread under loom and shuttle, an
/// OS thread otherwise); unique among the threads of one run.
///
/// Under the model checkers every model thread runs on the one OS thread that called
/// `check`, so `std::thread::current().id()` is the same in all of them: code that shards
/// or keys by thread (per-thread slots, owner checks) must use this identifier, which is
/// distinct per model thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ThreadId(backend::thread::ThreadId);

/// The identifier of the calling thread. Code that must behave differently on its own
/// threads (a worker pool refusing to block one of its workers) compares it with the
/// identifiers its threads recorded when they started.
///
/// # Examples
///
/// ```
/// use racekit::sync::thread;
///
/// let me = thread::current_id();
/// assert_eq!(me, thread::current_id());
/// assert_ne!(me, thread::spawn(thread::current_id).join().unwrap());
/// ```
pub fn current_id() -> ThreadId {
    ThreadId(backend::thread::current().id())
}

/// Declares a thread-local value with `std`'s syntax, over the selected backend: under loom
/// and shuttle each model thread gets its own value (with `std`'s macro they would all
/// share the one OS thread's), and the values are dropped when the execution ends. loom's
/// macro does not take `std`'s `const { .. }` initializer: write the plain expression.
///
/// # Examples
///
/// ```
/// use racekit::sync::thread;
/// use std::cell::Cell;
///
/// thread::thread_local! {
///     static CALLS: Cell<u32> = Cell::new(0);
/// }
/// CALLS.with(|calls| calls.set(calls.get() + 1));
/// let elsewhere = thread::spawn(|| CALLS.with(Cell::get)).join().unwrap();
/// assert_eq!((CALLS.with(Cell::get), elsewhere), (1, 0));
/// ```
#[cfg(racekit_loom)]
pub use loom::thread_local;
#[cfg(racekit_shuttle)]
pub use shuttle::thread_local;
#[cfg(not(any(racekit_loom, racekit_shuttle)))]
pub use std::thread_local;

/// Runs `body` with a [`Scope`] whose threads may borrow from the caller's stack, and
/// joins every thread spawned in it before returning (as `std::thread::scope`). Scoped
/// threads count as live tasks of the surrounding check.
///
/// The scope is passed by value (it is `Copy`), not by reference as in `std`: closures
/// written for `std` (`|s| { s.spawn(..); }`) compile unchanged.
///
/// Not available under loom, whose threads must be `'static`: models that use it are
/// checked by shuttle and real threads.
///
/// # Examples
///
/// ```
/// use racekit::sync::{thread, atomic::{AtomicUsize, Ordering}};
///
/// let hits = AtomicUsize::new(0);
/// thread::scope(|s| {
///     for _ in 0..2 {
///         s.spawn(|| hits.fetch_add(1, Ordering::Relaxed));
///     }
/// });
/// assert_eq!(hits.into_inner(), 2);
/// ```
#[cfg(not(racekit_loom))]
pub fn scope<'env, F, T>(body: F) -> T
where
    F: for<'scope> FnOnce(Scope<'scope, 'env>) -> T,
{
    backend::thread::scope(|inner| body(Scope { inner }))
}

/// Spawns threads that may borrow from outside the [`scope`] (not available under loom).
#[cfg(not(racekit_loom))]
#[derive(Clone, Copy, Debug)]
pub struct Scope<'scope, 'env: 'scope> {
    inner: &'scope backend::thread::Scope<'scope, 'env>,
}

#[cfg(not(racekit_loom))]
impl<'scope> Scope<'scope, '_> {
    /// Spawns a scoped thread; the scope joins it before [`scope`] returns if nobody else
    /// did.
    pub fn spawn<F, T>(&self, body: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let task = context::TaskGuard::register();
        let inner = self.inner.spawn(move || task.enter().run(body));
        let thread = Thread { inner: inner.thread().clone() };
        ScopedJoinHandle { inner, thread }
    }
}

/// Owned permission to join a thread spawned in a [`Scope`].
#[cfg(not(racekit_loom))]
#[derive(Debug)]
pub struct ScopedJoinHandle<'scope, T> {
    inner: backend::thread::ScopedJoinHandle<'scope, T>,
    thread: Thread,
}

#[cfg(not(racekit_loom))]
impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the thread to finish; `Err` carries the payload of its panic.
    pub fn join(self) -> std::thread::Result<T> {
        self.inner.join()
    }

    /// The handle of the thread.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }
}
