//! Collects the errors of concurrent operations (the seed's `ErrorCollector`).
//!
//! # Invariants
//!
//! - Every error passed to [`ErrorCollector::add`] is stored exactly once, in the order
//!   the adds took the lock; none is dropped.
//! - One lock guards the list; no user code (`Display`, `Clone` of errors aside) runs
//!   under it.

use crate::sync::Mutex;
use std::fmt;

/// The [mutation points](crate::mutation) planted in this pattern: one-expression bugs a
/// model switches on with [`Model::mutant`](crate::model::Model::mutant).
pub const MUTATION_POINTS: &[crate::mutation::MutationPoint] = &[crate::mutation::MutationPoint {
    name: "error_collector.add.split_update",
    bug:
        "add takes the list out under one lock and puts it back under another: a lost update, and readers see it empty",
}];

/// Gathers errors from many threads; [`into_result`](ErrorCollector::into_result) turns
/// them into one error that lists them all.
///
/// Compared with the seed's Go version: `Errors` keeps every error (the seed formats them
/// into one string), and `add` takes an error rather than a nullable one, so "nil" cannot
/// be mistaken for a failure; [`add_result`](ErrorCollector::add_result) keeps the
/// convenience.
///
/// # Examples
///
/// ```
/// use racekit::error_collector::ErrorCollector;
/// use racekit::sync::{thread, Arc};
///
/// let collector = Arc::new(ErrorCollector::new());
/// let workers: Vec<_> = (0..3)
///     .map(|i| {
///         let collector = collector.clone();
///         thread::spawn(move || {
///             let outcome: Result<(), String> = if i == 1 { Err(format!("worker {i} failed")) } else { Ok(()) };
///             collector.add_result(outcome);
///         })
///     })
///     .collect();
/// for worker in workers {
///     worker.join().unwrap();
/// }
/// assert_eq!(collector.errors(), vec!["worker 1 failed".to_string()]);
/// ```
#[derive(Debug, Default)]
pub struct ErrorCollector<E> {
    errors: Mutex<Vec<E>>,
}

impl<E> ErrorCollector<E> {
    /// An empty collector.
    pub fn new() -> Self {
        ErrorCollector { errors: Mutex::new(Vec::new()) }
    }

    /// Stores `error`.
    pub fn add(&self, error: E) {
        mutation_point!("error_collector.add.split_update", self.errors.lock().push(error), {
            let mut list = std::mem::take(&mut *self.errors.lock());
            list.push(error);
            *self.errors.lock() = list
        });
    }

    /// Stores the error of `result`, if it is one; returns the value otherwise.
    pub fn add_result<T>(&self, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(error);
                None
            }
        }
    }

    /// Whether any error was stored.
    pub fn has_errors(&self) -> bool {
        !self.errors.lock().is_empty()
    }

    /// How many errors were stored.
    pub fn len(&self) -> usize {
        self.errors.lock().len()
    }

    /// Whether no error was stored.
    pub fn is_empty(&self) -> bool {
        !self.has_errors()
    }

    /// A copy of the stored errors, in the order they were added.
    pub fn errors(&self) -> Vec<E>
    where
        E: Clone,
    {
        self.errors.lock().clone()
    }

    /// `Ok` if nothing was stored, otherwise every error at once.
    pub fn into_result(self) -> Result<(), Errors<E>> {
        let errors = self.errors.into_inner();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Errors(errors))
        }
    }
}

/// Several errors from concurrent operations; displays as a count and each error on its
/// own line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Errors<E>(pub Vec<E>);

impl<E: fmt::Display> fmt::Display for Errors<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error(s):", self.0.len())?;
        for error in &self.0 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for Errors<E> {}
