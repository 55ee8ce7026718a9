//! The synchronization facade: the only module in racekit that names `std`, `loom` or
//! `shuttle` primitives.
//!
//! Everything concurrent in racekit (and in your own code, if you want it model-checked)
//! imports its primitives from here. The build picks the backend:
//!
//! | build | backend | what runs |
//! |---|---|---|
//! | default | `std` | real threads; inside [`check`](crate::check) lock operations and atomic accesses are perturbed with seeded random yields, spins and sleeps |
//! | `--cfg racekit_loom` | [loom](https://docs.rs/loom) | bounded exhaustive exploration (DPOR) |
//! | `--cfg racekit_shuttle` | [shuttle](https://docs.rs/shuttle) | randomized and PCT schedulers |
//!
//! Setting both cfgs is a compile error.
//!
//! # One API across backends
//!
//! - No lock poisoning: [`Mutex::lock`], [`RwLock::read`] and [`RwLock::write`] return the
//!   guard directly. A panic while a lock is held does not make the data unreachable; the
//!   harness reports the panic itself.
//! - [`Condvar`] waits take and return the facade guard; [`Condvar::wait_timeout`] returns
//!   whether the timeout fired. Under the model checkers time is not modelled, so the
//!   timeout *firing* is a nondeterministic choice the checker explores (see
//!   [`Condvar::wait_timeout`]).
//! - [`thread::spawn`] counts the thread as a live task of the surrounding
//!   [`check`](crate::check); a check fails with "leaked task" when a thread spawned
//!   through the facade is still running when the body returns.
//! - Primitives that live in a `static` go in a [`LazyLock`]: under the model checkers it
//!   computes its value once per execution (their primitives belong to one execution).
//! - [`Instant`] reads the model's time under the model checkers (advanced by
//!   [`thread::sleep`]), real time otherwise.
//! - Under loom, [`Arc`] and the lock guards do not run their destructors while the thread
//!   is unwinding: loom aborts the whole process when a destructor calls back into it during
//!   a panic (a detected deadlock, for one). Leaking them on that path keeps a failing model
//!   a reported failure instead of an abort.
//!
//! # Data races on plain fields
//!
//! Atomics and locks are checked by the backends themselves; the plain fields a program
//! shares go in a [`RaceCell`], and an access not ordered against a conflicting one fails
//! the check with "data race" (loom and shuttle by happens-before, real threads when the
//! accesses overlap in time).
//!
//! # Lock-order checking
//!
//! Inside a check, every blocking [`Mutex::lock`], [`RwLock::read`] and [`RwLock::write`]
//! records which locks the thread already holds. The acquisition fails the check, before
//! the thread blocks, when the thread already holds that lock (kind
//! [`Deadlock`](crate::model::FailureKind::Deadlock)), or when taking it closes a cycle
//! with other threads' lock orders (A then B on one thread, B then A on another; kind
//! [`LockOrder`](crate::model::FailureKind::LockOrder)): the deadlock is reported from any schedule in which both orders
//! occur, not only from the one where the threads collide. Cycles all of whose edges were
//! taken under one common lock, and cycles where two readers would share a lock, cannot
//! deadlock and are not reported. Outside a check nothing is recorded.
//!
//! # Invariants
//!
//! The wrappers add no synchronization of their own: every happens-before edge comes from
//! the backend primitive they wrap, so what the model checker sees is exactly what the
//! production build runs.

#[cfg(all(racekit_loom, racekit_shuttle))]
compile_error!(
    "racekit: `--cfg racekit_loom` and `--cfg racekit_shuttle` select different model \
     checkers; build with one of them (or neither, for real threads), each in its own \
     CARGO_TARGET_DIR"
);

mod arc;
pub mod atomic;
mod backend;
mod barrier;
mod condvar;
mod contention;
pub mod future;
mod instant;
mod latch;
mod lock;
pub(crate) mod lock_order;
pub mod mpsc;
mod once;
pub(crate) mod perturb;
mod race_cell;
pub(crate) mod spin;
pub mod task;
pub mod thread;
mod unwind;

pub use arc::Arc;
pub(crate) use backend::unwinding_from_a_failure;
pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, Deadline};
pub use instant::Instant;
pub use latch::Latch;
pub use lock::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use once::{lazy_static, LazyLock, Once, OnceLock};
pub use race_cell::RaceCell;
pub use unwind::catch_unwind;

/// Hints to the scheduler of the selected backend.
pub mod hint {
    /// Marks one turn of a busy-wait loop: the processor's spin hint on real threads, a
    /// yield under the model checkers (which otherwise report a spin loop as a livelock).
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::sync::{atomic::{AtomicBool, Ordering}, hint};
    ///
    /// let ready = AtomicBool::new(true);
    /// while !ready.load(Ordering::Acquire) {
    ///     hint::spin_loop();
    /// }
    /// ```
    pub fn spin_loop() {
        #[cfg(racekit_loom)]
        loom::hint::spin_loop();
        #[cfg(racekit_shuttle)]
        shuttle::hint::spin_loop();
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        std::hint::spin_loop();
    }
}

/// Async primitives (tokio's `sync` module). Under `--cfg racekit_shuttle` these are
/// shuttle-tokio's modelled versions; under the std and loom builds they are tokio's own
/// (loom cannot run tokio, so async code is model-checked under shuttle only).
pub mod async_sync {
    pub use tokio::sync::*;
}

/// Which backend this build of racekit runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Real threads (the default build).
    Std,
    /// loom, selected by `--cfg racekit_loom`.
    Loom,
    /// shuttle, selected by `--cfg racekit_shuttle`.
    Shuttle,
}

impl Backend {
    /// The backend this crate was compiled for.
    pub const CURRENT: Backend = if cfg!(racekit_loom) {
        Backend::Loom
    } else if cfg!(racekit_shuttle) {
        Backend::Shuttle
    } else {
        Backend::Std
    };

    /// Lower-case name, as used in reports and replay tokens (`std`, `loom`, `shuttle`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Std => "std",
            Backend::Loom => "loom",
            Backend::Shuttle => "shuttle",
        }
    }

    /// The `RUSTFLAGS` value that selects this backend.
    pub fn rustflags(self) -> &'static str {
        match self {
            Backend::Std => "",
            Backend::Loom => "--cfg racekit_loom",
            Backend::Shuttle => "--cfg racekit_shuttle",
        }
    }

    /// Whether this backend is a model checker (loom or shuttle) rather than real threads.
    pub fn is_model_checker(self) -> bool {
        self != Backend::Std
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
