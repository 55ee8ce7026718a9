//! Async code with the user's own `tokio` dependency (renamed to shuttle-tokio, as README's
//! setup says): modelled under shuttle, and refused under loom with a failure that says how
//! to gate the model.

use racekit::model::{FailureKind, Model};
use racekit::sync::{task, Arc};

/// The user's bug: a notification sent before anyone waits is lost
/// (`notify_waiters` stores no permit).
async fn hand_over() {
    let ready = Arc::new(tokio::sync::Notify::new());
    let waiter = {
        let ready = ready.clone();
        tokio::spawn(async move { ready.notified().await })
    };
    ready.notify_waiters();
    waiter.await.unwrap();
}

#[test]
#[cfg_attr(not(racekit_shuttle), ignore = "async interleavings are model-checked under shuttle")]
fn a_lost_wakeup_in_the_users_tokio_code_is_caught_under_shuttle() {
    let failure = Model::named("lost notify").run(|| task::block_on(hand_over())).expect_err("shuttle finds it");
    assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
    assert!(failure.replay.command.contains("RACEKIT_REPLAY="), "{failure}");
}

#[test]
#[cfg_attr(not(racekit_loom), ignore = "only loom refuses tokio")]
fn an_async_facade_call_under_loom_is_a_setup_failure_that_names_the_gate() {
    let failure = Model::named("async under loom")
        .run(|| task::block_on(async { task::spawn(async {}).await.unwrap() }))
        .expect_err("loom cannot run tokio");
    assert_eq!(failure.kind, FailureKind::Setup, "{failure}");
    assert!(
        failure.message.contains("loom cannot run tokio: gate this model with `cfg(not(racekit_loom))`"),
        "{failure}"
    );
}

#[test]
#[cfg_attr(racekit_loom, ignore = "loom cannot run tokio")]
fn a_tasks_assertion_is_the_cause_and_the_awaited_unwrap_only_a_note() {
    let failure = Model::named("failing task")
        .run(|| {
            task::block_on(async {
                let worker = task::spawn(async { assert_eq!(2 + 2, 5, "the task's own assertion") });
                worker.await.unwrap();
            })
        })
        .expect_err("the task always fails");
    assert_eq!(failure.kind, FailureKind::Panic, "{failure}");
    assert!(failure.message.contains("the task's own assertion"), "{failure}");
    assert!(!failure.message.contains("JoinError"), "{failure}");
}
