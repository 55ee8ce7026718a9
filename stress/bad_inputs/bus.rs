//! Rows for the event bus: bad configurations, every publish policy against a full queue,
//! use after stop, and handlers that panic, block, re-enter the bus or drop events that
//! publish again.

use super::collections::SHORT;
use super::table::{ensure, refused, row, same, Expect, Miss, Row};
use racekit::event_bus::{
    Backpressure, BusConfig, BusStats, ConfigError, EventBus, PublishError, Published, StopError, MAX_WORKERS,
};
use racekit::sync::atomic::{AtomicUsize, Ordering};
use racekit::sync::{task, Arc, Latch, Mutex};
use std::time::Duration;

type Bus = EventBus<u8, u32>;

fn config(workers: usize, capacity: usize, policy: Backpressure) -> BusConfig {
    BusConfig { workers, capacity, policy }
}

fn bus(workers: usize, capacity: usize, policy: Backpressure) -> Bus {
    EventBus::new(config(workers, capacity, policy)).expect("a valid configuration")
}

/// A bus of one worker and room for one event, whose handler holds its worker until
/// `gate` is set, with one event taken and one queued: full. Returns the bus and the gate.
fn full_bus(policy: Backpressure) -> (Bus, Arc<Latch>) {
    let bus = bus(1, 1, policy);
    let (gate, entered) = (Arc::new(Latch::new()), Arc::new(Latch::new()));
    {
        let (gate, entered) = (gate.clone(), entered.clone());
        bus.subscribe(0, move |_| {
            entered.set();
            gate.wait();
        });
    }
    bus.publish_with(0, 1, Backpressure::Block).unwrap();
    entered.wait();
    bus.publish_with(0, 2, Backpressure::Block).unwrap();
    (bus, gate)
}

/// Stops `bus` from outside and checks its ledger: every publish accounted for, every
/// worker joined.
fn stopped_and_conserved(bus: &Bus) -> Result<BusStats, Miss> {
    let report = bus.stop().map_err(|e| Miss::silent(format!("stop from outside failed: {e}")))?;
    let stats = report.stats;
    ensure(stats.is_conserved() && stats.live_workers == 0, || format!("{stats:?}"))?;
    Ok(stats)
}

/// Publishes `event` on a full bus with `policy`, then releases the handler.
fn publish_when_full(policy: Backpressure) -> (Result<Published, PublishError<u32>>, Result<BusStats, Miss>) {
    let (bus, gate) = full_bus(Backpressure::Block);
    let outcome = bus.publish_with(0, 3, policy);
    gate.set();
    (outcome, stopped_and_conserved(&bus))
}

/// A bus whose one handler runs `inside` with the bus's handle, and what it returned.
fn handler_calls<T: Send + 'static>(inside: fn(&Bus) -> T) -> Result<T, Miss> {
    let bus = Arc::new(bus(1, 1, Backpressure::Block));
    let (seen, done) = (Arc::new(Mutex::new(None)), Arc::new(Latch::new()));
    {
        let (own, seen, done) = (Arc::downgrade(&bus), seen.clone(), done.clone());
        bus.subscribe(0, move |event| {
            if *event != 1 {
                return;
            }
            if let Some(own) = own.upgrade() {
                let value = inside(&own);
                *seen.lock() = Some(value);
            }
            done.set();
        });
    }
    bus.publish(0, 1).unwrap();
    // Stopped from outside only once the handler is done: a stop meanwhile would refuse
    // the handler's own publishes.
    ensure(done.wait_timeout(Duration::from_secs(5)), || "the handler never finished".into())?;
    stopped_and_conserved(&bus)?;
    let value = seen.lock().take();
    value.ok_or_else(|| Miss::silent("the handler never ran"))
}

