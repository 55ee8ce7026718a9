//! Bad inputs and faults: every public configuration and every timed API fed extreme sizes
//! and durations (zero, one, `usize::MAX`, `1 << 40`, `Duration::MAX`, durations no
//! `Instant` can hold, NaN and infinite factors), and the faults user code brings
//! (panicking callbacks, closers and connectors, hanging connectors and handlers, a closer
//! that stops its own stopper).
//!
//! The table (`table.rs` and one module per area) holds one row per bad input or fault:
//! its name, the call, and the outcome it must have; each area is one test below, and
//! `summary` writes the count to `docs/bad-inputs.md`. The proptests after it cover whole
//! spaces of configurations at once.
//!
//! Each case asserts the typed error or the documented result, that nothing panicked, and
//! that the pattern's ledger is conserved. Each runs inside a check on real threads with a
//! run timeout, so a hang fails with the harness's hang report instead of wedging the suite.

mod bus;
mod collections;
mod harness;
#[cfg(target_os = "linux")]
mod processes;
mod resources;
mod section;
mod supervision;
mod table;

use crate::support::cases;
use proptest::prelude::*;
use racekit::bounded_slice::BoundedSlice;
use racekit::event_bus::{Backpressure, BusConfig, ConfigError as BusConfigError, EventBus, MAX_WORKERS};
use racekit::linearizability::{Shape, MAX_THREADS};
use racekit::log_store::{AddError, ConfigError as LogConfigError, LogStore, LogStoreConfig};
use racekit::model::Model;
use racekit::output::{OutputLine, OutputStream};
use racekit::pool::{ConfigError as PoolConfigError, GetError, Pool};
use racekit::process::callbacks::OutputCallbacks;
use racekit::queue::{BoundedQueue, PopError, PushError};
use racekit::retry::{Closer, InvalidOptions, Options, MAX_BACKOFF_LIMIT};
use racekit::stopper::{StopError, Stopper};
use racekit::sync::atomic::{AtomicUsize, Ordering};
use racekit::sync::{mpsc, thread, Arc, Deadline, Latch};
use racekit::time::{Clock, ManualClock, SeededRng};
use resources::{Fake, Fault};
use std::time::Duration;

/// How long one case may run before the harness reports it hung.
const HANG_LIMIT: Duration = Duration::from_secs(20);

/// Runs `body` once on real threads under the harness's hang limit.
fn bounded(name: &str, body: impl Fn() + Send + Sync + 'static) {
    Model::named(name).iterations(1).std_run_timeout(HANG_LIMIT).check(body);
}

/// Sizes a caller may pass: nothing, one, a few, more than memory holds.
fn sizes() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(1 << 40),
        Just(usize::MAX / 2),
        Just(usize::MAX - 1),
        Just(usize::MAX),
        2..8usize,
    ]
}

/// Durations a caller may pass: zero, one nanosecond, "forever", beyond any `Instant`.
fn durations() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::from_millis(1)),
        Just(Duration::from_secs(u64::MAX)),
        Just(Duration::MAX),
        Just(Duration::new(u64::MAX / 2, 999_999_999)),
        any::<u64>().prop_map(Duration::from_nanos),
    ]
}

/// Ranges a caller may pass: empty, reversed, one value, reaching `usize::MAX`.
fn ranges() -> impl Strategy<Value = std::ops::RangeInclusive<usize>> {
    (sizes(), sizes()).prop_map(|(start, end)| start..=end)
}

/// Floats a caller may pass as a factor: the usual, and NaN, infinities, negatives, huge.
fn factors() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-1.0),
        Just(0.0),
        Just(1.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        -2.0..4.0f64,
    ]
}

/// Closes `queue` a moment later on another thread: what ends a wait whose timeout is long.
fn close_soon(queue: &Arc<BoundedQueue<u32>>) -> thread::JoinHandle<()> {
    let queue = queue.clone();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(1));
        queue.close();
    })
}

/// Every area of the table, by name.
fn areas() -> Vec<(&'static str, Vec<table::Row>)> {
    let mut areas = vec![
        ("queue, slice, collector, log store", collections::rows()),
        ("event bus", bus::rows()),
        ("stopper, lifecycle", supervision::rows()),
        ("pool, retry", resources::rows()),
        ("harness, facade, probes", harness::rows()),
    ];
    #[cfg(target_os = "linux")]
    areas.push(("process manager", processes::rows()));
    areas
}

