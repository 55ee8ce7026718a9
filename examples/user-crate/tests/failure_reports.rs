//! What a failing model reports about the user's own code: the cause (the first failure of
//! any thread, with its kind), the user's source lines, the interleaving that led there, and
//! objects numbered per run so a replay prints the same text.

mod common;

use common::failure_of;
use racekit::model::{FailureKind, Model};
use racekit::sync::{thread, Arc, Mutex, RaceCell};

/// The user's bug: a hit counter whose increment takes no lock.
struct Hits {
    count: RaceCell<u64>,
}

impl Hits {
    fn record(&self) {
        let seen = self.count.get();
        self.count.set(seen + 1);
    }
}

/// Both threads count hits with no lock; the body joins the other thread with `unwrap()`,
/// as most code does.
fn racing_hits() {
    let hits = Arc::new(Hits { count: RaceCell::new(0) });
    let other = {
        let hits = hits.clone();
        thread::spawn(move || {
            for _ in 0..10 {
                hits.record();
            }
        })
    };
    for _ in 0..10 {
        hits.record();
    }
    other.join().unwrap();
}

#[test]
fn a_data_race_in_a_spawned_thread_is_headlined_as_a_data_race_at_the_users_line() {
    let failure = failure_of(Model::named("racing hits"), racing_hits);
    assert_eq!(failure.kind, FailureKind::DataRace, "{failure}");
    // `Hits::record`, in this file: the user's line, not racekit's.
    assert!(failure.message.contains(file!()), "the message names the user's source file: {failure}");
    assert!(!failure.message.contains("race_cell.rs"), "{failure}");
    assert!(!failure.message.contains("unwrap()"), "the join's unwrap is not the headline: {failure}");
}

#[test]
fn a_spawned_threads_assertion_is_the_cause_and_the_join_unwrap_only_a_note() {
    let failure = failure_of(Model::named("failing worker"), || {
        let worker = thread::spawn(|| assert_eq!(1 + 1, 3, "the worker's own assertion"));
        worker.join().unwrap();
    });
    assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
    assert!(failure.message.contains("the worker's own assertion"), "{failure}");
    assert!(!failure.message.contains("called `Result::unwrap()`"), "{failure}");
}

#[test]
fn a_failure_prints_the_interleaving_as_a_table_of_the_users_lines() {
    let failure = failure_of(Model::named("racing hits, traced"), racing_hits);
    let text = failure.to_string();
    assert!(text.contains("step  thread"), "the trace table's header: {text}");
    let access = failure
        .trace
        .iter()
        .find(|step| step.at.starts_with(file!()) && (step.operation == "read" || step.operation == "write"))
        .unwrap_or_else(|| panic!("a cell access at the user's line is in the trace: {text}"));
    assert!(access.object.starts_with("cell #"), "{access:?}");
    assert!(failure.trace.iter().any(|step| step.thread == "thread 1"), "the spawned thread is named: {text}");
    if failure.trace[0].step == 1 {
        assert!(failure.trace.iter().any(|step| step.operation == "spawn" && step.thread == "main"), "{text}");
    }
}

/// Transfers between two accounts, each under its own lock, taken in opposite orders.
fn crossed_transfers() {
    let from = Arc::new(Mutex::new(10));
    let to = Arc::new(Mutex::new(0));
    let other = {
        let (from, to) = (from.clone(), to.clone());
        thread::spawn(move || {
            let mut from = from.lock();
            let mut to = to.lock();
            *from -= 1;
            *to += 1;
        })
    };
    {
        let mut to = to.lock();
        let mut from = from.lock();
        *to -= 1;
        *from += 1;
    }
    other.join().unwrap();
}

#[test]
fn a_lock_order_inversion_names_the_users_lines_and_numbers_locks_per_run() {
    let first = failure_of(Model::named("crossed transfers"), crossed_transfers);
    assert_eq!(first.kind, FailureKind::LockOrder, "{first}");
    assert!(first.message.contains("lock order inversion"), "{first}");
    assert!(first.message.contains(&format!("at {}:", file!())), "the user's lock calls: {first}");
    assert!(first.message.contains("lock #1") && first.message.contains("lock #2"), "{first}");
    // Locks are numbered per run (in the order the run first takes them), so the same
    // failure found again prints the same text however many locks the process made since.
    // (Real threads may find it from the other side: the model checkers' search repeats.)
    let again = failure_of(Model::named("crossed transfers"), crossed_transfers);
    if racekit::sync::Backend::CURRENT.is_model_checker() {
        assert_eq!(again.message, first.message);
    }
}

/// A test ported from loom or shuttle: the thread it starts is never joined.
fn detached_increment() {
    let counter = Arc::new(Mutex::new(0));
    let _detached = {
        let counter = counter.clone();
        thread::spawn(move || *counter.lock() += 1)
    };
    *counter.lock() += 1;
}

#[test]
fn an_unjoined_thread_is_a_leak_whose_message_names_the_option() {
    let failure = failure_of(Model::named("detached, strict"), detached_increment);
    assert_eq!(failure.kind, FailureKind::LeakedTasks, "{failure}");
    assert!(failure.message.contains("Model::join_detached()"), "{failure}");
}

#[test]
fn join_detached_waits_for_unjoined_threads_before_judging() {
    let report = Model::named("detached, waited for").join_detached().check(detached_increment);
    assert!(report.schedules > 1, "{report}");
}

#[test]
fn join_detached_still_fails_on_a_detached_threads_panic() {
    let failure = failure_of(Model::named("detached failure").join_detached(), || {
        let _detached = thread::spawn(|| panic!("the detached thread's bug"));
    });
    assert!(failure.message.contains("the detached thread's bug"), "{failure}");
}
