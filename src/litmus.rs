//! Outcome histograms: run a small litmus body many times, count every result it returns,
//! grade each result, and fail on a forbidden one.
//!
//! A litmus test (jcstress's shape) is a few threads racing on a few shared locations,
//! each recording what it saw; the body returns those observations as one value, the
//! *outcome*. The author grades the outcomes: **acceptable** (sequentially explainable),
//! **interesting** (allowed, but only by a weak memory model or an unusual interleaving:
//! worth seeing), **forbidden** (a bug). An outcome nobody listed is forbidden. The
//! histogram shows how often each outcome really occurs on real threads and under each
//! model checker: which backends can even produce the interesting ones is the point.
//!
//! | backend | what the counts are |
//! |---|---|
//! | loom | one per execution explored: every outcome the bounded exhaustive search (and loom's C11 memory model) can produce, each interleaving once |
//! | shuttle | one per random or PCT schedule: sequentially consistent outcomes only (every atomic access is `SeqCst`) |
//! | std | one per run on real threads: what the hardware did, with the facade's random yields |
//!
//! A forbidden outcome fails its run like a failed assertion: the [`LitmusFailure`] holds
//! the check's [`Failure`] (with its reproduce command) and the histogram up to it. When
//! `RACEKIT_REPORT_FILE` is set, the histogram is also appended to it as one JSON line of
//! its own record type, `{"record": "histogram", "test": ..., "binary": ..., "histogram":
//! {...}}`, next to the check lines the model-checking job already reads (those have no
//! `record` field).
//!
//! # Examples
//!
//! Message passing with Release/Acquire: once the reader sees the flag, it sees the data.
//!
//! ```
//! use racekit::litmus::Litmus;
//! use racekit::model::Model;
//! use racekit::sync::{thread, Arc, atomic::{AtomicBool, AtomicU32, Ordering}};
//!
//! let histogram = Litmus::new(Model::named("message passing, release/acquire").iterations(50), || {
//!     let (data, flag) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicBool::new(false)));
//!     let writer = {
//!         let (data, flag) = (data.clone(), flag.clone());
//!         thread::spawn(move || {
//!             data.store(1, Ordering::Relaxed);
//!             flag.store(true, Ordering::Release);
//!         })
//!     };
//!     let seen = flag.load(Ordering::Acquire);
//!     let read = data.load(Ordering::Relaxed);
//!     writer.join().unwrap();
//!     (seen, read)
//! })
//! .acceptable((false, 0), "the reader ran first")
//! .acceptable((false, 1), "the data was written, the flag not yet seen")
//! .acceptable((true, 1), "the reader ran last")
//! .forbidden((true, 0), "the flag was seen but not the data it publishes")
//! .check();
//! assert_eq!(histogram.count(&(true, 0)), 0);
//! println!("{histogram}");
//! ```

use crate::model::{Failure, Model};
use crate::sync::Backend;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::{self, Debug};
use std::sync::{Arc, Mutex};

/// How an outcome is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// Explained by some sequential interleaving.
    Acceptable,
    /// Allowed, but only by weak memory or a rare interleaving: worth seeing.
    Interesting,
    /// A bug: the litmus test fails when it occurs.
    Forbidden,
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Grade::Acceptable => "acceptable",
            Grade::Interesting => "interesting",
            Grade::Forbidden => "FORBIDDEN",
        })
    }
}

/// One outcome's line of a histogram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row<R> {
    /// The outcome.
    pub outcome: R,
    /// Its grade.
    pub grade: Grade,
    /// Runs that produced it (0 for a listed outcome never seen).
    pub count: u64,
    /// What it means, as the author wrote it.
    pub meaning: String,
}

/// The outcomes one litmus test produced on one backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram<R> {
    /// The litmus test's name (its model's).
    pub name: String,
    /// The backend that ran it.
    pub backend: Backend,
    /// Every listed outcome and every outcome seen, listed ones first in the order given.
    pub rows: Vec<Row<R>>,
}

impl<R: PartialEq> Histogram<R> {
    /// Runs that produced `outcome`.
    pub fn count(&self, outcome: &R) -> u64 {
        self.rows.iter().find(|row| &row.outcome == outcome).map_or(0, |row| row.count)
    }

    /// The outcomes seen at least once.
    pub fn observed(&self) -> Vec<&R> {
        self.rows.iter().filter(|row| row.count > 0).map(|row| &row.outcome).collect()
    }

    /// Runs in all.
    pub fn runs(&self) -> u64 {
        self.rows.iter().map(|row| row.count).sum()
    }
}

