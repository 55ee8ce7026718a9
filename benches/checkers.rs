//! What racekit's harness costs over the checkers it drives: schedules per second of
//! `racekit::model::check` against raw `loom::model` (the same preemption bound) and raw
//! `shuttle::check_random` (the same number of random schedules), on a few small passing
//! models, and the time to a failure of a model with a lost update, against raw loom's.
//!
//! Each model is written once, as a macro over the primitives it uses: racekit's facade
//! for the harness, loom's or shuttle's own for the raw checker, so both explore the same
//! program. racekit's loom backend explores bound 1, then 2 (a shallow bug is found in
//! bound 1's few executions); raw loom explores bound 2 at once, whose executions include
//! bound 1's. Schedules per second compares them; the whole time is shown beside.
//!
//! Built per backend (`--cfg racekit_loom`, `--cfg racekit_shuttle`); the real-threads
//! build has no checker to compare with and prints so. `cargo bench-report --checkers`
//! builds and runs it under both and adds a section to the report; by hand:
//! `RUSTFLAGS="--cfg racekit_loom" CARGO_TARGET_DIR=target/loom cargo bench --bench checkers`.
//! It writes `<criterion>/racekit/checkers-<backend>.json` (`$CRITERION_HOME`, else
//! `target/criterion` of the target folder it was built in); `RACEKIT_BENCH_MODE=quick`
//! runs each measurement once instead of five times. The contenders of a model take turns,
//! one run each per round, and each reports its median.
//!
//! The facade adds checker operations the raw primitives lack. Under shuttle its `Arc`
//! makes each clone a scheduling point, where shuttle's own `Arc` (std's) makes none; under
//! loom each lock carries a loom atomic that every release updates (so that a failing
//! `try_lock` is reachable, see `racekit::sync`). Either way the checker does more work per
//! schedule under the facade whatever the harness costs. The `bounds` of the file (and the
//! `loom bound:` and `shuttle bound:` lines) measure the raw checker on the same models with
//! those same operations added: its rate bounds what any harness over the facade can reach,
//! and the rest of racekit's time per schedule is the harness's own.

#[cfg(any(racekit_loom, racekit_shuttle))]
#[path = "common/home.rs"]
mod home;

