//! Stress suites: proptest-driven runs on real threads and on the tokio runtime.
//!
//! They find what happens to occur under load (leaks, bounds, lost items) and shrink
//! what fails; the model suites prove interleavings. Run with `cargo test --test stress`;
//! `PROPTEST_CASES` scales the number of scenarios. A suite that stops making progress fails
//! within `RACEKIT_STRESS_STALL` seconds (default 60) with a report of what it waited for
//! and the command that reruns it (see `support`).

#![cfg(not(any(racekit_loom, racekit_shuttle)))]

mod support;

mod bad_inputs;

mod bounded_slice;
mod error_collector;
mod event_bus;
mod lifecycle;
mod log_store;
mod pool;
mod process;
mod process_logs;
mod queue;
mod retry;
mod stopper;
mod watchdog;
