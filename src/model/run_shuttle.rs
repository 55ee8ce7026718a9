//! shuttle: a portfolio of randomized schedulers.
//!
//! The portfolio runs the random scheduler and PCT with different seeds, because each
//! misses what the other finds: PCT can starve a freshly spawned thread (a bug that needs
//! the new thread to run before its parent's next lock was never found by PCT in 20,000
//! schedules here, and by the random scheduler in about 10), while random scheduling
//! rarely produces the few, precisely placed preemptions that PCT targets.
//!
//! The members take turns, one schedule each ([`Interleaved`]): a bug that some member
//! finds at its n-th schedule costs at most about `members × n` schedules, and no member
//! waits for another's whole share (run one after another, a bug PCT finds at its first
//! schedule was found only at schedule 501 of 2,000). With a time budget from
//! `RACEKIT_TIME_BUDGET` the portfolio follows the escalation plan ([`Escalation`]).
//!
//! When a schedule fails, the schedule shuttle recorded for it is encoded (shuttle's own
//! format, the one `shuttle::replay` takes) into the replay token.

use super::context::{self, CheckContext};
use super::{detect, instrumented, panic_message, Body, Failure, FailureKind, Phase, Report, Run, SchedulerChoice};
use shuttle::scheduler::{
    PctScheduler, RandomScheduler, ReplayScheduler, Schedule, Scheduler, Task, TaskId, UrwRandomScheduler,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// PCT's own assertion when its first (oldest-task-first) execution never had two
/// runnable tasks: it cannot place priority change points, and ends the run by panicking.
const PCT_FOUND_NO_CONCURRENCY: &str = "test closure did not exercise any concurrency";

/// Keeps PCT's assertion (which racekit handles, see [`Seat`]) out of the test output:
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

/// One member of the portfolio: its scheduler, and what it has explored so far.
///
/// When PCT finds nothing to prioritize (see [`PCT_FOUND_NO_CONCURRENCY`]), the member's
/// remaining schedules go to the random scheduler with the same seed instead of failing a
/// correct model.
struct Seat {
    member: Member,
    /// Schedules this member may run.
    share: usize,
    scheduler: Box<dyn Scheduler + Send>,
    /// Schedules it has started.
    started: usize,
    fell_back: bool,
    /// Its scheduler has no schedule left.
    exhausted: bool,
    /// Its schedules count toward its kind's phase, not its own (escalation rounds).
    by_kind: bool,
    /// The index of its phase in the [`Tally`], once looked up (every schedule is charged
    /// to it; cleared when the label changes).
    phase: Option<usize>,
}

/// On a failure the member's scheduler is leaked, not dropped: shuttle's random scheduler
/// prints its own replay advice (a seed and `SHUTTLE_RANDOM_SEED`) when dropped during a
/// failure, and racekit's reproduce command is the one to follow.
impl Drop for Seat {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let quiet: Box<dyn Scheduler + Send> = Box::new(shuttle::scheduler::DfsScheduler::new(Some(0), false));
            std::mem::forget(std::mem::replace(&mut self.scheduler, quiet));
        }
    }
}

impl Seat {
    fn new(member: Member, share: usize, by_kind: bool) -> Seat {
        let scheduler = member.scheduler(share);
        Seat { member, share, scheduler, started: 0, fell_back: false, exhausted: false, by_kind, phase: None }
    }

    fn next_schedule(&mut self) -> Option<Schedule> {
        let schedule = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.scheduler.new_execution())) {
            Ok(schedule) => schedule,
            Err(payload) if panic_message(&*payload) == PCT_FOUND_NO_CONCURRENCY && !self.fell_back => {
                self.fell_back = true;
                self.phase = None;
                self.scheduler = Member::Random { seed: self.member.seed() }.scheduler(self.share - self.started);
                self.scheduler.new_execution()
            }
            Err(payload) => std::panic::resume_unwind(payload),
        };
        match schedule {
            Some(_) => self.started += 1,
            None => self.exhausted = true,
        }
        schedule
    }
}

/// What the members explored, shared with [`explore`] (shuttle's runner owns the
/// scheduler, so the tally is how its results come back).
#[derive(Debug, Default)]
struct Tally {
    /// Per phase label: schedules, time, and whether every member under it ran its share.
    phases: Vec<(String, u64, Duration, bool)>,
    /// The phase whose schedule is running (a failure is that phase's).
    running: Option<usize>,
    schedules: u64,
}

