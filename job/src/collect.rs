//! Turning one backend's run into rows: nextest's listing says which tests ran (and which
//! are `#[ignore]`d), its JUnit file how each ended, and the harness's report lines
//! (`RACEKIT_REPORT_FILE`, one JSON line per `check` or `Model::run`, naming its test and
//! binary) what each racekit check explored and, for a failure, its kind, message and
//! replay token.
//!
//! How the job knows which tests run racekit checks: by those report lines. Every
//! selected test runs; a test that wrote none ran no check, and its row says so.

use quick_junit::{NonSuccessKind, TestCaseStatus};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::budget::{self, human_duration};
use crate::commands::{Commands, TestRef};
use crate::nextest::Listed;
use crate::results::{is_mutant_test, pattern_of, Backend, CheckLine, Outcome, Row};
use crate::workspace::Workspace;

/// What every row of one job shares.
pub struct Collector<'a> {
    pub workspace: &'a Workspace,
    pub commands: &'a Commands,
    pub out: &'a Path,
    pub partition: Option<String>,
}

/// What one backend's run left behind.
pub struct BackendRun<'a> {
    pub backend: Backend,
    /// The tests nextest listed for it.
    pub tests: &'a [Listed],
    /// nextest's JUnit reports (one per nextest run of the backend).
    pub junit: &'a [quick_junit::Report],
    /// The harness's report lines.
    pub checks: &'a [CheckLine],
    /// The budget environment of the mutant tests on real threads (`true`) and of the
    /// others (`false`).
    pub envs: &'a [(bool, Vec<(String, String)>)],
    pub timeout: Duration,
    /// Whether the job was stopped.
    pub interrupted: bool,
}

/// How nextest said one test ended.
struct Ending {
    outcome: Outcome,
    exit: String,
    /// nextest's one-line message and the test's captured output.
    message: Option<String>,
    output: Option<String>,
    time: f64,
    started: Option<chrono::DateTime<chrono::FixedOffset>>,
}

impl Collector<'_> {
    /// The rows of one backend's run: one per listed test.
    pub fn rows(&self, run: &BackendRun) -> Vec<Row> {
        let mut endings: HashMap<(String, String), Ending> = HashMap::new();
        for suite in run.junit.iter().flat_map(|report| &report.test_suites) {
            for case in &suite.test_cases {
                let binary = case.classname.as_ref().map_or_else(|| suite.name.to_string(), |c| c.to_string());
                endings.insert((binary, case.name.to_string()), ending(case));
            }
        }
        let mut by_test: HashMap<(&str, &str), Vec<CheckLine>> = HashMap::new();
        for line in run.checks {
            if let (Some(binary), Some(test)) = (line.binary.as_deref(), line.test.as_deref()) {
                by_test.entry((binary, test)).or_default().push(line.clone());
            }
        }
        run.tests
            .iter()
            .map(|listed| {
                let checks = by_test.remove(&(listed.file_name.as_str(), listed.test.as_str())).unwrap_or_default();
                let ending = endings.remove(&(listed.binary_id.clone(), listed.test.clone())).unwrap_or(Ending {
                    outcome: if run.interrupted { Outcome::Interrupted } else { Outcome::NotRun },
                    exit: if run.interrupted {
                        "stopped by Ctrl-C or SIGTERM before it finished".into()
                    } else {
                        "nextest reported no result for it".into()
                    },
                    message: None,
                    output: None,
                    time: 0.0,
                    started: None,
                });
                self.row(run, listed, ending, checks)
            })
            .collect()
    }

    fn row(&self, run: &BackendRun, listed: &Listed, ending: Ending, checks: Vec<CheckLine>) -> Row {
        let (backend, timeout) = (run.backend, run.timeout);
        let mutant = is_mutant_test(&listed.test);
        let env = run
            .envs
            .iter()
            .find(|(for_mutants, _)| *for_mutants == (mutant && backend == Backend::Std))
            .map(|(_, env)| env.clone())
            .unwrap_or_default();
        let test_ref = TestRef {
            backend,
            package: &listed.package,
            kind: &listed.kind,
            target: &listed.target,
            test: &listed.test,
            ignored: listed.ignored,
        };
        let last_failure = checks.iter().rev().filter_map(|line| line.failure.as_ref()).find(|f| !f.replayed);
        let outcome = ending.outcome;
        // A failed check is what failed a model's test: its token replays that schedule.
        let replay = match outcome {
            Outcome::Failed | Outcome::Crashed if !mutant => last_failure.map(|failure| {
                let token = vec![("RACEKIT_REPLAY".to_owned(), self.keep_checkpoint(&failure.replay.token))];
                self.commands.cargo_test(self.workspace, &test_ref, &token)
            }),
            _ => None,
        };
        let message = match outcome {
            Outcome::Passed | Outcome::NotRun | Outcome::Interrupted => None,
            Outcome::Failed if mutant => Some(escape_message(&checks)),
            Outcome::Failed => Some(match last_failure {
                Some(failure) => format!("{}: {}", crate::report::kind_words(&failure.kind), failure.message),
                None => ending.message.clone().unwrap_or_else(|| "the test failed".into()),
            }),
            Outcome::TimedOut => Some(format!(
                "the test did not finish within {} (raise it with --timeout); {} check(s) had finished",
                human_duration(timeout),
                checks.len()
            )),
            Outcome::Crashed => Some(format!(
                "{}; the end of its output:\n{}",
                ending.exit,
                tail(ending.output.as_deref().unwrap_or(""), 15)
            )),
        };
        let log = ending.output.as_deref().filter(|_| outcome != Outcome::Passed).and_then(|output| {
            let stem: String =
                listed.test.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '.' }).collect();
            let path = self.out.join("logs").join(backend.name()).join(format!("{}.{stem}.log", listed.binary_id));
            std::fs::write(&path, output).ok().map(|_| path.display().to_string())
        });
        Row {
            backend,
            binary: listed.binary_id.clone(),
            package: listed.package.clone(),
            kind: listed.kind.clone(),
            target: listed.target.clone(),
            test: listed.test.clone(),
            pattern: pattern_of(&listed.test),
            mutant,
            ignored: listed.ignored,
            partition: self.partition.clone(),
            started: ending.started,
            outcome,
            exit: ending.exit,
            elapsed: ending.time,
            schedules: checks.iter().map(CheckLine::schedules).sum(),
            rerun: self.commands.cargo_test(self.workspace, &test_ref, &env),
            env,
            checks,
            message,
            replay,
            log,
        }
    }
}

