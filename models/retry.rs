//! Models of the retry pattern: a close racing the attempts and sleeps of a loop.
//!
//! The blocking loop runs under all three backends (it sleeps on the closer's latch, whose
//! timeout the model checkers explore both ways); the async loop and `Closer::closed` run
//! under shuttle and real threads (loom cannot run tokio). Properties, in every schedule:
//! no attempt starts once the loop has seen the close; at most one attempt starts after
//! `close` returned (the one whose check the close raced); the loop reports one outcome,
//! and it agrees with the attempts actually made; nothing is left running.

use crate::support::{expect_sound, MODEL_CHECKER};
use racekit::model::Model;
use racekit::retry::{Closer, Options, RetryError, SleepUnlessClosed, StopReason};
use racekit::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use racekit::sync::{thread, Arc, Latch};
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

/// How one run of [`close_races_the_loop`] went.
struct Outcome {
    attempts: u32,
    sleep_ended_on_close: bool,
}

/// The loop on the main thread; a second thread closes the closer at any moment.
fn close_races_the_loop() -> Outcome {
    let closer = Closer::new();
    let ledger = Ledger::default();
    let canceller = {
        let (closer, ledger) = (closer.clone(), ledger.clone());
        thread::spawn(move || ledger.close(&closer))
    };
    let clock = Watched::default();
    let retry = options(&closer).start(clock.clone(), SeededRng::new(0)).expect("valid options");
    let result = retry.run(|n| {
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
        let outcome = close_races_the_loop();
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

/// The loop sleeps an hour before its one retry while another thread, once the first attempt
/// has started, closes the closer: on real threads the close ends the sleep at once, and the
/// loop is cancelled after its first attempt (a sleep that does not watch the closer hangs the run). The model
/// checkers explore the timed wait both ways, so there the hour may "pass" first, and only
/// a clean end is owed.
fn close_wakes_a_sleeping_loop() {
    let closer = Closer::new();
    let options = Options {
        initial_backoff: Duration::from_secs(3600),
        max_backoff: Duration::from_secs(3600),
        max_retries: Some(1),
        ..options(&closer)
    };
    let first_attempt = Arc::new(Latch::new());
    let looping = {
        let first_attempt = first_attempt.clone();
        thread::spawn(move || {
            let retry = options.start(SystemClock, SeededRng::new(0)).expect("valid options");
            retry.run(|n| {
                first_attempt.set();
                Err::<(), u32>(n)
            })
        })
    };
    // Once the loop is past its first attempt: the close lands before or during its sleep.
    first_attempt.wait();
    closer.close();
    let result = looping.join().unwrap();
    let cancelled_after_one_attempt = matches!(result, Err(RetryError::Cancelled { attempts: 1, .. }));
    assert!(MODEL_CHECKER || cancelled_after_one_attempt, "the close did not end the loop's sleep: {result:?}");
    assert!(
        matches!(result, Err(RetryError::Cancelled { .. } | RetryError::Exhausted { attempts: 2, .. })),
        "every attempt fails and nothing is permanent, yet the loop returned {result:?}"
    );
}

#[test]
fn a_close_wakes_a_sleeping_loop() {
    expect_sound(Model::named("retry: close wakes a sleeping loop").preemption_bound(2), close_wakes_a_sleeping_loop);
}

/// The mutation points of `racekit::retry`, each switched on in the real loop and run
/// through the scenario that shows it.
mod mutants {
    use super::*;

    fn close_races_the_loop_once() {
        close_races_the_loop();
    }

    crate::mutant_test! {
        /// The close ends the loop's sleep, and the loop starts the next attempt anyway.
        fn cancellation_checked_only_before_sleeping_is_caught() {
            mutant: "retry.step.checks_only_before_sleeping",
            model: Model::named("retry: cancellation checked only before sleeping").preemption_bound(2),
            scenario: close_races_the_loop_once,
            loom: Panic "after the loop's sleep ended on the close",
            shuttle: Panic "after the loop's sleep ended on the close",
            std: Panic "after the loop's sleep ended on the close",
        }
    }

    crate::mutant_test! {
        /// The loop sleeps its hour through the close. A close that lands before the sleep
        /// begins is seen by the schedule's own check, so a few runs are needed on real
        /// threads.
        fn a_sleep_deaf_to_the_closer_is_caught() {
            mutant: "retry.sleep.deaf_to_the_closer",
            model: Model::named("retry: sleep deaf to the closer").std_run_timeout(Duration::from_secs(2)).iterations(20),
            scenario: close_wakes_a_sleeping_loop,
            loom: Skip "a timed wait may always time out under loom: a sleep that ignores the close is one of the explored outcomes",
            shuttle: Skip "a timed wait may always time out under shuttle: a sleep that ignores the close is one of the explored outcomes",
            std: Hang "did not finish",
        }
    }
}
