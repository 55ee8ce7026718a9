//! shuttle's own output, kept out of racekit's reports: racekit prints one reproduce
//! command (its `RACEKIT_REPLAY` token), so shuttle's advice to replay by seed or schedule,
//! and its panic hook's bookkeeping lines, would only point elsewhere.
//!
//! shuttle installs a process-wide panic hook on its first execution; it prints "Task
//! failed, serializing schedule" and the failing task for every panic, and, for a panic on
//! a thread outside any shuttle execution (another test of the same binary), "Tried to get
//! ExecutionState ... NotSet". [`install`] replaces it, once, with a hook that passes every
//! panic to the hook that was there before shuttle's, except the panics shuttle raises to
//! unwind a task's stack when an execution is torn down (which its own hook drops too).

use std::panic::{self, PanicHookInfo};
use std::sync::{Arc, Once};

type Hook = Arc<dyn Fn(&PanicHookInfo<'_>) + Send + Sync>;

/// Replaces shuttle's panic hook (see the module documentation). Idempotent.
pub(crate) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let before: Hook = Arc::from(panic::take_hook());
        let forward = before.clone();
        panic::set_hook(Box::new(move |info| forward(info)));
        // One trivial execution makes shuttle install its hook now, on top of `forward`.
        let scheduler = shuttle::scheduler::RandomScheduler::new_from_seed(0, 1);
        shuttle::Runner::new(scheduler, shuttle::Config::new()).run(|| {});
        drop(panic::take_hook());
        panic::set_hook(Box::new(move |info| {
            if !shuttle_engine::runtime::execution::ExecutionState::unwinding_for_teardown() {
                before(info);
            }
        }));
    });
}
