//! Benchmarks: event bus throughput against the designs a user would otherwise write.
//!
//! - `event_bus/sync_throughput`: one producer thread publishes a batch of events to one
//!   cheap handler; timed until the last is handled. Contenders: racekit's bus (2 workers,
//!   capacity 256, blocking policy), a hand-written crossbeam-channel worker pool (the same
//!   2 workers and bound: the floor, with no routing, counting or joined stop), and the
//!   seed's design (a thread spawned per event).
//! - `event_bus/async_throughput`: one tokio task publishes the batch with `publish_async`;
//!   against tokio's `broadcast` channel (capacity 256) with one receiving task. broadcast
//!   never waits for room: a lagging receiver skips messages, which are counted as handled
//!   (so broadcast is measured doing less work, not more).
//!
//! Threads and runtimes are started once per contender and every sample is timed with
//! `iter_custom`; each group runs its contenders in the same process, one after another, on
//! the same batch size, so their ratio survives a machine whose speed drifts slowly. Run
//! with `cargo bench --bench event_bus` (final figures on a quiet machine) or `-- --quick`.

// criterion and the baselines are dev-dependencies of the std build only: the model builds
// compile an empty bench.
#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod throughput {
    use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
    use racekit::event_bus::{Backpressure, BusConfig, EventBus};
    use std::future::Future;
    use std::hint::black_box;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    const EVENTS: u64 = 1_000;
    const WORKERS: usize = 2;
    const CAPACITY: usize = 256;

    /// Waits (yielding) until `counter` reaches `target`.
    fn wait_for(counter: &AtomicU64, target: u64) {
        while counter.load(Ordering::Acquire) < target {
            std::thread::yield_now();
        }
    }

    /// A bus of `WORKERS` workers and `CAPACITY` slots whose one handler counts events.
    fn counting_bus() -> (EventBus<u8, u64>, Arc<AtomicU64>) {
        let handled = Arc::new(AtomicU64::new(0));
        let bus =
            EventBus::new(BusConfig { workers: WORKERS, capacity: CAPACITY, policy: Backpressure::Block }).unwrap();
        let counter = handled.clone();
        bus.subscribe(0, move |event| {
            black_box(event);
            counter.fetch_add(1, Ordering::Release);
        });
        (bus, handled)
    }

    /// The async form of [`time_batches`]: `publish` sends one event; waiting yields to the
    /// runtime.
    async fn time_async_batches<F: Future<Output = ()>>(
        iters: u64,
        handled: &AtomicU64,
        mut publish: impl FnMut(u64) -> F,
    ) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let target = handled.load(Ordering::Acquire) + EVENTS;
            for event in 0..EVENTS {
                publish(event).await;
            }
            while handled.load(Ordering::Acquire) < target {
                tokio::task::yield_now().await;
            }
        }
        start.elapsed()
    }

    /// Times `iters` batches: `publish` sends one batch, `handled` counts what the handlers did.
    fn time_batches(iters: u64, handled: &AtomicU64, mut publish: impl FnMut()) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let target = handled.load(Ordering::Acquire) + EVENTS;
            publish();
            wait_for(handled, target);
        }
        start.elapsed()
    }

    fn sync_throughput(c: &mut Criterion) {
        let mut group = c.benchmark_group("event_bus/sync_throughput");
        group.throughput(Throughput::Elements(EVENTS));

        let (bus, handled) = counting_bus();
        group.bench_function(BenchmarkId::new("racekit_bus", EVENTS), |b| {
            b.iter_custom(|iters| {
                time_batches(iters, &handled, || {
                    for event in 0..EVENTS {
                        bus.publish(0, event).unwrap();
                    }
                })
            })
        });
        bus.stop().unwrap();

        let pool_handled = Arc::new(AtomicU64::new(0));
        let (sender, receiver) = crossbeam_channel::bounded::<u64>(CAPACITY);
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let (receiver, handled) = (receiver.clone(), pool_handled.clone());
                std::thread::spawn(move || {
                    for event in receiver {
                        black_box(event);
                        handled.fetch_add(1, Ordering::Release);
                    }
                })
            })
            .collect();
        group.bench_function(BenchmarkId::new("crossbeam_pool", EVENTS), |b| {
            b.iter_custom(|iters| {
                time_batches(iters, &pool_handled, || {
                    for event in 0..EVENTS {
                        sender.send(event).unwrap();
                    }
                })
            })
        });
        drop(sender);
        for worker in workers {
            worker.join().unwrap();
        }

        let seed_handled = Arc::new(AtomicU64::new(0));
        group.bench_function(BenchmarkId::new("seed_spawn_per_event", EVENTS), |b| {
            b.iter_custom(|iters| {
                time_batches(iters, &seed_handled, || {
                    for event in 0..EVENTS {
                        let handled = seed_handled.clone();
                        // Detached, as `go handler(event)` is.
                        drop(std::thread::spawn(move || {
                            black_box(event);
                            handled.fetch_add(1, Ordering::Release);
                        }));
                    }
                })
            })
        });
        group.finish();
    }

    fn async_throughput(c: &mut Criterion) {
        let mut group = c.benchmark_group("event_bus/async_throughput");
        group.throughput(Throughput::Elements(EVENTS));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

        let (bus, handled) = counting_bus();
        let handle = bus.handle();
        group.bench_function(BenchmarkId::new("racekit_bus_async", EVENTS), |b| {
            b.iter_custom(|iters| {
                let handle = &handle;
                runtime.block_on(time_async_batches(iters, &handled, |event| async move {
                    handle.publish_async(0, event).await.unwrap();
                }))
            })
        });
        bus.stop().unwrap();

        let received = Arc::new(AtomicU64::new(0));
        let (sender, mut receiver) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
        let consumer = {
            let received = received.clone();
            runtime.spawn(async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) => {
                            black_box(event);
                            received.fetch_add(1, Ordering::Release);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(skipped)) => {
                            received.fetch_add(skipped, Ordering::Release);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
            })
        };
        group.bench_function(BenchmarkId::new("tokio_broadcast", EVENTS), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(time_async_batches(iters, &received, |event| {
                    sender.send(event).unwrap();
                    std::future::ready(())
                }))
            })
        });
        drop(sender);
        runtime.block_on(consumer).unwrap();
        group.finish();
    }

    criterion_group!(benches, sync_throughput, async_throughput);
}

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
criterion::criterion_main!(throughput::benches);

#[cfg(any(racekit_loom, racekit_shuttle))]
fn main() {}
