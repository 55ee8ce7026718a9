//! Rows for the bounded queue, the bounded slice, the error collector and the log store:
//! sizes of 0, 1 and `usize::MAX`, timeouts of 0, 1 ns and `Duration::MAX`, use after
//! close, and user types whose `Clone` panics.

use super::table::{ensure, refused, row, same, Check, Expect, Miss, Row};
use racekit::bounded_slice::BoundedSlice;
use racekit::error_collector::{ErrorCollector, Errors};
use racekit::log_store::{AddError, ConfigError, LogStore, LogStoreConfig};
use racekit::output::{OutputLine, OutputStream};
use racekit::queue::{BoundedQueue, PopError, PushError};
use racekit::sync::{catch_unwind, thread, Arc};
use racekit::time::{Clock, ManualClock};
use std::time::Duration;

/// A short wait: long enough to be a real wait, short enough that the row is quick.
pub const SHORT: Duration = Duration::from_millis(20);

/// A value whose `Clone` panics when `panics` is set: user code running inside a
/// pattern's read.
#[derive(Debug, PartialEq)]
struct Brittle {
    panics: bool,
}

impl Clone for Brittle {
    fn clone(&self) -> Self {
        assert!(!self.panics, "a clone fails");
        Brittle { panics: self.panics }
    }
}

fn queue(capacity: usize) -> Arc<BoundedQueue<u32>> {
    Arc::new(BoundedQueue::new(capacity).expect("a positive capacity"))
}

/// `queue` with one item in it and a capacity of one: full.
fn full_queue() -> Arc<BoundedQueue<u32>> {
    let queue = queue(1);
    queue.push(1).expect("room for one");
    queue
}

/// Runs `action` on `queue` a moment later on another thread.
fn soon(queue: &Arc<BoundedQueue<u32>>, action: fn(&BoundedQueue<u32>)) -> thread::JoinHandle<()> {
    let queue = queue.clone();
    thread::spawn(move || {
        thread::sleep(SHORT);
        action(&queue);
    })
}

fn conserved(queue: &BoundedQueue<u32>) -> Check {
    let stats = queue.stats();
    ensure(stats.is_conserved(), || format!("not conserved: {stats:?}"))
}

/// A log line of `process` with `text`.
pub fn line(process: &str, text: String) -> OutputLine {
    OutputLine { process: process.into(), stream: OutputStream::Stdout, at: ManualClock::new().now(), line: text }
}

fn store(max_entries: usize, max_bytes: usize) -> Result<LogStore, ConfigError> {
    LogStore::new(LogStoreConfig { max_entries, max_bytes })
}

fn store_conserved(store: &LogStore) -> Check {
    let stats = store.stats();
    ensure(stats.is_conserved(), || format!("not conserved: {stats:?}"))?;
    store.snapshot().check().map_err(|broken| Miss::silent(broken.to_string()))
}

