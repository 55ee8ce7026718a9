//! The stress watchdog itself: a stalled stress body fails with its report within the stall
//! bound, instead of hanging the suite.

use crate::support::{cases, watch};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child process, which stalls.
const STALLING_CHILD: &str = "RACEKIT_STRESS_STALLING_CHILD";

/// The test's own name, as libtest and the report spell it.
const THIS_TEST: &str = "watchdog::a_stalled_stress_body_fails_with_a_report_within_the_bound";

#[test]
fn a_stalled_stress_body_fails_with_a_report_within_the_bound() {
    if std::env::var_os(STALLING_CHILD).is_some() {
        stall_in_a_watched_test();
    } else {
        the_stalled_child_is_reported();
    }
}

/// The child: a watched test whose case waits for a latch nobody sets.
fn stall_in_a_watched_test() {
    let _config = cases(1);
    watch("a latch nobody sets");
    racekit::sync::Latch::new().wait();
}

/// The parent: runs the child with a half-second stall bound and reads its report. It gives
/// the child far longer than the bound before calling the watchdog broken, so that a slow
/// machine cannot fail this test.
fn the_stalled_child_is_reported() {
    const PATIENCE: Duration = Duration::from_secs(60);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", THIS_TEST, "--test-threads", "1"])
        .env(STALLING_CHILD, "1")
        .env("RACEKIT_STRESS_STALL", "0.5")
        .env("PROPTEST_RNG_SEED", "7")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test binary runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break status;
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the watchdog did not end the stalled test within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(101), "a stall fails the test process:\n{stderr}");
    assert!(stderr.contains(&format!("`{THIS_TEST}` made no progress for")), "names the test:\n{stderr}");
    assert!(stderr.contains("(bound 500ms) while waiting for: a latch nobody sets"), "names the wait:\n{stderr}");
    let rerun = format!("PROPTEST_RNG_SEED=7 cargo test --test stress -- --exact {THIS_TEST}");
    assert!(stderr.contains(&rerun), "says how to rerun it:\n{stderr}");
}
