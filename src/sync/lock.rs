//! `Mutex` and `RwLock` without poisoning, over the selected backend.

use super::backend::{self, LeakOnUnwind};
use super::contention::{Contention, ReleasePoint};
use super::lock_order::{new_lock_id, HeldLock, LockId, Mode};
use super::perturb;
use crate::model::trace::{self, ObjectKind};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::PoisonError;

/// A mutual-exclusion lock over the selected backend.
///
/// Unlike `std::sync::Mutex`, [`lock`](Mutex::lock) returns the guard directly: a panic
/// while the lock is held does not poison it. Inside a check, taking it again on the thread
/// that holds it, or taking locks in an order that can deadlock with another thread, fails
/// the check before the thread blocks (see [lock-order checking](crate::sync#lock-order-checking)).
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
pub struct Mutex<T: ?Sized> {
    id: LockId,
    contention: Contention,
    inner: backend::Mutex<T>,
}

/// The guard of a [`Mutex`]; the lock is released when it is dropped.
pub struct MutexGuard<'a, T: ?Sized> {
    // Dropped first: the release is recorded (lock order, trace) before the backend lock is
    // released, which under the model checkers can switch threads.
    _held: HeldLock,
    /// Before `inner`: drops while the lock is still held.
    _release: ReleasePoint<'a>,
    inner: LeakOnUnwind<backend::MutexGuard<'a, T>>,
    lock: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Mutex { id: new_lock_id(), contention: Contention::new(), inner: backend::Mutex::new(value) }
    }

    /// Consumes the mutex and returns its value.
    pub fn into_inner(self) -> T {
        self.inner.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Blocks until the lock is acquired.
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        perturb::point();
        let held = HeldLock::acquire(self.id, Mode::Exclusive, Location::caller());
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        trace::record("lock", Some((ObjectKind::Lock, self.id)), Location::caller());
        MutexGuard {
            _release: self.contention.release_point(),
            inner: LeakOnUnwind::new(guard),
            lock: self,
            _held: held,
        }
    }

    /// Acquires the lock if it is free, without blocking.
    #[track_caller]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let (guard, held) =
            try_acquire(&self.contention, || self.inner.try_lock(), self.id, Mode::Exclusive, Location::caller())?;
        Some(MutexGuard { _release: self.contention.release_point(), inner: guard, lock: self, _held: held })
    }

    /// Always `false`: the facade's locks are not poisoned by a panic (see [`lock`](Self::lock)).
    pub fn is_poisoned(&self) -> bool {
        false
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// For a condition-variable wait: the backend guard to wait with and the lock it
    /// belongs to. The lock no longer counts as held by this thread.
    pub(super) fn into_wait(self) -> (backend::MutexGuard<'a, T>, &'a Mutex<T>) {
        (self.inner.into_inner(), self.lock)
    }

    /// After a condition-variable wait re-acquired the lock: a blocking acquisition.
    pub(super) fn after_wait(
        inner: backend::MutexGuard<'a, T>,
        lock: &'a Mutex<T>,
        at: &'static Location<'static>,
    ) -> Self {
        let held = HeldLock::acquire(lock.id, Mode::Exclusive, at);
        trace::record("lock (woken)", Some((ObjectKind::Lock, lock.id)), at);
        MutexGuard { _release: lock.contention.release_point(), inner: LeakOnUnwind::new(inner), lock, _held: held }
    }

    /// The lock this guard holds.
    #[cfg(any(racekit_loom, racekit_shuttle))]
    pub(super) fn mutex(&self) -> &'a Mutex<T> {
        self.lock
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
pub struct RwLock<T: ?Sized> {
    id: LockId,
    contention: Contention,
    inner: backend::RwLock<T>,
}

/// Shared access to the value of an [`RwLock`].
pub struct RwLockReadGuard<'a, T: ?Sized> {
    // Dropped first, as in `MutexGuard`.
    _held: HeldLock,
    /// Before `inner`: drops while the lock is still held.
    _release: ReleasePoint<'a>,
    inner: LeakOnUnwind<backend::RwLockReadGuard<'a, T>>,
}

/// Exclusive access to the value of an [`RwLock`].
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    // Dropped first, as in `MutexGuard`.
    _held: HeldLock,
    /// Before `inner`: drops while the lock is still held.
    _release: ReleasePoint<'a>,
    inner: LeakOnUnwind<backend::RwLockWriteGuard<'a, T>>,
}

impl<T> RwLock<T> {
    /// A new unlocked lock holding `value`.
    pub fn new(value: T) -> Self {
        RwLock { id: new_lock_id(), contention: Contention::new(), inner: backend::RwLock::new(value) }
    }

    /// Consumes the lock and returns its value.
    pub fn into_inner(self) -> T {
        self.inner.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Blocks until shared access is granted.
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        perturb::point();
        let held = HeldLock::acquire(self.id, Mode::Shared, Location::caller());
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        trace::record("read lock", Some((ObjectKind::Lock, self.id)), Location::caller());
        RwLockReadGuard { _release: self.contention.release_point(), inner: LeakOnUnwind::new(guard), _held: held }
    }

    /// Blocks until exclusive access is granted.
    #[track_caller]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        perturb::point();
        let held = HeldLock::acquire(self.id, Mode::Exclusive, Location::caller());
        let guard = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        trace::record("write lock", Some((ObjectKind::Lock, self.id)), Location::caller());
        RwLockWriteGuard { _release: self.contention.release_point(), inner: LeakOnUnwind::new(guard), _held: held }
    }

    /// Acquires shared access if no writer holds the lock, without blocking.
    #[track_caller]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let (guard, held) =
            try_acquire(&self.contention, || self.inner.try_read(), self.id, Mode::Shared, Location::caller())?;
        Some(RwLockReadGuard { _release: self.contention.release_point(), inner: guard, _held: held })
    }

    /// Acquires exclusive access if nobody holds the lock, without blocking.
    #[track_caller]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let (guard, held) =
            try_acquire(&self.contention, || self.inner.try_write(), self.id, Mode::Exclusive, Location::caller())?;
        Some(RwLockWriteGuard { _release: self.contention.release_point(), inner: guard, _held: held })
    }

    /// Always `false`: the facade's locks are not poisoned by a panic.
    pub fn is_poisoned(&self) -> bool {
        false
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A non-blocking acquisition (`try_lock`, `try_read`, `try_write`): a perturbation point,
/// then the backend's attempt; a poisoned lock counts as acquired, a busy one as `None`.
/// What is acquired is recorded as held, without a lock-order edge (it cannot block).
fn try_acquire<G>(
    contention: &Contention,
    attempt: impl FnOnce() -> std::sync::TryLockResult<G>,
    id: LockId,
    mode: Mode,
    at: &'static Location<'static>,
) -> Option<(LeakOnUnwind<G>, HeldLock)> {
    perturb::point();
    contention.attempt();
    let (operation, busy) = match mode {
        Mode::Exclusive => ("try_lock", "try_lock (busy)"),
        Mode::Shared => ("try_read", "try_read (busy)"),
    };
    let guard = match attempt() {
        Ok(guard) => guard,
        Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => {
            trace::record(busy, Some((ObjectKind::Lock, id)), at);
            return None;
        }
    };
    trace::record(operation, Some((ObjectKind::Lock, id)), at);
    Some((LeakOnUnwind::new(guard), HeldLock::acquired_without_blocking(id, mode, at)))
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
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
        self.inner.get()
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.inner.get()
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}
