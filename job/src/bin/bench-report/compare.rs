//! `cargo bench-report compare OLD.json NEW.json`: whether two runs agree on every verdict
//! they both give, matched by key (see [`crate::figures::SECTIONS`]).
//!
//! An answer is *given* by a run when its repeats make it a verdict (at least
//! [`crate::repeats::MIN_REPEATS`] repeats gave it, none gave another) and it is not
//! `inconclusive`. A key one run does not give (unstable, provisional, inconclusive) is
//! counted as not given, never as agreeing or differing; a key only one file has is
//! counted apart. Two runs agree when every verdict both give is the same.
//!
//! Files written before `verdicts` existed still compare: their rules, matrix rows and
//! pattern calls are read from the text the report showed (`**supported** (3/3 repeats)`,
//! `faster`, `tie?`, `unstable (…)`), which those fields have always held.

use crate::analysis::LOCK_PAIRS;
use crate::figures::{Figures, RepeatAnswer, SECTIONS};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Why a figures file cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(
        "no figures file at {path}: give the figures.json a report wrote beside its REPORT.md \
         (docs/benchmarks/figures.json, or figures.json in the folder given to `--out`)"
    )]
    Missing { path: PathBuf },
    #[error("cannot read {path}: {source}; check that it is a readable file")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not a figures file ({source}): give the figures.json that `cargo bench-report` writes beside \
         REPORT.md, unedited"
    )]
    Malformed {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{path} gives the {section} verdict `{key}` twice, so it cannot be matched: regenerate the file with \
         `cargo bench-report` instead of editing it"
    )]
    DuplicateKey { path: PathBuf, section: String, key: String },
}

/// One answer of a run, as compared.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    /// The verdict, when the run gives one (see the module's documentation).
    given: Option<String>,
    /// As the report showed it.
    shown: String,
}

/// A figures file, loaded for comparison.
pub struct Run {
    pub path: PathBuf,
    pub figures: Figures,
    /// Section, then key.
    answers: BTreeMap<String, BTreeMap<String, Entry>>,
}

impl Run {
    /// Reads and checks a figures file.
    pub fn load(path: &Path) -> Result<Run, CompareError> {
        let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => CompareError::Missing { path: path.to_path_buf() },
            _ => CompareError::Unreadable { path: path.to_path_buf(), source },
        })?;
        let figures: Figures = serde_json::from_str(&text)
            .map_err(|source| CompareError::Malformed { path: path.to_path_buf(), source })?;
        let mut answers: BTreeMap<String, BTreeMap<String, Entry>> = BTreeMap::new();
        for (section, list) in sections_of(&figures) {
            let keyed = answers.entry(section.clone()).or_default();
            for (key, entry) in list {
                if keyed.insert(key.clone(), entry).is_some() {
                    return Err(CompareError::DuplicateKey { path: path.to_path_buf(), section, key });
                }
            }
        }
        Ok(Run { path: path.to_path_buf(), figures, answers })
    }

    /// `path: commit abc1234, measured 2026-12-03 01:24 UTC (cargo bench-report --run, full, 3 repeats)`.
    fn stamp(&self) -> String {
        let f = &self.figures;
        format!(
            "`{}`: commit `{}`, measured {} (`{}`, {} mode, {} repeats)",
            self.path.display(),
            f.commit,
            f.measured,
            f.command,
            f.mode,
            f.repeats
        )
    }
}

