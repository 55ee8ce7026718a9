//! The process manager feeding the log store: real children's output, through the store's
//! sink, lands in the store complete, in order per stream, within the store's bounds.

use crate::support::cases;
use proptest::prelude::*;
use racekit::log_store::{LogStore, LogStoreConfig};
use racekit::output::OutputStream;
use racekit::process::{ProcessManager, ProcessSpec};

/// Runs `processes` children that each print `lines` lines to stdout and to stderr, with
/// the store's sink registered, and returns the store once every child has exited.
fn run_children(processes: usize, lines: usize, max_entries: usize) -> LogStore {
    let store = LogStore::new(LogStoreConfig { max_entries, max_bytes: 1 << 20 }).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let manager = ProcessManager::new();
        manager.add_callback(store.sink());
        let script = format!("i=0; while [ $i -lt {lines} ]; do echo out$i; echo err$i >&2; i=$((i+1)); done");
        let handles: Vec<_> = (0..processes)
            .map(|n| manager.start(&format!("child-{n}"), &ProcessSpec::shell(script.clone())).unwrap())
            .collect();
        for handle in &handles {
            assert!(handle.wait().await.expect("the child ran").success());
        }
        manager.shutdown().await.expect("nothing left to stop");
    });
    store
}

#[test]
fn every_line_of_every_child_reaches_the_store_in_order() {
    let store = run_children(3, 20, 1_000);
    let stats = store.stats();
    assert_eq!((stats.added, stats.evicted, stats.rejected), (120, 0, 0), "{stats:?}");
    for n in 0..3 {
        let entries = store.by_process(&format!("child-{n}"));
        for (stream, prefix) in [(OutputStream::Stdout, "out"), (OutputStream::Stderr, "err")] {
            let lines: Vec<&str> = entries.iter().filter(|e| e.stream == stream).map(|e| e.line.as_str()).collect();
            let expected: Vec<String> = (0..20).map(|i| format!("{prefix}{i}")).collect();
            assert_eq!(lines, expected, "child-{n} {stream}");
        }
    }
    store.snapshot().check().unwrap();
}

proptest! {
    #![proptest_config(cases(6))]
    #[test]
    fn a_small_store_keeps_the_newest_lines_and_counts_the_rest(processes in 1usize..4, lines in 1usize..30, max_entries in 1usize..40) {
        let store = run_children(processes, lines, max_entries);
        let stats = store.stats();
        let printed = (processes * lines * 2) as u64;
        prop_assert_eq!(stats.added, printed);
        prop_assert!(stats.is_conserved(), "{:?}", stats);
        prop_assert_eq!(stats.stored, (printed as usize).min(max_entries));
        prop_assert!(stats.high_water_entries <= max_entries);
        store.snapshot().check().unwrap();
    }
}
