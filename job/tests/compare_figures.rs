//! `bench-report compare OLD.json NEW.json`, run as the real binary on small handwritten
//! figures files: its exit status (0 agree, 1 differ, 2 bad input), its counts, and the
//! typed errors for a missing and a malformed file.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory of this test's own, emptied.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("racekit-compare-figures-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A verdict: `answer` from three agreeing repeats.
fn agreed(key: &str, answer: &str) -> Value {
    json!({ "key": key, "verdict": answer, "answers": [[answer, 3]], "shown": format!("**{answer}** (3/3 repeats)") })
}

/// An answer the repeats split on.
fn unstable(key: &str, most: &str, other: &str) -> Value {
    json!({ "key": key, "verdict": null, "answers": [[most, 2], [other, 1]],
            "shown": format!("**unstable** ({most} 2/3, {other} 1/3)") })
}

/// A figures file of commit `commit` with these crossover and fastest answers.
fn figures(commit: &str, crossovers: Vec<Value>, fastest: Vec<Value>) -> Value {
    json!({
        "commit": commit, "measured": "2026-12-03 01:24 UTC", "command": "cargo bench-report --run", "mode": "full",
        "repeats": 3, "rules": [], "matrix": [], "patterns": [], "checkers": [],
        "verdicts": { "crossovers": crossovers, "fastest": fastest },
    })
}

fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path
}

fn compare(old: &Path, new: &Path) -> (i32, String, String) {
    let Output { status, stdout, stderr } =
        Command::new(env!("CARGO_BIN_EXE_bench-report")).arg("compare").arg(old).arg(new).output().unwrap();
    let code = status.code().expect("bench-report exited by a signal");
    (code, String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

fn base() -> Value {
    figures(
        "aaaaaaa",
        vec![agreed("std / 4 threads / 1µs", "25–50 %"), agreed("std / 1 threads / ≈0", "never")],
        vec![agreed("channels/handoff / p1c1-cap16", "crossbeam")],
    )
}

/// [`base`] against a copy of it that `change` edits.
fn compare_base_with(name: &str, change: impl FnOnce(&mut Value)) -> (i32, String, String) {
    let dir = scratch(name);
    let old = write(&dir, "old.json", &base());
    let mut later = base();
    change(&mut later);
    compare(&old, &write(&dir, "new.json", &later))
}

#[test]
fn two_runs_that_give_the_same_verdicts_agree_and_exit_0() {
    let (code, out, err) = compare_base_with("agree", |later| later["commit"] = json!("bbbbbbb"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("commit `aaaaaaa`") && out.contains("commit `bbbbbbb`"), "both runs named: {out}");
    assert!(out.contains("| crossovers | 2 | 2 | 0 | 0 | 0 | 0 |"), "{out}");
    assert!(out.contains("Every verdict both runs give agrees (3 of 3)"), "{out}");
}

#[test]
fn a_differing_verdict_is_listed_with_both_answers_and_exits_1() {
    let (code, out, err) = compare_base_with("differ", |later| {
        later["verdicts"]["fastest"][0] = agreed("channels/handoff / p1c1-cap16", "tokio-mpsc");
    });
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("| fastest | 1 | 0 | 1 | 0 | 0 | 0 |"), "{out}");
    assert!(
        out.contains("| channels/handoff / p1c1-cap16 | **crossbeam** (3/3 repeats) | **tokio-mpsc** (3/3 repeats) |"),
        "{out}"
    );
}

#[test]
fn an_answer_unstable_in_one_run_is_not_given_and_does_not_count_as_differing() {
    let (code, out, err) = compare_base_with("unstable", |later| {
        later["verdicts"]["crossovers"][0] = unstable("std / 4 threads / 1µs", "50–75 %", "25–50 %");
        later["verdicts"]["crossovers"][1] = agreed("std / 1 threads / ≈0", "inconclusive");
    });
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("| crossovers | 0 | 0 | 0 | 2 | 0 | 0 |"), "unstable and inconclusive: not given: {out}");
}

#[test]
fn a_file_from_before_the_verdicts_key_compares_by_the_text_it_showed() {
    let dir = scratch("legacy");
    let mut older = base();
    older.as_object_mut().unwrap().remove("verdicts");
    older["matrix"] = json!([["Log storage", "Hybrid with bounded channels", "**refuted** (3/3 repeats)"]]);
    let old = write(&dir, "old.json", &older);
    let mut later = base();
    later["verdicts"]["matrix"] = json!([agreed("Log storage", "inconclusive")]);
    later["matrix"] = json!([["Log storage", "Hybrid with bounded channels", "**inconclusive** (3/3 repeats)"]]);
    let new = write(&dir, "new.json", &later);
    let (code, out, err) = compare(&old, &new);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("| matrix | 0 | 0 | 0 | 1 | 0 | 0 |"), "{out}");
    assert!(out.contains("| crossovers | 0 | 0 | 0 | 0 | 0 | 2 |"), "{out}");
}

#[test]
fn a_missing_file_is_refused_by_name_with_exit_2() {
    let dir = scratch("missing");
    let new = write(&dir, "new.json", &base());
    let (code, out, err) = compare(&dir.join("absent.json"), &new);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("no figures file at") && err.contains("absent.json"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let (code, out, err) = compare(&dir, &new);
    assert_eq!(code, 2, "a folder is not a figures file: {out}{err}");
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn the_committed_figures_file_still_loads_and_agrees_with_itself() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/benchmarks/figures.json");
    let (code, out, err) = compare(&committed, &committed);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("| rules |") && out.contains("| patterns |"), "{out}");
    assert!(out.contains("Every verdict both runs give agrees") && !out.contains("(0 of 0)"), "{out}");
}

#[test]
fn a_malformed_file_is_refused_by_name_with_exit_2() {
    let dir = scratch("malformed");
    let old = write(&dir, "old.json", &base());
    for (name, text) in [("truncated.json", "{\"commit\": \"a"), ("not-figures.json", "{\"rows\": []}")] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let (code, out, err) = compare(&old, &path);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(name) && err.contains("is not a figures file"), "{name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let mut twice = base();
    twice["verdicts"]["fastest"] = json!([agreed("g / c", "a"), agreed("g / c", "b")]);
    let path = write(&dir, "twice.json", &twice);
    let (code, _, err) = compare(&old, &path);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`g / c` twice"), "{err}");
}

#[test]
fn report_flags_given_with_compare_are_refused_rather_than_ignored() {
    let dir = scratch("flags");
    let file = write(&dir, "run.json", &base());
    let output = Command::new(env!("CARGO_BIN_EXE_bench-report"))
        .args(["--run", "compare"])
        .arg(&file)
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot be used with '--run'"), "{err}");
}