/// Runs the rows of the area named `name`.
fn area(name: &str) {
    let rows = areas().into_iter().find(|(area, _)| *area == name).map(|(_, rows)| rows).expect("an area of the table");
    table::run_rows(name, rows);
}

#[test]
fn collections_refuse_bad_input() {
    area("queue, slice, collector, log store");
}

#[test]
fn the_event_bus_refuses_bad_input() {
    area("event bus");
}

#[test]
fn the_stopper_and_lifecycle_refuse_bad_input() {
    area("stopper, lifecycle");
}

#[test]
fn the_pool_and_retry_refuse_bad_input() {
    area("pool, retry");
}

#[test]
fn the_harness_refuses_bad_input() {
    area("harness, facade, probes");
}

#[cfg(target_os = "linux")]
#[test]
fn the_process_manager_refuses_bad_input() {
    area("process manager");
}

/// The table's count, as `docs/bad-inputs.md` shows it: rewritten there with
/// `BAD_INPUTS_WRITE=1`, otherwise checked against it so the page cannot go stale.
#[test]
fn summary() {
    let table = table::summary(&areas());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/bad-inputs.md");
    section::write_or_check(
        &path,
        "library",
        &table,
        "BAD_INPUTS_WRITE=1 cargo test --test stress bad_inputs::summary",
    );
}

