//! Concurrent histories: what each operation was, who ran it, when it was invoked and when
//! it returned, and the table a failure prints.

use std::fmt::{self, Debug, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where an operation ran: the initial sequential part, one thread of the parallel part,
/// or the final sequential part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lane {
    /// Before any thread starts.
    Init,
    /// Thread `n` of the parallel part (thread 0 is the check's main thread).
    Thread(usize),
    /// After every thread is joined.
    Post,
}

/// One completed operation of a history.
///
/// `call` and `ret` are stamps from one counter shared by every thread of the run (a
/// [`Recorder`]): operation `a` precedes `b` in real time exactly when `a.ret < b.call`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<Op, Ret> {
    /// Where it ran.
    pub lane: Lane,
    /// The stamp taken just before it was invoked.
    pub call: u64,
    /// The stamp taken just after it returned (always greater than `call`).
    pub ret: u64,
    /// What was called.
    pub op: Op,
    /// What it returned.
    pub result: Ret,
}

/// The clock of one run: stamps every invocation and response.
///
/// A plain `std` atomic on purpose: it observes the model without adding interleavings to
/// it (under loom and shuttle every model thread runs on the calling OS thread, and a
/// facade atomic would be a scheduling point of its own). `SeqCst` gives one total order
/// of stamps that agrees with real time on real threads.
#[derive(Debug, Default)]
pub struct Recorder {
    clock: AtomicU64,
}

impl Recorder {
    /// A clock at zero.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Runs `call` as one operation of `lane` and returns it stamped.
    ///
    /// # Examples
    ///
    /// ```
    /// use racekit::linearizability::{Lane, Recorder};
    ///
    /// let recorder = Recorder::new();
    /// let first = recorder.record(Lane::Init, "push 1", || true);
    /// let second = recorder.record(Lane::Post, "len", || 1usize);
    /// assert!(first.ret < second.call);
    /// ```
    pub fn record<Op, Ret>(&self, lane: Lane, op: Op, call: impl FnOnce() -> Ret) -> Operation<Op, Ret> {
        let invoked = self.clock.fetch_add(1, Ordering::SeqCst);
        let result = call();
        let returned = self.clock.fetch_add(1, Ordering::SeqCst);
        Operation { lane, call: invoked, ret: returned, op, result }
    }
}

/// Why a history is not linearizable: the longest sequential order the search found that
/// explains a prefix of it, and what went wrong next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    /// Indices into the history, in the order the specification took them.
    pub linearized: Vec<usize>,
    /// The specification's state after them (its `Debug` text).
    pub state: String,
    /// The operations that could have taken effect next: `(index, what the specification
    /// would have returned)`; each differs from what the object returned.
    pub refused: Vec<(usize, String)>,
}

/// Renders `history` as a table, one column per thread, the sequential parts in a column
/// of their own; with a `witness`, the search's longest explanation follows the table.
pub fn render<Op: Debug, Ret: Debug>(history: &[Operation<Op, Ret>], witness: Option<&Witness>) -> String {
    let cells: Vec<(Lane, String)> =
        history.iter().map(|o| (o.lane, format!("{:?} -> {:?}  @{}..{}", o.op, o.result, o.call, o.ret))).collect();
    let mut text = lanes_table(&cells);
    if let Some(witness) = witness {
        let name = |index: usize| {
            let operation = &history[index];
            format!("{}: {:?} -> {:?}", operation.lane, operation.op, operation.result)
        };
        let _ = writeln!(
            text,
            "longest linearizable prefix ({} of {} operations):",
            witness.linearized.len(),
            history.len()
        );
        for &index in &witness.linearized {
            let _ = writeln!(text, "  {}", name(index));
        }
        let _ = writeln!(text, "specification state after it: {}", witness.state);
        if witness.refused.is_empty() {
            let _ = writeln!(text, "no pending operation was invoked before every other pending one returned");
        }
        for (index, expected) in &witness.refused {
            let _ = writeln!(text, "cannot come next: {} (the specification returns {expected})", name(*index));
        }
    }
    text
}

/// Cells laid out by lane: a column for the sequential parts (the initial part above the
/// parallel rows, the final part below), one column per thread, in program order.
pub(crate) fn lanes_table(cells: &[(Lane, String)]) -> String {
    let threads = cells
        .iter()
        .filter_map(|(lane, _)| match lane {
            Lane::Thread(thread) => Some(thread + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let of_lane = |lane: Lane| cells.iter().filter(move |(l, _)| *l == lane).map(|(_, text)| text.clone());
    let sequential = |lane: Lane| {
        of_lane(lane).map(|text| {
            let mut row = vec![text];
            row.resize(threads + 1, String::new());
            row
        })
    };
    let columns: Vec<Vec<String>> = (0..threads).map(|thread| of_lane(Lane::Thread(thread)).collect()).collect();
    let depth = columns.iter().map(Vec::len).max().unwrap_or(0);
    let parallel = (0..depth).map(|row| {
        std::iter::once(String::new())
            .chain(columns.iter().map(|column| column.get(row).cloned().unwrap_or_default()))
            .collect()
    });
    let rows: Vec<Vec<String>> = sequential(Lane::Init).chain(parallel).chain(sequential(Lane::Post)).collect();
    let mut header = vec!["init / post".to_owned()];
    header.extend((0..threads).map(|thread| format!("thread {thread}")));
    table(&header, &rows)
}

/// A plain-text table with padded columns (shared with the outcome histograms).
pub(crate) fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (column, cell) in row.iter().enumerate() {
            widths[column] = widths[column].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::from("|");
        for (cell, width) in cells.iter().zip(&widths) {
            let _ = write!(text, " {cell:<width$} |");
        }
        text.push('\n');
        text
    };
    let mut text = line(header);
    text.push('|');
    for width in &widths {
        text.push_str(&"-".repeat(width + 2));
        text.push('|');
    }
    text.push('\n');
    for row in rows {
        text.push_str(&line(row));
    }
    text
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lane::Init => f.write_str("init"),
            Lane::Thread(thread) => write!(f, "thread {thread}"),
            Lane::Post => f.write_str("post"),
        }
    }
}
