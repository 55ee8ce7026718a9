//! Models of the process manager.
//!
//! Its bookkeeping is runtime-agnostic and checked under every backend: the process table
//! (a start racing a shutdown's close) and the output callbacks (registration racing
//! delivery, callbacks calling back in). The whole manager runs under shuttle and on real
//! threads with a fake [`Spawner`] (shuttle does not model processes; loom cannot run
//! tokio); the stress suite runs it with real processes.

use crate::support::{expect_caught, expect_each_sound, expect_sound};
use racekit::model::Model;
use racekit::output::{OutputLine, OutputStream};
use racekit::process::callbacks::{CallbackId, OutputCallbacks};
use racekit::process::table::ProcessTable;
use racekit::sync::atomic::{AtomicUsize, Ordering};
use racekit::sync::{thread, Arc, Mutex};
use racekit::time::{Clock, ManualClock};

/// What the scenarios need of a process table.
pub trait TableUnderTest: Send + Sync + 'static {
    fn create() -> Self;
    /// Reserves `name`; whether it was admitted.
    fn reserve(&self, name: &str) -> bool;
    /// Closes; the names it hands back to be stopped.
    fn close(&self) -> Vec<String>;
}

impl TableUnderTest for ProcessTable {
    fn create() -> Self {
        ProcessTable::new()
    }
    fn reserve(&self, name: &str) -> bool {
        ProcessTable::reserve(self, name, ManualClock::new().now()).is_ok()
    }
    fn close(&self) -> Vec<String> {
        ProcessTable::close(self).into_iter().map(|entry| entry.name.to_string()).collect()
    }
}

/// What the scenarios need of a callback list.
pub trait CallbacksUnderTest: Send + Sync + 'static {
    type Id: Copy + Send + 'static;
    fn create() -> Self;
    fn add(&self, callback: impl Fn(&OutputLine) + Send + Sync + 'static) -> Self::Id;
    fn remove(&self, id: Self::Id);
    fn deliver(&self, line: &OutputLine);
}

impl CallbacksUnderTest for OutputCallbacks {
    type Id = CallbackId;
    fn create() -> Self {
        OutputCallbacks::new()
    }
    fn add(&self, callback: impl Fn(&OutputLine) + Send + Sync + 'static) -> CallbackId {
        OutputCallbacks::add(self, callback)
    }
    fn remove(&self, id: CallbackId) {
        OutputCallbacks::remove(self, id);
    }
    fn deliver(&self, line: &OutputLine) {
        OutputCallbacks::deliver(self, line);
    }
}

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
fn reserve_racing_close<T: TableUnderTest>() {
    let table = Arc::new(T::create());
    let starter = {
        let table = table.clone();
        thread::spawn(move || table.reserve("p"))
    };
    let to_stop = table.close();
    let admitted = starter.join().unwrap();
    if admitted {
        assert_eq!(to_stop, ["p"], "a process admitted by a closed table escaped the shutdown");
    }
    assert!(!table.reserve("q"), "a start admitted after close");
}

/// A counting callback.
fn counter<C: CallbacksUnderTest>(callbacks: &C) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    callbacks.add(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    calls
}

/// Two threads register a callback each; a line delivered afterwards reaches each once.
fn adds_racing_adds<C: CallbacksUnderTest>() {
    let callbacks = Arc::new(C::create());
    let other = {
        let callbacks = callbacks.clone();
        thread::spawn(move || counter(&*callbacks))
    };
    let mine = counter(&*callbacks);
    let theirs = other.join().unwrap();
    callbacks.deliver(&line("hello"));
    assert_eq!(mine.load(Ordering::SeqCst), 1, "a registered callback was not called exactly once");
    assert_eq!(theirs.load(Ordering::SeqCst), 1, "a registered callback was not called exactly once");
}

