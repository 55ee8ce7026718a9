//! Reference counting. Under std this is `std::sync::Arc` itself. Under loom it is loom's
//! `Arc`, which checks for leaks at the end of every execution, wrapped so that it is
//! leaked rather than dropped while unwinding (see the module documentation of
//! [`sync`](super)). Under shuttle it is std's `Arc` (shuttle has no `Arc` of its own)
//! wrapped so that its reference-count operations (clone, `strong_count`, `try_unwrap`,
//! `get_mut`) are scheduling points, as the atomic operations they are: a "last owner"
//! decided from a count another thread is about to change is then a race shuttle can
//! find. A drop is not one: a thread's final drops stay part of its last step, as they
//! were, so a thread that signalled its end is not reported as still running.
//!
//! Under loom and shuttle the facade's `Arc` is a wrapper and cannot coerce to a trait
//! object; to share `dyn` values portably, put the `Box<dyn Trait>` inside a sized struct
//! and share that. (Code that only runs under shuttle and std may also keep
//! `std::sync::Arc<dyn Trait>`: shuttle then misses only its count operations.)

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
pub use std::sync::Arc;

#[cfg(any(racekit_loom, racekit_shuttle))]
pub use self::modelled::Arc;

#[cfg(any(racekit_loom, racekit_shuttle))]
mod modelled {
    use super::super::backend::LeakOnUnwind;
    use std::fmt;
    use std::ops::Deref;

    #[cfg(racekit_loom)]
    use loom::sync::Arc as Inner;
    #[cfg(racekit_shuttle)]
    use std::sync::Arc as Inner;

    /// A reference-count operation: under shuttle a scheduling point
    /// (skipped while the thread unwinds or shuttle tears the execution down, when
    /// switching is not allowed); loom's `Arc` instruments itself.
    #[inline]
    fn count_operation() {
        #[cfg(racekit_shuttle)]
        if !std::thread::panicking()
            && shuttle::current::try_get_current_task().is_some()
            && !shuttle_engine::runtime::execution::ExecutionState::unwinding_for_teardown()
        {
            shuttle_engine::runtime::thread::continuation::switch();
        }
    }

    /// The backend's `Arc`, leaked instead of dropped while its thread unwinds under loom,
    /// with its count operations visible to shuttle's scheduler.
    pub struct Arc<T: ?Sized>(LeakOnUnwind<Inner<T>>);

    impl<T: ?Sized> Arc<T> {
        fn wrap(inner: Inner<T>) -> Arc<T> {
            Arc(LeakOnUnwind::new(inner))
        }
    }

    impl<T> Arc<T> {
        /// Shares `value`.
        pub fn new(value: T) -> Arc<T> {
            Arc::wrap(Inner::new(value))
        }

        /// The value, if this is the only strong reference.
        pub fn try_unwrap(this: Arc<T>) -> Result<T, Arc<T>> {
            count_operation();
            Inner::try_unwrap(this.0.into_inner()).map_err(Arc::wrap)
        }
    }

    impl<T: ?Sized> Arc<T> {
        /// Whether both point at the same allocation.
        pub fn ptr_eq(this: &Self, other: &Self) -> bool {
            Inner::ptr_eq(this.0.get(), other.0.get())
        }

        /// Number of strong references. Under shuttle the scheduling point comes *after*
        /// the read: what a caller decides from the count is what races.
        pub fn strong_count(this: &Self) -> usize {
            let count = Inner::strong_count(this.0.get());
            count_operation();
            count
        }

        /// Mutable access when this is the only reference.
        pub fn get_mut(this: &mut Self) -> Option<&mut T> {
            count_operation();
            Inner::get_mut(this.0.get_mut())
        }
    }

    impl<T: ?Sized> Clone for Arc<T> {
        fn clone(&self) -> Self {
            count_operation();
            Arc::wrap(self.0.get().clone())
        }
    }

    impl<T: ?Sized> Deref for Arc<T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.get()
        }
    }

    impl<T: ?Sized> AsRef<T> for Arc<T> {
        fn as_ref(&self) -> &T {
            self.0.get()
        }
    }

    impl<T: Default> Default for Arc<T> {
        fn default() -> Self {
            Arc::new(T::default())
        }
    }

    impl<T> From<T> for Arc<T> {
        fn from(value: T) -> Self {
            Arc::new(value)
        }
    }

    impl<T: ?Sized + fmt::Debug> fmt::Debug for Arc<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(&**self, f)
        }
    }
}
