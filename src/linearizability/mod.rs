//! Linearizability checking: random concurrent scenarios of operations on an object, each
//! run under the build's backend, each history checked against a sequential
//! specification.
//!
//! An invariant catches the bugs its author thought of. A linearizability check asks one
//! question of every history instead: could these results have come from running the same
//! operations one at a time, in an order that respects which calls finished before which
//! began? Lost updates, stale or torn reads and wrong results all fail it, with no
//! assertion written for each. (The idea and the scenario shape come from Lincheck on the
//! JVM; the search from Wing and Gong, with Lowe's memoization, as in porcupine.)
//!
//! # How a check runs
//!
//! 1. You give a sequential [`Spec`] (a plain type with the same operations), a way to make
//!    the concurrent object, a way to apply an operation to it, and a proptest strategy for
//!    operations.
//! 2. proptest generates [`Scenario`]s: an initial sequential part, a parallel part (one
//!    list of operations per thread) and a final sequential part, sized by the builder.
//! 3. Each scenario is one [`Model`] check: the initial part runs on the main thread, the
//!    parallel part on facade threads (thread 0 on the main thread), the final part after
//!    they are joined. Every operation is stamped at invocation and response by a
//!    [`Recorder`]. loom explores every schedule within its bound, shuttle its schedule
//!    budget, real threads their runs.
//! 4. Every history the backend produces is checked with [`check_history`] (see its
//!    module for the algorithm, its complexity and its cut-offs). A history that is not
//!    linearizable fails that schedule, with the history as a table.
//! 5. proptest shrinks the failing scenario; the [`Violation`] shows the minimal scenario,
//!    its non-linearizable history (one column per thread, `@call..ret` stamps) and the
//!    command that reproduces it.
//!
//! Scenarios are generated from a fixed seed ([`DEFAULT_SEED`]
//! unless [`Linearizability::seed`] says otherwise), so the reproduce command meets the same
//! scenarios again; `PROPTEST_CASES` overrides the number of scenarios.
//!
//! # Examples
//!
//! ```
//! use proptest::prelude::*;
//! use racekit::linearizability::{Linearizability, Spec};
//! use racekit::model::Model;
//! use racekit::sync::{atomic::{AtomicU32, Ordering}};
//!
//! /// A counter, one operation at a time.
//! #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
//! struct Counter(u32);
//!
//! #[derive(Clone, Debug)]
//! enum Op { Increment, Get }
//!
//! impl Spec for Counter {
//!     type Op = Op;
//!     type Ret = u32;
//!     fn apply(&mut self, op: &Op) -> u32 {
//!         match op {
//!             Op::Increment => { self.0 += 1; self.0 }
//!             Op::Get => self.0,
//!         }
//!     }
//! }
//!
//! let summary = Linearizability::new(
//!     Model::named("atomic counter").preemption_bound(1).iterations(20),
//!     Counter::default(),
//!     || AtomicU32::new(0),
//!     |counter, op| match op {
//!         Op::Increment => counter.fetch_add(1, Ordering::SeqCst) + 1,
//!         Op::Get => counter.load(Ordering::SeqCst),
//!     },
//!     prop_oneof![Just(Op::Increment), Just(Op::Get)],
//! )
//! .threads(2..=2)
//! .operations_per_thread(1..=2)
//! .scenarios(4)
//! .check();
//! assert_eq!(summary.scenarios, 4);
//! ```

mod history;
mod search;

pub(crate) use history::table as plain_table;
pub use history::{render, Lane, Operation, Recorder, Witness};
pub use search::{check_history, HistoryError, Verdict, MAX_OPERATIONS, MAX_STATES};

use crate::model::{Failure, Model, DEFAULT_SEED};
use crate::sync::{thread, Arc};
use proptest::strategy::{BoxedStrategy, Strategy};
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::hash::Hash;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};
use thiserror::Error;

/// A sequential specification: the object's operations, one at a time.
///
/// `Hash` and `Eq` let the search recognise a state it has seen (see the [search's
/// complexity](check_history)); keep the state to what results can observe.
pub trait Spec: Clone + Debug + Eq + Hash + Send + Sync + 'static {
    /// An operation with its arguments.
    type Op: Clone + Debug + Send + Sync + 'static;
    /// What an operation returns.
    type Ret: Clone + Debug + PartialEq + Send + Sync + 'static;

    /// Runs `op` on this state and returns its result.
    fn apply(&mut self, op: &Self::Op) -> Self::Ret;

    /// The independent part of the object `op` touches, for P-compositional checking: when
    /// every operation of a history has a key, each key's operations are checked on their
    /// own, each from the initial state. Return keys only when operations on different
    /// keys touch disjoint parts of the state and never observe each other (a map's
    /// per-key operations; not its `len`). The default, `None`, checks the history whole.
    fn key(_op: &Self::Op) -> Option<u64> {
        None
    }
}

