//! Task quotas: a limit on how many tasks of one kind run at once (CockroachDB's
//! `RunAsyncTaskEx` with `TaskOpts{Sem, WaitForSem}`).
//!
//! A [`TaskQuota`] is a counting semaphore that belongs to one [`Stopper`]. A task spawned
//! with [`TaskOpts::quota`] takes one of its places when it is admitted and gives it back
//! when it ends (returned, panicked, dropped by its runtime, or never started because its
//! spawn failed). When every place is taken the caller fails fast with
//! [`SpawnError::QuotaExhausted`], or, with [`TaskOpts::wait_for_quota`], waits until a
//! task of the quota ends. A wait ends with [`SpawnError::CancelledWhileWaiting`] as soon as
//! the stopper quiesces: a stop never waits for a caller that waits for quota.
//!
//! # Compared with a `tokio::sync::Semaphore` around a `TaskTracker`
//!
//! The same limit, plus: the place is tied to the task (given back by the task's own
//! count-down, even when it panics or its runtime drops it, with no permit to carry), the
//! wait is also available to threads, and shutdown ends every wait with a typed error
//! instead of leaving callers queued on a semaphore nobody closes. The price: a place is
//! taken and given back under the stopper's one lock, and a freed place wakes every
//! waiter of the stopper (each re-checks and all but one wait again), where the semaphore
//! hands the permit to one queued waiter. `benches/stopper_quota.rs` measures both.
//!
//! # Invariants
//!
//! - The quota's counts live in the stopper's one lock (`State::quotas`), next to the task
//!   table: a place is taken in the same critical section that admits the task, and given
//!   back in the one that counts it down, so `in_use` is the number of live tasks of the
//!   quota and never exceeds `limit`.
//! - `waiting` counts the callers waiting for a place. A count-down that gives a place back
//!   while `waiting > 0` wakes the stopper's waiters (the same condition variable and
//!   `Notify` that stops wait on), and quiesce wakes them too, so a waiter misses neither.
//! - A waiter re-checks the phase on every wake-up: once quiesce has begun it leaves with
//!   an error instead of taking a place freed by a cancelled task.
//!
//! Lock order: only the stopper's `state` lock; nothing is called under it.

use super::{Shared, State, Stopper, StopperPhase, TaskGuard, TaskName, TaskRefused};
use crate::sync::{thread, Arc};
use std::fmt;
use std::future::Future;
use thiserror::Error;

/// A limit on the tasks of one kind that run at once, shared by the clones of one
/// [`Stopper`]. Made by [`Stopper::task_quota`]; cheap to clone.
#[derive(Clone)]
pub struct TaskQuota {
    shared: Arc<Shared>,
    id: usize,
    limit: usize,
}

impl TaskQuota {
    /// How many tasks of this quota may run at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many tasks of this quota run now.
    pub fn in_use(&self) -> usize {
        self.shared.state.lock().quotas[self.id].in_use
    }
}

impl fmt::Debug for TaskQuota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskQuota").field("limit", &self.limit).field("in_use", &self.in_use()).finish()
    }
}

/// The counts of one quota, under the stopper's lock.
#[derive(Debug)]
pub(super) struct QuotaCount {
    limit: usize,
    in_use: usize,
    waiting: usize,
}

impl QuotaCount {
    /// Gives a place back; whether a waiter should be woken for it.
    pub(super) fn release(&mut self) -> bool {
        self.in_use -= 1;
        self.waiting > 0
    }
}

/// [`Stopper::task_quota`] was asked for a limit of zero.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error("a task quota with a limit of 0 would refuse every task: give it a limit of at least 1")]
pub struct ZeroQuota;

/// Why a task spawned with [`TaskOpts`] was not started.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SpawnError {
    /// The stopper had begun shutting down when the task asked to start.
    #[error(transparent)]
    Refused(#[from] TaskRefused),
    /// Every place of the task's quota was taken and the options said not to wait.
    #[error(
        "task `{task}` was throttled: all {limit} place(s) of its quota are in use; retry later, \
         or set TaskOpts::wait_for_quota to wait for a place"
    )]
    QuotaExhausted {
        /// The task's name.
        task: String,
        /// The quota's limit.
        limit: usize,
    },
    /// The task was waiting for a place of its quota when the stopper began shutting down.
    #[error(
        "task `{task}` stopped waiting for a place of its quota: the stopper began shutting down; \
         treat this as the signal to wind down"
    )]
    CancelledWhileWaiting {
        /// The task's name.
        task: String,
    },
    /// The quota was made by another stopper.
    #[error("task `{task}` names a quota of another stopper: make the quota with this stopper's task_quota")]
    ForeignQuota {
        /// The task's name.
        task: String,
    },
}

