//! The crate or workspace the job runs on, read from `cargo metadata`: its root, its
//! target directory, and the packages whose tests the job runs.
//!
//! Which packages: those given with `-p`; otherwise the root package when it is racekit or
//! depends on it; otherwise every workspace member that depends on racekit. A package
//! that does not use racekit has no model to check, so the job refuses it with a message
//! instead of running its tests under the model checkers.

use anyhow::{bail, Context as _, Result};
use cargo_metadata::{Metadata, MetadataCommand, Package};
use std::path::{Path, PathBuf};

use crate::results::Backend;

/// The crate whose checks the job runs.
pub const RACEKIT: &str = "racekit";

/// The workspace as the job needs it.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The workspace root: where reproduce commands run from.
    pub root: PathBuf,
    /// `--manifest-path`, when given (absolute).
    pub manifest: Option<PathBuf>,
    /// The packages whose tests run, by name.
    pub packages: Vec<String>,
    /// The test targets to build (`--test NAME`); empty for all of them.
    pub tests: Vec<String>,
    /// cargo's own target directory for this workspace.
    pub target_dir: PathBuf,
}

impl Workspace {
    /// Reads the workspace of `manifest` (or of the current directory) and selects the
    /// packages to run.
    pub fn load(manifest: Option<&Path>, requested: &[String], tests: &[String]) -> Result<Workspace> {
        let mut command = MetadataCommand::new();
        // Declared dependencies are enough to see who uses racekit; without resolving,
        // this needs no network and no lock file update.
        command.no_deps();
        let manifest = manifest.map(absolute).transpose()?;
        if let Some(manifest) = &manifest {
            command.manifest_path(manifest);
        }
        let metadata = command.exec().context("`cargo metadata` failed: is this inside a Cargo project?")?;
        let packages = select(&metadata, requested)?;
        Ok(Workspace {
            root: metadata.workspace_root.clone().into_std_path_buf(),
            manifest,
            packages,
            tests: tests.to_vec(),
            target_dir: metadata.target_directory.clone().into_std_path_buf(),
        })
    }

    /// Where `backend` builds, under `base` (`--target-dir`, `$CARGO_TARGET_DIR` or
    /// cargo's): std in `base`, loom in `base/loom`, shuttle in `base/shuttle`, so that
    /// switching backends never rebuilds another's artifacts.
    pub fn backend_target_dir(base: &Path, backend: Backend) -> PathBuf {
        match backend.target_subdir() {
            Some(sub) => base.join(sub),
            None => base.to_path_buf(),
        }
    }

    /// `path` as a command run from the workspace root should name it: relative when it
    /// is inside the root, else absolute.
    pub fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .ok()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| path.display().to_string(), |p| p.display().to_string())
    }

    /// The `-p` and `--test` arguments for cargo and nextest.
    pub fn build_args(&self) -> Vec<String> {
        let packages = self.packages.iter().flat_map(|name| ["-p".to_owned(), name.clone()]);
        packages.chain(self.tests.iter().flat_map(|name| ["--test".to_owned(), name.clone()])).collect()
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

fn uses_racekit(package: &Package) -> bool {
    package.name.as_str() == RACEKIT || package.dependencies.iter().any(|dep| dep.name == RACEKIT)
}

fn select(metadata: &Metadata, requested: &[String]) -> Result<Vec<String>> {
    let members = metadata.workspace_packages();
    if !requested.is_empty() {
        for name in requested {
            let Some(package) = members.iter().find(|p| p.name.as_str() == name) else {
                let names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
                bail!("-p {name}: no such package in this workspace (members: {})", names.join(", "));
            };
            if !uses_racekit(package) {
                bail!(
                    "-p {name}: this package does not depend on racekit, so it has no model to check; add \
                     racekit to its [dependencies] or [dev-dependencies]"
                );
            }
        }
        return Ok(requested.to_vec());
    }
    if let Some(root) = metadata.root_package().filter(|package| uses_racekit(package)) {
        return Ok(vec![root.name.to_string()]);
    }
    let users: Vec<String> = members.iter().filter(|p| uses_racekit(p)).map(|p| p.name.to_string()).collect();
    if users.is_empty() {
        bail!(
            "no package of the workspace at {} depends on racekit: add it to a package's [dependencies] or \
             [dev-dependencies], or point --manifest-path at a crate that uses it",
            metadata.workspace_root
        );
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_build_in_their_own_directories() {
        let base = Path::new("/w/target");
        assert_eq!(Workspace::backend_target_dir(base, Backend::Std), Path::new("/w/target"));
        assert_eq!(Workspace::backend_target_dir(base, Backend::Loom), Path::new("/w/target/loom"));
        let workspace = Workspace {
            root: PathBuf::from("/w"),
            manifest: None,
            packages: vec!["shop".into()],
            tests: vec!["models".into()],
            target_dir: PathBuf::from("/w/target"),
        };
        assert_eq!(workspace.display(Path::new("/w/target/loom")), "target/loom");
        assert_eq!(workspace.display(Path::new("/elsewhere/t")), "/elsewhere/t");
        assert_eq!(workspace.build_args(), ["-p", "shop", "--test", "models"]);
    }

    #[test]
    fn this_workspace_selects_racekit_itself() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("Cargo.toml");
        let workspace = Workspace::load(Some(&root), &[], &[]).unwrap();
        assert_eq!(workspace.packages, ["racekit"]);
        let refused = Workspace::load(Some(&root), &["racekit-job".to_owned()], &[]).unwrap_err();
        assert!(refused.to_string().contains("does not depend on racekit"), "{refused}");
    }
}
