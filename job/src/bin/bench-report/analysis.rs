//! What the numbers say: RwLock-over-Mutex crossovers, verdicts on the seed's rules of
//! thumb and decision matrix, and noise flags.

use crate::data::{Cell, Dataset};
use crate::stats::{compare, fmt_ratio, Comparison, Outcome};

/// The lock grid's group.
pub const LOCK_GROUP: &str = "locks/mutex-vs-rwlock";

/// One lock implementation's pair of contenders.
pub struct LockPair {
    pub name: &'static str,
    pub mutex: &'static str,
    pub rwlock: &'static str,
}

/// std's pair first: what the verdicts are decided on; parking_lot's shows whether the
/// answer depends on the implementation.
pub const LOCK_PAIRS: [LockPair; 2] = [
    LockPair { name: "std", mutex: "std-mutex", rwlock: "std-rwlock" },
    LockPair { name: "parking_lot", mutex: "parking_lot-mutex", rwlock: "parking_lot-rwlock" },
];

/// Nanoseconds per "line" of critical section, to test rules stated in lines: a line of
/// straight-line code (a field access, a comparison, an arithmetic step) is a few
/// instructions, 1-3 ns; lines that hash, allocate or follow pointers are 20-100 ns. 5 ns
/// is the typical line of a read-heavy section, so 20 lines ≈ 100 ns and 50 lines ≈ 250 ns.
pub const NS_PER_LINE: f64 = 5.0;

/// A benchmark counts as disturbed when other processes used more than this share of the
/// machine during it, or its threads waited this long for a core without oversubscription.
pub const DISTURBED_SHARE: f64 = 0.25;

/// ... or when the CPU ran slower than this against the calibration just before or after
/// (a neighbour on the same physical core, invisible to `/proc/stat`).
pub const DISTURBED_SPEED: f64 = 0.85;

/// Whether any round of any contender of the cell ran on a visibly busy machine.
pub fn disturbed(cell: &Cell) -> bool {
    cell.contenders.values().flat_map(|c| c.rounds.values()).any(|round| {
        round.facts.others_share.is_some_and(|s| s > DISTURBED_SHARE)
            || (!cell.oversubscribed() && round.facts.runqueue_share.is_some_and(|s| s > DISTURBED_SHARE))
            || round.facts.cpu_speed.is_some_and(|s| s < DISTURBED_SPEED)
    })
}

/// One cell of the lock grid, for one implementation: RwLock's time over Mutex's.
#[derive(Clone)]
pub struct LockPoint {
    pub threads: u64,
    pub oversubscribed: bool,
    pub cs_ns: u64,
    pub reads_pct: u64,
    pub cmp: Comparison,
    pub disturbed: bool,
}

impl LockPoint {
    /// `t2/cs1µs/r90`.
    pub fn name(&self) -> String {
        format!(
            "t{}{}/cs{}/r{}",
            self.threads,
            if self.oversubscribed { "(over)" } else { "" },
            ns_label(self.cs_ns),
            self.reads_pct
        )
    }
}

/// `0`, `100 ns`, `1 µs`, `10 µs`.
pub fn ns_label(ns: u64) -> String {
    match ns {
        0 => "≈0".into(),
        n if n >= 1000 => format!("{}µs", n / 1000),
        n => format!("{n}ns"),
    }
}

/// The lock grid for one implementation, in the order it ran.
pub fn lock_points(data: &Dataset, pair: &LockPair, band: f64) -> Vec<LockPoint> {
    data.group(LOCK_GROUP)
        .filter_map(|cell| {
            let cmp = compare(cell.contenders.get(pair.rwlock)?, cell.contenders.get(pair.mutex)?, band)?;
            Some(LockPoint {
                threads: cell.num("threads")? as u64,
                oversubscribed: cell.oversubscribed(),
                cs_ns: cell.num("cs_ns")? as u64,
                reads_pct: cell.num("reads_pct")? as u64,
                cmp,
                disturbed: disturbed(cell),
            })
        })
        .collect()
}

