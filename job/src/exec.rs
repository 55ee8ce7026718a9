//! Running the tests: each in its own child process, up to `jobs` at a time, each with
//! its budget environment, its own report file and a wall-clock timeout.
//!
//! A test process that aborts (a checker's abort, a stack overflow) or hangs becomes a
//! failure row; the job carries on. Children run in their own process group, so the
//! terminal's Ctrl-C reaches only the job, which then kills every running group (test
//! binaries that start processes of their own included) and reports what it found.

use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::budget::{self, Budget, TestKind};
use crate::cargo::{self, PACKAGE};
use crate::plan::Case;
use crate::progress::Progress;
use crate::results::{parse_check_lines, CheckLine, Outcome, Row, Verdict};

/// How often the job polls its children.
const POLL: Duration = Duration::from_millis(20);
/// The per-test timeout at the models' own budgets.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The per-test timeout when `--iterations` or `--preemption-bound` raise the budgets
/// and no `--timeout` is given: deep runs are long, a hang still ends.
pub const RAISED_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// With a time budget, a test may take this many times its share before it is killed
/// (a test may hold several checks, each of which gets the share).
pub const SHARE_TIMEOUT_FACTOR: u32 = 40;

/// Everything the runner needs besides the cases.
pub struct Runner {
    pub root: PathBuf,
    pub base: PathBuf,
    /// Where test logs and report files go.
    pub logs: PathBuf,
    pub jobs: usize,
    pub timeout: Option<Duration>,
    pub budget: Budget,
    pub shard: Option<String>,
    /// Let test processes capture panic backtraces (`RUST_BACKTRACE` as inherited).
    /// Off by default: symbolising a backtrace takes about half a second, which would
    /// swamp the detection times of mutants caught in a few schedules.
    pub backtraces: bool,
    pub interrupted: Arc<AtomicBool>,
}

struct Running {
    case: Case,
    child: Child,
    started: Instant,
    timeout: Duration,
    env: Vec<(String, String)>,
    report: PathBuf,
    log: PathBuf,
}

impl Runner {
    /// Runs every case and returns a row for each, in the order of `cases` (cases never
    /// started because of Ctrl-C come back as `NotRun`).
    pub fn run(&self, cases: &[Case], progress: &Progress) -> Vec<Row> {
        let started = Instant::now();
        let mut rows: Vec<Option<Row>> = vec![None; cases.len()];
        let mut running: Vec<(usize, Running)> = Vec::new();
        let mut next = 0;
        loop {
            if self.interrupted.load(Ordering::SeqCst) {
                for (index, mut run) in running.drain(..) {
                    kill_group(&mut run.child);
                    let status = run.child.wait().ok();
                    rows[index] = Some(self.finish(run, status, Some(Outcome::Interrupted)));
                }
                break;
            }
            while running.len() < self.jobs && next < cases.len() {
                let share = self.budget.time.map(|total| {
                    let left = total.saturating_sub(started.elapsed());
                    budget::time_share(left, self.jobs, cases.len() - next + running.len())
                });
                match self.spawn(&cases[next], share) {
                    Ok(run) => running.push((next, run)),
                    Err(error) => rows[next] = Some(self.unstartable(&cases[next], &error)),
                }
                next += 1;
                progress.running(running.iter().map(|(_, run)| run.case.label()));
            }
            let mut index = 0;
            while index < running.len() {
                let run = &mut running[index].1;
                let status = run.child.try_wait().ok().flatten();
                let timed_out = status.is_none() && run.started.elapsed() > run.timeout;
                if status.is_none() && !timed_out {
                    index += 1;
                    continue;
                }
                let (case_index, mut run) = running.swap_remove(index);
                let row = if timed_out {
                    kill_group(&mut run.child);
                    let status = run.child.wait().ok();
                    self.finish(run, status, Some(Outcome::TimedOut))
                } else {
                    self.finish(run, status, None)
                };
                progress.finished(&row);
                progress.running(running.iter().map(|(_, run)| run.case.label()));
                rows[case_index] = Some(row);
            }
            if running.is_empty() && next >= cases.len() {
                break;
            }
            std::thread::sleep(POLL);
        }
        rows.into_iter().zip(cases).map(|(row, case)| row.unwrap_or_else(|| self.not_run(case))).collect()
    }

