//! Linearizability of the patterns' non-blocking operations: the bounded queue, the error
//! collector, the bounded slice, the log store's queries and the pool's statistics, each
//! against a sequential specification, over generated scenarios.
//!
//! Each pattern's check runs twice: on the code as it ships (it must pass), and with one
//! of its [mutation points](racekit::mutation) switched on, a one-expression bug that
//! splits one lock acquisition in two; the checker must then fail with a history that no
//! sequential order explains. Blocking operations stay out of these scenarios: a scenario
//! draws its operations at random, and a blocking push with no consumer left would be a
//! deadlock of the scenario, not of the queue.

use racekit::linearizability::{Linearizability, LinearizabilityError, Spec, Summary, Violation};
use racekit::model::{FailureKind, Model};
use std::collections::VecDeque;

use proptest::prelude::*;

/// Scenarios per check (the CI budget: seconds on every backend).
const SCENARIOS: u32 = 100;

/// The CI budget of one scenario: loom bound 1, 50 shuttle schedules or std runs.
fn budget(name: &str) -> Model {
    Model::named(name).preemption_bound(1).iterations(50)
}

/// The sequential bounded ring the bounded slice and the log store are both specified by:
/// the newest `capacity` items, the oldest evicted first, every add and eviction counted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct EvictingRing<T> {
    items: VecDeque<T>,
    added: u64,
    evicted: u64,
}

impl<T> Default for EvictingRing<T> {
    fn default() -> Self {
        EvictingRing { items: VecDeque::new(), added: 0, evicted: 0 }
    }
}

impl<T> EvictingRing<T> {
    /// Adds `item`, first evicting the oldest item when `capacity` are stored; returns it.
    fn push(&mut self, item: T, capacity: usize) -> Option<T> {
        self.added += 1;
        let evicted = if self.items.len() == capacity { self.items.pop_front() } else { None };
        self.evicted += u64::from(evicted.is_some());
        self.items.push_back(item);
        evicted
    }
}

/// A pattern's linearizability model, and the test that its mutation point breaks it: with
/// the mutant switched on, some scenario's history is not linearizable, and the violation
/// shows one of the `observers` operations.
macro_rules! linearizable_unless_mutated {
    ($sound:ident: $name:literal; $caught:ident: $mutant_name:literal, $mutant:literal, [$($observer:literal),+]) => {
        #[test]
        fn $sound() {
            check(budget($name)).unwrap_or_else(|error| panic!("{error}"));
        }

        #[test]
        #[cfg_attr(
            not(any(racekit_loom, racekit_shuttle)),
            ignore = "real threads find races by chance; the job runs this"
        )]
        fn $caught() {
            let model = budget($mutant_name).mutant($mutant);
            expect_not_linearizable(check(model), &[$($observer),+]);
        }
    };
}

/// The failure a mutant must produce: a non-linearizable history, as a table, refused at
/// one of `observers` (the operations that can see the bug), with a reproduce command.
#[track_caller]
fn expect_not_linearizable(result: Result<Summary, LinearizabilityError>, observers: &[&str]) -> Box<Violation> {
    let violation = match result {
        Err(LinearizabilityError::Violation(violation)) => violation,
        Ok(summary) => panic!("the mutant escaped: every history of {} scenarios was linearizable", summary.scenarios),
        Err(other) => panic!("the check failed for another reason: {other}"),
    };
    let message = &violation.failure.message;
    assert_eq!(violation.failure.kind, FailureKind::Panic, "{violation}");
    assert!(message.starts_with("not linearizable"), "{violation}");
    assert!(message.contains("\n| init / post ") && message.contains("| thread 0 "), "shown as a table: {violation}");
    let refused: Vec<&str> = message.lines().filter(|line| line.starts_with("cannot come next: ")).collect();
    assert!(
        refused.iter().any(|line| observers.iter().any(|op| line.contains(op))),
        "refused at one of {observers:?}: {violation}"
    );
    assert!(violation.failure.replay.command.contains("RACEKIT_REPLAY="), "{violation}");
    violation
}

mod queue {
    use super::*;
    use racekit::queue::BoundedQueue;

    const CAPACITY: usize = 2;

    #[derive(Clone, Debug)]
    pub enum Op {
        TryPush(u8),
        TryPop,
        Len,
    }

