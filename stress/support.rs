//! Helpers shared by the stress suites: the proptest configuration, and the watchdog that
//! turns a stalled suite into a failure with a report.
//!
//! # The watchdog
//!
//! A stress suite that stops making progress (a lost wake-up, a deadlock, a child process
//! that never exits) would otherwise hang until the CI job's timeout, with no word of what
//! it waited for. Every suite that takes its configuration from [`cases`] is watched: when
//! its test thread makes no progress for the stall bound, the watchdog writes a report to
//! the process's stderr (past libtest's capture) naming the test, what it was waiting for
//! and the command that reruns it with the same proptest seed, and ends the test process
//! with exit code 101, as a failed test does. Ending the process is deliberate: the stalled
//! thread cannot be unwound from outside, and shrinking a hang would stall again at every
//! step.
//!
//! Progress is a new step: a call of [`watch`] (one line at the top of a proptest body marks
//! each case, and says what the case waits for). A suite without it is bounded as a whole:
//! the stall bound times its case count.
//!
//! The stall bound is [`DEFAULT_STALL`], or `RACEKIT_STRESS_STALL` (seconds) when set.
//!
//! # Invariants
//!
//! - One monitor thread per test process, started by the first watched test; it only reads
//!   the watched tests' clocks and never blocks them.
//! - A test is watched from its [`cases`] call until its thread ends (a thread-local guard
//!   disarms it), so a test that finished is never reported.

#![allow(dead_code)]

use proptest::test_runner::{Config, RngSeed};
use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a watched test may go without progress when `RACEKIT_STRESS_STALL` is unset.
pub const DEFAULT_STALL: Duration = Duration::from_secs(60);

/// The exit code of a process the watchdog ends (libtest's for a failed test).
const STALLED_EXIT_CODE: i32 = 101;

/// A proptest configuration running `default_cases` scenarios, or `PROPTEST_CASES` when
/// that is set (so CI and long jobs scale every suite at once). It fixes the run's seed
/// (`PROPTEST_RNG_SEED`, or a fresh one) so that a stall can be rerun, and starts watching
/// the calling test (see the module documentation).
pub fn cases(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    let defaults = Config::default();
    let seed = match defaults.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => fresh_seed(),
    };
    let stall = stall_bound();
    let whole_test = stall.saturating_mul(cases.max(1));
    arm(Watched::new(seed, stall, whole_test, format!("its {cases} proptest case(s) to finish")));
    Config { cases, rng_seed: RngSeed::Fixed(seed), ..defaults }
}

/// Marks progress of the calling test and says what it waits for next: each call gives the
/// test a full stall bound again. Put it at the top of a proptest body (one line marks every
/// case). Outside a watched test it does nothing.
pub fn watch(waiting_for: impl Into<String>) {
    let waiting_for = waiting_for.into();
    WATCHED.with(|watched| {
        if let Some(watched) = &*watched.borrow() {
            let mut step = watched.0.step();
            step.waiting_for = waiting_for;
            step.since = Instant::now();
            step.bound = watched.0.stall;
            step.steps += 1;
        }
    });
}

/// The stall bound: `RACEKIT_STRESS_STALL` seconds, or [`DEFAULT_STALL`]. A value that is
/// not a positive number of seconds is refused with what to set instead.
pub fn stall_bound() -> Duration {
    match std::env::var("RACEKIT_STRESS_STALL") {
        Err(_) => DEFAULT_STALL,
        Ok(text) => text
            .parse::<f64>()
            .ok()
            .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or_else(|| {
                panic!("RACEKIT_STRESS_STALL={text:?} is not a number of seconds: set it to, say, 60 or 0.5")
            }),
    }
}

fn fresh_seed() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// One watched test.
struct Watched {
    test: String,
    seed: u64,
    /// The bound of one step (from one [`watch`] to the next).
    stall: Duration,
    step: Mutex<Step>,
}

/// What a watched test does now, and since when.
struct Step {
    waiting_for: String,
    since: Instant,
    bound: Duration,
    /// Steps marked by [`watch`] so far.
    steps: u64,
    /// Cleared when the test's thread ends.
    armed: bool,
}

impl Watched {
    /// The calling test, bounded by `first_bound` until its first [`watch`], by `stall`
    /// from each one on.
    fn new(seed: u64, stall: Duration, first_bound: Duration, waiting_for: String) -> Arc<Watched> {
        let test = std::thread::current().name().unwrap_or("<unnamed test>").to_owned();
        let step = Step { waiting_for, since: Instant::now(), bound: first_bound, steps: 0, armed: true };
        Arc::new(Watched { test, seed, stall, step: Mutex::new(step) })
    }

    fn step(&self) -> MutexGuard<'_, Step> {
        self.step.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The report of a stall, when this test has stalled.
    fn stalled(&self, now: Instant) -> Option<String> {
        let step = self.step();
        let quiet = now.saturating_duration_since(step.since);
        (step.armed && quiet >= step.bound).then(|| {
            format!(
                "\nstress watchdog: `{test}` made no progress for {quiet:.1?} (bound {bound:?}) while waiting for: \
                 {what}\n  steps marked so far: {steps}; the test process is ended so that CI reports this instead of \
                 hanging until its timeout\n  rerun it with:\n    PROPTEST_RNG_SEED={seed} cargo test --test stress -- \
                 --exact {test}\n",
                test = self.test,
                bound = step.bound,
                what = step.waiting_for,
                steps = step.steps,
                seed = self.seed,
            )
        })
    }
}

/// Disarms its test when the test's thread ends.
struct Armed(Arc<Watched>);

impl Drop for Armed {
    fn drop(&mut self) {
        self.0.step().armed = false;
    }
}

thread_local! {
    static WATCHED: RefCell<Option<Armed>> = const { RefCell::new(None) };
}

/// Every test armed in this process.
fn registry() -> &'static Mutex<Vec<Arc<Watched>>> {
    static REGISTRY: OnceLock<Mutex<Vec<Arc<Watched>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        std::thread::Builder::new()
            .name("stress-watchdog".into())
            .spawn(monitor)
            .expect("the OS refused the stress watchdog's thread");
        Mutex::new(Vec::new())
    })
}

/// Watches the calling test with `watched` until its thread ends.
fn arm(watched: Arc<Watched>) {
    let mut all = registry().lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|other| other.step().armed);
    all.push(watched.clone());
    drop(all);
    WATCHED.with(|current| *current.borrow_mut() = Some(Armed(watched)));
}

/// The monitor: checks every armed test a few times per stall bound; reports the first
/// stalled one and ends the process.
fn monitor() {
    let poll = (stall_bound() / 20).clamp(Duration::from_millis(10), Duration::from_secs(1));
    loop {
        std::thread::sleep(poll);
        let now = Instant::now();
        let stalled = {
            let all = registry().lock().unwrap_or_else(|e| e.into_inner());
            all.iter().find_map(|watched| watched.stalled(now))
        };
        if let Some(report) = stalled {
            // Straight to the process's stderr: libtest captures `eprintln!` per test and
            // would drop it with the process.
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(report.as_bytes());
            let _ = stderr.flush();
            std::process::exit(STALLED_EXIT_CODE);
        }
    }
}
