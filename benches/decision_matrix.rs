//! Benchmarks: the first seed's "Channel vs Mutex decision matrix", one scenario per row,
//! the seed's recommendation (the baseline) against its alternatives.
//!
//! | group | scenario | seed recommends | alternatives |
//! |---|---|---|---|
//! | `matrix/event-bus` | 2 publishers, 2 handlers per event of 100 ns or 2 µs | `channel-worker-pool` (2 workers per core, buffer 10 per worker, as the seed) | `inline-snapshot` (copy the handler list under a `RwLock`, call inline), `inline-under-mutex` (call the handlers holding a `Mutex`) |
//! | `matrix/log-store` | 2 or 4-per-core producers append to a 4096-entry ring with a per-process index | `hybrid-channel` (bounded channel to an owner thread, the producer inserts under the lock when it is full) | `bounded-channel` (always wait for room), `locked-ring` (insert under a `Mutex`) |
//! | `matrix/process-status` | 64 processes; 50 or 90 % status reads, the rest updates; 2 or 4-per-core threads | `mutex-map` | `rwlock-map`, `owner-thread-channel` (an owner thread; reads ask it and wait for the reply) |
//! | `matrix/url-registration` | 256 URLs; 25 or 50 % registrations, the rest lookups; 2 or 4-per-core threads | `mutex-map` | `rwlock-map` |
//! | `matrix/telemetry` | 2 or 4-per-core producers record metric events; one collector aggregates | `buffered-channel` (1024) | `locked-batch` (`Mutex<Vec>` + `Condvar`, the collector swaps it out), `channel-of-batches` (producers batch 64) |
//!
//! Each run ends when every item is fully handled (handled, stored, applied, aggregated),
//! so a contender cannot win by leaving work queued. One iteration is one event, log
//! line, operation or metric. Run through `cargo bench-report`, or
//! `cargo bench --bench decision_matrix [-- --quick]`.

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod common;

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod suite {
    use super::common::{cores, ns_label, oversubscribed, share, spin, thread_params, Cell, Contender, Suite, Work};
    use crossbeam_channel::{bounded, Sender, TrySendError};
    use serde_json::{json, Value};
    use std::collections::{HashMap, VecDeque};
    use std::hint::black_box;
    use std::sync::{Arc, Condvar, Mutex, RwLock};

    /// Cell parameters: the thread parameters plus `extra`.
    fn params(threads: usize, extra: Value) -> Value {
        let mut params = thread_params(threads);
        if let (Some(params), Value::Object(extra)) = (params.as_object_mut(), extra) {
            params.extend(extra);
        }
        params
    }

    // ----- event bus --------------------------------------------------------------------

    type Handler = Arc<dyn Fn(u64) + Send + Sync>;

    const PUBLISHERS: usize = 2;
    const HANDLERS: usize = 2;

    /// The handler registry: event type 0 has `HANDLERS` handlers of `units` spin each.
    fn registry(units: u64) -> HashMap<u8, Arc<[Handler]>> {
        let handlers: Vec<Handler> = (0..HANDLERS)
            .map(|_| {
                Arc::new(move |event: u64| {
                    black_box(event);
                    spin(units);
                }) as Handler
            })
            .collect();
        HashMap::from([(0u8, handlers.into())])
    }

    fn event_bus(suite: &mut Suite) {
        let workers = 2 * cores();
        for handler_ns in [100, 2_000] {
            let units = suite.spin.units(handler_ns);
            let pool = Contender::crew("channel-worker-pool", PUBLISHERS + workers, move || {
                let registry = Arc::new(RwLock::new(registry(units)));
                let (tx, rx) = bounded::<(u64, Arc<[Handler]>)>(10 * workers);
                move |index| -> Work {
                    if index < PUBLISHERS {
                        let (registry, tx) = (registry.clone(), tx.clone());
                        Box::new(move |total| {
                            for event in 0..share(total, PUBLISHERS, index) {
                                let handlers = registry.read().unwrap()[&0].clone();
                                tx.send((event, handlers)).expect("workers live as long as the crew");
                            }
                        })
                    } else {
                        let rx = rx.clone();
                        Box::new(move |total| {
                            for _ in 0..share(total, workers, index - PUBLISHERS) {
                                let (event, handlers) = rx.recv().expect("publishers live as long as the crew");
                                handlers.iter().for_each(|handler| handler(event));
                            }
                        })
                    }
                }
            });
            let snapshot = Contender::crew("inline-snapshot", PUBLISHERS, move || {
                let registry = Arc::new(RwLock::new(registry(units)));
                move |index| -> Work {
                    let registry = registry.clone();
                    Box::new(move |total| {
                        for event in 0..share(total, PUBLISHERS, index) {
                            let handlers = registry.read().unwrap()[&0].clone();
                            handlers.iter().for_each(|handler| handler(event));
                        }
                    })
                }
            });
            let under_mutex = Contender::crew("inline-under-mutex", PUBLISHERS, move || {
                let registry = Arc::new(Mutex::new(registry(units)));
                move |index| -> Work {
                    let registry = registry.clone();
                    Box::new(move |total| {
                        for event in 0..share(total, PUBLISHERS, index) {
                            registry.lock().unwrap()[&0].iter().for_each(|handler| handler(event));
                        }
                    })
                }
            });
            let cell = Cell::new(
                format!("handler{}", ns_label(handler_ns)),
                params(
                    PUBLISHERS + workers,
                    json!({ "publishers": PUBLISHERS, "workers": workers, "handlers": HANDLERS, "handler_ns": handler_ns }),
                ),
            );
            suite.compare(
                "matrix/event-bus",
                &cell,
                "channel-worker-pool",
                Some("channel-worker-pool"),
                &[pool, snapshot, under_mutex],
            );
        }
    }

    // ----- log store --------------------------------------------------------------------

    const RING: usize = 4096;
    const PROCESSES: u32 = 16;

    // The text is payload: stored and moved like a real line, never read here.
    #[allow(dead_code)]
    struct LogLine {
        process: u32,
        text: [u8; 48],
    }

    /// A bounded ring of log lines with a per-process index of sequence numbers, kept
    /// consistent when the oldest line is evicted.
    #[derive(Default)]
    struct LogStore {
        lines: VecDeque<(u64, LogLine)>,
        by_process: HashMap<u32, VecDeque<u64>>,
        next: u64,
        evicted: u64,
    }

    impl LogStore {
        fn append(&mut self, line: LogLine) {
            if self.lines.len() == RING {
                if let Some((seq, old)) = self.lines.pop_front() {
                    let index = self.by_process.get_mut(&old.process);
                    debug_assert_eq!(index.as_ref().and_then(|i| i.front()), Some(&seq));
                    index.map(VecDeque::pop_front);
                    self.evicted += 1;
                }
            }
            self.by_process.entry(line.process).or_default().push_back(self.next);
            self.lines.push_back((self.next, line));
            self.next += 1;
        }
    }

    enum LogMessage {
        Line(LogLine),
        /// A producer has sent its share of this run.
        Flushed,
    }

    fn log_line(rng: &mut fastrand::Rng, seq: u64) -> LogLine {
        let mut text = [b'.'; 48];
        text[..8].copy_from_slice(&seq.to_le_bytes());
        LogLine { process: rng.u32(0..PROCESSES), text }
    }

    /// A producer/owner crew: producers send lines (`fallback`: insert under the lock when
    /// the channel is full), the owner thread inserts what arrives until every producer
    /// has flushed.
    fn log_channel_contender(id: &str, producers: usize, fallback: bool) -> Contender<'static> {
        Contender::crew(id, producers + 1, move || {
            let store = Arc::new(Mutex::new(LogStore::default()));
            let (tx, rx) = bounded::<LogMessage>(256);
            move |index| -> Work {
                let (store, tx, rx) = (store.clone(), tx.clone(), rx.clone());
                if index == producers {
                    return Box::new(move |_| {
                        let mut flushed = 0;
                        while flushed < producers {
                            match rx.recv().expect("producers live as long as the crew") {
                                LogMessage::Line(line) => store.lock().unwrap().append(line),
                                LogMessage::Flushed => flushed += 1,
                            }
                        }
                    });
                }
                let mut rng = fastrand::Rng::with_seed(index as u64 + 1);
                Box::new(move |total| {
                    for seq in 0..share(total, producers, index) {
                        let line = log_line(&mut rng, seq);
                        if !fallback {
                            tx.send(LogMessage::Line(line)).expect("the owner lives as long as the crew");
                            continue;
                        }
                        match tx.try_send(LogMessage::Line(line)) {
                            Err(TrySendError::Full(LogMessage::Line(line))) => store.lock().unwrap().append(line),
                            Err(error) => panic!("the owner lives as long as the crew: {error}"),
                            Ok(()) => {}
                        }
                    }
                    tx.send(LogMessage::Flushed).expect("the owner lives as long as the crew");
                })
            }
        })
    }

    fn log_store(suite: &mut Suite) {
        for producers in [2, oversubscribed()] {
            let locked = Contender::crew("locked-ring", producers, move || {
                let store = Arc::new(Mutex::new(LogStore::default()));
                move |index| -> Work {
                    let store = store.clone();
                    let mut rng = fastrand::Rng::with_seed(index as u64 + 1);
                    Box::new(move |total| {
                        for seq in 0..share(total, producers, index) {
                            let line = log_line(&mut rng, seq);
                            store.lock().unwrap().append(line);
                        }
                    })
                }
            });
            let contenders = [
                log_channel_contender("hybrid-channel", producers, true),
                log_channel_contender("bounded-channel", producers, false),
                locked,
            ];
            let cell = Cell::new(
                format!("p{producers}"),
                params(producers, json!({ "producers": producers, "ring": RING, "channel": 256 })),
            );
            suite.compare("matrix/log-store", &cell, "hybrid-channel", Some("hybrid-channel"), &contenders);
        }
    }

    // ----- process status and URL registration: maps under a lock ------------------------

    /// A map behind a lock: `read` for lookups, `write` for updates.
    trait SharedMap<K, V>: Send + Sync + 'static {
        fn from_map(map: HashMap<K, V>) -> Self;
        fn read<R>(&self, f: impl FnOnce(&HashMap<K, V>) -> R) -> R;
        fn write<R>(&self, f: impl FnOnce(&mut HashMap<K, V>) -> R) -> R;
    }

    impl<K: Send + Sync + 'static, V: Send + Sync + 'static> SharedMap<K, V> for Mutex<HashMap<K, V>> {
        fn from_map(map: HashMap<K, V>) -> Self {
            Mutex::new(map)
        }
        fn read<R>(&self, f: impl FnOnce(&HashMap<K, V>) -> R) -> R {
            f(&self.lock().unwrap())
        }
        fn write<R>(&self, f: impl FnOnce(&mut HashMap<K, V>) -> R) -> R {
            f(&mut self.lock().unwrap())
        }
    }

    impl<K: Send + Sync + 'static, V: Send + Sync + 'static> SharedMap<K, V> for RwLock<HashMap<K, V>> {
        fn from_map(map: HashMap<K, V>) -> Self {
            RwLock::new(map)
        }
        fn read<R>(&self, f: impl FnOnce(&HashMap<K, V>) -> R) -> R {
            f(&self.read().unwrap())
        }
        fn write<R>(&self, f: impl FnOnce(&mut HashMap<K, V>) -> R) -> R {
            f(&mut self.write().unwrap())
        }
    }

    /// One operation of a map workload, given the thread's random source.
    trait MapWorkload: Send + Sync + 'static {
        type Key: Send + Sync + 'static;
        type Value: Send + Sync + 'static;
        fn initial(&self) -> HashMap<Self::Key, Self::Value>;
        fn operate<M: SharedMap<Self::Key, Self::Value>>(&self, map: &M, rng: &mut fastrand::Rng);
    }

    /// `threads` threads doing the workload's operations on one shared map `M`.
    fn map_contender<W: MapWorkload, M: SharedMap<W::Key, W::Value>>(
        id: &str,
        threads: usize,
        workload: Arc<W>,
    ) -> Contender<'static> {
        Contender::crew(id, threads, move || {
            let map = Arc::new(M::from_map(workload.initial()));
            let workload = workload.clone();
            move |index| -> Work {
                let (map, workload) = (map.clone(), workload.clone());
                let mut rng = fastrand::Rng::with_seed(index as u64 + 1);
                Box::new(move |total| (0..share(total, threads, index)).for_each(|_| workload.operate(&*map, &mut rng)))
            }
        })
    }

    // Copied out whole by every read, as a status query does; not every field is inspected.
    #[allow(dead_code)]
    #[derive(Clone, Copy)]
    struct Status {
        pid: u32,
        state: u8,
        restarts: u32,
        since: u64,
        name: [u8; 32],
    }

    const TRACKED: u32 = 64;

    struct ProcessStatus {
        reads_pct: u8,
    }

    impl MapWorkload for ProcessStatus {
        type Key = u32;
        type Value = Status;
        fn initial(&self) -> HashMap<u32, Status> {
            (0..TRACKED)
                .map(|id| (id, Status { pid: 1000 + id, state: 0, restarts: 0, since: 0, name: [b'p'; 32] }))
                .collect()
        }
        fn operate<M: SharedMap<u32, Status>>(&self, map: &M, rng: &mut fastrand::Rng) {
            let id = rng.u32(0..TRACKED);
            if rng.u8(0..100) < self.reads_pct {
                black_box(map.read(|map| map.get(&id).copied()));
            } else {
                let state = rng.u8(0..4);
                map.write(|map| {
                    if let Some(status) = map.get_mut(&id) {
                        status.state = state;
                        status.restarts += u32::from(state == 3);
                        status.since += 1;
                    }
                });
            }
        }
    }

    enum StatusRequest {
        Get(u32, Sender<Option<Status>>),
        Set(u32, u8),
        /// A client has done its share of this run.
        Done,
    }

    /// The process map owned by one thread; clients send updates and ask for reads.
    fn owner_contender(threads: usize, reads_pct: u8) -> Contender<'static> {
        Contender::crew("owner-thread-channel", threads + 1, move || {
            let (tx, rx) = bounded::<StatusRequest>(1024);
            let mut map = Some(ProcessStatus { reads_pct }.initial());
            move |index| -> Work {
                if index == threads {
                    let (rx, mut map) = (rx.clone(), map.take().expect("one owner"));
                    return Box::new(move |_| {
                        let mut done = 0;
                        while done < threads {
                            match rx.recv().expect("clients live as long as the crew") {
                                StatusRequest::Get(id, reply) => {
                                    reply.send(map.get(&id).copied()).expect("the client waits for its reply")
                                }
                                StatusRequest::Set(id, state) => {
                                    if let Some(status) = map.get_mut(&id) {
                                        status.state = state;
                                        status.restarts += u32::from(state == 3);
                                        status.since += 1;
                                    }
                                }
                                StatusRequest::Done => done += 1,
                            }
                        }
                    });
                }
                let tx = tx.clone();
                let (reply_tx, reply_rx) = bounded(1);
                let mut rng = fastrand::Rng::with_seed(index as u64 + 1);
                Box::new(move |total| {
                    for _ in 0..share(total, threads, index) {
                        let id = rng.u32(0..TRACKED);
                        if rng.u8(0..100) < reads_pct {
                            tx.send(StatusRequest::Get(id, reply_tx.clone()))
                                .expect("the owner lives as long as the crew");
                            black_box(reply_rx.recv().expect("the owner replies"));
                        } else {
                            tx.send(StatusRequest::Set(id, rng.u8(0..4))).expect("the owner lives as long as the crew");
                        }
                    }
                    tx.send(StatusRequest::Done).expect("the owner lives as long as the crew");
                })
            }
        })
    }

    fn process_status(suite: &mut Suite) {
        for threads in [2, oversubscribed()] {
            for reads_pct in [50, 90] {
                let workload = Arc::new(ProcessStatus { reads_pct });
                let contenders = [
                    map_contender::<_, Mutex<HashMap<u32, Status>>>("mutex-map", threads, workload.clone()),
                    map_contender::<_, RwLock<HashMap<u32, Status>>>("rwlock-map", threads, workload),
                    owner_contender(threads, reads_pct),
                ];
                let cell = Cell::new(
                    format!("t{threads}-r{reads_pct}"),
                    params(threads, json!({ "reads_pct": reads_pct, "processes": TRACKED })),
                );
                suite.compare("matrix/process-status", &cell, "mutex-map", Some("mutex-map"), &contenders);
            }
        }
    }

    // A registration's payload; lookups read only the proxy port.
    #[allow(dead_code)]
    #[derive(Clone, Copy)]
    struct Mapping {
        port: u16,
        proxy_port: u16,
    }

    struct UrlRegistration {
        urls: Vec<String>,
        writes_pct: u8,
    }

    impl MapWorkload for UrlRegistration {
        type Key = String;
        type Value = Mapping;
        fn initial(&self) -> HashMap<String, Mapping> {
            self.urls.iter().map(|url| (url.clone(), Mapping { port: 3000, proxy_port: 20000 })).collect()
        }
        fn operate<M: SharedMap<String, Mapping>>(&self, map: &M, rng: &mut fastrand::Rng) {
            let url = &self.urls[rng.usize(0..self.urls.len())];
            if rng.u8(0..100) < self.writes_pct {
                // Registration: a new mapping for the URL (the key is built outside the lock).
                let (key, mapping) =
                    (url.clone(), Mapping { port: rng.u16(3000..4000), proxy_port: rng.u16(20000..30000) });
                black_box(map.write(|map| map.insert(key, mapping)));
            } else {
                black_box(map.read(|map| map.get(url.as_str()).map(|mapping| mapping.proxy_port)));
            }
        }
    }

    fn url_registration(suite: &mut Suite) {
        let urls: Vec<String> = (0..256).map(|i| format!("http://localhost:{}/service-{i}/api", 3000 + i)).collect();
        for threads in [2, oversubscribed()] {
            for writes_pct in [25, 50] {
                let workload = Arc::new(UrlRegistration { urls: urls.clone(), writes_pct });
                let contenders = [
                    map_contender::<_, Mutex<HashMap<String, Mapping>>>("mutex-map", threads, workload.clone()),
                    map_contender::<_, RwLock<HashMap<String, Mapping>>>("rwlock-map", threads, workload),
                ];
                let cell = Cell::new(
                    format!("t{threads}-w{writes_pct}"),
                    params(
                        threads,
                        json!({ "writes_pct": writes_pct, "reads_pct": 100 - writes_pct, "urls": urls.len() }),
                    ),
                );
                suite.compare("matrix/url-registration", &cell, "mutex-map", Some("mutex-map"), &contenders);
            }
        }
    }

    // ----- telemetry ----------------------------------------------------------------------

    #[derive(Clone, Copy)]
    struct Metric {
        id: u16,
        value: u64,
    }

    const METRICS: u16 = 64;
    const BATCH: usize = 64;

    /// What a collector keeps: a sum per metric.
    struct Aggregate([u64; METRICS as usize]);

    impl Aggregate {
        fn add(&mut self, metric: Metric) {
            self.0[usize::from(metric.id)] += metric.value;
        }
    }

    fn metric(rng: &mut fastrand::Rng) -> Metric {
        Metric { id: rng.u16(0..METRICS), value: rng.u64(0..1000) }
    }

    /// Producers record `share` metrics each through `record` (made per producer);
    /// the collector (the last thread) calls `collect` with its quota each run.
    fn telemetry_contender<R, C>(id: &str, producers: usize, setup: impl Fn() -> (R, C) + 'static) -> Contender<'static>
    where
        R: Fn() -> Box<dyn FnMut(Metric, bool) + Send> + 'static,
        C: FnMut(u64) + Send + 'static,
    {
        Contender::crew(id, producers + 1, move || {
            let (make_recorder, collect) = setup();
            let mut collect = Some(collect);
            move |index| -> Work {
                if index == producers {
                    return Box::new(collect.take().expect("one collector"));
                }
                let mut record = make_recorder();
                let mut rng = fastrand::Rng::with_seed(index as u64 + 1);
                Box::new(move |total| {
                    let count = share(total, producers, index);
                    for n in 0..count {
                        record(metric(&mut rng), n + 1 == count);
                    }
                })
            }
        })
    }

    /// A `Mutex<Vec>` batch the producers append to and the collector swaps out.
    #[derive(Default)]
    struct LockedBatch {
        batch: Mutex<Vec<Metric>>,
        not_empty: Condvar,
    }

    fn telemetry(suite: &mut Suite) {
        for producers in [2, oversubscribed()] {
            let buffered = telemetry_contender("buffered-channel", producers, || {
                let (tx, rx) = bounded::<Metric>(1024);
                let record = move || -> Box<dyn FnMut(Metric, bool) + Send> {
                    let tx = tx.clone();
                    Box::new(move |metric, _| tx.send(metric).expect("the collector lives as long as the crew"))
                };
                let mut sums = Aggregate([0; METRICS as usize]);
                (record, move |total| {
                    (0..total).for_each(|_| sums.add(rx.recv().expect("producers live as long as the crew")));
                    black_box(&sums);
                })
            });
            let batches = telemetry_contender("channel-of-batches", producers, || {
                let (tx, rx) = bounded::<Vec<Metric>>(64);
                let record = move || -> Box<dyn FnMut(Metric, bool) + Send> {
                    let (tx, mut batch) = (tx.clone(), Vec::with_capacity(BATCH));
                    Box::new(move |metric, last| {
                        batch.push(metric);
                        if batch.len() == BATCH || last {
                            tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                                .expect("the collector lives as long as the crew");
                        }
                    })
                };
                let mut sums = Aggregate([0; METRICS as usize]);
                (record, move |total| {
                    let mut seen = 0;
                    while seen < total {
                        let batch = rx.recv().expect("producers live as long as the crew");
                        seen += batch.len() as u64;
                        batch.into_iter().for_each(|metric| sums.add(metric));
                    }
                    black_box(&sums);
                })
            });
            let locked = telemetry_contender("locked-batch", producers, || {
                let shared = Arc::new(LockedBatch::default());
                let producer_side = shared.clone();
                let record = move || -> Box<dyn FnMut(Metric, bool) + Send> {
                    let shared = producer_side.clone();
                    Box::new(move |metric, _| {
                        let mut batch = shared.batch.lock().unwrap();
                        batch.push(metric);
                        let first = batch.len() == 1;
                        drop(batch);
                        // Only the first item of a batch can find the collector waiting.
                        if first {
                            shared.not_empty.notify_one();
                        }
                    })
                };
                let (mut sums, mut spare) = (Aggregate([0; METRICS as usize]), Vec::new());
                (record, move |total| {
                    let mut seen = 0;
                    while seen < total {
                        let mut batch = shared.batch.lock().unwrap();
                        while batch.is_empty() {
                            batch = shared.not_empty.wait(batch).unwrap();
                        }
                        std::mem::swap(&mut *batch, &mut spare);
                        drop(batch);
                        seen += spare.len() as u64;
                        spare.drain(..).for_each(|metric| sums.add(metric));
                    }
                    black_box(&sums);
                })
            });
            let cell = Cell::new(
                format!("p{producers}"),
                params(producers + 1, json!({ "producers": producers, "channel": 1024, "batch": BATCH })),
            );
            suite.compare(
                "matrix/telemetry",
                &cell,
                "buffered-channel",
                Some("buffered-channel"),
                &[buffered, locked, batches],
            );
        }
    }

    pub fn main() {
        let mut suite = Suite::new("decision_matrix");
        event_bus(&mut suite);
        log_store(&mut suite);
        process_status(&mut suite);
        url_registration(&mut suite);
        telemetry(&mut suite);
        suite.finish();
    }
}

fn main() {
    // The model-checking builds have no criterion: these benches measure real threads only.
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    suite::main();
}
