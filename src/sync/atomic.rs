//! Atomic integer, boolean and pointer types with `std`'s method names and signatures,
//! over the selected backend, and `fence`.
//!
//! Every load, store and read-modify-write passes one hook, `before_access`, before it
//! reaches the backend atomic. On real threads inside a [`check`](crate::check) the hook is
//! a seeded perturbation point (it may yield, spin or linger, as the facade's locks do), so
//! that a check-then-act over two atomic operations, a counter that underflows between a
//! load and a store, or a "who frees it" decided by a swap shows up in a few hundred runs
//! instead of never. Outside a check the hook costs one relaxed load of a global flag.
//! Under loom and shuttle the checker already schedules around every atomic access, so the
//! wrappers pass straight through.
//!
//! Under shuttle every ordering behaves as `SeqCst`; under loom `SeqCst` loads and stores
//! are treated as `AcqRel` (see the crate documentation for what each backend cannot see).
//!
//! # Differences from `std`
//!
//! - `new` is not a `const fn`: loom's atomics are created inside an execution and cannot
//!   be. An atomic in a `static` goes in a [`LazyLock`](super::LazyLock), which the model
//!   checkers re-create for every execution.
//! - `get_mut` exists on real threads and under shuttle; loom's atomics have no `&mut`
//!   access to their value, so under loom read it with `load` (or `into_inner`).
//! - `as_ptr`, `from_ptr` and the other raw-pointer conversions are `unsafe` to use and are
//!   not offered (racekit forbids `unsafe`).
//!
//! # Invariants
//!
//! The wrappers add no synchronization: the ordering passed is the ordering the backend
//! atomic runs, and the hook runs before the access (perturbing never reorders it).

use super::backend::atomic as backend;
use super::perturb;
use std::fmt;
use std::panic::Location;

pub use backend::{fence, Ordering};

/// What an atomic access does to its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// `load`.
    Load,
    /// `store`.
    Store,
    /// `swap`, `compare_exchange`, `fetch_*`, `fetch_update`: read and write as one step.
    ReadModifyWrite,
}

/// Runs before every atomic access of the facade: the single place where a check observes
/// atomics (the perturbation point on real threads; the natural place to record the access
/// in an interleaving trace). `object` is the address of the atomic, `at` the caller.
#[inline(always)]
pub(crate) fn before_access(access: Access, object: usize, at: &'static Location<'static>) {
    let _ = (access, object, at);
    perturb::atomic_access();
}

/// The address of `atomic`, as the identity [`before_access`] reports.
#[inline(always)]
fn address<T>(atomic: &T) -> usize {
    std::ptr::from_ref(atomic).addr()
}

