//! The pool's mutation points, each switched on in the real pool and met by the scenario
//! that shows it, with the symptom each backend reports pinned.

use super::*;
use racekit::model::Model;

/// A model for a mutant: preemption bound 2 for loom, and on real threads a run timeout
/// short enough that a mutant that strands a thread is reported as a hang in seconds.
fn mutant_model(name: &str) -> Model {
    Model::named(format!("pool mutant: {name}")).preemption_bound(2).std_run_timeout(Duration::from_secs(2))
}

crate::mutant_test! {
    /// A connection returned between the waiter's "nothing idle" and its enqueue finds
    /// nobody waiting and goes idle; the waiter then queues next to it, which the pool's
    /// own invariant (nobody waits while a connection is idle) refuses.
    fn an_idle_check_apart_from_the_wait_is_caught() {
        mutant: "pool.get.idle_check_apart_from_the_wait",
        model: mutant_model("idle check apart from the wait"),
        scenario: untimed_hand_off,
        loom: Panic "waits while a connection is idle",
        shuttle: Panic "waits while a connection is idle",
        std: Panic "waits while a connection is idle",
    }
}

crate::mutant_test! {
    /// The waiter's timeout fires just as the connection is handed to it: it drops the
    /// connection, which stays counted as in use and is never closed.
    fn a_hand_off_dropped_on_timeout_is_caught() {
        mutant: "pool.handoff.drop_on_timeout",
        // Shuttle's default; on real threads the timeout meets the hand-off about once in a
        // few hundred runs.
        model: mutant_model("hand-off dropped on timeout").iterations(2000),
        scenario: timed_hand_off,
        loom: Panic "lost at rest",
        shuttle: Panic "lost at rest",
        std: Panic "lost at rest",
    }
}

crate::mutant_test! {
    /// The returned connection goes idle while a request is queued for it.
    fn a_return_that_skips_the_queue_is_caught() {
        mutant: "pool.put_back.skips_the_queue",
        model: mutant_model("return skips the queue"),
        scenario: untimed_hand_off,
        loom: Panic "waits while a connection is idle",
        shuttle: Panic "waits while a connection is idle",
        std: Panic "waits while a connection is idle",
    }
}

crate::mutant_test! {
    /// The connection guard's drop grants the connection to the queued request but never
    /// wakes it: the request sleeps on, and the main thread waits for it.
    fn a_hand_off_without_a_wake_up_is_caught() {
        mutant: "pool.put_back.hands_off_without_waking",
        model: mutant_model("hand-off without a wake-up"),
        scenario: untimed_hand_off,
        loom: Deadlock "deadlock",
        shuttle: Deadlock "deadlock",
        std: Hang "did not finish",
    }
}

crate::mutant_test! {
    /// The failed connect keeps the only slot: the other request waits for it forever.
    fn capacity_kept_after_a_connect_failure_is_caught() {
        mutant: "pool.connect.failure_keeps_the_slot",
        model: mutant_model("connect failure keeps the slot"),
        scenario: connect_failure_races_a_waiter,
        loom: Deadlock "deadlock",
        shuttle: Deadlock "deadlock",
        std: Hang "did not finish",
    }
}

crate::mutant_test! {
    /// A waiter refused by close releases a reservation it never held: the opening count
    /// goes below zero.
    fn a_refused_waiter_returning_a_slot_it_never_held_is_caught() {
        mutant: "pool.close.refused_waiter_returns_a_slot",
        model: mutant_model("refused waiter returns a slot"),
        scenario: close_races_a_holder_and_a_waiter,
        loom: Panic "below zero",
        shuttle: Panic "below zero",
        std: Panic "below zero",
    }
}

crate::mutant_test! {
    /// close returns while the holder still has its connection.
    fn a_close_returning_before_connections_are_back_is_caught() {
        mutant: "pool.close.returns_before_drained",
        model: mutant_model("close does not wait"),
        scenario: close_races_a_holder_and_a_waiter,
        loom: Panic "close returned",
        shuttle: Panic "close returned",
        std: Panic "close returned",
    }
}

crate::mutant_test! {
    /// The queued request is failed by close but never woken.
    fn a_close_that_wakes_no_waiter_is_caught() {
        mutant: "pool.close.wakes_no_waiter",
        model: mutant_model("close wakes nobody"),
        scenario: close_races_a_holder_and_a_waiter,
        loom: Deadlock "deadlock",
        shuttle: Deadlock "deadlock",
        std: Hang "did not finish",
    }
}

