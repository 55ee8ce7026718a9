//! Ordered component lifecycle: start in order, roll back in reverse on failure, stop in
//! reverse (the seed's `Application`/`Component`).
//!
//! # Guarantees
//!
//! - [`Application::start`] starts the components in the order they were added. When one
//!   fails, those already started are stopped in reverse order, and the [`StartError`]
//!   names the one that failed (and lists any rollback failures).
//! - [`Application::stop`] stops every component in reverse order, even when some fail,
//!   and returns every failure (collected with [`ErrorCollector`]), not only the last.
//! - Idempotent: starting a running application and stopping a stopped one do nothing.
//!   Concurrent calls are serialized: a call that finds a start or stop in progress waits
//!   for it (woken by its end, not by polling) and then acts on the outcome, so every
//!   component is started at most once per stop, and stopped only when it was started.
//! - *Panic-safe*: a component whose `start` or `stop` panics is caught, and the panic is
//!   that component's error ([`ComponentPanicked`], with the panic's message): the
//!   rollback or the reverse stop goes on with the others, and the phase always settles,
//!   so a later `start` or `stop` never waits for a transition that will not end.
//! - No user code under the lock: `start` and `stop` of components run unlocked, so a
//!   component may read [`Application::phase`] from them. A component that calls
//!   [`start`](Application::start) or [`stop`](Application::stop) on its own application
//!   gets [`CalledFromComponent`] as its error (that call would wait for the transition it
//!   is part of); the transition goes on.
//!
//! Compared with the seed: the seed holds its lock while components start and stop (so a
//! component calling back deadlocks) and reports only the last stop error.
//!
//! # Invariants
//!
//! Under the one lock (`phase`): only the thread that moved the phase to `Starting` or
//! `Stopping` runs components, and it moves the phase on (`Running`/`Stopped`) when it is
//! done, then wakes the waiters. In `Running` every component is started; in `Stopped`
//! none is (as far as this application is concerned).
//!
//! `runner` names the thread running components during a transition (set by it before
//! each component, cleared when it settles), so that call from inside a component is
//! told from a concurrent one.
//!
//! Lock order: `phase` and `runner` are never held together; no component code runs under
//! either.

use crate::error_collector::{ErrorCollector, Errors};
use crate::sync::{thread, Condvar, Mutex, MutexGuard};
use std::fmt;
use thiserror::Error;

/// The [mutation points](crate::mutation) planted in this pattern: one-expression bugs a
/// model switches on with [`Model::mutant`](crate::model::Model::mutant).
pub const MUTATION_POINTS: &[crate::mutation::MutationPoint] = &[
    crate::mutation::MutationPoint {
        name: "lifecycle.start.phase_checked_outside_the_lock",
        bug: "a start sees the application stopped, releases the lock and claims the start under a second \
              acquisition, so two starts can both claim it",
    },
    crate::mutation::MutationPoint {
        name: "lifecycle.start.components_run_under_the_lock",
        bug: "a start keeps the phase lock while its components start (the seed's design)",
    },
    crate::mutation::MutationPoint {
        name: "lifecycle.start.rollback_in_start_order",
        bug: "a failed start stops the components it started in start order instead of reverse",
    },
    crate::mutation::MutationPoint {
        name: "lifecycle.start.no_rollback",
        bug: "a failed start leaves the components it started running",
    },
    crate::mutation::MutationPoint {
        name: "lifecycle.stop.stopped_marked_before_stopping",
        bug: "a stop marks the application stopped before its components have stopped",
    },
    crate::mutation::MutationPoint {
        name: "lifecycle.guarded.panic_not_caught",
        bug: "a component's panic in start or stop is not caught, so the transition never settles",
    },
];

/// An error a component returns.
pub type ComponentError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A part of an application with a start and a stop.
///
/// `start` and `stop` are called without any lock of the [`Application`] held, never
/// concurrently with each other for one component, and `stop` only after a successful
/// `start`.
pub trait Component: Send + Sync {
    /// The name errors show.
    fn name(&self) -> &str;
    /// Starts the component.
    fn start(&self) -> Result<(), ComponentError>;
    /// Stops the component.
    fn stop(&self) -> Result<(), ComponentError>;
}

/// Where an application is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LifecyclePhase {
    /// No component is running.
    Stopped,
    /// Components are being started.
    Starting,
    /// Every component is running.
    Running,
    /// Components are being stopped.
    Stopping,
}

/// A component's `start` or `stop` panicked; the panic was caught and became its error.
#[derive(Debug, Error)]
#[error("panicked in {operation}: {message}; a component should return an error instead of panicking")]
pub struct ComponentPanicked {
    /// `"start"` or `"stop"`.
    pub operation: &'static str,
    /// The panic's message.
    pub message: String,
}