/// One atomic type: the methods every atomic shares (construction, `load`, `store`, `swap`,
/// the compare-exchanges, `fetch_update`), its `fetch_<op>` methods, and the std traits.
macro_rules! atomic_type {
    (
        $(#[$doc:meta])*
        $name:ident $(<$param:ident>)?, $value:ty, default: $default:expr, ops: { $($ops:tt)* }
    ) => {
        $(#[$doc])*
        pub struct $name $(<$param>)? {
            inner: backend::$name $(<$param>)?,
        }

        impl $(<$param>)? $name $(<$param>)? {
            #[doc = concat!("A new `", stringify!($name), "` holding `value`.")]
            #[inline]
            #[track_caller]
            pub fn new(value: $value) -> Self {
                Self { inner: backend::$name::new(value) }
            }

            /// Consumes the atomic and returns its value.
            #[inline]
            #[track_caller]
            pub fn into_inner(self) -> $value {
                self.inner.into_inner()
            }

            /// Mutable access to the value (the borrow proves no other thread can see it).
            /// Not available under loom, whose atomics have no such access.
            #[cfg(not(racekit_loom))]
            pub fn get_mut(&mut self) -> &mut $value {
                self.inner.get_mut()
            }

            /// Loads the value.
            #[inline]
            #[track_caller]
            pub fn load(&self, order: Ordering) -> $value {
                before_access(Access::Load, address(self), Location::caller());
                self.inner.load(order)
            }

            /// Stores `value`.
            #[inline]
            #[track_caller]
            pub fn store(&self, value: $value, order: Ordering) {
                before_access(Access::Store, address(self), Location::caller());
                self.inner.store(value, order)
            }

            /// Stores `value` and returns the previous value.
            #[inline]
            #[track_caller]
            pub fn swap(&self, value: $value, order: Ordering) -> $value {
                before_access(Access::ReadModifyWrite, address(self), Location::caller());
                self.inner.swap(value, order)
            }

            compare_exchange! {
                $value;
                compare_exchange: "Stores `new` if the value is `current`; returns the previous value, `Ok` when it was stored.",
                compare_exchange_weak: "As [`compare_exchange`](Self::compare_exchange), but may fail spuriously (for use in a loop).",
            }

            /// Applies `update` until it stores (or `update` returns `None`); returns the
            /// previous value, `Ok` when a new one was stored. One access for the hook, as
            /// for the backend: the retries happen inside it.
            #[inline]
            #[track_caller]
            pub fn fetch_update<F>(
                &self,
                set_order: Ordering,
                fetch_order: Ordering,
                update: F,
            ) -> Result<$value, $value>
            where
                F: FnMut($value) -> Option<$value>,
            {
                before_access(Access::ReadModifyWrite, address(self), Location::caller());
                self.inner.fetch_update(set_order, fetch_order, update)
            }

            read_modify_write!($value; $($ops)*);
        }

        impl $(<$param>)? Default for $name $(<$param>)? {
            fn default() -> Self {
                Self::new($default)
            }
        }

        impl $(<$param>)? From<$value> for $name $(<$param>)? {
            fn from(value: $value) -> Self {
                Self::new(value)
            }
        }

        impl $(<$param>)? fmt::Debug for $name $(<$param>)? {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // As std's: a relaxed load, not an access a check perturbs.
                fmt::Debug::fmt(&self.inner.load(Ordering::Relaxed), f)
            }
        }
    };
}

/// The compare-exchanges of a type, each one access.
macro_rules! compare_exchange {
    ($value:ty; $($op:ident: $doc:literal),* $(,)?) => {
        $(
            #[doc = $doc]
            #[inline]
            #[track_caller]
            pub fn $op(&self, current: $value, new: $value, success: Ordering, failure: Ordering) -> Result<$value, $value> {
                before_access(Access::ReadModifyWrite, address(self), Location::caller());
                self.inner.$op(current, new, success, failure)
            }
        )*
    };
}

/// The `fetch_<op>(value, order)` read-modify-writes of a type, each one access.
macro_rules! read_modify_write {
    ($value:ty; $($op:ident: $doc:literal),* $(,)?) => {
        $(
            #[doc = $doc]
            #[inline]
            #[track_caller]
            pub fn $op(&self, value: $value, order: Ordering) -> $value {
                before_access(Access::ReadModifyWrite, address(self), Location::caller());
                self.inner.$op(value, order)
            }
        )*
    };
}

/// An integer atomic: the shared methods and the arithmetic and bitwise read-modify-writes.
macro_rules! atomic_int {
    ($($name:ident: $int:ty),* $(,)?) => {
        $(
            atomic_type! {
                #[doc = concat!("An atomic `", stringify!($int), "` (see [`std::sync::atomic::", stringify!($name), "`]).")]
                ///
                /// Inside a check on real threads every access is a perturbation point (see the
                /// [module documentation](self)).
                $name, $int, default: 0, ops: {
                    fetch_add: "Adds `value` (wrapping on overflow); returns the previous value.",
                    fetch_sub: "Subtracts `value` (wrapping on overflow); returns the previous value.",
                    fetch_and: "Bitwise and with `value`; returns the previous value.",
                    fetch_nand: "Bitwise nand with `value`; returns the previous value.",
                    fetch_or: "Bitwise or with `value`; returns the previous value.",
                    fetch_xor: "Bitwise xor with `value`; returns the previous value.",
                    fetch_max: "Stores the maximum of the value and `value`; returns the previous value.",
                    fetch_min: "Stores the minimum of the value and `value`; returns the previous value.",
                }
            }
        )*
    };
}

atomic_int! {
    AtomicU8: u8, AtomicU16: u16, AtomicU32: u32, AtomicU64: u64, AtomicUsize: usize,
    AtomicI8: i8, AtomicI16: i16, AtomicI32: i32, AtomicI64: i64, AtomicIsize: isize,
}

atomic_type! {
    /// An atomic `bool` (see [`std::sync::atomic::AtomicBool`]).
    ///
    /// Inside a check on real threads every access is a perturbation point (see the
    /// [module documentation](self)).
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::sync::atomic::{AtomicBool, Ordering};
    ///
    /// let claimed = AtomicBool::new(false);
    /// assert!(!claimed.swap(true, Ordering::AcqRel), "the first swap claims it");
    /// assert!(claimed.swap(true, Ordering::AcqRel), "the second finds it claimed");
    /// ```
    AtomicBool, bool, default: false, ops: {
        fetch_and: "Logical and with `value`; returns the previous value.",
        fetch_nand: "Logical nand with `value`; returns the previous value.",
        fetch_or: "Logical or with `value`; returns the previous value.",
        fetch_xor: "Logical xor with `value`; returns the previous value.",
    }
}

atomic_type! {
    /// An atomic raw pointer (see [`std::sync::atomic::AtomicPtr`]). Storing and loading
    /// pointers is safe; dereferencing one is not, and racekit forbids `unsafe`: use it for
    /// identities and hand-offs the surrounding code checks by comparison.
    ///
    /// Inside a check on real threads every access is a perturbation point (see the
    /// [module documentation](self)).
    AtomicPtr<T>, *mut T, default: std::ptr::null_mut(), ops: {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_operations_follow_std() {
        let counter = AtomicUsize::new(5);
        assert_eq!(counter.fetch_sub(2, Ordering::SeqCst), 5);
        assert_eq!(counter.fetch_max(9, Ordering::SeqCst), 3);
        assert_eq!(counter.compare_exchange(9, 1, Ordering::SeqCst, Ordering::SeqCst), Ok(9));
        assert_eq!(counter.compare_exchange(9, 2, Ordering::SeqCst, Ordering::SeqCst), Err(1));
        assert_eq!(counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(2)), Err(1));
        assert_eq!(format!("{counter:?}"), "1");
        assert_eq!(counter.into_inner(), 1);
    }

    #[test]
    fn pointers_compare_by_address() {
        let mut slot = 7u32;
        let target: *mut u32 = &mut slot;
        let pointer = AtomicPtr::default();
        assert!(pointer.swap(target, Ordering::AcqRel).is_null());
        assert_eq!(pointer.load(Ordering::Acquire), target);
    }
}
