//! The Wing–Gong search, with memoization of visited `(linearized set, state)` pairs and
//! P-compositional splitting by key.
//!
//! # How it works
//!
//! A history is linearizable when some total order of its operations (1) respects real
//! time (if `a` returned before `b` was invoked, `a` comes first) and (2) gives every
//! operation the result it returned when the specification runs them in that order. The
//! search builds that order one operation at a time. An operation can come next only if
//! it was invoked before every other not-yet-ordered operation returned (it is *minimal*);
//! it is taken when the specification, run on it from the current state, returns what the
//! object returned. A dead end backtracks.
//!
//! Two partial orders that ordered the same set of operations and reached the same state
//! have the same future, so each `(set, state)` pair is explored once (Lowe's improvement
//! of Wing and Gong's algorithm, as porcupine and Lincheck use it).
//!
//! # Complexity and cut-offs
//!
//! The sets the search can reach are the downward-closed sets of the history's real-time
//! order; with `t` threads of `k` operations each there are at most `(k + 1)^t` of them
//! (times the sequential parts, which add one set each), so the memoized search visits at
//! most `(k + 1)^t × s` nodes, `s` the number of distinct states that reach a set (1 for
//! a deterministic specification whose results pin its state, small in practice), and
//! tries at most `t` candidates at each: a clone, an `apply` and a hash. 3 threads × 3
//! operations is at most 64 sets. Cut-offs: at most [`MAX_OPERATIONS`] operations per
//! history (the set is a `u128`), and at most [`MAX_STATES`] visited nodes, past which
//! the check reports [`HistoryError::Inconclusive`] rather than running on. What a check
//! of a 3 × 3 history costs is measured by `cargo bench --bench linearizability`, on a
//! typical history and on the worst case (all nine operations overlapping), each both
//! linearizable and not.
//!
//! # P-compositionality
//!
//! When every operation has a [`Spec::key`], the history is split by key and each part is
//! checked on its own, from the initial state: for a specification whose keys are
//! independent objects (a map of registers, a set), the history is linearizable exactly
//! when every part is (Herlihy and Wing's locality), and the parts' searches multiply far
//! less than the whole's.

use super::history::{Operation, Witness};
use super::Spec;
use std::collections::{BTreeMap, HashSet};
use thiserror::Error;

/// The most operations one history may hold.
pub const MAX_OPERATIONS: usize = 128;

/// The most `(set, state)` nodes one search visits before it gives up.
pub const MAX_STATES: usize = 1_000_000;

/// A history the search could not decide.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HistoryError {
    /// More operations than the search's set holds.
    #[error(
        "the history has {operations} operations but the checker handles at most {max}: generate fewer threads or \
         operations per thread"
    )]
    TooManyOperations {
        /// Operations in the history.
        operations: usize,
        /// [`MAX_OPERATIONS`].
        max: usize,
    },
    /// The search visited [`MAX_STATES`] nodes without an answer.
    #[error(
        "the search visited {states} (set, state) pairs without deciding: make the scenario smaller, or the \
         specification's state smaller (its Hash/Eq should ignore what results cannot observe)"
    )]
    Inconclusive {
        /// Nodes visited.
        states: usize,
    },
}

/// What a decided history is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some order explains every result.
    Linearizable {
        /// `(set, state)` nodes the search visited.
        states: usize,
    },
    /// No order does; the witness is the search's longest explanation.
    NotLinearizable(Witness),
}

impl Verdict {
    /// Whether the history is linearizable.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable { .. })
    }
}

