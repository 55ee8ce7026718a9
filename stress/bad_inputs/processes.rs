//! Rows for the process manager with real children: specs the operating system refuses
//! (empty, missing or NUL-bearing programs, missing directories), names reused or
//! unknown, and processes that exit early, flood their output, write endless or
//! non-UTF-8 lines, or ignore `SIGTERM`; callbacks that panic or call back.

#![cfg(target_os = "linux")]

use super::table::{ensure, fixed, refused, row, same, Class, Expect, Miss, Row};
use racekit::process::{ProcessManager, ProcessSpec, StartError, StopError, TokioSpawner};
use racekit::sync::atomic::{AtomicUsize, Ordering};
use racekit::sync::Arc;
use std::ffi::OsString;
use std::future::Future;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

type Manager = ProcessManager<TokioSpawner>;

/// Runs `body` with a fresh manager on a runtime of its own, then shuts the manager down,
/// so no row leaves a child behind.
fn with_manager<T, F: Future<Output = Result<T, Miss>>>(body: impl FnOnce(Arc<Manager>) -> F) -> Result<T, Miss> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let manager = Arc::new(ProcessManager::new());
        let outcome = body(manager.clone()).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), manager.shutdown()).await;
        ensure(manager.running().is_empty(), || "a child outlived the shutdown".into())?;
        outcome
    })
}

/// Starting `spec` is refused with a spawn error whose message contains `hint`.
fn spawn_refused(spec: ProcessSpec, hint: &'static str) -> Result<(), Miss> {
    with_manager(|manager| async move {
        refused(manager.start("bad", &spec).map(drop), |e| matches!(e, StartError::Spawn { .. }), hint)?;
        same(manager.running().len(), 0)
    })
}

/// Lines delivered, and the bytes of the longest, for the whole output of `spec`.
fn delivered(spec: ProcessSpec) -> Result<(usize, usize), Miss> {
    with_manager(|manager| async move {
        let (lines, longest) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        {
            let (lines, longest) = (lines.clone(), longest.clone());
            manager.add_callback(move |line| {
                lines.fetch_add(1, Ordering::SeqCst);
                longest.fetch_max(line.line.len(), Ordering::SeqCst);
            });
        }
        let handle = manager.start("talker", &spec).map_err(|e| Miss::silent(e.to_string()))?;
        handle.wait().await.map_err(|e| Miss::silent(e.to_string()))?;
        Ok((lines.load(Ordering::SeqCst), longest.load(Ordering::SeqCst)))
    })
}

