//! cargo-nextest as the execution engine: per backend, one archive of the test binaries
//! (built once with the backend's `RUSTFLAGS` and target directory), a listing of it, and
//! a run of it; a process per test, nextest's slow and leak timeouts, no retries, and
//! nextest's JUnit file, which the job reads back.
//!
//! Every cargo and nextest process runs in its own process group, supervised here: its
//! output is streamed with a `[backend]` prefix, a heartbeat line is printed whenever it
//! has been silent for [`HEARTBEAT`], and Ctrl-C or SIGTERM stops the whole group within
//! [`GRACE`] (SIGTERM, then SIGKILL), so a build never outlives the job.

use anyhow::{bail, Context as _, Result};
use nextest_metadata::TestListSummary;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::budget::human_duration;
use crate::plan::Partition;
use crate::results::Backend;
use crate::workspace::Workspace;

/// The longest the job stays silent while cargo or nextest works.
pub const HEARTBEAT: Duration = Duration::from_secs(20);
/// How long a stopped process group gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);
/// How often the supervisor looks at its child and the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// The name of the job's nextest profile, defined in its tool config file.
pub const PROFILE: &str = "racekit";
/// How to get cargo-nextest, when it is missing.
pub const INSTALL_HINT: &str =
    "cargo-nextest is not installed: install it with `cargo install cargo-nextest --locked` \
                                 (or see https://nexte.st/docs/installation/pre-built-binaries/)";

/// Fails with [`INSTALL_HINT`] unless `cargo nextest` runs.
pub fn ensure_installed() -> Result<()> {
    let ok = cargo()
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if ok {
        Ok(())
    } else {
        bail!("{INSTALL_HINT}")
    }
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// What a supervised process came to.
pub enum Ended {
    Exited(ExitStatus),
    /// Stopped by Ctrl-C or SIGTERM (its group was killed).
    Interrupted,
}

/// Runs `command` in its own process group: streams its stderr (and stdout unless
/// `capture_stdout`) to the job's stderr behind `prefix`, prints a heartbeat when it is
/// silent, and stops its group when `stop` is raised. Returns how it ended and the
/// captured stdout.
pub fn supervise(
    mut command: Command,
    prefix: &str,
    activity: &str,
    capture_stdout: bool,
    stop: &AtomicBool,
) -> Result<(Ended, String)> {
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().context("cannot run cargo: is it on PATH?")?;
    let started = Instant::now();
    let last_line = Arc::new(Mutex::new(Instant::now()));
    let compiled = Arc::new(AtomicU64::new(0));
    let stderr = child.stderr.take().context("stderr is piped")?;
    let stderr_reader = forward(stderr, prefix.to_owned(), last_line.clone(), compiled.clone());
    let mut stdout = child.stdout.take().context("stdout is piped")?;
    let stdout_reader = if capture_stdout {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        })
    } else {
        let forwarder = forward(stdout, prefix.to_owned(), last_line.clone(), compiled.clone());
        std::thread::spawn(move || {
            let _ = forwarder.join();
            String::new()
        })
    };
    let pgid = Pid::from_raw(i32::try_from(child.id()).context("a process id out of range")?);
    let ended = loop {
        if let Some(status) = child.try_wait()? {
            break Ended::Exited(status);
        }
        if stop.load(Ordering::SeqCst) {
            eprintln!("{prefix} stopping {activity} (Ctrl-C or SIGTERM)");
            let _ = killpg(pgid, Signal::SIGTERM);
            let asked = Instant::now();
            while asked.elapsed() < GRACE && child.try_wait()?.is_none() {
                std::thread::sleep(POLL);
            }
            let _ = killpg(pgid, Signal::SIGKILL);
            let _ = child.wait();
            break Ended::Interrupted;
        }
        let silent = last_line.lock().map(|at| at.elapsed()).unwrap_or_default();
        if silent >= HEARTBEAT {
            let crates = compiled.load(Ordering::Relaxed);
            let compiled = if crates > 0 { format!(", {crates} crate(s) compiled") } else { String::new() };
            eprintln!("{prefix} still {activity} ({} so far{compiled})", human_duration(started.elapsed()));
            if let Ok(mut at) = last_line.lock() {
                *at = Instant::now();
            }
        }
        std::thread::sleep(POLL);
    };
    let _ = stderr_reader.join();
    let stdout = stdout_reader.join().unwrap_or_default();
    Ok((ended, stdout))
}

/// Forwards `stream` line by line behind `prefix`, noting when it last spoke and how
/// many crates cargo reported compiling.
fn forward(
    stream: impl Read + Send + 'static,
    prefix: String,
    last_line: Arc<Mutex<Instant>>,
    compiled: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if line.trim_start().starts_with("Compiling ") {
                compiled.fetch_add(1, Ordering::Relaxed);
            }
            eprintln!("{prefix} {line}");
            if let Ok(mut at) = last_line.lock() {
                *at = Instant::now();
            }
        }
    })
}