/// A component called [`start`](Application::start) or [`stop`](Application::stop) on its own
/// application from inside its own `start` or `stop`: that call would wait for the
/// transition it is part of, so it is refused and does nothing.
#[derive(Debug, Error)]
#[error(
    "{call} was called on the application from inside this component's own {during}, where it would wait for \
     itself: nothing was done; call it from outside the application's components"
)]
pub struct CalledFromComponent {
    /// `"start"` or `"stop"`: the call refused.
    pub call: &'static str,
    /// `"start"` or `"stop"`: the component operation it was made from.
    pub during: &'static str,
}

/// One component's failure.
#[derive(Debug, Error)]
#[error("component `{component}`: {error}")]
pub struct ComponentFailure {
    /// The component's name.
    pub component: String,
    /// What it returned.
    #[source]
    pub error: ComponentError,
}

/// A component failed to start; those started before it were stopped again.
#[derive(Debug, Error)]
#[error(
    "component `{component}` (number {position} of the start order) failed to start: {error}; the {rolled_back} component(s) started before it were stopped again{}",
    rollback_note(rollback_failures)
)]
pub struct StartError {
    /// The component that failed.
    pub component: String,
    /// Its position in the start order, from 1.
    pub position: usize,
    /// What it returned.
    #[source]
    pub error: ComponentError,
    /// How many components were stopped again.
    pub rolled_back: usize,
    /// Components whose stop failed during the rollback, in the order they were stopped.
    pub rollback_failures: Vec<ComponentFailure>,
}

fn rollback_note(failures: &[ComponentFailure]) -> String {
    if failures.is_empty() {
        String::new()
    } else {
        format!(
            " ({} of them failed to stop: {})",
            failures.len(),
            Errors(failures.iter().map(|f| f.to_string()).collect())
        )
    }
}

/// Components failed to stop; every component was still asked to stop, in reverse order.
#[derive(Debug, Error)]
#[error("stopping the application: {0}")]
pub struct StopError(pub Errors<ComponentFailure>);

/// An ordered set of components started and stopped together. See the
/// [module documentation](self) for the guarantees.
///
/// # Examples
///
/// ```
/// use racekit::lifecycle::{Application, Component, ComponentError};
/// use racekit::sync::{Arc, Mutex};
///
/// struct Part { name: &'static str, log: Arc<Mutex<Vec<String>>>, fails: bool }
///
/// impl Component for Part {
///     fn name(&self) -> &str { self.name }
///     fn start(&self) -> Result<(), ComponentError> {
///         if self.fails { return Err("port in use".into()); }
///         self.log.lock().push(format!("start {}", self.name));
///         Ok(())
///     }
///     fn stop(&self) -> Result<(), ComponentError> {
///         self.log.lock().push(format!("stop {}", self.name));
///         Ok(())
///     }
/// }
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let part = |name, fails| Box::new(Part { name, log: log.clone(), fails }) as Box<dyn Component>;
/// let app = Application::new(vec![part("db", false), part("cache", false), part("http", true)]);
///
/// let error = app.start().unwrap_err();
/// assert_eq!(error.component, "http");
/// assert_eq!(*log.lock(), ["start db", "start cache", "stop cache", "stop db"]);
/// assert!(app.stop().is_ok(), "nothing left to stop");
/// ```
pub struct Application {
    components: Vec<Box<dyn Component>>,
    phase: Mutex<LifecyclePhase>,
    changed: Condvar,
    /// The thread running components now, the component it runs, and which operation:
    /// what tells a call from inside a component (refused) from a concurrent one (waits).
    runner: Mutex<Option<Runner>>,
}

/// Who runs components now (see [`Application::runner`]).
#[derive(Clone, Copy)]
struct Runner {
    thread: thread::ThreadId,
    component: usize,
    during: &'static str,
}

impl Application {
    /// An application of `components`, started in this order and stopped in reverse.
    pub fn new(components: Vec<Box<dyn Component>>) -> Application {
        Application {
            components,
            phase: Mutex::new(LifecyclePhase::Stopped),
            changed: Condvar::new(),
            runner: Mutex::new(None),
        }
    }

    /// Starts every component in order (see the [module documentation](self)). Returns at
    /// once if running; waits for a start or stop in progress first.
    pub fn start(&self) -> Result<(), StartError> {
        if let Some((runner, error)) = self.called_from_component("start") {
            return Err(StartError {
                component: self.components[runner.component].name().to_owned(),
                position: runner.component + 1,
                error,
                rolled_back: 0,
                rollback_failures: Vec::new(),
            });
        }
        let mut phase = self.settled();
        if *phase == LifecyclePhase::Running {
            return Ok(());
        }
        // Claimed in the critical section that saw the phase settled (the mutant claims it in
        // a second one, so two starts can both claim it).
        phase = mutation_point!("lifecycle.start.phase_checked_outside_the_lock", phase, {
            drop(phase);
            self.phase.lock()
        });
        *phase = LifecyclePhase::Starting;
        // No component runs under the lock (the mutant keeps it: a component reading the
        // phase then waits for its own start).
        let held = mutation_point!(
            "lifecycle.start.components_run_under_the_lock",
            {
                drop(phase);
                None
            },
            Some(phase)
        );
        let started = self.start_in_order();
        drop(held);
        self.settle(if started.is_ok() { LifecyclePhase::Running } else { LifecyclePhase::Stopped });
        started
    }