crate::mutant_test! {
    /// The connection comes back and is closed just as the bounded close's timeout fires:
    /// without the re-check, close_timeout reports a timeout on a drained pool.
    fn a_close_timeout_without_its_recheck_is_caught() {
        mutant: "pool.close.timeout_skips_the_recheck",
        model: mutant_model("close timeout skips the re-check"),
        scenario: close_timeout_races_the_return,
        loom: Panic "timed out on a drained pool",
        shuttle: Panic "timed out on a drained pool",
        std: Panic "timed out on a drained pool",
    }
}

crate::mutant_test! {
    /// close waits for the connection being replaced; the replacement finds the pool
    /// closed, closes the last connection, and wakes nobody.
    fn a_replacement_that_does_not_wake_close_is_caught() {
        mutant: "pool.replace.closed_wakes_no_closer",
        model: mutant_model("replacement wakes no closer"),
        scenario: replacement_races_close,
        loom: Deadlock "deadlock",
        shuttle: Deadlock "deadlock",
        std: Hang "did not finish",
    }
}

crate::mutant_test! {
    /// The connector's close runs under the pool's lock and calls back into the pool,
    /// which waits for the lock its own thread holds.
    fn a_destructor_run_under_the_lock_is_caught() {
        mutant: "pool.close.destructor_under_the_lock",
        model: mutant_model("close under the lock"),
        scenario: close_calls_back_into_the_pool,
        loom: Deadlock "not re-entrant",
        shuttle: Deadlock "not re-entrant",
        std: Deadlock "not re-entrant",
    }
}

crate::mutant_test! {
    /// Both returns are kept idle by a pool that keeps one.
    fn max_idle_off_by_one_is_caught() {
        mutant: "pool.put_back.max_idle_off_by_one",
        model: mutant_model("max idle off by one"),
        scenario: returns_beyond_max_idle,
        loom: Panic "more idle than max_idle",
        shuttle: Panic "more idle than max_idle",
        std: Panic "more idle than max_idle",
    }
}

crate::mutant_test! {
    /// The reaper takes the expired connection out of the idle set without counting it
    /// as closing: the counts no longer add up.
    fn an_uncounted_reap_is_caught() {
        mutant: "pool.reap.uncounted_close",
        model: mutant_model("reap uncounted"),
        scenario: reaping_races_a_request,
        loom: Panic "do not add up",
        shuttle: Panic "do not add up",
        std: Panic "do not add up",
    }
}

crate::mutant_test! {
    /// The request dropped while queued leaves its ticket behind: the returned
    /// connection is granted to it and nobody collects it.
    fn a_cancelled_request_that_forgets_its_ticket_is_caught() {
        mutant: "pool.acquire.cancel_forgets_the_ticket",
        model: mutant_model("cancel forgets the ticket"),
        scenario: cancellation::request_cancelled_at_the_hand_off,
        loom: Skip "async requests need tokio, which loom cannot run",
        shuttle: Panic "lost at rest",
        std: Panic "lost at rest",
    }
}

crate::mutant_test! {
    /// The request dropped just after the hand-off drops the connection it was granted
    /// instead of handing it on.
    fn a_cancelled_request_that_drops_its_grant_is_caught() {
        mutant: "pool.acquire.cancel_drops_the_grant",
        model: mutant_model("cancel drops the grant"),
        scenario: cancellation::request_cancelled_at_the_hand_off,
        loom: Skip "async requests need tokio, which loom cannot run",
        shuttle: Panic "lost at rest",
        std: Panic "lost at rest",
    }
}

crate::mutant_test! {
    /// The request cancelled while connecting drops its reservation, which keeps the only
    /// slot: the other request waits for it forever.
    fn a_dropped_reservation_that_keeps_its_slot_is_caught() {
        mutant: "pool.reservation.drop_keeps_the_slot",
        model: mutant_model("dropped reservation keeps the slot"),
        scenario: cancellation::request_cancelled_while_connecting,
        loom: Skip "only a cancelled async connect drops a reservation unused, and loom cannot run tokio",
        shuttle: Deadlock "deadlock",
        std: Hang "did not finish",
    }
}

crate::mutant_test! {
    /// The task queued for a connection is failed by close but never woken.
    fn an_async_close_that_wakes_no_waiter_is_caught() {
        mutant: "pool.close.wakes_no_waiter",
        model: mutant_model("async close wakes nobody"),
        scenario: cancellation::async_close_with_a_holder_and_a_waiter,
        loom: Skip "async requests need tokio, which loom cannot run",
        shuttle: Deadlock "deadlock",
        std: Hang "did not finish",
    }
}
