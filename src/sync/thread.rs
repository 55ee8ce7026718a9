//! Threads over the selected backend, counted as live tasks of the surrounding check.

use super::backend;
use crate::model::context;

/// Owned permission to join a thread spawned with [`spawn`].
#[derive(Debug)]
pub struct JoinHandle<T> {
    inner: backend::thread::JoinHandle<T>,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish; `Err` carries the payload of its panic.
    pub fn join(self) -> std::thread::Result<T> {
        self.inner.join()
    }
}

/// Spawns a thread on the selected backend.
///
/// Inside [`check`](crate::check) the thread is a live task of the check until it returns
/// or unwinds: a check fails with "leaked task" when one is still running when the body
/// returns, and fails when the thread panics, whether or not anyone joins it (as loom and
/// shuttle do; catch the panic inside the thread if it is expected). Under loom a model
/// may have at most five threads, counting its main thread.
pub fn spawn<F, T>(body: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let task = context::TaskGuard::register();
    JoinHandle {
        inner: backend::thread::spawn(move || task.enter().run(body)),
    }
}

/// Spawns a named thread (the name shows in panic messages and in model-checker reports).
pub fn spawn_named<F, T>(name: impl Into<String>, body: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let task = context::TaskGuard::register();
    let inner = backend::thread::Builder::new()
        .name(name.into())
        .spawn(move || task.enter().run(body))
        .expect("the backend refused to spawn a thread");
    JoinHandle { inner }
}

/// Offers the scheduler a chance to run another thread. Under the model checkers this is
/// a scheduling point; a spin loop must call it, or loom and shuttle report it as a
/// livelock (step bound exceeded).
pub fn yield_now() {
    backend::thread::yield_now();
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
