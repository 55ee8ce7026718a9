//! Stress suite of the process manager with real processes (`sh`, `sleep`, `true`,
//! `false`): random sequences of starts, stops, waits and callback changes, then a shutdown.
//! What is left is checked against the operating system through `/proc`: no child of ours
//! (running or zombie) and no member of a child's process group may remain.

#![cfg(target_os = "linux")]

use crate::support::cases;
use proptest::prelude::*;
use racekit::output::OutputLine;
use racekit::process::{ProcessHandle, ProcessManager, ProcessSpec, StopError};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Runs until killed.
    Sleep,
    /// Exits 0 at once.
    True,
    /// Exits 1 at once.
    False,
    /// Prints this many lines on stdout and one on stderr, then exits.
    Print(u8),
    /// Starts a background grandchild, prints its pid, and waits for it.
    Grandchild,
}

impl Kind {
    fn spec(self) -> ProcessSpec {
        match self {
            Kind::Sleep => ProcessSpec::new("sleep").arg("30"),
            Kind::True => ProcessSpec::new("true"),
            Kind::False => ProcessSpec::new("false"),
            Kind::Print(lines) => ProcessSpec::shell(format!(
                "i=0; while [ $i -lt {lines} ]; do echo line $i; i=$((i+1)); done; echo done >&2"
            )),
            Kind::Grandchild => ProcessSpec::shell("sleep 30 & echo $!; wait"),
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Start(Kind),
    /// Stops the n-th started process (modulo), whether or not it still runs.
    Stop(usize),
    /// Waits for the n-th started process to end on its own (only for kinds that do).
    Wait(usize),
    /// Kills the n-th started process through its handle and waits for the reap.
    Kill(usize),
    StopAll,
    /// Adds a callback that counts lines, and removes it at the next such op.
    ToggleCallback,
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![
        Just(Kind::Sleep),
        Just(Kind::True),
        Just(Kind::False),
        (0u8..5).prop_map(Kind::Print),
        Just(Kind::Grandchild),
    ];
    prop_oneof![
        4 => kind.prop_map(Op::Start),
        2 => (0usize..8).prop_map(Op::Stop),
        2 => (0usize..8).prop_map(Op::Wait),
        1 => (0usize..8).prop_map(Op::Kill),
        1 => Just(Op::StopAll),
        1 => Just(Op::ToggleCallback),
    ]
}

/// `/proc/<pid>/stat`: (state, parent pid, process group), if the process exists.
fn stat(pid: u32) -> Option<(char, u32, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last one.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    let group = fields.next()?.parse().ok()?;
    Some((state, parent, group))
}

/// Whether `pid` is a child of this test process, running or a zombie.
fn is_our_child(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, parent, _)| parent == std::process::id())
}

/// Whether `pid` is alive (not a zombie) and still in process group `group`.
fn is_alive_in_group(pid: u32, group: u32) -> bool {
    stat(pid).is_some_and(|(state, _, in_group)| state != 'Z' && in_group == group)
}

/// Waits up to a second for `gone` (a killed orphan is reaped by init asynchronously).
fn eventually(mut gone: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if gone() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    gone()
}

struct Started {
    kind: Kind,
    handle: ProcessHandle,
    waited: bool,
}

