//! Mutation points: deliberate, named bugs in the code that ships, switched on one check at
//! a time, so a model can show that it catches them.
//!
//! A mutant written as a look-alike copy of a pattern proves that the model catches the
//! copy. A mutation point is a bug planted in the real type, one expression wide:
//!
//! ```text
//! pub fn len(&self) -> usize {
//!     mutation_point!("queue.len.torn_counters", self.state.lock().items.len(), /* the bug */)
//! }
//! ```
//!
//! and a model selects it by name with [`Model::mutant`](crate::model::Model::mutant):
//!
//! ```
//! use racekit::model::Model;
//! use racekit::queue::BoundedQueue;
//!
//! // The same body, with the point switched to its mutated code for this check only.
//! let report = Model::named("queue len, mutated").mutant("queue.len.torn_counters").check(|| {
//!     let queue = BoundedQueue::new(2).unwrap();
//!     queue.try_push(1).unwrap();
//!     assert_eq!(queue.len(), 1); // alone, the torn read still reads 1
//! });
//! assert!(report.schedules > 0);
//! ```
//!
//! # Contract
//!
//! - **Release builds run the correct code, at no cost.** Unless the crate is compiled with
//!   `debug_assertions` (tests, `cargo build`) or for a model checker (`--cfg racekit_loom`,
//!   `--cfg racekit_shuttle`), `mutation_point!` expands to its correct expression and
//!   nothing else: benches and `--release` binaries never test a selection.
//! - **Per check, never process-wide.** A selection belongs to the check that made it: it
//!   is installed in that check's context at the start of every run of the body, and every
//!   thread and task spawned through [`crate::sync`] inherits it. A check running
//!   concurrently in another test (or the same code outside any check) runs the correct
//!   code. While no check has a selection, a point costs one relaxed atomic load.
//! - **Both expressions type-check in every build.** Each point holds a correct and a
//!   mutated expression of the same type; the mutated one must compile wherever the point
//!   is compiled, so a refactor of the code that ships cannot silently remove a mutant.
//! - **Every point is in the [`CATALOG`].** The macro checks at compile time that its name
//!   is listed; [`Model::mutant`](crate::model::Model::mutant) refuses (panics, like an
//!   invalid setting) a name the catalog does not list, so a typo cannot make a mutant
//!   "escape" by never being switched on.
//! - **Names** are `<pattern>.<operation>.<what is wrong>`, lowercase, dot-separated.
//! - **One expression, one line where it fits.** A point wraps the smallest expression
//!   whose mutation is the bug; the surrounding code stays as it ships.
//!
//! # Invariants
//!
//! `SELECTING` counts the checks that currently have a selection; it is raised before a
//! check's first run and lowered after its last, so a point that reads zero can take the
//! correct branch without looking at its thread's context.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One mutation point: its name and the bug it plants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MutationPoint {
    /// `<pattern>.<operation>.<what is wrong>`.
    pub name: &'static str,
    /// The bug, in a sentence.
    pub bug: &'static str,
}

/// Every mutation point in the crate, one list per pattern (each pattern's module keeps its
/// own `MUTATION_POINTS` next to the code it plants them in). A `mutation_point!` whose name
/// is not listed does not compile.
pub const CATALOG: &[&[MutationPoint]] = &[
    crate::queue::MUTATION_POINTS,
    crate::error_collector::MUTATION_POINTS,
    crate::bounded_slice::MUTATION_POINTS,
    crate::log_store::MUTATION_POINTS,
    crate::pool::MUTATION_POINTS,
    crate::stopper::MUTATION_POINTS,
    crate::event_bus::MUTATION_POINTS,
    crate::process::MUTATION_POINTS,
    crate::lifecycle::MUTATION_POINTS,
    crate::retry::MUTATION_POINTS,
];

/// Every mutation point in the crate, in [`CATALOG`] order.
pub fn points() -> impl Iterator<Item = &'static MutationPoint> {
    CATALOG.iter().flat_map(|points| points.iter())
}

/// Whether `name` is in the [`CATALOG`] (a `const fn`: the macro checks it at compile time).
pub const fn is_cataloged(name: &str) -> bool {
    let mut list = 0;
    while list < CATALOG.len() {
        let mut index = 0;
        while index < CATALOG[list].len() {
            if str_eq(CATALOG[list][index].name, name) {
                return true;
            }
            index += 1;
        }
        list += 1;
    }
    false
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut index = 0;
    while index < a.len() {
        if a[index] != b[index] {
            return false;
        }
        index += 1;
    }
    true
}

/// Checks that currently have a selection installed (see the module's invariants). A std
/// atomic, not the facade's: it is harness state read by every mutation point, and a facade
/// atomic would add a scheduling point (and, on real threads, a perturbation) to the code
/// under test that the shipped build does not have.
static SELECTING: AtomicUsize = AtomicUsize::new(0);

