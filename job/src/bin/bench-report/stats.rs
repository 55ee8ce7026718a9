//! Ratios with their spread, the noise band, and when a difference is a tie.
//!
//! A contender's time in one round is the median of criterion's samples (ns per
//! operation). The ratio of contender `a` to contender `b` is the median over rounds of the
//! per-round ratios of medians (rounds run in alternating order, so a slow drift of the
//! machine cancels; the median, so one disturbed round does not decide). Its spread is a
//! 95 % bootstrap interval (samples resampled within each round), widened to cover the
//! per-round ratios (all of them with up to 3 rounds; all but the most extreme one on each
//! side from 4 rounds on). `a` is faster only when the whole interval is below 1 and the
//! ratio is beyond the noise band; slower, symmetrically; otherwise the two tie.

use crate::data::{Cell, Contender};

/// The smallest difference ever called a win: 3 %.
pub const MIN_BAND: f64 = 0.03;
const RESAMPLES: usize = 1000;

/// Which of two contenders is faster, once noise is accounted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Faster,
    Tie,
    Slower,
}

/// `a`'s time over `b`'s, with its interval and what it means.
#[derive(Clone, Copy, Debug)]
pub struct Comparison {
    pub ratio: f64,
    pub lo: f64,
    pub hi: f64,
    pub outcome: Outcome,
}

impl Comparison {
    /// `0.52 [0.48-0.57]`.
    pub fn show(&self) -> String {
        format!("{} [{}–{}]", fmt_ratio(self.ratio), fmt_ratio(self.lo), fmt_ratio(self.hi))
    }
}

/// A ratio to 2 significant decimals (3 below 0.1, none above 100).
pub fn fmt_ratio(ratio: f64) -> String {
    match ratio {
        r if r >= 100.0 => format!("{r:.0}"),
        r if r >= 10.0 => format!("{r:.1}"),
        r if r >= 0.1 => format!("{r:.2}"),
        r => format!("{r:.3}"),
    }
}

/// A time in ns with a unit: `24.1 ns`, `1.52 µs`, `3.1 ms`.
pub fn fmt_ns(ns: f64) -> String {
    let (value, unit) = match ns {
        n if n >= 1e6 => (n / 1e6, "ms"),
        n if n >= 1e3 => (n / 1e3, "µs"),
        n => (n, "ns"),
    };
    match value {
        v if v >= 100.0 => format!("{v:.0} {unit}"),
        v if v >= 10.0 => format!("{v:.1} {unit}"),
        v => format!("{v:.2} {unit}"),
    }
}

/// The median of a non-empty slice (NaN if empty).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    median_in_place(&mut sorted)
}

fn median_in_place(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// A contender's typical time: the median over its rounds of the median sample.
pub fn typical(contender: &Contender) -> f64 {
    log_median(contender.rounds.values().map(|round| median(&round.samples)))
}

/// The median of positive values, taken on a log scale (so the middle of an even count is
/// the geometric mean of the two middle values, and a ratio's median is the inverse of the
/// inverse ratio's).
fn log_median(values: impl Iterator<Item = f64>) -> f64 {
    let mut logs: Vec<f64> = values.map(f64::ln).collect();
    median_in_place(&mut logs).exp()
}

/// A small deterministic generator for the bootstrap (SplitMix64), so reports are reproducible.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// Compares `a` with `b` over the rounds both ran; `None` if they share no round.
pub fn compare(a: &Contender, b: &Contender, band: f64) -> Option<Comparison> {
    let pairs: Vec<(&[f64], &[f64])> = a
        .rounds
        .iter()
        .filter_map(|(round, ra)| b.rounds.get(round).map(|rb| (ra.samples.as_slice(), rb.samples.as_slice())))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let mut per_round: Vec<f64> = pairs.iter().map(|(a, b)| median(a) / median(b)).collect();
    let ratio = log_median(per_round.iter().copied());
    let mut rng = SplitMix(0x5EED ^ pairs.iter().map(|(a, b)| a.len() * 31 + b.len()).sum::<usize>() as u64);
    let (mut scratch_a, mut scratch_b) = (Vec::new(), Vec::new());
    let mut boot: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            log_median(pairs.iter().map(|(a, b)| {
                scratch_a.clear();
                scratch_a.extend((0..a.len()).map(|_| a[rng.below(a.len())]));
                scratch_b.clear();
                scratch_b.extend((0..b.len()).map(|_| b[rng.below(b.len())]));
                median_in_place(&mut scratch_a) / median_in_place(&mut scratch_b)
            }))
        })
        .collect();
    boot.sort_by(f64::total_cmp);
    let at = |q: f64| boot[((RESAMPLES - 1) as f64 * q).round() as usize];
    per_round.sort_by(f64::total_cmp);
    let trim = usize::from(per_round.len() >= 4);
    let covered = &per_round[trim..per_round.len() - trim];
    let lo = covered.iter().copied().fold(at(0.025), f64::min);
    let hi = covered.iter().copied().fold(at(0.975), f64::max);
    Some(Comparison { ratio, lo, hi, outcome: outcome(ratio, lo, hi, band) })
}

