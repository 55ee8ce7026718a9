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

/// Holds a backend object whose destructor must not run while its thread unwinds under
/// loom: loom calls back into its runtime from those destructors, and a panic there while
/// a detected failure is already unwinding aborts the process. Leaking the object on that
/// path is harmless because the execution has already failed. Other backends drop normally.
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
        if std::thread::panicking() {
            std::mem::forget(self.inner.take());
        }
    }
}
