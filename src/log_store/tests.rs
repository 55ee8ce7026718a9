//! Single-threaded behaviour: bounds, eviction, queries, counting, errors.

use super::*;
use crate::output::OutputStream;
use std::time::Duration;

fn line(process: &str, text: &str, at: Instant) -> OutputLine {
    OutputLine { process: process.into(), stream: OutputStream::Stdout, at, line: text.into() }
}

fn texts(entries: &[LogEntry]) -> Vec<&str> {
    entries.iter().map(|entry| entry.line.as_str()).collect()
}

fn store(max_entries: usize) -> LogStore {
    LogStore::new(LogStoreConfig { max_entries, max_bytes: usize::MAX }).unwrap()
}

#[test]
fn bad_configurations_are_typed_errors() {
    assert_eq!(
        LogStore::new(LogStoreConfig { max_entries: 0, max_bytes: 1 << 20 }).unwrap_err(),
        ConfigError::ZeroEntries
    );
    let too_small = LogStoreConfig { max_entries: 1, max_bytes: LogStoreConfig::MIN_BYTES - 1 };
    let error = LogStore::new(too_small).unwrap_err();
    assert_eq!(
        error,
        ConfigError::BytesBelowOneEntry {
            max_bytes: LogStoreConfig::MIN_BYTES - 1,
            minimum: LogStoreConfig::MIN_BYTES
        }
    );
    assert!(error.to_string().contains("MIN_BYTES"), "{error}");
    assert!(LogStore::new(LogStoreConfig { max_entries: 1, max_bytes: LogStoreConfig::MIN_BYTES }).is_ok());
}

#[test]
fn evicts_the_oldest_and_keeps_the_index_in_step() {
    let store = store(3);
    let now = Instant::now();
    for (n, process) in ["a", "b", "a", "c", "a"].into_iter().enumerate() {
        assert_eq!(store.add(line(process, &n.to_string(), now)).unwrap(), n as u64);
        assert_eq!(store.snapshot().check(), Ok(()));
    }
    assert_eq!(texts(&store.last(10)), ["2", "3", "4"]);
    assert_eq!(texts(&store.by_process("a")), ["2", "4"]);
    assert!(store.by_process("b").is_empty(), "b's only line was evicted");
    assert_eq!(store.process_stats("b"), None, "a process's record goes with its last entry");
    assert_eq!(store.process_stats("a"), Some(ProcessStats { stored: 2, added: 3, evicted: 1 }));
    assert_eq!(store.processes(), [std::sync::Arc::from("a"), std::sync::Arc::from("c")]);
    let stats = store.stats();
    assert_eq!((stats.added, stats.stored, stats.evicted, stats.processes, stats.next_seq), (5, 3, 2, 2, 5));
    assert!(stats.is_conserved());
}

#[test]
fn queries_by_count_cursor_and_process() {
    let store = store(10);
    let now = Instant::now();
    for n in 0..6 {
        store.add(line(if n % 2 == 0 { "even" } else { "odd" }, &n.to_string(), now)).unwrap();
    }
    assert_eq!(texts(&store.last(2)), ["4", "5"]);
    assert_eq!(store.last(0), []);
    assert_eq!(texts(&store.since(3)), ["3", "4", "5"]);
    assert_eq!(store.since(6), []);
    assert_eq!(texts(&store.last_of_process("odd", 2)), ["3", "5"]);
    assert_eq!(store.by_process("none"), []);
    let entry = &store.since(4)[0];
    assert_eq!((entry.seq, entry.process.as_ref(), entry.stream), (4, "even", OutputStream::Stdout));
}

#[test]
fn a_cursor_past_evicted_entries_resumes_at_the_oldest_live_one() {
    let store = store(2);
    let now = Instant::now();
    for n in 0..5 {
        store.add(line("p", &n.to_string(), now)).unwrap();
    }
    assert_eq!(store.since(1).first().map(|entry| entry.seq), Some(3));
}

#[test]
fn time_ranges_tolerate_out_of_order_stamps() {
    let store = store(10);
    let base = Instant::now();
    let at = |ms| base + Duration::from_millis(ms);
    // Arrival order differs from stamp order, as when two producers race to the lock.
    for (text, ms) in [("a", 10), ("b", 30), ("c", 20), ("d", 40), ("e", 25)] {
        store.add(line("p", text, at(ms))).unwrap();
    }
    assert_eq!(texts(&store.between(at(20), at(31))), ["b", "c", "e"]);
    assert_eq!(texts(&store.between(at(0), at(11))), ["a"]);
    assert_eq!(store.between(at(41), at(99)), []);
    assert_eq!(store.between(at(30), at(30)), [], "the range is half-open");
}

#[test]
fn the_byte_bound_evicts_as_many_as_needed() {
    let small = entry_cost(&line("p", "", Instant::now()));
    let max_bytes = PROCESS_OVERHEAD + 3 * small + 10;
    let store = LogStore::new(LogStoreConfig { max_entries: 100, max_bytes }).unwrap();
    let now = Instant::now();
    for n in 0..3 {
        store.add(line("p", "", now)).unwrap();
        assert_eq!(store.stats().stored, n + 1);
    }
    // Needs the room of about two small entries: two are evicted at once.
    store.add(line("p", &"x".repeat(small - 10), now)).unwrap();
    let stats = store.stats();
    assert_eq!((stats.stored, stats.evicted), (2, 2));
    assert!(stats.bytes <= max_bytes && stats.high_water_bytes <= max_bytes, "{stats:?}");
    assert_eq!(store.snapshot().check(), Ok(()));
}