    fn timeout(&self, share: Option<Duration>) -> Duration {
        if let Some(timeout) = self.timeout {
            return timeout;
        }
        match share {
            Some(share) => (share * SHARE_TIMEOUT_FACTOR).max(DEFAULT_TIMEOUT),
            None if self.budget.iterations.is_some() || self.budget.preemption_bound.is_some() => RAISED_TIMEOUT,
            None => DEFAULT_TIMEOUT,
        }
    }

    fn paths(&self, case: &Case) -> (PathBuf, PathBuf) {
        let stem: String =
            case.test.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '.' }).collect();
        let dir = self.logs.join(case.backend.name()).join(&case.binary);
        (dir.join(format!("{stem}.jsonl")), dir.join(format!("{stem}.log")))
    }

    fn spawn(&self, case: &Case, share: Option<Duration>) -> Result<Running> {
        let env = self
            .budget
            .env(TestKind { backend: case.backend, mutant: case.mutant, stress: case.binary == "stress" }, share);
        let (report, log) = self.paths(case);
        std::fs::create_dir_all(report.parent().expect("a log folder"))?;
        let _ = std::fs::remove_file(&report);
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(&case.exe);
        command
            .current_dir(&self.root)
            .args(["--exact", &case.test, "--include-ignored", "--test-threads", "1"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        for name in budget::CONTROLLED {
            command.env_remove(name);
        }
        command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RACEKIT_REPORT_FILE", &report)
            // What `cargo test` sets: the harness builds its reproduce commands from them.
            .env("CARGO_PKG_NAME", PACKAGE)
            .env("CARGO_MANIFEST_DIR", &self.root);
        if !self.backtraces {
            command.env("RUST_BACKTRACE", "0");
        }
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let started = Instant::now();
        let child = command.spawn()?;
        Ok(Running { case: case.clone(), child, started, timeout: self.timeout(share), env, report, log })
    }

    /// The command that reruns `case` with `env`, from the workspace root.
    pub fn rerun_command(&self, case: &Case, env: &[(String, String)]) -> String {
        let mut words = Vec::new();
        if let Some(flags) = case.backend.rustflags() {
            words.push(format!("RUSTFLAGS={}", shell_quote(flags)));
        }
        let target = cargo::target_dir(&self.base, case.backend);
        words.push(format!("CARGO_TARGET_DIR={}", shell_quote(&cargo::relative(&target, &self.root))));
        words.extend(env.iter().map(|(name, value)| format!("{name}={}", shell_quote(value))));
        words.push(format!("cargo test -p {PACKAGE} --test {} -- --exact {}", case.binary, shell_quote(&case.test)));
        if case.ignored {
            words.push("--include-ignored".to_owned());
        }
        words.join(" ")
    }

    fn finish(&self, run: Running, status: Option<ExitStatus>, forced: Option<Outcome>) -> Row {
        let elapsed = run.started.elapsed().as_secs_f64();
        let checks = parse_check_lines(&std::fs::read_to_string(&run.report).unwrap_or_default());
        let output = std::fs::read_to_string(&run.log).unwrap_or_default();
        let (outcome, exit) = match forced {
            Some(Outcome::TimedOut) => {
                (Outcome::TimedOut, format!("killed at the {} timeout", budget::human_duration(run.timeout)))
            }
            Some(forced) => (forced, "stopped by Ctrl-C".to_owned()),
            None => classify(status, &output),
        };
        let last_failure =
            checks.iter().rev().filter_map(|line| line.failure.as_ref()).find(|failure| !failure.replayed);
        let replay = match outcome {
            // A failed check is what failed the test (or what it was reporting when it
            // died); a timeout is about the whole test, so its rerun is the reproduction.
            Outcome::Failed | Outcome::Crashed if !run.case.mutant => last_failure.map(|failure| {
                let mut command = failure.replay.command.clone();
                if run.case.ignored && !command.contains("--include-ignored") {
                    command.push_str(" --include-ignored");
                }
                command
            }),
            _ => None,
        };
        let message = match outcome {
            Outcome::Passed | Outcome::NotRun | Outcome::Interrupted => None,
            Outcome::Failed if run.case.mutant => Some(escape_message(&checks)),
            Outcome::Failed => Some(match last_failure {
                Some(failure) => format!("{}: {}", failure.kind, failure.message),
                None => libtest_failure(&output, &run.case.test),
            }),
            Outcome::TimedOut => Some(format!(
                "the test did not finish within {} (raise it with --timeout); {} check(s) had finished",
                budget::human_duration(run.timeout),
                checks.len()
            )),
            Outcome::Crashed => Some(format!("{exit}; the end of its output:\n{}", tail(&output, 15))),
        };
        let mut row = self.blank_row(&run.case, outcome, exit, message);
        row.elapsed = elapsed;
        row.schedules = checks.iter().map(CheckLine::schedules).sum();
        row.rerun = self.rerun_command(&run.case, &run.env);
        row.env = run.env;
        row.checks = checks;
        row.replay = replay;
        let _ = std::fs::remove_file(&run.report);
        if matches!(row.verdict(), Verdict::Pass | Verdict::Caught) {
            let _ = std::fs::remove_file(&run.log);
        } else {
            row.log = Some(cargo::relative(&run.log, &self.root));
        }
        row
    }

    fn blank_row(&self, case: &Case, outcome: Outcome, exit: String, message: Option<String>) -> Row {
        Row {
            backend: case.backend,
            binary: case.binary.clone(),
            test: case.test.clone(),
            pattern: case.pattern(),
            mutant: case.mutant,
            ignored: case.ignored,
            shard: self.shard.clone(),
            outcome,
            exit,
            elapsed: 0.0,
            schedules: 0,
            env: Vec::new(),
            checks: Vec::new(),
            message,
            replay: None,
            rerun: self.rerun_command(case, &[]),
            log: None,
        }
    }

    fn not_run(&self, case: &Case) -> Row {
        self.blank_row(case, Outcome::NotRun, "not started (Ctrl-C)".to_owned(), None)
    }

    fn unstartable(&self, case: &Case, error: &anyhow::Error) -> Row {
        self.blank_row(
            case,
            Outcome::Crashed,
            "could not start".to_owned(),
            Some(format!("could not start the test: {error:#}")),
        )
    }
}

/// Reads libtest's verdict from the exit status and the summary line it printed.
fn classify(status: Option<ExitStatus>, output: &str) -> (Outcome, String) {
    let Some(status) = status else {
        return (Outcome::Crashed, "lost track of the process".to_owned());
    };
    let summary = output.lines().rev().find(|line| line.starts_with("test result:")).unwrap_or("");
    match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
        (Some(0), _) if summary.contains(" 1 passed") => (Outcome::Passed, "exit 0".to_owned()),
        (Some(0), _) => (Outcome::Crashed, "exit 0 without running the test (renamed since it was listed?)".to_owned()),
        (Some(101), _) if summary.contains(" 1 failed") => (Outcome::Failed, "exit 101".to_owned()),
        (Some(code), _) => (Outcome::Crashed, format!("exit {code}")),
        (None, Some(signal)) => (Outcome::Crashed, format!("signal {signal}{}", signal_name(signal))),
        (None, None) => (Outcome::Crashed, "ended without an exit code".to_owned()),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        6 => " (abort)",
        9 => " (killed)",
        11 => " (segmentation fault)",
        15 => " (terminated)",
        _ => "",
    }
}

