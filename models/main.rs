//! Model-check suites: one module per pattern, each with the mutants (buggy variants) its
//! models must catch, plus the harness's own meta-tests.
//!
//! Every test here runs under all three backends:
//!
//! ```text
//! cargo test --test models                                                     # real threads
//! RUSTFLAGS="--cfg racekit_loom"    CARGO_TARGET_DIR=target/loom    cargo test --test models
//! RUSTFLAGS="--cfg racekit_shuttle" CARGO_TARGET_DIR=target/shuttle cargo test --test models
//! ```
//!
//! Mutant tests live in a `mutants` module of their pattern and pass only when the model
//! checker catches the mutant. On real threads a race is found only when it happens to
//! occur, so there they are ignored by `cargo test` and run by the model-checking job
//! (with `--include-ignored`), which reports whether real threads caught them too.

mod support;

mod bounded_slice;
mod bug_shapes;
mod deep_bugs;
mod detectors;
mod error_collector;
mod event_bus;
mod facade;
mod harness;
mod lifecycle;
mod linearizability;
mod litmus;
mod log_store;
mod pool;
mod process;
mod queue;
mod retry;
mod stopper;
