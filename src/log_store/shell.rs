//! The shared allocations entries live in, reused from one add to the next.
//!
//! An entry is an `Arc<OutputLine>`, so that readers share it instead of copying it. An
//! add that allocated a new one and freed the evicted one would make two allocator calls
//! per line, on top of the line the caller made. Instead, each thread keeps the allocation
//! of the entry its last add evicted (when nothing else held it) as a spare, and its next
//! add moves its line into that. Both steps run outside the store's lock: the check that
//! nothing else holds an allocation is an atomic read-modify-write on memory last used
//! when the entry was stored, likely out of cache, which would otherwise stretch every
//! critical section.
//!
//! The spare holds no text (it is freed when the spare is kept): at most one empty entry
//! per thread that has added, its process id shared with that process's lines.

use crate::output::OutputLine;
use std::cell::Cell;
use std::sync::Arc;

thread_local! {
    static SPARE: Cell<Option<Arc<OutputLine>>> = const { Cell::new(None) };
}

/// `line` in a shared allocation: this thread's spare when it has one, else a new one.
pub(super) fn shell_for(line: OutputLine) -> Arc<OutputLine> {
    if let Ok(Some(mut shell)) = SPARE.try_with(Cell::take) {
        // Unique when kept, and never shared since; `get_mut` is how that is proven.
        if let Some(entry) = Arc::get_mut(&mut shell) {
            *entry = line;
            return shell;
        }
    }
    Arc::new(line)
}

/// Keeps `evicted` as this thread's spare, its text freed now, when nothing else holds it
/// (no reader's [`LogEntry`](super::LogEntry), no weak reference); otherwise drops this
/// reference to it.
pub(super) fn keep(mut evicted: Arc<OutputLine>) {
    if let Some(entry) = Arc::get_mut(&mut evicted) {
        entry.line = String::new();
        // During the thread's teardown there is no spare to keep: `evicted` is dropped.
        let _ = SPARE.try_with(|spare| spare.set(Some(evicted)));
    }
}
