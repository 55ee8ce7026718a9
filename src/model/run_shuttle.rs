//! shuttle: a portfolio of randomized schedulers.
//!
//! The portfolio alternates the random scheduler and PCT with different seeds, because
//! each misses what the other finds: PCT can starve a freshly spawned thread (a bug that
//! needs the new thread to run before its parent's next lock was never found by PCT in
//! 20,000 schedules here, and by the random scheduler in about 10), while random
//! scheduling rarely produces the few, precisely placed preemptions that PCT targets.
//!
//! When a schedule fails, the schedule shuttle recorded for it is encoded (shuttle's own
//! format, the one `shuttle::replay` takes) into the replay token.

use super::context::{self, CheckContext};
use super::{instrumented, panic_message, Body, Failure, FailureKind, Phase, Report, Run, SchedulerChoice};
use shuttle::scheduler::{PctScheduler, RandomScheduler, ReplayScheduler, Schedule, Scheduler, Task, TaskId};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// PCT's own assertion when its first (oldest-task-first) execution never had two
/// runnable tasks: it cannot place priority change points, and ends the run by panicking.
const PCT_FOUND_NO_CONCURRENCY: &str = "test closure did not exercise any concurrency";

/// Counts executions and stops the run at the deadline. When PCT finds nothing to
/// prioritize (see [`PCT_FOUND_NO_CONCURRENCY`]), the member's remaining schedules go to
/// the random scheduler with the same seed instead of failing a correct model.
struct Budgeted {
    inner: Box<dyn Scheduler + Send>,
    member: Member,
    iterations: usize,
    executions: Arc<AtomicU64>,
    fell_back: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

/// Keeps PCT's assertion (which racekit handles, see [`Budgeted`]) out of the test output:
/// a process-wide panic hook that drops exactly that message and passes every other panic
/// to the hook it replaced. Installed once, on the first shuttle check.
fn quiet_pct_assertion() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if panic_message(info.payload()) != PCT_FOUND_NO_CONCURRENCY {
                previous(info);
            }
        }));
    });
}

impl Budgeted {
    fn next_schedule(&mut self) -> Option<Schedule> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.new_execution())) {
            Ok(schedule) => schedule,
            Err(payload)
                if panic_message(&*payload) == PCT_FOUND_NO_CONCURRENCY && !self.fell_back.load(Ordering::Relaxed) =>
            {
                self.fell_back.store(true, Ordering::Relaxed);
                let done = self.executions.load(Ordering::Relaxed) as usize;
                let seed = match self.member {
                    Member::Random { seed } | Member::Pct { seed, .. } => seed,
                };
                self.inner = Member::Random { seed }.scheduler(self.iterations.saturating_sub(done));
                self.inner.new_execution()
            }
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

/// On a failure the inner scheduler is leaked, not dropped: shuttle's random scheduler
/// prints its own replay advice (a seed and `SHUTTLE_RANDOM_SEED`) when dropped during a
/// failure, and racekit's reproduce command is the one to follow.
impl Drop for Budgeted {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let quiet: Box<dyn Scheduler + Send> = Box::new(shuttle::scheduler::DfsScheduler::new(Some(0), false));
            std::mem::forget(std::mem::replace(&mut self.inner, quiet));
        }
    }
}

impl std::fmt::Debug for Budgeted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budgeted").field("member", &self.member).finish_non_exhaustive()
    }
}

impl Scheduler for Budgeted {
    fn new_execution(&mut self) -> Option<Schedule> {
        if self.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return None;
        }
        let schedule = self.next_schedule();
        if schedule.is_some() {
            self.executions.fetch_add(1, Ordering::Relaxed);
        }
        schedule
    }

    fn next_task(&mut self, runnable: &[&Task], current: Option<TaskId>, is_yielding: bool) -> Option<TaskId> {
        self.inner.next_task(runnable, current, is_yielding)
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
}

/// One member of the portfolio.
#[derive(Clone, Copy, Debug)]
enum Member {
    Random { seed: u64 },
    Pct { seed: u64, depth: usize },
}

impl Member {
    fn label(self) -> String {
        match self {
            Member::Random { seed } => format!("shuttle random seed {seed}"),
            Member::Pct { seed, depth } => format!("shuttle pct(depth {depth}) seed {seed}"),
        }
    }

    fn scheduler(self, iterations: usize) -> Box<dyn Scheduler + Send> {
        match self {
            Member::Random { seed } => Box::new(RandomScheduler::new_from_seed(seed, iterations)),
            Member::Pct { seed, depth } => Box::new(PctScheduler::new_from_seed(seed, depth, iterations)),
        }
    }
}