pub fn rows() -> Vec<Row> {
    use Expect::*;
    vec![
        row("bus: zero workers", TypedError, || {
            refused(Bus::new(config(0, 4, Backpressure::Block)), |e| *e == ConfigError::ZeroWorkers, "1 or more")
        }),
        row("bus: zero capacity", TypedError, || {
            refused(Bus::new(config(1, 0, Backpressure::Block)), |e| *e == ConfigError::ZeroCapacity, "1 or more")
        }),
        row("bus: MAX_WORKERS + 1 workers", TypedError, || {
            refused(
                Bus::new(config(MAX_WORKERS + 1, 4, Backpressure::Block)),
                |e| matches!(e, ConfigError::TooManyWorkers { .. }),
                "at most",
            )
        }),
        row("bus: usize::MAX workers", TypedError, || {
            refused(
                Bus::new(config(usize::MAX, 4, Backpressure::Block)),
                |e| matches!(e, ConfigError::TooManyWorkers { .. }),
                "at most",
            )
        }),
        row("bus: capacity usize::MAX allocates nothing up front", Documented, || {
            let bus = bus(1, usize::MAX, Backpressure::Block);
            same(bus.publish(0, 1), Ok(Published::Unrouted))?;
            stopped_and_conserved(&bus).map(drop)
        }),
        row("bus: FailAfter(0) on a full queue", Bounded, || {
            let (outcome, stats) = publish_when_full(Backpressure::FailAfter(Duration::ZERO));
            same(outcome, Err(PublishError::TimedOut(3)))?;
            same(stats?.timed_out, 1)
        }),
        row("bus: FailAfter(1 ns) on a full queue", Bounded, || {
            let (outcome, stats) = publish_when_full(Backpressure::FailAfter(Duration::from_nanos(1)));
            same(outcome, Err(PublishError::TimedOut(3)))?;
            same(stats?.timed_out, 1)
        }),
        row("bus: FailAfter(Duration::MAX) on a full queue, ended by the handler finishing", Bounded, || {
            let (bus, gate) = full_bus(Backpressure::Block);
            let releaser = {
                let gate = gate.clone();
                racekit::sync::thread::spawn(move || {
                    racekit::sync::thread::sleep(SHORT);
                    gate.set();
                })
            };
            let outcome = bus.publish_with(0, 3, Backpressure::FailAfter(Duration::MAX));
            releaser.join().unwrap();
            same(outcome, Ok(Published::Queued))?;
            same(stopped_and_conserved(&bus)?.delivered, 3)
        }),
        row("bus: a blocking publish on a full queue, ended by stop, gets its event back", Bounded, || {
            let (bus, gate) = full_bus(Backpressure::Block);
            let bus = Arc::new(bus);
            let stopper = {
                let (bus, gate) = (bus.clone(), gate.clone());
                racekit::sync::thread::spawn(move || {
                    racekit::sync::thread::sleep(SHORT);
                    let report = bus.stop_within(SHORT);
                    gate.set();
                    report
                })
            };
            let outcome = bus.publish(0, 3);
            stopper.join().unwrap().map_err(|e| Miss::silent(e.to_string()))?;
            same(outcome, Err(PublishError::Stopped(3)))?;
            stopped_and_conserved(&bus).map(drop)
        }),
        row("bus: DropNewest on a full queue drops and counts the new event", Documented, || {
            let (outcome, stats) = publish_when_full(Backpressure::DropNewest);
            same(outcome, Ok(Published::DroppedNewest))?;
            same(stats?.dropped_newest, 1)
        }),
        row("bus: DropOldest on a full queue evicts and counts the oldest", Documented, || {
            let (outcome, stats) = publish_when_full(Backpressure::DropOldest);
            same(outcome, Ok(Published::QueuedEvictingOldest))?;
            same(stats?.dropped_oldest, 1)
        }),
        row("bus: an event of a kind nobody subscribed to is counted as unrouted", Documented, || {
            let bus = bus(1, 1, Backpressure::Block);
            same(bus.publish(9, 1), Ok(Published::Unrouted))?;
            same(stopped_and_conserved(&bus)?.unrouted, 1)
        }),
        row("bus: publish after stop returns the event", TypedError, || {
            let bus = bus(1, 1, Backpressure::Block);
            stopped_and_conserved(&bus)?;
            let refusal = bus.publish(0, 5);
            same(refusal.clone(), Err(PublishError::Stopped(5)))?;
            refused(refusal, |_| true, "build a new bus")
        }),
        row("bus: publish_async after stop returns the event", TypedError, || {
            let bus = bus(1, 1, Backpressure::Block);
            stopped_and_conserved(&bus)?;
            same(task::block_on(bus.publish_async(0, 5)), Err(PublishError::Stopped(5)))
        }),
        row("bus: a handle kept after its bus is dropped refuses events", TypedError, || {
            let bus = bus(1, 1, Backpressure::Block);
            let handle = bus.handle();
            drop(bus);
            same(handle.publish(0, 5), Err(PublishError::Stopped(5)))
        }),
        row("bus: stop twice returns the same report", Documented, || {
            let bus = bus(2, 4, Backpressure::Block);
            let first = bus.stop().map_err(|e| Miss::silent(e.to_string()))?;
            same(bus.stop(), Ok(first))
        }),
        row("bus: stop_within(0) with an idle bus", Bounded, || {
            let bus = bus(2, 4, Backpressure::Block);
            let report = bus.stop_within(Duration::ZERO).map_err(|e| Miss::silent(e.to_string()))?;
            if report.stats.live_workers > 0 {
                ensure(report.deadline_passed, || format!("{report:?}"))?;
            }
            stopped_and_conserved(&bus).map(drop)
        }),
        row("bus: stop_within(Duration::MAX) with an idle bus", Bounded, || {
            let bus = bus(2, 4, Backpressure::Block);
            let report = bus.stop_within(Duration::MAX).map_err(|e| Miss::silent(e.to_string()))?;
            same((report.deadline_passed, report.stats.live_workers), (false, 0))
        }),
        row("bus: a handler blocked forever cannot hold stop_within past its deadline", Bounded, || {
            let (bus, gate) = full_bus(Backpressure::Block);
            let report = bus.stop_within(SHORT).map_err(|e| Miss::silent(e.to_string()))?;
            same((report.deadline_passed, report.stats.abandoned), (true, 1))?;
            gate.set();
            stopped_and_conserved(&bus).map(drop)
        }),
        row("bus: a panicking handler is caught and counted, and its worker goes on", CaughtPanic, || {
            let bus = bus(1, 4, Backpressure::Block);
            let calls = Arc::new(AtomicUsize::new(0));
            bus.subscribe(0, |_| panic!("a handler fails"));
            let counted = calls.clone();
            bus.subscribe(0, move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
            });
            for event in 0..3 {
                bus.publish(0, event).unwrap();
            }
            let stats = stopped_and_conserved(&bus)?;
            same((stats.handler_panics, stats.delivered, calls.load(Ordering::SeqCst)), (3, 3, 3))
        }),
        row("bus: a handler panicking with a non-string payload is caught and counted", CaughtPanic, || {
            let bus = bus(1, 4, Backpressure::Block);
            bus.subscribe(0, |_| std::panic::panic_any(42u8));
            bus.publish(0, 1).unwrap();
            same(stopped_and_conserved(&bus)?.handler_panics, 1)
        }),
        row("bus: stop from a handler", TypedError, || {
            let stopped = handler_calls(|bus| bus.stop())?;
            refused(stopped, |e| *e == StopError::CalledFromHandler, "call stop from outside")
        }),
        row("bus: stop_within(Duration::MAX) from a handler", TypedError, || {
            let stopped = handler_calls(|bus| bus.stop_within(Duration::MAX))?;
            refused(stopped, |e| *e == StopError::CalledFromHandler, "call stop from outside")
        }),
        row("bus: a blocking publish from a handler into its full queue", TypedError, || {
            let published = handler_calls(|bus| {
                let queued = bus.publish_with(0, 10, Backpressure::DropNewest);
                (queued, bus.publish(0, 11))
            })?;
            same(published.0, Ok(Published::Queued))?;
            refused(published.1, |e| *e == PublishError::FullInHandler(11), "retry the returned event later")
        }),
        row("bus: a FailAfter(Duration::MAX) publish from a handler into its full queue", TypedError, || {
            let published = handler_calls(|bus| {
                let _ = bus.publish_with(0, 10, Backpressure::DropNewest);
                bus.publish_with(0, 11, Backpressure::FailAfter(Duration::MAX))
            })?;
            refused(published, |e| *e == PublishError::FullInHandler(11), "retry the returned event later")
        }),
        row("bus: a handler that subscribes and unsubscribes re-entrantly", Documented, || {
            let unsubscribed = handler_calls(|bus| {
                let id = bus.subscribe(1, |_| ());
                (bus.unsubscribe(id), bus.unsubscribe(id))
            })?;
            same(unsubscribed, (true, false))
        }),
        row("bus: unsubscribing twice", Documented, || {
            let bus = bus(1, 1, Backpressure::Block);
            let id = bus.subscribe(0, |_| ());
            same((bus.unsubscribe(id), bus.unsubscribe(id)), (true, false))
        }),
        row("bus: subscribing after stop drops the handler at once", Documented, || {
            let bus = bus(1, 1, Backpressure::Block);
            stopped_and_conserved(&bus)?;
            let held = Arc::new(());
            let inside = held.clone();
            bus.subscribe(0, move |_| drop(inside.clone()));
            same(Arc::strong_count(&held), 1)
        }),
        row("bus: an event whose drop publishes again, on a stopping bus", Documented, || {
            struct Echo(Option<racekit::event_bus::BusHandle<u8, Echo>>);
            impl Drop for Echo {
                fn drop(&mut self) {
                    if let Some(handle) = self.0.take() {
                        let _ = handle.publish_with(0, Echo(None), Backpressure::DropNewest);
                    }
                }
            }
            let bus = EventBus::<u8, Echo>::new(config(1, 2, Backpressure::Block)).unwrap();
            bus.subscribe(0, |_| ());
            for _ in 0..3 {
                let _ = bus.publish(0, Echo(Some(bus.handle())));
            }
            let stats = bus.stop().map_err(|e| Miss::silent(e.to_string()))?.stats;
            ensure(stats.is_conserved() && stats.live_workers == 0, || format!("{stats:?}"))
        }),
        row("bus: a handler that drops the last owner of its own bus", Bounded, || {
            let bus = bus(1, 1, Backpressure::Block);
            let handle = bus.handle();
            let (slot, dropped) = (Arc::new(Mutex::new(Some(bus))), Arc::new(Latch::new()));
            if let Some(bus) = slot.lock().as_ref() {
                let (slot, dropped) = (slot.clone(), dropped.clone());
                bus.subscribe(0, move |_| {
                    let last = slot.lock().take();
                    drop(last);
                    dropped.set();
                });
            }
            handle.publish(0, 1).map_err(|e| Miss::silent(e.to_string()))?;
            ensure(dropped.wait_timeout(Duration::from_secs(5)), || {
                "the handler never finished dropping its bus".into()
            })?;
            same(handle.publish(0, 2), Err(PublishError::Stopped(2)))
        }),
    ]
}