/// A callback that registers another callback (calls back into the list) is delivered on
/// one thread while the main thread removes it: no deadlock, at most one call each.
fn reentrant_callback_racing_removal<C: CallbacksUnderTest>() {
    let callbacks = Arc::new(C::create());
    let calls = Arc::new(AtomicUsize::new(0));
    let id = {
        let (inner, calls) = (callbacks.clone(), calls.clone());
        callbacks.add(move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            inner.add(|_| ());
        })
    };
    let deliverer = {
        let callbacks = callbacks.clone();
        thread::spawn(move || callbacks.deliver(&line("hello")))
    };
    callbacks.remove(id);
    deliverer.join().unwrap();
    assert!(calls.load(Ordering::SeqCst) <= 1, "a callback was called more than once for one line");
    callbacks.deliver(&line("after removal"));
    assert!(calls.load(Ordering::SeqCst) <= 1, "a removed callback was called by a later delivery");
}

#[test]
fn a_start_racing_shutdown_is_refused_or_stopped() {
    expect_sound(Model::named("process: reserve racing close"), reserve_racing_close::<ProcessTable>);
}

#[test]
fn callbacks_registered_concurrently_are_each_called_once() {
    expect_sound(Model::named("process: adds racing adds"), adds_racing_adds::<OutputCallbacks>);
}

#[test]
fn a_callback_calling_back_in_racing_its_removal_does_not_deadlock() {
    expect_sound(Model::named("process: re-entrant callback"), reentrant_callback_racing_removal::<OutputCallbacks>);
}

/// Captured state of a callback that calls back into its callback list when dropped.
struct CallsBackWhenDropped {
    callbacks: Arc<OutputCallbacks>,
    dropped: Arc<AtomicUsize>,
}