impl<R: Debug> fmt::Display for Histogram<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs: u64 = self.rows.iter().map(|row| row.count).sum();
        writeln!(f, "racekit: litmus `{}` under {}: {runs} run(s)", self.name, self.backend)?;
        let header: Vec<String> = ["outcome", "grade", "runs", "share", "meaning"].map(String::from).into();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| {
                let share = if runs == 0 { 0.0 } else { 100.0 * row.count as f64 / runs as f64 };
                vec![
                    format!("{:?}", row.outcome),
                    row.grade.to_string(),
                    row.count.to_string(),
                    format!("{share:.1} %"),
                    row.meaning.clone(),
                ]
            })
            .collect();
        f.write_str(crate::linearizability::plain_table(&header, &rows).trim_end())
    }
}

/// A litmus test that produced a forbidden outcome (or failed otherwise: a deadlock, a
/// panic in the body).
#[derive(Clone, Debug)]
pub struct LitmusFailure<R> {
    /// The outcomes counted until the check stopped.
    pub histogram: Histogram<R>,
    /// The failing run, with its reproduce command.
    pub failure: Failure,
}

impl<R: Debug> fmt::Display for LitmusFailure<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.histogram)?;
        write!(f, "{}", self.failure)
    }
}

impl<R: Debug> std::error::Error for LitmusFailure<R> {}

type LitmusBody<R> = Arc<dyn Fn() -> R + Send + Sync>;

/// A litmus test: a body returning an outcome, and the grades of the outcomes.
#[must_use = "a Litmus test does nothing until `check` or `run` is called"]
pub struct Litmus<R> {
    model: Model,
    body: LitmusBody<R>,
    grades: Vec<(R, Grade, String)>,
}

