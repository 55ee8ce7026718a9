//! One line of a process's output: what the [process manager](crate::process) streams to
//! its callbacks and the [log store](crate::log_store) keeps.

use std::fmt;
// std's `Arc`, not the facade's: a line is immutable once made, so sharing it has nothing
// to model, and the facade's `Arc` under loom and shuttle cannot hold a `str`.
use std::sync::Arc;
use std::time::Instant;

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl fmt::Display for OutputStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        })
    }
}

/// One line of output of one process.
///
/// The process id is an `Arc<str>` so that every line of a process shares one allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputLine {
    /// The id the process manager gave the process.
    pub process: Arc<str>,
    /// The stream the line came from.
    pub stream: OutputStream,
    /// When the line was read (from the injected [`Clock`](crate::time::Clock)).
    pub at: Instant,
    /// The line, without its line terminator.
    pub line: String,
}