/// Sorted distinct values of a field of the points.
pub fn axis(points: &[LockPoint], field: impl Fn(&LockPoint) -> u64) -> Vec<u64> {
    let mut values: Vec<u64> = points.iter().map(field).collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// Where RwLock starts beating Mutex along the read fraction, for one section length and
/// thread count.
#[derive(Debug, PartialEq, Eq)]
pub enum Crossover {
    /// RwLock wins at this read fraction and every higher one (`below`: the grid point under it).
    From { reads_pct: u64, below: Option<u64> },
    /// RwLock never wins; `ties` if it ties somewhere rather than losing everywhere.
    Never { ties: bool },
    /// RwLock wins at these fractions but not at every fraction above them.
    Scattered(Vec<u64>),
}

impl Crossover {
    pub fn show(&self) -> String {
        match self {
            Crossover::From { reads_pct: 0, .. } => "always (from 0 %)".into(),
            Crossover::From { reads_pct, below: Some(below) } => format!("{below}–{reads_pct} %"),
            Crossover::From { reads_pct, below: None } => format!("≤ {reads_pct} %"),
            Crossover::Never { ties: true } => "never (ties at best)".into(),
            Crossover::Never { ties: false } => "never".into(),
            Crossover::Scattered(at) => {
                format!(
                    "no clean crossover (wins at {} %)",
                    at.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                )
            }
        }
    }
}

/// The crossover of points that share a section length and thread count.
pub fn crossover(points: &[&LockPoint]) -> Crossover {
    let mut sorted: Vec<&&LockPoint> = points.iter().collect();
    sorted.sort_by_key(|p| p.reads_pct);
    let wins: Vec<u64> = sorted.iter().filter(|p| p.cmp.outcome == Outcome::Faster).map(|p| p.reads_pct).collect();
    if wins.is_empty() {
        return Crossover::Never { ties: sorted.iter().any(|p| p.cmp.outcome == Outcome::Tie) };
    }
    // The longest run of wins that reaches the highest read fraction.
    let first_of_tail = sorted.iter().rposition(|p| p.cmp.outcome != Outcome::Faster).map_or(0, |i| i + 1);
    if first_of_tail < sorted.len() && wins.len() == sorted.len() - first_of_tail {
        let below = first_of_tail.checked_sub(1).map(|i| sorted[i].reads_pct);
        return Crossover::From { reads_pct: sorted[first_of_tail].reads_pct, below };
    }
    Crossover::Scattered(wins)
}

/// Which lock a rule recommends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Mutex,
    RwLock,
}

/// One of the seed's rules of thumb, as a region of the lock grid.
pub struct Rule {
    pub name: &'static str,
    pub quote: &'static str,
    pub recommends: Lock,
    /// The rule's condition in measured terms.
    pub region: &'static str,
    pub applies: fn(reads_pct: u64, cs_ns: u64) -> bool,
}

/// The seed's rules of thumb ("Mutex vs RWMutex selection guidelines").
pub fn rules() -> Vec<Rule> {
    vec![
        Rule {
            name: "RwLock for read-heavy, long sections",
            quote: "Use RWMutex when reads are >3x more frequent than writes and critical sections contain >50 lines of read-heavy code",
            recommends: Lock::RwLock,
            region: "reads > 75 % and section > 250 ns (50 lines): reads 90, 99, 100 % × sections 1 µs, 10 µs",
            applies: |reads, cs| reads > 75 && (cs as f64) > 50.0 * NS_PER_LINE,
        },
        Rule {
            name: "Mutex for write-heavy work",
            quote: "Use Mutex when write frequency is >25% of total operations",
            recommends: Lock::Mutex,
            region: "writes > 25 %, i.e. reads < 75 %: reads 0, 50 % × every section length",
            applies: |reads, _| reads < 75,
        },
        Rule {
            name: "Mutex for short sections",
            quote: "Use Mutex when critical sections are <20 lines",
            recommends: Lock::Mutex,
            region: "section < 100 ns (20 lines): the ≈0 sections × every read fraction",
            applies: |_, cs| (cs as f64) < 20.0 * NS_PER_LINE,
        },
    ]
}

/// supported, refuted or inconclusive, from the recommended side's wins, ties and losses.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    pub wins: Vec<String>,
    pub ties: Vec<String>,
    pub losses: Vec<String>,
}

