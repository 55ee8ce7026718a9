//! Shared machinery of the decision benches (locks, channels, counters, decision matrix).
//!
//! - [`Suite`]: one per bench binary: criterion with this suite's budgets, the number of
//!   rounds, and the side file the report generator (`cargo bench-report`) reads.
//! - [`Suite::compare`]: runs every contender of one cell, in rounds whose order
//!   alternates (A B C, then C B A, ...): a machine that slows down or speeds up during
//!   the cell biases no contender, and comparing a contender with itself across rounds
//!   measures the noise band.
//! - [`Crew`]: worker threads spawned once per benchmark, released together through a
//!   barrier for each `iter_custom` call; [`Tasks`]: the same with tokio tasks on a runtime
//!   built once per benchmark. An operation is one operation by any thread, so a time per
//!   operation is the inverse of the whole system's throughput. One criterion iteration is
//!   a batch of operations (see [`batch_size`]; criterion's throughput figure is
//!   operations per second).
//! - [`Spin`]: calibrated busy work, so critical sections are given in nanoseconds.
//! - Machine facts: each bench thread's CPU time and run-queue wait (from
//!   `/proc/thread-self/schedstat`), the share of the machine other processes used during
//!   each benchmark (`/proc/stat` minus this process), and the CPU's speed just before and
//!   after it against the calibration, stored per benchmark.
//!
//! - Allocations: a bench binary that installs the counting allocator
//!   (`#[global_allocator] static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;`,
//!   from the `stats_alloc` crate, so no `unsafe` here) and hands it to
//!   [`Suite::count_allocations`] gets, per benchmark, the allocations and bytes per
//!   operation of one extra, untimed run of a batch: every thread's, workers included.
//!   Counting costs a few relaxed atomic additions per allocation in every run of that
//!   binary, timed ones too, so a contender that allocates more also pays a little more
//!   for the counting; the alternating rounds keep that the same in every round.
//!
//! Budgets: `RACEKIT_BENCH_MODE=quick|full` (or criterion's `--quick`, which means quick)
//! picks the default warm-up, measurement time, sample count and rounds; criterion's own
//! `--warm-up-time`, `--measurement-time` and `--sample-size` override them, and
//! `RACEKIT_BENCH_ROUNDS` overrides the rounds.

// Each bench binary includes this module and uses part of it.
#![allow(dead_code)]

mod home;
use home::criterion_home;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use serde::Serialize;
use serde_json::{json, Value};
use stats_alloc::StatsAlloc;
use std::alloc::System;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One thread's share of the work: `total` operations split over `parts` as evenly as
/// possible (the first `total % parts` get one more).
pub fn share(total: u64, parts: usize, index: usize) -> u64 {
    let parts = parts as u64;
    total / parts + u64::from((index as u64) < total % parts)
}

/// Logical cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The oversubscribed thread count of every suite: four threads per core (at least 4).
pub fn oversubscribed() -> usize {
    (4 * cores()).max(4)
}

/// `1`, `2` and the oversubscribed count: the thread axis of the lock and counter benches.
pub fn thread_axis() -> Vec<usize> {
    vec![1, 2, oversubscribed()]
}

/// The parameters every cell records about its threads.
pub fn thread_params(threads: usize) -> Value {
    json!({ "threads": threads, "cores": cores(), "oversubscribed": threads > cores() })
}

/// A nanosecond count as a short label: `0ns`, `100ns`, `1us`, `10us`.
pub fn ns_label(ns: u64) -> String {
    match ns {
        n if n >= 1000 && n % 1000 == 0 => format!("{}us", n / 1000),
        n => format!("{n}ns"),
    }
}

/// Busy work whose length is calibrated in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct Spin {
    ns_per_unit: f64,
}

impl Spin {
    /// Times the spin loop on this machine: the fastest of several runs, so a loaded
    /// machine does not make the work look longer than it is.
    pub fn calibrate() -> Spin {
        const UNITS: u64 = 400_000;
        let best = (0..9)
            .map(|_| {
                let start = Instant::now();
                spin(UNITS);
                start.elapsed()
            })
            .min()
            .unwrap_or(Duration::from_nanos(UNITS));
        Spin { ns_per_unit: best.as_nanos() as f64 / UNITS as f64 }
    }

