//! One-time initialization: [`OnceLock`], [`Once`] and [`LazyLock`], with `std`'s
//! semantics on every backend.
//!
//! The value lives in a `std::sync::OnceLock` (storage only, never waited on); whether it
//! is there, and the happens-before edge from its writer to its readers, come from a facade
//! atomic flag and a facade mutex, so the model checkers see (and schedule around) every
//! step of an initialization race.
//!
//! # Invariants
//!
//! - `ready` is set (`Release`) only after the value is stored, and a reader that sees it
//!   (`Acquire`) finds the value: the value is never read through `ready == false`.
//! - Initializers run under `initializing`, one at a time; one whose initializer panics
//!   leaves the cell empty for the next caller, as `std` does.
//!
//! Lock order: `initializing` is the only lock; an initializer that re-enters its own cell
//! re-takes it and is reported as a deadlock inside a check (`std` deadlocks or panics).

use super::atomic::{AtomicBool, Ordering};
use super::Mutex;
use std::fmt;

/// A cell written at most once, as `std::sync::OnceLock`.
///
/// Not a `const fn` to create (the facade's primitives are created inside a model
/// execution): for a `static`, use [`LazyLock`], which the model checkers re-create for
/// every execution.
///
/// # Examples
///
/// ```
/// use racekit::sync::OnceLock;
///
/// let config = OnceLock::new();
/// assert_eq!(config.get(), None);
/// assert_eq!(*config.get_or_init(|| 7), 7);
/// assert_eq!(config.set(8), Err(8), "already set");
/// ```
pub struct OnceLock<T> {
    value: std::sync::OnceLock<T>,
    ready: AtomicBool,
    initializing: Mutex<()>,
}

impl<T> OnceLock<T> {
    /// An empty cell.
    pub fn new() -> OnceLock<T> {
        OnceLock { value: std::sync::OnceLock::new(), ready: AtomicBool::new(false), initializing: Mutex::new(()) }
    }

    /// The value, if the cell has been written.
    pub fn get(&self) -> Option<&T> {
        // Acquire: pairs with the Release in `fill`; without it a reader could see the
        // flag and not the value's contents.
        if self.ready.load(Ordering::Acquire) {
            self.value.get()
        } else {
            None
        }
    }

    /// Writes `value` if the cell is empty; otherwise returns it in `Err`. Blocks while
    /// another thread initializes the cell.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("taken only here"));
        value.map_or(Ok(()), Err)
    }

    /// The value, running `init` first if the cell is empty. Other threads calling it
    /// meanwhile wait for this initialization; if `init` panics the cell stays empty.
    pub fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        let _initializing = self.initializing.lock();
        if self.value.get().is_none() {
            let _ = self.value.set(init());
            // Release: publishes the value to `get`'s Acquire load.
            self.ready.store(true, Ordering::Release);
        }
        self.value.get().expect("stored above, or by the initializer that held the lock before")
    }

    /// Consumes the cell and returns its value, if it was written.
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> Self {
        OnceLock::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OnceLock").field(&self.value.get()).finish()
    }
}

/// Runs an initialization exactly once, as `std::sync::Once` (without poisoning: a panicking
/// closure leaves it not completed, and the next call runs its own).
///
/// # Examples
///
/// ```
/// use racekit::sync::Once;
///
/// let once = Once::new();
/// let mut runs = 0;
/// once.call_once(|| runs += 1);
/// once.call_once(|| runs += 1);
/// assert!(once.is_completed());
/// assert_eq!(runs, 1);
/// ```
#[derive(Debug, Default)]
pub struct Once {
    done: OnceLock<()>,
}

impl Once {
    /// A `Once` that has not run.
    pub fn new() -> Once {
        Once::default()
    }

    /// Runs `init` if no call has completed yet; returns once some call has.
    pub fn call_once(&self, init: impl FnOnce()) {
        self.done.get_or_init(init);
    }

