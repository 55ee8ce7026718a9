//! Brief spinning before a sleep, on real threads only.
//!
//! A waiter about to sleep on a condition variable first spins on a lock-free hint: a
//! hand-off that completes within a microsecond or so then costs no futex wait and no
//! wake-up system call on either side. Spinning comes first because on an oversubscribed
//! machine a yield hands the core to a thread that may not be the one the waiter waits
//! for; the yields after it are what lets the other side run when there are more runnable
//! threads than cores. A hint is only a hint: whoever acts on one takes the lock and looks
//! again. Under the model checkers spinning would only add states that mean nothing, so it
//! is compiled out (and the hints are std atomics on purpose: they exist only on real
//! threads).

/// Spins until `ready()` or the budget is spent: `spin_rounds` rounds of 1, 2, 4 ...
/// spin hints (`2^spin_rounds - 1` in all), then up to `yields` yields of the thread.
/// Nothing under the model checkers.
#[inline]
pub(crate) fn spin_until(ready: impl Fn() -> bool, spin_rounds: u32, yields: u32) {
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    for step in 0..spin_rounds + yields {
        if ready() {
            return;
        }
        if step < spin_rounds {
            (0..1u32 << step).for_each(|_| std::hint::spin_loop());
        } else {
            std::thread::yield_now();
        }
    }
    #[cfg(any(racekit_loom, racekit_shuttle))]
    let _ = (ready, spin_rounds, yields);
}