/// One generated scenario: an initial sequential part, one list of operations per thread,
/// a final sequential part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario<Op> {
    /// Run on the main thread before any thread starts.
    pub init: Vec<Op>,
    /// One list per thread, run concurrently.
    pub parallel: Vec<Vec<Op>>,
    /// Run on the main thread after every thread is joined.
    pub post: Vec<Op>,
}

impl<Op: Debug> Scenario<Op> {
    /// A short fingerprint of the scenario, stable across runs (FNV-1a of its `Debug`
    /// text): it names the scenario's model, so a replay token finds its own scenario.
    pub fn fingerprint(&self) -> String {
        let text = format!("{self:?}");
        let hash = text
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
        format!("{hash:016x}")
    }

    /// The scenario as a table, one column per thread.
    pub fn table(&self) -> String {
        let init = self.init.iter().map(|op| (Lane::Init, format!("{op:?}")));
        let threads = self.parallel.iter().enumerate();
        let parallel = threads.flat_map(|(t, ops)| ops.iter().map(move |op| (Lane::Thread(t), format!("{op:?}"))));
        let post = self.post.iter().map(|op| (Lane::Post, format!("{op:?}")));
        history::lanes_table(&init.chain(parallel).chain(post).collect::<Vec<_>>())
    }
}

/// The shape of generated scenarios.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Threads in the parallel part.
    pub threads: RangeInclusive<usize>,
    /// Operations per thread.
    pub operations_per_thread: RangeInclusive<usize>,
    /// Operations in the initial sequential part.
    pub init: RangeInclusive<usize>,
    /// Operations in the final sequential part.
    pub post: RangeInclusive<usize>,
}

impl Default for Shape {
    /// 2 to 3 threads of 1 to 3 operations, up to 2 initial and 1 final operation.
    fn default() -> Shape {
        Shape { threads: 2..=3, operations_per_thread: 1..=3, init: 0..=2, post: 0..=1 }
    }
}

/// The most threads a scenario may run: loom models five threads at most, counting the
/// main one.
pub const MAX_THREADS: usize = 4;

/// A scenario shape the checker cannot run.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ShapeError {
    /// Threads outside `1..=MAX_THREADS`.
    #[error(
        "scenarios need 1 to {MAX_THREADS} threads (loom models at most five, counting the main one); got {threads:?}"
    )]
    Threads {
        /// The range asked for.
        threads: RangeInclusive<usize>,
    },
    /// Some scenario would hold more operations than one history can.
    #[error(
        "the largest scenario holds {operations} operations but a history holds at most {MAX_OPERATIONS}: \
         lower the threads or operations per thread"
    )]
    TooLarge {
        /// Operations in the largest scenario.
        operations: usize,
    },
    /// An empty range.
    #[error("the range for {what} is empty ({range:?}): give it as min..=max with min <= max")]
    EmptyRange {
        /// Which range.
        what: &'static str,
        /// The range.
        range: RangeInclusive<usize>,
    },
}

impl Shape {
    /// Checks that scenarios of this shape can be run and checked.
    pub fn validate(&self) -> Result<(), ShapeError> {
        for (what, range) in [
            ("threads", &self.threads),
            ("operations per thread", &self.operations_per_thread),
            ("the initial part", &self.init),
            ("the final part", &self.post),
        ] {
            if range.is_empty() {
                return Err(ShapeError::EmptyRange { what, range: range.clone() });
            }
        }
        if *self.threads.start() == 0 || *self.threads.end() > MAX_THREADS {
            return Err(ShapeError::Threads { threads: self.threads.clone() });
        }
        // Saturating: ranges up to usize::MAX are refused as too large, not overflowed.
        let operations = self
            .threads
            .end()
            .saturating_mul(*self.operations_per_thread.end())
            .saturating_add(*self.init.end())
            .saturating_add(*self.post.end());
        if operations > MAX_OPERATIONS {
            return Err(ShapeError::TooLarge { operations });
        }
        Ok(())
    }
}

