//! The commands the reports print: one that reproduces a failure (the failing schedule,
//! through the harness's `RACEKIT_REPLAY` token) and one that reruns a whole test with the
//! job's budget. Both are plain `cargo test` invocations with the backend's `RUSTFLAGS`
//! and target directory, so they reuse the job's build; they run from the directory the
//! job was started in (a `cd` to the workspace root leads them when that differs).

use std::borrow::Cow;
use std::path::PathBuf;

use crate::results::Backend;
use crate::workspace::Workspace;

/// What every command of one job shares.
#[derive(Clone, Debug)]
pub struct Commands {
    /// `cd <root> && `, when the job was not started at the workspace root.
    pub cd: Option<String>,
    /// The base target directory (each backend's is derived from it).
    pub base: PathBuf,
    /// The user's own `RUSTFLAGS`, kept in every build.
    pub user_rustflags: Option<String>,
}

/// What names one test for `cargo test`.
pub struct TestRef<'a> {
    pub backend: Backend,
    pub package: &'a str,
    pub kind: &'a str,
    pub target: &'a str,
    pub test: &'a str,
    pub ignored: bool,
}

/// Quotes a word for a POSIX shell (shlex refuses only NUL bytes, which no test name or
/// path holds; they are dropped).
pub fn quote(word: &str) -> String {
    shlex::try_quote(word).map_or_else(|_| quote(&word.replace('\0', "")), Cow::into_owned)
}

impl Commands {
    /// For `workspace`, run from the current directory.
    pub fn new(workspace: &Workspace, base: PathBuf) -> Commands {
        let cwd = std::env::current_dir().ok();
        let cd = match &cwd {
            Some(cwd) if *cwd == workspace.root => None,
            _ => Some(format!("cd {} && ", quote(&workspace.root.display().to_string()))),
        };
        Commands { cd, base, user_rustflags: std::env::var("RUSTFLAGS").ok() }
    }

    /// `cargo test` of exactly `test`, with `env` in front.
    pub fn cargo_test(&self, workspace: &Workspace, test: &TestRef, env: &[(String, String)]) -> String {
        let mut words = Vec::new();
        if let Some(cd) = &self.cd {
            words.push(cd.trim_end().to_owned());
        }
        if let Some(flags) = test.backend.rustflags(self.user_rustflags.as_deref()) {
            words.push(format!("RUSTFLAGS={}", quote(&flags)));
        }
        let target_dir = Workspace::backend_target_dir(&self.base, test.backend);
        words.push(format!("CARGO_TARGET_DIR={}", quote(&workspace.display(&target_dir))));
        words.extend(env.iter().map(|(name, value)| format!("{name}={}", quote(value))));
        words.push(format!("cargo test -p {}", quote(test.package)));
        match test.kind {
            "lib" | "proc-macro" => words.push("--lib".to_owned()),
            "test" | "bin" | "bench" | "example" => words.push(format!("--{} {}", test.kind, quote(test.target))),
            _ => {}
        }
        words.push(format!("-- --exact {}", quote(test.test)));
        if test.ignored {
            words.push("--include-ignored".to_owned());
        }
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> Workspace {
        Workspace {
            root: PathBuf::from("/w"),
            manifest: None,
            packages: vec!["shop".into()],
            tests: Vec::new(),
            target_dir: PathBuf::from("/w/target"),
        }
    }

    #[test]
    fn commands_name_backend_target_budget_and_test() {
        let commands = Commands { cd: None, base: PathBuf::from("/w/target"), user_rustflags: None };
        let test = TestRef {
            backend: Backend::Loom,
            package: "shop",
            kind: "test",
            target: "job_proof",
            test: "planted::a_lost_visit_fails",
            ignored: true,
        };
        assert_eq!(
            commands.cargo_test(&workspace(), &test, &[("RACEKIT_REPLAY".into(), "loom|a b|1".into())]),
            "RUSTFLAGS='--cfg racekit_loom' CARGO_TARGET_DIR=target/loom RACEKIT_REPLAY='loom|a b|1' \
             cargo test -p shop --test job_proof -- --exact planted::a_lost_visit_fails --include-ignored"
        );
        let unit = TestRef { backend: Backend::Std, kind: "lib", ignored: false, ..test };
        let elsewhere = Commands {
            cd: Some("cd /w && ".into()),
            base: PathBuf::from("/shared/target"),
            user_rustflags: Some("-C debuginfo=1".into()),
        };
        assert_eq!(
            elsewhere.cargo_test(&workspace(), &unit, &[]),
            "cd /w && RUSTFLAGS='-C debuginfo=1' CARGO_TARGET_DIR=/shared/target cargo test -p shop --lib \
             -- --exact planted::a_lost_visit_fails"
        );
        assert_eq!(quote("it's"), r#""it's""#);
    }
}
