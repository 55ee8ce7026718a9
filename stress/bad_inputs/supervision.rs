//! Rows for the stopper, its cancel tokens, and the component lifecycle: use after stop,
//! timeouts of 0 and `Duration::MAX`, and tasks, closers and components that panic,
//! block or call back into what runs them.

use super::collections::SHORT;
use super::table::{ensure, fixed, refused, row, same, Class, Expect, Miss, Row};
use racekit::lifecycle::{Application, Component, ComponentError, LifecyclePhase};
use racekit::stopper::{CancelToken, CloserAdded, StopError, Stopper, StopperPhase};
use racekit::sync::atomic::{AtomicUsize, Ordering};
use racekit::sync::{task, thread, Arc, Latch, Mutex};
use std::time::Duration;

fn stopped() -> Stopper {
    let stopper = Stopper::new();
    stopper.stop();
    stopper
}

/// A stopper with one thread task that runs until `gate` is set.
fn busy() -> (Stopper, Arc<Latch>, thread::JoinHandle<()>) {
    let stopper = Stopper::new();
    let gate = Arc::new(Latch::new());
    let held = gate.clone();
    let task = stopper.spawn_thread("busy", move |_| held.wait()).unwrap();
    (stopper, gate, task)
}

/// What a closer of a stopper saw when it ran `inside` with its own stopper.
fn from_closer<T: Send + 'static>(inside: fn(&Stopper) -> T) -> Result<T, Miss> {
    let stopper = Stopper::new();
    let (own, seen) = (stopper.clone(), Arc::new(Mutex::new(None)));
    let into = seen.clone();
    stopper.add_closer(move || *into.lock() = Some(inside(&own)));
    same(stopper.stop().closers_panicked, 0)?;
    let value = seen.lock().take();
    value.ok_or_else(|| Miss::silent("the closer never ran"))
}

/// A component that runs `on_start` and `on_stop`.
struct Part {
    name: &'static str,
    on_start: Box<dyn Fn() -> Result<(), ComponentError> + Send + Sync>,
    on_stop: Box<dyn Fn() -> Result<(), ComponentError> + Send + Sync>,
}

impl Component for Part {
    fn name(&self) -> &str {
        self.name
    }
    fn start(&self) -> Result<(), ComponentError> {
        (self.on_start)()
    }
    fn stop(&self) -> Result<(), ComponentError> {
        (self.on_stop)()
    }
}

fn part(
    name: &'static str,
    on_start: impl Fn() -> Result<(), ComponentError> + Send + Sync + 'static,
    on_stop: impl Fn() -> Result<(), ComponentError> + Send + Sync + 'static,
) -> Box<dyn Component> {
    Box::new(Part { name, on_start: Box::new(on_start), on_stop: Box::new(on_stop) })
}

fn fine(name: &'static str) -> Box<dyn Component> {
    part(name, || Ok(()), || Ok(()))
}

/// An application whose one component calls `inside` on the application itself, from its
/// start (`from_start`) or its stop; returns what the call returned, as text.
fn reentrant(from_start: bool, inside: fn(&Application) -> String) -> Result<String, Miss> {
    let slot: Arc<Mutex<Option<std::sync::Weak<Application>>>> = Arc::new(Mutex::new(None));
    let seen = Arc::new(Mutex::new(None));
    let call = {
        let (slot, seen) = (slot.clone(), seen.clone());
        move || {
            let app = slot.lock().as_ref().and_then(std::sync::Weak::upgrade);
            if let Some(app) = app {
                *seen.lock() = Some(inside(&app));
            }
            Ok(())
        }
    };
    let component =
        if from_start { part("self-starter", call, || Ok(())) } else { part("self-stopper", || Ok(()), call) };
    let app = std::sync::Arc::new(Application::new(vec![component]));
    *slot.lock() = Some(std::sync::Arc::downgrade(&app));
    let _ = app.start();
    let _ = app.stop();
    same(app.phase(), LifecyclePhase::Stopped)?;
    let value = seen.lock().take();
    value.ok_or_else(|| Miss::silent("the component never ran"))
}

