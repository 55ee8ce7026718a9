//! Models of the process manager.
//!
//! Its bookkeeping is runtime-agnostic and checked under every backend: the process table
//! (a start racing a shutdown's close), the output callbacks (registration racing delivery,
//! callbacks calling back in, a removed callback's state calling back in when dropped), and
//! a start whose spawn fails (the manager spawns no supervisor then, so loom runs it too).
//! The whole manager runs under shuttle and on real threads with a fake [`Spawner`]
//! (shuttle does not model processes; loom cannot run tokio); the stress suite runs it with
//! real processes. The [`mutants`] switch on the mutation points of `racekit::process` and
//! run the same scenarios.

use crate::support::expect_sound;
use racekit::model::Model;
use racekit::output::{OutputLine, OutputStream};
use racekit::process::callbacks::{Delivery, OutputCallbacks};
use racekit::process::table::ProcessTable;
use racekit::process::{ChildProcess, OutputSource, ProcessExit, ProcessManager, ProcessSpec, Spawner, StartError};
use racekit::sync::atomic::{AtomicUsize, Ordering};
use racekit::sync::{thread, Arc};
use racekit::time::{Clock, ManualClock};
use std::io;
use std::time::Duration;

fn line(text: &str) -> OutputLine {
    OutputLine {
        process: "p".into(),
        stream: OutputStream::Stdout,
        at: ManualClock::new().now(),
        line: text.to_owned(),
    }
}

/// A start reserves its name on one thread while the main thread shuts down: it is refused,
/// or handed back by the close to be stopped. Never neither.
fn reserve_racing_close() {
    let table = Arc::new(ProcessTable::new());
    let starter = {
        let table = table.clone();
        thread::spawn(move || table.reserve("p", ManualClock::new().now()).is_ok())
    };
    let to_stop: Vec<String> = table.close().into_iter().map(|entry| entry.name.to_string()).collect();
    let admitted = starter.join().unwrap();
    if admitted {
        assert_eq!(to_stop, ["p"], "a process admitted by a closed table escaped the shutdown");
    }
    assert!(table.reserve("q", ManualClock::new().now()).is_err(), "a start admitted after close");
}

/// A counting callback.
fn counter(callbacks: &OutputCallbacks) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    callbacks.add(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    calls
}

/// Two threads register a callback each; a line delivered afterwards reaches each once.
fn adds_racing_adds() {
    let callbacks = Arc::new(OutputCallbacks::new());
    let other = {
        let callbacks = callbacks.clone();
        thread::spawn(move || counter(&callbacks))
    };
    let mine = counter(&callbacks);
    let theirs = other.join().unwrap();
    callbacks.deliver(&line("hello"));
    assert_eq!(mine.load(Ordering::SeqCst), 1, "a registered callback was not called exactly once");
    assert_eq!(theirs.load(Ordering::SeqCst), 1, "a registered callback was not called exactly once");
}

/// A callback that registers another callback (calls back into the list) is delivered a
/// line, then delivered another on one thread while the main thread removes it: no
/// deadlock, at most one call per line, none after the removal.
fn reentrant_callback_racing_removal() {
    let callbacks = Arc::new(OutputCallbacks::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let id = {
        let (inner, calls) = (callbacks.clone(), calls.clone());
        callbacks.add(move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            inner.add(|_| ());
        })
    };
    // A re-entrant call that fails panics inside the callback, where the delivery catches
    // and counts it: a count above zero is that failure.
    let no_panic = |delivery: Delivery| assert_eq!(delivery.panicked, 0, "a callback panicked calling back in");
    no_panic(callbacks.deliver(&line("before")));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a registered callback was not called exactly once");
    let deliverer = {
        let callbacks = callbacks.clone();
        thread::spawn(move || callbacks.deliver(&line("racing")))
    };
    assert!(callbacks.remove(id));
    no_panic(deliverer.join().unwrap());
    let after_race = calls.load(Ordering::SeqCst);
    assert!(after_race <= 2, "a callback was called more than once for one line");
    callbacks.deliver(&line("after removal"));
    assert_eq!(calls.load(Ordering::SeqCst), after_race, "a removed callback was called by a later delivery");
}