    /// How many spin units take `ns` nanoseconds.
    pub fn units(&self, ns: u64) -> u64 {
        (ns as f64 / self.ns_per_unit).round() as u64
    }

    /// How fast this core runs now relative to the calibration (1.0: as fast; 0.5: half as
    /// fast): the best of three 100 µs spins. On a virtual machine a busy neighbour (another
    /// guest on the same physical core) slows the CPU without showing in `/proc/stat`; this
    /// shows it.
    pub fn speed(&self) -> f64 {
        let units = self.units(100_000);
        let best = (0..3)
            .map(|_| {
                let start = Instant::now();
                spin(units);
                start.elapsed()
            })
            .min()
            .unwrap_or(Duration::from_micros(100));
        units as f64 * self.ns_per_unit / best.as_nanos().max(1) as f64
    }

    /// The calibration, for the side file.
    pub fn ns_per_unit(&self) -> f64 {
        self.ns_per_unit
    }
}

/// `units` rounds of work the optimiser cannot remove.
#[inline]
pub fn spin(units: u64) {
    let mut x = 0u64;
    for i in 0..units {
        x = black_box(x ^ i);
    }
    black_box(x);
}

/// CPU time and run-queue wait of the threads of one benchmark.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    threads: u64,
    exec_ns: u64,
    wait_ns: u64,
}

/// Where the threads of one benchmark add their CPU accounting when they end.
#[derive(Clone, Default)]
pub struct Probe(Arc<Mutex<Tally>>);

impl Probe {
    fn add(&self, exec_ns: u64, wait_ns: u64) {
        let mut tally = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tally.threads += 1;
        tally.exec_ns += exec_ns;
        tally.wait_ns += wait_ns;
    }

    fn tally(&self) -> Tally {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// This thread's (CPU time, run-queue wait) in ns so far; zeros where the kernel does not say.
fn thread_schedstat() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().unwrap_or(0));
    (fields.next().unwrap_or(0), fields.next().unwrap_or(0))
}

/// Reads the thread's accounting when made and adds the difference to the probe when dropped.
struct ThreadClock {
    probe: Probe,
    start: (u64, u64),
}

impl ThreadClock {
    fn start(probe: Probe) -> ThreadClock {
        ThreadClock { probe, start: thread_schedstat() }
    }
}

impl Drop for ThreadClock {
    fn drop(&mut self) {
        let (exec, wait) = thread_schedstat();
        self.probe.add(exec.saturating_sub(self.start.0), wait.saturating_sub(self.start.1));
    }
}

/// Something that performs `ops` operations of one contender and says how long that took.
pub trait Runner {
    /// Runs `ops` operations (spread over the runner's threads or tasks); returns the wall time.
    fn run(&mut self, ops: u64) -> Duration;
}

/// The work of one crew thread: called with the total operation count of one timed run.
pub type Work = Box<dyn FnMut(u64) + Send>;

struct CrewControl {
    go: Barrier,
    done: Barrier,
    ops: AtomicU64,
    stop: AtomicBool,
    /// The earliest start and latest end of a run's work, as the threads saw them.
    span: Mutex<Option<(Instant, Instant)>>,
}

impl CrewControl {
    fn record(&self, start: Instant, end: Instant) {
        let mut span = self.span.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *span = Some(match *span {
            Some((first, last)) => (first.min(start), last.max(end)),
            None => (start, end),
        });
    }
}

/// Threads spawned once, released together for every timed run, joined on drop.
pub struct Crew {
    control: Arc<CrewControl>,
    handles: Vec<JoinHandle<()>>,
}