impl<R> Litmus<R>
where
    R: Clone + Debug + Ord + Send + Sync + 'static,
{
    /// A litmus test running `body` under `model` (which sets the runs: loom's bound,
    /// shuttle's and std's iterations, and names the test).
    pub fn new(model: Model, body: impl Fn() -> R + Send + Sync + 'static) -> Self {
        Litmus { model, body: Arc::new(body), grades: Vec::new() }
    }

    /// Grades `outcome` acceptable.
    pub fn acceptable(self, outcome: R, meaning: impl Into<String>) -> Self {
        self.grade(outcome, Grade::Acceptable, meaning)
    }

    /// Grades `outcome` interesting.
    pub fn interesting(self, outcome: R, meaning: impl Into<String>) -> Self {
        self.grade(outcome, Grade::Interesting, meaning)
    }

    /// Grades `outcome` forbidden (outcomes nobody lists are forbidden too).
    pub fn forbidden(self, outcome: R, meaning: impl Into<String>) -> Self {
        self.grade(outcome, Grade::Forbidden, meaning)
    }

    fn grade(mut self, outcome: R, grade: Grade, meaning: impl Into<String>) -> Self {
        self.grades.retain(|(listed, _, _)| listed != &outcome);
        self.grades.push((outcome, grade, meaning.into()));
        self
    }

    /// Runs the test, prints the histogram (stderr) and panics with the failure if a
    /// forbidden outcome occurred.
    #[track_caller]
    pub fn check(self) -> Histogram<R> {
        match self.run() {
            Ok(histogram) => histogram,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// Runs the test and returns the histogram, or the failure with the histogram so far.
    pub fn run(self) -> Result<Histogram<R>, LitmusFailure<R>> {
        let counts: Arc<Mutex<BTreeMap<R, u64>>> = Arc::default();
        let grades = Arc::new(self.grades.clone());
        let report_file = self.model.settings().ok().and_then(|settings| settings.report_file);
        let name = self.model.explicit_name().unwrap_or("litmus").to_owned();
        let (body, seen) = (self.body.clone(), counts.clone());
        let checked = self.model.clone().run(move || {
            let outcome = body();
            *seen.lock().unwrap_or_else(|e| e.into_inner()).entry(outcome.clone()).or_default() += 1;
            if let Some((_, grade, meaning)) = grades.iter().find(|(listed, _, _)| listed == &outcome) {
                assert!(*grade != Grade::Forbidden, "forbidden outcome {outcome:?}: {meaning}");
            } else {
                panic!("forbidden outcome {outcome:?}: not listed among the outcomes this litmus test allows");
            }
        });
        let counts = std::mem::take(&mut *counts.lock().unwrap_or_else(|e| e.into_inner()));
        let histogram = self.histogram(name, counts);
        if let Some(path) = report_file {
            append_record(&path, &histogram, checked.is_ok());
        }
        match checked {
            Ok(_) => {
                eprintln!("{histogram}");
                Ok(histogram)
            }
            Err(failure) => Err(LitmusFailure { histogram, failure }),
        }
    }

    fn histogram(&self, name: String, mut counts: BTreeMap<R, u64>) -> Histogram<R> {
        let mut rows: Vec<Row<R>> = self
            .grades
            .iter()
            .map(|(outcome, grade, meaning)| Row {
                count: counts.remove(outcome).unwrap_or(0),
                outcome: outcome.clone(),
                grade: *grade,
                meaning: meaning.clone(),
            })
            .collect();
        rows.extend(counts.into_iter().map(|(outcome, count)| Row {
            outcome,
            grade: Grade::Forbidden,
            count,
            meaning: "not listed".to_owned(),
        }));
        Histogram { name, backend: Backend::CURRENT, rows }
    }
}

/// Appends the histogram as one `"record": "histogram"` JSON line (see the module docs).
fn append_record<R: Debug>(path: &std::path::Path, histogram: &Histogram<R>, passed: bool) {
    #[derive(Serialize)]
    struct Outcome<'a> {
        outcome: String,
        grade: Grade,
        count: u64,
        meaning: &'a str,
    }
    let outcomes: Vec<Outcome<'_>> = histogram
        .rows
        .iter()
        .map(|row| Outcome {
            outcome: format!("{:?}", row.outcome),
            grade: row.grade,
            count: row.count,
            meaning: &row.meaning,
        })
        .collect();
    let line = serde_json::json!({
        "record": "histogram",
        "histogram": {
            "name": histogram.name,
            "backend": histogram.backend,
            "verdict": if passed { "passed" } else { "failed" },
            "runs": histogram.rows.iter().map(|row| row.count).sum::<u64>(),
            "outcomes": outcomes,
        },
    });
    crate::model::append_report_line(path, line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::atomic::{AtomicU32, Ordering};

    fn increments() -> Litmus<u32> {
        // Two racy increments: 1 is the lost update, 2 the sequential result.
        Litmus::new(Model::named("litmus self-test").iterations(20).preemption_bound(1), || {
            let value = crate::sync::Arc::new(AtomicU32::new(0));
            let other = {
                let value = value.clone();
                crate::sync::thread::spawn(move || {
                    let seen = value.load(Ordering::SeqCst);
                    value.store(seen + 1, Ordering::SeqCst);
                })
            };
            let seen = value.load(Ordering::SeqCst);
            value.store(seen + 1, Ordering::SeqCst);
            other.join().unwrap();
            value.load(Ordering::SeqCst)
        })
    }

    #[test]
    #[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads lose the update only by chance")]
    fn a_forbidden_outcome_fails_with_the_histogram() {
        let failure = increments().acceptable(2, "sequential").forbidden(1, "lost update").run().unwrap_err();
        assert!(failure.failure.message.contains("forbidden outcome 1: lost update"), "{}", failure.failure.message);
        assert!(failure.histogram.count(&1) >= 1);
        assert!(failure.to_string().contains("| 1       | FORBIDDEN"), "{failure}");
    }

    #[test]
    #[cfg_attr(not(any(racekit_loom, racekit_shuttle)), ignore = "real threads lose the update only by chance")]
    fn unlisted_outcomes_are_forbidden_and_shown() {
        let failure = increments().acceptable(2, "sequential").run().unwrap_err();
        assert!(failure.failure.message.contains("not listed"), "{}", failure.failure.message);
        let unlisted = failure.histogram.rows.last().expect("the unlisted outcome has a row");
        assert_eq!((unlisted.outcome, unlisted.grade), (1, Grade::Forbidden));
    }

    #[test]
    fn the_report_record_is_a_histogram_line_of_its_own() {
        let histogram = increments()
            .acceptable(2, "sequential")
            .interesting(1, "lost update")
            .histogram("record test".to_owned(), BTreeMap::from([(2, 7), (1, 3)]));
        let path = std::env::temp_dir().join(format!("racekit-litmus-record-{}.jsonl", std::process::id()));
        append_record(&path, &histogram, true);
        let text = std::fs::read_to_string(&path).expect("the record was written");
        std::fs::remove_file(&path).expect("the temporary file can be removed");
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).expect("one JSON line");
        assert_eq!(line["record"], "histogram");
        assert!(line.get("verdict").is_none(), "check lines carry a verdict at top level; this record does not");
        assert_eq!(line["histogram"]["runs"], 10);
        assert_eq!(line["histogram"]["verdict"], "passed");
        assert_eq!(line["histogram"]["outcomes"][1]["outcome"], "1");
        assert_eq!(line["histogram"]["outcomes"][1]["grade"], "interesting");
        assert_eq!(line["histogram"]["outcomes"][1]["count"], 3);
    }

    #[test]
    fn a_histogram_counts_every_run_of_graded_outcomes() {
        let histogram = increments().acceptable(2, "sequential").interesting(1, "lost update").check();
        assert!(histogram.count(&2) > 0, "the sequential outcome occurs on every backend");
        assert_eq!(histogram.runs(), histogram.count(&1) + histogram.count(&2));
        let text = histogram.to_string();
        assert!(text.contains("| outcome | grade       | runs |"), "{text}");
    }
}
