//! Models of the ordered lifecycle: rollback racing a failed start, concurrent starts,
//! a stop racing a restart, components that call back into the application, components
//! that panic.
//!
//! The [`mutants`] switch on the mutation points of `racekit::lifecycle` and run the same
//! scenarios on the real [`Application`].

use crate::support::expect_sound;
use racekit::lifecycle::{Application, Component, ComponentError, LifecyclePhase};
use racekit::model::Model;
use racekit::sync::{thread, Arc, Mutex};

/// Stops `app`; the test components stop cleanly.
fn stop(app: &Application) {
    app.stop().expect("test components stop cleanly");
}

/// Starts `app`; the name of the component that failed, if one did.
fn start(app: &Application) -> Result<(), String> {
    app.start().map_err(|error| error.component)
}

/// Starts `app`, whose test components start cleanly (a failed assertion inside one is
/// caught as its panic: the error's message carries it).
fn started(app: &Application) {
    if let Err(error) = app.start() {
        panic!("a start failed: {error}");
    }
}

/// What the test components did, in order; shared by all components of a scenario.
#[derive(Default)]
struct Journal {
    events: Mutex<Vec<String>>,
    running: Mutex<Vec<&'static str>>,
    /// Called by every component's start and stop: a component calling back into its
    /// application for the phase.
    call_back: Mutex<Option<Box<dyn Fn() -> LifecyclePhase + Send + Sync>>>,
}

impl Journal {
    /// Asks the application for its phase through the hook, if one is set.
    fn assert_phase_from_inside(&self, expected: LifecyclePhase) {
        if let Some(call_back) = &*self.call_back.lock() {
            assert_eq!(call_back(), expected, "the phase seen from inside a component");
        }
    }

    fn events(&self) -> Vec<String> {
        self.events.lock().clone()
    }

    /// Every stop follows its component's start, and the components stopped in each run are
    /// stopped in the reverse of their start order.
    fn assert_balanced(&self) {
        let events = self.events();
        let mut started: Vec<&str> = Vec::new();
        for event in &events {
            let (verb, name) = event.split_once(' ').expect("`verb name`");
            match verb {
                "start" => started.push(name),
                _ => assert_eq!(started.pop(), Some(name), "stopped out of reverse start order: {events:?}"),
            }
        }
        assert!(started.is_empty() || self.running.lock().len() == started.len(), "{events:?}");
    }
}

struct TestComponent {
    name: &'static str,
    fails: bool,
    journal: Arc<Journal>,
}

impl Component for TestComponent {
    fn name(&self) -> &str {
        self.name
    }

    fn start(&self) -> Result<(), ComponentError> {
        self.journal.assert_phase_from_inside(LifecyclePhase::Starting);
        if self.fails {
            return Err(format!("{} cannot start", self.name).into());
        }
        let mut running = self.journal.running.lock();
        assert!(!running.contains(&self.name), "component {} started twice", self.name);
        running.push(self.name);
        drop(running);
        self.journal.events.lock().push(format!("start {}", self.name));
        Ok(())
    }

    fn stop(&self) -> Result<(), ComponentError> {
        self.journal.assert_phase_from_inside(LifecyclePhase::Stopping);
        let mut running = self.journal.running.lock();
        let position = running.iter().position(|name| *name == self.name);
        let position = position.unwrap_or_else(|| panic!("component {} stopped but not running", self.name));
        running.remove(position);
        drop(running);
        self.journal.events.lock().push(format!("stop {}", self.name));
        Ok(())
    }
}

