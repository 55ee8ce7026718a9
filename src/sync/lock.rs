//! `Mutex` and `RwLock` without poisoning, over the selected backend.

use super::backend::{self, LeakOnUnwind};
use super::perturb;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;

/// A mutual-exclusion lock over the selected backend.
///
/// Unlike `std::sync::Mutex`, [`lock`](Mutex::lock) returns the guard directly: a panic
/// while the lock is held does not poison it.
///
/// # Examples
///
/// ```
/// use racekit::sync::Mutex;
///
/// let counter = Mutex::new(0);
/// *counter.lock() += 1;
/// assert_eq!(*counter.lock(), 1);
/// ```
#[derive(Default)]
pub struct Mutex<T: ?Sized> {
    inner: backend::Mutex<T>,
}

/// The guard of a [`Mutex`]; the lock is released when it is dropped.
pub struct MutexGuard<'a, T: ?Sized> {
    pub(super) inner: LeakOnUnwind<backend::MutexGuard<'a, T>>,
    pub(super) lock: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Mutex { inner: backend::Mutex::new(value) }
    }

    /// Consumes the mutex and returns its value.
    pub fn into_inner(self) -> T {
        self.inner.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Blocks until the lock is acquired.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        perturb::point();
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        MutexGuard { inner: LeakOnUnwind::new(guard), lock: self }
    }

    /// Acquires the lock if it is free, without blocking.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        perturb::point();
        let guard = match self.inner.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(MutexGuard { inner: LeakOnUnwind::new(guard), lock: self })
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.inner.get()
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A reader-writer lock over the selected backend, without poisoning.
///
/// # Examples
///
/// ```
/// use racekit::sync::RwLock;
///
/// let config = RwLock::new(vec![1, 2]);
/// assert_eq!(config.read().len(), 2);
/// config.write().push(3);
/// assert_eq!(*config.read(), [1, 2, 3]);
/// ```
#[derive(Default)]
pub struct RwLock<T: ?Sized> {
    inner: backend::RwLock<T>,
}

/// Shared access to the value of an [`RwLock`].
pub struct RwLockReadGuard<'a, T: ?Sized>(LeakOnUnwind<backend::RwLockReadGuard<'a, T>>);

/// Exclusive access to the value of an [`RwLock`].
pub struct RwLockWriteGuard<'a, T: ?Sized>(LeakOnUnwind<backend::RwLockWriteGuard<'a, T>>);

impl<T> RwLock<T> {
    /// A new unlocked lock holding `value`.
    pub fn new(value: T) -> Self {
        RwLock { inner: backend::RwLock::new(value) }
    }

    /// Consumes the lock and returns its value.
    pub fn into_inner(self) -> T {
        self.inner.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Blocks until shared access is granted.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        perturb::point();
        RwLockReadGuard(LeakOnUnwind::new(
            self.inner.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }

    /// Blocks until exclusive access is granted.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        perturb::point();
        RwLockWriteGuard(LeakOnUnwind::new(
            self.inner.write().unwrap_or_else(PoisonError::into_inner),
        ))
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.get()
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.get()
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }
}