    #[derive(Clone, Debug, PartialEq)]
    pub enum Ret {
        Pushed(bool),
        Popped(Option<u8>),
        Len(usize),
    }

    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct QueueSpec(VecDeque<u8>);

    impl Spec for QueueSpec {
        type Op = Op;
        type Ret = Ret;
        fn apply(&mut self, op: &Op) -> Ret {
            match op {
                Op::TryPush(item) if self.0.len() < CAPACITY => {
                    self.0.push_back(*item);
                    Ret::Pushed(true)
                }
                Op::TryPush(_) => Ret::Pushed(false),
                Op::TryPop => Ret::Popped(self.0.pop_front()),
                Op::Len => Ret::Len(self.0.len()),
            }
        }
    }

    pub fn check(model: Model, scenarios: u32) -> Result<Summary, LinearizabilityError> {
        Linearizability::new(
            model,
            QueueSpec::default(),
            || BoundedQueue::new(CAPACITY).expect("a valid capacity"),
            |queue, op| match op {
                Op::TryPush(item) => Ret::Pushed(queue.try_push(*item).is_ok()),
                Op::TryPop => Ret::Popped(queue.try_pop().ok()),
                Op::Len => Ret::Len(queue.len()),
            },
            prop_oneof![(0..4u8).prop_map(Op::TryPush), Just(Op::TryPop), Just(Op::Len)],
        )
        .scenarios(scenarios)
        .run()
    }

    #[test]
    fn try_push_try_pop_and_len_are_linearizable() {
        let summary = check(budget("queue linearizability"), SCENARIOS).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(summary.scenarios, SCENARIOS);
        assert!(summary.schedules > 100, "every scenario explored more than one schedule");
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn torn_len_is_caught() {
        let model = budget("queue linearizability, torn len").mutant("queue.len.torn_counters");
        expect_not_linearizable(check(model, SCENARIOS), &["Len"]);
    }
}

mod error_collector {
    use super::*;
    use racekit::error_collector::ErrorCollector;

    #[derive(Clone, Debug)]
    pub enum Op {
        Add(u8),
        Len,
        Errors,
    }

    #[derive(Clone, Debug, PartialEq)]
    pub enum Ret {
        Added,
        Len(usize),
        Errors(Vec<u8>),
    }

    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct CollectorSpec(Vec<u8>);

    impl Spec for CollectorSpec {
        type Op = Op;
        type Ret = Ret;
        fn apply(&mut self, op: &Op) -> Ret {
            match op {
                Op::Add(error) => {
                    self.0.push(*error);
                    Ret::Added
                }
                Op::Len => Ret::Len(self.0.len()),
                Op::Errors => Ret::Errors(self.0.clone()),
            }
        }
    }

    fn check(model: Model) -> Result<Summary, LinearizabilityError> {
        Linearizability::new(
            model,
            CollectorSpec::default(),
            ErrorCollector::<u8>::new,
            |collector, op| match op {
                Op::Add(error) => {
                    collector.add(*error);
                    Ret::Added
                }
                Op::Len => Ret::Len(collector.len()),
                Op::Errors => Ret::Errors(collector.errors()),
            },
            prop_oneof![(0..4u8).prop_map(Op::Add), Just(Op::Len), Just(Op::Errors)],
        )
        .scenarios(SCENARIOS)
        .run()
    }

    linearizable_unless_mutated! {
        add_len_and_errors_are_linearizable: "error collector linearizability";
        split_add_is_caught: "error collector linearizability, split add", "error_collector.add.split_update", ["Len", "Errors"]
    }
}

mod bounded_slice {
    use super::*;
    use racekit::bounded_slice::BoundedSlice;

    const CAPACITY: usize = 2;

    #[derive(Clone, Debug)]
    pub enum Op {
        Add(u8),
        Snapshot,
        Accounting,
    }

    #[derive(Clone, Debug, PartialEq)]
    pub enum Ret {
        Evicted(Option<u8>),
        Snapshot(Vec<u8>),
        /// `(added, stored, evicted)`.
        Accounting(u64, usize, u64),
    }

    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SliceSpec(EvictingRing<u8>);