impl Collector<'_> {
    /// A loom token names the checkpoint file of the failing execution
    /// (`loom|id|bound,path`), written next to the test binary, which the job extracted
    /// to a folder it removes: the file is copied to `<out>/checkpoints` and the token
    /// names the copy (by its absolute path: `cargo test` runs tests from their package's
    /// folder). Other tokens are returned as they are.
    fn keep_checkpoint(&self, token: &str) -> String {
        let mut parts = token.splitn(3, '|');
        let (Some("loom"), Some(id), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
            return token.to_owned();
        };
        let Some((bound, path)) = payload.split_once(',') else { return token.to_owned() };
        let source = Path::new(path);
        let (Some(name), true) = (source.file_name(), source.is_file()) else { return token.to_owned() };
        let dir = self.out.join("checkpoints");
        let copy = dir.join(name);
        match std::fs::create_dir_all(&dir).and_then(|()| std::fs::copy(source, &copy)) {
            Ok(_) => format!("loom|{id}|{bound},{}", copy.display()),
            Err(error) => {
                eprintln!("cargo racekit: cannot keep the loom checkpoint {path}: {error}");
                token.to_owned()
            }
        }
    }
}

fn ending(case: &quick_junit::TestCase) -> Ending {
    let (outcome, exit, message, description) = match &case.status {
        TestCaseStatus::Success { .. } => (Outcome::Passed, "passed".to_owned(), None, None),
        TestCaseStatus::Skipped { .. } => (Outcome::NotRun, "skipped by nextest".to_owned(), None, None),
        TestCaseStatus::NonSuccess { kind, message, ty, description, .. } => {
            let ty = ty.as_ref().map_or_else(String::new, |t| t.to_string());
            let outcome = if ty.contains("timeout") {
                Outcome::TimedOut
            } else if *kind == NonSuccessKind::Failure && ty.contains("exit code 101") {
                Outcome::Failed
            } else {
                Outcome::Crashed
            };
            (outcome, ty, message.as_ref().map(|m| m.to_string()), description.as_ref().map(|d| d.to_string()))
        }
    };
    let output =
        [description, case.system_out.as_ref().map(|s| s.to_string()), case.system_err.as_ref().map(|s| s.to_string())]
            .into_iter()
            .flatten()
            .filter(|text| !text.trim().is_empty())
            .collect::<Vec<_>>();
    Ending {
        outcome,
        exit,
        message,
        output: (!output.is_empty()).then(|| output.join("\n")),
        time: case.time.map_or(0.0, |t| t.as_secs_f64()),
        started: case.timestamp,
    }
}