impl Crew {
    /// Spawns `threads` threads; thread `i` runs `work(i)` once per timed run.
    pub fn spawn(threads: usize, probe: &Probe, mut work: impl FnMut(usize) -> Work) -> Crew {
        let control = Arc::new(CrewControl {
            go: Barrier::new(threads + 1),
            done: Barrier::new(threads + 1),
            ops: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            span: Mutex::new(None),
        });
        let handles = (0..threads)
            .map(|index| {
                let control = control.clone();
                let probe = probe.clone();
                let mut work = work(index);
                std::thread::Builder::new()
                    .name(format!("bench-{index}"))
                    .spawn(move || {
                        let _clock = ThreadClock::start(probe);
                        loop {
                            control.go.wait();
                            // Relaxed: the barrier orders the store before the wait.
                            if control.stop.load(Ordering::Relaxed) {
                                return;
                            }
                            let start = Instant::now();
                            work(control.ops.load(Ordering::Relaxed));
                            control.record(start, Instant::now());
                            control.done.wait();
                        }
                    })
                    .expect("the system refused to spawn a bench thread")
            })
            .collect();
        Crew { control, handles }
    }
}

impl Runner for Crew {
    /// The time from the first thread starting its work to the last finishing: the
    /// barrier's wake-up of this thread is not counted, which matters for short runs on an
    /// oversubscribed machine.
    fn run(&mut self, ops: u64) -> Duration {
        // Relaxed: the barrier below publishes it to every thread.
        self.control.ops.store(ops, Ordering::Relaxed);
        let fallback = Instant::now();
        self.control.go.wait();
        self.control.done.wait();
        let span = self.control.span.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        span.map_or_else(|| fallback.elapsed(), |(first, last)| last - first)
    }
}

impl Drop for Crew {
    fn drop(&mut self) {
        // Relaxed: the barrier orders it before the threads look.
        self.control.stop.store(true, Ordering::Relaxed);
        self.control.go.wait();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

/// A boxed task body, as [`Tasks`] spawns it.
pub type TaskFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The task body of [`Tasks`]: called with (task index, total operations of the run).
pub type TaskWork = Arc<dyn Fn(usize, u64) -> TaskFuture + Send + Sync>;

/// tokio tasks on a multi-threaded runtime (one worker per core) built once per benchmark.
pub struct Tasks {
    runtime: Option<tokio::runtime::Runtime>,
    tasks: usize,
    work: TaskWork,
}

thread_local! {
    static RUNTIME_THREAD_START: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

impl Tasks {
    /// A runtime whose workers report to `probe`, spawning `tasks` tasks per timed run.
    pub fn new(tasks: usize, probe: &Probe, work: TaskWork) -> Tasks {
        let stop_probe = probe.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores())
            .enable_all()
            .on_thread_start(|| RUNTIME_THREAD_START.with(|start| start.set(thread_schedstat())))
            .on_thread_stop(move || {
                let (start_exec, start_wait) = RUNTIME_THREAD_START.with(|start| start.get());
                let (exec, wait) = thread_schedstat();
                stop_probe.add(exec.saturating_sub(start_exec), wait.saturating_sub(start_wait));
            })
            .build()
            .expect("could not build the tokio runtime");
        Tasks { runtime: Some(runtime), tasks, work }
    }
}

impl Runner for Tasks {
    fn run(&mut self, ops: u64) -> Duration {
        let runtime = self.runtime.as_ref().expect("the runtime lives until drop");
        let (tasks, work) = (self.tasks, self.work.clone());
        let start = Instant::now();
        runtime.block_on(async move {
            let handles: Vec<_> = (0..tasks).map(|index| tokio::spawn(work(index, ops))).collect();
            for handle in handles {
                handle.await.expect("a bench task panicked");
            }
        });
        start.elapsed()
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Waits for the workers, so their `on_thread_stop` has reported before we read.
            runtime.shutdown_timeout(Duration::from_secs(10));
        }
    }
}

/// How many operations make one criterion iteration: the smallest power of two that takes
/// at least 1 ms (the fastest of three runs, so the first run of a freshly started
/// contender, its threads or runtime still cold, does not stop the search at one
/// operation). Every run pays a fixed cost: waking the threads, and on a loaded machine
/// waiting for a core, which can take 100 µs and more; an iteration of 1 ms keeps that a
/// small share of the time per operation, and criterion, which sizes its samples from a
/// warm-up whose timing includes it, cannot think an operation takes milliseconds.
fn batch_size(runner: &mut dyn Runner) -> u64 {
    const TARGET: Duration = Duration::from_millis(1);
    let mut ops = 1;
    while ops < 1 << 24 && (0..3).map(|_| runner.run(ops)).min().unwrap_or(TARGET) < TARGET {
        ops *= 2;
    }
    ops
}

/// Starts one contender's threads (or runtime) for one benchmark.
type Start<'a> = Box<dyn Fn(&Probe) -> Box<dyn Runner> + 'a>;

/// One contender of a comparison: its id and how to start it (threads spawned once).
pub struct Contender<'a> {
    id: String,
    start: Start<'a>,
}