    impl Spec for SliceSpec {
        type Op = Op;
        type Ret = Ret;
        fn apply(&mut self, op: &Op) -> Ret {
            match op {
                Op::Add(item) => Ret::Evicted(self.0.push(*item, CAPACITY)),
                Op::Snapshot => Ret::Snapshot(self.0.items.iter().copied().collect()),
                Op::Accounting => Ret::Accounting(self.0.added, self.0.items.len(), self.0.evicted),
            }
        }
    }

    fn check(model: Model) -> Result<Summary, LinearizabilityError> {
        Linearizability::new(
            model,
            SliceSpec::default(),
            || BoundedSlice::new(CAPACITY).expect("a valid capacity"),
            |slice, op| match op {
                Op::Add(item) => Ret::Evicted(slice.add(*item)),
                Op::Snapshot => Ret::Snapshot(slice.snapshot()),
                Op::Accounting => {
                    let (added, stored, evicted) = slice.accounting();
                    Ret::Accounting(added, stored, evicted)
                }
            },
            prop_oneof![(0..4u8).prop_map(Op::Add), Just(Op::Snapshot), Just(Op::Accounting)],
        )
        .scenarios(SCENARIOS)
        .run()
    }

    linearizable_unless_mutated! {
        add_snapshot_and_accounting_are_linearizable: "bounded slice linearizability";
        torn_accounting_is_caught: "bounded slice linearizability, torn accounting", "bounded_slice.accounting.torn", ["Accounting"]
    }
}

mod log_store {
    use super::*;
    use racekit::log_store::{LogStore, LogStoreConfig};
    use racekit::output::{OutputLine, OutputStream};
    use racekit::time::{Clock, ManualClock};
    use std::time::Instant;

    const MAX_ENTRIES: usize = 2;
    const PROCESSES: [&str; 2] = ["web", "db"];

    #[derive(Clone, Debug)]
    pub enum Op {
        /// Adds line `.1` of process `PROCESSES[.0]`.
        Add(usize, u8),
        Last(usize),
        ByProcess(usize),
        /// `(added, stored, evicted)`.
        Stats,
    }

    /// A stored entry as the queries show it: `(seq, process, line)`.
    type Entry = (u64, usize, u8);

    #[derive(Clone, Debug, PartialEq)]
    pub enum Ret {
        Seq(u64),
        Entries(Vec<Entry>),
        Stats(u64, usize, u64),
    }

    /// The ring of entries; an entry's sequence number is the count of adds before it.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct StoreSpec(EvictingRing<Entry>);

    impl Spec for StoreSpec {
        type Op = Op;
        type Ret = Ret;
        fn apply(&mut self, op: &Op) -> Ret {
            match op {
                Op::Add(process, line) => {
                    let seq = self.0.added;
                    self.0.push((seq, *process, *line), MAX_ENTRIES);
                    Ret::Seq(seq)
                }
                Op::Last(n) => {
                    let entries = &self.0.items;
                    Ret::Entries(entries.iter().skip(entries.len().saturating_sub(*n)).copied().collect())
                }
                Op::ByProcess(process) => {
                    Ret::Entries(self.0.items.iter().filter(|(_, p, _)| p == process).copied().collect())
                }
                Op::Stats => Ret::Stats(self.0.added, self.0.items.len(), self.0.evicted),
            }
        }
    }

    /// The store and the one timestamp every line carries.
    pub struct Store {
        store: LogStore,
        at: Instant,
    }

    fn entries(found: Vec<racekit::log_store::LogEntry>) -> Ret {
        let process = |name: &str| PROCESSES.iter().position(|p| *p == name).expect("a known process");
        Ret::Entries(found.iter().map(|e| (e.seq, process(&e.process), e.line.parse().expect("a number"))).collect())
    }