impl Verdict {
    pub fn add(&mut self, outcome: Outcome, deciding: String) {
        match outcome {
            Outcome::Faster => self.wins.push(deciding),
            Outcome::Tie => self.ties.push(deciding),
            Outcome::Slower => self.losses.push(deciding),
        }
    }

    /// Refuted when the alternative wins at least half the deciding cells; supported when
    /// the recommendation wins at least half and loses none; inconclusive otherwise.
    pub fn word(&self) -> &'static str {
        let (wins, losses) = (self.wins.len(), self.losses.len());
        let total = wins + self.ties.len() + losses;
        if total == 0 {
            "no data"
        } else if 2 * losses >= total {
            "refuted"
        } else if 2 * wins >= total && losses == 0 {
            "supported"
        } else {
            "inconclusive"
        }
    }

    /// `5 wins, 2 ties, 1 loss of 8 cells`.
    pub fn counts(&self) -> String {
        format!(
            "recommendation faster in {}, tied in {}, slower in {} of {} cells",
            self.wins.len(),
            self.ties.len(),
            self.losses.len(),
            self.wins.len() + self.ties.len() + self.losses.len()
        )
    }
}

/// A rule's verdict on one implementation's grid: each cell in its region, as the
/// recommended lock sees it.
pub fn rule_verdict(rule: &Rule, points: &[LockPoint]) -> Verdict {
    let mut verdict = Verdict::default();
    for point in points.iter().filter(|p| (rule.applies)(p.reads_pct, p.cs_ns)) {
        let outcome = match (rule.recommends, point.cmp.outcome) {
            (Lock::RwLock, o) => o,
            (Lock::Mutex, Outcome::Faster) => Outcome::Slower,
            (Lock::Mutex, Outcome::Slower) => Outcome::Faster,
            (Lock::Mutex, Outcome::Tie) => Outcome::Tie,
        };
        verdict.add(outcome, format!("{} {}", point.name(), fmt_ratio(point.cmp.ratio)));
    }
    verdict
}

/// One row of the seed's "Channel vs Mutex decision matrix".
pub struct MatrixRow {
    pub group: &'static str,
    pub scenario: &'static str,
    pub recommendation: &'static str,
    pub rationale: &'static str,
}

pub const MATRIX: [MatrixRow; 5] = [
    MatrixRow {
        group: "matrix/event-bus",
        scenario: "EventBus publishing",
        recommendation: "Channel-based worker pool",
        rationale: "Backpressure, rate limiting",
    },
    MatrixRow {
        group: "matrix/log-store",
        scenario: "Log storage",
        recommendation: "Hybrid with bounded channels",
        rationale: "High throughput with fallback",
    },
    MatrixRow {
        group: "matrix/process-status",
        scenario: "Process status updates",
        recommendation: "Mutex-protected maps",
        rationale: "Low latency, direct access",
    },
    MatrixRow {
        group: "matrix/url-registration",
        scenario: "URL registration",
        recommendation: "Mutex-protected maps",
        rationale: "Immediate consistency needed",
    },
    MatrixRow {
        group: "matrix/telemetry",
        scenario: "Telemetry collection",
        recommendation: "Channels with buffering",
        rationale: "Natural producer-consumer",
    },
];

/// A matrix row's verdict: in each cell the recommendation wins if every alternative is
/// slower, loses if any is faster, ties otherwise.
pub fn matrix_verdict<'a>(cells: impl Iterator<Item = &'a Cell>, band: f64) -> Verdict {
    let mut verdict = Verdict::default();
    for cell in cells {
        let Some(recommended) = cell.recommended.as_deref().and_then(|id| cell.contenders.get(id).map(|c| (id, c)))
        else {
            continue;
        };
        let versus: Vec<(&String, Comparison)> = cell
            .contenders
            .iter()
            .filter(|(id, _)| id.as_str() != recommended.0)
            .filter_map(|(id, c)| compare(c, recommended.1, band).map(|cmp| (id, cmp)))
            .collect();
        if versus.is_empty() {
            continue;
        }
        let outcome = if versus.iter().any(|(_, c)| c.outcome == Outcome::Faster) {
            Outcome::Slower
        } else if versus.iter().all(|(_, c)| c.outcome == Outcome::Slower) {
            Outcome::Faster
        } else {
            Outcome::Tie
        };
        let detail = versus.iter().map(|(id, c)| format!("{id} {}", fmt_ratio(c.ratio))).collect::<Vec<_>>().join(", ");
        verdict.add(outcome, format!("{} ({detail})", cell.label));
    }
    verdict
}