impl<'a> Contender<'a> {
    /// A contender run by `start`, called once per benchmark.
    pub fn new<R: Runner + 'static>(id: impl Into<String>, start: impl Fn(&Probe) -> R + 'a) -> Contender<'a> {
        Contender { id: id.into(), start: Box::new(move |probe| Box::new(start(probe))) }
    }

    /// A contender run by a [`Crew`] of `threads` threads. `setup` is called once per
    /// benchmark: it builds the shared state and returns the maker of each thread's work.
    pub fn crew<M: FnMut(usize) -> Work>(
        id: impl Into<String>,
        threads: usize,
        setup: impl Fn() -> M + 'a,
    ) -> Contender<'a> {
        Contender::new(id, move |probe| Crew::spawn(threads, probe, setup()))
    }

    /// A contender run as `tasks` tokio [`Tasks`]; `setup` builds the shared state once per
    /// benchmark and returns the task body.
    pub fn tasks(id: impl Into<String>, tasks: usize, setup: impl Fn() -> TaskWork + 'a) -> Contender<'a> {
        Contender::new(id, move |probe| Tasks::new(tasks, probe, setup()))
    }
}

/// One point of a comparison's parameter space: a short label (part of the benchmark id)
/// and its parameters (stored for the report).
pub struct Cell {
    label: String,
    params: Value,
}

impl Cell {
    /// A cell labelled `label` whose parameters are the JSON object `params`.
    pub fn new(label: impl Into<String>, params: Value) -> Cell {
        Cell { label: label.into(), params }
    }
}

/// System-wide and own CPU ticks, to tell how much of the machine others used.
#[derive(Clone, Copy)]
struct MachineSample {
    at: Instant,
    busy_ticks: u64,
    all_ticks: u64,
    own_ticks: u64,
}

impl MachineSample {
    fn now() -> MachineSample {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu: Vec<u64> =
            stat.lines().next().unwrap_or("").split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
        let field = |i: usize| cpu.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal: idle and iowait are the free time.
        let busy_ticks = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
        let all_ticks = busy_ticks + field(3) + field(4);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
        let after_name = own.rsplit_once(')').map_or("", |(_, rest)| rest);
        let own_fields: Vec<u64> = after_name.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
        let own_ticks = own_fields.get(11).copied().unwrap_or(0) + own_fields.get(12).copied().unwrap_or(0);
        MachineSample { at: Instant::now(), busy_ticks, all_ticks, own_ticks }
    }

    /// The share of the machine's CPU capacity used by other processes since `earlier`.
    fn others_share_since(&self, earlier: &MachineSample) -> Option<f64> {
        let all = self.all_ticks.saturating_sub(earlier.all_ticks);
        let others = self
            .busy_ticks
            .saturating_sub(earlier.busy_ticks)
            .saturating_sub(self.own_ticks.saturating_sub(earlier.own_ticks));
        (all > 0).then(|| others as f64 / all as f64)
    }
}

fn loadavg() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .filter_map(|f| f.parse().ok())
        .collect()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name").map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What the side file says about one benchmark (one contender, one cell, one round).
