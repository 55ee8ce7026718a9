//! Catching the panics of user code without swallowing the model checker's own.

use std::panic::AssertUnwindSafe;

/// Runs `body`, catching a panic it raises, like `std::panic::catch_unwind`, for code that
/// must survive the panics of user code it calls (a worker running handlers).
///
/// Under the model checkers a panic can also be the checker itself ending the execution:
/// loom reports a deadlock (or a model that exceeded its branch limit) by panicking in
/// whichever thread runs when it finds out, and shuttle unwinds every task's stack when an
/// execution ends. Those are re-raised, so that the failure reaches the checker instead of
/// a worker carrying on in an execution that is already over. A failure one of racekit's
/// own detectors raised inside the check (a lock-order cycle, a re-entrant lock, a data race
/// on a [`RaceCell`](crate::sync::RaceCell)) is re-raised too, on every backend: it is the
/// bug the check looks for, not a user callback's error to count. Every other panic is
/// caught.
///
/// # Examples
///
/// ```
/// let caught = racekit::sync::catch_unwind(|| panic!("a handler failed"));
/// assert!(caught.is_err());
/// assert_eq!(racekit::sync::catch_unwind(|| 7).ok(), Some(7));
/// ```
pub fn catch_unwind<R>(body: impl FnOnce() -> R) -> std::thread::Result<R> {
    match std::panic::catch_unwind(AssertUnwindSafe(body)) {
        Err(payload) if raised_by_the_checker(&*payload) || raised_by_a_detector(&*payload) => {
            std::panic::resume_unwind(payload)
        }
        result => result,
    }
}

/// One of racekit's detectors failed the running check with this panic.
fn raised_by_a_detector(payload: &(dyn std::any::Any + Send)) -> bool {
    crate::model::detect::raised_by_a_detector_in_this_run(&crate::model::panic_message(payload))
}

/// loom: a deadlock or an exceeded branch bound that loom raised in its own code (the panic
/// hook of [`crate::model`] recorded it for the running check; a user's panic that quotes
/// loom is not one), or loom reporting a bug of its own.
#[cfg(racekit_loom)]
fn raised_by_the_checker(payload: &(dyn std::any::Any + Send)) -> bool {
    let message = crate::model::panic_message(payload);
    crate::model::detect::raised_by_the_checker_in_this_run(&message) || message.contains("[loom internal bug]")
}

#[cfg(racekit_shuttle)]
fn raised_by_the_checker(_payload: &(dyn std::any::Any + Send)) -> bool {
    shuttle_engine::runtime::execution::ExecutionState::unwinding_for_teardown()
}

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
fn raised_by_the_checker(_payload: &(dyn std::any::Any + Send)) -> bool {
    false
}