    /// Whether a call has completed.
    pub fn is_completed(&self) -> bool {
        self.done.get().is_some()
    }
}

/// A value computed on first access, as `std::sync::LazyLock`; the facade's way to put a
/// primitive in a `static`.
///
/// On real threads it is `std`'s `LazyLock`. Under loom and shuttle a model object belongs
/// to one execution: a `static` holding one directly would carry it into the next
/// execution (under loom that fails with "index out of bounds: the len is 1 but the index
/// is 1"). This `LazyLock` therefore computes its value once *per execution*, through the
/// backend's own lazy static (the one its `lazy_static!` declares), which drops the value
/// when the execution ends (so a facade [`Arc`](crate::sync::Arc) in it is not reported as
/// leaked). Two differences from `std` follow:
///
/// - the initializer is a function pointer (`fn() -> T`; a closure that captures nothing
///   coerces to one), since the model checkers call it again in every execution;
/// - racing first accesses behave as the backend's lazy statics do: under shuttle one
///   thread runs the initializer while the others wait, as with `std`; under loom two
///   threads that race to it may both run it (one result is kept), so under loom an
///   initializer must not have side effects beyond building the value.
///
/// # Examples
///
/// ```
/// use racekit::sync::{LazyLock, Mutex};
///
/// static REGISTRY: LazyLock<Mutex<Vec<u32>>> = LazyLock::new(|| Mutex::new(Vec::new()));
///
/// REGISTRY.lock().push(7);
/// assert_eq!(*REGISTRY.lock(), [7]);
/// ```
pub struct LazyLock<T: Sync + 'static> {
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    inner: std::sync::LazyLock<T, fn() -> T>,
    #[cfg(any(racekit_loom, racekit_shuttle))]
    init: fn() -> T,
    /// The backend's lazy static for this value, made on first access and kept for the
    /// process (one small allocation per `LazyLock`): its values live in each execution.
    #[cfg(any(racekit_loom, racekit_shuttle))]
    per_execution: std::sync::OnceLock<&'static BackendLazy<T>>,
}

#[cfg(racekit_loom)]
type BackendLazy<T> = loom::lazy_static::Lazy<T>;
#[cfg(racekit_shuttle)]
type BackendLazy<T> = shuttle::lazy_static::Lazy<T>;

impl<T: Sync + 'static> LazyLock<T> {
    /// A value that `init` computes on first access.
    pub const fn new(init: fn() -> T) -> LazyLock<T> {
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        return LazyLock { inner: std::sync::LazyLock::new(init) };
        #[cfg(any(racekit_loom, racekit_shuttle))]
        return LazyLock { init, per_execution: std::sync::OnceLock::new() };
    }

    /// The value, computing it first if needed.
    pub fn force(this: &LazyLock<T>) -> &T {
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        return std::sync::LazyLock::force(&this.inner);
        #[cfg(any(racekit_loom, racekit_shuttle))]
        return this.per_execution.get_or_init(|| Box::leak(Box::new(this.backend_lazy()))).get();
    }

    #[cfg(racekit_loom)]
    fn backend_lazy(&self) -> BackendLazy<T> {
        loom::lazy_static::Lazy { init: self.init, _p: std::marker::PhantomData }
    }

    #[cfg(racekit_shuttle)]
    fn backend_lazy(&self) -> BackendLazy<T> {
        shuttle::lazy_static::Lazy::new(self.init)
    }
}

impl<T: Sync + 'static> std::ops::Deref for LazyLock<T> {
    type Target = T;
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T: Sync + 'static> fmt::Debug for LazyLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyLock").finish_non_exhaustive()
    }
}