/// Faster only if the whole interval is below 1 and the ratio beyond the band; slower symmetrically.
pub fn outcome(ratio: f64, lo: f64, hi: f64, band: f64) -> Outcome {
    if hi < 1.0 && ratio < 1.0 / (1.0 + band) {
        Outcome::Faster
    } else if lo > 1.0 && ratio > 1.0 + band {
        Outcome::Slower
    } else {
        Outcome::Tie
    }
}

/// The noise band of a set of cells: twice the median change of a contender against itself
/// from one round to the next (at least [`MIN_BAND`]). With one round there is nothing to
/// measure it by, and the band is the minimum.
pub fn noise_band<'a>(cells: impl Iterator<Item = &'a Cell>) -> f64 {
    let mut drifts: Vec<f64> = cells
        .flat_map(|cell| cell.contenders.values())
        .flat_map(|contender| {
            let medians: Vec<f64> = contender.rounds.values().map(|round| median(&round.samples)).collect();
            medians.windows(2).map(|pair| (pair[1] / pair[0]).ln().abs()).collect::<Vec<_>>()
        })
        .filter(|drift| drift.is_finite())
        .collect();
    if drifts.is_empty() {
        return MIN_BAND;
    }
    ((2.0 * median_in_place(&mut drifts)).exp() - 1.0).max(MIN_BAND)
}

/// The fastest contender of a cell and how each other one compares with it.
pub struct Ranking {
    pub winner: String,
    /// Every other contender: (id, its time over the winner's).
    pub others: Vec<(String, Comparison)>,
}

impl Ranking {
    /// The contenders tied with the winner.
    pub fn tied(&self) -> Vec<&str> {
        self.others.iter().filter(|(_, c)| c.outcome == Outcome::Tie).map(|(id, _)| id.as_str()).collect()
    }

    /// `crossbeam-channel, 1.8× [1.6–2.0] faster than std-mpsc`, or `tie: a, b`.
    pub fn describe(&self) -> String {
        let tied = self.tied();
        if !tied.is_empty() {
            return format!("tie: {}, {}", self.winner, tied.join(", "));
        }
        match self.others.first() {
            Some((next, c)) => format!(
                "**{}**, {}× [{}–{}] faster than {next}",
                self.winner,
                fmt_ratio(c.ratio),
                fmt_ratio(c.lo),
                fmt_ratio(c.hi)
            ),
            None => format!("**{}** (alone)", self.winner),
        }
    }
}

