//! What the job shows while it runs: a progress bar (tests done, schedules explored,
//! elapsed and ETA, the tests running now) on a terminal, one line per finished test
//! elsewhere (CI logs). Problems are printed as they happen in both cases.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::budget::{human_duration, human_seconds, thousands};
use crate::results::{Row, Verdict};

pub struct Progress {
    bar: ProgressBar,
    /// No terminal: print a line per test instead of drawing.
    plain: bool,
    schedules: AtomicU64,
    problems: AtomicU64,
    budget_end: Option<Instant>,
}

impl Progress {
    /// A bar over `len` tests; `budget` is the job's time budget, if it has one.
    pub fn new(len: usize, budget: Option<Duration>) -> Progress {
        let plain = !std::io::stderr().is_terminal();
        let bar = if plain {
            ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::hidden())
        } else {
            ProgressBar::new(len as u64)
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.green} {elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} tests · ETA {eta} · {prefix}\n  {wide_msg:.dim}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        let progress = Progress {
            bar,
            plain,
            schedules: AtomicU64::new(0),
            problems: AtomicU64::new(0),
            budget_end: budget.map(|budget| Instant::now() + budget),
        };
        progress.update_prefix();
        progress
    }

    /// The tests running now.
    pub fn running(&self, labels: impl Iterator<Item = String>) {
        let labels: Vec<String> = labels.collect();
        self.bar.set_message(if labels.is_empty() {
            String::new()
        } else {
            format!("running: {}", labels.join(" | "))
        });
    }

    /// One test finished.
    pub fn finished(&self, row: &Row) {
        self.schedules.fetch_add(row.schedules, Ordering::Relaxed);
        let verdict = row.verdict();
        let problem = row.is_failure() || (verdict == Verdict::Escaped && !row.ignored) || verdict == Verdict::Timeout;
        if problem {
            self.problems.fetch_add(1, Ordering::Relaxed);
        }
        let line = format!(
            "{:<7} {:<8} {} ({} schedules, {})",
            verdict.word(),
            row.backend.name(),
            row.test,
            thousands(row.schedules),
            human_seconds(row.elapsed)
        );
        if problem {
            let detail = row.message.as_deref().and_then(|m| m.lines().next()).unwrap_or("");
            self.println(&format!("{line}\n        {detail}\n        reproduce: {}", row.reproduce()));
        } else if self.plain {
            self.println(&line);
        }
        self.bar.inc(1);
        self.update_prefix();
    }

    fn update_prefix(&self) {
        let mut prefix = format!(
            "{} schedules · {} problem(s)",
            thousands(self.schedules.load(Ordering::Relaxed)),
            self.problems.load(Ordering::Relaxed)
        );
        if let Some(end) = self.budget_end {
            prefix
                .push_str(&format!(" · budget left {}", human_duration(end.saturating_duration_since(Instant::now()))));
        }
        self.bar.set_prefix(prefix);
    }

    /// Prints above the bar (or plainly without a terminal).
    pub fn println(&self, text: &str) {
        if self.plain {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A spinner for the builds.
pub fn spinner(message: String) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        eprintln!("{message}");
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::new_spinner();
    spinner
        .set_style(ProgressStyle::with_template("{spinner:.green} {elapsed_precise} {msg}").expect("a valid template"));
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}
