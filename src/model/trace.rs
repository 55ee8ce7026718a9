//! The interleaving trace: what each thread of one execution did through the facade.
//!
//! Every facade operation made inside a check (lock, unlock, wait, notify, spawn, join,
//! park, unpark, [`choose`](super::choose), a [`RaceCell`](crate::sync::RaceCell) access,
//! and whatever else calls [`record`]) appends one [`TraceStep`] to the run's buffer. A
//! failure carries the last steps of the failing execution and prints them as a table;
//! a replay carries every step it kept.
//!
//! A facade primitive records an operation with one call, before or after the backend
//! operation as the table should read: `trace::record("load", Some((ObjectKind::X, id)),
//! Location::caller())` from a `#[track_caller]` method, where `id` comes from
//! [`new_object_id`] when the object is created (add a kind to [`ObjectKind`] for a new sort
//! of object), or `None` for an operation on no object.
//!
//! # Invariants
//!
//! - Outside a check nothing is recorded: the cost is one thread-local read per operation.
//! - The buffer is bounded ([`KEPT_STEPS`], or [`KEPT_STEPS_ON_REPLAY`] when replaying): the
//!   oldest steps are dropped first, and the step numbers keep counting, so a table that
//!   starts at step 412 says that 411 steps came before it.
//! - Objects and threads are numbered per run, in the order the run first meets them, so a
//!   replay of a failure prints the same names as the failure did.
//! - The state is plain `std` (the harness observing the model): recording is never a
//!   scheduling point.

#[cfg(not(racekit_shuttle))]
use crate::sync::thread::ThreadId;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

/// Steps a failure keeps from the failing execution (the last ones).
pub const KEPT_STEPS: usize = 40;

/// Steps a replay keeps: enough for the whole execution of a model-sized body.
pub const KEPT_STEPS_ON_REPLAY: usize = 10_000;

/// One facade operation of a failing execution, as the trace table prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    /// Position in the execution, counting from 1.
    pub step: u64,
    /// The thread that made it: its name if it was spawned with one, `main` for the body,
    /// `thread N` for the N-th other thread the run met.
    pub thread: String,
    /// What it did (`lock`, `unlock`, `wait`, `notify_one`, `spawn`, `join`, `read`, ...).
    pub operation: String,
    /// What it did it to (`lock #1`, `cell #2`, `thread 1`), numbered per run; empty for
    /// operations on no object (`yield`, `choose`).
    pub object: String,
    /// Where in the caller's source it was made (`file:line`).
    pub at: String,
}

/// The kind of facade object an operation acts on (the name the trace and the messages
/// use for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ObjectKind {
    Lock,
    Cell,
    Thread,
}

impl ObjectKind {
    fn word(self) -> &'static str {
        match self {
            ObjectKind::Lock => "lock",
            ObjectKind::Cell => "cell",
            ObjectKind::Thread => "thread",
        }
    }
}

/// A facade object: its kind and its process-wide identity (from [`new_object_id`]).
pub(crate) type Object = (ObjectKind, u64);

