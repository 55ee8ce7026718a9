//! # racekit
//!
//! A race-detection and stress-testing harness, and a library of model-checked reference
//! implementations of the concurrency patterns services are built from.
//!
//! ## Setup
//!
//! Your `Cargo.toml` needs four things (`cargo racekit init` adds what is missing; README's
//! "Model your own code" explains each):
//!
//! ```toml
//! [dependencies]
//! racekit = "0.1"
//! # tokio renamed: tokio itself in normal builds; shuttle's executor runs it under shuttle.
//! tokio = { package = "shuttle-tokio", version = "1", features = ["sync", "rt", "macros", "time"] }
//!
//! [target.'cfg(racekit_shuttle)'.dependencies]
//! tokio = { package = "shuttle-tokio", version = "1", features = ["shuttle"] }
//!
//! [lints.rust]
//! unexpected_cfgs = { level = "warn", check-cfg = ['cfg(racekit_loom)', 'cfg(racekit_shuttle)'] }
//!
//! [profile.test]
//! opt-level = 1 # the model checkers run millions of tiny steps
//!
//! [profile.test.package."*"]
//! opt-level = 2
//! ```
//!
//! - Without the tokio rename, shuttle cannot schedule your async code: a lost wake-up
//!   passes every schedule, or `tokio::spawn` finds no runtime (reported as a
//!   [`Setup`](model::FailureKind::Setup) failure naming this fix).
//! - loom cannot run tokio at all: gate async models with `cfg(not(racekit_loom))`; an
//!   async facade call under loom is a `Setup` failure that says so.
//! - Without the check-cfg entries every build warns `unexpected cfg`; without the test
//!   profile the model checkers are 10-30 times slower.
//! - `racekit::model::scenario` runs proptest around `check`, with
//!   failures whose last printed command replays the minimal scenario.
//!
//! ## The harness in four steps
//!
//! 1. **Import primitives from the facade.** Write your concurrent code against
//!    [`racekit::sync`](sync) (`Mutex`, `RwLock`, `Condvar`, atomics, `thread::spawn`,
//!    `Arc`, async tasks) instead of `std::sync`. In a normal build these are std's own
//!    (plus a no-op check); the model-checking builds swap them for loom's or shuttle's.
//! 2. **Write a model**: a test body that starts a few threads, drives your code, and
//!    asserts what must hold in every interleaving.
//! 3. **Run it with [`check`].** The same body runs under the backend the build selected:
//!    real threads by default, `RUSTFLAGS="--cfg racekit_loom"` for loom's bounded
//!    exhaustive exploration, `RUSTFLAGS="--cfg racekit_shuttle"` for shuttle's randomized
//!    and PCT schedulers. Give each backend its own `CARGO_TARGET_DIR`.
//! 4. **Read the failure.** A failing schedule panics with what went wrong (the first
//!    failure of any thread, at your source line), a table of what each thread did through
//!    the facade before it ([`model::TraceStep`]), and one shell command that replays
//!    exactly that schedule (`RACEKIT_REPLAY=...`), from the token alone on any backend.
//!
//! ```
//! use racekit::sync::{thread, Arc, Mutex};
//!
//! struct Account {
//!     balance: Mutex<u64>,
//! }
//!
//! impl Account {
//!     // Check and debit under one lock: two withdrawals can never overdraw.
//!     fn withdraw(&self, amount: u64) -> bool {
//!         let mut balance = self.balance.lock();
//!         if *balance >= amount {
//!             *balance -= amount;
//!             true
//!         } else {
//!             false
//!         }
//!     }
//! }
//!
//! racekit::check(|| {
//!     let account = Arc::new(Account { balance: Mutex::new(100) });
//!     let other = {
//!         let account = account.clone();
//!         thread::spawn(move || account.withdraw(80))
//!     };
//!     let mine = account.withdraw(80);
//!     let theirs = other.join().unwrap();
//!     assert!(mine ^ theirs, "exactly one withdrawal succeeds");
//!     assert_eq!(*account.balance.lock(), 20);
//! });
//! ```
//!
//! [`model::Model`] sets per-model budgets and returns failures as values (for tests that
//! expect a bug to be found); [`probe`] has the leak, bound and conservation probes; [`time`]
//! the injected clocks and random number generators.
//!
//! ## The patterns
//!
//! Each is built on the facade, so each is model-checked by the same harness, and each
//! module documents its guarantees, invariants and lock order:
//!
//! | module | pattern |
//! |---|---|
//! | [`queue`] | bounded blocking MPMC queue with close, drain and evict-oldest |
//! | [`error_collector`] | errors of concurrent operations, every one kept |
//! | [`bounded_slice`] | a collection keeping the newest items, evictions counted |
//! | [`event_bus`] | handlers per event kind, a bounded worker pool, backpressure policies |
//! | [`stopper`] | task admission until quiesce, cancel tokens, closers exactly once |
//! | [`lifecycle`] | ordered start with rollback, reverse stop |
//! | [`process`] | real child processes, output callbacks, no orphans |
//! | [`retry`] | jittered exponential backoff with injected clock and RNG |
//! | [`pool`] | connection pool with Go `database/sql` semantics, FIFO waiters |
//! | [`log_store`] | bounded log ring with a per-process index |
//!
//! ## Checking more with less writing
//!
//! [`linearizability`] runs random concurrent scenarios of operations on an object under the
//! build's backend and checks every history against a sequential specification (Wing–Gong
//! search with memoization, split by key where the specification is keyed); a failure shows
//! the minimal scenario and the history as a table. [`litmus`] runs a small litmus body many
//! times and grades every outcome it produces (acceptable, interesting, forbidden), showing
//! which outcomes each backend can produce. [`mutation`] plants named bugs in the code that
//! ships, switched on per check with [`Model::mutant`], so a model can show it catches them.
//!
//! ## Backends and what they cannot see
//!
//! See [`model`] for what each backend explores and misses, and [`sync`] for the facade's
//! guarantees.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// First, so that `mutation_point!` is in scope in every module below.
#[macro_use]
pub mod mutation;

pub mod bounded_slice;
pub mod error_collector;
pub mod event_bus;
pub mod lifecycle;
pub mod linearizability;
pub mod litmus;
pub mod log_store;
pub mod model;
pub mod output;
pub mod pool;
pub mod probe;
pub mod process;
pub mod queue;
pub mod retry;
pub mod stopper;
pub mod sync;
pub mod time;

pub use model::{check, Model};

/// The README's examples, compiled as doctests so they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
