//! proptest around `check`, through `racekit::model::scenario`: the failure printed last is
//! the minimal scenario's, and its reproduce command, pasted as printed, replays it.

use racekit::model::scenario;
use racekit::sync::{thread, Arc};
use shop::Inventory;
use std::process::Command;

/// The user's scenario: `buyers` threads race for `stock` items, and each, when it gets
/// one, checks a (wrong) rule that the last item never goes to a second buyer.
fn sales(stock: u32, buyers: usize) -> impl Fn() + Send + Sync + 'static {
    move || {
        let inventory = Arc::new(Inventory::new(stock));
        let threads: Vec<_> = (0..buyers)
            .map(|_| {
                let inventory = inventory.clone();
                thread::spawn(move || inventory.take())
            })
            .collect();
        let sold = threads.into_iter().map(|buyer| buyer.join().unwrap()).filter(|&sold| sold).count();
        assert_eq!(sold as u32, stock.min(buyers as u32), "every item sells while buyers last");
        assert!(sold < 2, "the user's wrong rule: at most one sale");
    }
}

#[test]
fn scenarios_that_hold_pass() {
    let reports = scenario::check(scenario::config(6), (0u32..2, 1usize..3), |&(stock, buyers)| sales(stock, buyers));
    assert!(reports.iter().all(|report| report.ran()), "no replay token: every scenario runs");
    assert!(reports.len() >= 6);
}

/// Fails for every scenario with two items and two buyers; proptest shrinks to the smallest.
#[test]
#[ignore = "fails on purpose: run by the replay test below"]
fn oversold_scenarios() {
    scenario::check(scenario::config(16), (0u32..4, 1usize..4), |&(stock, buyers)| sales(stock, buyers));
}

/// The last `reproduce with:` command of a test's output.
fn last_reproduce_command(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let at = lines.iter().rposition(|line| line.trim() == "reproduce with:").expect("a reproduce command");
    lines[at + 1].trim().to_owned()
}

/// Runs this test binary's `oversold_scenarios`, with `replay` if given, and returns its
/// output.
fn run_oversold(replay: Option<&str>) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--ignored", "--exact", "oversold_scenarios", "--test-threads=1"]);
    command.env_remove("RACEKIT_REPLAY");
    if let Some(token) = replay {
        command.env("RACEKIT_REPLAY", token);
    }
    let output = command.output().expect("the test binary runs");
    assert!(!output.status.success(), "the scenario test fails");
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// Splits a command as a POSIX shell would (only the quoting racekit prints).
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in command.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => words.push(std::mem::take(&mut word)),
            c => word.push(c),
        }
    }
    words.push(word);
    words.retain(|word| !word.is_empty());
    words
}

#[test]
fn the_last_printed_command_replays_the_minimal_scenario() {
    let found = run_oversold(None);
    assert!(found.contains("racekit: minimal failing scenario: (2, 2)"), "proptest shrinks to (2, 2): {found}");
    let command = last_reproduce_command(&found);
    assert!(command.ends_with("oversold_scenarios"), "nothing trails the command: {command:?}");
    let token = shell_words(&command)
        .into_iter()
        .find_map(|word| word.strip_prefix("RACEKIT_REPLAY=").map(str::to_owned))
        .expect("the command sets RACEKIT_REPLAY");
    assert!(token.contains("#(2, 2)"), "the token names the minimal scenario's model: {token}");
    let replayed = run_oversold(Some(&token));
    assert!(replayed.contains("racekit: minimal failing scenario: (2, 2)"), "{replayed}");
    assert!(replayed.contains("SKIPPED"), "the other scenarios are reported as skipped: {replayed}");
    assert!(replayed.contains("at most one sale"), "{replayed}");
}

#[test]
fn a_token_that_matches_no_scenario_fails_the_test() {
    let stale = "std|tests/scenarios.rs:1:1#(9, 9)|42".replace("std", racekit::sync::Backend::CURRENT.name());
    let output = run_oversold(Some(&stale));
    assert!(output.contains("matched none of the"), "{output}");
}
