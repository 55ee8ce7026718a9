//! `cargo racekit init`: adds racekit's setup to a crate's `Cargo.toml`, idempotently.
//!
//! What it adds, and why (README's "Model your own code" says the same):
//!
//! - **tokio renamed to shuttle-tokio** (`tokio = { package = "shuttle-tokio", ... }`, same
//!   version line and features): in normal builds it is tokio itself; under
//!   `--cfg racekit_shuttle`, with its `shuttle` feature (added in a
//!   `[target.'cfg(racekit_shuttle)'.dependencies]` entry), your `tokio::spawn`,
//!   `tokio::sync` and `tokio::time` run on shuttle's executor, so shuttle schedules your
//!   async code instead of passing it unexplored. Only done when the crate depends on tokio.
//! - **check-cfg lints** for `racekit_loom` and `racekit_shuttle`, so builds that test for
//!   them do not warn `unexpected cfg`.
//! - **a test profile** with `opt-level = 1` (and 2 for dependencies): the model checkers
//!   run millions of tiny steps, 10-30 times slower unoptimised.
//!
//! Entries already there are left as they are: a second run changes nothing.

use anyhow::{bail, Context as _, Result};
use clap::Args;
use std::path::PathBuf;
use toml_edit::{value, Array, DocumentMut, InlineTable, Item, Table, Value};

/// `cargo racekit init` options.
#[derive(Args, Clone, Debug)]
pub struct InitArgs {
    /// The manifest to change.
    #[arg(long, default_value = "Cargo.toml")]
    pub manifest_path: PathBuf,
    /// Print what would change without writing it.
    #[arg(long)]
    pub dry_run: bool,
}

/// The cfgs racekit's backends are selected by.
const CHECK_CFG: [&str; 2] = ["cfg(racekit_loom)", "cfg(racekit_shuttle)"];

