//! Makes a failing `try_lock` reachable under loom.
//!
//! loom schedules threads at its operations, and a critical section with no operation in
//! it is one step: no schedule ever shows another thread a lock as held, so a `try_lock`
//! (or `try_read`, `try_write`) never fails and a path that drops work when the lock is
//! busy passes. Under loom every facade lock therefore carries a loom atomic that both a
//! non-blocking attempt and a release update (read-modify-writes, so loom orders them both
//! ways): loom then explores the attempt landing before the holder releases, and the
//! attempt fails. The other backends need nothing: shuttle makes `try_lock` a scheduling
//! point itself, and real threads are perturbed before every attempt.

#[cfg(racekit_loom)]
use loom::sync::atomic::{AtomicUsize, Ordering};

/// The per-lock atomic (zero-sized except under loom).
#[derive(Debug, Default)]
pub(crate) struct Contention {
    #[cfg(racekit_loom)]
    touched: AtomicUsize,
}

impl Contention {
    pub(crate) fn new() -> Contention {
        Contention::default()
    }

    /// Before a non-blocking attempt on the lock.
    #[inline]
    pub(crate) fn attempt(&self) {
        #[cfg(racekit_loom)]
        // Relaxed: only the order of the two updates matters to loom, not what they publish.
        self.touched.fetch_add(1, Ordering::Relaxed);
    }

    /// Held by a guard, declared before the backend guard so that it drops (and updates
    /// the atomic) while the lock is still held.
    #[inline]
    pub(crate) fn release_point(&self) -> ReleasePoint<'_> {
        ReleasePoint {
            #[cfg(racekit_loom)]
            contention: self,
            #[cfg(not(racekit_loom))]
            _lock: std::marker::PhantomData,
        }
    }
}

/// Updates its lock's atomic when dropped (see [`Contention::release_point`]).
#[derive(Debug)]
pub(crate) struct ReleasePoint<'a> {
    #[cfg(racekit_loom)]
    contention: &'a Contention,
    #[cfg(not(racekit_loom))]
    _lock: std::marker::PhantomData<&'a Contention>,
}

#[cfg(racekit_loom)]
impl Drop for ReleasePoint<'_> {
    fn drop(&mut self) {
        if !super::backend::unwinding_from_a_failure() {
            self.contention.attempt();
        }
    }
}