pub fn rows() -> Vec<Row> {
    use Expect::*;
    vec![
        row("process: an empty program", TypedError, || spawn_refused(ProcessSpec::new(""), "could not be spawned")),
        row("process: a program that does not exist", TypedError, || {
            spawn_refused(ProcessSpec::new("racekit-no-such-program"), "racekit-no-such-program")
        }),
        row("process: a program path that is a directory", TypedError, || {
            spawn_refused(ProcessSpec::new("/tmp"), "could not be spawned")
        }),
        row("process: a program name with a NUL byte", TypedError, || {
            spawn_refused(ProcessSpec::new("tr\0ue"), "could not be spawned")
        }),
        row("process: an argument with a NUL byte", TypedError, || {
            spawn_refused(ProcessSpec::new("true").arg("a\0b"), "could not be spawned")
        }),
        row("process: an environment value with a NUL byte", TypedError, || {
            spawn_refused(ProcessSpec::new("true").env("RACEKIT_BAD", "a\0b"), "could not be spawned")
        }),
        row("process: a working directory that does not exist", TypedError, || {
            spawn_refused(ProcessSpec::new("true").current_dir("/nonexistent/racekit"), "/nonexistent/racekit")
        }),
        row("process: a working directory that is a file", TypedError, || {
            spawn_refused(ProcessSpec::new("true").current_dir("/etc/hostname"), "/etc/hostname")
        }),
        row("process: max_line_bytes 0", TypedError, || {
            with_manager(|manager| async move {
                let spec = ProcessSpec::new("true").max_line_bytes(0);
                refused(
                    manager.start("p", &spec).map(drop),
                    |e| matches!(e, StartError::ZeroLineLimit { .. }),
                    "at least 1 byte",
                )
            })
        }),
        row("process: a name already running", TypedError, || {
            with_manager(|manager| async move {
                let spec = ProcessSpec::new("sleep").arg("30");
                manager.start("twin", &spec).map_err(|e| Miss::silent(e.to_string()))?;
                refused(
                    manager.start("twin", &spec).map(drop),
                    |e| matches!(e, StartError::AlreadyRunning { .. }),
                    "pick another name",
                )
            })
        }),
        row("process: an empty name", Documented, || {
            with_manager(|manager| async move {
                manager.start("", &ProcessSpec::new("sleep").arg("30")).map_err(|e| Miss::silent(e.to_string()))?;
                let exit = manager.stop("").await.map_err(|e| Miss::silent(e.to_string()))?;
                same(exit.killed, true)
            })
        }),
        row("process: stop of a name never started", TypedError, || {
            with_manager(|manager| async move {
                let outcome = manager.stop("ghost").await;
                same(outcome, Err(StopError::NotRunning { name: "ghost".into() }))
            })
        }),
        row("process: stop of a process that already exited", Documented, || {
            with_manager(|manager| async move {
                let handle =
                    manager.start("brief", &ProcessSpec::new("true")).map_err(|e| Miss::silent(e.to_string()))?;
                handle.wait().await.map_err(|e| Miss::silent(e.to_string()))?;
                same(manager.stop("brief").await, Err(StopError::NotRunning { name: "brief".into() }))
            })
        }),
        row("process: kill twice, then wait", Bounded, || {
            with_manager(|manager| async move {
                let handle = manager
                    .start("k", &ProcessSpec::new("sleep").arg("30"))
                    .map_err(|e| Miss::silent(e.to_string()))?;
                handle.kill();
                handle.kill();
                let exit = handle.wait().await.map_err(|e| Miss::silent(e.to_string()))?;
                same(exit.killed, true)
            })
        }),
        row("process: start after shutdown", TypedError, || {
            with_manager(|manager| async move {
                manager.shutdown().await.map_err(|e| Miss::silent(e.to_string()))?;
                let refusal = manager.start("late", &ProcessSpec::new("true")).map(drop);
                refused(refusal, |e| matches!(e, StartError::ManagerClosed { .. }), "create a new manager")?;
                same(manager.shutdown().await.map(|stopped| stopped.len()), Ok(0))
            })
        }),
        fixed(
            "process: start outside a tokio runtime",
            TypedError,
            Class::Panic,
            "StartError::NoRuntime before spawning",
            || {
                let manager = ProcessManager::new();
                let outcome = manager.start("outside", &ProcessSpec::new("sleep").arg("30")).map(drop);
                refused(outcome, |e| matches!(e, StartError::NoRuntime { .. }), "within a tokio runtime")?;
                same(manager.running().len(), 0)
            },
        ),
        row("process: a process that ignores SIGTERM is killed after its grace", Bounded, || {
            with_manager(|manager| async move {
                let spec = ProcessSpec::shell("trap '' TERM; echo ready; sleep 30 & wait")
                    .stop_grace(Duration::from_millis(50));
                let ready = Arc::new(racekit::sync::Latch::new());
                let seen = ready.clone();
                manager.add_callback(move |_| {
                    seen.set();
                });
                manager.start("stubborn", &spec).map_err(|e| Miss::silent(e.to_string()))?;
                tokio::task::spawn_blocking(move || ready.wait_timeout(Duration::from_secs(5))).await.unwrap();
                let exit = manager.stop("stubborn").await.map_err(|e| Miss::silent(e.to_string()))?;
                same((exit.killed, exit.signal), (true, Some(9)))
            })
        }),
        row("process: stop_grace 0 kills at once", Bounded, || {
            with_manager(|manager| async move {
                let spec = ProcessSpec::new("sleep").arg("30").stop_grace(Duration::ZERO);
                manager.start("now", &spec).map_err(|e| Miss::silent(e.to_string()))?;
                let exit = manager.stop("now").await.map_err(|e| Miss::silent(e.to_string()))?;
                same(exit.killed, true)
            })
        }),
        row("process: a leader that exits while its background child holds the pipes", Bounded, || {
            with_manager(|manager| async move {
                let handle = manager
                    .start("leader", &ProcessSpec::shell("sleep 30 & exit 3"))
                    .map_err(|e| Miss::silent(e.to_string()))?;
                let exit = handle.wait().await.map_err(|e| Miss::silent(e.to_string()))?;
                same(exit.code, Some(3))
            })
        }),
        row("process: 100,000 lines of output are all delivered", Documented, || {
            same(delivered(ProcessSpec::shell("seq 1 100000"))?.0, 100_000)
        }),
        row("process: one 8 MB line is cut at max_line_bytes and counted", Documented, || {
            with_manager(|manager| async move {
                let spec = ProcessSpec::shell("head -c 8388608 /dev/zero | tr '\\0' x").max_line_bytes(1024);
                let longest = Arc::new(AtomicUsize::new(0));
                let seen = longest.clone();
                manager.add_callback(move |line| {
                    seen.fetch_max(line.line.len(), Ordering::SeqCst);
                });
                let handle = manager.start("flood", &spec).map_err(|e| Miss::silent(e.to_string()))?;
                handle.wait().await.map_err(|e| Miss::silent(e.to_string()))?;
                same((longest.load(Ordering::SeqCst), manager.truncated_output()), (1024, (1, 8_388_608 - 1024)))
            })
        }),
        row("process: max_line_bytes usize::MAX keeps a 1 MB line whole", Documented, || {
            let spec = ProcessSpec::shell("head -c 1048576 /dev/zero | tr '\\0' x").max_line_bytes(usize::MAX);
            same(delivered(spec)?, (1, 1 << 20))
        }),
        row("process: non-UTF-8 output is delivered lossily, not dropped", Documented, || {
            same(delivered(ProcessSpec::shell("printf 'a\\377b\\n'"))?, (1, "a\u{fffd}b".len()))
        }),
        row("process: a non-UTF-8 argument reaches the program", Documented, || {
            let spec = ProcessSpec::new("echo").arg(OsString::from_vec(vec![b'a', 0xff]));
            same(delivered(spec)?, (1, "a\u{fffd}".len()))
        }),
        row("process: a panicking output callback is caught and counted", CaughtPanic, || {
            with_manager(|manager| async move {
                manager.add_callback(|_| panic!("a callback fails"));
                let handle = manager
                    .start("p", &ProcessSpec::shell("echo 1; echo 2"))
                    .map_err(|e| Miss::silent(e.to_string()))?;
                handle.wait().await.map_err(|e| Miss::silent(e.to_string()))?;
                same(manager.output_counts(), (2, 2))
            })
        }),
        row("process: a callback that removes itself and lists the processes", Documented, || {
            with_manager(|manager| async move {
                let calls = Arc::new(AtomicUsize::new(0));
                let id = Arc::new(racekit::sync::Mutex::new(None));
                {
                    let (own, calls, slot) = (Arc::downgrade(&manager), calls.clone(), id.clone());
                    let registered = manager.add_callback(move |_| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        if let (Some(manager), Some(id)) = (own.upgrade(), *slot.lock()) {
                            let _ = manager.running();
                            manager.remove_callback(id);
                        }
                    });
                    *id.lock() = Some(registered);
                }
                let handle = manager
                    .start("p", &ProcessSpec::shell("echo 1; echo 2; echo 3"))
                    .map_err(|e| Miss::silent(e.to_string()))?;
                handle.wait().await.map_err(|e| Miss::silent(e.to_string()))?;
                same(calls.load(Ordering::SeqCst), 1)
            })
        }),
    ]
}