async fn run_case(ops: Vec<Op>) {
    let manager = ProcessManager::new();
    let lines: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
    {
        let lines = lines.clone();
        manager.add_callback(move |line: &OutputLine| {
            lines.lock().unwrap().entry(line.process.to_string()).or_default().push(line.line.clone());
        });
    }
    let mut extra = None;
    let extra_lines = Arc::new(Mutex::new(0usize));
    let mut started: Vec<Started> = Vec::new();
    for op in ops {
        match op {
            Op::Start(kind) => {
                let handle = manager.start(&format!("p{}", started.len()), &kind.spec()).expect("the programs exist");
                assert!(handle.pid().is_some());
                started.push(Started { kind, handle, waited: false });
            }
            Op::Stop(n) if !started.is_empty() => {
                let process = &started[n % started.len()];
                match manager.stop(process.handle.name()).await {
                    Ok(exit) => assert!(exit.killed || process.handle.exit().is_some(), "{exit:?}"),
                    Err(StopError::NotRunning { .. }) => {
                        assert!(process.handle.exit().is_some(), "not running, yet no exit")
                    }
                    Err(other) => panic!("{other}"),
                }
                assert!(process.handle.exit().is_some(), "stop returned before the reap");
            }
            Op::Wait(n) if !started.is_empty() => {
                let index = n % started.len();
                if !matches!(started[index].kind, Kind::Sleep | Kind::Grandchild) {
                    let exit = started[index].handle.wait().await.expect("the wait succeeds");
                    if !exit.killed {
                        let expected = !matches!(started[index].kind, Kind::False);
                        assert_eq!(exit.success(), expected, "{:?}: {exit:?}", started[index].kind);
                        started[index].waited = true;
                    }
                }
            }
            Op::Kill(n) if !started.is_empty() => {
                let handle = &started[n % started.len()].handle;
                handle.kill();
                let exit = handle.wait().await.expect("the wait succeeds");
                assert!(exit.killed || exit.signal.is_none(), "{exit:?}");
            }
            Op::StopAll => {
                let stopped = manager.stop_all().await.expect("every stop succeeds");
                assert!(stopped.iter().all(|(_, exit)| exit.killed || exit.signal.is_none()));
            }
            Op::ToggleCallback => match extra.take() {
                Some(id) => assert!(manager.remove_callback(id)),
                None => {
                    let counted = extra_lines.clone();
                    extra = Some(manager.add_callback(move |_: &OutputLine| *counted.lock().unwrap() += 1));
                }
            },
            Op::Stop(_) | Op::Wait(_) | Op::Kill(_) => {}
        }
    }
    manager.shutdown().await.expect("every stop succeeds");
    assert!(manager.running().is_empty());
    assert!(manager.start("late", &Kind::True.spec()).is_err(), "a start after shutdown");

    let lines = lines.lock().unwrap();
    for (index, process) in started.iter().enumerate() {
        let pid = process.handle.pid().expect("spawned");
        assert!(process.handle.exit().is_some(), "p{index} has no recorded end after shutdown");
        assert!(!is_our_child(pid), "p{index} (pid {pid}) outlived the shutdown: {:?}", stat(pid));
        let own = lines.get(&format!("p{index}")).cloned().unwrap_or_default();
        match process.kind {
            Kind::Print(count) if process.waited => {
                let mut expected: Vec<String> = (0..count).map(|n| format!("line {n}")).collect();
                expected.push("done".to_owned());
                let mut got = own.clone();
                got.sort();
                expected.sort();
                assert_eq!(got, expected, "p{index}'s output was lost or repeated");
            }
            Kind::Grandchild => {
                if let Some(grandchild) = own.first().and_then(|line| line.parse::<u32>().ok()) {
                    assert!(
                        eventually(|| !is_alive_in_group(grandchild, pid)),
                        "p{index}'s grandchild {grandchild} outlived it: {:?}",
                        stat(grandchild)
                    );
                }
            }
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(cases(16))]

    #[test]
    fn no_child_outlives_the_manager(ops in prop::collection::vec(op(), 1..10)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(run_case(ops));
    }
}

/// A real process manager, and the lines its processes print, in order.
fn manager_with_lines() -> (ProcessManager<racekit::process::TokioSpawner>, tokio::sync::mpsc::UnboundedReceiver<String>)
{
    let manager = ProcessManager::new();
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    manager.add_callback(move |line: &OutputLine| drop(sender.send(line.line.clone())));
    (manager, receiver)
}

#[test]
fn a_killed_process_still_delivers_what_it_printed_and_its_group_dies() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (manager, mut receiver) = manager_with_lines();
        let handle = manager.start("tree", &ProcessSpec::shell("sleep 30 & echo $!; echo ready; wait")).unwrap();
        let grandchild: u32 = receiver.recv().await.unwrap().parse().unwrap();
        assert_eq!(receiver.recv().await.unwrap(), "ready");
        let exit = manager.stop("tree").await.unwrap();
        assert!(exit.killed && exit.signal == Some(15), "a stop asks with SIGTERM first: {exit:?}");
        assert_eq!(handle.exit(), Some(Ok(exit)));
        assert!(!is_our_child(handle.pid().unwrap()));
        assert!(eventually(|| !is_alive_in_group(grandchild, handle.pid().unwrap())), "the grandchild survived");
        assert!(matches!(manager.stop("tree").await, Err(StopError::NotRunning { .. })));
    });
}