/// A linearizability check that failed.
#[derive(Clone, Debug)]
pub struct Violation {
    /// The minimal failing scenario (after shrinking), as a table.
    pub scenario: String,
    /// The check of that scenario: its message holds the non-linearizable history (or the
    /// panic, deadlock ... the scenario ran into), its replay the reproduce command.
    pub failure: Failure,
    /// Scenarios that passed before the first failing one.
    pub passed_before: u32,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "racekit: linearizability check failed after {} passing scenario(s); minimal failing scenario:",
            self.passed_before
        )?;
        writeln!(f, "{}", self.scenario)?;
        write!(f, "{}", self.failure)
    }
}

/// Why a linearizability check did not pass.
#[derive(Clone, Debug, Error)]
pub enum LinearizabilityError {
    /// The builder's shape cannot be run.
    #[error("racekit: {0}")]
    Shape(#[from] ShapeError),
    /// A scenario failed: a non-linearizable history, or a panic, deadlock or leak.
    #[error("{0}")]
    Violation(Box<Violation>),
    /// proptest gave up (for instance on too many rejected operations), or a scenario
    /// failed outside its check (invalid settings).
    #[error("racekit: scenario generation stopped: {0}")]
    Generation(String),
}

/// What a passing check explored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Scenarios checked.
    pub scenarios: u32,
    /// Schedules explored over every scenario (each one history checked).
    pub schedules: u64,
    /// Wall-clock time.
    pub elapsed: Duration,
}

// std's `Arc`: the closures are the check's configuration, not part of the model (and
// loom's `Arc` cannot hold a trait object).
type MakeObject<O> = std::sync::Arc<dyn Fn() -> O + Send + Sync>;
type ApplyOp<S, O> = std::sync::Arc<dyn Fn(&O, &<S as Spec>::Op) -> <S as Spec>::Ret + Send + Sync>;

/// A linearizability check of one concurrent object against its [`Spec`]: see the
/// [module documentation](self).
#[must_use = "a Linearizability check does nothing until `check` or `run` is called"]
pub struct Linearizability<S: Spec, O> {
    model: Model,
    spec: S,
    make: MakeObject<O>,
    apply: ApplyOp<S, O>,
    operations: BoxedStrategy<S::Op>,
    shape: Shape,
    scenarios: u32,
    seed: u64,
}