/// Groups the decision sections of the report show; every other group is a pattern bench's.
pub const DECISION_GROUPS: [&str; 4] = [LOCK_GROUP, "locks/async", "channels/handoff", "counters/atomic-vs-mutex"];

/// The pattern benches' groups, sorted: every group that is neither a decision group nor a
/// row of the matrix.
pub fn pattern_groups(data: &Dataset) -> Vec<String> {
    let mut groups: Vec<String> = data
        .cells
        .iter()
        .map(|c| c.group.clone())
        .filter(|g| !DECISION_GROUPS.contains(&g.as_str()) && !MATRIX.iter().any(|row| row.group == g))
        .collect();
    groups.sort();
    groups.dedup();
    groups
}

/// The contender a pattern bench is measured against: the one whose id starts with `racekit`.
pub fn racekit_contender(cell: &Cell) -> Option<&str> {
    cell.contenders.keys().find(|id| id.starts_with("racekit")).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(reads_pct: u64, outcome: Outcome) -> LockPoint {
        let ratio = match outcome {
            Outcome::Faster => 0.5,
            Outcome::Tie => 1.0,
            Outcome::Slower => 2.0,
        };
        LockPoint {
            threads: 2,
            oversubscribed: false,
            cs_ns: 1000,
            reads_pct,
            cmp: Comparison { ratio, lo: ratio * 0.9, hi: ratio * 1.1, outcome },
            disturbed: false,
        }
    }

    fn crossover_of(outcomes: &[(u64, Outcome)]) -> Crossover {
        let points: Vec<LockPoint> = outcomes.iter().map(|&(r, o)| point(r, o)).collect();
        crossover(&points.iter().collect::<Vec<_>>())
    }

    use Outcome::{Faster as W, Slower as L, Tie as T};

    #[test]
    fn the_crossover_is_where_rwlock_starts_winning_for_good() {
        assert_eq!(
            crossover_of(&[(0, L), (50, L), (75, T), (90, W), (99, W), (100, W)]),
            Crossover::From { reads_pct: 90, below: Some(75) }
        );
        assert_eq!(crossover_of(&[(0, W), (50, W), (100, W)]), Crossover::From { reads_pct: 0, below: None });
        assert_eq!(crossover_of(&[(0, L), (50, T), (100, T)]), Crossover::Never { ties: true });
        assert_eq!(crossover_of(&[(0, L), (100, L)]), Crossover::Never { ties: false });
        assert_eq!(crossover_of(&[(0, L), (50, W), (90, T), (100, W)]), Crossover::Scattered(vec![50, 100]));
    }

    #[test]
    fn verdicts_need_a_majority_and_a_clean_record() {
        let verdict = |w: usize, t: usize, l: usize| {
            Verdict { wins: vec![String::new(); w], ties: vec![String::new(); t], losses: vec![String::new(); l] }
                .word()
        };
        assert_eq!(verdict(4, 2, 0), "supported");
        assert_eq!(verdict(4, 1, 1), "inconclusive", "one loss blocks support");
        assert_eq!(verdict(1, 5, 0), "inconclusive", "mostly ties");
        assert_eq!(verdict(1, 2, 3), "refuted");
        assert_eq!(verdict(0, 0, 0), "no data");
    }

    #[test]
    fn rules_read_their_regions_from_the_recommended_side() {
        let rules = rules();
        let points = [point(90, W), point(99, W), point(100, T), point(50, L)];
        let rwlock_rule = rule_verdict(&rules[0], &points);
        assert_eq!((rwlock_rule.wins.len(), rwlock_rule.ties.len(), rwlock_rule.losses.len()), (2, 1, 0));
        assert_eq!(rwlock_rule.word(), "supported");
        let write_rule = rule_verdict(&rules[1], &points);
        assert_eq!(write_rule.wins.len(), 1, "RwLock slower at 50 % reads is a Mutex win");
        assert!((rules[2].applies)(100, 0) && !(rules[2].applies)(100, 100), "20 lines is 100 ns");
    }
}
