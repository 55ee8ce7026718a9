//! Seeded random yields on real threads.
//!
//! Inside a std [`check`](crate::check) every facade lock, wait, notify and atomic access
//! first passes a perturbation point that yields the CPU, spins or sleeps briefly with a
//! probability drawn from the check's seed, which shakes out interleavings a quiet machine
//! would rarely produce. Outside a check the cost is one relaxed load of a global flag.
//! Under the model checkers the checker itself chooses interleavings, so the points compile
//! to nothing.

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod imp {
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Number of std checks currently running with perturbation (any thread). Relaxed:
    /// it only gates a heuristic; a stale read merely skips or adds one yield.
    static ACTIVE_CHECKS: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        static RNG: RefCell<Option<fastrand::Rng>> = const { RefCell::new(None) };
    }

    #[inline]
    pub(crate) fn point() {
        // One point in 64 sleeps briefly: long enough for the other core's thread to run a
        // whole critical section.
        linger(64, 15, std::time::Duration::from_micros(20));
    }

    /// Before an atomic access. Atomics sit in tight sequences (a load, then the store that
    /// acts on it), so the window between two of them is a few nanoseconds: a yield rarely
    /// lets the other core's thread in, while a spin of a few microseconds (the thread stays
    /// on its core, the other thread runs on its own) or a short sleep (the thread leaves
    /// its core) stretches the window to the other thread's timescale.
    #[inline]
    pub(crate) fn atomic_access() {
        match roll(32) {
            Some(0) => std::thread::sleep(std::time::Duration::from_micros(20)),
            Some(1..=3) => std::thread::yield_now(),
            Some(4..=7) => spin(std::time::Duration::from_micros(5)),
            _ => {}
        }
    }

    /// Busy-waits for `window` without giving up the core.
    fn spin(window: std::time::Duration) {
        let started = std::time::Instant::now();
        while started.elapsed() < window {
            std::hint::spin_loop();
        }
    }

    /// Inside an access to a [`RaceCell`](crate::sync::RaceCell): lingers often, so that an
    /// unsynchronized access from another thread lands while this one is in progress.
    pub(crate) fn access_window() {
        linger(8, 3, std::time::Duration::from_micros(50));
    }

    /// Inside a check: whether a condition-variable wait returns without a notification
    /// (one in sixteen).
    pub(crate) fn spurious_wakeup() -> bool {
        roll(16) == Some(0)
    }

    /// Inside a check: one roll in `out_of` sleeps for `sleep`, `yields` rolls yield.
    #[inline]
    fn linger(out_of: u32, yields: u32, sleep: std::time::Duration) {
        match roll(out_of) {
            Some(0) => std::thread::sleep(sleep),
            Some(roll) if roll <= yields => std::thread::yield_now(),
            _ => {}
        }
    }

    /// A draw in `0..out_of` from this thread's perturbation stream; `None` outside a
    /// check (or on a thread no check seeded). The test for a check is inlined into every
    /// point; only a point inside one calls out for the draw.
    #[inline]
    fn roll(out_of: u32) -> Option<u32> {
        if ACTIVE_CHECKS.load(Ordering::Relaxed) == 0 {
            return None;
        }
        draw(out_of)
    }

    #[inline(never)]
    fn draw(out_of: u32) -> Option<u32> {
        RNG.with(|rng| rng.borrow_mut().as_mut().map(|rng| rng.u32(..out_of)))
    }

    /// Seeds this thread's perturbation stream (a thread outside any check is never
    /// perturbed).
    pub(crate) fn seed_thread(seed: Option<u64>) {
        RNG.with(|rng| *rng.borrow_mut() = seed.map(fastrand::Rng::with_seed));
    }

    /// Keeps perturbation switched on while alive.
    pub(crate) struct Active(());

    impl Active {
        pub(crate) fn start() -> Active {
            ACTIVE_CHECKS.fetch_add(1, Ordering::Relaxed);
            Active(())
        }
    }

    impl Drop for Active {
        fn drop(&mut self) {
            ACTIVE_CHECKS.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(any(racekit_loom, racekit_shuttle))]
mod imp {
    #[inline(always)]
    pub(crate) fn point() {}

    #[inline(always)]
    pub(crate) fn access_window() {}

    #[inline(always)]
    pub(crate) fn atomic_access() {}
}

pub(crate) use imp::*;
