//! Async tasks: tokio's spawn, counted as live tasks of the surrounding check.
//!
//! Under `--cfg racekit_shuttle`, `tokio` is shuttle-tokio and tasks run on shuttle's
//! executor, so async code is model-checked with the same schedulers as threads. loom
//! cannot run tokio: under `--cfg racekit_loom` only [`block_on`] of runtime-agnostic
//! futures works, and [`spawn`] fails the check with a
//! [`Setup`](crate::model::FailureKind::Setup) failure that says to gate the model with
//! `cfg(not(racekit_loom))`.

#[cfg(not(racekit_loom))]
use crate::model::context::TaskGuard;
use std::future::Future;
#[cfg(not(racekit_loom))]
use std::pin::Pin;
#[cfg(not(racekit_loom))]
use std::task::{Context, Poll};

pub use tokio::task::JoinHandle;

/// Spawns `future` on the current tokio runtime (shuttle's executor under
/// `--cfg racekit_shuttle`), counted as a live task of the surrounding check until it
/// completes or is dropped (aborted).
///
/// # Panics
///
/// Under `--cfg racekit_loom`, always: loom cannot run tokio. Inside a check this is a
/// [`Setup`](crate::model::FailureKind::Setup) failure saying to gate the model with
/// `cfg(not(racekit_loom))`.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(racekit_loom)]
    {
        drop(future);
        crate::model::detect::fail(crate::model::FailureKind::Setup, crate::model::LOOM_CANNOT_RUN_TOKIO.to_owned());
    }
    #[cfg(not(racekit_loom))]
    {
        crate::model::trace::record("spawn task", None, std::panic::Location::caller());
        let task = TaskGuard::register();
        if !task.in_check() {
            // Nothing to count and no check to make current: the future runs as tokio's
            // own task, with no wrapper and no allocation of its own.
            return tokio::spawn(future);
        }
        tokio::spawn(Counted { task, future: Box::pin(future) })
    }
}

/// Runs `future` to completion on the calling thread: on real threads a tokio runtime
/// with two worker threads (so spawned tasks really run in parallel) and time enabled,
/// shuttle's executor under shuttle, loom's `block_on` under loom.
pub fn block_on<F: Future>(future: F) -> F::Output {
    #[cfg(racekit_shuttle)]
    return shuttle::future::block_on(future);
    #[cfg(racekit_loom)]
    return loom::future::block_on(future);
    #[cfg(not(any(racekit_loom, racekit_shuttle)))]
    return tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the OS refused the threads of a two-worker tokio runtime")
        .block_on(future);
}

#[cfg(not(racekit_loom))]
/// A future that keeps its check's live-task count raised until it completes or is
/// dropped, and makes that check current while it is polled so that tasks it spawns are
/// counted too.
struct Counted<F: ?Sized> {
    task: TaskGuard,
    future: Pin<Box<F>>,
}

#[cfg(not(racekit_loom))]
impl<F: Future + ?Sized> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _current = this.task.enter_for_poll();
        #[cfg(not(any(racekit_loom, racekit_shuttle)))]
        {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| this.future.as_mut().poll(cx))) {
                Ok(poll) => poll,
                Err(payload) => {
                    this.task.record_panic(&*payload);
                    std::panic::resume_unwind(payload)
                }
            }
        }
        #[cfg(any(racekit_loom, racekit_shuttle))]
        this.future.as_mut().poll(cx)
    }
}
