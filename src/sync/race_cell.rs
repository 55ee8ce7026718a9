//! A plain shared variable whose unsynchronized accesses are reported as data races.
//!
//! # How each backend detects a race
//!
//! Two accesses race when at least one writes and neither happens before the other.
//!
//! - **loom** tracks every access in a `loom::cell::UnsafeCell` and panics with
//!   "Causality violation" when an access is not ordered after a conflicting one, weak
//!   memory included: data published through a `Relaxed` flag is a race loom finds.
//! - **shuttle** keeps, for each cell, the vector-clock epoch of the last write and of each
//!   thread's last read since, and compares them with the accessing thread's clock (every
//!   lock, atomic, spawn and join carries one). Each access first takes a fresh epoch of
//!   its own thread (a private atomic load: a scheduling point that synchronizes with
//!   nothing), so an access after a release is never mistaken for one before it.
//! - **std** (real threads) reports accesses that *overlap in time*: each access holds the
//!   cell for its duration and, inside a check, lingers there for a seeded random moment so
//!   that an unsynchronized access from another thread lands inside it. It finds races
//!   that happen, never a race that did not: no false positives, and no proof.
//!
//! # Invariants
//!
//! - The value lives in a `std::sync::RwLock` that belongs to the harness, not to the
//!   model: it never blocks (every access takes it with `try_*`), so it adds no
//!   synchronization the checkers could mistake for the program's own.
//! - An access that finds the cell held in a conflicting mode is an overlapping access:
//!   another thread inside its own access, or a closure that re-entered the cell.

use super::perturb;
use crate::model::trace::{self, ObjectKind};
use std::fmt;
use std::panic::Location;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

/// A shared variable with no synchronization of its own, checked for data races.
///
/// It stands for the plain fields of the code under test: the `UnsafeCell` of a
/// hand-written lock, the slot of a one-shot channel, the buffer a flag publishes. The
/// program's own locks and atomics must order every write against every other access;
/// when they do not, the check fails with "data race" (see the module documentation for
/// what each backend sees). Keep the closures free of synchronization: an access is meant
/// to be one read or one write.
///
/// # Examples
///
/// A value published through an atomic flag: the `Release` store and the `Acquire` load
/// order the write before the read, so no schedule reports a race (with `Relaxed` on
/// either side, loom reports one).
///
/// ```
/// use racekit::sync::{thread, atomic::{AtomicBool, Ordering}, Arc, RaceCell};
///
/// racekit::check(|| {
///     let slot = Arc::new((RaceCell::new(0), AtomicBool::new(false)));
///     let writer = {
///         let slot = slot.clone();
///         thread::spawn(move || {
///             slot.0.set(42);
///             slot.1.store(true, Ordering::Release);
///         })
///     };
///     if slot.1.load(Ordering::Acquire) {
///         assert_eq!(slot.0.get(), 42);
///     }
///     writer.join().unwrap();
/// });
/// ```
pub struct RaceCell<T> {
    value: RwLock<T>,
    tracker: imp::Tracker,
    /// The cell's identity in the trace.
    id: u64,
    /// The access that last took the storage lock, so that an access overlapping it can
    /// name it (real threads detect races by overlap).
    last_access: std::sync::Mutex<Access>,
}

