//! Models of the retry pattern: a close racing the attempts and sleeps of a loop.
//!
//! The blocking loop runs under all three backends (it sleeps on the closer's latch, whose
//! timeout the model checkers explore both ways); the async loop and `Closer::closed` run
//! under shuttle and real threads (loom cannot run tokio). Properties, in every schedule:
//! no attempt starts once the loop has seen the close; at most one attempt starts after
//! `close` returned (the one whose check the close raced); the loop reports one outcome,
//! and it agrees with the attempts actually made; nothing is left running.

mod checks_only_before_sleeping;

use crate::support::{expect_caught, expect_sound, MODEL_CHECKER};
use racekit::model::Model;
use racekit::retry::{Closer, Options, RetryError, SleepUnlessClosed, StopReason};
use racekit::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use racekit::sync::{thread, Arc};
use racekit::time::{Clock, SeededRng, SystemClock};
use std::time::{Duration, Instant};

/// Options for the models: three attempts a millisecond apart, watching `closer`.
fn options(closer: &Closer) -> Options {
    Options {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
        randomization_factor: 0.0,
        max_retries: Some(2),
        closer: Some(closer.clone()),
        ..Options::new()
    }
}

/// The attempts a loop made, as the attempts themselves saw them.
#[derive(Clone, Debug, Default)]
struct Ledger {
    attempts: Arc<AtomicU32>,
    after_close: Arc<AtomicU32>,
    close_returned: Arc<AtomicBool>,
}

impl Ledger {
    /// Closes `closer`, then marks the close as returned.
    fn close(&self, closer: &Closer) {
        closer.close();
        // SeqCst here and in `attempt`: an attempt that reads `true` started after the close.
        self.close_returned.store(true, Ordering::SeqCst);
    }

    /// Records attempt `n` starting; the attempt then fails with `n`.
    fn attempt(&self, n: u32) -> Result<(), u32> {
        // SeqCst: see `close`. The counters are read only after every thread is joined.
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.after_close.fetch_add(u32::from(self.close_returned.load(Ordering::SeqCst)), Ordering::SeqCst);
        Err(n)
    }

    /// The loop's one reported outcome agrees with the ledger.
    fn check(&self, result: Result<(), RetryError<u32>>) {
        let attempts = self.attempts.load(Ordering::SeqCst);
        assert!(self.after_close.load(Ordering::SeqCst) <= 1, "two attempts started after the close returned");
        match result {
            Err(RetryError::Cancelled { last_error, attempts: reported }) => {
                assert_eq!(reported, attempts, "the loop miscounted its attempts");
                assert_eq!(last_error, (attempts > 0).then_some(attempts), "the last error is the last attempt's");
            }
            Err(RetryError::Exhausted { error, attempts: reported, reason }) => {
                assert_eq!((reported, error, reason), (3, 3, StopReason::RetriesExhausted));
                assert_eq!(attempts, 3, "the loop miscounted its attempts");
            }
            other => panic!("every attempt fails and nothing is permanent, yet the loop returned {other:?}"),
        }
    }
}

/// The system clock, remembering when a sleep ended because the closer closed: from then
/// on the loop has seen the cancellation, and no attempt may start.
#[derive(Clone, Debug, Default)]
struct Watched {
    saw_close: Arc<AtomicBool>,
}

impl Watched {
    fn saw_close(&self) -> bool {
        // Relaxed: written and read by the loop's own thread.
        self.saw_close.load(Ordering::Relaxed)
    }
}

impl Clock for Watched {
    fn now(&self) -> Instant {
        SystemClock.now()
    }

    fn sleep(&self, duration: Duration) {
        SystemClock.sleep(duration);
    }
}

impl SleepUnlessClosed for Watched {
    fn sleep_unless_closed(&self, delay: Duration, closer: &Closer) -> bool {
        let closed = SystemClock.sleep_unless_closed(delay, closer);
        // Relaxed: see `saw_close`.
        self.saw_close.fetch_or(closed, Ordering::Relaxed);
        closed
    }
}

/// A blocking loop the scenario runs: the real one and the mutant.
trait LoopUnderTest {
    fn run(
        options: &Options,
        clock: Watched,
        attempt: impl FnMut(u32) -> Result<(), u32>,
    ) -> Result<(), RetryError<u32>>;
}

struct Real;

impl LoopUnderTest for Real {
    fn run(
        options: &Options,
        clock: Watched,
        attempt: impl FnMut(u32) -> Result<(), u32>,
    ) -> Result<(), RetryError<u32>> {
        options.start(clock, SeededRng::new(0)).expect("valid options").run(attempt)
    }
}

/// How one run of [`close_races_the_loop`] went.
struct Outcome {
    attempts: u32,
    sleep_ended_on_close: bool,
}