/// Why a mutant escaped: the checks it ran all passed.
fn escape_message(checks: &[CheckLine]) -> String {
    let schedules: u64 = checks.iter().map(CheckLine::schedules).sum();
    let cut = if checks.iter().any(CheckLine::cut_short) { " (the time budget cut exploration short)" } else { "" };
    format!("escaped: every one of {} explored schedule(s) passed{cut}", budget::thousands(schedules))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const JUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="1" errors="0" timestamp="2026-12-02T16:59:40.833+00:00" time="0.5">
  <testsuite name="shop::job_proof" tests="3" skipped="0" errors="0" failures="1">
    <testcase name="visits_are_all_counted" classname="shop::job_proof" timestamp="2026-12-02T16:59:40.833+00:00" time="0.015"/>
    <testcase name="planted::a_lost_visit_fails" classname="shop::job_proof" time="0.160">
      <failure message="thread panicked at tests/job_proof.rs:122:58" type="test failure with exit code 101">racekit: model failed</failure>
    </testcase>
    <testcase name="slow" classname="shop::job_proof" time="5">
      <failure type="test timeout">killed</failure>
    </testcase>
  </testsuite>
</testsuites>"#;

    fn listed(test: &str, ignored: bool) -> Listed {
        Listed {
            binary_id: "shop::job_proof".into(),
            package: "shop".into(),
            kind: "test".into(),
            target: "job_proof".into(),
            file_name: "job_proof-0123abcd".into(),
            test: test.into(),
            ignored,
        }
    }

    #[test]
    fn rows_join_the_listing_nextest_and_the_harness() {
        let workspace = Workspace {
            root: PathBuf::from("/w"),
            manifest: None,
            packages: vec!["shop".into()],
            tests: Vec::new(),
            target_dir: PathBuf::from("/w/target"),
        };
        let commands = Commands { cd: None, base: PathBuf::from("/w/target"), user_rustflags: None };
        let out = std::env::temp_dir();
        let collector = Collector { workspace: &workspace, commands: &commands, out: &out, partition: None };
        let junit = quick_junit::Report::deserialize_from_str(JUNIT).unwrap();
        let failure = r#"{"test":"planted::a_lost_visit_fails","binary":"job_proof-0123abcd","verdict":"failed","failure":{"model":"m","kind":"panic","message":"a visit was lost","schedules":2,"replay":{"token":"shuttle|id|9","command":"c"}}}"#;
        let checks = crate::results::parse_check_lines(failure);
        let tests = [
            listed("visits_are_all_counted", false),
            listed("planted::a_lost_visit_fails", true),
            listed("slow", false),
            listed("never", false),
        ];
        let rows = collector.rows(&BackendRun {
            backend: Backend::Shuttle,
            tests: &tests,
            junit: &[junit],
            checks: &checks,
            envs: &[],
            timeout: Duration::from_secs(5),
            interrupted: true,
        });
        let outcomes: Vec<Outcome> = rows.iter().map(|row| row.outcome).collect();
        assert_eq!(outcomes, [Outcome::Passed, Outcome::Failed, Outcome::TimedOut, Outcome::Interrupted]);
        assert_eq!(rows[1].message.as_deref(), Some("panic: a visit was lost"));
        assert_eq!(
            rows[1].replay.as_deref(),
            Some(
                "RUSTFLAGS='--cfg racekit_shuttle' CARGO_TARGET_DIR=target/shuttle RACEKIT_REPLAY='shuttle|id|9' \
                 cargo test -p shop --test job_proof -- --exact planted::a_lost_visit_fails --include-ignored"
            )
        );
        assert_eq!(rows[1].schedules, 2);
        assert!(rows[0].started.is_some());

        let checkpoint = out.join(format!("racekit-job-test-{}.json", std::process::id()));
        std::fs::write(&checkpoint, "{}").unwrap();
        let kept = collector.keep_checkpoint(&format!("loom|a:1#m|2,{}", checkpoint.display()));
        let copy = out.join("checkpoints").join(checkpoint.file_name().unwrap());
        assert_eq!(kept, format!("loom|a:1#m|2,{}", copy.display()));
        assert!(copy.is_file());
        assert_eq!(collector.keep_checkpoint("shuttle|a|9,x"), "shuttle|a|9,x");
        let _ = std::fs::remove_file(checkpoint);
        let _ = std::fs::remove_file(copy);
    }
}