#[derive(Serialize)]
struct Entry {
    group: String,
    contender: String,
    value: String,
    cell: String,
    params: Value,
    round: usize,
    position: usize,
    /// Operations per criterion iteration: criterion's times divide by this to give ns per operation.
    ops_per_iteration: u64,
    baseline: String,
    recommended: Option<String>,
    /// Threads the contender ran (runtime workers for tokio contenders).
    threads: u64,
    timed_runs: u64,
    timed_ns: u64,
    /// CPU time its threads got, per thread and per timed second (blocking threads sleep, so
    /// below 1 is not by itself a sign of a busy machine).
    cpu_share: Option<f64>,
    /// Time its threads were runnable but waiting for a core, per thread and timed second.
    runqueue_share: Option<f64>,
    /// Share of the machine's CPU capacity other processes used during the benchmark.
    others_share: Option<f64>,
    /// The slower of the CPU speeds (see [`Spin::speed`]) measured just before and just after.
    cpu_speed: f64,
    /// Allocations (reallocations included) per operation, all threads, when counted.
    allocations_per_op: Option<f64>,
    /// Bytes allocated per operation, all threads, when counted.
    bytes_per_op: Option<f64>,
}

/// The side file of one bench binary: machine facts and one entry per benchmark.
#[derive(Serialize)]
struct SideFile {
    bench: String,
    mode: String,
    rounds: usize,
    args: Vec<String>,
    cores: usize,
    cpu_model: String,
    kernel: String,
    spin_ns_per_unit: f64,
    loadavg_before: Vec<f64>,
    loadavg_after: Vec<f64>,
    others_share: Option<f64>,
    started_unix: u64,
    finished_unix: u64,
    wall_seconds: f64,
    entries: Vec<Entry>,
}

/// One bench binary's runner: criterion, rounds, and the side file.
pub struct Suite {
    criterion: Criterion,
    side: SideFile,
    started: MachineSample,
    /// Calibrated busy work for critical sections and handlers.
    pub spin: Spin,
    /// The bench binary's counting allocator, when it installed one.
    allocator: Option<&'static StatsAlloc<System>>,
}