/// The color nextest and cargo should use: the job's stderr decides.
fn color() -> &'static str {
    if std::io::stderr().is_terminal() {
        "always"
    } else {
        "never"
    }
}

/// Builds `backend`'s test binaries for the selected packages into `archive`
/// (`cargo nextest archive`), in the backend's target directory under `base`.
pub fn archive(
    workspace: &Workspace,
    base: &Path,
    backend: Backend,
    archive: &Path,
    stop: &AtomicBool,
) -> Result<Ended> {
    let mut command = cargo();
    command.current_dir(&workspace.root).args(["nextest", "archive", "--color", color()]);
    manifest_args(&mut command, workspace);
    command.args(workspace.build_args()).arg("--archive-file").arg(archive);
    command.env("CARGO_TARGET_DIR", Workspace::backend_target_dir(base, backend));
    match backend.rustflags(std::env::var("RUSTFLAGS").ok().as_deref()) {
        Some(flags) => command.env("RUSTFLAGS", flags),
        None => command.env_remove("RUSTFLAGS"),
    };
    let packages = workspace.packages.join(", ");
    let (ended, _) =
        supervise(command, &format!("[{backend}]"), &format!("building {backend} ({packages})"), false, stop)?;
    Ok(ended)
}

fn manifest_args(command: &mut Command, workspace: &Workspace) {
    if let Some(manifest) = &workspace.manifest {
        command.arg("--manifest-path").arg(manifest);
    }
}

/// What the job asks nextest to select: the filterset, the partition, whether ignored tests.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// nextest filtersets (`-E`), all of which must match.
    pub filters: Vec<String>,
    pub partition: Option<Partition>,
    /// Ignored tests too (`--run-ignored all`), or only the others.
    pub run_ignored: bool,
}

impl Selection {
    fn args(&self, command: &mut Command) {
        command.args(["--run-ignored", if self.run_ignored { "all" } else { "default" }]);
        for filter in &self.filters {
            command.arg("-E").arg(filter);
        }
        if let Some(partition) = self.partition {
            command.arg("--partition").arg(partition.nextest());
        }
    }
}

fn archive_args(command: &mut Command, workspace: &Workspace, archive: &Path) {
    command.current_dir(&workspace.root).arg("--archive-file").arg(archive);
    command.arg("--workspace-remap").arg(&workspace.root);
    manifest_args(command, workspace);
}

/// A test nextest listed, with what the reports and reproduce commands need.
#[derive(Clone, Debug)]
pub struct Listed {
    /// nextest's binary id: `shop::job_proof`, `racekit` (unit tests), `racekit::models`.
    pub binary_id: String,
    pub package: String,
    /// The cargo target kind (`lib`, `test`, `bin`, ...) and name.
    pub kind: String,
    pub target: String,
    /// The test binary's file name, as the harness's report lines name it.
    pub file_name: String,
    pub test: String,
    pub ignored: bool,
}

/// The tests of `archive` that the selection picks.
pub fn list(workspace: &Workspace, archive: &Path, selection: &Selection, stop: &AtomicBool) -> Result<Vec<Listed>> {
    let mut command = cargo();
    command.args(["nextest", "list", "--color", "never", "--message-format", "json"]);
    archive_args(&mut command, workspace, archive);
    selection.args(&mut command);
    let (ended, stdout) = supervise(command, "[list]", "listing tests", true, stop)?;
    match ended {
        Ended::Exited(status) if status.success() => {}
        Ended::Exited(status) => bail!("`cargo nextest list` failed ({status}); its output is above"),
        Ended::Interrupted => return Ok(Vec::new()),
    }
    let summary: TestListSummary =
        serde_json::from_str(&stdout).context("cannot read `cargo nextest list --message-format json`")?;
    Ok(listed(&summary))
}

fn listed(summary: &TestListSummary) -> Vec<Listed> {
    let mut tests = Vec::new();
    for (id, suite) in &summary.rust_suites {
        let file_name = suite.binary.binary_path.file_name().unwrap_or_default().to_owned();
        for (name, case) in &suite.test_cases {
            if !case.filter_match.is_match() {
                continue;
            }
            tests.push(Listed {
                binary_id: id.to_string(),
                package: suite.package_name.clone(),
                kind: suite.binary.kind.as_str().to_owned(),
                target: suite.binary.binary_name.clone(),
                file_name: file_name.clone(),
                test: name.as_str().to_owned(),
                ignored: case.ignored,
            });
        }
    }
    tests
}