/// The mutation points one check switched on.
#[derive(Debug)]
pub(crate) struct Selection {
    names: Vec<String>,
}

impl Selection {
    /// A selection of catalogued names; `Err` names the first one the catalog lacks.
    pub(crate) fn new(names: Vec<String>) -> Result<Arc<Selection>, String> {
        match names.iter().find(|name| !is_cataloged(name)) {
            Some(unknown) => Err(unknown.clone()),
            None => Ok(Arc::new(Selection { names })),
        }
    }

    /// Marks the selection live for the duration of the returned guard (one check).
    pub(crate) fn activate(self: &Arc<Self>) -> Active {
        // Relaxed is enough: the selection itself travels through the check's context, which
        // the runner publishes to every thread of the run; this count only lets the idle
        // case skip the lookup.
        SELECTING.fetch_add(1, Ordering::Relaxed);
        Active
    }

    fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|selected| selected == name)
    }
}

/// Keeps [`SELECTING`] raised while a check with a selection runs.
#[derive(Debug)]
pub(crate) struct Active;

impl Drop for Active {
    fn drop(&mut self) {
        SELECTING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether the point `name` runs its mutated code on this thread: only when the check the
/// thread belongs to selected it. Used by `mutation_point!`; outside it, call it only to
/// build a point of your own.
#[doc(hidden)]
pub fn is_selected(name: &str) -> bool {
    if SELECTING.load(Ordering::Relaxed) == 0 {
        return false;
    }
    crate::model::context::current()
        .and_then(|context| context.mutants())
        .is_some_and(|selection| selection.contains(name))
}

/// `mutation_point!("pattern.operation.bug", correct, mutated)`: evaluates `correct`, or
/// `mutated` when the running check selected this point (see the [module docs](self) for
/// the contract). The name must be in [`CATALOG`].
macro_rules! mutation_point {
    ($name:literal, $correct:expr, $mutated:expr $(,)?) => {{
        const _: () =
            assert!($crate::mutation::is_cataloged($name), "add the mutation point to its pattern's MUTATION_POINTS");
        // `cfg!` is a constant: in a release build the condition is `false` and the branch
        // folds away, yet the mutated expression is still type- and borrow-checked.
        if cfg!(any(debug_assertions, racekit_loom, racekit_shuttle)) && $crate::mutation::is_selected($name) {
            $mutated
        } else {
            $correct
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_the_catalog_are_refused() {
        assert_eq!(Selection::new(vec!["queue.len.nonsense".into()]).unwrap_err(), "queue.len.nonsense");
        assert!(Selection::new(vec!["queue.len.torn_counters".into()]).is_ok());
    }

    #[test]
    fn catalog_names_are_unique_and_well_formed() {
        let all: Vec<_> = points().collect();
        for (index, point) in all.iter().enumerate() {
            assert_eq!(point.name.split('.').count(), 3, "{} is not <pattern>.<operation>.<bug>", point.name);
            assert!(point.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'), "{}", point.name);
            assert!(all[..index].iter().all(|other| other.name != point.name), "{} listed twice", point.name);
        }
    }

    #[test]
    fn a_point_outside_any_check_runs_the_correct_code() {
        assert_eq!(mutation_point!("queue.len.torn_counters", 1, 2), 1);
    }

    /// Runs a check (on its own OS thread) whose first run meets the other check's first
    /// run at `barrier` twice, around one evaluation of the point: both checks are live
    /// while each evaluates it.
    fn check_meeting(barrier: Arc<std::sync::Barrier>, mutant: bool) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let mut model = crate::model::Model::named("mutation isolation").iterations(5).preemption_bound(1);
            if mutant {
                model = model.mutant("queue.len.torn_counters");
            }
            let first = std::sync::atomic::AtomicBool::new(true);
            model.check(move || {
                let meet = first.swap(false, Ordering::SeqCst);
                if meet {
                    barrier.wait();
                }
                let value = mutation_point!("queue.len.torn_counters", "correct", "mutated");
                assert_eq!(value, if mutant { "mutated" } else { "correct" });
                if meet {
                    barrier.wait();
                }
            });
        })
    }

    #[test]
    fn a_selection_belongs_to_its_check_only() {
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let checks = [check_meeting(barrier.clone(), true), check_meeting(barrier, false)];
        for check in checks {
            check.join().expect("each check sees its own selection");
        }
    }

    #[test]
    #[should_panic(expected = "no mutation point is named `queue.len.nonsense`")]
    fn selecting_an_unknown_point_is_refused() {
        crate::model::Model::named("unknown mutant").mutant("queue.len.nonsense").check(|| {});
    }
}