impl<S: Spec, O: Send + Sync + 'static> Linearizability<S, O> {
    /// A check of the objects `make` builds, each operation run by `apply`, against `spec`
    /// (the initial state), with operations drawn from `operations`. `model` sets the
    /// budgets and names the check; each scenario runs as that model, named after it.
    pub fn new(
        model: Model,
        spec: S,
        make: impl Fn() -> O + Send + Sync + 'static,
        apply: impl Fn(&O, &S::Op) -> S::Ret + Send + Sync + 'static,
        operations: impl Strategy<Value = S::Op> + 'static,
    ) -> Self {
        Linearizability {
            model,
            spec,
            make: std::sync::Arc::new(make),
            apply: std::sync::Arc::new(apply),
            operations: operations.boxed(),
            shape: Shape::default(),
            scenarios: 100,
            seed: DEFAULT_SEED,
        }
    }

    /// Threads in the parallel part (at most [`MAX_THREADS`]).
    pub fn threads(mut self, threads: RangeInclusive<usize>) -> Self {
        self.shape.threads = threads;
        self
    }

    /// Operations per thread.
    pub fn operations_per_thread(mut self, operations: RangeInclusive<usize>) -> Self {
        self.shape.operations_per_thread = operations;
        self
    }

    /// Operations in the initial sequential part.
    pub fn initial_operations(mut self, operations: RangeInclusive<usize>) -> Self {
        self.shape.init = operations;
        self
    }

    /// Operations in the final sequential part.
    pub fn final_operations(mut self, operations: RangeInclusive<usize>) -> Self {
        self.shape.post = operations;
        self
    }

    /// Scenarios to generate (default 100); `PROPTEST_CASES` overrides it.
    pub fn scenarios(mut self, scenarios: u32) -> Self {
        self.scenarios = scenarios;
        self
    }

    /// The seed scenario generation starts from.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Runs every scenario and panics with the [`Violation`] (or the shape error) if one fails.
    #[track_caller]
    pub fn check(self) -> Summary {
        self.run().unwrap_or_else(|error| panic!("{error}"))
    }

    /// Runs every scenario; a failing one is shrunk and returned.
    pub fn run(self) -> Result<Summary, LinearizabilityError> {
        self.shape.validate()?;
        let started = Instant::now();
        let cases = crate::model::settings::scenario_cases(self.scenarios)
            .map_err(|error| LinearizabilityError::Generation(error.to_string()))?;
        let config =
            Config { cases, failure_persistence: None, rng_seed: RngSeed::Fixed(self.seed), ..Config::default() };
        // proptest runs every case on this thread, one after another: plain cells suffice.
        let schedules = Cell::new(0u64);
        // Scenarios that passed before the first failure (shrinking runs more after it).
        let passed = Cell::new(0u32);
        let failures: RefCell<HashMap<String, Failure>> = RefCell::new(HashMap::new());
        let outcome =
            TestRunner::new(config).run(&self.scenario_strategy(), |scenario| match self.run_scenario(&scenario) {
                Ok(explored) => {
                    schedules.set(schedules.get() + explored);
                    if failures.borrow().is_empty() {
                        passed.set(passed.get() + 1);
                    }
                    Ok(())
                }
                Err(failure) => {
                    let reason = failure.message.clone();
                    failures.borrow_mut().insert(scenario.fingerprint(), failure);
                    Err(TestCaseError::fail(reason))
                }
            });
        let passed_before = passed.get();
        match outcome {
            Ok(()) => Ok(Summary { scenarios: cases, schedules: schedules.get(), elapsed: started.elapsed() }),
            Err(TestError::Fail(reason, minimal)) => {
                match failures.into_inner().remove(&minimal.fingerprint()) {
                    Some(failure) => Err(LinearizabilityError::Violation(Box::new(Violation {
                        scenario: minimal.table(),
                        failure,
                        passed_before,
                    }))),
                    // The scenario panicked outside its check (invalid settings, say).
                    None => Err(LinearizabilityError::Generation(reason.to_string())),
                }
            }
            Err(TestError::Abort(reason)) => Err(LinearizabilityError::Generation(reason.to_string())),
        }
    }

    /// Runs one scenario as a check of its own and returns the schedules it explored, or
    /// its failure.
    pub fn run_scenario(&self, scenario: &Scenario<S::Op>) -> Result<u64, Failure> {
        let base = self.model.explicit_name().unwrap_or("linearizability").to_owned();
        let model = self.model.clone().renamed(format!("{base}, scenario {}", scenario.fingerprint()));
        let (spec, make, apply) = (self.spec.clone(), self.make.clone(), self.apply.clone());
        let scenario = scenario.clone();
        model.run(move || run_and_check(&spec, &make, &apply, &scenario)).map(|report| report.schedules)
    }

    fn scenario_strategy(&self) -> BoxedStrategy<Scenario<S::Op>> {
        use proptest::collection::vec;
        let ops = self.operations.clone();
        let shape = self.shape.clone();
        (
            vec(ops.clone(), shape.init.clone()),
            vec(vec(ops.clone(), shape.operations_per_thread.clone()), shape.threads.clone()),
            vec(ops, shape.post.clone()),
        )
            .prop_map(|(init, parallel, post)| Scenario { init, parallel, post })
            .boxed()
    }
}

/// One run of a scenario's body: runs it, records the history, and panics with the table
/// if the history is not linearizable.
fn run_and_check<S: Spec, O: Send + Sync + 'static>(
    spec: &S,
    make: &MakeObject<O>,
    apply: &ApplyOp<S, O>,
    scenario: &Scenario<S::Op>,
) {
    let object = Arc::new(make());
    let recorder = std::sync::Arc::new(Recorder::new());
    let run_part = |lane: Lane, ops: &[S::Op]| -> Vec<Operation<S::Op, S::Ret>> {
        ops.iter().map(|op| recorder.record(lane, op.clone(), || apply(&object, op))).collect()
    };
    let mut history = run_part(Lane::Init, &scenario.init);
    let others: Vec<_> = scenario
        .parallel
        .iter()
        .enumerate()
        .skip(1)
        .map(|(thread, ops)| {
            let (object, recorder, apply, ops) = (object.clone(), recorder.clone(), apply.clone(), ops.clone());
            thread::spawn(move || {
                ops.iter()
                    .map(|op| recorder.record(Lane::Thread(thread), op.clone(), || apply(&object, op)))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    if let Some(ops) = scenario.parallel.first() {
        history.extend(run_part(Lane::Thread(0), ops));
    }
    for other in others {
        history.extend(other.join().expect("a scenario thread panicked"));
    }
    history.extend(run_part(Lane::Post, &scenario.post));
    match check_history(spec, &history) {
        Ok(Verdict::Linearizable { .. }) => {}
        Ok(Verdict::NotLinearizable(witness)) => {
            panic!(
                "not linearizable: no order of the operations explains every result\n{}",
                render(&history, Some(&witness))
            )
        }
        Err(error) => panic!("linearizability undecided: {error}\n{}", render(&history, None)),
    }
}

#[cfg(test)]
mod tests;
