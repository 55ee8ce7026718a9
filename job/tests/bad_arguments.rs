//! Bad command-line arguments to `cargo racekit`: one row per argument, each run as the
//! real binary, which must exit with status 2 and a message naming the argument and what
//! it takes, before any build starts. A row still running after its time limit would have
//! started a job: it is killed and fails as a hang. The count is written to
//! `docs/bad-inputs.md` (`BAD_INPUTS_WRITE=1 cargo test -p racekit-job --test bad_arguments`).

#[path = "../../stress/bad_inputs/section.rs"]
mod section;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the binary may take to refuse an argument (the rows that get past parsing
/// read the workspace's metadata first).
const LIMIT: Duration = Duration::from_secs(60);

/// What a row expects.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    /// Exit status 2, stderr containing this.
    Refused(&'static str),
    /// Exit status 0 (a documented no-op).
    Accepted,
}

/// How a row failed before its fix.
#[derive(Clone, Copy, PartialEq)]
enum Class {
    Panic,
    SilentAcceptance,
}

struct Row {
    name: &'static str,
    args: Vec<OsString>,
    expect: Expect,
    before: Option<(Class, &'static str)>,
}

fn row(name: &'static str, args: &[&str], expect: Expect) -> Row {
    Row { name, args: args.iter().map(OsString::from).collect(), expect, before: None }
}

fn fixed(name: &'static str, args: &[&str], expect: Expect, class: Class, fix: &'static str) -> Row {
    Row { before: Some((class, fix)), ..row(name, args, expect) }
}

/// A scratch directory of this test binary's own, emptied.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("racekit-bad-arguments-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 scratch path")
}

fn rows() -> Vec<Row> {
    use Class::*;
    use Expect::*;
    let garbage_report = scratch("garbage-report");
    std::fs::write(garbage_report.join("job.json"), "{ not json").unwrap();
    let empty_report = scratch("empty-report");
    std::fs::write(empty_report.join("job.json"), "").unwrap();
    let garbage_manifest = scratch("garbage-manifest");
    std::fs::write(garbage_manifest.join("Cargo.toml"), "[package\nname = ").unwrap();
    let fresh = scratch("fresh-crate");
    std::fs::write(fresh.join("Cargo.toml"), "[package]\nname = \"fresh\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
        .unwrap();
    let mut rows = vec![
        row(
            "init --dry-run of a crate without racekit changes nothing",
            &["init", "--dry-run", "--manifest-path", &format!("{}/Cargo.toml", fresh.display())],
            Accepted,
        ),
        row("--budget abc", &["--budget", "abc"], Refused("is not a duration")),
        row("--budget 0", &["--budget", "0"], Refused("zero duration")),
        row("--budget 0s", &["--budget", "0s"], Refused("zero duration")),
        row("--budget -5m", &["--budget", "-5m"], Refused("must be positive")),
        row("--budget inf", &["--budget", "inf"], Refused("is not a duration")),
        row("--budget NaN", &["--budget", "NaN"], Refused("is not a duration")),
        row("--budget empty", &["--budget", ""], Refused("is not a duration")),
        fixed(
            "--budget 1e30 (seconds)",
            &["--budget", "1e30"],
            Refused("at most"),
            Panic,
            "durations capped, converted without panicking",
        ),
        fixed(
            "--budget 1e12 (seconds)",
            &["--budget", "1e12"],
            Refused("at most"),
            SilentAcceptance,
            "durations capped, converted without panicking",
        ),
        row("--budget 99999999999999999999y", &["--budget", "99999999999999999999y"], Refused("is not a duration")),
        row("--std-run-timeout 0", &["--std-run-timeout", "0"], Refused("zero duration")),
        row("--timeout 0ms", &["--timeout", "0ms"], Refused("zero duration")),
        row("--timeout soon", &["--timeout", "soon"], Refused("is not a duration")),
        row("--iterations 0", &["--iterations", "0"], Refused("at least 1")),
        row("--iterations -1", &["--iterations", "-1"], Refused("whole number")),
        row("--iterations 2^64", &["--iterations", "18446744073709551616"], Refused("whole number")),
        row("--iterations many", &["--iterations", "many"], Refused("whole number")),
        row("--preemption-bound 0", &["--preemption-bound", "0"], Refused("at least 1")),
        fixed(
            "--preemption-bound 2^32",
            &["--preemption-bound", "4294967296"],
            Refused("at most"),
            SilentAcceptance,
            "counts the harness reads as 32 bits refused above u32::MAX",
        ),
        row("--pct-depth 0", &["--pct-depth", "0"], Refused("at least 1")),
        fixed(
            "--pct-depth 2^32 + 3",
            &["--pct-depth", "4294967299"],
            Refused("at most"),
            SilentAcceptance,
            "counts the harness reads as 32 bits refused above u32::MAX",
        ),
        row("--proptest-cases 0", &["--proptest-cases", "0"], Refused("at least 1")),
        fixed(
            "--proptest-cases 5000000000",
            &["--proptest-cases", "5000000000"],
            Refused("at most"),
            SilentAcceptance,
            "counts the harness reads as 32 bits refused above u32::MAX",
        ),
        row("--jobs 0", &["--jobs", "0"], Refused("at least 1")),
        row("--scheduler fifo", &["--scheduler", "fifo"], Refused("portfolio")),
        row("--backend fiber", &["--backend", "fiber"], Refused("possible values")),
        row("--backend std,,loom", &["--backend", "std,,loom"], Refused("possible values")),
        row("--partition 0/4", &["--partition", "0/4"], Refused("numbered 1 to n")),
        row("--partition 5/4", &["--partition", "5/4"], Refused("numbered 1 to n")),
        row("--partition 1/0", &["--partition", "1/0"], Refused("numbered 1 to n")),
        row("--partition half", &["--partition", "half"], Refused("expected i/n")),
        row("--partition 1/2/3", &["--partition", "1/2/3"], Refused("whole numbers")),
        row("--partition -1/4", &["--partition", "-1/4"], Refused("unexpected argument '-1'")),
        row("an unknown flag", &["--frobnicate"], Refused("unexpected argument")),
        row("an unknown subcommand", &["frobnicate"], Refused("unrecognized subcommand")),
        row("a subcommand's flag before it", &["--out", "x", "merge"], Refused("cannot be used with")),
        row("merge without folders", &["merge"], Refused("required")),
        row("merge of a missing folder", &["merge", "/nonexistent/racekit-run"], Refused("/nonexistent/racekit-run")),
        row("merge of a report that is not JSON", &["merge", path_arg(&garbage_report)], Refused("job.json")),
        row("merge of an empty report", &["merge", path_arg(&empty_report)], Refused("job.json")),
        row(
            "--seed abc",
            &["--seed", "abc", "--target-dir", "/nonexistent/racekit-target"],
            Refused("expected a number or `random`"),
        ),
        row(
            "--archives of a missing folder",
            &["--archives", "/nonexistent/racekit-archives"],
            Refused("no archive there"),
        ),
        row(
            "--manifest-path of a missing file",
            &["--manifest-path", "/nonexistent/Cargo.toml"],
            Refused("/nonexistent/Cargo.toml"),
        ),
        row(
            "--manifest-path of a garbage Cargo.toml",
            &["--manifest-path", &format!("{}/Cargo.toml", garbage_manifest.display())],
            Refused("Cargo.toml"),
        ),
        row(
            "-p of a package that does not exist",
            &["-p", "racekit-no-such-package"],
            Refused("racekit-no-such-package"),
        ),
        row(
            "init --manifest-path of a missing file",
            &["init", "--manifest-path", "/nonexistent/Cargo.toml"],
            Refused("/nonexistent/Cargo.toml"),
        ),
        row(
            "init of a garbage Cargo.toml",
            &["init", "--manifest-path", &format!("{}/Cargo.toml", garbage_manifest.display())],
            Refused("Cargo.toml"),
        ),
    ];
    rows.push(Row {
        name: "--budget that is not UTF-8",
        args: vec!["--budget".into(), OsString::from_vec(vec![b'9', 0xff])],
        expect: Refused("invalid UTF-8"),
        before: None,
    });
    rows.push(Row {
        name: "--manifest-path that is not UTF-8",
        args: vec!["--manifest-path".into(), OsString::from_vec(b"/nonexistent/\xff/Cargo.toml".to_vec())],
        expect: Refused("invalid UTF-8"),
        before: None,
    });
    rows
}

/// Runs the binary with `args`; its status code (None when killed) and stderr.
fn run(args: &[OsString]) -> Result<(Option<i32>, String), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cargo-racekit"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start the binary: {error}"))?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            return Ok((status.code(), stderr));
        }
        if started.elapsed() > LIMIT {
            // SIGTERM first: the job then stops the builds it started (in process groups of
            // their own, out of reach of a kill of the job alone).
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            for _ in 0..500 {
                if child.try_wait().map_err(|e| e.to_string())?.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("[hang] still running after {LIMIT:?}: it would have started a job"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn check(row: &Row) -> Result<(), String> {
    let (code, stderr) = run(&row.args)?;
    if stderr.contains("panicked") {
        return Err(format!("[panic] {}", stderr.trim()));
    }
    match row.expect {
        Expect::Accepted if code == Some(0) => Ok(()),
        Expect::Refused(hint) if code == Some(2) && stderr.contains(hint) => Ok(()),
        Expect::Refused(hint) if code == Some(2) => Err(format!("[unclear error] no {hint:?} in: {}", stderr.trim())),
        _ if code.is_none() => Err(format!("[abort] killed by a signal: {}", stderr.trim())),
        _ => Err(format!("[silent acceptance] exit status {code:?}: {}", stderr.trim())),
    }
}

#[test]
fn bad_arguments_are_refused_before_any_build() {
    let misses: Vec<String> =
        rows().iter().filter_map(|row| check(row).err().map(|miss| format!("  {}: {miss}", row.name))).collect();
    assert!(misses.is_empty(), "{} row(s) missed:\n{}", misses.len(), misses.join("\n"));
}

/// The count of the rows, as `docs/bad-inputs.md` shows it (see the module docs).
#[test]
fn summary() {
    let rows = rows();
    let count = |class: Class| rows.iter().filter(|row| row.before.is_some_and(|(c, _)| c == class)).count();
    let refused = rows.iter().filter(|row| matches!(row.expect, Expect::Refused(_))).count();
    let mut table = format!(
        "{} rows in `job/tests/bad_arguments.rs`: `cargo racekit` arguments, each run as the real binary.\n\n\
         | rows | refused (exit 2) | accepted | failed before fix: panic | failed before fix: silent acceptance |\n\
         |---|---|---|---|---|\n| {} | {refused} | {} | {} | {} |\n\n| row | failed as | fix |\n|---|---|---|\n",
        rows.len(),
        rows.len(),
        rows.len() - refused,
        count(Class::Panic),
        count(Class::SilentAcceptance),
    );
    for row in &rows {
        if let Some((class, fix)) = row.before {
            let class = if class == Class::Panic { "panic" } else { "silent acceptance" };
            table.push_str(&format!("| `{}` | {class} | {fix} |\n", row.name));
        }
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/bad-inputs.md");
    section::write_or_check(&path, "job", &table, "BAD_INPUTS_WRITE=1 cargo test -p racekit-job --test bad_arguments");
}