/// An access's kind and the caller's source line.
type Access = (&'static str, &'static Location<'static>);

impl<T> RaceCell<T> {
    /// A cell holding `value`; creating it counts as its first write.
    #[track_caller]
    pub fn new(value: T) -> Self {
        RaceCell {
            value: RwLock::new(value),
            tracker: imp::Tracker::new(Location::caller()),
            last_access: std::sync::Mutex::new(("creation", Location::caller())),
            id: trace::new_object_id(),
        }
    }

    /// Reads the value through `read`: one read access.
    #[track_caller]
    pub fn with<R>(&self, read: impl FnOnce(&T) -> R) -> R {
        let at = Location::caller();
        trace::record("read", Some((ObjectKind::Cell, self.id)), at);
        self.tracker.read(at);
        let guard = self.shared(at);
        let result = read(&guard);
        perturb::access_window();
        drop(guard);
        result
    }

    /// Changes the value through `write`: one write access.
    #[track_caller]
    pub fn with_mut<R>(&self, write: impl FnOnce(&mut T) -> R) -> R {
        let at = Location::caller();
        trace::record("write", Some((ObjectKind::Cell, self.id)), at);
        self.tracker.write(at);
        let mut guard = self.exclusive(at);
        let result = write(&mut guard);
        perturb::access_window();
        drop(guard);
        result
    }

    /// A copy of the value: one read access.
    #[track_caller]
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }

    /// Stores `value`: one write access.
    #[track_caller]
    pub fn set(&self, value: T) {
        self.with_mut(|slot| *slot = value);
    }

    /// Stores `value` and returns the old one: one write access.
    #[track_caller]
    pub fn replace(&self, value: T) -> T {
        self.with_mut(|slot| std::mem::replace(slot, value))
    }

    /// Mutable access without checking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Consumes the cell and returns its value.
    pub fn into_inner(self) -> T {
        self.value.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn shared(&self, at: &'static Location<'static>) -> RwLockReadGuard<'_, T> {
        let guard = match self.value.try_read() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => self.overlapping(("read", at)),
        };
        self.started(("read", at));
        guard
    }

    fn exclusive(&self, at: &'static Location<'static>) -> RwLockWriteGuard<'_, T> {
        let guard = match self.value.try_write() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => self.overlapping(("write", at)),
        };
        self.started(("write", at));
        guard
    }

    fn started(&self, access: Access) {
        *self.last_access.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = access;
    }

    fn overlapping(&self, (kind, at): Access) -> ! {
        let (other, other_at) = *self.last_access.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        data_race(format!(
            "data race on a RaceCell: the {kind} at {at} overlaps the {other} at {other_at}, still in progress \
             (another thread's unsynchronized access, or a closure that re-entered the cell)"
        ))
    }
}

/// Fails the check with a data race found by this cell's detector.
#[track_caller]
fn data_race(message: String) -> ! {
    crate::model::detect::fail(crate::model::FailureKind::DataRace, message)
}

impl<T: Default> Default for RaceCell<T> {
    #[track_caller]
    fn default() -> Self {
        RaceCell::new(T::default())
    }
}

impl<T> fmt::Debug for RaceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RaceCell").finish_non_exhaustive()
    }
}

#[cfg(racekit_loom)]
mod imp {
    use std::panic::Location;
    use std::sync::{Mutex, MutexGuard};

    /// loom's own access tracking, on a cell that holds nothing, and where the cell was
    /// last written and read (loom's own report names racekit's line, not the caller's).
    /// loom's cell is not `Sync` (it stands for a raw `UnsafeCell`); the std mutex around
    /// it makes it shareable and is never contended, since loom runs one model thread at a
    /// time.
    pub(super) struct Tracker(Mutex<Accesses>);

    struct Accesses {
        cell: loom::cell::UnsafeCell<()>,
        last_write: &'static Location<'static>,
        last_read: Option<&'static Location<'static>>,
    }

    impl Tracker {
        pub(super) fn new(at: &'static Location<'static>) -> Self {
            Tracker(Mutex::new(Accesses { cell: loom::cell::UnsafeCell::new(()), last_write: at, last_read: None }))
        }

        fn accesses(&self) -> MutexGuard<'_, Accesses> {
            self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
        }

        pub(super) fn read(&self, at: &'static Location<'static>) {
            let mut accesses = self.accesses();
            let earlier = format!("the write at {}", accesses.last_write);
            checked(|| accesses.cell.with(|_| ()), "read", at, &earlier);
            accesses.last_read = Some(at);
        }

        pub(super) fn write(&self, at: &'static Location<'static>) {
            let mut accesses = self.accesses();
            let earlier = match accesses.last_read {
                Some(read) => format!("the write at {} or the read at {read}", accesses.last_write),
                None => format!("the write at {}", accesses.last_write),
            };
            checked(|| accesses.cell.with_mut(|_| ()), "write", at, &earlier);
            accesses.last_write = at;
        }
    }

    thread_local! {
        /// Set while loom checks an access: its panic then is re-raised with the caller's
        /// line, so the panic hook need not print loom's own.
        static CHECKING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Keeps loom's causality-violation panic out of the output (racekit raises its own,
    /// naming the caller's line). Installed once; every other panic reaches the previous hook.
    fn quiet_loom_report() {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if !CHECKING.with(std::cell::Cell::get) {
                    previous(info);
                }
            }));
        });
    }

    /// Runs loom's access check and, when loom reports a causality violation, fails with
    /// the caller's source line and the conflicting access instead of loom's internals.
    fn checked(access: impl FnOnce(), kind: &str, at: &Location<'_>, earlier: &str) {
        quiet_loom_report();
        CHECKING.with(|checking| checking.set(true));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(access));
        CHECKING.with(|checking| checking.set(false));
        if let Err(payload) = result {
            let detail = crate::model::panic_message(&*payload);
            if !detail.contains("Causality violation") {
                std::panic::resume_unwind(payload);
            }
            super::data_race(format!(
                "data race on a RaceCell: the {kind} at {at} is not ordered after {earlier} (loom: {})",
                detail.lines().next().unwrap_or_default()
            ));
        }
    }
}