static NEXT_OBJECT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh process-wide identity for a facade object; the trace renumbers them per run.
pub(crate) fn new_object_id() -> u64 {
    NEXT_OBJECT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A thread as the harness keys it: shuttle's task number under shuttle (read without
/// building a `Thread`, which copies the thread's name), the facade's [`ThreadId`]
/// elsewhere.
#[cfg(racekit_shuttle)]
pub(crate) type ThreadKey = usize;
/// A thread as the harness keys it: shuttle's task number under shuttle, the facade's
/// [`ThreadId`] elsewhere.
#[cfg(not(racekit_shuttle))]
pub(crate) type ThreadKey = ThreadId;

/// The calling thread's key (see [`ThreadKey`]).
pub(crate) fn current_thread() -> ThreadKey {
    #[cfg(racekit_shuttle)]
    {
        usize::from(shuttle::current::me())
    }
    #[cfg(not(racekit_shuttle))]
    {
        crate::sync::thread::current_id()
    }
}

/// Records one facade operation of the calling thread in its check's trace. Does nothing
/// outside a check. `object` is the object acted on, if any.
///
/// This is the one function every facade primitive calls.
#[inline]
pub(crate) fn record(operation: &'static str, object: Option<Object>, at: &'static Location<'static>) {
    if super::context::any_alive() {
        record_in_check(operation, object, at);
    }
}

#[inline(never)]
fn record_in_check(operation: &'static str, object: Option<Object>, at: &'static Location<'static>) {
    super::context::with_current(|context| {
        let thread = current_thread();
        context.trace().push(operation, object, thread, at);
    });
}

/// Names the calling thread, a facade thread spawned as `thread` (an id from
/// [`new_object_id`]), in its check's trace, and records that it started.
pub(crate) fn thread_started(thread: u64, at: &'static Location<'static>) {
    super::context::with_current(|context| {
        let me = current_thread();
        let (_, name) = crate::sync::thread::current_label();
        let mut trace = context.trace();
        trace.thread_started((me, name), thread);
        trace.push("start", Some((ObjectKind::Thread, thread)), me, at);
    });
}

/// The name the calling thread's run gives `thread` (`a thread` if the run has not met it).
#[cfg(racekit_shuttle)]
pub(crate) fn name_of(thread: ThreadKey) -> String {
    let name = super::context::with_current(|context| context.trace().name_of(thread)).flatten();
    name.unwrap_or_else(|| "a thread".to_owned())
}

/// A thread's identity and name, as the backend reports them.
type ThreadLabel = (ThreadKey, Option<String>);

/// A thread's name in a run, formatted only when a message or the table prints it.
#[derive(Debug)]
enum ThreadName {
    /// The body's own thread.
    Main,
    /// A thread met before it started through the facade: the run's `n`-th thread.
    Unnamed(usize),
    /// A facade thread spawned without a name: its per-run thread number.
    Numbered(u64),
    /// The name it was spawned with.
    Given(String),
}

impl fmt::Display for ThreadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadName::Main => f.write_str("main"),
            ThreadName::Unnamed(seen) => write!(f, "unnamed {seen}"),
            ThreadName::Numbered(number) => write!(f, "thread {number}"),
            ThreadName::Given(name) => f.write_str(name),
        }
    }
}

/// A map keyed by harness identities (object and thread identities, drawn by the harness or
/// the checker, never by the program under test): hashed with rustc's Fx hash, one multiply
/// per word, instead of SipHash, which guards against chosen keys that cannot occur here.
pub(crate) type IdMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// One step as recorded: formatted only when a failure asks for the table.
#[derive(Debug)]
struct RawStep {
    step: u64,
    thread: ThreadKey,
    operation: &'static str,
    /// The object's kind and per-run number.
    object: Option<(ObjectKind, u64)>,
    at: &'static Location<'static>,
}

/// The trace of one run of the body.
#[derive(Debug)]
pub(crate) struct Trace {
    steps: VecDeque<RawStep>,
    capacity: usize,
    recorded: u64,
    /// Set at the run's first failure: on real threads the other threads run on, and what
    /// they do after it would push the failing steps out of the buffer.
    frozen: bool,
    numbers: IdMap<Object, u64>,
    /// The last number drawn per kind (indexed by [`ObjectKind::index`]).
    next_number: [u64; ObjectKind::COUNT],
    threads: IdMap<ThreadKey, ThreadName>,
}

impl ObjectKind {
    const COUNT: usize = 3;

    fn index(self) -> usize {
        match self {
            ObjectKind::Lock => 0,
            ObjectKind::Cell => 1,
            ObjectKind::Thread => 2,
        }
    }
}

impl Trace {
    pub(crate) fn new(capacity: usize) -> Trace {
        Trace {
            steps: VecDeque::with_capacity(capacity.min(256)),
            capacity,
            recorded: 0,
            frozen: false,
            numbers: IdMap::default(),
            next_number: [0; ObjectKind::COUNT],
            threads: IdMap::default(),
        }
    }

    /// Empties the trace for the next run, keeping what it allocated (a model checker runs
    /// thousands of executions, each starting from an empty trace).
    #[cfg(any(racekit_loom, racekit_shuttle, test))]
    pub(crate) fn clear(&mut self) {
        self.steps.clear();
        self.recorded = 0;
        self.frozen = false;
        self.numbers.clear();
        self.next_number = [0; ObjectKind::COUNT];
        self.threads.clear();
    }

    /// The per-run number of `object`, drawn the first time the run meets it.
    pub(crate) fn number(&mut self, object: Object) -> u64 {
        let next = &mut self.next_number[object.0.index()];
        *self.numbers.entry(object).or_insert_with(|| {
            *next += 1;
            *next
        })
    }

