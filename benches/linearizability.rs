//! How long [`check_history`] takes on the histories a scenario produces: 3 threads × 3
//! operations on a register, in two shapes.
//!
//! - `rounds`: each thread's operations in program order, the threads' `n`-th operations
//!   overlapping one another (what a generated scenario typically records);
//! - `all overlapping`: all nine operations overlap, so every subset is a possible prefix
//!   (2^9 sets: the search's worst case for this size);
//!
//! each linearizable, and with the last read made stale (not linearizable: the search
//! must exhaust every order before it answers).

// The model-checking builds have no criterion: this bench measures real threads only.
#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod suite {
    use criterion::{criterion_group, BenchmarkId, Criterion};
    use racekit::linearizability::{check_history, Lane, Operation, Spec};
    use std::hint::black_box;

    /// A register: `Some(v)` writes `v` and returns the old value; `None` reads.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    struct Register(u32);

    impl Spec for Register {
        type Op = Option<u32>;
        type Ret = u32;
        fn apply(&mut self, op: &Option<u32>) -> u32 {
            let old = self.0;
            if let Some(value) = op {
                self.0 = *value;
            }
            old
        }
    }

    const THREADS: usize = 3;
    const OPERATIONS: usize = 3;

    /// The history of running each round's operations thread by thread, stamped so that the
    /// operations overlap as `shape` says.
    fn history(all_overlapping: bool, stale_last_read: bool) -> Vec<Operation<Option<u32>, u32>> {
        let mut register = Register::default();
        let mut history = Vec::new();
        for round in 0..OPERATIONS {
            for thread in 0..THREADS {
                let op = if (round + thread) % 2 == 0 { Some((10 * thread + round + 1) as u32) } else { None };
                let result = register.apply(&op);
                let (call, ret) = if all_overlapping {
                    let index = (round * THREADS + thread) as u64;
                    (index, 100 + index)
                } else {
                    let base = (round * 2 * THREADS) as u64;
                    (base + thread as u64, base + (THREADS + thread) as u64)
                };
                history.push(Operation { lane: Lane::Thread(thread), call, ret, op, result });
            }
        }
        if stale_last_read {
            let last_read = history.iter_mut().rev().find(|o| o.op.is_none()).expect("a read");
            last_read.result += 1000;
        }
        history
    }

    fn bench(c: &mut Criterion) {
        let mut group = c.benchmark_group("linearizability: 3 threads x 3 operations");
        for (shape, all_overlapping) in [("rounds", false), ("all overlapping", true)] {
            for (verdict, stale) in [("linearizable", false), ("not linearizable", true)] {
                let history = history(all_overlapping, stale);
                assert_eq!(check_history(&Register::default(), &history).unwrap().is_linearizable(), !stale);
                group.bench_with_input(BenchmarkId::new(shape, verdict), &history, |b, history| {
                    b.iter(|| check_history(&Register::default(), black_box(history)))
                });
            }
        }
        group.finish();
    }

    criterion_group!(benches, bench);

    pub fn main() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}

fn main() {
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    suite::main();
}