/// The loop on the main thread; a second thread closes the closer at any moment.
fn close_races_the_loop<L: LoopUnderTest>() -> Outcome {
    let closer = Closer::new();
    let ledger = Ledger::default();
    let canceller = {
        let (closer, ledger) = (closer.clone(), ledger.clone());
        thread::spawn(move || ledger.close(&closer))
    };
    let clock = Watched::default();
    let result = L::run(&options(&closer), clock.clone(), |n| {
        assert!(!clock.saw_close(), "attempt {n} started after the loop's sleep ended on the close");
        ledger.attempt(n)
    });
    canceller.join().unwrap();
    ledger.check(result);
    Outcome { attempts: ledger.attempts.load(Ordering::SeqCst), sleep_ended_on_close: clock.saw_close() }
}

#[test]
fn a_close_racing_the_blocking_loop_stops_it_cleanly() {
    use std::sync::atomic::AtomicBool as Seen;
    // Which ways the race went, over every explored schedule. A timed-out wait yields, so
    // the canceller nearly always closes during the first sleep: shuttle finds a second
    // attempt in a few schedules per thousand, so only loom (exhaustive) must find it.
    static BEFORE_ANY_ATTEMPT: Seen = Seen::new(false);
    static MID_SLEEP: Seen = Seen::new(false);
    static AFTER_A_RETRY: Seen = Seen::new(false);
    let report = expect_sound(Model::named("retry: close races the blocking loop").preemption_bound(2), || {
        let outcome = close_races_the_loop::<Real>();
        for (seen, happened) in [
            (&BEFORE_ANY_ATTEMPT, outcome.attempts == 0),
            (&MID_SLEEP, outcome.sleep_ended_on_close),
            (&AFTER_A_RETRY, outcome.attempts >= 2),
        ] {
            seen.fetch_or(happened, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let required = [
        (&BEFORE_ANY_ATTEMPT, "a close before the first attempt", MODEL_CHECKER),
        (&MID_SLEEP, "a close ending a sleep", MODEL_CHECKER),
        (&AFTER_A_RETRY, "a retry before the close", cfg!(racekit_loom)),
    ];
    // A time budget or a replay explores less than the whole space: then nothing is owed.
    let explored_fully = crate::support::explored_fully(&report);
    for (seen, what, required) in required {
        assert!(
            !required || !explored_fully || seen.load(std::sync::atomic::Ordering::Relaxed),
            "{what} was never explored"
        );
    }
}

/// A task waits on `closed()` while another closes: the wait always ends (registering with
/// the notify before re-reading the latch loses no wake-up).
#[cfg(not(racekit_loom))]
#[test]
fn an_async_wait_on_the_closer_never_misses_the_close() {
    expect_sound(Model::named("retry: closed() vs close"), || {
        let closer = Closer::new();
        racekit::sync::task::block_on(async move {
            let waiter = {
                let closer = closer.clone();
                racekit::sync::task::spawn(async move { closer.closed().await })
            };
            let closing = racekit::sync::task::spawn(async move { closer.close() });
            waiter.await.unwrap();
            assert!(closing.await.unwrap());
        });
    });
}

/// The async loop in one task, the close in another.
#[cfg(not(racekit_loom))]
#[test]
fn a_close_racing_the_async_loop_stops_it_cleanly() {
    expect_sound(Model::named("retry: close races the async loop"), || {
        let closer = Closer::new();
        let ledger = Ledger::default();
        racekit::sync::task::block_on(async move {
            let canceller = {
                let (closer, ledger) = (closer.clone(), ledger.clone());
                racekit::sync::task::spawn(async move { ledger.close(&closer) })
            };
            let looping = {
                let ledger = ledger.clone();
                let retry = options(&closer).start_async(SeededRng::new(0)).expect("valid options");
                racekit::sync::task::spawn(async move { retry.run(|n| std::future::ready(ledger.attempt(n))).await })
            };
            let result = looping.await.unwrap();
            canceller.await.unwrap();
            ledger.check(result);
        });
    });
}

mod mutants {
    use super::checks_only_before_sleeping::attempt_then_ask;
    use super::*;
    use racekit::model::FailureKind;
    use std::ops::ControlFlow;

    /// Checks the closer before each sleep (inside the schedule) but ignores how the sleep
    /// ended: a close that wakes it mid-sleep is followed by one more attempt.
    struct ChecksOnlyBeforeSleeping;

    impl LoopUnderTest for ChecksOnlyBeforeSleeping {
        fn run(
            options: &Options,
            clock: Watched,
            mut attempt: impl FnMut(u32) -> Result<(), u32>,
        ) -> Result<(), RetryError<u32>> {
            let closer = options.closer.clone().expect("the scenario passes a closer");
            let mut schedule = options.schedule(clock.clone(), SeededRng::new(0)).expect("valid options");
            for n in 1.. {
                match attempt_then_ask(&mut schedule, n, &mut attempt) {
                    ControlFlow::Break(result) => return result,
                    ControlFlow::Continue(delay) => clock.sleep_unless_closed(delay, &closer),
                };
            }
            unreachable!("a schedule of three attempts ends")
        }
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn cancellation_checked_only_before_sleeping_is_caught() {
        let failure =
            expect_caught(Model::named("retry: cancellation checked only before sleeping").preemption_bound(2), || {
                close_races_the_loop::<ChecksOnlyBeforeSleeping>();
            });
        assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
        assert!(failure.message.contains("after the loop's sleep ended on the close"), "{failure}");
    }
}
