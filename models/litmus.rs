//! Litmus tests of the facade's atomics: which outcomes each backend can produce.
//!
//! | test | weak outcome | loom | shuttle | std (x86-64, this machine) |
//! |---|---|---|---|---|
//! | store buffering, `Relaxed` | both threads read 0 | produced | never (every access is `SeqCst`) | allowed by the hardware's store buffer; rare between freshly spawned threads |
//! | store buffering, `SeqCst` | both threads read 0 (forbidden by C11) | produced: loom models `SeqCst` as `AcqRel` | never | never (a `SeqCst` store is a fenced store) |
//! | message passing, `Relaxed` | flag seen, data not | produced | never | never (x86 does not reorder stores or loads) |
//! | message passing, `Release`/`Acquire` | flag seen, data not | forbidden, never | never | never |
//! | IRIW, `Acquire` loads | readers disagree on the order of two independent writes | produced | never | never (x86 is multi-copy atomic) |
//!
//! loom explores every value a load may read under C11 coherence and happens-before, so
//! the weak outcomes C11 allows (store buffering and relaxed message passing, and IRIW's
//! disagreement for `Acquire` loads) are among its executions; within its preemption bound
//! it meets every outcome, so loom's sets are asserted exactly. shuttle's are asserted to
//! hold no weak outcome; real threads', to hold only graded ones. The histograms themselves are printed by each test (`cargo test --test
//! models litmus -- --nocapture`, with the backend's RUSTFLAGS) and written to
//! `RACEKIT_REPORT_FILE` when it is set.

use racekit::litmus::{Histogram, Litmus};
use racekit::model::Model;
use racekit::sync::atomic::{AtomicU32, Ordering};
use racekit::sync::{thread, Arc, Backend};
use std::collections::BTreeSet;

/// The CI budget: loom bound 2 (litmus bodies are tiny), 500 schedules or runs.
fn budget(name: &str) -> Model {
    Model::named(name).preemption_bound(2).iterations(500)
}

/// Runs `left` and `right` on two threads over two fresh locations `(x, y)`, and returns
/// what each returned.
fn two_threads<L, R>(left: L, right: R) -> (u32, u32)
where
    L: FnOnce(&AtomicU32, &AtomicU32) -> u32 + Send + 'static,
    R: FnOnce(&AtomicU32, &AtomicU32) -> u32 + Send + 'static,
{
    let locations = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
    let other = {
        let locations = locations.clone();
        thread::spawn(move || right(&locations.0, &locations.1))
    };
    let mine = left(&locations.0, &locations.1);
    (mine, other.join().expect("the litmus thread does not panic"))
}

fn observed<R: Clone + Ord>(histogram: &Histogram<R>) -> BTreeSet<R> {
    histogram.observed().into_iter().cloned().collect()
}

/// Asserts the outcomes a model checker must produce exactly; on real threads, that every
/// outcome seen is sequential or weak (how often each occurs is the hardware's business).
#[track_caller]
fn assert_outcomes<R: Clone + Ord + std::fmt::Debug>(histogram: &Histogram<R>, sequential: &[R], weak: &[R]) {
    let seen = observed(histogram);
    let mut expected: BTreeSet<R> = sequential.iter().cloned().collect();
    match Backend::CURRENT {
        Backend::Loom => {
            expected.extend(weak.iter().cloned());
            assert_eq!(seen, expected, "loom produces the sequential and the weak outcomes\n{histogram}");
        }
        Backend::Shuttle => assert_eq!(seen, expected, "shuttle produces the sequential outcomes only\n{histogram}"),
        Backend::Std => {
            expected.extend(weak.iter().cloned());
            assert!(
                !seen.is_empty() && seen.is_subset(&expected),
                "real threads produced a graded outcome\n{histogram}"
            );
        }
    }
}

/// Store buffering with `ordering` on every access: each thread stores to its location
/// and loads the other's. Outcome: `(left's load, right's load)`.
fn store_buffering(name: &str, ordering: Ordering, both_zero: &str) -> Histogram<(u32, u32)> {
    Litmus::new(budget(name), move || {
        two_threads(
            move |x, y| {
                x.store(1, ordering);
                y.load(ordering)
            },
            move |x, y| {
                y.store(1, ordering);
                x.load(ordering)
            },
        )
    })
    .acceptable((0, 1), "the left thread ran first")
    .acceptable((1, 0), "the right thread ran first")
    .acceptable((1, 1), "both stores before both loads")
    .interesting((0, 0), both_zero)
    .check()
}