/// Runs `cargo racekit init`.
pub fn run(args: &InitArgs) -> Result<()> {
    let path = &args.manifest_path;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut manifest: DocumentMut =
        text.parse().with_context(|| format!("{} is not a valid Cargo.toml", path.display()))?;
    let changes = apply(&mut manifest)?;
    if changes.is_empty() {
        println!("{}: racekit's setup is already there; nothing to change", path.display());
        return Ok(());
    }
    for change in &changes {
        println!("{}: {change}", if args.dry_run { "would add" } else { "added" });
    }
    if !args.dry_run {
        std::fs::write(path, manifest.to_string()).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Adds what is missing of racekit's setup to `manifest`; returns what it added.
pub fn apply(manifest: &mut DocumentMut) -> Result<Vec<String>> {
    let mut changes = Vec::new();
    rename_tokio(manifest, &mut changes)?;
    add_check_cfg(manifest, &mut changes)?;
    add_test_profile(manifest, &mut changes);
    Ok(changes)
}

/// The tokio rename in `[dependencies]`, and its `shuttle` feature under the shuttle cfg.
fn rename_tokio(manifest: &mut DocumentMut, changes: &mut Vec<String>) -> Result<()> {
    let Some(tokio) = manifest.get_mut("dependencies").and_then(|deps| deps.get_mut("tokio")) else {
        return Ok(());
    };
    let renamed = match tokio {
        Item::Value(Value::String(version)) => {
            let mut table = InlineTable::new();
            table.insert("package", "shuttle-tokio".into());
            table.insert("version", version.value().as_str().into());
            *tokio = Item::Value(Value::InlineTable(table));
            true
        }
        Item::Value(Value::InlineTable(table)) => set_package(table),
        Item::Table(table) => match table.get("package").and_then(Item::as_str) {
            Some("shuttle-tokio") => false,
            Some(other) => bail!("[dependencies] tokio is the package {other:?}: rename it to shuttle-tokio by hand"),
            None => {
                table.insert("package", value("shuttle-tokio"));
                true
            }
        },
        _ => bail!("[dependencies] tokio has a shape `cargo racekit init` does not know: rename it by hand"),
    };
    if renamed {
        changes
            .push("[dependencies] tokio renamed to package shuttle-tokio (tokio itself outside shuttle builds)".into());
    }
    let target = manifest
        .entry("target")
        .or_insert_with(implicit_table)
        .as_table_mut()
        .context("[target] is not a table")?
        .entry("cfg(racekit_shuttle)")
        .or_insert_with(implicit_table)
        .as_table_mut()
        .context("[target.'cfg(racekit_shuttle)'] is not a table")?
        .entry("dependencies")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_like_mut()
        .context("[target.'cfg(racekit_shuttle)'.dependencies] is not a table")?;
    if target.get("tokio").is_none() {
        let mut table = InlineTable::new();
        table.insert("package", "shuttle-tokio".into());
        table.insert("version", "1".into());
        table.insert("features", Value::Array(Array::from_iter(["shuttle"])));
        target.insert("tokio", Item::Value(Value::InlineTable(table)));
        changes
            .push("[target.'cfg(racekit_shuttle)'.dependencies] tokio with shuttle-tokio's `shuttle` feature".into());
    }
    Ok(())
}

/// Sets `package = "shuttle-tokio"` in an inline tokio entry; whether it changed.
fn set_package(table: &mut InlineTable) -> bool {
    if table.get("package").and_then(Value::as_str) == Some("shuttle-tokio") {
        return false;
    }
    table.insert("package", "shuttle-tokio".into());
    // The entry that was last keeps its trailing space; normal spacing again.
    table.fmt();
    true
}

/// The check-cfg entries in `[lints.rust] unexpected_cfgs`, merged with any already there.
fn add_check_cfg(manifest: &mut DocumentMut, changes: &mut Vec<String>) -> Result<()> {
    let lints = manifest.entry("lints").or_insert_with(implicit_table);
    if lints.get("workspace").and_then(Item::as_bool) == Some(true) {
        bail!(
            "this crate takes its lints from the workspace (`lints.workspace = true`): run `cargo racekit init` on \
             the workspace's Cargo.toml for the check-cfg entries"
        );
    }
    let rust = lints
        .as_table_mut()
        .context("[lints] is not a table")?
        .entry("rust")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_like_mut()
        .context("[lints.rust] is not a table")?;
    let lint = rust.entry("unexpected_cfgs").or_insert_with(|| {
        let mut table = InlineTable::new();
        table.insert("level", "warn".into());
        Item::Value(Value::InlineTable(table))
    });
    if let Some(level) = lint.as_str().map(str::to_owned) {
        let mut table = InlineTable::new();
        table.insert("level", level.into());
        *lint = Item::Value(Value::InlineTable(table));
    }
    let lint = lint.as_table_like_mut().context("[lints.rust] unexpected_cfgs is neither a level nor a table")?;
    let check_cfg = lint
        .entry("check-cfg")
        .or_insert_with(|| Item::Value(Value::Array(Array::new())))
        .as_array_mut()
        .context("[lints.rust] unexpected_cfgs.check-cfg is not an array")?;
    for cfg in CHECK_CFG {
        if !check_cfg.iter().any(|entry| entry.as_str() == Some(cfg)) {
            check_cfg.push(cfg);
            changes.push(format!("[lints.rust] unexpected_cfgs check-cfg '{cfg}'"));
        }
    }
    Ok(())
}

/// `[profile.test]` opt-level 1 and `[profile.test.package."*"]` opt-level 2, unless set.
fn add_test_profile(manifest: &mut DocumentMut, changes: &mut Vec<String>) {
    let profile = manifest.entry("profile").or_insert_with(implicit_table);
    let Some(test) = subtable(profile, "test") else { return };
    set_opt_level(test, 1, "[profile.test] (the model checkers are 10-30x slower unoptimised)", changes);
    let Some(all) = test
        .entry("package")
        .or_insert_with(implicit_table)
        .as_table_mut()
        .and_then(|packages| packages.entry("*").or_insert_with(|| Item::Table(Table::new())).as_table_mut())
    else {
        return;
    };
    set_opt_level(all, 2, "[profile.test.package.\"*\"]", changes);
}

/// The table `key` of `parent`, created with its own header if missing.
fn subtable<'a>(parent: &'a mut Item, key: &str) -> Option<&'a mut Table> {
    parent.as_table_mut()?.entry(key).or_insert_with(|| Item::Table(Table::new())).as_table_mut()
}

