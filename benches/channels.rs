//! Benchmarks: handing work between threads, channels against a lock-protected queue.
//!
//! `channels/handoff`: producers send `u64` items, consumers take them (each side does its
//! share of the run's items; a consumer only adds them up). Axes: capacity 1, 16, 256;
//! producers x consumers 1x1, 4x1 (fan-in) and 1x4 (fan-out). Contenders:
//! - `mutex-vecdeque-condvar` (the baseline): a `Mutex<VecDeque>` with two `Condvar`s;
//! - `racekit-queue`: racekit's `BoundedQueue` (the same design, with close, drain and
//!   counters);
//! - `std-mpsc`: `std::sync::mpsc::sync_channel`; with several consumers they share the
//!   receiver under a `Mutex` (it has one receiver), as users do;
//! - `crossbeam-channel`: `crossbeam_channel::bounded`, many receivers natively;
//! - `tokio-mpsc`: `tokio::sync::mpsc::channel` between tasks on a runtime with one worker
//!   per core (so its thread count is the core count, not producers + consumers); several
//!   consumers share the receiver under tokio's `Mutex`.
//!
//! One iteration is one item handed over. Run through `cargo bench-report`, or
//! `cargo bench --bench channels [-- --quick]`.

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod common;

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod suite {
    use super::common::{share, thread_params, Cell, Contender, Suite, TaskWork, Work};
    use serde_json::json;
    use std::collections::VecDeque;
    use std::hint::black_box;
    use std::sync::{Arc, Condvar, Mutex};

    const CAPACITIES: [usize; 3] = [1, 16, 256];
    const SHAPES: [(usize, usize); 3] = [(1, 1), (4, 1), (1, 4)];

    /// A bounded blocking hand-off between threads. `sole` tells `consume` that it is the
    /// only consumer (so a receiver shared under a lock can be locked once per run).
    trait Handoff: 'static {
        type Tx: Clone + Send + 'static;
        type Rx: Clone + Send + 'static;
        fn channel(capacity: usize) -> (Self::Tx, Self::Rx);
        fn send(tx: &Self::Tx, item: u64);
        fn consume(rx: &Self::Rx, items: u64, sole: bool) -> u64;
    }

    /// The queue most people write first: one lock, one condition per direction.
    struct LockedQueue {
        items: Mutex<VecDeque<u64>>,
        not_empty: Condvar,
        not_full: Condvar,
        capacity: usize,
    }

    struct VecDequeCondvar;

    impl Handoff for VecDequeCondvar {
        type Tx = Arc<LockedQueue>;
        type Rx = Arc<LockedQueue>;
        fn channel(capacity: usize) -> (Self::Tx, Self::Rx) {
            let queue = Arc::new(LockedQueue {
                items: Mutex::new(VecDeque::with_capacity(capacity)),
                not_empty: Condvar::new(),
                not_full: Condvar::new(),
                capacity,
            });
            (queue.clone(), queue)
        }
        fn send(queue: &Self::Tx, item: u64) {
            let mut items = queue.items.lock().unwrap();
            while items.len() == queue.capacity {
                items = queue.not_full.wait(items).unwrap();
            }
            items.push_back(item);
            drop(items);
            queue.not_empty.notify_one();
        }
        fn consume(queue: &Self::Rx, count: u64, _sole: bool) -> u64 {
            let mut sum = 0;
            for _ in 0..count {
                let mut items = queue.items.lock().unwrap();
                let item = loop {
                    match items.pop_front() {
                        Some(item) => break item,
                        None => items = queue.not_empty.wait(items).unwrap(),
                    }
                };
                drop(items);
                queue.not_full.notify_one();
                sum += item;
            }
            sum
        }
    }

    struct RacekitQueue;

    impl Handoff for RacekitQueue {
        type Tx = Arc<racekit::queue::BoundedQueue<u64>>;
        type Rx = Arc<racekit::queue::BoundedQueue<u64>>;
        fn channel(capacity: usize) -> (Self::Tx, Self::Rx) {
            let queue = Arc::new(racekit::queue::BoundedQueue::new(capacity).expect("capacities here are positive"));
            (queue.clone(), queue)
        }
        fn send(queue: &Self::Tx, item: u64) {
            queue.push(item).expect("the bench never closes the queue");
        }
        fn consume(queue: &Self::Rx, count: u64, _sole: bool) -> u64 {
            (0..count).map(|_| queue.pop().expect("the bench never closes the queue")).sum()
        }
    }

    struct StdMpsc;

    impl Handoff for StdMpsc {
        type Tx = std::sync::mpsc::SyncSender<u64>;
        type Rx = Arc<Mutex<std::sync::mpsc::Receiver<u64>>>;
        fn channel(capacity: usize) -> (Self::Tx, Self::Rx) {
            let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
            (tx, Arc::new(Mutex::new(rx)))
        }
        fn send(tx: &Self::Tx, item: u64) {
            tx.send(item).expect("receivers live as long as the crew");
        }
        fn consume(rx: &Self::Rx, count: u64, sole: bool) -> u64 {
            let recv = |rx: &std::sync::mpsc::Receiver<u64>| rx.recv().expect("senders live as long as the crew");
            if sole {
                let rx = rx.lock().unwrap();
                (0..count).map(|_| recv(&rx)).sum()
            } else {
                (0..count).map(|_| recv(&rx.lock().unwrap())).sum()
            }
        }
    }

    struct Crossbeam;

    impl Handoff for Crossbeam {
        type Tx = crossbeam_channel::Sender<u64>;
        type Rx = crossbeam_channel::Receiver<u64>;
        fn channel(capacity: usize) -> (Self::Tx, Self::Rx) {
            crossbeam_channel::bounded(capacity)
        }
        fn send(tx: &Self::Tx, item: u64) {
            tx.send(item).expect("receivers live as long as the crew");
        }
        fn consume(rx: &Self::Rx, count: u64, _sole: bool) -> u64 {
            (0..count).map(|_| rx.recv().expect("senders live as long as the crew")).sum()
        }
    }

    /// Producers and consumers on their own threads, one crew per benchmark.
    fn thread_contender<H: Handoff>(
        id: &str,
        producers: usize,
        consumers: usize,
        capacity: usize,
    ) -> Contender<'static> {
        Contender::crew(id, producers + consumers, move || {
            let (tx, rx) = H::channel(capacity);
            move |index| -> Work {
                if index < producers {
                    let tx = tx.clone();
                    Box::new(move |total| (0..share(total, producers, index)).for_each(|item| H::send(&tx, item)))
                } else {
                    let rx = rx.clone();
                    let consumer = index - producers;
                    Box::new(move |total| {
                        black_box(H::consume(&rx, share(total, consumers, consumer), consumers == 1));
                    })
                }
            }
        })
    }

    /// tokio's mpsc between producer and consumer tasks.
    fn tokio_contender(producers: usize, consumers: usize, capacity: usize) -> Contender<'static> {
        Contender::tasks("tokio-mpsc", producers + consumers, move || -> TaskWork {
            let (tx, rx) = tokio::sync::mpsc::channel::<u64>(capacity);
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            Arc::new(move |index, total| {
                let (tx, rx) = (tx.clone(), rx.clone());
                Box::pin(async move {
                    if index < producers {
                        for item in 0..share(total, producers, index) {
                            tx.send(item).await.expect("the receiver lives as long as the runtime");
                        }
                        return;
                    }
                    let count = share(total, consumers, index - producers);
                    let mut sum = 0;
                    if consumers == 1 {
                        let mut rx = rx.lock().await;
                        for _ in 0..count {
                            sum += rx.recv().await.expect("senders live as long as the runtime");
                        }
                    } else {
                        for _ in 0..count {
                            sum += rx.lock().await.recv().await.expect("senders live as long as the runtime");
                        }
                    }
                    black_box(sum);
                })
            })
        })
    }

    pub fn main() {
        let mut suite = Suite::new("channels");
        for (producers, consumers) in SHAPES {
            for capacity in CAPACITIES {
                let mut params = thread_params(producers + consumers);
                params["producers"] = json!(producers);
                params["consumers"] = json!(consumers);
                params["capacity"] = json!(capacity);
                let contenders = [
                    thread_contender::<VecDequeCondvar>("mutex-vecdeque-condvar", producers, consumers, capacity),
                    thread_contender::<RacekitQueue>("racekit-queue", producers, consumers, capacity),
                    thread_contender::<StdMpsc>("std-mpsc", producers, consumers, capacity),
                    thread_contender::<Crossbeam>("crossbeam-channel", producers, consumers, capacity),
                    tokio_contender(producers, consumers, capacity),
                ];
                let cell = Cell::new(format!("p{producers}c{consumers}-cap{capacity}"), params);
                suite.compare("channels/handoff", &cell, "mutex-vecdeque-condvar", None, &contenders);
            }
        }
        suite.finish();
    }
}

fn main() {
    // The model-checking builds have no criterion: these benches measure real threads only.
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    suite::main();
}