impl Seat {
    /// The index of this seat's phase in `tally`.
    fn phase_in(&mut self, tally: &mut Tally) -> usize {
        match self.phase {
            Some(phase) => phase,
            None => {
                let phase = tally.phase(&self.label());
                self.phase = Some(phase);
                phase
            }
        }
    }
}

impl Tally {
    fn phase(&mut self, label: &str) -> usize {
        match self.phases.iter().position(|(existing, ..)| existing == label) {
            Some(index) => index,
            None => {
                self.phases.push((label.to_owned(), 0, Duration::ZERO, true));
                self.phases.len() - 1
            }
        }
    }
}

/// The portfolio as one scheduler: its members take turns, one schedule each, so a bug
/// one member finds at its n-th schedule is found within about `members × n` schedules
/// whichever member it is, and every member still runs its whole share. Time spent in
/// each schedule is charged to the member that ran it.
struct Interleaved {
    seats: Vec<Seat>,
    /// The seat whose schedule is running, and since when.
    turn: Option<(usize, Instant)>,
    /// Where the next round of the escalation plan starts (`None`: no escalation).
    escalation: Option<Escalation>,
    /// Schedules left in the whole check.
    remaining: usize,
    deadline: Option<Instant>,
    tally: Arc<Mutex<Tally>>,
}

impl std::fmt::Debug for Interleaved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<Member> = self.seats.iter().map(|seat| seat.member).collect();
        f.debug_struct("Interleaved").field("members", &members).finish_non_exhaustive()
    }
}

impl Interleaved {
    fn new(seats: Vec<Seat>, escalation: Option<Escalation>, run: &Run, tally: Arc<Mutex<Tally>>) -> Interleaved {
        Interleaved {
            seats,
            turn: None,
            escalation,
            remaining: run.settings.iterations,
            deadline: run.deadline(),
            tally,
        }
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Charges the schedule that just ended, at `now`, to its member.
    fn close_turn(&mut self, now: Instant) {
        if let Some((index, since)) = self.turn.take() {
            let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
            let phase = self.seats[index].phase_in(&mut tally);
            tally.phases[phase].2 += now.saturating_duration_since(since);
        }
    }

    /// The next seat in turn after `after` that still has schedules, starting its schedule.
    fn take_turn(&mut self, after: Option<usize>) -> Option<(usize, Schedule)> {
        let count = self.seats.len();
        let first = after.map_or(0, |index| index + 1);
        (0..count).map(|offset| (first + offset) % count).find_map(|index| {
            let seat = &mut self.seats[index];
            if seat.exhausted {
                return None;
            }
            seat.next_schedule().map(|schedule| (index, schedule))
        })
    }

    /// Records the members that ran out of schedules or time, and what they ran.
    fn settle(&mut self) {
        let seats: Vec<(String, bool)> =
            self.seats.iter().map(|seat| (seat.label(), seat.exhausted || seat.started >= seat.share)).collect();
        let mut tally = self.tally();
        for (label, complete) in seats {
            let phase = tally.phase(&label);
            tally.phases[phase].3 &= complete;
        }
    }
}

impl Scheduler for Interleaved {
    fn new_execution(&mut self) -> Option<Schedule> {
        let previous = self.turn.map(|(index, _)| index);
        // One clock reading per schedule: it ends the last turn and starts the next.
        let now = Instant::now();
        self.close_turn(now);
        if self.remaining == 0 || self.deadline.is_some_and(|deadline| now >= deadline) {
            self.settle();
            return None;
        }
        let next = match self.take_turn(previous) {
            Some(next) => Some(next),
            None => {
                // Every member ran its share: the next round of the plan, if there is one.
                self.settle();
                let round = self.escalation.as_mut().map(|plan| plan.next_round(self.remaining));
                match round {
                    Some(seats) if !seats.is_empty() => {
                        self.seats = seats;
                        self.take_turn(None)
                    }
                    _ => None,
                }
            }
        };
        let (index, schedule) = next?;
        self.remaining -= 1;
        self.turn = Some((index, now));
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        let phase = self.seats[index].phase_in(&mut tally);
        tally.phases[phase].1 += 1;
        tally.running = Some(phase);
        tally.schedules += 1;
        Some(schedule)
    }

    fn next_task(&mut self, runnable: &[&Task], current: Option<TaskId>, is_yielding: bool) -> Option<TaskId> {
        let index = self.turn.map_or(0, |(index, _)| index);
        self.seats[index].scheduler.next_task(runnable, current, is_yielding)
    }

