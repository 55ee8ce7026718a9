//! Benchmarks: event bus throughput against the designs a user would otherwise write.
//!
//! - `event_bus/sync`: one producer thread publishes events to one cheap handler; timed
//!   until the last is handled. Contenders:
//!   - `racekit_bus`: racekit's bus (2 workers, capacity 256, blocking policy);
//!   - `crossbeam_pool_routed`: the fair twin, a hand-written crossbeam-channel worker pool
//!     doing the bus's work: the same 2 workers and bound, a copy-on-write handler list per
//!     event kind snapshotted at publish, every handler call caught and every outcome
//!     counted, workers joined on stop;
//!   - `locked_pool_routed`: the same routed pool over the bounded queue a user would
//!     write to keep it checkable (loom and shuttle model locks and condition variables,
//!     not crossbeam-channel's lock-free queue): one std `Mutex` and two `Condvar`s,
//!     waking only a sleeper. The bus's own queue is checkable too, with a lock per end;
//!   - `crossbeam_pool`: the bare pool (one closure, no routing, counting or catching): the
//!     floor, showing what the bus's guarantees cost;
//!   - `seed_spawn_per_event`: the seed's design, a thread spawned per event.
//! - `event_bus/async`: one tokio task publishes with `publish_async`; against tokio's
//!   `broadcast` channel (capacity 256) with one receiving task. Where their semantics
//!   differ, broadcast does less: it never waits for room (a lagging receiver skips
//!   messages, which are counted as handled here), it neither routes by kind nor catches
//!   or counts anything, and its receiver is a task on the runtime, while the bus's async
//!   publisher waits for room (`Block`) and its handlers run, caught and counted, on the
//!   bus's own two worker threads. So broadcast is measured doing less work, not more.
//!
//! - `event_bus/overload_memory` (printed, not timed): one publisher offers events as fast
//!   as it can to the bus's 2 workers, whose handler (2 µs) is slow enough that with
//!   `DropNewest` the publisher offers at least ten times what they handle (the factor is
//!   measured and printed); with `Block` the same publisher is held to the workers' pace
//!   (factor 1: the wait is the backpressure). The peak of live heap bytes above the start, sampled
//!   every 256 publishes, is printed for a run of N events and one of 10 N: memory is flat
//!   when the longer run peaks no higher (the queue's bound, not the backlog, sets it).
//!
//! One operation is one event published and handled. Contenders run in alternating rounds
//! with the noise band of the decision benches (`common::Suite::compare`), and the
//! allocations per event are counted next to the times. Run through `cargo bench-report`,
//! or `cargo bench --bench event_bus [-- --quick]`.

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod common;

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
#[global_allocator]
static ALLOCATOR: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod suite {
    use super::common::{Cell, Contender, Runner, Suite};
    use crossbeam_channel::Sender;
    use racekit::event_bus::{Backpressure, BusConfig, EventBus};
    use serde_json::json;
    use std::collections::{HashMap, VecDeque};
    use std::hint::black_box;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Condvar, Mutex, RwLock};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    const WORKERS: usize = 2;
    const CAPACITY: usize = 256;
    /// The one event kind the benches publish.
    const KIND: u8 = 0;

    /// Waits (yielding) until `counter` reaches `target`.
    fn wait_for(counter: &AtomicU64, target: u64) {
        while counter.load(Ordering::Acquire) < target {
            std::thread::yield_now();
        }
    }

    /// A handler that counts what it handled.
    fn counting(handled: &Arc<AtomicU64>) -> impl Fn(&u64) + Send + Sync + 'static {
        let handled = handled.clone();
        move |event| {
            black_box(event);
            handled.fetch_add(1, Ordering::Release);
        }
    }

    /// Times `ops` events: `publish` sends one, `handled` counts what the handlers did.
    fn time_events(ops: u64, handled: &AtomicU64, mut publish: impl FnMut(u64)) -> Duration {
        let start = Instant::now();
        let target = handled.load(Ordering::Acquire) + ops;
        (0..ops).for_each(&mut publish);
        wait_for(handled, target);
        start.elapsed()
    }

    /// racekit's bus with one counting handler.
    struct Bus {
        bus: EventBus<u8, u64>,
        handled: Arc<AtomicU64>,
    }

    impl Bus {
        fn start() -> Bus {
            let handled = Arc::new(AtomicU64::new(0));
            let bus = EventBus::new(BusConfig { workers: WORKERS, capacity: CAPACITY, policy: Backpressure::Block })
                .expect("a valid bench configuration");
            bus.subscribe(KIND, counting(&handled));
            Bus { bus, handled }
        }
    }

    impl Runner for Bus {
        fn run(&mut self, ops: u64) -> Duration {
            let bus = &self.bus;
            time_events(ops, &self.handled, |event| {
                bus.publish(KIND, event).expect("the bus runs until the bench ends");
            })
        }
    }

    impl Drop for Bus {
        fn drop(&mut self) {
            let _ = self.bus.stop();
        }
    }

    type Handler = Arc<dyn Fn(&u64) + Send + Sync>;

    /// What the routed pool's workers count, as the bus does.
    #[derive(Default)]
    struct Outcomes {
        delivered: AtomicU64,
        unrouted: AtomicU64,
        panicked: AtomicU64,
    }

    /// What a routed pool's queue carries: the handlers snapshotted at publish, and the event.
    type Routed = (Arc<Vec<Handler>>, u64);

    /// The sending side of a bounded blocking queue of [`Routed`] events; dropping the
    /// sender closes the queue, and the receivers drain it, then see `None`.
    trait RoutedQueue: Sized + Send + 'static {
        type Receiver: Clone + Send + 'static;
        fn bounded(capacity: usize) -> (Self, Self::Receiver);
        /// Waits while the queue is full.
        fn send(&self, item: Routed);
        /// Waits while the queue is empty and open.
        fn recv(receiver: &Self::Receiver) -> Option<Routed>;
    }

    impl RoutedQueue for Sender<Routed> {
        type Receiver = crossbeam_channel::Receiver<Routed>;
        fn bounded(capacity: usize) -> (Self, Self::Receiver) {
            crossbeam_channel::bounded(capacity)
        }
        fn send(&self, item: Routed) {
            Sender::send(self, item).expect("the workers run until drop");
        }
        fn recv(receiver: &Self::Receiver) -> Option<Routed> {
            receiver.recv().ok()
        }
    }

    /// A bounded queue under one std mutex, with a condition variable per side that is
    /// notified only when a thread sleeps on it.
    struct Locked {
        state: Mutex<LockedState>,
        not_empty: Condvar,
        not_full: Condvar,
        capacity: usize,
    }

    #[derive(Default)]
    struct LockedState {
        items: VecDeque<Routed>,
        closed: bool,
        sleeping_receivers: usize,
        sleeping_senders: usize,
    }

    impl Locked {
        fn state(&self) -> std::sync::MutexGuard<'_, LockedState> {
            self.state.lock().expect("no bench thread panics holding it")
        }
    }

    /// The sending side of [`Locked`].
    struct LockedSender(Arc<Locked>);

    impl RoutedQueue for LockedSender {
        type Receiver = Arc<Locked>;
        fn bounded(capacity: usize) -> (Self, Self::Receiver) {
            let state = Mutex::new(LockedState { items: VecDeque::with_capacity(capacity), ..LockedState::default() });
            let queue = Arc::new(Locked { state, not_empty: Condvar::new(), not_full: Condvar::new(), capacity });
            (LockedSender(queue.clone()), queue)
        }
        fn send(&self, item: Routed) {
            let queue = &*self.0;
            let mut state = queue.state();
            while state.items.len() == queue.capacity {
                state.sleeping_senders += 1;
                state = queue.not_full.wait(state).expect("no bench thread panics holding it");
                state.sleeping_senders -= 1;
            }
            state.items.push_back(item);
            let wake = state.sleeping_receivers > 0;
            drop(state);
            if wake {
                queue.not_empty.notify_one();
            }
        }
        fn recv(queue: &Self::Receiver) -> Option<Routed> {
            let mut state = queue.state();
            loop {
                if let Some(item) = state.items.pop_front() {
                    let wake = state.sleeping_senders > 0;
                    drop(state);
                    if wake {
                        queue.not_full.notify_one();
                    }
                    return Some(item);
                }
                if state.closed {
                    return None;
                }
                state.sleeping_receivers += 1;
                state = queue.not_empty.wait(state).expect("no bench thread panics holding it");
                state.sleeping_receivers -= 1;
            }
        }
    }

    impl Drop for LockedSender {
        fn drop(&mut self) {
            self.0.state().closed = true;
            self.0.not_empty.notify_all();
        }
    }

    /// A worker pool that routes as the bus does, over the queue `Q`: handlers per kind in
    /// a copy-on-write list snapshotted at publish, each call caught, each outcome counted.
    struct RoutedPool<Q: RoutedQueue> {
        registry: RwLock<HashMap<u8, Arc<Vec<Handler>>>>,
        sender: Option<Q>,
        workers: Vec<JoinHandle<()>>,
        outcomes: Arc<Outcomes>,
        handled: Arc<AtomicU64>,
    }

    impl<Q: RoutedQueue> RoutedPool<Q> {
        fn start() -> RoutedPool<Q> {
            let (sender, receiver) = Q::bounded(CAPACITY);
            let outcomes = Arc::new(Outcomes::default());
            let workers = (0..WORKERS)
                .map(|_| {
                    let (receiver, outcomes) = (receiver.clone(), outcomes.clone());
                    std::thread::spawn(move || {
                        while let Some((handlers, event)) = Q::recv(&receiver) {
                            for handler in handlers.iter() {
                                if catch_unwind(AssertUnwindSafe(|| handler(&event))).is_err() {
                                    outcomes.panicked.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            outcomes.delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            let handled = Arc::new(AtomicU64::new(0));
            let handler: Handler = Arc::new(counting(&handled));
            let registry = RwLock::new(HashMap::from([(KIND, Arc::new(vec![handler]))]));
            RoutedPool { registry, sender: Some(sender), workers, outcomes, handled }
        }

        fn publish(&self, kind: u8, event: u64) {
            let snapshot = self.registry.read().expect("no bench thread panics holding it").get(&kind).cloned();
            match snapshot {
                Some(handlers) => self.sender.as_ref().expect("the queue lives until drop").send((handlers, event)),
                None => {
                    self.outcomes.unrouted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    impl<Q: RoutedQueue> Runner for RoutedPool<Q> {
        fn run(&mut self, ops: u64) -> Duration {
            let handled = self.handled.clone();
            time_events(ops, &handled, |event| self.publish(KIND, event))
        }
    }

    impl<Q: RoutedQueue> Drop for RoutedPool<Q> {
        fn drop(&mut self) {
            drop(self.sender.take());
            self.workers.drain(..).for_each(|worker| worker.join().expect("a routed pool worker"));
            black_box(self.outcomes.delivered.load(Ordering::Relaxed) + self.outcomes.panicked.load(Ordering::Relaxed));
        }
    }

    /// The bare crossbeam-channel pool: events straight to one closure.
    struct BarePool {
        sender: Option<Sender<u64>>,
        workers: Vec<JoinHandle<()>>,
        handled: Arc<AtomicU64>,
    }

    impl BarePool {
        fn start() -> BarePool {
            let handled = Arc::new(AtomicU64::new(0));
            let (sender, receiver) = crossbeam_channel::bounded::<u64>(CAPACITY);
            let workers = (0..WORKERS)
                .map(|_| {
                    let (receiver, handle) = (receiver.clone(), counting(&handled));
                    std::thread::spawn(move || receiver.into_iter().for_each(|event| handle(&event)))
                })
                .collect();
            BarePool { sender: Some(sender), workers, handled }
        }
    }

    impl Runner for BarePool {
        fn run(&mut self, ops: u64) -> Duration {
            let sender = self.sender.as_ref().expect("the channel lives until drop");
            time_events(ops, &self.handled, |event| sender.send(event).expect("the workers run until drop"))
        }
    }

    impl Drop for BarePool {
        fn drop(&mut self) {
            drop(self.sender.take());
            self.workers.drain(..).for_each(|worker| worker.join().expect("a pool worker"));
        }
    }

    /// The seed's design: a detached thread per event, as `go handler(event)` is.
    #[derive(Default)]
    struct SpawnPerEvent {
        handled: Arc<AtomicU64>,
    }

    impl Runner for SpawnPerEvent {
        fn run(&mut self, ops: u64) -> Duration {
            let handled = self.handled.clone();
            time_events(ops, &self.handled, |event| {
                let handle = counting(&handled);
                drop(std::thread::spawn(move || handle(&event)));
            })
        }
    }

    /// A runtime of `WORKERS` workers, built once per contender.
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(WORKERS).enable_all().build().expect("a runtime")
    }

    /// The async form of [`time_events`]: waiting yields to the runtime.
    async fn time_async_events<F: std::future::Future<Output = ()>>(
        ops: u64,
        handled: &AtomicU64,
        mut publish: impl FnMut(u64) -> F,
    ) -> Duration {
        let start = Instant::now();
        let target = handled.load(Ordering::Acquire) + ops;
        for event in 0..ops {
            publish(event).await;
        }
        while handled.load(Ordering::Acquire) < target {
            tokio::task::yield_now().await;
        }
        start.elapsed()
    }

    /// racekit's bus, published to from a tokio task.
    struct AsyncBus {
        runtime: tokio::runtime::Runtime,
        bus: Bus,
    }

    impl Runner for AsyncBus {
        fn run(&mut self, ops: u64) -> Duration {
            let handle = self.bus.bus.handle();
            let handled = &self.bus.handled;
            self.runtime.block_on(time_async_events(ops, handled, |event| {
                let handle = handle.clone();
                async move {
                    handle.publish_async(KIND, event).await.expect("the bus runs until the bench ends");
                }
            }))
        }
    }

    /// tokio's broadcast channel with one receiving task.
    struct Broadcast {
        runtime: tokio::runtime::Runtime,
        sender: Option<tokio::sync::broadcast::Sender<u64>>,
        consumer: Option<tokio::task::JoinHandle<()>>,
        received: Arc<AtomicU64>,
    }

    impl Broadcast {
        fn start() -> Broadcast {
            use tokio::sync::broadcast::error::RecvError;
            let runtime = runtime();
            let received = Arc::new(AtomicU64::new(0));
            let (sender, mut receiver) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
            let counter = received.clone();
            let consumer = runtime.spawn(async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) => {
                            black_box(event);
                            counter.fetch_add(1, Ordering::Release);
                        }
                        Err(RecvError::Lagged(skipped)) => {
                            counter.fetch_add(skipped, Ordering::Release);
                        }
                        Err(RecvError::Closed) => break,
                    }
                }
            });
            Broadcast { runtime, sender: Some(sender), consumer: Some(consumer), received }
        }
    }

    impl Runner for Broadcast {
        fn run(&mut self, ops: u64) -> Duration {
            let sender = self.sender.as_ref().expect("the sender lives until drop");
            self.runtime.block_on(time_async_events(ops, &self.received, |event| {
                sender.send(event).expect("the receiver lives until drop");
                std::future::ready(())
            }))
        }
    }

    impl Drop for Broadcast {
        fn drop(&mut self) {
            drop(self.sender.take());
            if let Some(consumer) = self.consumer.take() {
                self.runtime.block_on(consumer).expect("the broadcast consumer");
            }
        }
    }

    /// Heap bytes live now, by the counting allocator.
    fn live_bytes() -> i64 {
        let stats = super::ALLOCATOR.stats();
        stats.bytes_allocated as i64 + stats.bytes_reallocated as i64 - stats.bytes_deallocated as i64
    }

    /// What one overload run saw.
    struct Overload {
        /// The peak of live heap bytes above the start, while publishing.
        peak_bytes: i64,
        /// Events offered per second over events handled per second.
        overload: f64,
    }

    /// Publishes `events` as fast as one thread can to a bus whose handler spins for
    /// `handler_units`, sampling the live heap every 256 publishes.
    fn overload_run(events: u64, policy: Backpressure, handler_units: u64) -> Overload {
        let handled = Arc::new(AtomicU64::new(0));
        let bus = EventBus::new(BusConfig { workers: WORKERS, capacity: CAPACITY, policy })
            .expect("a valid bench configuration");
        let counter = handled.clone();
        bus.subscribe(KIND, move |event: &u64| {
            super::common::spin(handler_units);
            black_box(event);
            counter.fetch_add(1, Ordering::Release);
        });
        let start_bytes = live_bytes();
        let mut peak_bytes = 0;
        let started = Instant::now();
        for event in 0..events {
            bus.publish(KIND, event).expect("the bus runs until the run ends");
            if event % 256 == 0 {
                peak_bytes = peak_bytes.max(live_bytes() - start_bytes);
            }
        }
        let offered = events as f64 / started.elapsed().as_secs_f64();
        let report = bus.stop().expect("stopped from the bench thread");
        let handled_per_second = report.stats.delivered as f64 / started.elapsed().as_secs_f64();
        Overload { peak_bytes, overload: offered / handled_per_second.max(f64::MIN_POSITIVE) }
    }

    /// `event_bus/overload_memory`: see the module docs.
    fn overload_memory(suite: &Suite) {
        const EVENTS: u64 = 50_000;
        let handler_units = suite.spin.units(2_000);
        for (label, policy) in [("drop_newest", Backpressure::DropNewest), ("block", Backpressure::Block)] {
            let short = overload_run(EVENTS, policy, handler_units);
            let long = overload_run(10 * EVENTS, policy, handler_units);
            println!(
                "event_bus/overload_memory/{label}: peak live heap {} B over {EVENTS} events, {} B over {} events \
                 (offered/handled {:.1}x and {:.1}x)",
                short.peak_bytes,
                long.peak_bytes,
                10 * EVENTS,
                short.overload,
                long.overload
            );
        }
    }

    pub fn main() {
        let mut suite = Suite::new("event_bus").count_allocations(super::ALLOCATOR);
        let params = json!({ "publishers": 1, "workers": WORKERS, "capacity": CAPACITY });
        let cell = Cell::new(format!("1 publisher, {WORKERS} workers, capacity {CAPACITY}"), params.clone());
        suite.compare(
            "event_bus/sync",
            &cell,
            "racekit_bus",
            None,
            &[
                Contender::new("racekit_bus", |_| Bus::start()),
                Contender::new("crossbeam_pool_routed", |_| RoutedPool::<Sender<Routed>>::start()),
                Contender::new("locked_pool_routed", |_| RoutedPool::<LockedSender>::start()),
                Contender::new("crossbeam_pool", |_| BarePool::start()),
                Contender::new("seed_spawn_per_event", |_| SpawnPerEvent::default()),
            ],
        );
        let cell = Cell::new(format!("1 publishing task, {WORKERS} runtime workers, capacity {CAPACITY}"), params);
        suite.compare(
            "event_bus/async",
            &cell,
            "racekit_bus_async",
            None,
            &[
                Contender::new("racekit_bus_async", |_| AsyncBus { runtime: runtime(), bus: Bus::start() }),
                Contender::new("tokio_broadcast", |_| Broadcast::start()),
            ],
        );
        overload_memory(&suite);
        suite.finish();
    }
}

fn main() {
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    suite::main();
}
