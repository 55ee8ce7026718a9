//! A bounded collection that keeps the newest items (the seed's `BoundedSlice`).
//!
//! A capacity is a limit, not an allocation: storage grows with the items actually held
//! (from at most 64 slots), so any capacity up to `usize::MAX` is
//! accepted and costs nothing until it is used.
//!
//! # Invariants
//!
//! Whenever the lock is free: `len <= capacity`, and `added == len + evicted` (every item
//! added is either stored or counted as evicted). An add counts, decides whether to evict,
//! stores and then trims in one critical section (the ring holds `capacity + 1` items for
//! a moment inside it), so no reader sees a step in between.

use crate::sync::{RwLock, RwLockWriteGuard};
use std::collections::VecDeque;
use thiserror::Error;

/// The [mutation points](crate::mutation) planted in this pattern: one-expression bugs a
/// model switches on with [`Model::mutant`](crate::model::Model::mutant).
pub const MUTATION_POINTS: &[crate::mutation::MutationPoint] = &[
    point(
        "bounded_slice.accounting.torn",
        "accounting reads added, stored and evicted under three separate lock acquisitions",
    ),
    point(
        "bounded_slice.add.counts_in_a_separate_critical_section",
        "add reads `added` under one write lock and stores it plus one under another: two adds can count once",
    ),
    point(
        "bounded_slice.add.evicts_on_a_stale_length",
        "add decides whether to evict on a length read before it let go of the lock and took it again",
    ),
    point(
        "bounded_slice.add.trims_in_view_of_readers",
        "add stores the new item, lets go of the lock, and evicts the oldest later: readers see the ring overfull",
    ),
];

const fn point(name: &'static str, bug: &'static str) -> crate::mutation::MutationPoint {
    crate::mutation::MutationPoint { name, bug }
}

/// A capacity of zero was asked for.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error("capacity is 0: a bounded collection must hold at least one item; pass a capacity of 1 or more")]
pub struct ZeroCapacity;

/// How many slots a bounded collection allocates up front for a bound of `capacity`: the
/// bound itself while it is small, never more than 64, so a huge bound cannot abort the
/// process at construction.
pub(crate) fn preallocation(capacity: usize) -> usize {
    const MAX_PREALLOCATION: usize = 64;
    capacity.min(MAX_PREALLOCATION)
}

/// Keeps at most `capacity` items, evicting the oldest, and counts what it evicted.
///
/// The seed shifts the whole slice on every add past capacity (O(capacity)); this is a
/// ring (O(1)), and it counts evictions, so nothing leaves without being counted.
/// Reads take the shared lock, adds the exclusive one.
///
/// # Examples
///
/// ```
/// use racekit::bounded_slice::BoundedSlice;
///
/// let recent = BoundedSlice::new(2)?;
/// recent.add("a");
/// recent.add("b");
/// assert_eq!(recent.add("c"), Some("a"));
/// assert_eq!(recent.snapshot(), ["b", "c"]);
/// assert_eq!((recent.added(), recent.evicted()), (3, 1));
/// # Ok::<(), racekit::bounded_slice::ZeroCapacity>(())
/// ```
#[derive(Debug)]
pub struct BoundedSlice<T> {
    state: RwLock<State<T>>,
    capacity: usize,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    added: u64,
    evicted: u64,
}

impl<T> BoundedSlice<T> {
    /// A collection holding at most `capacity` items.
    pub fn new(capacity: usize) -> Result<Self, ZeroCapacity> {
        if capacity == 0 {
            return Err(ZeroCapacity);
        }
        Ok(BoundedSlice {
            state: RwLock::new(State { items: VecDeque::with_capacity(preallocation(capacity)), added: 0, evicted: 0 }),
            capacity,
        })
    }

    /// Adds `item` as the newest; returns the oldest item if it had to be evicted.
    pub fn add(&self, item: T) -> Option<T> {
        let mut state = self.state.write();
        state.added = mutation_point!("bounded_slice.add.counts_in_a_separate_critical_section", state.added + 1, {
            let seen = state.added;
            state = self.relock(state);
            seen + 1
        });
        let full = state.items.len() >= self.capacity;
        state = mutation_point!("bounded_slice.add.evicts_on_a_stale_length", state, self.relock(state));
        // Stores, then trims: under one write lock no reader sees the ring above capacity.
        state.items.push_back(item);
        state = mutation_point!("bounded_slice.add.trims_in_view_of_readers", state, self.relock(state));
        if full {
            state.evicted += 1;
            state.items.pop_front()
        } else {
            None
        }
    }

    /// Lets go of the write lock and takes it again: what the mutation points that split
    /// an add in two put between its halves.
    fn relock<'a>(&'a self, state: RwLockWriteGuard<'a, State<T>>) -> RwLockWriteGuard<'a, State<T>> {
        drop(state);
        self.state.write()
    }

    /// The items, oldest first.
    pub fn snapshot(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.state.read().items.iter().cloned().collect()
    }

    /// How many items are stored.
    pub fn len(&self) -> usize {
        self.state.read().items.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most items it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Items added since it was made.
    pub fn added(&self) -> u64 {
        self.state.read().added
    }

    /// Items evicted since it was made.
    pub fn evicted(&self) -> u64 {
        self.state.read().evicted
    }

    /// `(added, stored, evicted)` read together under one lock, so that
    /// `added == stored + evicted` can be checked at any moment.
    pub fn accounting(&self) -> (u64, usize, u64) {
        mutation_point!(
            "bounded_slice.accounting.torn",
            {
                let state = self.state.read();
                (state.added, state.items.len(), state.evicted)
            },
            (self.added(), self.len(), self.evicted())
        )
    }
}
