//! Building each backend's test binaries and listing their tests.
//!
//! Each backend builds in its own target directory (`<base>`, `<base>/loom`,
//! `<base>/shuttle`) with the `test` profile, exactly as `cargo test` and the CI scripts
//! do, so the job reuses their builds and the harness's reproduce commands (which name
//! that directory and profile) rebuild nothing.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::results::Backend;

/// The package whose test targets the job runs.
pub const PACKAGE: &str = "racekit";

/// The workspace root: the job crate's parent folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where `backend` builds under the base target directory.
pub fn target_dir(base: &Path, backend: Backend) -> PathBuf {
    match backend.target_subdir() {
        Some(sub) => base.join(sub),
        None => base.to_path_buf(),
    }
}

/// `path` relative to `root` when it is inside it (shorter commands that work from the
/// root), else as given.
pub fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| path.display().to_string(), |p| p.display().to_string())
}

/// A test binary: its target name (`models`, `stress`) and executable.
#[derive(Clone, Debug)]
pub struct TestBinary {
    pub target: String,
    pub exe: PathBuf,
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    executable: Option<PathBuf>,
    #[serde(default)]
    profile: Option<Profile>,
    #[serde(default)]
    package_id: Option<String>,
    #[serde(default)]
    success: Option<bool>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

#[derive(Deserialize)]
struct Profile {
    test: bool,
}

/// The `cargo` command that builds (or, with `extra`, runs) `backend`'s tests.
pub fn cargo_test(root: &Path, base: &Path, backend: Backend) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root).arg("test").env("CARGO_TARGET_DIR", target_dir(base, backend));
    if let Some(flags) = backend.rustflags() {
        command.env("RUSTFLAGS", flags);
    }
    command
}

/// Builds `backend`'s test binaries (`cargo test --no-run`), logging cargo's output to
/// `log`; `progress` hears the name of each crate as it is compiled.
pub fn build(
    root: &Path,
    base: &Path,
    backend: Backend,
    log: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Vec<TestBinary>> {
    let log_file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut command = cargo_test(root, base, backend);
    command.args(["--no-run", "--message-format=json-render-diagnostics", "-p", PACKAGE]);
    for target in backend.test_targets() {
        command.args(["--test", target]);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(log_file)
        .stdin(Stdio::null())
        .spawn()
        .context("cannot run cargo: is it on PATH?")?;
    let mut binaries = Vec::new();
    let mut finished_ok = None;
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let Ok(message) = serde_json::from_str::<Message>(&line?) else { continue };
        match message.reason.as_str() {
            "compiler-artifact" => {
                if let Some(id) = &message.package_id {
                    progress(crate_name(id));
                }
                let (Some(target), Some(exe), Some(profile)) = (message.target, message.executable, message.profile)
                else {
                    continue;
                };
                if profile.test
                    && target.kind.iter().any(|k| k == "test")
                    && backend.test_targets().contains(&target.name.as_str())
                {
                    binaries.push(TestBinary { target: target.name, exe });
                }
            }
            "build-finished" => finished_ok = message.success,
            _ => {}
        }
    }
    let status = child.wait()?;
    if !status.success() || finished_ok == Some(false) {
        bail!("{}", build_error(log));
    }
    binaries.sort_by(|a, b| a.target.cmp(&b.target));
    Ok(binaries)
}

/// The name in a package id (`path+file:///w#racekit@0.1.0` or `registry+...#loom@0.7.2`).
fn crate_name(id: &str) -> &str {
    let tail = id.rsplit(['#', '/']).next().unwrap_or(id);
    tail.split(['@', ':']).next().unwrap_or(tail)
}

/// The first error of a failed build, from cargo's log.
fn build_error(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|line| line.starts_with("error")).unwrap_or(lines.len().saturating_sub(12));
    let excerpt: Vec<&str> = lines[start..].iter().take(12).copied().collect();
    format!("the build failed (full log: {}):\n{}", log.display(), excerpt.join("\n"))
}

/// A test as libtest lists it.
#[derive(Clone, Debug)]
pub struct ListedTest {
    pub name: String,
    pub ignored: bool,
}

/// Lists the tests of a binary, marking the `#[ignore]`d ones.
pub fn list(root: &Path, exe: &Path) -> Result<Vec<ListedTest>> {
    let names = |ignored_only: bool| -> Result<Vec<String>> {
        let mut command = Command::new(exe);
        command.current_dir(root).args(["--list", "--format", "terse"]);
        if ignored_only {
            command.arg("--ignored");
        }
        let output = command.output().with_context(|| format!("cannot run {}", exe.display()))?;
        if !output.status.success() {
            bail!("{} --list failed: {}", exe.display(), String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_suffix(": test"))
            .map(str::to_owned)
            .collect())
    };
    let ignored = names(true)?;
    Ok(names(false)?.into_iter().map(|name| ListedTest { ignored: ignored.contains(&name), name }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_come_out_of_package_ids() {
        assert_eq!(crate_name("path+file:///work/main#racekit@0.1.0"), "racekit");
        assert_eq!(crate_name("registry+https://github.com/rust-lang/crates.io-index#loom@0.7.2"), "loom");
        assert_eq!(crate_name("path+file:///work/main/job#racekit-job@0.1.0"), "racekit-job");
    }

    #[test]
    fn backends_build_in_their_own_directories() {
        let base = Path::new("/w/target");
        assert_eq!(target_dir(base, Backend::Std), Path::new("/w/target"));
        assert_eq!(target_dir(base, Backend::Loom), Path::new("/w/target/loom"));
        assert_eq!(relative(Path::new("/w/target/loom"), Path::new("/w")), "target/loom");
        assert_eq!(relative(Path::new("/elsewhere/t"), Path::new("/w")), "/elsewhere/t");
    }
}
