//! Repeats: the benches run several times, each time in a process of its own
//! (`<criterion>/repeat-<n>/`), and every answer the report gives (a verdict, a crossover,
//! a winner, a faster/tie/slower call) is worked out on each repeat alone. An answer is a
//! verdict only when at least [`MIN_REPEATS`] repeats gave it and no repeat gave another;
//! an answer that changes between repeats is labelled unstable.
//!
//! The figures (times, ratios, intervals) come from all repeats together: their rounds are
//! pooled, so a ratio is the median over every round of every repeat.

use crate::data::{self, Cell, Dataset};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Repeats in separate processes an answer needs before it is called a verdict.
pub const MIN_REPEATS: usize = 3;

/// Round numbers of repeat `n` start at `n * ROUND_STRIDE` in the pooled dataset.
const ROUND_STRIDE: usize = 1000;

/// Every repeat of a run, and all of them pooled.
pub struct Runs {
    pub pooled: Dataset,
    pub repeats: Vec<Dataset>,
    /// The harness against raw checkers (`<criterion>/checkers/`), when it ran.
    pub checkers: Vec<crate::figures::CheckerRow>,
}

/// The repeat folders under `criterion_dir`, in order; the folder itself when it has none
/// (criterion output of a bench run by hand is one repeat).
pub fn repeat_dirs(criterion_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<(usize, PathBuf)> = Vec::new();
    if criterion_dir.is_dir() {
        for entry in std::fs::read_dir(criterion_dir)? {
            let path = entry?.path();
            let number = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_prefix("repeat-"))
                .and_then(|n| n.parse().ok());
            if let (Some(number), true) = (number, path.is_dir()) {
                dirs.push((number, path));
            }
        }
    }
    dirs.sort();
    Ok(if dirs.is_empty() { vec![criterion_dir.to_path_buf()] } else { dirs.into_iter().map(|d| d.1).collect() })
}

/// The folder the `checkers` bench writes to (as its `CRITERION_HOME`).
pub fn checkers_dir(criterion_dir: &Path) -> PathBuf {
    criterion_dir.join("checkers")
}

/// The folder repeat `n` (from 1) of a run writes to.
pub fn repeat_dir(criterion_dir: &Path, n: usize) -> PathBuf {
    criterion_dir.join(format!("repeat-{n}"))
}

impl Runs {
    /// Loads every repeat under `criterion_dir` and pools them.
    pub fn load(criterion_dir: &Path) -> Result<Runs> {
        let repeats = repeat_dirs(criterion_dir)?.iter().map(|dir| data::load(dir)).collect::<Result<Vec<_>>>()?;
        let checkers = crate::figures::checker_rows(&checkers_dir(criterion_dir).join("racekit"))?;
        Ok(Runs { pooled: pool(&repeats), repeats, checkers })
    }

    /// Each repeat's answer to `question`, as one labelled answer.
    pub fn answer(&self, question: impl Fn(&Dataset) -> Option<String>) -> Consensus {
        Consensus::of(self.repeats.iter().filter_map(question).collect())
    }

    /// Each repeat's answer to `question` about the cell of `cell`'s group and label
    /// (asked with the repeat, for its noise band).
    pub fn cell_answer(&self, cell: &Cell, question: impl Fn(&Dataset, &Cell) -> Option<String>) -> Consensus {
        self.answer(|repeat| {
            let own = repeat.cells.iter().find(|c| c.group == cell.group && c.label == cell.label)?;
            question(repeat, own)
        })
    }
}

/// The repeats pooled: cells matched by group and label, each repeat's rounds renumbered
/// so that they stay apart.
fn pool(repeats: &[Dataset]) -> Dataset {
    let mut cells: Vec<Cell> = Vec::new();
    for (n, repeat) in repeats.iter().enumerate() {
        for cell in &repeat.cells {
            let index = match cells.iter().position(|c| c.group == cell.group && c.label == cell.label) {
                Some(index) => index,
                None => {
                    cells.push(Cell { contenders: BTreeMap::new(), ..cell.clone() });
                    cells.len() - 1
                }
            };
            for (id, contender) in &cell.contenders {
                let pooled = cells[index].contenders.entry(id.clone()).or_default();
                for (round, data) in &contender.rounds {
                    pooled.rounds.insert(n * ROUND_STRIDE + round, data.clone());
                }
            }
        }
    }
    Dataset { cells, runs: repeats.iter().flat_map(|r| r.runs.iter().cloned()).collect() }
}

/// What the repeats answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consensus {
    /// No repeat could answer.
    None,
    /// Every repeat gave this answer; `repeats` of them, fewer than [`MIN_REPEATS`] makes
    /// it provisional.
    Agreed { answer: String, repeats: usize },
    /// The repeats disagree: each answer and how many gave it, most given first.
    Unstable(Vec<(String, usize)>),
}

impl Consensus {
    pub fn of(answers: Vec<String>) -> Consensus {
        let Some(first) = answers.first() else { return Consensus::None };
        if answers.iter().all(|a| a == first) {
            return Consensus::Agreed { answer: first.clone(), repeats: answers.len() };
        }
        let mut counts: Vec<(String, usize)> = Vec::new();
        for answer in answers {
            match counts.iter_mut().find(|(a, _)| *a == answer) {
                Some(entry) => entry.1 += 1,
                None => counts.push((answer, 1)),
            }
        }
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        Consensus::Unstable(counts)
    }

