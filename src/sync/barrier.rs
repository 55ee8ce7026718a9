//! A reusable barrier built from the facade's own primitives.
//!
//! # Invariants
//!
//! `arrived < parties` between generations; the thread that makes `arrived` reach
//! `parties` is the leader of that generation, resets the count, advances `generation`
//! and wakes the others, who leave when they see the generation change (never on the
//! count alone, so a spurious wake-up or the next generation's arrivals cannot release
//! them early).

use super::{Condvar, Mutex};

/// Blocks `parties` threads until all of them have called [`wait`](Barrier::wait), then
/// releases them together; reusable, as `std::sync::Barrier`.
///
/// Built from the facade's [`Mutex`] and [`Condvar`], so it is model-checked with the rest.
///
/// # Examples
///
/// ```
/// use racekit::sync::{thread, Arc, Barrier};
///
/// let barrier = Arc::new(Barrier::new(2));
/// let other = {
///     let barrier = barrier.clone();
///     thread::spawn(move || barrier.wait().is_leader())
/// };
/// let me = barrier.wait().is_leader();
/// assert!(me ^ other.join().unwrap(), "exactly one leader per generation");
/// ```
#[derive(Debug)]
pub struct Barrier {
    parties: usize,
    state: Mutex<Generation>,
    released: Condvar,
}

#[derive(Debug, Default)]
struct Generation {
    arrived: usize,
    generation: u64,
}

/// What [`Barrier::wait`] returns: whether this thread was the generation's leader.
#[derive(Debug)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// `true` for exactly one thread of each generation (the last to arrive).
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

impl Barrier {
    /// A barrier for `parties` threads (`0` and `1` never block, as in `std`).
    pub fn new(parties: usize) -> Barrier {
        Barrier { parties, state: Mutex::new(Generation::default()), released: Condvar::new() }
    }

    /// Blocks until `parties` threads are waiting, then releases them all.
    pub fn wait(&self) -> BarrierWaitResult {
        let mut state = self.state.lock();
        let mine = state.generation;
        state.arrived += 1;
        if state.arrived < self.parties {
            drop(self.released.wait_while(state, |state| state.generation == mine));
            return BarrierWaitResult { leader: false };
        }
        state.arrived = 0;
        state.generation += 1;
        drop(state);
        self.released.notify_all();
        BarrierWaitResult { leader: true }
    }
}