/// Declares statics computed on first access, in the syntax of the `lazy_static` crate:
/// loom's own `lazy_static!` under `--cfg racekit_loom`, shuttle's under
/// `--cfg racekit_shuttle`, and a `std::sync::LazyLock` on real threads. Under the model
/// checkers the value belongs to one execution, and is dropped when it ends (so a facade
/// [`Arc`](crate::sync::Arc) in it is not reported as leaked, as it is in a
/// [`LazyLock`]); racing initializers behave as the backend's own.
///
/// For tests ported from loom or shuttle that declare `lazy_static!`; new code can use
/// [`LazyLock`] instead.
///
/// # Examples
///
/// ```
/// use racekit::sync::{lazy_static, Arc, Mutex};
///
/// lazy_static! {
///     static ref REGISTRY: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(Vec::new()));
/// }
///
/// REGISTRY.lock().push(7);
/// assert_eq!(*REGISTRY.lock(), [7]);
/// ```
#[cfg(not(any(racekit_loom, racekit_shuttle)))]
pub use crate::__racekit_lazy_static as lazy_static;
#[cfg(racekit_loom)]
pub use loom::lazy_static;
#[cfg(racekit_shuttle)]
pub use shuttle::lazy_static;

/// `lazy_static!` on real threads (see [`lazy_static`]).
#[doc(hidden)]
#[macro_export]
#[cfg(not(any(racekit_loom, racekit_shuttle)))]
macro_rules! __racekit_lazy_static {
    ($(#[$attr:meta])* static ref $name:ident : $ty:ty = $init:expr; $($rest:tt)*) => {
        $crate::__racekit_lazy_static!(@one $(#[$attr])* () $name, $ty, $init);
        $crate::__racekit_lazy_static!($($rest)*);
    };
    ($(#[$attr:meta])* pub static ref $name:ident : $ty:ty = $init:expr; $($rest:tt)*) => {
        $crate::__racekit_lazy_static!(@one $(#[$attr])* (pub) $name, $ty, $init);
        $crate::__racekit_lazy_static!($($rest)*);
    };
    ($(#[$attr:meta])* pub ($($vis:tt)+) static ref $name:ident : $ty:ty = $init:expr; $($rest:tt)*) => {
        $crate::__racekit_lazy_static!(@one $(#[$attr])* (pub ($($vis)+)) $name, $ty, $init);
        $crate::__racekit_lazy_static!($($rest)*);
    };
    (@one $(#[$attr:meta])* ($($vis:tt)*) $name:ident, $ty:ty, $init:expr) => {
        #[allow(non_camel_case_types, dead_code)]
        $(#[$attr])*
        $($vis)* struct $name {
            __private: (),
        }
        #[doc(hidden)]
        $($vis)* static $name: $name = $name { __private: () };
        impl ::std::ops::Deref for $name {
            type Target = $ty;
            fn deref(&self) -> &$ty {
                static VALUE: ::std::sync::LazyLock<$ty> = ::std::sync::LazyLock::new(|| $init);
                &VALUE
            }
        }
    };
    () => {};
}

#[cfg(any(racekit_loom, racekit_shuttle))]
pub(super) use per_execution::current_execution;

/// The number of the running model execution.
#[cfg(any(racekit_loom, racekit_shuttle))]
mod per_execution {
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Numbers executions as they first touch a lazy value (harness bookkeeping: a std
    /// atomic, not a model operation).
    static NEXT_EXECUTION: AtomicU64 = AtomicU64::new(0);

    fn next_execution() -> u64 {
        NEXT_EXECUTION.fetch_add(1, Ordering::Relaxed)
    }

    // The backend's own lazy static, which it resets between executions: the number it
    // holds identifies the running execution.
    #[cfg(racekit_loom)]
    loom::lazy_static! {
        static ref EXECUTION: u64 = next_execution();
    }
    #[cfg(racekit_shuttle)]
    shuttle::lazy_static! {
        static ref EXECUTION: u64 = next_execution();
    }

    /// Identifies the running model execution (distinct for every execution that asks).
    pub(in crate::sync) fn current_execution() -> u64 {
        *EXECUTION
    }
}