#[test]
fn a_program_that_does_not_exist_is_a_typed_error_and_leaves_nothing_behind() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let manager = ProcessManager::new();
        let error = manager.start("ghost", &ProcessSpec::new("/nonexistent/program")).unwrap_err();
        assert!(error.to_string().contains("the program `/nonexistent/program` was not found"), "{error}");
        let error =
            manager.start("ghost", &ProcessSpec::new("true").current_dir("/nonexistent/directory")).unwrap_err();
        assert!(error.to_string().contains("the working directory /nonexistent/directory does not exist"), "{error}");
        let not_executable = std::env::temp_dir().join(format!("racekit-not-executable-{}", std::process::id()));
        std::fs::write(&not_executable, "echo never\n").unwrap();
        let error = manager.start("ghost", &ProcessSpec::new(&not_executable)).unwrap_err();
        std::fs::remove_file(&not_executable).unwrap();
        assert!(error.to_string().contains("cannot be run by this user"), "{error}");
        let error = manager.start("ghost", &ProcessSpec::new("true").max_line_bytes(0)).unwrap_err();
        assert!(error.to_string().contains("max_line_bytes is 0"), "{error}");
        assert!(manager.running().is_empty());
        // The name is free again.
        manager.start("ghost", &ProcessSpec::new("true")).unwrap().wait().await.unwrap();
    });
}

#[test]
fn a_process_that_ignores_sigterm_is_killed_after_its_grace() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (manager, mut receiver) = manager_with_lines();
        let stubborn = ProcessSpec::shell("trap '' TERM; echo ready; while :; do sleep 0.05; done")
            .stop_grace(Duration::from_millis(100));
        let handle = manager.start("stubborn", &stubborn).unwrap();
        assert_eq!(receiver.recv().await.unwrap(), "ready");
        let exit = manager.stop("stubborn").await.unwrap();
        assert!(exit.killed && exit.signal == Some(9), "SIGTERM ignored, SIGKILL after the grace: {exit:?}");
        assert!(!is_our_child(handle.pid().unwrap()));
    });
}

#[test]
fn a_line_over_the_limit_is_cut_counted_and_never_buffered_whole() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let manager = ProcessManager::new();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        manager.add_callback(move |line: &OutputLine| seen.lock().unwrap().push(line.line.clone()));
        // 4 MiB on one line without a newline, then a short line, with a 1 KiB limit.
        let spec = ProcessSpec::shell("head -c 4194304 /dev/zero | tr '\\0' x; echo; echo short; printf tail")
            .max_line_bytes(1024);
        assert!(manager.start("long", &spec).unwrap().wait().await.unwrap().success());
        let lines = lines.lock().unwrap().clone();
        assert_eq!(lines.len(), 3, "{:?}", lines.iter().map(String::len).collect::<Vec<_>>());
        assert_eq!((lines[0].len(), &lines[1][..], &lines[2][..]), (1024, "short", "tail"));
        assert_eq!(manager.truncated_output(), (1, 4_194_304 - 1024));
    });
}

#[test]
fn the_os_probe_sees_an_unreaped_child_and_a_live_group_member() {
    // The checks above can fail: a child not yet reaped (a zombie) is seen, and so is a
    // live member of a process group.
    let mut child = std::process::Command::new("sh")
        .args(["-c", "sleep 30 & echo $!; exit 0"])
        .stdout(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut first).unwrap();
    let grandchild: u32 = first.trim().parse().unwrap();
    assert!(
        eventually(|| stat(pid).is_some_and(|(state, _, _)| state == 'Z')),
        "the exited, unreaped child is a zombie"
    );
    assert!(is_our_child(pid), "a zombie child is seen");
    assert!(is_alive_in_group(grandchild, pid), "the background grandchild is seen in the group");
    child.wait().unwrap();
    assert!(!is_our_child(pid), "a reaped child is gone");
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert!(eventually(|| !is_alive_in_group(grandchild, pid)));
}