    /// Starts the components in order; on a failure, stops those started in reverse.
    fn start_in_order(&self) -> Result<(), StartError> {
        for (index, component) in self.components.iter().enumerate() {
            self.set_runner(index, "start");
            if let Err(error) = guarded(component.as_ref(), "start", |component| component.start()) {
                let started = &self.components[..index];
                let rollback = mutation_point!(
                    "lifecycle.start.no_rollback",
                    mutation_point!(
                        "lifecycle.start.rollback_in_start_order",
                        self.stop_each(started.iter().enumerate().rev()),
                        self.stop_each(started.iter().enumerate())
                    ),
                    ErrorCollector::new()
                );
                return Err(StartError {
                    component: component.name().to_owned(),
                    position: index + 1,
                    error,
                    rolled_back: index,
                    rollback_failures: rollback.into_result().err().map(|errors| errors.0).unwrap_or_default(),
                });
            }
        }
        Ok(())
    }

    /// Stops every component in reverse order, collecting every failure. Returns at once if
    /// stopped; waits for a start or stop in progress first. The application is stopped
    /// afterwards even when components failed to stop.
    pub fn stop(&self) -> Result<(), StopError> {
        if let Some((runner, error)) = self.called_from_component("stop") {
            let component = self.components[runner.component].name().to_owned();
            return Err(StopError(Errors(vec![ComponentFailure { component, error }])));
        }
        let mut phase = self.settled();
        if *phase == LifecyclePhase::Stopped {
            return Ok(());
        }
        // Stopping until every component has stopped (the mutant says stopped at once, so a
        // start can run components that are still being stopped).
        *phase = mutation_point!(
            "lifecycle.stop.stopped_marked_before_stopping",
            LifecyclePhase::Stopping,
            LifecyclePhase::Stopped
        );
        drop(phase);
        let failures = self.stop_each(self.components.iter().enumerate().rev());
        self.settle(LifecyclePhase::Stopped);
        failures.into_result().map_err(StopError)
    }

    /// The phase now.
    pub fn phase(&self) -> LifecyclePhase {
        *self.phase.lock()
    }

    /// The components' names, in start order.
    pub fn component_names(&self) -> Vec<&str> {
        self.components.iter().map(|component| component.name()).collect()
    }

    /// Waits until no transition is in progress; returns the lock with the phase
    /// `Running` or `Stopped`.
    fn settled(&self) -> MutexGuard<'_, LifecyclePhase> {
        self.changed
            .wait_while(self.phase.lock(), |phase| matches!(phase, LifecyclePhase::Starting | LifecyclePhase::Stopping))
    }

    /// Ends the transition and wakes whoever waits for it.
    fn settle(&self, settled: LifecyclePhase) {
        *self.runner.lock() = None;
        *self.phase.lock() = settled;
        self.changed.notify_all();
    }

    /// Records that this thread is about to run component `index`'s `during`.
    fn set_runner(&self, component: usize, during: &'static str) {
        *self.runner.lock() = Some(Runner { thread: thread::current().id(), component, during });
    }

    /// The runner and the error for `call`, when this thread is inside a component of this
    /// application.
    fn called_from_component(&self, call: &'static str) -> Option<(Runner, ComponentError)> {
        let runner = (*self.runner.lock()).filter(|runner| runner.thread == thread::current().id())?;
        Some((runner, Box::new(CalledFromComponent { call, during: runner.during })))
    }

    /// Stops `components` (with their positions) in the order given, collecting every failure.
    fn stop_each<'a>(
        &self,
        components: impl Iterator<Item = (usize, &'a Box<dyn Component>)>,
    ) -> ErrorCollector<ComponentFailure> {
        let failures = ErrorCollector::new();
        for (index, component) in components {
            self.set_runner(index, "stop");
            if let Err(error) = guarded(component.as_ref(), "stop", |component| component.stop()) {
                failures.add(ComponentFailure { component: component.name().to_owned(), error });
            }
        }
        failures
    }
}

/// Runs a component's `start` or `stop`, turning a panic into its error.
fn guarded(
    component: &dyn Component,
    operation: &'static str,
    call: fn(&dyn Component) -> Result<(), ComponentError>,
) -> Result<(), ComponentError> {
    let caught = mutation_point!(
        "lifecycle.guarded.panic_not_caught",
        crate::sync::catch_unwind(|| call(component)),
        Ok(call(component))
    );
    caught.unwrap_or_else(|payload| {
        Err(Box::new(ComponentPanicked { operation, message: crate::model::panic_message(&*payload) }))
    })
}

impl fmt::Debug for Application {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Application")
            .field("components", &self.component_names())
            .field("phase", &self.phase())
            .finish()
    }
}