pub fn rows() -> Vec<Row> {
    use Expect::*;
    vec![
        row("queue: capacity 0", TypedError, || refused(BoundedQueue::<u32>::new(0), |_| true, "1 or more")),
        row("queue: capacity usize::MAX allocates nothing up front", Documented, || {
            let queue = queue(usize::MAX);
            queue.push(1).map_err(|e| Miss::silent(format!("{e:?}")))?;
            same((queue.capacity(), queue.len()), (usize::MAX, 1))
        }),
        row("queue: capacity 1 holds one item", Documented, || {
            let queue = full_queue();
            same(queue.try_push(2), Err(PushError::Full(2)))
        }),
        row("queue: push_timeout(0) on a full queue", Bounded, || {
            same(full_queue().push_timeout(2, Duration::ZERO), Err(PushError::Full(2)))
        }),
        row("queue: push_timeout(1 ns) on a full queue", Bounded, || {
            same(full_queue().push_timeout(2, Duration::from_nanos(1)), Err(PushError::Full(2)))
        }),
        row("queue: push_timeout(Duration::MAX) on a full queue, ended by close", Bounded, || {
            let queue = full_queue();
            let closer = soon(&queue, |q| {
                q.close();
            });
            let pushed = queue.push_timeout(2, Duration::MAX);
            closer.join().unwrap();
            same(pushed, Err(PushError::Closed(2)))
        }),
        row("queue: push_timeout(u64::MAX s) on a full queue, ended by a pop", Bounded, || {
            let queue = full_queue();
            let popper = soon(&queue, |q| {
                q.try_pop().unwrap();
            });
            let pushed = queue.push_timeout(2, Duration::from_secs(u64::MAX));
            popper.join().unwrap();
            same(pushed, Ok(()))?;
            conserved(&queue)
        }),
        row("queue: blocking push on a full queue, ended by close, gets its item back", Bounded, || {
            let queue = full_queue();
            let closer = soon(&queue, |q| {
                q.close();
            });
            let pushed = queue.push(7);
            closer.join().unwrap();
            same(pushed, Err(PushError::Closed(7)))?;
            conserved(&queue)
        }),
        row("queue: pop_timeout(0) on an empty queue", Bounded, || {
            same(queue(2).pop_timeout(Duration::ZERO), Err(PopError::Empty))
        }),
        row("queue: pop_timeout(1 ns) on an empty queue", Bounded, || {
            same(queue(2).pop_timeout(Duration::from_nanos(1)), Err(PopError::Empty))
        }),
        row("queue: pop_timeout(Duration::MAX) on an empty queue, ended by close", Bounded, || {
            let queue = queue(2);
            let closer = soon(&queue, |q| {
                q.close();
            });
            let popped = queue.pop_timeout(Duration::MAX);
            closer.join().unwrap();
            same(popped, Err(PopError::Closed))
        }),
        row("queue: blocking pop on an empty queue, ended by close_and_drain", Bounded, || {
            let queue = queue(2);
            let closer = soon(&queue, |q| {
                q.close_and_drain();
            });
            let popped = queue.pop();
            closer.join().unwrap();
            same(popped, None)
        }),
        row("queue: push after close returns the item", Documented, || {
            let queue = queue(2);
            queue.close();
            same(queue.push(3), Err(PushError::Closed(3)))
        }),
        row("queue: try_push after close returns the item", Documented, || {
            let queue = queue(2);
            queue.close();
            same(queue.try_push(3), Err(PushError::Closed(3)))
        }),
        row("queue: push_or_evict_oldest after close returns the item", Documented, || {
            let queue = queue(2);
            queue.close();
            same(queue.push_or_evict_oldest(3), Err(PushError::Closed(3)))
        }),
        row("queue: push_or_evict_oldest on a full queue returns and counts the evicted item", Documented, || {
            let queue = full_queue();
            same(queue.push_or_evict_oldest(2), Ok(Some(1)))?;
            same(queue.stats().evicted, 1)?;
            conserved(&queue)
        }),
        row("queue: a second close reports that it closed nothing", Documented, || {
            let queue = queue(2);
            same((queue.close(), queue.close()), (true, false))
        }),
        row("queue: close_and_drain twice drains once and counts it", Documented, || {
            let queue = full_queue();
            same((queue.close_and_drain(), queue.close_and_drain()), (vec![1], vec![]))?;
            same(queue.stats().drained, 1)?;
            conserved(&queue)
        }),
        row("queue: try_pop after close drains what is left, then says closed", Documented, || {
            let queue = full_queue();
            queue.close();
            same((queue.try_pop(), queue.try_pop()), (Ok(1), Err(PopError::Closed)))
        }),
        row("queue: drained items whose drop pushes back into the closed queue", Documented, || {
            /// Pushes a plain item into its queue when dropped.
            struct Boomerang(Option<Arc<BoundedQueue<Boomerang>>>);
            impl Drop for Boomerang {
                fn drop(&mut self) {
                    if let Some(queue) = self.0.take() {
                        let refused = queue.push(Boomerang(None));
                        assert!(matches!(refused, Err(PushError::Closed(_))), "a closed queue took an item");
                    }
                }
            }
            let queue = Arc::new(BoundedQueue::new(4).unwrap());
            for _ in 0..3 {
                queue.push(Boomerang(Some(queue.clone()))).map_err(|_| Miss::silent("refused while open"))?;
            }
            drop(queue.close_and_drain());
            let stats = queue.stats();
            same((stats.drained, stats.len), (3, 0))
        }),
        row("slice: capacity 0", TypedError, || {
            refused(BoundedSlice::<u32>::new(0), |_| true, "capacity of 1 or more")
        }),
        row("slice: capacity usize::MAX allocates nothing up front", Documented, || {
            let slice = BoundedSlice::new(usize::MAX).map_err(|e| Miss::silent(e.to_string()))?;
            same((slice.add(1), slice.len(), slice.capacity()), (None, 1, usize::MAX))
        }),
        row("slice: capacity 1 evicts and counts every older item", Documented, || {
            let slice = BoundedSlice::new(1).unwrap();
            let evicted: Vec<_> = (0..5).filter_map(|n| slice.add(n)).collect();
            same((evicted, slice.snapshot(), slice.accounting()), (vec![0, 1, 2, 3], vec![4], (5, 1, 4)))
        }),
        row("slice: an item whose clone panics leaves the slice usable", CaughtPanic, || {
            let slice = Arc::new(BoundedSlice::new(2).unwrap());
            slice.add(Brittle { panics: true });
            let reader = slice.clone();
            let caught = catch_unwind(move || reader.snapshot());
            ensure(caught.is_err(), || "the clone's panic reaches the caller of snapshot".into())?;
            slice.add(Brittle { panics: false });
            same(slice.accounting(), (2, 2, 0))
        }),
        row("collector: nothing collected is Ok", Documented, || {
            same(ErrorCollector::<String>::new().into_result(), Ok(()))
        }),
        row("collector: Ok results are passed through, not stored", Documented, || {
            let collector = ErrorCollector::<String>::new();
            same((collector.add_result(Ok::<u8, String>(3)), collector.len()), (Some(3), 0))
        }),
        row("collector: an error whose clone panics leaves the collector usable", CaughtPanic, || {
            let collector = Arc::new(ErrorCollector::new());
            collector.add(Brittle { panics: true });
            let reader = collector.clone();
            ensure(catch_unwind(move || reader.errors()).is_err(), || "the clone's panic reaches the caller".into())?;
            collector.add(Brittle { panics: false });
            same(collector.len(), 2)
        }),
        row("collector: an empty Errors still displays", Documented, || {
            same(Errors::<String>(Vec::new()).to_string(), "0 error(s):".to_owned())
        }),
        row("log store: max_entries 0", TypedError, || {
            refused(store(0, usize::MAX), |e| *e == ConfigError::ZeroEntries, "1 or more")
        }),
        row("log store: max_bytes 0", TypedError, || {
            refused(store(4, 0), |e| matches!(e, ConfigError::BytesBelowOneEntry { .. }), "MIN_BYTES")
        }),
        row("log store: max_bytes one below MIN_BYTES", TypedError, || {
            let below = LogStoreConfig::MIN_BYTES - 1;
            refused(
                store(4, below),
                |e| matches!(e, ConfigError::BytesBelowOneEntry { max_bytes, .. } if *max_bytes == below),
                "at least",
            )
        }),
        row("log store: usize::MAX entries and bytes allocate nothing up front", Documented, || {
            let store = store(usize::MAX, usize::MAX).map_err(|e| Miss::silent(e.to_string()))?;
            same(store.add(line("p", "x".into())), Ok(0))?;
            store_conserved(&store)
        }),
        row("log store: a line bigger than max_bytes is refused, counted and returned", TypedError, || {
            let store = store(4, LogStoreConfig::MIN_BYTES).unwrap();
            let refusal = store.add(line("p", "x".repeat(1 << 16)));
            let text = refusal.clone().map_err(AddError::into_line).err().map(|line| line.line.len());
            refused(refusal, |e| matches!(e, AddError::TooLarge { .. }), "raise LogStoreConfig::max_bytes")?;
            same((text, store.stats().rejected), (Some(1 << 16), 1))?;
            store_conserved(&store)
        }),
        row("log store: an empty line of a process with an empty name", Documented, || {
            let store = store(1, LogStoreConfig::MIN_BYTES).unwrap();
            same(store.add(line("", String::new())), Ok(0))?;
            same(store.by_process("").len(), 1)?;
            store_conserved(&store)
        }),
        row("log store: a one-megabyte process name", Documented, || {
            let store = store(2, usize::MAX).unwrap();
            let name = "n".repeat(1 << 20);
            store.add(line(&name, "x".into())).map_err(|e| Miss::silent(e.to_string()))?;
            same(store.last_of_process(&name, 1).len(), 1)?;
            store_conserved(&store)
        }),
        row("log store: queries with 0, usize::MAX and u64::MAX", Documented, || {
            let store = store(2, usize::MAX).unwrap();
            for n in 0..3 {
                store.add(line("p", n.to_string())).unwrap();
            }
            let sizes =
                (store.last(0).len(), store.last(usize::MAX).len(), store.since(u64::MAX).len(), store.since(0).len());
            same(sizes, (0, 2, 0, 2))?;
            same((store.last_of_process("p", 0).len(), store.by_process("nobody").len()), (0, 0))?;
            store_conserved(&store)
        }),
        row("log store: between with its ends reversed is empty", Documented, || {
            let store = store(2, usize::MAX).unwrap();
            let entry = line("p", "x".into());
            let at = entry.at;
            store.add(entry).unwrap();
            same(store.between(at + Duration::from_secs(1), at).len(), 0)
        }),
        row("log store: one entry, many processes: the index follows eviction", Documented, || {
            let store = store(1, usize::MAX).unwrap();
            for n in 0..50 {
                store.add(line(&n.to_string(), "x".into())).unwrap();
            }
            same((store.stats().processes, store.stats().evicted), (1, 49))?;
            store_conserved(&store)
        }),
    ]
}