/// How to start one task: its name, and optionally the quota it takes a place of and
/// whether to wait for one (CockroachDB's `TaskOpts`).
///
/// # Examples
///
/// ```
/// use racekit::stopper::{SpawnError, Stopper, TaskOpts};
///
/// let stopper = Stopper::new();
/// let uploads = stopper.task_quota(1)?;
/// let first = stopper.spawn_thread_with(TaskOpts::new("upload 1").quota(&uploads), |cancel| cancel.wait())?;
/// // The one place is taken: fail fast...
/// let second = stopper.spawn_thread_with(TaskOpts::new("upload 2").quota(&uploads), |_| ());
/// assert!(matches!(second, Err(SpawnError::QuotaExhausted { limit: 1, .. })));
/// // ... or wait: stop cancels the first upload, which frees its place, but a caller still
/// // waiting then gets `CancelledWhileWaiting` rather than starting during shutdown.
/// stopper.stop();
/// first.join().unwrap();
/// let late = stopper.run_task_with(TaskOpts::new("upload 3").quota(&uploads).wait_for_quota(), |_| ());
/// assert!(matches!(late, Err(SpawnError::Refused(_))));
/// assert_eq!(uploads.in_use(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct TaskOpts {
    name: TaskName,
    quota: Option<TaskQuota>,
    wait: bool,
}

impl TaskOpts {
    /// A task named `name`, with no quota.
    pub fn new(name: impl Into<TaskName>) -> TaskOpts {
        TaskOpts { name: name.into(), quota: None, wait: false }
    }

    /// The task takes a place of `quota` while it runs.
    pub fn quota(mut self, quota: &TaskQuota) -> TaskOpts {
        self.quota = Some(quota.clone());
        self
    }

    /// When every place of the quota is taken, wait for one (until the stopper quiesces)
    /// instead of failing with [`SpawnError::QuotaExhausted`] (CockroachDB's `WaitForSem`).
    pub fn wait_for_quota(mut self) -> TaskOpts {
        self.wait = true;
        self
    }
}

/// What one admission attempt under the lock came to.
enum Attempt {
    Admitted(TaskGuard),
    /// The quota is full and the caller waits; it is counted in the quota's `waiting`.
    Wait(usize),
    Failed(SpawnError),
}

/// Counts an async caller as waiting for quota until it is dropped: a cancelled
/// `spawn_task_with` future stops counting.
struct AsyncWaiter<'a> {
    shared: &'a Shared,
    quota: usize,
}

impl Drop for AsyncWaiter<'_> {
    fn drop(&mut self) {
        if !crate::sync::unwinding_from_a_failure() {
            self.shared.state.lock().quotas[self.quota].waiting -= 1;
        }
    }
}

impl Stopper {
    /// A quota of `limit` tasks running at once, for [`TaskOpts::quota`]. Make quotas once
    /// (a pool of uploads, of connections): each lives as long as the stopper.
    pub fn task_quota(&self, limit: usize) -> Result<TaskQuota, ZeroQuota> {
        if limit == 0 {
            return Err(ZeroQuota);
        }
        let mut state = self.shared.state.lock();
        state.quotas.push(QuotaCount { limit, in_use: 0, waiting: 0 });
        let id = state.quotas.len() - 1;
        Ok(TaskQuota { shared: self.shared.clone(), id, limit })
    }

    /// [`spawn_thread`](Self::spawn_thread) with options: when the task's quota is full,
    /// fails fast or (with [`TaskOpts::wait_for_quota`]) blocks the caller until a place
    /// frees or the stopper quiesces.
    pub fn spawn_thread_with<F, T>(&self, opts: TaskOpts, body: F) -> Result<thread::JoinHandle<T>, SpawnError>
    where
        F: FnOnce(super::CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let task = self.admit_blocking(&opts)?;
        Ok(self.launch_thread(task, opts.name.to_string(), body))
    }

    /// [`run_task`](Self::run_task) with options: when the task's quota is full, fails fast
    /// or (with [`TaskOpts::wait_for_quota`]) blocks until a place frees or the stopper
    /// quiesces, then runs `body` on the calling thread.
    pub fn run_task_with<F, T>(&self, opts: TaskOpts, body: F) -> Result<T, SpawnError>
    where
        F: FnOnce(super::CancelToken) -> T,
    {
        let task = self.admit_blocking(&opts)?;
        Ok(self.run_admitted(task, body))
    }