#[test]
fn store_buffering_relaxed() {
    let meaning = "each load passed the other thread's buffered store: weak memory";
    let histogram = store_buffering("litmus: store buffering, relaxed", Ordering::Relaxed, meaning);
    assert_outcomes(&histogram, &[(0, 1), (1, 0), (1, 1)], &[(0, 0)]);
}

#[test]
fn store_buffering_seq_cst() {
    // C11 forbids (0, 0) here; loom models SeqCst as AcqRel, which allows it: a limit of
    // loom that a SeqCst algorithm meets as a false alarm (see `racekit::model`).
    let meaning = "forbidden by C11 for SeqCst; produced by loom, which models SeqCst as AcqRel";
    let histogram = store_buffering("litmus: store buffering, seq_cst", Ordering::SeqCst, meaning);
    assert_outcomes(&histogram, &[(0, 1), (1, 0), (1, 1)], &[(0, 0)]);
}

/// `(flag seen, data read)` of message passing, the flag stored with `store` and read with
/// `load`.
fn message_passing(store: Ordering, load: Ordering) -> impl Fn() -> (u32, u32) + Send + Sync + 'static {
    move || {
        two_threads(
            move |data, flag| {
                data.store(1, Ordering::Relaxed);
                flag.store(1, store);
                0
            },
            move |data, flag| {
                let seen = flag.load(load);
                10 * seen + data.load(Ordering::Relaxed)
            },
        )
    }
}

#[test]
fn message_passing_relaxed() {
    let histogram =
        Litmus::new(budget("litmus: message passing, relaxed"), message_passing(Ordering::Relaxed, Ordering::Relaxed))
            .acceptable((0, 0), "the reader ran first")
            .acceptable((0, 1), "the data was written, the flag not yet seen")
            .acceptable((0, 11), "the reader ran last")
            .interesting((0, 10), "the flag was seen, the data it publishes was not: weak memory")
            .check();
    assert_outcomes(&histogram, &[(0, 0), (0, 1), (0, 11)], &[(0, 10)]);
}

#[test]
fn message_passing_release_acquire() {
    let histogram = Litmus::new(
        budget("litmus: message passing, release/acquire"),
        message_passing(Ordering::Release, Ordering::Acquire),
    )
    .acceptable((0, 0), "the reader ran first")
    .acceptable((0, 1), "the data was written, the flag not yet seen")
    .acceptable((0, 11), "the reader ran last")
    .forbidden((0, 10), "the acquire load saw the flag, so it must see the data released with it")
    .check();
    assert_outcomes(&histogram, &[(0, 0), (0, 1), (0, 11)], &[]);
}

#[test]
fn independent_reads_of_independent_writes() {
    // Two writers, two readers reading the locations in opposite orders. Outcome: what the
    // readers saw, `(x then y, y then x)`, each as two digits.
    let histogram = Litmus::new(budget("litmus: IRIW, acquire"), || {
        let locations = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
        let spawn = |body: fn(&AtomicU32, &AtomicU32) -> u32| {
            let locations = locations.clone();
            thread::spawn(move || body(&locations.0, &locations.1))
        };
        let writers = [spawn(|x, _| x.swap(1, Ordering::Release)), spawn(|_, y| y.swap(1, Ordering::Release))];
        let other_reader = spawn(|x, y| {
            let first = y.load(Ordering::Acquire);
            10 * first + x.load(Ordering::Acquire)
        });
        let first = locations.0.load(Ordering::Acquire);
        let mine = 10 * first + locations.1.load(Ordering::Acquire);
        for writer in writers {
            writer.join().expect("a writer does not panic");
        }
        (mine, other_reader.join().expect("the reader does not panic"))
    });
    // Every pair of readings except the disagreement is sequentially explainable.
    let readings = [0, 1, 10, 11];
    let mut litmus = histogram;
    for mine in readings {
        for theirs in readings {
            litmus = if (mine, theirs) == (10, 10) {
                litmus.interesting(
                    (mine, theirs),
                    "x seen without y and y seen without x: the readers disagree on the order of the writes",
                )
            } else {
                litmus.acceptable((mine, theirs), "some interleaving of the four threads")
            };
        }
    }
    let histogram = litmus.check();
    let sequential: Vec<(u32, u32)> =
        readings.iter().flat_map(|&mine| readings.map(|theirs| (mine, theirs))).filter(|&o| o != (10, 10)).collect();
    if matches!(Backend::CURRENT, Backend::Shuttle) {
        // A random scheduler need not meet all fifteen sequential outcomes in its budget.
        let seen = observed(&histogram);
        assert!(!seen.contains(&(10, 10)) && !seen.is_empty(), "shuttle is sequentially consistent\n{histogram}");
    } else {
        assert_outcomes(&histogram, &sequential, &[(10, 10)]);
    }
}
