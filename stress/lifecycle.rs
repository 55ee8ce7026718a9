//! Stress suite of the lifecycle: applications of random size with a random failing
//! component, started and stopped from several threads at once; every component must be
//! stopped exactly as often as it was started, in reverse order, and none left running.

use crate::support::cases;
use proptest::prelude::*;
use racekit::lifecycle::{Application, Component, ComponentError, LifecyclePhase};
use std::sync::{Arc, Mutex};

/// Start and stop events of every component of one application, in order.
type Events = Arc<Mutex<Vec<(bool, usize)>>>;

struct Part {
    index: usize,
    fails_to_start: bool,
    fails_to_stop: bool,
    events: Events,
}

impl Component for Part {
    fn name(&self) -> &str {
        "part"
    }
    fn start(&self) -> Result<(), ComponentError> {
        if self.fails_to_start {
            return Err("refuses to start".into());
        }
        self.events.lock().unwrap().push((true, self.index));
        Ok(())
    }
    fn stop(&self) -> Result<(), ComponentError> {
        self.events.lock().unwrap().push((false, self.index));
        if self.fails_to_stop {
            return Err("stopped with an error".into());
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn starts_and_stops_stay_balanced_and_ordered(
        size in 1usize..6,
        failing in prop::option::of(0usize..6),
        stop_failing in prop::option::of(0usize..6),
        rounds in prop::collection::vec(prop::collection::vec(any::<bool>(), 1..4), 1..4),
    ) {
        crate::support::watch("the rounds of starts and stops to finish");
        let events: Events = Arc::default();
        let parts = (0..size)
            .map(|index| {
                Box::new(Part { index, fails_to_start: failing == Some(index), fails_to_stop: stop_failing == Some(index), events: events.clone() })
                    as Box<dyn Component>
            })
            .collect();
        let app = Arc::new(Application::new(parts));
        for round in rounds {
            // Each round: one thread per call, all at once.
            let calls: Vec<_> = round
                .into_iter()
                .map(|start| {
                    let app = app.clone();
                    std::thread::spawn(move || {
                        if start {
                            if let Err(error) = app.start() {
                                assert_eq!(Some(error.position - 1), failing, "{error}");
                            }
                        } else if let Err(error) = app.stop() {
                            assert_eq!(error.0 .0.len(), 1, "{error}");
                        }
                    })
                })
                .collect();
            for call in calls {
                call.join().unwrap();
            }
            let phase = app.phase();
            prop_assert!(matches!(phase, LifecyclePhase::Running | LifecyclePhase::Stopped), "{:?}", phase);
        }
        let _ = app.stop();
        // Replay the events: every stop matches the most recent unmatched start.
        let mut running = Vec::new();
        for (started, index) in events.lock().unwrap().iter().copied() {
            if started {
                prop_assert!(!running.contains(&index), "component {} started twice", index);
                running.push(index);
            } else {
                prop_assert_eq!(running.pop(), Some(index), "stopped out of reverse order");
            }
        }
        prop_assert!(running.is_empty(), "left running: {:?}", running);
    }
}
