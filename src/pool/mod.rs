//! Connection pool with Go database/sql semantics: max open, max idle, lifetimes, FIFO waiters.