#[cfg(any(racekit_loom, racekit_shuttle))]
mod compare {
    use serde_json::{json, Value};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicU64, Ordering as StdOrdering};
    use std::time::{Duration, Instant};

    /// The preemption bound of both loom runs.
    pub const BOUND: usize = 2;
    /// Random schedules of both shuttle runs.
    pub const SCHEDULES: usize = 2_000;

    /// Executions of raw-checker bodies, counted by the bodies themselves (a std atomic:
    /// it counts outside the model, and no checker sees it).
    pub static RAW_EXECUTIONS: AtomicU64 = AtomicU64::new(0);

    /// The models, over one set of primitives `$p` (a module with `Arc`, `Mutex`, `lock`,
    /// `AtomicUsize`, `Ordering` and `spawn`).
    macro_rules! models {
        ($p:path) => {
            use $p as p;

            /// Three threads increment a counter under a lock.
            pub fn locked_counter() {
                let counter = p::Arc::new(p::Mutex::new(0u32));
                let threads: Vec<_> = (0..3)
                    .map(|_| {
                        let counter = counter.clone();
                        p::spawn(move || *p::lock(&counter) += 1)
                    })
                    .collect();
                threads.into_iter().for_each(|t| t.join().expect("an incrementing thread"));
                assert_eq!(*p::lock(&counter), 3);
            }

            /// Two threads add to an atomic; a third reads it twice, never seeing it go back.
            pub fn monotonic_atomic() {
                let value = p::Arc::new(p::AtomicUsize::new(0));
                let adders: Vec<_> = (0..2)
                    .map(|_| {
                        let value = value.clone();
                        p::spawn(move || {
                            value.fetch_add(1, p::Ordering::AcqRel);
                        })
                    })
                    .collect();
                let reader = {
                    let value = value.clone();
                    p::spawn(move || {
                        let first = value.load(p::Ordering::Acquire);
                        assert!(value.load(p::Ordering::Acquire) >= first);
                    })
                };
                adders.into_iter().for_each(|t| t.join().expect("an adding thread"));
                reader.join().expect("the reader");
                assert_eq!(value.load(p::Ordering::Acquire), 2);
            }

            /// A value published under a lock with a flag: whoever sees the flag sees the value
            /// (a reader thread and the main thread look).
            pub fn publish_under_lock() {
                let slot = p::Arc::new(p::Mutex::new(None::<u32>));
                let ready = p::Arc::new(p::AtomicUsize::new(0));
                let writer = {
                    let (slot, ready) = (slot.clone(), ready.clone());
                    p::spawn(move || {
                        *p::lock(&slot) = Some(7);
                        ready.store(1, p::Ordering::Release);
                    })
                };
                let look = {
                    let (slot, ready) = (slot.clone(), ready.clone());
                    move || {
                        if ready.load(p::Ordering::Acquire) == 1 {
                            assert_eq!(*p::lock(&slot), Some(7));
                        }
                    }
                };
                let reader = p::spawn(look.clone());
                look();
                writer.join().expect("the writer");
                reader.join().expect("the reader");
            }

            /// A lost update: two threads load, then store one more. Fails.
            pub fn lost_update() {
                let value = p::Arc::new(p::AtomicUsize::new(0));
                let threads: Vec<_> = (0..2)
                    .map(|_| {
                        let value = value.clone();
                        p::spawn(move || {
                            let seen = value.load(p::Ordering::Acquire);
                            value.store(seen + 1, p::Ordering::Release);
                        })
                    })
                    .collect();
                threads.into_iter().for_each(|t| t.join().expect("an updating thread"));
                assert_eq!(value.load(p::Ordering::Acquire), 2, "an update was lost");
            }

            /// The passing models, by name.
            pub const PASSING: [(&str, fn()); 3] = [
                ("locked counter (3 threads)", locked_counter),
                ("monotonic atomic (3 threads)", monotonic_atomic),
                ("publish under a lock (3 threads)", publish_under_lock),
            ];
        };
    }

    /// racekit's facade.
    pub mod facade {
        pub use racekit::sync::atomic::{AtomicUsize, Ordering};
        pub use racekit::sync::thread::spawn;
        pub use racekit::sync::{Arc, Mutex, MutexGuard};

        pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
            mutex.lock()
        }
    }

    /// The raw checker's own primitives.
    pub mod raw {
        #[cfg(racekit_loom)]
        use loom as checker;
        #[cfg(racekit_shuttle)]
        use shuttle as checker;

        pub use checker::sync::atomic::{AtomicUsize, Ordering};
        pub use checker::sync::{Arc, Mutex, MutexGuard};
        pub use checker::thread::spawn;

        pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
            mutex.lock().expect("no model thread panics holding it")
        }
    }

    pub mod with_facade {
        models!(super::facade);
    }

    pub mod with_raw {
        models!(super::raw);
    }

    /// loom's own primitives with the facade's operations: a lock whose release updates a
    /// loom atomic (as the facade's does under loom).
    #[cfg(racekit_loom)]
    pub mod raw_with_facade_points {
        pub use super::raw::{spawn, Arc, AtomicUsize, Ordering};
        use std::ops::{Deref, DerefMut};

        /// loom's `Mutex` with the facade's per-lock atomic.
        pub struct Mutex<T> {
            inner: loom::sync::Mutex<T>,
            touched: AtomicUsize,
        }

        impl<T> Mutex<T> {
            pub fn new(value: T) -> Self {
                Mutex { inner: loom::sync::Mutex::new(value), touched: AtomicUsize::new(0) }
            }
        }

        /// Updates the lock's atomic on release, while the lock is still held.
        pub struct MutexGuard<'a, T> {
            inner: loom::sync::MutexGuard<'a, T>,
            touched: &'a AtomicUsize,
        }

        impl<T> Drop for MutexGuard<'_, T> {
            fn drop(&mut self) {
                if !std::thread::panicking() {
                    self.touched.fetch_add(1, Ordering::Relaxed);
                }
            }
        }

        impl<T> Deref for MutexGuard<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.inner
            }
        }

        impl<T> DerefMut for MutexGuard<'_, T> {
            fn deref_mut(&mut self) -> &mut T {
                &mut self.inner
            }
        }

        pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
            MutexGuard { inner: super::raw::lock(&mutex.inner), touched: &mutex.touched }
        }
    }

    /// shuttle's own primitives with the facade's scheduling points: an `Arc` whose clone is
    /// one (as the facade's is under shuttle).
    #[cfg(racekit_shuttle)]
    pub mod raw_with_facade_points {
        pub use super::raw::{lock, spawn, AtomicUsize, Mutex, Ordering};

        /// std's `Arc` with a scheduling point at each clone, as the facade's.
        pub struct Arc<T>(std::sync::Arc<T>);

        impl<T> Arc<T> {
            pub fn new(value: T) -> Self {
                Arc(std::sync::Arc::new(value))
            }
        }

        impl<T> Clone for Arc<T> {
            fn clone(&self) -> Self {
                if !std::thread::panicking() {
                    shuttle_engine::runtime::thread::continuation::switch();
                }
                Arc(self.0.clone())
            }
        }

        impl<T> std::ops::Deref for Arc<T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.0
            }
        }
    }

    // Only the passing models bound the harness: the failing one goes unused here.
    #[allow(dead_code)]
    pub mod with_raw_facade_points {
        models!(super::raw_with_facade_points);
    }

    /// One timed exploration: schedules explored and how long it took.
    #[derive(Clone, Copy)]
    pub struct Timed {
        pub schedules: u64,
        pub elapsed: Duration,
    }

    /// racekit's check of `body`; the failure's schedules and time when it fails.
    fn harness(name: &str, body: fn()) -> Timed {
        let model = racekit::model::Model::named(name);
        #[cfg(racekit_loom)]
        let model = model.preemption_bound(BOUND);
        #[cfg(racekit_shuttle)]
        let model = model.iterations(SCHEDULES).scheduler(racekit::model::SchedulerChoice::Random);
        match model.run(body) {
            Ok(report) => Timed { schedules: report.schedules, elapsed: report.elapsed },
            Err(failure) => Timed { schedules: failure.schedules, elapsed: failure.elapsed },
        }
    }

    /// The raw checker on `body`, counting executions; a failing body's panic ends it.
    fn raw(body: fn()) -> Timed {
        RAW_EXECUTIONS.store(0, StdOrdering::Relaxed);
        let counted = move || {
            RAW_EXECUTIONS.fetch_add(1, StdOrdering::Relaxed);
            body();
        };
        let start = Instant::now();
        #[cfg(racekit_loom)]
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut builder = loom::model::Builder::new();
            builder.preemption_bound = Some(BOUND);
            builder.check(counted);
        }));
        #[cfg(racekit_shuttle)]
        let outcome = catch_unwind(AssertUnwindSafe(|| shuttle::check_random(counted, SCHEDULES)));
        let elapsed = start.elapsed();
        drop(outcome);
        Timed { schedules: RAW_EXECUTIONS.load(StdOrdering::Relaxed), elapsed }
    }

    /// The median by schedules per second of `runs` measurements.
    fn median(mut measured: Vec<Timed>) -> Timed {
        measured.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
        measured[measured.len() / 2]
    }

    fn rate(timed: &Timed) -> f64 {
        timed.schedules as f64 / timed.elapsed.as_secs_f64().max(1e-9)
    }

    /// One contender's measurement, as the JSON file records it.
    fn measured(timed: &Timed) -> Value {
        json!({ "schedules": timed.schedules, "seconds": timed.elapsed.as_secs_f64(), "per_second": rate(timed) })
    }

    fn row(model: &str, what: &str, harness: Timed, raw: Timed) -> Value {
        json!({ "model": model, "measure": what, "racekit": measured(&harness), "raw": measured(&raw) })
    }

    /// Medians of `runs` rounds, each running every contender once in turn (a load that
    /// comes and goes while the bench runs falls on every contender alike).
    fn alternating(runs: usize, contenders: &mut [&mut dyn FnMut() -> Timed]) -> Vec<Timed> {
        let mut measured: Vec<Vec<Timed>> = contenders.iter().map(|_| Vec::with_capacity(runs)).collect();
        for _ in 0..runs {
            for (contender, timed) in contenders.iter_mut().zip(&mut measured) {
                timed.push(contender());
            }
        }
        measured.into_iter().map(median).collect()
    }

    /// What bounds racekit's rate on a passing model: the raw checker with the facade's
    /// operations, its rate over raw's, racekit's rate over it, and the harness's own time
    /// per schedule (racekit's beyond it).
    fn bound_row(model: &str, racekit: Timed, raw: Timed, bound: Timed) -> Value {
        json!({
            "model": model,
            "raw_with_facade_points": measured(&bound),
            "bound_over_raw": rate(&bound) / rate(&raw),
            "racekit_over_bound": rate(&racekit) / rate(&bound),
            "harness_microseconds_per_schedule": 1e6 * (1.0 / rate(&racekit) - 1.0 / rate(&bound)),
        })
    }

    pub fn main() {
        let backend = if cfg!(racekit_loom) { "loom" } else { "shuttle" };
        let quick = std::env::var("RACEKIT_BENCH_MODE").is_ok_and(|m| m == "quick");
        let runs = if quick { 1 } else { 5 };
        // A failing body panics on every failing schedule: keep the output to the table.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let mut rows = Vec::new();
        let mut bounds = Vec::new();
        for (index, ((name, facade_body), (_, raw_body))) in
            with_facade::PASSING.iter().zip(with_raw::PASSING.iter()).enumerate()
        {
            let bound_body = with_raw_facade_points::PASSING[index].1;
            let medians = alternating(
                runs,
                &mut [&mut || harness(name, *facade_body), &mut || raw(*raw_body), &mut || raw(bound_body)],
            );
            rows.push(row(name, "passing model", medians[0], medians[1]));
            bounds.push(bound_row(name, medians[0], medians[1], medians[2]));
        }
        let medians = alternating(
            runs,
            &mut [&mut || harness("lost update", with_facade::lost_update), &mut || raw(with_raw::lost_update)],
        );
        rows.push(row("lost update (2 threads)", "time to the failure", medians[0], medians[1]));
        std::panic::set_hook(hook);

        let settings = if cfg!(racekit_loom) {
            format!("preemption bound {BOUND} (racekit: bounds 1 then {BOUND})")
        } else {
            format!("{SCHEDULES} random schedules")
        };
        let out = json!({ "backend": backend, "mode": if quick { "quick" } else { "full" }, "runs": runs, "settings": settings, "rows": rows, "bounds": bounds });
        for row in &rows {
            println!("{backend}: {row}");
        }
        for bound in &bounds {
            println!("{backend} bound: {bound}");
        }
        let dir = super::home::criterion_home().join("racekit");
        let path = dir.join(format!("checkers-{backend}.json"));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, serde_json::to_vec_pretty(&out).unwrap_or_default()));
        if let Err(error) = written {
            eprintln!("could not write {}: {error}", path.display());
            std::process::exit(1);
        }
    }
}

fn main() {
    #[cfg(any(racekit_loom, racekit_shuttle))]
    compare::main();
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    println!("checkers: real threads have no model checker to compare with; build with --cfg racekit_loom or racekit_shuttle");
}