/// Checks `history` against the sequential specification starting at `initial`.
///
/// # Examples
///
/// ```
/// use racekit::linearizability::{check_history, Lane, Operation, Spec};
///
/// // A register: writes return nothing, reads the last value written.
/// #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
/// struct Register(u8);
/// impl Spec for Register {
///     type Op = Option<u8>; // Some(v): write v; None: read
///     type Ret = u8;
///     fn apply(&mut self, op: &Option<u8>) -> u8 {
///         if let Some(value) = op {
///             self.0 = *value;
///         }
///         self.0
///     }
/// }
///
/// let op = |lane, call, ret, op, result| Operation { lane, call, ret, op, result };
/// // A read that overlaps a write may see either value...
/// let overlapping = [op(Lane::Thread(0), 0, 3, Some(1), 1), op(Lane::Thread(1), 1, 2, None, 1)];
/// assert!(check_history(&Register(0), &overlapping)?.is_linearizable());
/// // ...but a read that starts after the write returned must see it.
/// let stale = [op(Lane::Thread(0), 0, 1, Some(1), 1), op(Lane::Thread(1), 2, 3, None, 0)];
/// assert!(!check_history(&Register(0), &stale)?.is_linearizable());
/// # Ok::<(), racekit::linearizability::HistoryError>(())
/// ```
pub fn check_history<S: Spec>(initial: &S, history: &[Operation<S::Op, S::Ret>]) -> Result<Verdict, HistoryError> {
    if history.len() > MAX_OPERATIONS {
        return Err(HistoryError::TooManyOperations { operations: history.len(), max: MAX_OPERATIONS });
    }
    let keys: Option<Vec<u64>> = history.iter().map(|operation| S::key(&operation.op)).collect();
    let parts: Vec<Vec<usize>> = match keys {
        Some(keys) if !history.is_empty() => {
            let mut parts: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
            for (index, key) in keys.into_iter().enumerate() {
                parts.entry(key).or_default().push(index);
            }
            parts.into_values().collect()
        }
        _ => vec![(0..history.len()).collect()],
    };
    let mut states = 0;
    for part in parts {
        let mut search = Search::new(initial, history, part);
        match search.run()? {
            Verdict::Linearizable { states: visited } => states += visited,
            failed => return Ok(failed),
        }
    }
    Ok(Verdict::Linearizable { states })
}

/// One search over a part of a history (indices into the whole).
struct Search<'h, S: Spec> {
    initial: &'h S,
    history: &'h [Operation<S::Op, S::Ret>],
    /// The part's operations, by position in the part (bit `i` of a set is `part[i]`).
    part: Vec<usize>,
    visited: HashSet<(u128, S)>,
    path: Vec<usize>,
    deepest: Option<Witness>,
}

impl<'h, S: Spec> Search<'h, S> {
    fn new(initial: &'h S, history: &'h [Operation<S::Op, S::Ret>], part: Vec<usize>) -> Self {
        Search { initial, history, part, visited: HashSet::new(), path: Vec::new(), deepest: None }
    }

    fn run(&mut self) -> Result<Verdict, HistoryError> {
        let all = if self.part.len() == 128 { u128::MAX } else { (1u128 << self.part.len()) - 1 };
        let initial = self.initial.clone();
        if self.extend(0, all, &initial)? {
            Ok(Verdict::Linearizable { states: self.visited.len() })
        } else {
            Ok(Verdict::NotLinearizable(self.deepest.take().unwrap_or_else(|| Witness {
                linearized: Vec::new(),
                state: format!("{initial:?}"),
                refused: Vec::new(),
            })))
        }
    }

    /// Whether the operations outside `done` can be ordered after the ones in it, from `state`.
    fn extend(&mut self, done: u128, all: u128, state: &S) -> Result<bool, HistoryError> {
        if done == all {
            return Ok(true);
        }
        if !self.visited.insert((done, state.clone())) {
            return Ok(false);
        }
        if self.visited.len() > MAX_STATES {
            return Err(HistoryError::Inconclusive { states: self.visited.len() });
        }
        let pending = |bit: usize| done & (1u128 << bit) == 0;
        // An operation may come next only if it was invoked before every pending one returned.
        let first_return =
            (0..self.part.len()).filter(|&bit| pending(bit)).map(|bit| self.history[self.part[bit]].ret).min();
        let Some(first_return) = first_return else { return Ok(true) };
        let mut refused = Vec::new();
        for bit in (0..self.part.len()).filter(|&bit| pending(bit)) {
            let operation = &self.history[self.part[bit]];
            if operation.call > first_return {
                continue;
            }
            let mut next = state.clone();
            let result = next.apply(&operation.op);
            if result != operation.result {
                refused.push((self.part[bit], format!("{result:?}")));
                continue;
            }
            self.path.push(self.part[bit]);
            let found = self.extend(done | (1u128 << bit), all, &next)?;
            self.path.pop();
            if found {
                return Ok(true);
            }
        }
        if self.deepest.as_ref().is_none_or(|deepest| self.path.len() > deepest.linearized.len()) {
            self.deepest = Some(Witness { linearized: self.path.clone(), state: format!("{state:?}"), refused });
        }
        Ok(false)
    }
}