/// The members to run, and the schedules each gets (the total is the budget).
fn portfolio(run: &Run) -> Vec<(Member, usize)> {
    let settings = &run.settings;
    let seed = settings.seed;
    let members = match settings.scheduler {
        SchedulerChoice::Random => vec![Member::Random { seed }],
        SchedulerChoice::Pct => vec![Member::Pct { seed, depth: settings.pct_depth }],
        SchedulerChoice::Portfolio => vec![
            Member::Random { seed },
            Member::Pct { seed: seed.wrapping_add(1), depth: settings.pct_depth },
            Member::Random { seed: seed.wrapping_add(2) },
            Member::Pct { seed: seed.wrapping_add(3), depth: settings.pct_depth.saturating_sub(1).max(1) },
        ],
    };
    let count = members.len();
    let share = settings.iterations / count;
    let extra = settings.iterations % count;
    members
        .into_iter()
        .enumerate()
        .map(|(index, member)| (member, share + usize::from(index < extra)))
        .filter(|(_, iterations)| *iterations > 0)
        .collect()
}

fn config() -> shuttle::Config {
    let mut config = shuttle::Config::new();
    // racekit prints its own reproduce command; shuttle's would name a different API.
    config.failure_persistence = shuttle::FailurePersistence::None;
    config.silence_warnings = true;
    config
}

/// The schedule of the execution that just failed on this thread, in shuttle's encoding.
fn failing_schedule() -> String {
    let schedule = shuttle_engine::runtime::execution::CurrentSchedule::get_schedule();
    shuttle_engine::scheduler::serialization::serialize_schedule(&schedule)
}

fn classify(payload: Box<dyn std::any::Any + Send>) -> (FailureKind, String) {
    let message = panic_message(&*payload);
    (FailureKind::classify(&message), message)
}

pub(crate) fn explore(run: &Run, body: Body) -> Result<Report, Failure> {
    quiet_pct_assertion();
    super::shuttle_output::install();
    let context = CheckContext::new(run.settings.seed);
    let _entered = context::enter(Some(context.clone()));
    let deadline = run.deadline();
    let mut phases = Vec::new();
    let mut explored = 0;
    let members = portfolio(run);
    let count = members.len();
    for (index, (member, iterations)) in members.into_iter().enumerate() {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        // A time budget is shared by the members still to run: with more schedules than
        // the time allows, the first member must not take it all from the others.
        let deadline = deadline.map(|deadline| {
            let now = Instant::now();
            now + deadline.saturating_duration_since(now) / (count - index) as u32
        });
        let executions = Arc::new(AtomicU64::new(0));
        let fell_back = Arc::new(AtomicBool::new(false));
        let scheduler = Budgeted {
            inner: member.scheduler(iterations),
            member,
            iterations,
            executions: executions.clone(),
            fell_back: fell_back.clone(),
            deadline,
        };
        let runner = shuttle::Runner::new(scheduler, config());
        let execution_body = instrumented(body.clone(), context.clone(), run.settings.seed);
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run(execution_body)));
        let schedules = executions.load(Ordering::Relaxed);
        explored += schedules;
        match result {
            Ok(_) => phases.push(Phase {
                label: if fell_back.load(Ordering::Relaxed) {
                    format!("{} (no contention for PCT to prioritize: random for the rest)", member.label())
                } else {
                    member.label()
                },
                schedules,
                elapsed: started.elapsed(),
                complete: schedules >= iterations as u64,
            }),
            Err(payload) => {
                let schedule = failing_schedule();
                let (kind, message) = classify(payload);
                return Err(run.failure(member.label(), explored, message, kind, schedule));
            }
        }
    }
    Ok(run.report(phases, context.spawned()))
}

pub(crate) fn replay(run: &Run, payload: &str, body: Body) -> Result<Report, Failure> {
    if shuttle_engine::scheduler::serialization::deserialize_schedule(payload).is_none() {
        let error = super::ReplayTokenError::payload(crate::sync::Backend::Shuttle, "not a shuttle schedule");
        panic!("racekit: {error}");
    }
    super::shuttle_output::install();
    let context = CheckContext::new(run.settings.seed);
    let _entered = context::enter(Some(context.clone()));
    let runner = shuttle::Runner::new(ReplayScheduler::new_from_encoded(payload), config());
    let execution_body = instrumented(body, context.clone(), run.settings.seed);
    let started = Instant::now();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run(execution_body))) {
        Ok(_) => {
            eprintln!(
                "racekit: the replayed shuttle schedule passed: the code under test changed, or the bug is fixed"
            );
            let phase =
                Phase { label: "shuttle replay".to_owned(), schedules: 1, elapsed: started.elapsed(), complete: true };
            Ok(run.report(vec![phase], context.spawned()))
        }
        Err(payload_of_panic) => {
            let (kind, message) = classify(payload_of_panic);
            Err(run.failure("shuttle replay".to_owned(), 1, message, kind, payload.to_owned()))
        }
    }
}
