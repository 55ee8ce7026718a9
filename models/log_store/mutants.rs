//! The log store's mutation points, each switched on in the real store and met by the
//! scenario that shows it, with the symptom each backend reports pinned.

use super::*;

/// A model for a mutant: loom preemption bound 2, and 2000 runs (shuttle's default) on
/// real threads too, where a two-line race shows only now and then.
fn mutant_model(name: &str) -> Model {
    Model::named(format!("log store mutant: {name}")).preemption_bound(2).iterations(2000)
}

crate::mutant_test! {
    /// Two adds each make room for one entry, then both store theirs: the ring holds one
    /// more than its bound.
    fn room_made_in_a_separate_critical_section_is_caught() {
        mutant: "log_store.add.room_made_in_a_separate_section",
        model: mutant_model("room made apart"),
        scenario: racing_producers,
        loom: Panic "bound exceeded",
        shuttle: Panic "bound exceeded",
        std: Panic "bound exceeded",
    }
}

crate::mutant_test! {
    /// The reader sees an entry published before its line was filled in.
    fn an_entry_filled_after_publishing_is_caught() {
        mutant: "log_store.add.entry_filled_after_publishing",
        model: mutant_model("two-phase insert"),
        scenario: racing_producers,
        loom: Panic "torn entry",
        shuttle: Panic "torn entry",
        std: Panic "torn entry",
    }
}

crate::mutant_test! {
    /// Another add evicts the entry before it is indexed, and the store's own check finds
    /// the oldest live entry missing from its process's index (the schedule both model
    /// checkers reach first). Real threads also meet the reader's snapshot in the gap, which
    /// finds an entry not indexed, or the late index entry out of order.
    fn an_index_updated_outside_the_lock_is_caught() {
        mutant: "log_store.add.index_in_a_second_section",
        model: mutant_model("index apart"),
        scenario: racing_producers,
        loom: Panic "index out of step with the ring",
        shuttle: Panic "index out of step with the ring",
        std: Panic "index",
    }
}

crate::mutant_test! {
    /// The reader's snapshot holds an entry not yet counted as added.
    fn a_count_updated_outside_the_lock_is_caught() {
        mutant: "log_store.add.counted_in_a_second_section",
        model: mutant_model("count apart"),
        scenario: racing_producers,
        loom: Panic "not conserved",
        shuttle: Panic "not conserved",
        std: Panic "not conserved",
    }
}

crate::mutant_test! {
    /// A process's first entry is admitted without room for its index record: the bytes
    /// held pass the bound.
    fn room_that_ignores_the_index_record_is_caught() {
        mutant: "log_store.add.room_ignores_the_record",
        model: mutant_model("room ignores the record"),
        scenario: byte_bound,
        loom: Panic "bound exceeded: bytes",
        shuttle: Panic "bound exceeded: bytes",
        std: Panic "bound exceeded: bytes",
    }
}

crate::mutant_test! {
    /// The index keeps pointing at an evicted entry.
    fn an_eviction_that_forgets_the_index_is_caught() {
        mutant: "log_store.evict.forgets_the_index",
        model: mutant_model("eviction forgets the index"),
        scenario: racing_producers,
        loom: Panic "not live",
        shuttle: Panic "not live",
        std: Panic "not live",
    }
}

crate::mutant_test! {
    /// Evicting a process's last entry counts two evictions.
    fn a_last_entry_eviction_counted_twice_is_caught() {
        mutant: "log_store.evict.last_entry_counted_twice",
        model: mutant_model("eviction counted twice"),
        scenario: racing_producers,
        loom: Panic "not conserved",
        shuttle: Panic "not conserved",
        std: Panic "not conserved",
    }
}

crate::mutant_test! {
    /// A freed index record is still charged: the byte count disagrees with what is held.
    fn record_bytes_kept_after_eviction_are_caught() {
        mutant: "log_store.evict.record_bytes_kept",
        model: mutant_model("record bytes kept"),
        scenario: byte_bound,
        loom: Panic "bytes counted",
        shuttle: Panic "bytes counted",
        std: Panic "bytes counted",
    }
}

crate::mutant_test! {
    /// An eviction between the reader's two acquisitions shifts every ring position: the
    /// positions it resolved for one process now hold another's entries.
    fn a_query_resolving_positions_in_a_second_lock_is_caught() {
        mutant: "log_store.by_process.positions_in_a_second_section",
        model: mutant_model("query in two locks"),
        scenario: racing_producers,
        loom: Panic "another process",
        shuttle: Panic "another process",
        std: Panic "another process",
    }
}