/// Ranks a cell's contenders by typical time; `None` for an empty cell.
pub fn rank(cell: &Cell, band: f64) -> Option<Ranking> {
    let mut ids: Vec<(&String, f64)> = cell.contenders.iter().map(|(id, c)| (id, typical(c))).collect();
    ids.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (winner, _) = *ids.first()?;
    let best = &cell.contenders[winner];
    let others = ids[1..]
        .iter()
        .filter_map(|(id, _)| compare(&cell.contenders[*id], best, band).map(|c| ((*id).clone(), c)))
        .collect();
    Some(Ranking { winner: winner.clone(), others })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Facts, Round};
    use std::collections::BTreeMap;

    fn contender(rounds: &[&[f64]]) -> Contender {
        Contender {
            rounds: rounds
                .iter()
                .enumerate()
                .map(|(i, s)| (i, Round { samples: s.to_vec(), facts: Facts::default(), allocations: None }))
                .collect(),
        }
    }

    #[test]
    fn a_clear_difference_is_a_win_with_an_interval_around_it() {
        let fast = contender(&[&[10.0, 10.2, 9.9, 10.1, 10.0], &[10.1, 10.0, 10.3, 9.8, 10.0]]);
        let slow = contender(&[&[20.0, 20.4, 19.8, 20.1, 20.0], &[20.2, 20.0, 19.9, 20.3, 20.1]]);
        let c = compare(&fast, &slow, MIN_BAND).unwrap();
        assert!((c.ratio - 0.5).abs() < 0.01, "{c:?}");
        assert!(c.lo <= c.ratio && c.ratio <= c.hi && c.hi < 0.52, "{c:?}");
        assert_eq!(c.outcome, Outcome::Faster);
        assert_eq!(compare(&slow, &fast, MIN_BAND).unwrap().outcome, Outcome::Slower);
    }

    #[test]
    fn a_difference_inside_the_band_or_the_spread_is_a_tie() {
        let a = contender(&[&[10.0, 10.1, 9.9]]);
        let b = contender(&[&[10.2, 10.3, 10.1]]);
        assert_eq!(compare(&a, &b, MIN_BAND).unwrap().outcome, Outcome::Tie, "2 % is inside the 3 % band");
        let noisy = contender(&[&[5.0, 30.0, 9.0, 14.0, 6.0]]);
        assert_eq!(compare(&noisy, &b, MIN_BAND).unwrap().outcome, Outcome::Tie, "the interval straddles 1");
    }

    #[test]
    fn rounds_that_disagree_widen_the_interval_to_a_tie() {
        let a = contender(&[&[10.0, 10.0, 10.0], &[20.0, 20.0, 20.0]]);
        let b = contender(&[&[15.0, 15.0, 15.0], &[15.0, 15.0, 15.0]]);
        let c = compare(&a, &b, MIN_BAND).unwrap();
        assert!(c.lo <= 0.67 && c.hi >= 1.33, "{c:?}");
        assert_eq!(c.outcome, Outcome::Tie);
    }

    #[test]
    fn one_disturbed_round_in_four_does_not_decide() {
        let a = contender(&[&[10.0, 10.1, 9.9], &[10.0, 10.1, 9.9], &[18.0, 18.1, 17.9], &[10.0, 10.1, 9.9]]);
        let b = contender(&[&[20.0, 20.1, 19.9], &[20.0, 20.1, 19.9], &[20.0, 20.1, 19.9], &[20.0, 20.1, 19.9]]);
        let c = compare(&a, &b, MIN_BAND).unwrap();
        assert!((c.ratio - 0.5).abs() < 0.01 && c.hi < 0.9, "{c:?}");
        assert_eq!(c.outcome, Outcome::Faster);
    }

    #[test]
    fn the_noise_band_follows_the_drift_of_contenders_against_themselves() {
        let steady = Cell {
            group: "g".into(),
            label: "c".into(),
            params: serde_json::Value::Null,
            baseline: None,
            recommended: None,
            contenders: BTreeMap::from([("a".to_string(), contender(&[&[10.0], &[11.0]]))]),
        };
        let band = noise_band(std::iter::once(&steady));
        assert!((band - ((2.0 * (1.1f64).ln()).exp() - 1.0)).abs() < 1e-9, "{band}");
        let single = Cell { contenders: BTreeMap::from([("a".to_string(), contender(&[&[10.0]]))]), ..steady };
        assert_eq!(noise_band(std::iter::once(&single)), MIN_BAND);
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(crate::render::utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(crate::render::utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(crate::render::utc(1_795_446_949), "2026-11-23 15:15 UTC");
    }

    #[test]
    fn ratios_and_times_print_compactly() {
        assert_eq!(fmt_ratio(0.5234), "0.52");
        assert_eq!(fmt_ratio(0.05234), "0.052");
        assert_eq!(fmt_ratio(12.34), "12.3");
        assert_eq!(fmt_ns(24.13), "24.1 ns");
        assert_eq!(fmt_ns(4.567), "4.57 ns");
        assert_eq!(fmt_ns(1520.0), "1.52 µs");
        assert_eq!(fmt_ns(3_100_000.0), "3.10 ms");
    }
}