#[cfg(racekit_shuttle)]
mod imp {
    use std::panic::Location;
    use std::sync::Mutex;

    /// One access: the thread (shuttle's task number, as the trace keys and names it), its
    /// clock entry at the access, and where it was made.
    #[derive(Clone, Copy)]
    struct Epoch {
        thread: usize,
        time: u32,
        at: &'static Location<'static>,
    }

    #[derive(Default)]
    struct Accesses {
        last_write: Option<Epoch>,
        /// Each thread's latest read since the last write.
        reads: Vec<Epoch>,
    }

    pub(super) struct Tracker(Mutex<Accesses>);

    /// The accessing thread's fresh epoch and its vector clock.
    fn now(at: &'static Location<'static>) -> (Epoch, Vec<u32>) {
        // A load of an atomic nobody else can reach: a scheduling point that advances this
        // thread's clock and merges nothing into it.
        shuttle::sync::atomic::AtomicBool::new(false).load(shuttle::sync::atomic::Ordering::SeqCst);
        let thread = usize::from(shuttle::current::me());
        let clock = shuttle::current::clock().to_vec();
        let time = entry(&clock, thread);
        (Epoch { thread, time, at }, clock)
    }

    fn entry(clock: &[u32], thread: usize) -> u32 {
        clock.get(thread).copied().unwrap_or(0)
    }

    fn ensure_ordered(earlier: &Epoch, earlier_kind: &str, now: &Epoch, now_kind: &str, clock: &[u32]) {
        if earlier.thread != now.thread && entry(clock, earlier.thread) < earlier.time {
            let name = crate::model::trace::name_of;
            super::data_race(format!(
                "data race on a RaceCell: the {earlier_kind} at {} ({}) does not happen before the {now_kind} at {} \
                 ({}); order them with a lock, a Release/Acquire pair, or a join",
                earlier.at,
                name(earlier.thread),
                now.at,
                name(now.thread)
            ));
        }
    }

    impl Tracker {
        pub(super) fn new(at: &'static Location<'static>) -> Self {
            let accesses = match shuttle::current::try_get_current_task() {
                Some(_) => Accesses { last_write: Some(now(at).0), reads: Vec::new() },
                None => Accesses::default(),
            };
            Tracker(Mutex::new(accesses))
        }

        pub(super) fn read(&self, at: &'static Location<'static>) {
            let (epoch, clock) = now(at);
            let mut accesses = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(write) = &accesses.last_write {
                ensure_ordered(write, "write", &epoch, "read", &clock);
            }
            accesses.reads.retain(|read| read.thread != epoch.thread);
            accesses.reads.push(epoch);
        }

        pub(super) fn write(&self, at: &'static Location<'static>) {
            let (epoch, clock) = now(at);
            let mut accesses = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(write) = &accesses.last_write {
                ensure_ordered(write, "write", &epoch, "write", &clock);
            }
            for read in &accesses.reads {
                ensure_ordered(read, "read", &epoch, "write", &clock);
            }
            accesses.reads.clear();
            accesses.last_write = Some(epoch);
        }
    }
}

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod imp {
    use std::panic::Location;

    /// Real threads: overlap in time is detected by the cell's own storage lock.
    pub(super) struct Tracker;

    impl Tracker {
        pub(super) fn new(_at: &'static Location<'static>) -> Self {
            Tracker
        }

        pub(super) fn read(&self, _at: &'static Location<'static>) {}

        pub(super) fn write(&self, _at: &'static Location<'static>) {}
    }
}