    fn next_u64(&mut self) -> u64 {
        let index = self.turn.map_or(0, |(index, _)| index);
        self.seats[index].scheduler.next_u64()
    }
}

/// Time advances when nothing else can happen: the timer tasks of pending timed waits
/// (see [`Timers`](super::context::Timers)) are hidden from `inner` while any other task can
/// run; once none can, `inner` is offered only the timer of the earliest deadline, which
/// is marked as woken alone, and that wait times out. Without a timer to run, shuttle
/// reports the deadlock as before. Replays go through the same filter, so a recorded
/// schedule meets the same choices.
struct TimeAdvancing<S> {
    inner: S,
    context: Arc<CheckContext>,
}

impl<S> std::fmt::Debug for TimeAdvancing<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeAdvancing").finish_non_exhaustive()
    }
}

impl<S: Scheduler> Scheduler for TimeAdvancing<S> {
    fn new_execution(&mut self) -> Option<Schedule> {
        self.inner.new_execution()
    }

    fn next_task(&mut self, runnable: &[&Task], current: Option<TaskId>, is_yielding: bool) -> Option<TaskId> {
        if !self.context.timers_pending() {
            return self.inner.next_task(runnable, current, is_yielding);
        }
        let pending = self.context.timers().pending.clone();
        let deadline = |task: &Task| pending.iter().find(|(id, _)| *id == usize::from(task.id())).map(|(_, at)| *at);
        let (timers, others): (Vec<&Task>, Vec<&Task>) =
            runnable.iter().copied().partition(|task| deadline(task).is_some());
        // Tasks that could only wake spuriously (parked ones) do not count as able to run.
        if timers.is_empty() || others.iter().any(|task| task.runnable()) {
            return self.inner.next_task(&others, current, is_yielding);
        }
        // A `None` deadline is too far to represent: it sorts after every real one.
        let earliest =
            timers.iter().copied().min_by_key(|task| deadline(task).flatten().map_or((1, None), |at| (0, Some(at))));
        let earliest: Vec<&Task> = earliest.into_iter().collect();
        let chosen = self.inner.next_task(&earliest, current, is_yielding);
        self.context.timers().woken_alone = chosen.map(usize::from);
        chosen
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
}

/// One member of the portfolio.
#[derive(Clone, Copy, Debug)]
enum Member {
    Random {
        seed: u64,
    },
    Pct {
        seed: u64,
        depth: usize,
    },
    /// Uniform random walk: samples interleavings uniformly (escalation only).
    UniformWalk {
        seed: u64,
    },
}

impl Member {
    fn seed(self) -> u64 {
        match self {
            Member::Random { seed } | Member::Pct { seed, .. } | Member::UniformWalk { seed } => seed,
        }
    }

    fn label(self) -> String {
        match self {
            Member::Random { seed } => format!("shuttle random seed {seed}"),
            Member::Pct { seed, depth } => format!("shuttle pct(depth {depth}) seed {seed}"),
            Member::UniformWalk { seed } => format!("shuttle uniform walk seed {seed}"),
        }
    }

    /// The label of the member's kind, without its seed (what an escalation phase reports).
    fn kind(self) -> String {
        match self {
            Member::Random { .. } => "shuttle random".to_owned(),
            Member::Pct { depth, .. } => format!("shuttle pct(depth {depth})"),
            Member::UniformWalk { .. } => "shuttle uniform walk".to_owned(),
        }
    }