    /// [`spawn_task`](Self::spawn_task) with options: when the task's quota is full, fails
    /// fast or (with [`TaskOpts::wait_for_quota`]) waits, without blocking the runtime's
    /// thread, until a place frees or the stopper quiesces. Must be awaited within a tokio
    /// runtime.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped while waiting, it has taken no place and admitted no task.
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::stopper::{Stopper, TaskOpts};
    ///
    /// racekit::sync::task::block_on(async {
    ///     let stopper = Stopper::new();
    ///     let quota = stopper.task_quota(2).unwrap();
    ///     let mut handles = Vec::new();
    ///     for n in 0..5 {
    ///         let opts = TaskOpts::new(format!("fetch {n}")).quota(&quota).wait_for_quota();
    ///         // At most two run at once: the third call waits for one of them to end.
    ///         handles.push(stopper.spawn_task_with(opts, |_| async move { n * 10 }).await.unwrap());
    ///     }
    ///     let mut total = 0;
    ///     for handle in handles {
    ///         total += handle.await.unwrap();
    ///     }
    ///     assert_eq!(total, 100);
    ///     assert_eq!(stopper.stop_async().await.tasks_started, 5);
    /// });
    /// ```
    pub async fn spawn_task_with<F, Fut>(
        &self,
        opts: TaskOpts,
        make: F,
    ) -> Result<crate::sync::task::JoinHandle<Fut::Output>, SpawnError>
    where
        F: FnOnce(super::CancelToken) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let task = self.admit_async(&opts).await?;
        Ok(self.launch_task(task, make))
    }

    /// Admits the task of `opts` or says why not, under the lock. `waited`: the caller has
    /// already waited for quota (a refusal is then a cancelled wait).
    fn attempt(&self, state: &mut State, opts: &TaskOpts, waited: bool) -> Attempt {
        let waiter_checks_phase = mutation_point!("stopper.quota.waiter_ignores_quiesce", true, !waited);
        if state.phase != StopperPhase::Running && waiter_checks_phase {
            state.counts.tasks_refused += 1;
            let task = opts.name.to_string();
            return Attempt::Failed(if waited {
                SpawnError::CancelledWhileWaiting { task }
            } else {
                SpawnError::Refused(TaskRefused { task })
            });
        }
        let quota = match &opts.quota {
            None => None,
            Some(quota) => {
                let count = &mut state.quotas[quota.id];
                let full = mutation_point!(
                    "stopper.quota.admits_one_over_the_limit",
                    count.in_use >= count.limit,
                    count.in_use > count.limit
                );
                if full {
                    if !opts.wait {
                        state.counts.tasks_throttled += 1;
                        return Attempt::Failed(SpawnError::QuotaExhausted {
                            task: opts.name.to_string(),
                            limit: count.limit,
                        });
                    }
                    count.waiting += 1;
                    return Attempt::Wait(quota.id);
                }
                count.in_use += 1;
                Some(quota.id)
            }
        };
        Attempt::Admitted(self.insert_task(state, opts.name.clone(), quota))
    }

    /// Refuses a quota made by another stopper before anything is counted.
    fn check_quota(&self, opts: &TaskOpts) -> Result<(), SpawnError> {
        match &opts.quota {
            Some(quota) if !Arc::ptr_eq(&quota.shared, &self.shared) => {
                Err(SpawnError::ForeignQuota { task: opts.name.to_string() })
            }
            _ => Ok(()),
        }
    }

    fn admit_blocking(&self, opts: &TaskOpts) -> Result<TaskGuard, SpawnError> {
        self.check_quota(opts)?;
        let mut state = self.shared.state.lock();
        let mut waited = false;
        loop {
            match self.attempt(&mut state, opts, waited) {
                Attempt::Admitted(task) => return Ok(task),
                Attempt::Failed(error) => return Err(error),
                Attempt::Wait(quota) => {
                    // Woken by a count-down that frees a place, or by quiesce.
                    state = self.shared.changed.wait(state);
                    state.quotas[quota].waiting -= 1;
                    waited = true;
                }
            }
        }
    }

    async fn admit_async(&self, opts: &TaskOpts) -> Result<TaskGuard, SpawnError> {
        self.check_quota(opts)?;
        let mut waited = false;
        loop {
            let changed = self.shared.changed_async.notified();
            tokio::pin!(changed);
            // Registered before the state is read: a place freed after the read wakes us.
            changed.as_mut().enable();
            let attempt = self.attempt(&mut self.shared.state.lock(), opts, waited);
            match attempt {
                Attempt::Admitted(task) => return Ok(task),
                Attempt::Failed(error) => return Err(error),
                Attempt::Wait(quota) => {
                    let _waiting = AsyncWaiter { shared: &self.shared, quota };
                    changed.await;
                    waited = true;
                }
            }
        }
    }
}