    /// Registers `thread` if the run has not met it yet, and returns it.
    pub(crate) fn thread(&mut self, thread: ThreadKey) -> ThreadKey {
        let seen = self.threads.len();
        // The body's own thread is the first the run meets: `main`, whatever its backend
        // calls it. Spawned threads are named when they start (see `thread_started`).
        self.threads.entry(thread).or_insert(if seen == 0 { ThreadName::Main } else { ThreadName::Unnamed(seen) });
        thread
    }

    /// The name of `thread` in this run (registering it if the run has not met it yet), as
    /// messages name it.
    pub(crate) fn thread_name(&mut self, thread: ThreadKey) -> String {
        let thread = self.thread(thread);
        self.threads[&thread].to_string()
    }

    /// The name of `thread` in this run, if the run has met it.
    #[cfg(racekit_shuttle)]
    fn name_of(&self, thread: ThreadKey) -> Option<String> {
        self.threads.get(&thread).map(ToString::to_string)
    }

    fn thread_started(&mut self, (key, name): ThreadLabel, thread: u64) {
        let label = match name {
            Some(name) => ThreadName::Given(name),
            None => ThreadName::Numbered(self.number((ObjectKind::Thread, thread))),
        };
        self.threads.insert(key, label);
    }

    fn push(
        &mut self,
        operation: &'static str,
        object: Option<Object>,
        thread: ThreadKey,
        at: &'static Location<'static>,
    ) {
        if self.frozen {
            return;
        }
        self.recorded += 1;
        let thread = self.thread(thread);
        let object = object.map(|object| (object.0, self.number(object)));
        if self.steps.len() == self.capacity {
            self.steps.pop_front();
        }
        self.steps.push_back(RawStep { step: self.recorded, thread, operation, object, at });
    }

    /// Stops recording: the run has failed.
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    pub(crate) fn freeze(&mut self) {
        self.frozen = true;
    }

    /// The steps kept, oldest first.
    pub(crate) fn steps(&self) -> Vec<TraceStep> {
        let object = |object: Option<(ObjectKind, u64)>| match object {
            Some((ObjectKind::Thread, number)) => format!("thread {number}"),
            Some((kind, number)) => format!("{} #{number}", kind.word()),
            None => String::new(),
        };
        self.steps
            .iter()
            .map(|raw| TraceStep {
                step: raw.step,
                thread: self.threads.get(&raw.thread).map(ToString::to_string).unwrap_or_default(),
                operation: raw.operation.to_owned(),
                object: object(raw.object),
                at: format!("{}:{}", raw.at.file(), raw.at.line()),
            })
            .collect()
    }
}

/// The steps as a table, one row per step (what a failure prints).
pub(crate) struct Table<'a>(pub &'a [TraceStep]);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = |column: fn(&TraceStep) -> &str, title: &str| {
            self.0.iter().map(|s| column(s).len()).chain([title.len()]).max().unwrap_or(0)
        };
        let thread = width(|s| &s.thread, "thread");
        let operation = width(|s| &s.operation, "operation");
        let object = width(|s| &s.object, "object");
        let step = self.0.last().map_or(4, |s| s.step.to_string().len().max(4));
        writeln!(
            f,
            "    {:>step$}  {:thread$}  {:operation$}  {:object$}  at",
            "step", "thread", "operation", "object"
        )?;
        for s in self.0 {
            writeln!(
                f,
                "    {:>step$}  {:thread$}  {:operation$}  {:object$}  {}",
                s.step, s.thread, s.operation, s.object, s.at
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_numbered_per_run_in_order_of_first_use() {
        let mut trace = Trace::new(4);
        assert_eq!(trace.number((ObjectKind::Lock, 90)), 1);
        assert_eq!(trace.number((ObjectKind::Cell, 17)), 1);
        assert_eq!(trace.number((ObjectKind::Lock, 12)), 2);
        assert_eq!(trace.number((ObjectKind::Lock, 90)), 1);
    }

    #[test]
    fn a_cleared_trace_numbers_from_the_start_again() {
        let mut trace = Trace::new(4);
        let at = Location::caller();
        let me = current_thread();
        trace.number((ObjectKind::Lock, 90));
        trace.push("lock", Some((ObjectKind::Lock, 12)), me, at);
        trace.clear();
        assert!(trace.steps().is_empty());
        assert_eq!(trace.number((ObjectKind::Lock, 12)), 1);
        trace.push("unlock", Some((ObjectKind::Lock, 12)), me, at);
        let steps = trace.steps();
        assert_eq!((steps[0].step, steps[0].thread.as_str(), steps[0].object.as_str()), (1, "main", "lock #1"));
    }
}