    /// The agreed answer, if it is a verdict (enough repeats, none disagreeing).
    pub fn verdict(&self) -> Option<&str> {
        match self {
            Consensus::Agreed { answer, repeats } if *repeats >= MIN_REPEATS => Some(answer),
            _ => None,
        }
    }

    /// As `figures.json` records it (see [`crate::figures::RepeatAnswer`]).
    pub fn record(&self) -> crate::figures::RepeatAnswer {
        let answers = match self {
            Consensus::None => Vec::new(),
            Consensus::Agreed { answer, repeats } => vec![(answer.clone(), *repeats)],
            Consensus::Unstable(counts) => counts.clone(),
        };
        crate::figures::RepeatAnswer { verdict: self.verdict().map(str::to_string), answers, shown: self.show() }
    }

    /// The total number of repeats that answered.
    fn total(&self) -> usize {
        match self {
            Consensus::None => 0,
            Consensus::Agreed { repeats, .. } => *repeats,
            Consensus::Unstable(counts) => counts.iter().map(|c| c.1).sum(),
        }
    }

    /// `**supported** (3/3 repeats)`, `supported? (1 repeat; a verdict needs 3)`, or
    /// `**unstable** (supported 2/3, inconclusive 1/3)`.
    pub fn show(&self) -> String {
        let total = self.total();
        match self {
            Consensus::None => "no data".into(),
            Consensus::Agreed { answer, repeats } if *repeats >= MIN_REPEATS => {
                format!("**{answer}** ({repeats}/{repeats} repeats)")
            }
            Consensus::Agreed { answer, repeats } => format!(
                "{answer}? ({repeats} repeat{}; a verdict needs {MIN_REPEATS})",
                if *repeats == 1 { "" } else { "s" }
            ),
            Consensus::Unstable(counts) => format!(
                "**unstable** ({})",
                counts.iter().map(|(a, n)| format!("{a} {n}/{total}")).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// A short form for dense tables: the answer, `?` when provisional, `unstable` with the
    /// split.
    pub fn short(&self) -> String {
        let total = self.total();
        match self {
            Consensus::None => "—".into(),
            Consensus::Agreed { answer, repeats } if *repeats >= MIN_REPEATS => answer.clone(),
            Consensus::Agreed { answer, .. } => format!("{answer}?"),
            Consensus::Unstable(counts) => format!(
                "unstable ({})",
                counts.iter().map(|(a, n)| format!("{a} {n}/{total}")).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// One repeat of one cell of `group` (`c`, baseline `a`): contender `a` takes `a_ns` per
/// operation, `b` takes `b_ns`.
#[cfg(test)]
pub fn two_contenders(group: &str, a_ns: f64, b_ns: f64) -> Dataset {
    use crate::data::{Contender, Round};
    let contender =
        |time: f64| Contender { rounds: BTreeMap::from([(0, Round { samples: vec![time; 5], ..Round::default() })]) };
    let cell = Cell {
        group: group.into(),
        label: "c".into(),
        params: serde_json::Value::Null,
        baseline: Some("a".into()),
        recommended: None,
        contenders: BTreeMap::from([("a".to_string(), contender(a_ns)), ("b".to_string(), contender(b_ns))]),
    };
    Dataset { cells: vec![cell], runs: Vec::new() }
}

/// These repeats, pooled.
#[cfg(test)]
pub fn runs_of(repeats: Vec<Dataset>) -> Runs {
    Runs { pooled: pool(&repeats), repeats, checkers: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(list: &[&str]) -> Consensus {
        Consensus::of(list.iter().map(|a| a.to_string()).collect())
    }

    #[test]
    fn a_verdict_needs_three_agreeing_repeats() {
        assert_eq!(answers(&["supported"; 3]).verdict(), Some("supported"));
        assert_eq!(answers(&["supported"; 3]).show(), "**supported** (3/3 repeats)");
        assert_eq!(answers(&["supported"; 2]).verdict(), None, "two repeats are provisional");
        assert!(answers(&["supported"]).show().contains("a verdict needs 3"));
        assert_eq!(answers(&[]), Consensus::None);
    }

    #[test]
    fn repeats_pool_their_rounds_apart_and_answer_each_on_its_own() {
        let runs = runs_of(vec![
            two_contenders("g", 10.0, 20.0),
            two_contenders("g", 10.0, 20.0),
            two_contenders("g", 20.0, 10.0),
        ]);
        let pooled = &runs.pooled.cells[0];
        assert_eq!(pooled.contenders["a"].rounds.keys().copied().collect::<Vec<_>>(), vec![0, 1000, 2000]);
        let faster = runs.cell_answer(pooled, |_, cell| {
            let (a, b) = (&cell.contenders["a"], &cell.contenders["b"]);
            Some((crate::stats::typical(a) < crate::stats::typical(b)).to_string())
        });
        assert_eq!(faster.verdict(), None, "the third repeat disagrees");
        assert_eq!(faster.short(), "unstable (true 2/3, false 1/3)");
    }

    #[test]
    fn one_disagreeing_repeat_makes_the_answer_unstable() {
        let split = answers(&["refuted", "inconclusive", "refuted", "refuted"]);
        assert_eq!(split.verdict(), None);
        assert_eq!(split.show(), "**unstable** (refuted 3/4, inconclusive 1/4)");
        assert_eq!(split.short(), "unstable (refuted 3/4, inconclusive 1/4)");
    }
}
