//! Threads over the selected backend, counted as live tasks of the surrounding check.

use super::backend;
use super::perturb;
use crate::model::context;
use crate::model::trace::{self, ObjectKind};
use std::panic::Location;
use std::time::Duration;

/// Owned permission to join a thread spawned with [`spawn`].
#[derive(Debug)]
pub struct JoinHandle<T> {
    inner: backend::thread::JoinHandle<T>,
    /// The thread's identity in the trace.
    thread: u64,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish; `Err` carries the payload of its panic.
    ///
    /// Inside a check, the panic a joined thread raised is the run's failure: a panic that
    /// follows from it (`join().unwrap()`) is reported as a consequence, not as the cause.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        trace::record("join", Some((ObjectKind::Thread, self.thread)), Location::caller());
        let result = self.inner.join();
        if result.is_err() {
            if let Some(context) = context::current() {
                context.note_joined_panic();
            }
        }
        result
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
    let (thread, body) = prepare(body);
    JoinHandle { inner: backend::thread::spawn(body), thread }
}

/// Spawns a named thread (the name shows in panic messages and in model-checker reports).
#[track_caller]
pub fn spawn_named<F, T>(name: impl Into<String>, body: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (thread, body) = prepare(body);
    let inner =
        backend::thread::Builder::new().name(name.into()).spawn(body).expect("the backend refused to spawn a thread");
    JoinHandle { inner, thread }
}

/// Offers the scheduler a chance to run another thread. Under the model checkers this is
/// a scheduling point; a spin loop must call it, or loom and shuttle report it as a
/// livelock (step bound exceeded).
pub fn yield_now() {
    backend::thread::yield_now();
}

/// Sleeps for `duration` on real threads. Under the model checkers time is not modelled:
/// the call is a scheduling point (like [`yield_now`]) and returns at once, so a model
/// that needs "the other thread ran meanwhile" gets that from the checker, not the clock.
pub fn sleep(duration: Duration) {
    #[cfg(any(racekit_loom, racekit_shuttle))]
    {
        let _ = duration;
        backend::thread::yield_now();
    }
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    std::thread::sleep(duration);
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
}

/// The handle of the calling thread (send it to the thread that will unpark it).
pub fn current() -> Thread {
    Thread { inner: backend::thread::current() }
}

/// Identifies a thread of the selected backend (a model thread under loom and shuttle, an
/// OS thread otherwise); unique among the threads of one run.
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