impl Suite {
    /// Sets up criterion with this run's budgets (see the module docs) and records the
    /// machine's state before the run.
    pub fn new(bench: &str) -> Suite {
        let args: Vec<String> = std::env::args().collect();
        let mode = std::env::var("RACEKIT_BENCH_MODE")
            .unwrap_or_else(|_| if args.iter().any(|a| a == "--quick") { "quick" } else { "full" }.to_string());
        let quick = mode == "quick";
        let rounds = std::env::var("RACEKIT_BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .filter(|&r: &usize| r > 0)
            .unwrap_or(if quick { 1 } else { 4 });
        // Full: four short rounds rather than two long ones, so a slow phase of a shared
        // machine (seconds long) lands in one round of a cell, not in half of it.
        let (warm_up, measurement, samples) = if quick {
            // A smoke run proves each bench runs and is read, not what it measures.
            (Duration::from_millis(5), Duration::from_millis(10), 10)
        } else {
            (Duration::from_millis(30), Duration::from_millis(120), 20)
        };
        let criterion = Criterion::default()
            .warm_up_time(warm_up)
            .measurement_time(measurement)
            .sample_size(samples)
            .nresamples(2_000)
            .without_plots()
            .configure_from_args();
        let spin = Spin::calibrate();
        let side = SideFile {
            bench: bench.to_string(),
            mode,
            rounds,
            args,
            cores: cores(),
            cpu_model: cpu_model(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string(),
            spin_ns_per_unit: spin.ns_per_unit(),
            loadavg_before: loadavg(),
            loadavg_after: Vec::new(),
            others_share: None,
            started_unix: unix_now(),
            finished_unix: 0,
            wall_seconds: 0.0,
            entries: Vec::new(),
        };
        Suite { criterion, side, started: MachineSample::now(), spin, allocator: None }
    }

    /// Records allocations per operation for every benchmark, from `allocator`, which
    /// must be this binary's global allocator (see the module docs).
    pub fn count_allocations(mut self, allocator: &'static StatsAlloc<System>) -> Suite {
        self.allocator = Some(allocator);
        self
    }

    /// Benchmarks every contender of `cell` in group `group`, in alternating rounds.
    /// `baseline` is the contender ratios are taken against; `recommended`, the one a rule
    /// under test recommends (if any).
    pub fn compare(
        &mut self,
        group: &str,
        cell: &Cell,
        baseline: &str,
        recommended: Option<&str>,
        contenders: &[Contender<'_>],
    ) {
        for round in 0..self.side.rounds {
            let mut order: Vec<&Contender<'_>> = contenders.iter().collect();
            if round % 2 == 1 {
                order.reverse();
            }
            let value =
                if self.side.rounds > 1 { format!("{}-round{}", cell.label, round) } else { cell.label.clone() };
            let mut criterion_group = self.criterion.benchmark_group(group);
            criterion_group.sampling_mode(SamplingMode::Flat);
            for (position, contender) in order.into_iter().enumerate() {
                let probe = Probe::default();
                let speed_before = self.spin.speed();
                let before = MachineSample::now();
                let mut runner = (contender.start)(&probe);
                let batch = batch_size(&mut *runner);
                criterion_group.throughput(Throughput::Elements(batch));
                let (mut timed, mut runs) = (Duration::ZERO, 0u64);
                criterion_group.bench_function(BenchmarkId::new(contender.id.as_str(), &value), |b| {
                    b.iter_custom(|batches| {
                        let took = runner.run(batches * batch);
                        timed += took;
                        runs += 1;
                        took
                    });
                });
                if runs == 0 {
                    continue; // filtered out by the command line
                }
                let allocations = self.allocator.map(|allocator| allocations_per_op(allocator, &mut *runner, batch));
                // Joins the threads: their accounting is in the probe after this.
                drop(runner);
                let after = MachineSample::now();
                let cpu_speed = speed_before.min(self.spin.speed());
                let tally = probe.tally();
                let per_thread_second = |ns: u64| {
                    (tally.threads > 0 && !timed.is_zero())
                        .then(|| ns as f64 / (tally.threads as f64 * timed.as_nanos() as f64))
                };
                self.side.entries.push(Entry {
                    group: group.to_string(),
                    contender: contender.id.clone(),
                    value: value.clone(),
                    cell: cell.label.clone(),
                    params: cell.params.clone(),
                    round,
                    position,
                    ops_per_iteration: batch,
                    baseline: baseline.to_string(),
                    recommended: recommended.map(str::to_string),
                    threads: tally.threads,
                    timed_runs: runs,
                    timed_ns: timed.as_nanos() as u64,
                    cpu_share: per_thread_second(tally.exec_ns),
                    runqueue_share: per_thread_second(tally.wait_ns),
                    others_share: after.others_share_since(&before).filter(|_| after.at > before.at),
                    cpu_speed,
                    allocations_per_op: allocations.map(|a| a.0),
                    bytes_per_op: allocations.map(|a| a.1),
                });
            }
            criterion_group.finish();
        }
    }

    /// Prints criterion's summary and writes the side file next to criterion's output.
    pub fn finish(mut self) {
        self.criterion.final_summary();
        let now = MachineSample::now();
        self.side.loadavg_after = loadavg();
        self.side.others_share = now.others_share_since(&self.started);
        self.side.finished_unix = unix_now();
        self.side.wall_seconds = now.at.duration_since(self.started.at).as_secs_f64();
        if self.side.entries.is_empty() {
            return; // a filtered or test-mode run: nothing measured, keep any earlier file
        }
        let dir = criterion_home().join("racekit");
        let path = dir.join(format!("{}.json", self.side.bench));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, serde_json::to_vec_pretty(&self.side).unwrap_or_default()));
        if let Err(error) = written {
            eprintln!("could not write {}: {error}; the report will lack this run's machine facts", path.display());
        }
    }
}

/// (allocations, bytes) per operation over one untimed run of `ops` operations, counted by
/// every thread of the process (a contender's workers and runtime included).
fn allocations_per_op(allocator: &StatsAlloc<System>, runner: &mut dyn Runner, ops: u64) -> (f64, f64) {
    let before = allocator.stats();
    runner.run(ops);
    let after = allocator.stats();
    let count = (after.allocations + after.reallocations).saturating_sub(before.allocations + before.reallocations);
    let bytes = after.bytes_allocated.saturating_sub(before.bytes_allocated);
    (count as f64 / ops.max(1) as f64, bytes as f64 / ops.max(1) as f64)
}