/// Every answer of a file by section: its `verdicts`, and for a section it lacks, what the
/// older fields showed.
fn sections_of(figures: &Figures) -> Vec<(String, Vec<(String, Entry)>)> {
    let recorded = |section: &str| {
        figures
            .verdicts
            .get(section)
            .map(|list| list.iter().map(|keyed| (keyed.key.clone(), recorded_entry(&keyed.answer))).collect::<Vec<_>>())
    };
    let shown = |text: &str| Entry { given: given(shown_verdict(text)), shown: text.to_string() };
    let legacy = |section: &str| -> Vec<(String, Entry)> {
        match section {
            "rules" => figures
                .rules
                .iter()
                .flat_map(|(rule, std, parking_lot)| {
                    [(LOCK_PAIRS[0].name, std), (LOCK_PAIRS[1].name, parking_lot)]
                        .map(|(family, text)| (format!("{rule} / {family}"), shown(text)))
                })
                .collect(),
            "matrix" => figures.matrix.iter().map(|(scenario, _, text)| (scenario.clone(), shown(text))).collect(),
            "patterns" => figures
                .patterns
                .iter()
                .map(|p| {
                    let entry = Entry { given: given(short_verdict(&p.call)), shown: p.call.clone() };
                    (format!("{} / {} / {}", p.group, p.cell, p.contender), entry)
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut names: Vec<String> = SECTIONS.iter().map(|(name, _)| name.to_string()).collect();
    names.extend(figures.verdicts.keys().filter(|name| !names.contains(name)).cloned().collect::<Vec<_>>());
    names.into_iter().map(|name| (name.clone(), recorded(&name).unwrap_or_else(|| legacy(&name)))).collect()
}

fn recorded_entry(answer: &RepeatAnswer) -> Entry {
    Entry { given: given(answer.verdict.as_deref()), shown: answer.shown.clone() }
}

/// A verdict counts as given unless it is `inconclusive`.
fn given(verdict: Option<&str>) -> Option<String> {
    verdict.filter(|v| *v != "inconclusive").map(str::to_string)
}

/// The verdict in the report's long form, `**supported** (3/3 repeats)`; `None` for
/// `**unstable** (…)`, `supported? (1 repeat; …)` and `no data`.
fn shown_verdict(text: &str) -> Option<&str> {
    let (word, rest) = text.strip_prefix("**")?.split_once("** (")?;
    let (agreeing, of) = rest.strip_suffix(" repeats)")?.split_once('/')?;
    (word != "unstable" && agreeing == of && agreeing.parse::<usize>().is_ok_and(|n| n >= crate::repeats::MIN_REPEATS))
        .then_some(word)
}

/// The verdict in the report's short form, `faster`; `None` for `faster?`, `unstable (…)`
/// and `—`.
fn short_verdict(text: &str) -> Option<&str> {
    (!text.is_empty() && text != "—" && !text.ends_with('?') && !text.starts_with("unstable (")).then_some(text)
}

/// How two runs compare in one section.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SectionComparison {
    pub section: String,
    /// Keys both runs give a verdict for.
    pub both: usize,
    pub agree: usize,
    /// Keys both files have that one run or both do not give (unstable, provisional,
    /// inconclusive).
    pub not_given: usize,
    /// Keys only one of the files has.
    pub only_old: usize,
    pub only_new: usize,
    /// (key, old, new), as the reports showed them.
    pub differ: Vec<(String, String, String)>,
}

impl SectionComparison {
    /// Its line of the counts table.
    fn row(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            self.section,
            self.both,
            self.agree,
            self.differ.len(),
            self.not_given,
            self.only_old,
            self.only_new
        )
    }
}

/// How two runs compare.
pub struct Comparison {
    pub old: String,
    pub new: String,
    pub sections: Vec<SectionComparison>,
}

impl Comparison {
    pub fn of(old: &Run, new: &Run) -> Comparison {
        let mut names: Vec<&String> = old.answers.keys().chain(new.answers.keys()).collect();
        names.sort_by_key(|name| (SECTIONS.iter().position(|(s, _)| s == name).unwrap_or(SECTIONS.len()), *name));
        names.dedup();
        let empty = BTreeMap::new();
        let sections = names
            .into_iter()
            .map(|name| {
                let (old, new) = (old.answers.get(name).unwrap_or(&empty), new.answers.get(name).unwrap_or(&empty));
                let mut section = SectionComparison { section: name.clone(), ..SectionComparison::default() };
                section.only_new = new.keys().filter(|key| !old.contains_key(*key)).count();
                for (key, was) in old {
                    let Some(now) = new.get(key) else {
                        section.only_old += 1;
                        continue;
                    };
                    match (&was.given, &now.given) {
                        (Some(a), Some(b)) => {
                            section.both += 1;
                            if a == b {
                                section.agree += 1;
                            } else {
                                section.differ.push((key.clone(), was.shown.clone(), now.shown.clone()));
                            }
                        }
                        _ => section.not_given += 1,
                    }
                }
                section
            })
            .collect();
        Comparison { old: old.stamp(), new: new.stamp(), sections }
    }

    /// Whether every verdict both runs give agrees.
    pub fn agrees(&self) -> bool {
        self.sections.iter().all(|s| s.differ.is_empty())
    }

    /// The comparison in Markdown: the two runs, the counts per section, the verdicts that
    /// differ.
    pub fn markdown(&self) -> String {
        let mut out = format!("- old: {}\n- new: {}\n\n", self.old, self.new);
        let _ = writeln!(
            out,
            "A verdict is *given* when at least {} repeats gave it and none gave another, and it is not inconclusive; \
             *not given*: unstable, provisional or inconclusive in one run or both.\n",
            crate::repeats::MIN_REPEATS
        );
        out.push_str(
            "| section | given by both | agree | differ | not given | only in old | only in new |\n\
             |---|---|---|---|---|---|---|\n",
        );
        let mut total = SectionComparison { section: "**all**".into(), ..SectionComparison::default() };
        for s in &self.sections {
            out.push_str(&s.row());
            total.both += s.both;
            total.agree += s.agree;
            total.not_given += s.not_given;
            total.only_old += s.only_old;
            total.only_new += s.only_new;
            total.differ.extend(s.differ.iter().cloned());
        }
        out.push_str(&total.row());
        out.push('\n');
        let differing = total.differ.len();
        if self.agrees() {
            let _ = writeln!(out, "Every verdict both runs give agrees ({} of {}).", total.agree, total.both);
            return out;
        }
        let _ = writeln!(out, "{differing} of the {} verdicts both runs give differ:\n", total.both);
        for s in self.sections.iter().filter(|s| !s.differ.is_empty()) {
            let _ = writeln!(out, "#### {}\n\n| key | old | new |\n|---|---|---|", s.section);
            for (key, old, new) in &s.differ {
                let _ = writeln!(out, "| {key} | {old} | {new} |");
            }
            out.push('\n');
        }
        out
    }
}

/// `cargo bench-report compare OLD NEW`: prints the comparison; `Ok(true)` when every
/// verdict both give agrees.
pub fn command(old: &Path, new: &Path) -> Result<bool, CompareError> {
    let comparison = Comparison::of(&Run::load(old)?, &Run::load(new)?);
    print!("{}", comparison.markdown());
    Ok(comparison.agrees())
}

/// Appends the section "Agreement with an earlier run" to the report in `out`, comparing
/// the `figures.json` just written there with `earlier`; `Ok(true)` when they agree.
pub fn append_to_report(earlier: &Run, out: &Path) -> anyhow::Result<bool> {
    let comparison = Comparison::of(earlier, &Run::load(&out.join("figures.json"))?);
    let report = out.join("REPORT.md");
    let mut md = std::fs::read_to_string(&report)?;
    md.push_str(
        "\n## Agreement with an earlier run\n\nThis report's verdicts against an earlier run's, matched by key \
         (`--compare-with OLD.json`, which reads OLD.json before any bench runs; the same comparison as `cargo \
         bench-report compare OLD.json figures.json`).\n\n",
    );
    md.push_str(&comparison.markdown());
    std::fs::write(&report, md)?;
    Ok(comparison.agrees())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_text_gives_a_verdict_only_when_every_repeat_of_enough_agrees() {
        assert_eq!(shown_verdict("**supported** (3/3 repeats)"), Some("supported"));
        assert_eq!(shown_verdict("**unstable** (refuted 2/3, inconclusive 1/3)"), None);
        assert_eq!(shown_verdict("supported? (2 repeats; a verdict needs 3)"), None);
        assert_eq!(shown_verdict("**supported** (2/2 repeats)"), None);
        assert_eq!(shown_verdict("no data"), None);
        assert_eq!(given(shown_verdict("**inconclusive** (3/3 repeats)")), None);
        assert_eq!(short_verdict("tie"), Some("tie"));
        assert_eq!(short_verdict("faster?"), None);
        assert_eq!(short_verdict("unstable (tie 2/3, faster 1/3)"), None);
        assert_eq!(short_verdict("—"), None);
    }
}