    fn scheduler(self, iterations: usize) -> Box<dyn Scheduler + Send> {
        match self {
            Member::Random { seed } => Box::new(RandomScheduler::new_from_seed(seed, iterations)),
            Member::Pct { seed, depth } => Box::new(PctScheduler::new_from_seed(seed, depth, iterations)),
            Member::UniformWalk { seed } => Box::new(UrwRandomScheduler::new_from_seed(seed, iterations)),
        }
    }
}

impl Seat {
    /// The phase this seat's schedules count toward: per member, or per kind when escalating
    /// (where every round brings fresh seeds).
    fn label(&self) -> String {
        let base = if self.by_kind { self.member.kind() } else { self.member.label() };
        if self.fell_back {
            format!("{base} (no contention for PCT to prioritize: random for the rest)")
        } else {
            base
        }
    }
}

/// The deep budget's plan, for a time budget from `RACEKIT_TIME_BUDGET`: rounds of every
/// scheduler kind (random; PCT at depths 1, 2, 3 and 4; uniform random walk), each round
/// with fresh seeds and twice the schedules of the one before, members interleaved within
/// a round, until the time (or `RACEKIT_ITERATIONS`) runs out. Shallow bugs fall in the
/// first, small round; the later rounds buy depth.
#[derive(Debug)]
struct Escalation {
    seed: u64,
    round: u32,
}

/// Schedules each member gets in the escalation plan's first round.
const ESCALATION_FIRST_ROUND: usize = 100;
/// The PCT depths the escalation plan runs.
const ESCALATION_PCT_DEPTHS: std::ops::RangeInclusive<usize> = 1..=4;

impl Escalation {
    fn next_round(&mut self, remaining: usize) -> Vec<Seat> {
        let round = self.round;
        self.round += 1;
        let share = ESCALATION_FIRST_ROUND.saturating_mul(1 << round.min(20));
        let seed = |offset: u64| self.seed.wrapping_add(u64::from(round) * 16 + offset);
        let mut members = vec![Member::Random { seed: seed(0) }];
        members.extend(ESCALATION_PCT_DEPTHS.map(|depth| Member::Pct { seed: seed(depth as u64), depth }));
        members.push(Member::UniformWalk { seed: seed(8) });
        let share = share.min(remaining.div_ceil(members.len())).max(1);
        members.into_iter().map(|member| Seat::new(member, share, true)).collect()
    }
}

/// The members to run, and the schedules each gets (the total is the budget).
fn portfolio(run: &Run) -> (Vec<Seat>, Option<Escalation>) {
    let settings = &run.settings;
    let seed = settings.seed;
    let members = match settings.scheduler {
        SchedulerChoice::Portfolio if settings.escalate => {
            let mut plan = Escalation { seed, round: 0 };
            return (plan.next_round(settings.iterations), Some(plan));
        }
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
    let seats = members
        .into_iter()
        .enumerate()
        .map(|(index, member)| (member, share + usize::from(index < extra)))
        .filter(|(_, iterations)| *iterations > 0)
        .map(|(member, iterations)| Seat::new(member, iterations, false))
        .collect();
    (seats, None)
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

/// The kind and message of the panic that failed an execution: the kind its detector (or
/// shuttle itself) recorded, else a panic of the body.
fn classify(context: &CheckContext, payload: Box<dyn std::any::Any + Send>) -> (FailureKind, String) {
    let message = panic_message(&*payload);
    (detect::kind_of(context, &message), message)
}

pub(crate) fn explore(run: &Run, body: Body) -> Result<Report, Failure> {
    quiet_pct_assertion();
    super::shuttle_output::install();
    let context = CheckContext::new(run.settings.seed);
    let _entered = context::enter(Some(context.clone()));
    let (seats, escalation) = portfolio(run);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let scheduler = Interleaved::new(seats, escalation, run, tally.clone());
    let runner = shuttle::Runner::new(TimeAdvancing { inner: scheduler, context: context.clone() }, config());
    let execution_body = instrumented(body, context.clone(), run.settings.seed);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run(execution_body)));
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|e| e.into_inner()));
    match result {
        Ok(_) => {
            let phases = tally
                .phases
                .into_iter()
                .map(|(label, schedules, elapsed, complete)| Phase { label, schedules, elapsed, complete })
                .collect();
            Ok(run.report(phases, context.spawned()))
        }
        Err(payload) => {
            let schedule = failing_schedule();
            let (kind, message) = classify(&context, payload);
            let phase = tally.running.map_or_else(|| "shuttle".to_owned(), |index| tally.phases[index].0.clone());
            Err(run.failure(phase, tally.schedules, message, kind, schedule))
        }
    }
}

pub(crate) fn replay(run: &Run, payload: &str, body: Body) -> Result<Report, Failure> {
    if shuttle_engine::scheduler::serialization::deserialize_schedule(payload).is_none() {
        let error = super::ReplayTokenError::payload(crate::sync::Backend::Shuttle, "not a shuttle schedule");
        panic!("racekit: {error}");
    }
    super::shuttle_output::install();
    let context = CheckContext::new(run.settings.seed);
    let _entered = context::enter(Some(context.clone()));
    let replaying = ReplayScheduler::new_from_encoded(payload);
    let runner = shuttle::Runner::new(TimeAdvancing { inner: replaying, context: context.clone() }, config());
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
            let (kind, message) = classify(&context, payload_of_panic);
            Err(run.failure("shuttle replay".to_owned(), 1, message, kind, payload.to_owned()))
        }
    }
}