#[test]
fn a_line_that_can_never_fit_is_refused_counted_and_returned() {
    let max_bytes = LogStoreConfig::MIN_BYTES + 8;
    let store = LogStore::new(LogStoreConfig { max_entries: 4, max_bytes }).unwrap();
    let now = Instant::now();
    store.add(line("", "", now)).unwrap();
    let big = line("", &"x".repeat(64), now);
    let error = store.add(big.clone()).unwrap_err();
    assert!(error.to_string().contains("raise LogStoreConfig::max_bytes"), "{error}");
    assert_eq!(error.into_line(), big);
    store.sink()(&big);
    let stats = store.stats();
    assert_eq!((stats.added, stats.rejected, stats.offered(), stats.stored), (1, 2, 3, 1));
    assert_eq!(store.snapshot().check(), Ok(()));
}

#[test]
fn the_sink_feeds_the_store() {
    let store = store(4);
    let sink = store.sink();
    sink(&line("p", "one", Instant::now()));
    sink(&line("p", "two", Instant::now()));
    assert_eq!(texts(&store.by_process("p")), ["one", "two"]);
}

#[test]
fn the_check_reports_a_broken_snapshot() {
    let store = store(4);
    let now = Instant::now();
    store.add(line("a", "0", now)).unwrap();
    store.add(line("b", "1", now)).unwrap();
    let sound = store.snapshot();
    let mut dangling = sound.clone();
    dangling.index[0].seqs.push(7);
    assert!(matches!(dangling.check(), Err(Inconsistency::Dangling { seq: 7, .. })), "{:?}", dangling.check());
    let mut unindexed = sound.clone();
    unindexed.index.remove(1);
    assert!(matches!(unindexed.check(), Err(Inconsistency::BytesMiscounted { .. })));
    unindexed.stats.bytes -= PROCESS_OVERHEAD;
    assert!(matches!(unindexed.check(), Err(Inconsistency::Unindexed { seq: 1, .. })), "{:?}", unindexed.check());
    let mut wrong = sound.clone();
    wrong.index[0].seqs = vec![1];
    assert!(matches!(wrong.check(), Err(Inconsistency::WrongProcess { seq: 1, .. })));
    let mut miscounted = sound;
    miscounted.stats.evicted += 1;
    assert!(matches!(miscounted.check(), Err(Inconsistency::NotConserved { .. })));
}

#[test]
fn a_process_evicting_its_own_last_entry_starts_a_new_record() {
    let store = store(1);
    let now = Instant::now();
    for n in 0..3 {
        store.add(line("a", &n.to_string(), now)).unwrap();
        assert_eq!(store.snapshot().check(), Ok(()));
    }
    store.add(line("b", "3", now)).unwrap();
    store.add(line("a", "4", now)).unwrap();
    assert_eq!(store.snapshot().check(), Ok(()));
    assert_eq!(store.process_stats("a"), Some(ProcessStats { stored: 1, added: 1, evicted: 0 }));
    assert_eq!(texts(&store.by_process("a")), ["4"]);
    assert_eq!(store.stats().processes, 1);
}

#[test]
fn an_entry_held_by_a_reader_keeps_its_line_when_evicted() {
    let store = store(1);
    let now = Instant::now();
    store.add(line("a", "kept", now)).unwrap();
    let held = store.last(1);
    // The evicted entry's allocation is taken over only when nobody holds it.
    store.add(line("a", "next", now)).unwrap();
    store.add(line("b", "after", now)).unwrap();
    assert_eq!(texts(&held), ["kept"]);
    assert_eq!(texts(&store.last(1)), ["after"]);
    assert_eq!(store.snapshot().check(), Ok(()));
}

#[test]
fn lines_sharing_one_process_id_and_lines_with_copies_of_it_meet_in_one_record() {
    let store = store(4);
    let now = Instant::now();
    let shared = line("p", "0", now);
    for n in 1..3 {
        store.add(OutputLine { line: n.to_string(), ..shared.clone() }).unwrap();
    }
    store.add(line("p", "3", now)).unwrap(); // the same id in an allocation of its own
    store.add(line("q", "4", now)).unwrap();
    assert_eq!(texts(&store.by_process("p")), ["1", "2", "3"]);
    assert_eq!(store.process_stats("p"), Some(ProcessStats { stored: 3, added: 3, evicted: 0 }));
    for n in 5..9 {
        // Every "p" entry is evicted, then the id comes back in the old allocation.
        store.add(line("q", &n.to_string(), now)).unwrap();
    }
    store.add(OutputLine { line: "9".into(), ..shared }).unwrap();
    assert_eq!(texts(&store.by_process("p")), ["9"]);
    assert_eq!(store.process_stats("p"), Some(ProcessStats { stored: 1, added: 1, evicted: 0 }));
    assert_eq!(store.snapshot().check(), Ok(()));
}