    fn check(model: Model) -> Result<Summary, LinearizabilityError> {
        Linearizability::new(
            model,
            StoreSpec::default(),
            || Store {
                store: LogStore::new(LogStoreConfig { max_entries: MAX_ENTRIES, ..LogStoreConfig::default() })
                    .expect("a valid configuration"),
                at: ManualClock::new().now(),
            },
            |store, op| match op {
                Op::Add(process, line) => {
                    let line = OutputLine {
                        process: PROCESSES[*process].into(),
                        stream: OutputStream::Stdout,
                        at: store.at,
                        line: line.to_string(),
                    };
                    Ret::Seq(store.store.add(line).expect("a line that fits"))
                }
                Op::Last(n) => entries(store.store.last(*n)),
                Op::ByProcess(process) => entries(store.store.by_process(PROCESSES[*process])),
                Op::Stats => {
                    let stats = store.store.stats();
                    Ret::Stats(stats.added, stats.stored, stats.evicted)
                }
            },
            prop_oneof![
                (0..2usize, 0..4u8).prop_map(|(process, line)| Op::Add(process, line)),
                (1..=3usize).prop_map(Op::Last),
                (0..2usize).prop_map(Op::ByProcess),
                Just(Op::Stats),
            ],
        )
        .scenarios(SCENARIOS)
        .run()
    }

    linearizable_unless_mutated! {
        adds_and_queries_are_linearizable: "log store linearizability";
        last_with_a_stale_count_is_caught: "log store linearizability, stale count", "log_store.last.stale_count", ["Last"]
    }
}

mod pool_stats {
    use super::*;
    use racekit::pool::{BlockingConnector, Connector, Pool, PooledConnection};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex as StdMutex;

    /// Connections made before the scenario and returned idle.
    const WARM: usize = 2;
    /// More than any scenario asks for, so a get never waits.
    const MAX_OPEN: usize = 32;

    /// Connections are numbers; connecting never fails.
    #[derive(Debug, Default)]
    pub struct Numbers(AtomicU64);

    impl Connector for Numbers {
        type Connection = u64;
        type Error = std::io::Error;
    }

    impl BlockingConnector for Numbers {
        fn connect(&self) -> Result<u64, std::io::Error> {
            // A std atomic: the connector observes, it is not part of what is checked.
            Ok(self.0.fetch_add(1, Ordering::Relaxed))
        }
    }

    #[derive(Clone, Debug)]
    pub enum Op {
        /// Checks a connection out and keeps it.
        Get,
        /// `(idle, in_use)`.
        Stats,
    }

    #[derive(Clone, Debug, PartialEq)]
    pub enum Ret {
        Got(bool),
        Stats(usize, usize),
    }

    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    pub struct PoolSpec {
        idle: usize,
        in_use: usize,
    }

    impl Spec for PoolSpec {
        type Op = Op;
        type Ret = Ret;
        fn apply(&mut self, op: &Op) -> Ret {
            match op {
                Op::Get => {
                    self.idle = self.idle.saturating_sub(1);
                    self.in_use += 1;
                    Ret::Got(true)
                }
                Op::Stats => Ret::Stats(self.idle, self.in_use),
            }
        }
    }

    /// The pool and the connections the scenario checked out. The list is a std mutex held
    /// only to push (never across a pool call), so it adds no interleaving of its own; the
    /// connections go back when the object is dropped, after the history.
    pub struct Held {
        // Dropped first: the connections go back before the pool goes.
        leases: StdMutex<Vec<PooledConnection<Numbers>>>,
        pool: Pool<Numbers>,
    }

    fn check(model: Model) -> Result<Summary, LinearizabilityError> {
        Linearizability::new(
            model,
            PoolSpec { idle: WARM, in_use: 0 },
            || {
                let pool = Pool::new(Numbers::default(), MAX_OPEN).expect("a valid configuration");
                let warm: Vec<_> = (0..WARM).map(|_| pool.get().expect("a connection")).collect();
                drop(warm);
                Held { leases: StdMutex::new(Vec::new()), pool }
            },
            |held, op| match op {
                Op::Get => {
                    let lease = held.pool.get();
                    let got = lease.is_ok();
                    if let Ok(lease) = lease {
                        held.leases.lock().unwrap_or_else(|e| e.into_inner()).push(lease);
                    }
                    Ret::Got(got)
                }
                Op::Stats => {
                    let stats = held.pool.stats();
                    Ret::Stats(stats.idle, stats.in_use)
                }
            },
            prop_oneof![Just(Op::Get), Just(Op::Stats)],
        )
        .scenarios(SCENARIOS)
        .run()
    }

    linearizable_unless_mutated! {
        gets_and_stats_are_linearizable: "pool stats linearizability";
        torn_stats_are_caught: "pool stats linearizability, torn idle", "pool.stats.torn_idle", ["Stats"]
    }
}