/// `opt-level = level` in `table`, unless it has one.
fn set_opt_level(table: &mut Table, level: i64, name: &str, changes: &mut Vec<String>) {
    if table.get("opt-level").is_none() {
        table.insert("opt-level", value(level));
        changes.push(format!("{name} opt-level = {level}"));
    }
}

/// A table that is only a path to its subtables (`[target.'cfg(..)'.dependencies]` without
/// an empty `[target]` header).
fn implicit_table() -> Item {
    let mut table = Table::new();
    table.set_implicit(true);
    Item::Table(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = r#"[package]
name = "shop"
version = "0.1.0"
edition = "2021"

[dependencies]
racekit = "0.1"
tokio = { version = "1", features = ["sync", "rt"] }
"#;

    fn applied(text: &str) -> (DocumentMut, Vec<String>) {
        let mut manifest: DocumentMut = text.parse().unwrap();
        let changes = apply(&mut manifest).unwrap();
        (manifest, changes)
    }

    #[test]
    fn a_plain_manifest_gets_the_whole_setup() {
        let (manifest, changes) = applied(PLAIN);
        assert_eq!(changes.len(), 6, "{changes:#?}");
        let text = manifest.to_string();
        assert!(
            text.contains(r#"tokio = { version = "1", features = ["sync", "rt"], package = "shuttle-tokio" }"#),
            "{text}"
        );
        assert!(text.contains("[target.\"cfg(racekit_shuttle)\".dependencies]"), "{text}");
        assert!(text.contains(r#"features = ["shuttle"]"#), "{text}");
        assert!(text.contains(r#"check-cfg = ["cfg(racekit_loom)", "cfg(racekit_shuttle)"]"#), "{text}");
        assert!(text.contains("[profile.test]\nopt-level = 1"), "{text}");
        assert!(!text.contains("[target]\n"), "no empty header: {text}");
    }

    #[test]
    fn a_second_run_changes_nothing() {
        let (once, _) = applied(PLAIN);
        let (twice, changes) = applied(&once.to_string());
        assert!(changes.is_empty(), "{changes:#?}");
        assert_eq!(twice.to_string(), once.to_string());
    }

    #[test]
    fn existing_entries_are_kept_and_merged() {
        let text =
            "[dependencies]\ntokio = \"1.40\"\n\n[lints.rust]\nunexpected_cfgs = { level = \"deny\", check-cfg = \
                    ['cfg(tokio_unstable)'] }\n\n[profile.test]\nopt-level = 3\n";
        let (manifest, _) = applied(text);
        let text = manifest.to_string();
        assert!(text.contains(r#"tokio = { package = "shuttle-tokio", version = "1.40" }"#), "{text}");
        assert!(text.contains("'cfg(tokio_unstable)', \"cfg(racekit_loom)\""), "{text}");
        assert!(text.contains("level = \"deny\""), "{text}");
        assert!(text.contains("opt-level = 3"), "the user's profile is theirs: {text}");
    }

    #[test]
    fn a_crate_without_tokio_gets_no_tokio() {
        let (manifest, _) = applied("[package]\nname = \"a\"\n");
        assert!(!manifest.to_string().contains("tokio"));
    }

    #[test]
    fn workspace_lints_are_refused_with_what_to_do() {
        let mut manifest: DocumentMut = "[lints]\nworkspace = true\n".parse().unwrap();
        let error = apply(&mut manifest).unwrap_err().to_string();
        assert!(error.contains("workspace's Cargo.toml"), "{error}");
    }
}