proptest! {
    #![proptest_config(cases(24))]

    /// Any capacity: zero is a typed error, any other is accepted without allocating it;
    /// any timeout: a wait ends by its timeout, an item, or the close, never an overflow.
    #[test]
    fn queues_take_any_capacity_and_any_timeout(capacity in sizes(), timeout in durations()) {
        bounded("bad inputs: queue", move || {
            let Ok(queue) = BoundedQueue::new(capacity) else {
                assert_eq!(capacity, 0, "only a zero capacity is refused");
                return;
            };
            let queue = Arc::new(queue);
            assert_eq!(queue.push_timeout(1, timeout), Ok(()), "there is room");
            let closer = close_soon(&queue);
            if capacity == 1 {
                let full = queue.push_timeout(2, timeout);
                assert!(matches!(full, Err(PushError::Full(2) | PushError::Closed(2))), "{full:?}");
            }
            assert_eq!(queue.pop_timeout(timeout), Ok(1));
            closer.join().unwrap();
            assert_eq!(queue.pop_timeout(timeout), Err(PopError::Closed), "closed and empty ends every wait");
            assert!(queue.stats().is_conserved(), "{:?}", queue.stats());
        });
    }

    #[test]
    fn bounded_slices_take_any_capacity(capacity in sizes(), adds in 0..64usize) {
        let Ok(slice) = BoundedSlice::new(capacity) else {
            prop_assert_eq!(capacity, 0);
            return Ok(());
        };
        for n in 0..adds {
            slice.add(n);
        }
        let kept = adds.min(capacity);
        prop_assert_eq!(slice.snapshot().len(), kept);
        prop_assert_eq!((slice.added(), slice.evicted()), (adds as u64, (adds - kept) as u64));
    }

    /// Any worker count and capacity: zero or too many workers are typed errors; handlers
    /// that panic are counted; any publish timeout and stop deadline keeps the ledger.
    #[test]
    fn event_buses_take_any_config_and_deadline(
        workers in sizes(),
        capacity in sizes(),
        fail_after in durations(),
        deadline in durations(),
        events in 0..16u32,
    ) {
        bounded("bad inputs: event bus", move || {
            let config = BusConfig { workers, capacity, policy: Backpressure::FailAfter(fail_after) };
            let bus = match EventBus::<u8, u32>::new(config) {
                Ok(bus) => bus,
                Err(error) => {
                    let expected = if workers == 0 {
                        BusConfigError::ZeroWorkers
                    } else if workers > MAX_WORKERS {
                        BusConfigError::TooManyWorkers { workers }
                    } else {
                        BusConfigError::ZeroCapacity
                    };
                    assert_eq!(error, expected);
                    return;
                }
            };
            bus.subscribe(0, |event: &u32| assert!(event % 2 == 0, "a handler panics on odd events"));
            let mut timed_out = 0;
            for event in 0..events {
                if let Err(error) = bus.publish(0, event) {
                    assert_eq!(error.into_inner(), event, "a refused event comes back");
                    timed_out += 1;
                }
            }
            let mut report = bus.stop_within(deadline).expect("stopped from outside");
            if report.stats.live_workers > 0 {
                assert!(report.deadline_passed, "{report:?}");
                report = bus.stop().expect("stopped from outside");
            }
            let stats = report.stats;
            assert!(stats.is_conserved() && stats.live_workers == 0, "{stats:?}");
            assert_eq!(stats.timed_out, timed_out, "{stats:?}");
            let odd_delivered = (0..events).filter(|e| e % 2 == 1).count() as u64;
            assert!(stats.handler_panics <= odd_delivered, "{stats:?}");
        });
    }

    /// Any pool limits: the typed error the rules predict, or a pool that opens only what
    /// it is asked for (a huge `max_open` with the default `max_idle` allocates nothing);
    /// any get and close timeout.
    #[test]
    fn pools_take_any_limits_and_timeouts(
        max_open in sizes(),
        max_idle in prop::option::of(sizes()),
        lifetime in prop::option::of(durations()),
        idle_timeout in prop::option::of(durations()),
        timeout in durations(),
    ) {
        bounded("bad inputs: pool", move || {
            let mut builder = Pool::builder(Fake::default()).max_open(max_open);
            if let Some(max_idle) = max_idle {
                builder = builder.max_idle(max_idle);
            }
            if let Some(lifetime) = lifetime {
                builder = builder.max_lifetime(lifetime);
            }
            if let Some(idle_timeout) = idle_timeout {
                builder = builder.idle_timeout(idle_timeout);
            }
            let pool = match builder.build() {
                Ok(pool) => pool,
                Err(error) => {
                    let expected = if max_open == 0 {
                        PoolConfigError::ZeroMaxOpen
                    } else if max_idle.is_some_and(|idle| idle > max_open) {
                        PoolConfigError::MaxIdleAboveMaxOpen { max_idle: max_idle.unwrap(), max_open }
                    } else if lifetime == Some(Duration::ZERO) {
                        PoolConfigError::ZeroMaxLifetime
                    } else {
                        PoolConfigError::ZeroIdleTimeout
                    };
                    assert_eq!(error, expected);
                    return;
                }
            };
            // A timeout bounds the connect too: a short one may give up while the connect
            // finishes on its own thread, and that connection then goes back to the pool.
            let first = pool.get_timeout(timeout);
            assert!(matches!(first, Ok(_) | Err(GetError::Timeout)), "{first:?}");
            // Returned a moment later: what ends the second get's wait when its timeout is long.
            let returner = thread::spawn(move || {
                thread::sleep(Duration::from_millis(1));
                drop(first);
            });
            let second = pool.get_timeout(timeout);
            assert!(matches!(second, Ok(_) | Err(GetError::Timeout)), "{second:?}");
            returner.join().unwrap();
            drop(second);
            if pool.close_timeout(timeout).is_err() {
                // Only a connect still in flight can hold a close up: it ends soon.
                pool.close();
            }
            let stats = pool.stats();
            assert!(stats.is_drained() && stats.open <= max_open.min(2), "{stats:?}");
        });
    }

    /// Any stop timeout, with closers that panic: every closer runs once, panics counted.
    #[test]
    fn stoppers_take_any_timeout_and_panicking_closers(timeout in durations(), panics in prop::collection::vec(any::<bool>(), 0..6)) {
        bounded("bad inputs: stopper", move || {
            let stopper = Stopper::new();
            let ran = Arc::new(AtomicUsize::new(0));
            for &panicking in &panics {
                let ran = ran.clone();
                stopper.add_closer(move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                    assert!(!panicking, "a closer fails");
                });
            }
            let report = stopper.stop_timeout(timeout).expect("no task holds stop up");
            let panicked = panics.iter().filter(|&&p| p).count() as u64;
            assert_eq!((report.closers_run, report.closers_panicked), (panics.len() as u64, panicked));
            assert_eq!(ran.load(Ordering::SeqCst), panics.len());
            assert_eq!(stopper.stop_timeout(timeout), Ok(report), "idempotent");
        });
    }

    /// Any store bounds: typed errors below the minimum, and a line too big for the store
    /// is refused and counted, never stored past the bound.
    #[test]
    fn log_stores_take_any_bounds(max_entries in sizes(), max_bytes in sizes(), length in 0..4096usize) {
        let config = LogStoreConfig { max_entries, max_bytes };
        let store = match LogStore::new(config) {
            Ok(store) => store,
            Err(error) => {
                prop_assert!(
                    (max_entries == 0 && error == LogConfigError::ZeroEntries)
                        || (max_bytes < LogStoreConfig::MIN_BYTES && matches!(error, LogConfigError::BytesBelowOneEntry { .. })),
                    "{error:?} for {config:?}"
                );
                return Ok(());
            }
        };
        match store.add(line("x".repeat(length))) {
            Ok(_) => {}
            Err(AddError::TooLarge { cost, .. }) => prop_assert!(cost > max_bytes),
        }
        let stats = store.stats();
        prop_assert!(stats.is_conserved(), "{:?}", stats);
    }

    /// Any retry options: a typed error naming the bad field, or a schedule whose delays
    /// are computed without overflow.
    #[test]
    fn retry_options_take_any_values(
        initial_backoff in durations(),
        max_backoff in durations(),
        multiplier in factors(),
        randomization_factor in factors(),
        max_duration in prop::option::of(durations()),
    ) {
        let options = Options { initial_backoff, max_backoff, multiplier, randomization_factor, max_duration, ..Options::new() };
        match options.schedule(ManualClock::new(), SeededRng::new(7)) {
            Ok(schedule) => {
                let delays: Vec<Duration> = schedule.take(40).collect();
                let widest = max_backoff.mul_f64(1.0 + randomization_factor);
                prop_assert!(delays.iter().all(|delay| *delay <= widest), "{:?}", delays);
            }
            Err(error) => prop_assert!(
                matches!(error, InvalidOptions::Multiplier(_) | InvalidOptions::RandomizationFactor(_))
                    || (matches!(error, InvalidOptions::MaxBelowInitial { .. }) && max_backoff < initial_backoff)
                    || (matches!(error, InvalidOptions::BackoffTooLong(_)) && max_backoff > MAX_BACKOFF_LIMIT),
                "{error}"
            ),
        }
    }

    /// Any scenario shape, up to ranges of `usize::MAX`: accepted within the limits, or a
    /// typed error, never an overflow.
    #[test]
    fn linearizability_shapes_take_any_ranges(
        threads in ranges(),
        operations_per_thread in ranges(),
        init in ranges(),
        post in ranges(),
    ) {
        let shape = Shape { threads, operations_per_thread, init, post };
        match shape.validate() {
            Ok(()) => prop_assert!((1..=MAX_THREADS).contains(shape.threads.end()) && *shape.threads.start() >= 1, "{:?}", shape),
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    /// The facade's timed waits and the retry closer take any timeout: a wait whose
    /// condition holds returns at once, and a deadline never overflows.
    #[test]
    fn facade_waits_take_any_timeout(timeout in durations()) {
        bounded("bad inputs: facade waits", move || {
            let latch = Latch::new();
            latch.set();
            assert!(latch.wait_timeout(timeout));
            let (sender, receiver) = mpsc::channel();
            sender.send(5).unwrap();
            assert_eq!(receiver.recv_timeout(timeout), Ok(5));
            let closer = Closer::new();
            closer.close();
            assert!(closer.wait_timeout(timeout));
            // A wait whose condition is met later: ended by it, however long the timeout.
            let later = Arc::new(Latch::new());
            let waiter = {
                let later = later.clone();
                thread::spawn(move || later.wait_timeout(timeout))
            };
            thread::sleep(Duration::from_millis(1));
            later.set();
            let waited = waiter.join().unwrap();
            assert!(waited || timeout < Duration::from_secs(1), "a long wait ended without its latch set");
            let deadline = Deadline::after(timeout);
            assert!(deadline.is_never() || deadline.remaining() <= timeout, "{deadline:?}");
            assert_eq!(deadline.is_never(), Deadline::within(timeout).is_none());
        });
    }
}

/// A log line of `text`.
fn line(text: String) -> OutputLine {
    OutputLine { process: "bad".into(), stream: OutputStream::Stdout, at: ManualClock::new().now(), line: text }
}

#[test]
fn a_hanging_connector_cannot_hold_a_get_past_its_timeout() {
    bounded("bad inputs: hanging connector", || {
        let gate = Arc::new(Latch::new());
        let pool = Pool::new(Fake { gate: Some(gate.clone()), ..Fake::default() }, 1).unwrap();
        let gave_up = pool.get_timeout(Duration::from_millis(20));
        assert!(matches!(gave_up, Err(GetError::Timeout)), "{gave_up:?}");
        assert_eq!(pool.stats().opening, 1, "the connect still holds its slot");
        gate.set();
        // The abandoned connect finishes and its connection goes back to the pool.
        let conn = pool.get().expect("the slot was freed into an idle connection");
        assert_eq!(*conn, 0, "the abandoned connection is reused, not leaked");
        drop(conn);
        pool.close();
        assert!(pool.stats().is_drained(), "{:?}", pool.stats());
    });
}

#[test]
fn a_panicking_connector_reaches_its_caller_and_returns_its_slot() {
    bounded("bad inputs: panicking connector", || {
        let pool = Pool::new(Fake { connect: Fault::Panic, ..Fake::default() }, 1).unwrap();
        for timeout in [None, Some(Duration::from_secs(5))] {
            let caught = racekit::sync::catch_unwind(|| match timeout {
                Some(timeout) => pool.get_timeout(timeout).map(drop),
                None => pool.get().map(drop),
            });
            assert!(caught.is_err(), "the connector's panic reaches the caller");
            assert_eq!(pool.stats().open, 0, "the slot went back");
        }
        pool.close();
        assert!(pool.stats().is_drained());
    });
}

#[test]
fn a_hanging_handler_cannot_hold_stop_within_past_its_deadline() {
    bounded("bad inputs: hanging handler", || {
        let bus = EventBus::<u8, u32>::new(BusConfig { workers: 1, capacity: 4, policy: Backpressure::Block }).unwrap();
        let (gate, entered) = (Arc::new(Latch::new()), Arc::new(Latch::new()));
        {
            let (gate, entered) = (gate.clone(), entered.clone());
            bus.subscribe(0, move |_: &u32| {
                entered.set();
                gate.wait();
            });
        }
        for event in 0..3 {
            bus.publish(0, event).unwrap();
        }
        entered.wait();
        let report = bus.stop_within(Duration::from_millis(20)).unwrap();
        assert!(report.deadline_passed && report.stats.live_workers == 1, "{report:?}");
        assert_eq!(report.stats.abandoned, 2, "the queued events are abandoned and counted");
        gate.set();
        let report = bus.stop().unwrap();
        assert!(report.stats.is_conserved() && report.stats.live_workers == 0, "{report:?}");
        assert_eq!((report.stats.delivered, report.stats.abandoned), (1, 2));
    });
}

#[test]
fn a_closer_that_stops_its_own_stopper_gets_a_typed_error() {
    bounded("bad inputs: stop from a closer", || {
        let stopper = Stopper::new();
        let own = stopper.clone();
        let inside = Arc::new(racekit::sync::Mutex::new(None));
        let seen = inside.clone();
        stopper.add_closer(move || *seen.lock() = Some(own.stop_timeout(Duration::MAX)));
        let report = stopper.stop();
        assert_eq!(*inside.lock(), Some(Err(StopError::CalledFromCloser)));
        assert!(inside.lock().as_ref().unwrap().as_ref().unwrap_err().to_string().contains("call quiesce()"));
        assert_eq!((report.closers_run, report.closers_panicked), (1, 0));
    });
}

#[test]
fn panicking_output_callbacks_are_caught_and_counted() {
    let callbacks = OutputCallbacks::new();
    let calls = Arc::new(AtomicUsize::new(0));
    callbacks.add(|_| panic!("a callback fails"));
    let counted = calls.clone();
    callbacks.add(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    for _ in 0..3 {
        let delivery = callbacks.deliver(&line("hello".into()));
        assert_eq!((delivery.called, delivery.panicked), (2, 1));
    }
    assert_eq!(callbacks.counts(), (3, 3));
    assert_eq!(calls.load(Ordering::SeqCst), 3, "the other callback still ran");
}

#[test]
fn a_zero_connect_timeout_is_a_typed_error() {
    use racekit::pool::tcp::{TcpConnector, ZeroConnectTimeout};
    let connector = TcpConnector::new("127.0.0.1:9".parse().unwrap());
    assert_eq!(connector.clone().connect_timeout(Duration::ZERO).unwrap_err(), ZeroConnectTimeout);
    assert!(connector.connect_timeout(Duration::MAX).is_ok(), "a long timeout is no error");
}

#[test]
fn a_check_with_a_budget_of_forever_runs() {
    let report = Model::named("bad inputs: forever budgets")
        .iterations(2)
        .time_budget(Duration::MAX)
        .std_run_timeout(Duration::MAX)
        .check(|| ());
    assert!(report.phases.iter().all(|phase| phase.complete), "{report}");
}
