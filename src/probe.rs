//! Probes for stress suites and models: leak, bound and conservation checks.
//!
//! Probes observe; they are not part of the model. Their counters are plain `std` atomics
//! on purpose, so the model checkers do not schedule around them and a probe never hides
//! or creates an interleaving. Read them after the threads they observe are joined (or
//! under the lock the observed value lives behind) for an exact answer.
//!
//! - [`live_tasks`]: threads and tasks spawned through [`crate::sync`] that are still
//!   running in the current check ([`check`](crate::check) fails on any at the end).
//! - [`HighWater`]: the largest value a gauge ever reached, such as a queue's length.
//! - [`Ledger`]: named counters and the conservation law they must obey
//!   (published = delivered + dropped + rejected).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use thiserror::Error;

/// Threads and tasks spawned through [`crate::sync`] in the current check that have not
/// finished; `None` outside a check.
pub fn live_tasks() -> Option<usize> {
    crate::model::context::current().map(|context| context.live())
}

/// The largest value a gauge reached.
///
/// # Examples
///
/// ```
/// use racekit::probe::HighWater;
///
/// let queue_length = HighWater::new();
/// queue_length.record(3);
/// queue_length.record(1);
/// assert_eq!(queue_length.max(), 3);
/// assert!(queue_length.check_at_most(4).is_ok());
/// assert!(queue_length.check_at_most(2).is_err());
/// ```
#[derive(Debug, Default)]
pub struct HighWater {
    max: AtomicUsize,
    samples: AtomicU64,
}

/// A gauge went above its bound.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("high-water mark {max} is above the bound {bound} (over {samples} samples)")]
pub struct BoundExceeded {
    /// The largest value recorded.
    pub max: usize,
    /// The bound.
    pub bound: usize,
    /// How many values were recorded.
    pub samples: u64,
}

impl HighWater {
    /// A gauge that has recorded nothing (max 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a value.
    pub fn record(&self, value: usize) {
        // Relaxed: a monotone maximum; readers only need it after joining the writers.
        self.max.fetch_max(value, Ordering::Relaxed);
        self.samples.fetch_add(1, Ordering::Relaxed);
    }

    /// The largest value recorded.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// How many values were recorded.
    pub fn samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }

    /// `Ok` when every recorded value was at most `bound`.
    pub fn check_at_most(&self, bound: usize) -> Result<(), BoundExceeded> {
        let max = self.max();
        if max <= bound {
            Ok(())
        } else {
            Err(BoundExceeded { max, bound, samples: self.samples() })
        }
    }
}

/// Named counters and conservation laws over them.
///
/// # Examples
///
/// ```
/// use racekit::probe::Ledger;
///
/// let ledger = Ledger::new();
/// ledger.add("published", 5);
/// ledger.add("delivered", 4);
/// ledger.add("dropped", 1);
/// ledger.check_conserved(&["published"], &["delivered", "dropped", "rejected"]).unwrap();
///
/// ledger.add("published", 1);
/// let error = ledger.check_conserved(&["published"], &["delivered", "dropped"]).unwrap_err();
/// assert_eq!(error.missing(), 1);
/// ```
#[derive(Debug, Default)]
pub struct Ledger {
    entries: Mutex<BTreeMap<String, u64>>,
}

/// A conservation law did not hold.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("not conserved: {inflow} = {inflow_total} but {outflow} = {outflow_total} ({})", describe_gap(*.inflow_total, *.outflow_total))]
pub struct NotConserved {
    /// The inflow side, as `a + b`.
    pub inflow: String,
    /// Its total.
    pub inflow_total: u64,
    /// The outflow side, as `c + d`.
    pub outflow: String,
    /// Its total.
    pub outflow_total: u64,
}

impl NotConserved {
    /// Items that went in and are not accounted for (negative: counted out twice).
    pub fn missing(&self) -> i128 {
        i128::from(self.inflow_total) - i128::from(self.outflow_total)
    }
}

fn describe_gap(inflow: u64, outflow: u64) -> String {
    if inflow > outflow {
        format!("{} item(s) lost without being counted", inflow - outflow)
    } else {
        format!("{} item(s) counted out more than once", outflow - inflow)
    }
}

impl Ledger {
    /// An empty ledger (every counter reads 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `amount` to counter `name`.
    ///
    /// # Panics
    ///
    /// When the counter would pass `u64::MAX`, naming it: a saturated counter would hide
    /// the very loss a ledger exists to find.
    pub fn add(&self, name: &str, amount: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.entry(name.to_owned()).or_insert(0);
        *entry = entry.checked_add(amount).unwrap_or_else(|| panic!("ledger counter `{name}` overflowed"));
    }

    /// The value of counter `name` (0 if never added to).
    pub fn get(&self, name: &str) -> u64 {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(name).copied().unwrap_or(0)
    }

    /// Every counter, by name.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `Ok` when the inflow counters sum to the outflow counters.
    pub fn check_conserved(&self, inflow: &[&str], outflow: &[&str]) -> Result<(), NotConserved> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let total = |names: &[&str]| names.iter().map(|n| entries.get(*n).copied().unwrap_or(0)).sum::<u64>();
        let (inflow_total, outflow_total) = (total(inflow), total(outflow));
        if inflow_total == outflow_total {
            Ok(())
        } else {
            Err(NotConserved { inflow: inflow.join(" + "), inflow_total, outflow: outflow.join(" + "), outflow_total })
        }
    }
}

impl fmt::Display for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.snapshot();
        let parts: Vec<String> = entries.iter().map(|(name, value)| format!("{name}={value}")).collect();
        f.write_str(&parts.join(" "))
    }
}