#[test]
fn a_start_racing_shutdown_is_refused_or_stopped() {
    expect_sound(Model::named("process: reserve racing close"), reserve_racing_close);
}

#[test]
fn callbacks_registered_concurrently_are_each_called_once() {
    expect_sound(Model::named("process: adds racing adds"), adds_racing_adds);
}

#[test]
fn a_callback_calling_back_in_racing_its_removal_does_not_deadlock() {
    expect_sound(Model::named("process: re-entrant callback"), reentrant_callback_racing_removal);
}

/// Captured state of a callback that calls back in when dropped: runs `call_back` then, and
/// counts the drop in `dropped`.
struct CallsBackWhenDropped {
    call_back: Option<Box<dyn FnOnce() + Send + Sync>>,
    dropped: Arc<AtomicUsize>,
}

impl CallsBackWhenDropped {
    fn new(dropped: &Arc<AtomicUsize>, call_back: impl FnOnce() + Send + Sync + 'static) -> Self {
        CallsBackWhenDropped { call_back: Some(Box::new(call_back)), dropped: dropped.clone() }
    }
}

impl Drop for CallsBackWhenDropped {
    fn drop(&mut self) {
        // Under loom a failed execution unwinds: touching the facade then aborts.
        if let Some(call_back) = self.call_back.take().filter(|_| !std::thread::panicking()) {
            call_back();
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A callback whose captured state calls back into the list when dropped is removed on
/// the main thread while another thread delivers a line. Whichever drops the last
/// reference runs that destructor: a removal must drop the replaced list after unlocking,
/// or the destructor's call back deadlocks on the list's lock.
fn removed_callback_calling_back_when_dropped() {
    let callbacks = Arc::new(OutputCallbacks::new());
    let dropped = Arc::new(AtomicUsize::new(0));
    let id = {
        let inner = callbacks.clone();
        let state = CallsBackWhenDropped::new(&dropped, move || {
            let _ = inner.len();
            inner.add(|_| ());
        });
        callbacks.add(move |_| {
            let _ = &state;
        })
    };
    let deliverer = {
        let callbacks = callbacks.clone();
        thread::spawn(move || callbacks.deliver(&line("hello")))
    };
    assert!(callbacks.remove(id));
    deliverer.join().unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the removed callback's state was not dropped once");
    assert_eq!(callbacks.len(), 1, "the callback its destructor added is not registered");
}

#[test]
fn a_removed_callback_is_dropped_outside_the_lock() {
    expect_sound(Model::named("process: callback dropped on removal"), removed_callback_calling_back_when_dropped);
}

/// Fails every spawn as a missing program would.
struct MissingProgram;

/// The child and output types of [`MissingProgram`], which never makes one.
enum Never {}

impl Spawner for MissingProgram {
    type Child = Never;
    type Output = Never;
    fn spawn(&self, spec: &ProcessSpec) -> io::Result<(Never, Never)> {
        // As long as a real failed spawn takes, on real threads (a yield under the checkers).
        thread::sleep(Duration::from_millis(1));
        Err(io::Error::new(io::ErrorKind::NotFound, format!("no program named {:?}", spec.program)))
    }
}

impl ChildProcess for Never {
    fn pid(&self) -> Option<u32> {
        match *self {}
    }
    fn kill(&mut self) -> io::Result<()> {
        match *self {}
    }
    async fn wait(&mut self) -> io::Result<ProcessExit> {
        match *self {}
    }
}

impl OutputSource for Never {
    async fn next_line(&mut self) -> io::Result<Option<(OutputStream, String)>> {
        match *self {}
    }
}

/// Starts `p`: refused (another start holds the name, or the manager is shut down), or
/// failed to spawn with an error that names the process and the cause. Whether it was the
/// latter.
fn start_missing_program(manager: &ProcessManager<MissingProgram>) -> bool {
    // On real threads `start` refuses to run outside a tokio runtime (the model checkers
    // builds run the supervisor on their own executor).
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    let runtime = tokio::runtime::Handle::try_current()
        .is_err()
        .then(|| tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime"));
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    let _entered = runtime.as_ref().map(tokio::runtime::Runtime::enter);
    match manager.start("p", &ProcessSpec::new("no-such-program")) {
        Err(StartError::AlreadyRunning { name } | StartError::ManagerClosed { name }) => {
            assert_eq!(name, "p");
            false
        }
        Err(error @ StartError::Spawn { .. }) => {
            let message = error.to_string();
            assert!(message.contains("`p` could not be spawned"), "the error does not name the process: {message}");
            assert!(message.contains("no program named \"no-such-program\""), "the error hides the cause: {message}");
            true
        }
        other => panic!("a start whose spawn fails returned {other:?}"),
    }
}

/// Two starts of the same name race, and every spawn fails: each start fails (one may find
/// the name held by the other), nothing is left running, and the name is free again.
fn starts_whose_spawn_fails() {
    let manager = ProcessManager::with_spawner(MissingProgram, Box::new(ManualClock::new()));
    let other = {
        let manager = manager.clone();
        thread::spawn(move || start_missing_program(&manager))
    };
    let mine = start_missing_program(&manager);
    let theirs = other.join().unwrap();
    assert!(mine || theirs, "neither start reached the spawner");
    assert_eq!(manager.running(), [], "a process whose spawn failed is listed as running");
    assert!(start_missing_program(&manager), "a failed start left its name reserved");
    assert_eq!(manager.output_counts(), (0, 0));
}

#[test]
fn a_start_whose_spawn_fails_leaves_nothing_behind() {
    expect_sound(Model::named("process: spawn fails"), starts_whose_spawn_fails);
}

/// The whole manager over a fake spawner: children are futures, their output a list of
/// lines, so shuttle explores the supervisor, the stops and the callbacks together.
#[cfg(not(racekit_loom))]
mod manager {
    use super::*;
    use racekit::process::StopError;
    use racekit::stopper::CancelToken;
    use racekit::sync::{task, Mutex};
    use std::collections::VecDeque;

    /// Children spawned and reaped, shared by a spawner and the scenario.
    #[derive(Default)]
    struct Children {
        spawned: AtomicUsize,
        reaped: AtomicUsize,
    }

    /// Spawns fake children printing `lines` lines; they exit on their own when `exits`,
    /// otherwise they run until killed.
    #[derive(Clone)]
    struct FakeSpawner {
        children: Arc<Children>,
        lines: usize,
        exits: bool,
    }

    struct FakeChild {
        killed: CancelToken,
        exits: bool,
        children: Arc<Children>,
        reaped: bool,
    }

    struct FakeOutput {
        lines: VecDeque<String>,
        killed: CancelToken,
        exits: bool,
    }

    impl Spawner for FakeSpawner {
        type Child = FakeChild;
        type Output = FakeOutput;
        fn spawn(&self, _spec: &ProcessSpec) -> io::Result<(FakeChild, FakeOutput)> {
            self.children.spawned.fetch_add(1, Ordering::SeqCst);
            let killed = CancelToken::new();
            let lines = (0..self.lines).map(|n| format!("line {n}")).collect();
            Ok((
                FakeChild { killed: killed.clone(), exits: self.exits, children: self.children.clone(), reaped: false },
                FakeOutput { lines, killed, exits: self.exits },
            ))
        }
    }

    impl ChildProcess for FakeChild {
        fn pid(&self) -> Option<u32> {
            Some(4242)
        }
        fn kill(&mut self) -> io::Result<()> {
            self.killed.cancel();
            Ok(())
        }
        async fn wait(&mut self) -> io::Result<ProcessExit> {
            if self.exits {
                tokio::task::yield_now().await;
            } else {
                self.killed.cancelled().await;
            }
            assert!(!self.reaped, "a child was reaped twice");
            self.reaped = true;
            self.children.reaped.fetch_add(1, Ordering::SeqCst);
            let killed = self.killed.is_cancelled() && !self.exits;
            Ok(ProcessExit { code: (!killed).then_some(0), signal: killed.then_some(9), killed: false })
        }
    }

    impl OutputSource for FakeOutput {
        async fn next_line(&mut self) -> io::Result<Option<(OutputStream, String)>> {
            tokio::task::yield_now().await;
            if let Some(line) = self.lines.pop_front() {
                return Ok(Some((OutputStream::Stdout, line)));
            }
            if !self.exits {
                // The pipe stays open until the child dies.
                self.killed.cancelled().await;
            }
            Ok(None)
        }
    }

    /// A manager over a fake spawner, with a callback recording every line.
    fn fake_manager(
        lines: usize,
        exits: bool,
    ) -> (ProcessManager<FakeSpawner>, Arc<Children>, Arc<Mutex<Vec<String>>>) {
        let children = Arc::new(Children::default());
        let spawner = FakeSpawner { children: children.clone(), lines, exits };
        let manager = ProcessManager::with_spawner(spawner, Box::new(ManualClock::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        {
            let seen = seen.clone();
            manager.add_callback(move |line: &OutputLine| seen.lock().push(format!("{}: {}", line.process, line.line)));
        }
        (manager, children, seen)
    }

    fn assert_no_child_left(manager: &ProcessManager<FakeSpawner>, children: &Children) {
        assert!(manager.running().is_empty(), "processes still listed: {:?}", manager.running());
        assert_eq!(
            children.spawned.load(Ordering::SeqCst),
            children.reaped.load(Ordering::SeqCst),
            "a child was never reaped (a zombie)"
        );
    }

    #[test]
    fn a_process_started_racing_shutdown_is_refused_or_killed_and_reaped() {
        expect_sound(Model::named("process manager: start racing shutdown"), || {
            task::block_on(async {
                let (manager, children, seen) = fake_manager(2, false);
                let starter = {
                    let manager = manager.clone();
                    task::spawn(async move {
                        manager.start("p", &ProcessSpec::new("fake")).map(|handle| handle.name().to_owned())
                    })
                };
                let stopped = manager.shutdown().await.expect("fake children stop cleanly");
                match starter.await.unwrap() {
                    Ok(name) => {
                        assert_eq!(name, "p");
                        assert_eq!(stopped.len(), 1, "a process started before the close escaped the shutdown");
                        assert!(stopped[0].1.killed);
                        assert_eq!(*seen.lock(), ["p: line 0", "p: line 1"], "output lost or repeated");
                    }
                    Err(StartError::ManagerClosed { .. }) => assert!(stopped.is_empty()),
                    Err(other) => panic!("unexpected {other}"),
                }
                assert_no_child_left(&manager, &children);
            });
        });
    }

    #[test]
    fn a_stop_racing_a_natural_exit_reaps_once_and_delivers_every_line_once() {
        expect_sound(Model::named("process manager: stop racing exit"), || {
            task::block_on(async {
                let (manager, children, seen) = fake_manager(2, true);
                let handle = manager.start("p", &ProcessSpec::new("fake")).unwrap();
                let stopper = {
                    let manager = manager.clone();
                    task::spawn(async move { manager.stop("p").await })
                };
                let exit = handle.wait().await.expect("the fake wait never fails");
                match stopper.await.unwrap() {
                    Ok(stopped) => assert_eq!(stopped, exit, "the stop and the handle saw different ends"),
                    Err(StopError::NotRunning { .. }) => {
                        assert!(!exit.killed, "killed, yet the stop found nothing to stop")
                    }
                    Err(other) => panic!("unexpected {other}"),
                }
                assert_eq!(*seen.lock(), ["p: line 0", "p: line 1"], "output lost or repeated");
                assert_no_child_left(&manager, &children);
            });
        });
    }

    #[test]
    fn a_callback_calling_back_into_the_manager_does_not_deadlock() {
        expect_sound(Model::named("process manager: re-entrant callback"), || {
            task::block_on(async {
                let (manager, children, seen) = fake_manager(2, false);
                let listed = Arc::new(AtomicUsize::new(0));
                let id = {
                    let (inner, listed) = (manager.clone(), listed.clone());
                    manager.add_callback(move |_: &OutputLine| {
                        listed.fetch_add(inner.running().len(), Ordering::SeqCst);
                        let _ = inner.start("p", &ProcessSpec::new("fake"));
                    })
                };
                manager.start("p", &ProcessSpec::new("fake")).unwrap();
                let other = {
                    let manager = manager.clone();
                    task::spawn(async move { manager.stop_all().await })
                };
                other.await.unwrap().expect("fake children stop cleanly");
                // Breaks the manager → callback → manager cycle, then drains what the
                // callback may have started meanwhile.
                assert!(manager.remove_callback(id));
                manager.shutdown().await.expect("fake children stop cleanly");
                assert!(seen.lock().len() >= 2, "{:?}", seen.lock());
                assert!(listed.load(Ordering::SeqCst) >= 1);
                assert_no_child_left(&manager, &children);
            });
        });
    }

    /// A callback whose captured state calls back into the manager when dropped is removed
    /// while the supervisor delivers the process's lines: whichever drops it last (the
    /// removal, or a delivery's snapshot) runs that call back outside the list's lock.
    pub(super) fn removed_callback_calling_back_into_the_manager() {
        task::block_on(async {
            let (manager, children, seen) = fake_manager(2, true);
            let dropped = Arc::new(AtomicUsize::new(0));
            let id = {
                let inner = manager.clone();
                let state = CallsBackWhenDropped::new(&dropped, move || {
                    inner.add_callback(|_: &OutputLine| ());
                });
                manager.add_callback(move |_: &OutputLine| {
                    let _ = &state;
                })
            };
            let handle = manager.start("p", &ProcessSpec::new("fake")).unwrap();
            assert!(manager.remove_callback(id));
            handle.wait().await.expect("the fake wait never fails");
            assert_eq!(dropped.load(Ordering::SeqCst), 1, "the removed callback's state was not dropped once");
            assert_eq!(*seen.lock(), ["p: line 0", "p: line 1"], "output lost or repeated");
            assert_no_child_left(&manager, &children);
        });
    }

    #[test]
    fn a_removed_callback_calling_back_into_the_manager_when_dropped_does_not_deadlock() {
        expect_sound(
            Model::named("process manager: callback dropped on removal"),
            removed_callback_calling_back_into_the_manager,
        );
    }

    /// A shutdown races a start whose spawn fails: the shutdown returns (the failed start
    /// publishes its end, so a shutdown that took its reservation is not left waiting),
    /// and reports neither a stopped process nor a failure (the process never ran; its start
    /// says why).
    pub(super) fn shutdown_racing_a_failed_spawn() {
        task::block_on(async {
            let manager = ProcessManager::with_spawner(MissingProgram, Box::new(ManualClock::new()));
            let starter = {
                let manager = manager.clone();
                task::spawn(async move { start_missing_program(&manager) })
            };
            // Lets the start reserve its name first, in some runs on real threads too.
            tokio::task::yield_now().await;
            let stopped = manager.shutdown().await;
            starter.await.unwrap();
            assert_eq!(stopped.expect("a process that never ran is no failure to stop it"), []);
            assert_eq!(manager.running(), []);
        });
    }

    #[test]
    fn a_shutdown_racing_a_failed_spawn_returns() {
        expect_sound(Model::named("process manager: shutdown racing a failed spawn"), shutdown_racing_a_failed_spawn);
    }
}

/// The mutation points of `racekit::process`, each switched on in the real types and run
/// through the scenario that shows it.
mod mutants {
    use super::*;

    crate::mutant_test! {
        /// The close lands between the start's check and its insert: the admitted process
        /// is neither refused nor handed back to be stopped.
        fn closed_checked_outside_the_lock_is_caught() {
            mutant: "process.reserve.closed_checked_outside_the_lock",
            model: Model::named("process table: closed checked outside the lock"),
            scenario: reserve_racing_close,
            loom: Panic "escaped the shutdown",
            shuttle: Panic "escaped the shutdown",
            std: Panic "escaped the shutdown",
        }
    }

    crate::mutant_test! {
        /// The start lands between the close's collection and its closing.
        fn a_close_that_collects_before_closing_is_caught() {
            mutant: "process.close.collects_before_closing",
            model: Model::named("process table: collect before close"),
            scenario: reserve_racing_close,
            loom: Panic "escaped the shutdown",
            shuttle: Panic "escaped the shutdown",
            std: Panic "escaped the shutdown",
        }
    }

    crate::mutant_test! {
        /// A callback that registers another one waits for the lock its own delivery holds:
        /// the lock-order detector fails that acquisition inside the callback, and the
        /// delivery's panic catcher lets a detector's failure through.
        fn callbacks_called_under_the_lock_is_caught() {
            mutant: "process.deliver.calls_back_under_the_lock",
            model: Model::named("callbacks: called under the lock"),
            scenario: reentrant_callback_racing_removal,
            loom: Deadlock "not re-entrant",
            shuttle: Deadlock "not re-entrant",
            std: Deadlock "not re-entrant",
        }
    }

    crate::mutant_test! {
        /// Two registrations copy the same list and the second store loses the first.
        fn a_callback_list_copied_outside_the_lock_is_caught() {
            mutant: "process.update_callbacks.copies_outside_the_lock",
            model: Model::named("callbacks: copy outside the lock"),
            scenario: adds_racing_adds,
            loom: Panic "exactly once",
            shuttle: Panic "exactly once",
            std: Panic "exactly once",
        }
    }

    crate::mutant_test! {
        /// When the removal holds the last reference, the callback's state is dropped under
        /// the list's lock, and its destructor's call back waits for that lock.
        fn a_removed_callback_dropped_under_the_lock_is_caught() {
            mutant: "process.update_callbacks.drops_the_old_list_under_the_lock",
            model: Model::named("callbacks: dropped under the lock").std_run_timeout(Duration::from_secs(5)),
            scenario: removed_callback_calling_back_when_dropped,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Deadlock "deadlock",
        }
    }

    crate::mutant_test! {
        /// The shutdown took the reservation of a start whose spawn then failed, and reports
        /// the spawn's error as a failure to stop it.
        fn a_stop_reporting_a_failed_spawn_is_caught() {
            mutant: "process.stop.reports_a_failed_spawn",
            model: Model::named("process manager: stop reports a failed spawn"),
            scenario: manager::shutdown_racing_a_failed_spawn,
            loom: Skip "the shutdown is async: loom cannot run tokio",
            shuttle: Panic "a process that never ran is no failure",
            std: Panic "a process that never ran is no failure",
        }
    }

    crate::mutant_test! {
        /// The same bug through the manager: `remove_callback` drops the callback's state
        /// under the list's lock, and the state's destructor registers a callback.
        fn a_manager_callback_dropped_under_the_lock_is_caught() {
            mutant: "process.update_callbacks.drops_the_old_list_under_the_lock",
            model: Model::named("process manager: callback dropped under the lock"),
            scenario: manager::removed_callback_calling_back_into_the_manager,
            loom: Skip "the manager's supervisor is a tokio task: loom cannot run tokio",
            shuttle: Deadlock "deadlock",
            std: Deadlock "deadlock",
        }
    }

    crate::mutant_test! {
        /// The failed start's reservation stays: the process is listed as running and its
        /// name cannot be started again.
        fn a_failed_start_that_keeps_its_reservation_is_caught() {
            mutant: "process.start.keeps_a_failed_reservation",
            model: Model::named("process: failed start keeps its reservation"),
            scenario: starts_whose_spawn_fails,
            loom: Panic "listed as running",
            shuttle: Panic "listed as running",
            std: Panic "listed as running",
        }
    }
}