/// Kills a child's whole process group (the test and anything it started), then the
/// child itself in case the group kill was not possible.
pub fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
}

/// Why a mutant escaped: the checks it ran all passed.
fn escape_message(checks: &[CheckLine]) -> String {
    let schedules: u64 = checks.iter().map(CheckLine::schedules).sum();
    let cut = if checks.iter().any(CheckLine::cut_short) { " (the time budget cut exploration short)" } else { "" };
    format!("escaped: every one of {} explored schedule(s) passed{cut}", budget::thousands(schedules))
}

/// The panic libtest captured for `test`: from the first `panicked at` line of its
/// `---- test stdout ----` section (what the test printed before is the models' passing
/// reports), without libtest's backtrace hint.
fn libtest_failure(output: &str, test: &str) -> String {
    let header = format!("---- {test} stdout ----");
    let section = match output.find(&header) {
        Some(start) => {
            let body = &output[start + header.len()..];
            let end =
                ["\n\nfailures:", "\n---- "].iter().filter_map(|marker| body.find(marker)).min().unwrap_or(body.len());
            &body[..end]
        }
        None => return tail(output, 15),
    };
    let lines: Vec<&str> = section.lines().collect();
    let from = lines.iter().position(|line| line.contains(" panicked at ")).unwrap_or(0);
    lines[from..]
        .iter()
        .filter(|line| !line.starts_with("note: run with `RUST_BACKTRACE=1`"))
        .take(25)
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Quotes `text` for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Runs `command` with `bash -c` from `root`, output to `log`: how the self-test pastes a
/// printed command.
pub fn paste(root: &Path, command: &str, extra_env: &[(&str, &Path)], log: &Path) -> Result<ExitStatus> {
    let log_file = std::fs::File::create(log)?;
    let mut bash = Command::new("bash");
    bash.current_dir(root).args(["-c", command]).stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file);
    for name in budget::CONTROLLED {
        bash.env_remove(name);
    }
    for (name, value) in extra_env {
        bash.env(name, value);
    }
    Ok(bash.status()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn libtest_verdicts_are_read_from_status_and_summary() {
        let ok = "test result: ok. 1 passed; 0 failed; 0 ignored";
        let failed = "test result: FAILED. 0 passed; 1 failed; 0 ignored";
        let none = "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 80 filtered out";
        assert_eq!(classify(Some(ExitStatus::from_raw(0)), ok).0, Outcome::Passed);
        assert_eq!(classify(Some(ExitStatus::from_raw(101 << 8)), failed).0, Outcome::Failed);
        assert_eq!(classify(Some(ExitStatus::from_raw(0)), none).0, Outcome::Crashed, "nothing ran: not a pass");
        let (outcome, exit) = classify(Some(ExitStatus::from_raw(6)), "");
        assert_eq!((outcome, exit.as_str()), (Outcome::Crashed, "signal 6 (abort)"));
    }

    #[test]
    fn the_captured_panic_is_extracted() {
        let output = "running 1 test\ntest q::m ... FAILED\n\nfailures:\n\n---- q::m stdout ----\nracekit: model `m` passed\n\nthread 'q::m' panicked at x.rs:1:1:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n\nfailures:\n    q::m\n";
        assert_eq!(libtest_failure(output, "q::m"), "thread 'q::m' panicked at x.rs:1:1:\nboom");
    }

    #[test]
    fn rerun_commands_name_backend_directory_and_budget() {
        let runner = Runner {
            root: PathBuf::from("/w"),
            base: PathBuf::from("/w/target"),
            logs: PathBuf::from("/w/reports/job/logs"),
            jobs: 1,
            timeout: None,
            budget: Budget::default(),
            shard: None,
            backtraces: false,
            interrupted: Arc::new(AtomicBool::new(false)),
        };
        let case = Case::new(
            crate::results::Backend::Loom,
            "models",
            PathBuf::from("x"),
            "q::mutants::x_is_caught".into(),
            false,
        );
        assert_eq!(
            runner.rerun_command(&case, &[("LOOM_MAX_PREEMPTIONS".into(), "3".into())]),
            "RUSTFLAGS='--cfg racekit_loom' CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=3 \
             cargo test -p racekit --test models -- --exact q::mutants::x_is_caught"
        );
        let ignored = Case { backend: crate::results::Backend::Std, ignored: true, ..case };
        assert!(runner.rerun_command(&ignored, &[]).ends_with("--exact q::mutants::x_is_caught --include-ignored"));
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
