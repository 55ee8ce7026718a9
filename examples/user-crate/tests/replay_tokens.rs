//! Replay tokens travel: each backend's token replays from the token alone (loom's carries
//! its checkpoint, not a path into `target/`), and a malformed token is refused with a
//! message that says where to copy it from.

use racekit::model::{self, FailureKind, Model};
use racekit::sync::Backend;

/// Fails only when the environment makes both choices go one way (found by every backend's
/// search, and deterministic under a replay).
fn unlucky_day() {
    let disk_full = model::choose();
    let network_down = model::choose();
    assert!(!(disk_full && network_down), "the user's handler gives up when both fail");
}

#[test]
fn a_token_replays_from_the_token_alone() {
    let found = Model::named("unlucky day").run(unlucky_day).expect_err("some schedule makes both choices");
    assert_eq!(found.kind, FailureKind::Panic, "{found}");
    let payload = found.replay.token.splitn(3, '|').nth(2).expect("backend|check|payload");
    assert!(!payload.contains('/'), "no path into the build directory: {payload}");
    // Nothing of the first run is left to read: the token is all the replay gets.
    let replayed =
        Model::named("unlucky day").replay(found.replay.token.clone()).run(unlucky_day).expect_err("the replay fails");
    assert_eq!(replayed.message, found.message);
    assert_eq!(replayed.trace, found.trace, "the same steps, threads and object numbers");
    assert!(replayed.replayed);
    assert_eq!(replayed.replay.token, found.replay.token, "the replay's own token is the same");
}

#[test]
#[cfg_attr(not(racekit_loom), ignore = "loom's token is the one that used to name a checkpoint file")]
fn a_loom_token_carries_its_checkpoint() {
    let found = Model::named("unlucky day, loom").run(unlucky_day).expect_err("loom explores both choices");
    assert_eq!(found.backend, Backend::Loom);
    let payload = found.replay.token.splitn(3, '|').nth(2).unwrap();
    let (bound, checkpoint) = payload.split_once(',').expect("bound,checkpoint");
    assert!(bound.parse::<usize>().is_ok(), "{payload}");
    assert!(checkpoint.len() > 8, "the checkpoint itself, encoded: {payload}");
}

#[test]
#[should_panic(expected = "from the `reproduce with:` line")]
fn a_malformed_token_says_where_to_copy_it_from() {
    let _ = Model::named("unlucky day").replay("loom|tests/replay_tokens.rs:12").run(unlucky_day);
}