/// How one backend's run is set up.
pub struct RunSpec<'a> {
    pub backend: Backend,
    pub archive: &'a Path,
    pub selection: &'a Selection,
    /// The budget environment for every test.
    pub env: &'a [(String, String)],
    /// Where the harness appends its report lines.
    pub report_file: &'a Path,
    /// This backend's folder for nextest's store (JUnit) and tool config.
    pub dir: &'a Path,
    pub timeout: Duration,
    pub threads: usize,
    pub backtraces: bool,
    /// Where the archive is extracted (kept until the job has read what the tests left
    /// there, such as loom checkpoints).
    pub extract_to: &'a Path,
}

/// Runs the selected tests of `spec.archive` and returns nextest's JUnit report (absent
/// when the run was stopped before nextest wrote it).
pub fn run(workspace: &Workspace, spec: &RunSpec, stop: &AtomicBool) -> Result<(Ended, Option<quick_junit::Report>)> {
    std::fs::create_dir_all(spec.dir)?;
    let store = spec.dir.join("nextest");
    let _ = std::fs::remove_dir_all(&store);
    let config = spec.dir.join("nextest.toml");
    std::fs::write(&config, tool_config(&store, spec.timeout))
        .with_context(|| format!("cannot write {}", config.display()))?;
    let mut command = cargo();
    command.args(["nextest", "run", "--color", color(), "--profile", PROFILE, "--no-tests", "pass"]);
    command.arg("--tool-config-file").arg(format!("{PROFILE}:{}", config.display()));
    command.arg("--test-threads").arg(spec.threads.to_string());
    archive_args(&mut command, workspace, spec.archive);
    command.arg("--extract-to").arg(spec.extract_to).arg("--extract-overwrite");
    std::fs::create_dir_all(spec.extract_to)?;
    spec.selection.args(&mut command);
    for name in crate::budget::CONTROLLED {
        command.env_remove(name);
    }
    command.envs(spec.env.iter().map(|(k, v)| (k, v))).env("RACEKIT_REPORT_FILE", spec.report_file);
    if !spec.backtraces {
        // Symbolising a panic's backtrace takes about half a second: it would swamp the
        // detection times of bugs found in a few schedules.
        command.env("RUST_BACKTRACE", "0");
    }
    let backend = spec.backend;
    let (ended, _) = supervise(command, &format!("[{backend}]"), &format!("running the {backend} tests"), false, stop)?;
    let junit = store.join(PROFILE).join("junit.xml");
    let report = match std::fs::read_to_string(&junit) {
        Ok(xml) => Some(
            quick_junit::Report::deserialize_from_str(&xml)
                .with_context(|| format!("cannot read nextest's JUnit file {}", junit.display()))?,
        ),
        Err(_) => None,
    };
    Ok((ended, report))
}

/// The job's nextest profile: every test to the end (no fail-fast, no retries), each
/// killed at `timeout` (nextest prints a SLOW line every period until then, so a long
/// test is never silent for long), and a JUnit file with the output of failures.
pub fn tool_config(store: &Path, timeout: Duration) -> String {
    let period = timeout.min(Duration::from_secs(30)).max(Duration::from_secs(1));
    let terminate_after = timeout.as_secs_f64() / period.as_secs_f64();
    let terminate_after = (terminate_after.ceil() as u64).max(1);
    format!(
        "[store]\ndir = {store:?}\n\n\
         [profile.{PROFILE}]\nfail-fast = false\nretries = 0\n\
         slow-timeout = {{ period = \"{}\", terminate-after = {terminate_after} }}\n\
         leak-timeout = \"1s\"\nstatus-level = \"pass\"\nfinal-status-level = \"none\"\n\
         success-output = \"never\"\nfailure-output = \"never\"\n\n\
         [profile.{PROFILE}.junit]\npath = \"junit.xml\"\nstore-success-output = false\nstore-failure-output = true\n",
        humantime::format_duration(Duration::from_secs(period.as_secs().max(1))),
        store = store.display().to_string(),
    )
}

/// Where `backend`'s archive lives in an archive folder.
pub fn archive_path(dir: &Path, backend: Backend) -> PathBuf {
    dir.join(format!("{backend}.tar.zst"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_kills_at_the_timeout_and_speaks_every_thirty_seconds() {
        let config = tool_config(Path::new("/o/nextest"), Duration::from_secs(120));
        assert!(config.contains("period = \"30s\", terminate-after = 4"), "{config}");
        assert!(config.contains("retries = 0") && config.contains("dir = \"/o/nextest\""), "{config}");
        let short = tool_config(Path::new("/o"), Duration::from_secs(5));
        assert!(short.contains("period = \"5s\", terminate-after = 1"), "{short}");
    }

    #[test]
    fn a_stopped_process_group_is_killed() {
        let stop = AtomicBool::new(true);
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & sleep 30"]);
        // Without the group kill this would run 30 s and end `Exited`.
        let (ended, _) = supervise(command, "[test]", "sleeping", true, &stop).unwrap();
        assert!(matches!(ended, Ended::Interrupted));
    }
}
