//! The one place that names the backend crates. Everything else in the facade imports from
//! here, so switching backends is a cfg flag, never an edit.

#[cfg(racekit_loom)]
pub(crate) use loom::{
    sync::{atomic, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard},
    thread,
};

#[cfg(racekit_shuttle)]
pub(crate) use shuttle::{
    sync::{atomic, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard},
    thread,
};

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
pub(crate) use std::{
    sync::{atomic, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard},
    thread,
};

/// Whether this thread unwinds, under loom, from a failure that ends the execution (loom's
/// own, or one of racekit's detectors'): then no destructor may call back into loom, which
/// would abort the process on a second panic; the execution has failed already, so what
/// such a destructor would have done does not matter. A panic of the program's own (which
/// it may catch and carry on from) is not one: objects dropped while it unwinds release
/// their locks and counts as on every backend. Always `false` on the other backends.
#[inline]
pub(crate) fn unwinding_from_a_failure() -> bool {
    cfg!(racekit_loom) && crate::model::detect::unwinding_from_a_failure()
}

/// Holds a backend object whose destructor must not run while its thread unwinds from a
/// failure under loom (see [`unwinding_from_a_failure`]). Other backends drop normally.
#[derive(Debug)]
pub(crate) struct LeakOnUnwind<T> {
    #[cfg(racekit_loom)]
    inner: Option<T>,
    #[cfg(not(racekit_loom))]
    inner: T,
}

impl<T> LeakOnUnwind<T> {
    #[inline]
    pub(crate) fn new(value: T) -> Self {
        #[cfg(racekit_loom)]
        return LeakOnUnwind { inner: Some(value) };
        #[cfg(not(racekit_loom))]
        return LeakOnUnwind { inner: value };
    }

    #[inline]
    pub(crate) fn get(&self) -> &T {
        #[cfg(racekit_loom)]
        return self.inner.as_ref().expect("present until dropped");
        #[cfg(not(racekit_loom))]
        return &self.inner;
    }

    #[inline]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        #[cfg(racekit_loom)]
        return self.inner.as_mut().expect("present until dropped");
        #[cfg(not(racekit_loom))]
        return &mut self.inner;
    }

    #[inline]
    #[cfg(racekit_loom)]
    pub(crate) fn into_inner(mut self) -> T {
        self.inner.take().expect("present until dropped")
    }

    #[inline]
    #[cfg(not(racekit_loom))]
    pub(crate) fn into_inner(self) -> T {
        self.inner
    }
}

#[cfg(racekit_loom)]
impl<T> Drop for LeakOnUnwind<T> {
    fn drop(&mut self) {
        if unwinding_from_a_failure() {
            std::mem::forget(self.inner.take());
        }
    }
}
