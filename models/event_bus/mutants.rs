//! The event bus's mutation points, each switched on in the real bus and run through the
//! scenario that must catch it, with the symptom each backend reports pinned.

use super::*;
use crate::mutant_test;

/// A mutant's model: the scenario's own, and on real threads a run that hangs is reported
/// after a few seconds rather than a minute.
fn mutant_model(name: &str) -> Model {
    model(name).std_run_timeout(Duration::from_secs(5))
}

mutant_test! {
    /// The seed's design: nothing is queued or counted, and the threads are never joined.
    /// loom, which models at most a few threads, fails on the thread too many.
    fn spawning_a_thread_per_event_is_caught() {
        mutant: "event_bus.publish.spawns_thread_per_event",
        model: mutant_model("spawn per event"),
        scenario: || conservation(Backpressure::Block),
        loom: Panic "self.threads.len() < self.max()",
        shuttle: Panic "unaccounted",
        std: Panic "unaccounted",
    }
}

mutant_test! {
    /// Unsubscribing the handler right after publish makes the worker skip it.
    fn rechecking_the_subscription_when_delivering_is_caught() {
        mutant: "event_bus.work.rechecks_subscription",
        model: mutant_model("handlers rechecked when delivered"),
        scenario: snapshot_at_publish,
        loom: Panic "missed the event",
        shuttle: Panic "missed the event",
        std: Panic "missed the event",
    }
}

mutant_test! {
    /// The only worker exits after the panic: the second event stays queued through stop.
    fn a_worker_that_exits_on_a_handler_panic_is_caught() {
        mutant: "event_bus.work.exits_on_handler_panic",
        model: panicking_model("worker exits on panic").std_run_timeout(Duration::from_secs(5)),
        scenario: panicking_handler,
        loom: Panic "stop left events queued",
        shuttle: Panic "stop left events queued",
        std: Panic "stop left events queued",
    }
}

mutant_test! {
    /// The panicking event is taken and never counted out of flight: the ledger balances
    /// only through `in_flight`, which must be zero once the workers are joined.
    fn a_lost_delivered_count_on_the_panic_path_is_caught() {
        mutant: "event_bus.work.panic_skips_delivered_count",
        model: panicking_model("delivered count lost on panic").std_run_timeout(Duration::from_secs(5)),
        scenario: panicking_handler,
        loom: Panic "never counted delivered",
        shuttle: Panic "never counted delivered",
        std: Panic "never counted delivered",
    }
}

mutant_test! {
    /// The handler's publish waits for room only its own worker can make.
    fn a_handler_blocking_on_its_own_full_queue_is_caught() {
        mutant: "event_bus.publish.handler_waits_on_full_queue",
        model: mutant_model("handler blocks on a full queue"),
        scenario: reentrant_publish,
        loom: Deadlock "deadlock",
        shuttle: Deadlock "deadlock",
        std: Hang "did not finish",
    }
}

mutant_test! {
    /// The destructor's publish takes the registry's read lock under unsubscribe's write lock.
    fn dropping_the_removed_handler_under_the_lock_is_caught() {
        mutant: "event_bus.unsubscribe.drops_handler_under_lock",
        model: mutant_model("handler dropped under the registry lock"),
        scenario: handler_calling_the_bus_when_dropped,
        loom: Deadlock "deadlock",
        shuttle: Deadlock "deadlock",
        std: Deadlock "deadlock",
    }
}

mutant_test! {
    /// Both stops see the bus running; the one that finds no worker to join reports first.
    fn a_stop_claimed_in_two_steps_is_caught() {
        mutant: "event_bus.stop.claimed_in_two_steps",
        model: mutant_model("stop claimed in two steps"),
        scenario: concurrent_stops,
        loom: Panic "two stops disagree",
        shuttle: Panic "two stops disagree",
        std: Panic "two stops disagree",
    }
}

mutant_test! {
    /// Stop returns while the worker still runs (which of its traces a run sees first, the
    /// live worker, the live thread or an accepted event not yet delivered, is the schedule's).
    fn a_stop_that_does_not_join_is_caught() {
        mutant: "event_bus.stop.does_not_join",
        model: mutant_model("stop does not join"),
        scenario: stop_races_publish,
        loom: Panic "after stop returned",
        shuttle: Panic "after stop returned",
        std: Panic "after stop returned",
    }
}

mutant_test! {
    /// The second stop waits for a notification that never comes.
    fn a_second_stop_that_is_never_woken_is_caught() {
        mutant: "event_bus.stop.second_stop_never_woken",
        model: mutant_model("second stop never woken"),
        scenario: concurrent_stops,
        loom: Deadlock "deadlock",
        shuttle: Deadlock "deadlock",
        std: Hang "did not finish",
    }
}

mutant_test! {
    /// The handler returns only after stop_within has: a stop without its deadline waits
    /// for it forever.
    fn a_stop_within_that_ignores_its_deadline_is_caught() {
        mutant: "event_bus.stop_within.ignores_deadline",
        model: mutant_model("stop within ignores its deadline"),
        scenario: || stop_within_a_handler_that_does_not_return(false),
        loom: Deadlock "deadlock",
        shuttle: Deadlock "deadlock",
        std: Hang "did not finish",
    }
}

mutant_test! {
    /// The stop waiting while stop_within ran is never told the workers were left to it.
    fn a_detaching_stop_within_that_wakes_no_stopper_is_caught() {
        mutant: "event_bus.stop_within.detaching_wakes_no_stopper",
        model: mutant_model("detached workers, waiting stop never woken"),
        scenario: || stop_within_a_handler_that_does_not_return(true),
        loom: Deadlock "deadlock",
        shuttle: Deadlock "deadlock",
        std: Hang "did not finish",
    }
}

mutant_test! {
    /// Two tasks wait for room in a queue of one; the pops that make it wake neither.
    fn a_pop_that_wakes_no_async_publisher_is_caught() {
        mutant: "event_bus.work.pop_wakes_no_async_publisher",
        model: mutant_model("pop wakes no async publisher"),
        scenario: || async_publishers(TWO_PUBLISHERS),
        loom: Skip "loom cannot run tokio: the async publisher is model-checked under shuttle",
        shuttle: Deadlock "deadlock",
        std: Hang "did not finish",
    }
}

mutant_test! {
    /// The worker's pop of the first event, between the publisher's look and its
    /// registration, sees no waiter to wake; no later pop comes.
    fn an_async_publisher_registering_after_it_looked_is_caught() {
        mutant: "event_bus.publish_async.registers_after_looking",
        model: mutant_model("async waiter registered after looking"),
        scenario: || async_publishers(BACK_TO_BACK),
        loom: Skip "loom cannot run tokio: the async publisher is model-checked under shuttle",
        shuttle: Deadlock "deadlock",
        std: Skip "the pop must land between two adjacent statements of the publisher: real threads missed that window in 30,000 runs of this scenario; shuttle finds it",
    }
}

mutant_test! {
    /// The only worker is held until the publisher has its outcome: only stop can wake it.
    fn a_stop_that_wakes_no_async_publisher_is_caught() {
        mutant: "event_bus.stop.wakes_no_async_publisher",
        model: mutant_model("stop wakes no async publisher"),
        scenario: stop_wakes_an_async_publisher_waiting_for_room,
        loom: Skip "loom cannot run tokio: the async publisher is model-checked under shuttle",
        shuttle: Deadlock "deadlock",
        std: Hang "did not finish",
    }
}
