//! Reference counting. Under std and shuttle this is `std::sync::Arc` itself (shuttle's
//! `Arc` is std's). Under loom it is loom's `Arc`, which checks for leaks at the end of
//! every execution, wrapped so that it is leaked rather than dropped while unwinding (see
//! the module documentation of [`sync`](super)).
//!
//! Loom's `Arc` cannot coerce to a trait object; to share `dyn` values portably, put the
//! `Box<dyn Trait>` inside a sized struct and share that.

#[cfg(not(racekit_loom))]
pub use std::sync::Arc;

#[cfg(racekit_loom)]
pub use self::loom_arc::Arc;

#[cfg(racekit_loom)]
mod loom_arc {
    use super::super::backend::LeakOnUnwind;
    use std::fmt;
    use std::ops::Deref;

    /// loom's `Arc`, leaked instead of dropped while its thread unwinds.
    pub struct Arc<T: ?Sized>(LeakOnUnwind<loom::sync::Arc<T>>);

    impl<T> Arc<T> {
        /// Shares `value`.
        pub fn new(value: T) -> Arc<T> {
            Arc(LeakOnUnwind::new(loom::sync::Arc::new(value)))
        }

        /// The value, if this is the only strong reference.
        pub fn try_unwrap(this: Arc<T>) -> Result<T, Arc<T>> {
            loom::sync::Arc::try_unwrap(this.0.into_inner())
                .map_err(|arc| Arc(LeakOnUnwind::new(arc)))
        }
    }

    impl<T: ?Sized> Arc<T> {
        /// Whether both point at the same allocation.
        pub fn ptr_eq(this: &Self, other: &Self) -> bool {
            loom::sync::Arc::ptr_eq(this.0.get(), other.0.get())
        }

        /// Number of strong references.
        pub fn strong_count(this: &Self) -> usize {
            loom::sync::Arc::strong_count(this.0.get())
        }

        /// Mutable access when this is the only reference.
        pub fn get_mut(this: &mut Self) -> Option<&mut T> {
            loom::sync::Arc::get_mut(this.0.get_mut())
        }
    }

    impl<T: ?Sized> Clone for Arc<T> {
        fn clone(&self) -> Self {
            Arc(LeakOnUnwind::new(self.0.get().clone()))
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