/// Components named `names`, the one named `failing` (if any) failing to start.
fn components(journal: &Arc<Journal>, names: &[&'static str], failing: Option<&str>) -> Vec<Box<dyn Component>> {
    names
        .iter()
        .map(|&name| {
            Box::new(TestComponent { name, fails: Some(name) == failing, journal: journal.clone() })
                as Box<dyn Component>
        })
        .collect()
}

/// A start that fails at `c` races a stop: `a` and `b` are rolled back in reverse, the
/// error names `c`, and nothing is left running.
fn rollback_racing_a_failed_start() {
    let journal = Arc::new(Journal::default());
    let app = Arc::new(Application::new(components(&journal, &["a", "b", "c"], Some("c"))));
    let starter = {
        let app = app.clone();
        thread::spawn(move || start(&app))
    };
    stop(&app);
    assert_eq!(starter.join().unwrap(), Err("c".to_owned()), "the error names the component that failed");
    assert_eq!(journal.events(), ["start a", "start b", "stop b", "stop a"], "rolled back in reverse order");
    assert!(journal.running.lock().is_empty(), "a failed start left components running");
    assert_eq!(app.phase(), LifecyclePhase::Stopped);
    journal.assert_balanced();
}

/// Two starts race: each component starts once; the stop that follows stops each once.
fn concurrent_starts() {
    let journal = Arc::new(Journal::default());
    let app = Arc::new(Application::new(components(&journal, &["a", "b"], None)));
    let other = {
        let app = app.clone();
        thread::spawn(move || started(&app))
    };
    started(&app);
    other.join().unwrap();
    assert_eq!(app.phase(), LifecyclePhase::Running, "start returned before the application ran");
    stop(&app);
    assert_eq!(journal.events(), ["start a", "start b", "stop b", "stop a"]);
}

/// A running application is stopped on one thread while another starts it again: it ends
/// running or stopped, never with a component started twice or stopped while not running.
fn stop_racing_a_restart() {
    let journal = Arc::new(Journal::default());
    let app = Arc::new(Application::new(components(&journal, &["a", "b"], None)));
    started(&app);
    let stopper = {
        let app = app.clone();
        thread::spawn(move || stop(&app))
    };
    started(&app);
    stopper.join().unwrap();
    let running = journal.running.lock().len();
    match app.phase() {
        LifecyclePhase::Running => assert_eq!(running, 2, "running, but components are not"),
        LifecyclePhase::Stopped => assert_eq!(running, 0, "stopped, but components still run"),
        other => panic!("no transition is in progress after both returned, yet the phase is {other:?}"),
    }
    stop(&app);
    assert!(journal.running.lock().is_empty());
    journal.assert_balanced();
}

/// Components ask the application for its phase from their `start` and `stop` while
/// another thread reads it too: nothing deadlocks, and they see the transition they are in.
fn components_call_back_into_the_application() {
    let journal = Arc::new(Journal::default());
    let app = Arc::new(Application::new(components(&journal, &["a", "b"], None)));
    {
        let app = app.clone();
        *journal.call_back.lock() = Some(Box::new(move || app.phase()));
    }
    let reader = {
        let app = app.clone();
        thread::spawn(move || app.phase())
    };
    started(&app);
    reader.join().unwrap();
    stop(&app);
    // Breaks the application → component → hook → application cycle.
    journal.call_back.lock().take();
    assert_eq!(journal.events(), ["start a", "start b", "stop b", "stop a"]);
}

#[test]
fn a_failed_start_rolls_back_in_reverse_even_racing_a_stop() {
    expect_sound(Model::named("lifecycle: rollback racing stop"), rollback_racing_a_failed_start);
}

#[test]
fn concurrent_starts_start_each_component_once() {
    expect_sound(Model::named("lifecycle: concurrent starts"), concurrent_starts);
}

#[test]
fn a_stop_racing_a_restart_leaves_a_consistent_application() {
    expect_sound(Model::named("lifecycle: stop racing restart"), stop_racing_a_restart);
}

#[test]
fn components_that_call_back_into_the_application_do_not_deadlock() {
    expect_sound(Model::named("lifecycle: re-entrant components"), components_call_back_into_the_application);
}

/// A component that panics in `start` or in `stop` (the operation named by `panics_in`).
struct Panicking {
    panics_in: &'static str,
}

impl Component for Panicking {
    fn name(&self) -> &str {
        "panicking"
    }
    fn start(&self) -> Result<(), ComponentError> {
        self.maybe_panic("start")
    }
    fn stop(&self) -> Result<(), ComponentError> {
        self.maybe_panic("stop")
    }
}

impl Panicking {
    fn maybe_panic(&self, operation: &str) -> Result<(), ComponentError> {
        if self.panics_in == operation {
            panic!("the panicking component breaks in {operation}");
        }
        Ok(())
    }
}

/// `a`, then a component panicking in `panics_in`, then `c`.
fn with_a_panicking_component(journal: &Arc<Journal>, panics_in: &'static str) -> Application {
    let mut parts = components(journal, &["a"], None);
    parts.push(Box::new(Panicking { panics_in }));
    parts.extend(components(journal, &["c"], None));
    Application::new(parts)
}

/// A component panics in start while another thread stops the application: the panic is
/// the component's error (with its message), `a` is rolled back, the phase settles and
/// the racing stop returns.
fn a_component_panicking_in_start_racing_a_stop() {
    let journal = Arc::new(Journal::default());
    let app = Arc::new(with_a_panicking_component(&journal, "start"));
    let stopper = {
        let app = app.clone();
        thread::spawn(move || app.stop().is_ok())
    };
    let error = app.start().expect_err("the second component panics in start");
    assert_eq!((error.component.as_str(), error.position, error.rolled_back), ("panicking", 2, 1));
    assert!(error.to_string().contains("panicked in start: the panicking component breaks in start"), "{error}");
    assert!(stopper.join().unwrap(), "nothing was left running to fail a stop");
    assert_eq!(app.phase(), LifecyclePhase::Stopped);
    assert_eq!(journal.events(), ["start a", "stop a"], "the rollback did not stop what had started");
}

/// Two stops race on a running application whose middle component panics in stop: the
/// others are still stopped in reverse, the stop that ran them names the panicking one,
/// the other finds the application stopped, and a later start does not wait.
fn a_component_panicking_in_stop_racing_a_stop() {
    let journal = Arc::new(Journal::default());
    let app = Arc::new(with_a_panicking_component(&journal, "stop"));
    app.start().expect("every component starts");
    let other = {
        let app = app.clone();
        thread::spawn(move || app.stop().err().map(|error| error.to_string()))
    };
    let mine = app.stop().err().map(|error| error.to_string());
    let theirs = other.join().unwrap();
    let errors: Vec<String> = mine.into_iter().chain(theirs).collect();
    assert_eq!(errors.len(), 1, "one stop stops the components, the other finds them stopped: {errors:?}");
    assert!(errors[0].contains("panicked in stop: the panicking component breaks in stop"), "{}", errors[0]);
    assert_eq!(journal.events(), ["start a", "start c", "stop c", "stop a"]);
    assert_eq!(app.phase(), LifecyclePhase::Stopped);
    assert!(app.start().is_ok(), "a later start does not wait for a transition that ended");
    assert!(app.stop().is_err(), "the panicking component panics in every stop");
}

#[test]
fn a_component_panicking_in_start_is_its_error_and_is_rolled_back() {
    expect_sound(Model::named("lifecycle: panic in start"), a_component_panicking_in_start_racing_a_stop);
}

#[test]
fn a_component_panicking_in_stop_is_its_error_and_the_others_still_stop() {
    expect_sound(Model::named("lifecycle: panic in stop"), a_component_panicking_in_stop_racing_a_stop);
}

/// The mutation points of `racekit::lifecycle`, each switched on in the real application
/// and run through the scenario that shows it.
mod mutants {
    use super::*;

    crate::mutant_test! {
        /// The rollback stops `a` before `b`.
        fn a_rollback_in_start_order_is_caught() {
            mutant: "lifecycle.start.rollback_in_start_order",
            model: Model::named("lifecycle: rollback in start order"),
            scenario: rollback_racing_a_failed_start,
            loom: Panic "reverse",
            shuttle: Panic "reverse",
            std: Panic "reverse",
        }
    }

    crate::mutant_test! {
        /// `a` and `b` stay running after the failed start.
        fn a_failed_start_without_rollback_is_caught() {
            mutant: "lifecycle.start.no_rollback",
            model: Model::named("lifecycle: no rollback"),
            scenario: rollback_racing_a_failed_start,
            loom: Panic "rolled back in reverse order",
            shuttle: Panic "rolled back in reverse order",
            std: Panic "rolled back in reverse order",
        }
    }

    crate::mutant_test! {
        /// Both starts claim the start: every component starts twice.
        fn a_phase_checked_outside_the_lock_is_caught() {
            mutant: "lifecycle.start.phase_checked_outside_the_lock",
            model: Model::named("lifecycle: check-then-act"),
            scenario: concurrent_starts,
            loom: Panic "started twice",
            shuttle: Panic "started twice",
            std: Panic "started twice",
        }
    }

    crate::mutant_test! {
        /// The restart runs while the components are still being stopped: it finds one still
        /// running (started twice), or the stop finishes after the restart ran them all.
        fn stopped_marked_before_stopping_is_caught() {
            mutant: "lifecycle.stop.stopped_marked_before_stopping",
            model: Model::named("lifecycle: stopped marked early"),
            scenario: stop_racing_a_restart,
            loom: Panic "stopped, but components still run",
            shuttle: Panic "started twice",
            std: Panic "started twice",
        }
    }

    crate::mutant_test! {
        /// The seed's design: a component reading the application's phase from its start
        /// waits for the lock its own start holds.
        fn components_run_under_the_lock_is_caught() {
            mutant: "lifecycle.start.components_run_under_the_lock",
            model: Model::named("lifecycle: components under the lock"),
            scenario: components_call_back_into_the_application,
            loom: Deadlock "deadlock",
            shuttle: Deadlock "deadlock",
            std: Deadlock "deadlock",
        }
    }

    crate::mutant_test! {
        /// The panic escapes the start, which never settles the phase.
        fn a_panic_not_caught_is_caught() {
            mutant: "lifecycle.guarded.panic_not_caught",
            model: Model::named("lifecycle: panic not caught"),
            scenario: a_component_panicking_in_start_racing_a_stop,
            loom: Panic "breaks in start",
            shuttle: Panic "breaks in start",
            std: Panic "breaks in start",
        }
    }
}
