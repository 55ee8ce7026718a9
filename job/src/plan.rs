//! Which tests the job runs: every test of every built binary, filtered by pattern, and
//! this shard's part of them.

use anyhow::{bail, Result};
use std::path::PathBuf;

use crate::results::{is_mutant_test, pattern_of, Backend};

/// One test to run under one backend.
#[derive(Clone, Debug)]
pub struct Case {
    pub backend: Backend,
    /// The test target: `models` or `stress`.
    pub binary: String,
    pub exe: PathBuf,
    pub test: String,
    pub ignored: bool,
    pub mutant: bool,
}

impl Case {
    pub fn new(backend: Backend, binary: &str, exe: PathBuf, test: String, ignored: bool) -> Case {
        Case { backend, binary: binary.to_owned(), exe, mutant: is_mutant_test(&test), test, ignored }
    }

    pub fn pattern(&self) -> String {
        pattern_of(&self.test)
    }

    /// `loom queue::mutants::a_close_that_wakes_nobody_is_caught`.
    pub fn label(&self) -> String {
        format!("{} {}", self.backend, self.test)
    }
}

/// `--pattern queue,pool`: a test matches when its path is a pattern or starts with
/// `<pattern>::` (so `pool::mutants` selects only the pool's mutants).
pub fn matches_pattern(test: &str, patterns: &[String]) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|pattern| {
            let pattern = pattern.trim_end_matches("::");
            test == pattern || test.strip_prefix(pattern).is_some_and(|rest| rest.starts_with("::"))
        })
}

/// How `--shard i/n` divides the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ShardMode {
    /// Every test runs on exactly one shard (round-robin over the sorted list, so shards
    /// get similar mixes of backends and patterns).
    Models,
    /// shuttle and std models run on every shard, each shard with its own seed range
    /// (more schedules for the same wall-clock time); loom (deterministic) and the stress
    /// suites are split as in `models`.
    Seeds,
}

/// `i/n`, 1-based as people count shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard> {
        let Some((i, n)) = text.split_once('/') else {
            bail!("--shard {text:?}: expected i/n, such as 2/4 (shard 2 of 4)");
        };
        let (Ok(i), Ok(n)) = (i.trim().parse::<u32>(), n.trim().parse::<u32>()) else {
            bail!("--shard {text:?}: expected i/n with whole numbers, such as 2/4");
        };
        if n == 0 || i == 0 || i > n {
            bail!("--shard {text:?}: shards are numbered 1 to n, such as 1/4 up to 4/4");
        }
        Ok(Shard { index: i - 1, count: n })
    }

    pub fn label(self) -> String {
        format!("{}/{}", self.index + 1, self.count)
    }

    /// This shard's cases, from the full sorted plan.
    pub fn select(self, cases: Vec<Case>, mode: ShardMode) -> Vec<Case> {
        let count = self.count as usize;
        let mut split_index = 0usize;
        cases
            .into_iter()
            .filter(|case| {
                let replicated = mode == ShardMode::Seeds && case.backend != Backend::Loom && case.binary == "models";
                if replicated {
                    return true;
                }
                let mine = split_index % count == self.index as usize;
                split_index += 1;
                mine
            })
            .collect()
    }
}

/// Sorts the plan: loom first (its tests are the longest), then shuttle, then std, each
/// in test-name order, so a shard split is the same on every machine.
pub fn sort(cases: &mut [Case]) {
    cases.sort_by(|a, b| (a.backend, &a.binary, &a.test).cmp(&(b.backend, &b.binary, &b.test)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(backend: Backend, binary: &str, test: &str) -> Case {
        Case::new(backend, binary, PathBuf::from("x"), test.to_owned(), false)
    }

    #[test]
    fn patterns_match_whole_path_segments() {
        let patterns = vec!["queue".to_owned(), "pool::mutants".to_owned()];
        assert!(matches_pattern("queue::a", &patterns));
        assert!(matches_pattern("pool::mutants::x_is_caught", &patterns));
        assert!(!matches_pattern("pool::a_model", &patterns));
        assert!(!matches_pattern("queue_extra::a", &patterns));
        assert!(matches_pattern("anything", &[]));
    }

    #[test]
    fn shards_parse_one_based() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 1, count: 4 });
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn model_shards_partition_the_plan() {
        let all: Vec<Case> = (0..7).map(|i| case(Backend::Shuttle, "models", &format!("p::t{i}"))).collect();
        let mut seen = Vec::new();
        for index in 0..3 {
            let mine = Shard { index, count: 3 }.select(all.clone(), ShardMode::Models);
            assert!(mine.len() == 2 || mine.len() == 3);
            seen.extend(mine.into_iter().map(|c| c.test));
        }
        seen.sort();
        let mut expected: Vec<String> = all.into_iter().map(|c| c.test).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[test]
    fn seed_shards_replicate_randomised_models_and_split_the_rest() {
        let all = vec![
            case(Backend::Loom, "models", "p::a"),
            case(Backend::Loom, "models", "p::b"),
            case(Backend::Shuttle, "models", "p::a"),
            case(Backend::Std, "stress", "p::s"),
        ];
        let first = Shard { index: 0, count: 2 }.select(all.clone(), ShardMode::Seeds);
        let second = Shard { index: 1, count: 2 }.select(all, ShardMode::Seeds);
        let labels = |cases: &[Case]| cases.iter().map(Case::label).collect::<Vec<_>>();
        assert_eq!(labels(&first), ["loom p::a", "shuttle p::a", "std p::s"]);
        assert_eq!(labels(&second), ["loom p::b", "shuttle p::a"]);
    }
}
