//! Models of the ordered lifecycle: rollback racing a failed start, concurrent starts,
//! a stop racing a restart, components that call back into the application.
//!
//! Each scenario is generic over [`LifecycleUnderTest`], so the mutants in [`mutants`] run
//! the very scenarios the real application passes.

use crate::support::{expect_caught, expect_each_sound, expect_sound};
use racekit::lifecycle::{Application, Component, ComponentError, LifecyclePhase};
use racekit::model::Model;
use racekit::sync::{thread, Arc, Mutex};

/// What the scenarios need of an application.
pub trait LifecycleUnderTest: Send + Sync + 'static {
    fn create(components: Vec<Box<dyn Component>>) -> Self;
    /// Starts; the name of the component that failed, if one did.
    fn start(&self) -> Result<(), String>;
    fn stop(&self);
    fn phase(&self) -> LifecyclePhase;
}

impl LifecycleUnderTest for Application {
    fn create(components: Vec<Box<dyn Component>>) -> Self {
        Application::new(components)
    }
    fn start(&self) -> Result<(), String> {
        Application::start(self).map_err(|error| error.component)
    }
    fn stop(&self) {
        Application::stop(self).expect("test components stop cleanly");
    }
    fn phase(&self) -> LifecyclePhase {
        Application::phase(self)
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
fn rollback_racing_a_failed_start<A: LifecycleUnderTest>() {
    let journal = Arc::new(Journal::default());
    let app = Arc::new(A::create(components(&journal, &["a", "b", "c"], Some("c"))));
    let starter = {
        let app = app.clone();
        thread::spawn(move || app.start())
    };
    app.stop();
    assert_eq!(starter.join().unwrap(), Err("c".to_owned()), "the error names the component that failed");
    assert_eq!(journal.events(), ["start a", "start b", "stop b", "stop a"], "rolled back in reverse order");
    assert!(journal.running.lock().is_empty(), "a failed start left components running");
    assert_eq!(app.phase(), LifecyclePhase::Stopped);
    journal.assert_balanced();
}

/// Two starts race: each component starts once; the stop that follows stops each once.
fn concurrent_starts<A: LifecycleUnderTest>() {
    let journal = Arc::new(Journal::default());
    let app = Arc::new(A::create(components(&journal, &["a", "b"], None)));
    let other = {
        let app = app.clone();
        thread::spawn(move || app.start())
    };
    assert_eq!(app.start(), Ok(()));
    assert_eq!(other.join().unwrap(), Ok(()));
    assert_eq!(app.phase(), LifecyclePhase::Running, "start returned before the application ran");
    app.stop();
    assert_eq!(journal.events(), ["start a", "start b", "stop b", "stop a"]);
}

/// A running application is stopped on one thread while another starts it again: it ends
/// running or stopped, never with a component started twice or stopped while not running.
fn stop_racing_a_restart<A: LifecycleUnderTest>() {
    let journal = Arc::new(Journal::default());
    let app = Arc::new(A::create(components(&journal, &["a", "b"], None)));
    app.start().unwrap();
    let stopper = {
        let app = app.clone();
        thread::spawn(move || app.stop())
    };
    app.start().unwrap();
    stopper.join().unwrap();
    let running = journal.running.lock().len();
    match app.phase() {
        LifecyclePhase::Running => assert_eq!(running, 2, "running, but components are not"),
        LifecyclePhase::Stopped => assert_eq!(running, 0, "stopped, but components still run"),
        other => panic!("no transition is in progress after both returned, yet the phase is {other:?}"),
    }
    app.stop();
    assert!(journal.running.lock().is_empty());
    journal.assert_balanced();
}

/// Components ask the application for its phase from their `start` and `stop` while
/// another thread reads it too: nothing deadlocks, and they see the transition they are in.
fn components_call_back_into_the_application<A: LifecycleUnderTest>() {
    let journal = Arc::new(Journal::default());
    let app = Arc::new(A::create(components(&journal, &["a", "b"], None)));
    {
        let app = app.clone();
        *journal.call_back.lock() = Some(Box::new(move || app.phase()));
    }
    let reader = {
        let app = app.clone();
        thread::spawn(move || app.phase())
    };
    app.start().unwrap();
    reader.join().unwrap();
    app.stop();
    // Breaks the application → component → hook → application cycle.
    journal.call_back.lock().take();
    assert_eq!(journal.events(), ["start a", "start b", "stop b", "stop a"]);
}

#[test]
fn a_failed_start_rolls_back_in_reverse_even_racing_a_stop() {
    expect_sound(Model::named("lifecycle: rollback racing stop"), rollback_racing_a_failed_start::<Application>);
}

#[test]
fn concurrent_starts_start_each_component_once() {
    expect_sound(Model::named("lifecycle: concurrent starts"), concurrent_starts::<Application>);
}

#[test]
fn a_stop_racing_a_restart_leaves_a_consistent_application() {
    expect_sound(Model::named("lifecycle: stop racing restart"), stop_racing_a_restart::<Application>);
}

#[test]
fn components_that_call_back_into_the_application_do_not_deadlock() {
    expect_sound(
        Model::named("lifecycle: re-entrant components"),
        components_call_back_into_the_application::<Application>,
    );
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
/// the racing stop returns. Then a component that panics in stop: the others are still
/// stopped in reverse and the stop's error names it.
#[test]
fn a_panicking_component_is_its_error_and_the_phase_always_settles() {
    expect_sound(Model::named("lifecycle: panicking components"), || {
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
        assert!(journal.running.lock().is_empty(), "{:?}", journal.events());

        let journal = Arc::new(Journal::default());
        let app = with_a_panicking_component(&journal, "stop");
        app.start().expect("every component starts");
        let error = app.stop().expect_err("the second component panics in stop");
        assert!(error.to_string().contains("panicked in stop: the panicking component breaks in stop"), "{error}");
        assert_eq!(journal.events(), ["start a", "start c", "stop c", "stop a"]);
        assert_eq!(app.phase(), LifecyclePhase::Stopped);
        assert!(app.start().is_ok(), "a later start does not wait for a transition that ended");
    });
}

/// Buggy variants of the application, each wrong in one place.
mod mutants {
    use super::*;
    use crate::support::MODEL_CHECKER;
    use racekit::model::FailureKind;
    use racekit::sync::Condvar;

    const ROLLBACK_IN_START_ORDER: u8 = 1;
    const NO_ROLLBACK: u8 = 2;
    const PHASE_CHECKED_OUTSIDE_THE_LOCK: u8 = 3;
    const STOPPED_MARKED_BEFORE_STOPPING: u8 = 4;
    const COMPONENTS_RUN_UNDER_THE_LOCK: u8 = 5;

    struct MutantApplication<const BUG: u8> {
        components: Vec<Box<dyn Component>>,
        phase: Mutex<LifecyclePhase>,
        changed: Condvar,
    }

    impl<const BUG: u8> MutantApplication<BUG> {
        fn settle(&self, phase: LifecyclePhase) {
            *self.phase.lock() = phase;
            self.changed.notify_all();
        }

        /// Waits for a settled phase and claims `transition` unless already at `target`.
        fn claim(
            &self,
            target: LifecyclePhase,
            transition: LifecyclePhase,
        ) -> Option<racekit::sync::MutexGuard<'_, LifecyclePhase>> {
            let mut phase = self.changed.wait_while(self.phase.lock(), |phase| {
                matches!(phase, LifecyclePhase::Starting | LifecyclePhase::Stopping)
            });
            if *phase == target {
                return None;
            }
            if BUG == PHASE_CHECKED_OUTSIDE_THE_LOCK {
                drop(phase);
                thread::yield_now();
                phase = self.phase.lock();
            }
            *phase = transition;
            Some(phase)
        }
    }

    impl<const BUG: u8> LifecycleUnderTest for MutantApplication<BUG> {
        fn create(components: Vec<Box<dyn Component>>) -> Self {
            MutantApplication { components, phase: Mutex::new(LifecyclePhase::Stopped), changed: Condvar::new() }
        }

        fn start(&self) -> Result<(), String> {
            let Some(guard) = self.claim(LifecyclePhase::Running, LifecyclePhase::Starting) else {
                return Ok(());
            };
            let guard = if BUG == COMPONENTS_RUN_UNDER_THE_LOCK {
                Some(guard)
            } else {
                drop(guard);
                None
            };
            for (index, component) in self.components.iter().enumerate() {
                if component.start().is_err() {
                    let started = &self.components[..index];
                    match BUG {
                        NO_ROLLBACK => {}
                        ROLLBACK_IN_START_ORDER => started.iter().for_each(|c| c.stop().unwrap()),
                        _ => started.iter().rev().for_each(|c| c.stop().unwrap()),
                    }
                    drop(guard);
                    self.settle(LifecyclePhase::Stopped);
                    return Err(component.name().to_owned());
                }
            }
            drop(guard);
            self.settle(LifecyclePhase::Running);
            Ok(())
        }

        fn stop(&self) {
            let Some(guard) = self.claim(LifecyclePhase::Stopped, LifecyclePhase::Stopping) else {
                return;
            };
            let guard = if BUG == COMPONENTS_RUN_UNDER_THE_LOCK {
                Some(guard)
            } else {
                drop(guard);
                None
            };
            if BUG == STOPPED_MARKED_BEFORE_STOPPING {
                self.settle(LifecyclePhase::Stopped);
            }
            self.components.iter().rev().for_each(|c| c.stop().unwrap());
            drop(guard);
            self.settle(LifecyclePhase::Stopped);
        }

        fn phase(&self) -> LifecyclePhase {
            *self.phase.lock()
        }
    }

    #[test]
    fn the_mutant_scaffold_is_sound_without_a_bug() {
        expect_each_sound(
            "lifecycle: scaffold",
            &[
                ("rollback", rollback_racing_a_failed_start::<MutantApplication<0>>),
                ("concurrent starts", concurrent_starts::<MutantApplication<0>>),
                ("restart", stop_racing_a_restart::<MutantApplication<0>>),
                ("re-entrant", components_call_back_into_the_application::<MutantApplication<0>>),
            ],
        );
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_rollback_in_start_order_is_caught() {
        let failure = expect_caught(
            Model::named("lifecycle: rollback in start order"),
            rollback_racing_a_failed_start::<MutantApplication<ROLLBACK_IN_START_ORDER>>,
        );
        assert!(failure.message.contains("reverse"), "{failure}");
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_failed_start_without_rollback_is_caught() {
        let failure = expect_caught(
            Model::named("lifecycle: no rollback"),
            rollback_racing_a_failed_start::<MutantApplication<NO_ROLLBACK>>,
        );
        assert!(
            failure.message.contains("reverse") || failure.message.contains("left components running"),
            "{failure}"
        );
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn a_phase_checked_outside_the_lock_is_caught() {
        let failure = expect_caught(
            Model::named("lifecycle: check-then-act"),
            concurrent_starts::<MutantApplication<PHASE_CHECKED_OUTSIDE_THE_LOCK>>,
        );
        assert!(failure.message.contains("started twice"), "{failure}");
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn stopped_marked_before_stopping_is_caught() {
        let failure = expect_caught(
            Model::named("lifecycle: stopped marked early"),
            stop_racing_a_restart::<MutantApplication<STOPPED_MARKED_BEFORE_STOPPING>>,
        );
        let symptoms = ["started twice", "not running", "components still run"];
        assert!(symptoms.iter().any(|symptom| failure.message.contains(symptom)), "{failure}");
    }

    #[test]
    #[cfg_attr(
        not(any(racekit_loom, racekit_shuttle)),
        ignore = "real threads find races by chance; the job runs this"
    )]
    fn components_run_under_the_lock_is_caught() {
        // The seed's design: a component reading the application's phase from its start
        // waits for the lock its own start holds.
        let failure = expect_caught(
            Model::named("lifecycle: components under the lock"),
            components_call_back_into_the_application::<MutantApplication<COMPONENTS_RUN_UNDER_THE_LOCK>>,
        );
        if MODEL_CHECKER {
            assert_eq!(failure.kind, FailureKind::Deadlock, "{failure}");
        }
    }
}
