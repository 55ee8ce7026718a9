//! Blocking loops on real threads, sleeping on the system clock, one closer closed at a
//! random moment: every loop returns, none starts more than one attempt after the close
//! returned (the one that may race it), none exceeds its retry budget, and every thread is
//! joined.

use crate::support::cases;
use proptest::prelude::*;
use racekit::model::Model;
use racekit::retry::{Closer, Options, RetryError};
use racekit::sync::atomic::{AtomicBool, Ordering};
use racekit::sync::{thread, Arc};
use racekit::time::{SeededRng, SystemClock};
use std::time::Duration;

/// What one loop did.
#[derive(Debug)]
struct Finished {
    result: Result<(), RetryError<u32>>,
    attempts: u32,
    attempts_after_close: u32,
}

proptest! {
    #![proptest_config(cases(24))]

    #[test]
    fn every_loop_stops_within_one_attempt_of_the_close(
        loops in 1usize..4,
        initial_micros in 0u64..300,
        max_retries in 0u32..40,
        close_after_micros in 0u64..3_000,
    ) {
        crate::support::watch("every retry loop to stop after the close");
        Model::named("retry threads").iterations(1).check(move || {
            let closer = Closer::new();
            // Set only after `close` has returned: an attempt that sees it started after the close.
            let close_returned = Arc::new(AtomicBool::new(false));
            let options = Options {
                initial_backoff: Duration::from_micros(initial_micros),
                max_backoff: Duration::from_millis(1),
                max_retries: Some(max_retries),
                closer: Some(closer.clone()),
                ..Options::new()
            };
            let workers: Vec<_> = (0..loops as u64).map(|seed| {
                let (options, close_returned) = (options.clone(), close_returned.clone());
                thread::spawn(move || {
                    let mut attempts = 0;
                    let mut attempts_after_close = 0;
                    let retry = options.start(SystemClock, SeededRng::new(seed)).unwrap();
                    let result = retry.run(|n| {
                        attempts += 1;
                        // Acquire: pairs with the Release store below.
                        attempts_after_close += u32::from(close_returned.load(Ordering::Acquire));
                        Err(n)
                    });
                    Finished { result, attempts, attempts_after_close }
                })
            }).collect();
            std::thread::sleep(Duration::from_micros(close_after_micros));
            closer.close();
            // Release: an attempt that reads `true` starts after the close returned.
            close_returned.store(true, Ordering::Release);
            for worker in workers {
                let finished = worker.join().unwrap();
                assert!(finished.attempts <= max_retries + 1, "{finished:?}");
                assert!(finished.attempts_after_close <= 1, "{finished:?}");
                assert_eq!(finished.result.as_ref().unwrap_err().attempts(), finished.attempts, "{finished:?}");
                if let Err(RetryError::Exhausted { attempts, .. }) = finished.result {
                    assert_eq!(attempts, max_retries + 1, "{finished:?}");
                }
            }
        });
    }
}