pub fn rows() -> Vec<Row> {
    use Expect::*;
    vec![
        row("stopper: spawn_thread after stop", TypedError, || {
            refused(stopped().spawn_thread("late", |_| ()).map(drop), |e| e.task == "late", "start tasks before")
        }),
        row("stopper: run_task after quiesce", TypedError, || {
            let stopper = Stopper::new();
            stopper.quiesce();
            refused(stopper.run_task("late", |_| 1), |e| e.task == "late", "start tasks before")
        }),
        row("stopper: spawn_task after stop", TypedError, || {
            let stopper = stopped();
            let refusal = task::block_on(async move { stopper.spawn_task("late", |_| async {}).map(drop) });
            refused(refusal, |e| e.task == "late", "start tasks before")
        }),
        row("stopper: a refused task is counted", Documented, || {
            let stopper = stopped();
            let _ = stopper.run_task("late", |_| ());
            same(stopper.stats().counts.tasks_refused, 1)
        }),
        row("stopper: an empty task name", Documented, || {
            let stopper = Stopper::new();
            same(stopper.run_task("", |_| 3), Ok(3))?;
            same(stopper.stop().tasks_started, 1)
        }),
        row("stopper: a one-megabyte task name is named in a timed-out stop", TypedError, || {
            let stopper = Stopper::new();
            let gate = Arc::new(Latch::new());
            let held = gate.clone();
            let name = "t".repeat(1 << 20);
            let task = stopper.spawn_thread(name.clone(), move |_| held.wait()).unwrap();
            let outcome = stopper.stop_timeout(SHORT);
            gate.set();
            task.join().unwrap();
            refused(
                outcome,
                |e| matches!(e, StopError::TimedOut(t) if t.still_running == [name.clone()]),
                "call stop again",
            )
        }),
        row("stopper: a task that panics is still counted as ended", CaughtPanic, || {
            let stopper = Stopper::new();
            let task = stopper.spawn_thread("panics", |_| panic!("a task fails")).unwrap();
            ensure(task.join().is_err(), || "the task's panic reaches its join".into())?;
            same((stopper.stop().tasks_started, stopper.live_tasks()), (1, 0))
        }),
        row("stopper: stop_timeout(0) with a running task", TypedError, || {
            let (stopper, gate, task) = busy();
            let outcome = stopper.stop_timeout(Duration::ZERO);
            gate.set();
            task.join().unwrap();
            refused(outcome, |e| matches!(e, StopError::TimedOut(_)), "call stop again")?;
            same(stopper.stop().tasks_started, 1)
        }),
        row("stopper: stop_timeout(1 ns) with a running task", TypedError, || {
            let (stopper, gate, task) = busy();
            let outcome = stopper.stop_timeout(Duration::from_nanos(1));
            gate.set();
            task.join().unwrap();
            refused(outcome, |e| matches!(e, StopError::TimedOut(_)), "make them watch the token")
        }),
        row("stopper: stop_timeout(Duration::MAX), ended by the task", Bounded, || {
            let stopper = Stopper::new();
            let task = stopper.spawn_thread("watcher", |cancel: CancelToken| cancel.wait()).unwrap();
            let outcome = stopper.stop_timeout(Duration::MAX).map(|report| report.tasks_started);
            task.join().unwrap();
            same(outcome, Ok(1))
        }),
        row("stopper: stop twice returns the same report", Documented, || {
            let stopper = Stopper::new();
            stopper.add_closer(|| ());
            let first = stopper.stop();
            same((stopper.stop(), stopper.try_stop()), (first, Ok(first)))
        }),
        row("stopper: quiesce twice, then stop", Documented, || {
            let stopper = Stopper::new();
            stopper.quiesce();
            stopper.quiesce();
            stopper.stop();
            same(stopper.phase(), StopperPhase::Stopped)
        }),
        row("stopper: a closer added after stop runs at once", Documented, || {
            let stopper = stopped();
            let ran = Arc::new(AtomicUsize::new(0));
            let counted = ran.clone();
            let added = stopper.add_closer(move || {
                counted.fetch_add(1, Ordering::SeqCst);
            });
            same((added, ran.load(Ordering::SeqCst)), (CloserAdded::RanNow, 1))
        }),
        row("stopper: panicking closers are caught, counted, and the others run", CaughtPanic, || {
            let stopper = Stopper::new();
            let ran = Arc::new(AtomicUsize::new(0));
            for n in 0..4 {
                let ran = ran.clone();
                stopper.add_closer(move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                    assert!(n % 2 == 0, "closer {n} fails");
                });
            }
            let report = stopper.stop();
            same((report.closers_run, report.closers_panicked, ran.load(Ordering::SeqCst)), (4, 2, 4))
        }),
        fixed(
            "stopper: a closer added after stop that panics is caught",
            CaughtPanic,
            Class::Panic,
            "late closer panic caught and counted",
            || {
                let stopper = stopped();
                let caught = racekit::sync::catch_unwind(|| stopper.add_closer(|| panic!("a late closer fails")));
                ensure(caught.is_ok(), || "the late closer's panic reached the caller of add_closer".into())?;
                same(stopper.stats().counts.closers_panicked, 1)
            },
        ),
        row("stopper: try_stop from a closer", TypedError, || {
            refused(from_closer(|own| own.try_stop())?, |e| *e == StopError::CalledFromCloser, "call quiesce()")
        }),
        row("stopper: stop_timeout(0) from a closer", TypedError, || {
            refused(
                from_closer(|own| own.stop_timeout(Duration::ZERO))?,
                |e| *e == StopError::CalledFromCloser,
                "call quiesce()",
            )
        }),
        row("stopper: a closer that adds a closer", Documented, || {
            let added = from_closer(|own| own.add_closer(|| ()))?;
            same(added, CloserAdded::Deferred)
        }),
        row("stopper: a closer that tries to start a task", TypedError, || {
            refused(from_closer(|own| own.run_task("from closer", |_| ()))?, |_| true, "start tasks before")
        }),
        row("stopper: stop_timeout from one of its own tasks", TypedError, || {
            let stopper = Stopper::new();
            let own = stopper.clone();
            let outcome = stopper.run_task("self-stopping", move |_| own.stop_timeout(SHORT)).unwrap();
            refused(outcome, |e| matches!(e, StopError::CalledFromTask), "call quiesce() from the task")?;
            same(stopper.stop().tasks_started, 1)
        }),
        fixed(
            "stopper: try_stop from one of its own thread tasks",
            TypedError,
            Class::Hang,
            "a stop from a task of the same stopper waited for itself; now refused at once",
            || {
                let stopper = Stopper::new();
                let own = stopper.clone();
                let task = stopper.spawn_thread("self-stopping thread", move |_| own.try_stop()).unwrap();
                refused(
                    task.join().unwrap(),
                    |e| matches!(e, StopError::CalledFromTask),
                    "call quiesce() from the task",
                )?;
                same(stopper.stop().tasks_started, 1)
            },
        ),
        row("cancel token: wait_timeout(0), (1 ns) and (Duration::MAX)", Bounded, || {
            let token = CancelToken::new();
            same((token.wait_timeout(Duration::ZERO), token.wait_timeout(Duration::from_nanos(1))), (false, false))?;
            let canceller = {
                let token = token.clone();
                thread::spawn(move || {
                    thread::sleep(SHORT);
                    token.cancel()
                })
            };
            let woke = token.wait_timeout(Duration::MAX);
            same((woke, canceller.join().unwrap(), token.cancel()), (true, true, false))
        }),
        row("cancel token: a cancel-on-quiesce token made after quiesce comes back cancelled", Documented, || {
            let stopper = Stopper::new();
            stopper.quiesce();
            same(stopper.cancel_on_quiesce().token().is_cancelled(), true)
        }),
        row("lifecycle: no components", Documented, || {
            let app = Application::new(Vec::new());
            same((app.start().is_ok(), app.stop().is_ok(), app.phase()), (true, true, LifecyclePhase::Stopped))
        }),
        row("lifecycle: stop before start does nothing", Documented, || {
            let stops = Arc::new(AtomicUsize::new(0));
            let counted = stops.clone();
            let app = Application::new(vec![part(
                "a",
                || Ok(()),
                move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                },
            )]);
            same((app.stop().is_ok(), stops.load(Ordering::SeqCst)), (true, 0))
        }),
        row("lifecycle: start twice starts once", Documented, || {
            let starts = Arc::new(AtomicUsize::new(0));
            let counted = starts.clone();
            let app = Application::new(vec![part(
                "a",
                move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                },
                || Ok(()),
            )]);
            same((app.start().is_ok(), app.start().is_ok(), starts.load(Ordering::SeqCst)), (true, true, 1))
        }),
        row("lifecycle: a failing start is named and rolled back", TypedError, || {
            let app = Application::new(vec![fine("db"), part("http", || Err("port taken".into()), || Ok(()))]);
            let failure = app.start();
            refused(failure, |e| e.component == "http" && e.rolled_back == 1, "were stopped again")?;
            same(app.phase(), LifecyclePhase::Stopped)
        }),
        row("lifecycle: a panicking start is caught as that component's error", CaughtPanic, || {
            let app = Application::new(vec![fine("db"), part("http", || panic!("bind failed"), || Ok(()))]);
            refused(
                app.start(),
                |e| e.component == "http" && e.error.to_string().contains("bind failed"),
                "should return an error",
            )
        }),
        row("lifecycle: a panicking stop is caught, and the others still stop", CaughtPanic, || {
            let stops = Arc::new(AtomicUsize::new(0));
            let counted = stops.clone();
            let app = Application::new(vec![
                part(
                    "db",
                    || Ok(()),
                    move || {
                        counted.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    },
                ),
                part("http", || Ok(()), || panic!("close failed")),
            ]);
            app.start().map_err(|e| Miss::silent(e.to_string()))?;
            refused(app.stop(), |e| e.0 .0.len() == 1 && e.0 .0[0].component == "http", "should return an error")?;
            same((stops.load(Ordering::SeqCst), app.phase()), (1, LifecyclePhase::Stopped))
        }),
        row("lifecycle: a panic during rollback is listed with the start failure", CaughtPanic, || {
            let app = Application::new(vec![
                part("db", || Ok(()), || panic!("flush failed")),
                part("http", || Err("port taken".into()), || Ok(())),
            ]);
            refused(app.start(), |e| e.rollback_failures.len() == 1, "failed to stop")
        }),
        row("lifecycle: components with empty and equal names", Documented, || {
            let app = Application::new(vec![fine(""), fine("x"), fine("x")]);
            same((app.component_names(), app.start().is_ok()), (vec!["", "x", "x"], true))
        }),
        fixed(
            "lifecycle: a component that starts its own application",
            TypedError,
            Class::Hang,
            "CalledFromComponent instead of waiting for itself",
            || {
                let inner = reentrant(true, |app| format!("{:?}", app.start().map_err(|e| e.to_string())))?;
                ensure(inner.contains("Err") && inner.contains("from inside this component's own start"), || {
                    format!("the inner start returned {inner}")
                })
            },
        ),
        fixed(
            "lifecycle: a component that stops its own application",
            TypedError,
            Class::Hang,
            "CalledFromComponent instead of waiting for itself",
            || {
                let inner = reentrant(false, |app| format!("{:?}", app.stop().map_err(|e| e.to_string())))?;
                ensure(inner.contains("Err") && inner.contains("from inside this component's own stop"), || {
                    format!("the inner stop returned {inner}")
                })
            },
        ),
        row("lifecycle: a component that reads the phase from its start", Documented, || {
            let phase = reentrant(true, |app| format!("{:?}", app.phase()))?;
            same(phase.as_str(), "Starting")
        }),
    ]
}