impl Drop for CallsBackWhenDropped {
    fn drop(&mut self) {
        // Under loom a failed execution unwinds: touching the facade then aborts.
        if !std::thread::panicking() {
            let _ = self.callbacks.len();
            self.callbacks.add(|_| ());
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A callback whose captured state calls back into the list when dropped is removed on
/// the main thread while another thread delivers a line. Whichever drops the last
/// reference runs that destructor: a removal must drop the replaced list after unlocking,
/// or the destructor's call back deadlocks on the list's lock.
#[test]
fn a_removed_callback_is_dropped_outside_the_lock() {
    expect_sound(Model::named("process: callback dropped on removal"), || {
        let callbacks = Arc::new(OutputCallbacks::new());
        let dropped = Arc::new(AtomicUsize::new(0));
        let id = {
            let state = CallsBackWhenDropped { callbacks: callbacks.clone(), dropped: dropped.clone() };
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
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "the removed callback's state was dropped once");
        assert_eq!(callbacks.len(), 1, "the callback its destructor added is registered");
    });
}

/// The whole manager over a fake spawner: children are futures, their output a list of
/// lines, so shuttle explores the supervisor, the stops and the callbacks together.
#[cfg(not(racekit_loom))]
mod manager {
    use super::*;
    use racekit::process::{
        ChildProcess, OutputSource, ProcessExit, ProcessManager, ProcessSpec, Spawner, StartError, StopError,
    };
    use racekit::stopper::CancelToken;
    use racekit::sync::task;
    use std::collections::VecDeque;
    use std::io;

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
}

/// Buggy variants of the table and the callback list, each wrong in one place.
mod mutants {
    use super::*;
    use crate::support::MODEL_CHECKER;
    use racekit::model::FailureKind;

    const CLOSED_CHECKED_OUTSIDE_THE_LOCK: u8 = 1;
    const CLOSE_COLLECTS_BEFORE_CLOSING: u8 = 2;

    struct MutantTable<const BUG: u8> {
        state: Mutex<(Vec<String>, bool)>,
    }

    impl<const BUG: u8> TableUnderTest for MutantTable<BUG> {
        fn create() -> Self {
            MutantTable { state: Mutex::new((Vec::new(), false)) }
        }
        fn reserve(&self, name: &str) -> bool {
            let mut state = self.state.lock();
            if state.1 {
                return false;
            }
            if BUG == CLOSED_CHECKED_OUTSIDE_THE_LOCK {
                drop(state);
                state = self.state.lock();
            }
            state.0.push(name.to_owned());
            true
        }
        fn close(&self) -> Vec<String> {
            let mut state = self.state.lock();
            if BUG == CLOSE_COLLECTS_BEFORE_CLOSING {
                let names = state.0.clone();
                drop(state);
                self.state.lock().1 = true;
                return names;
            }
            state.1 = true;
            state.0.clone()
        }
    }

    const CALLBACKS_CALLED_UNDER_THE_LOCK: u8 = 1;
    const LIST_COPIED_OUTSIDE_THE_LOCK: u8 = 2;

    type Callback = Arc<Box<dyn Fn(&OutputLine) + Send + Sync>>;

    struct MutantCallbacks<const BUG: u8> {
        list: Mutex<Vec<(u64, Callback)>>,
        next: AtomicUsize,
    }

    impl<const BUG: u8> CallbacksUnderTest for MutantCallbacks<BUG> {
        type Id = u64;
        fn create() -> Self {
            MutantCallbacks { list: Mutex::new(Vec::new()), next: AtomicUsize::new(0) }
        }
        fn add(&self, callback: impl Fn(&OutputLine) + Send + Sync + 'static) -> u64 {
            let id = self.next.fetch_add(1, Ordering::SeqCst) as u64;
            let callback: Callback = Arc::new(Box::new(callback));
            let mut list = self.list.lock();
            if BUG == LIST_COPIED_OUTSIDE_THE_LOCK {
                // Read, copy and write back in separate critical sections.
                let mut copy = list.clone();
                drop(list);
                copy.push((id, callback));
                *self.list.lock() = copy;
                return id;
            }
            list.push((id, callback));
            id
        }
        fn remove(&self, id: u64) {
            self.list.lock().retain(|(other, _)| *other != id);
        }
        fn deliver(&self, line: &OutputLine) {
            let list = self.list.lock();
            if BUG == CALLBACKS_CALLED_UNDER_THE_LOCK {
                list.iter().for_each(|(_, callback)| callback(line));
                return;
            }
            let snapshot = list.clone();
            drop(list);
            snapshot.iter().for_each(|(_, callback)| callback(line));
        }
    }

    #[test]
    fn the_mutant_scaffolds_are_sound_without_a_bug() {
        expect_each_sound(
            "process: scaffold",
            &[
                ("reserve racing close", reserve_racing_close::<MutantTable<0>>),
                ("adds racing adds", adds_racing_adds::<MutantCallbacks<0>>),
                ("re-entrant callback", reentrant_callback_racing_removal::<MutantCallbacks<0>>),
            ],
        );
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn closed_checked_outside_the_lock_is_caught() {
        let failure = expect_caught(
            Model::named("process table: closed checked outside the lock"),
            reserve_racing_close::<MutantTable<CLOSED_CHECKED_OUTSIDE_THE_LOCK>>,
        );
        assert!(failure.message.contains("escaped the shutdown"), "{failure}");
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_close_that_collects_before_closing_is_caught() {
        let failure = expect_caught(
            Model::named("process table: collect before close"),
            reserve_racing_close::<MutantTable<CLOSE_COLLECTS_BEFORE_CLOSING>>,
        );
        assert!(failure.message.contains("escaped the shutdown"), "{failure}");
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn callbacks_called_under_the_lock_is_caught() {
        let failure = expect_caught(
            Model::named("callbacks: called under the lock"),
            reentrant_callback_racing_removal::<MutantCallbacks<CALLBACKS_CALLED_UNDER_THE_LOCK>>,
        );
        if MODEL_CHECKER {
            assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
        }
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_callback_list_copied_outside_the_lock_is_caught() {
        let failure = expect_caught(
            Model::named("callbacks: copy outside the lock"),
            adds_racing_adds::<MutantCallbacks<LIST_COPIED_OUTSIDE_THE_LOCK>>,
        );
        assert!(failure.message.contains("exactly once"), "{failure}");
    }
}
