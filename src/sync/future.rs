//! Async helpers over the selected backend.

/// Yields to the executor once: the task is woken at once and polled again after the
/// executor has had the chance to run other tasks. Under shuttle it is shuttle's own
/// `yield_now`, a scheduling point of the model; on real threads and under loom a future
/// that is pending once and wakes itself.
///
/// # Examples
///
/// ```
/// racekit::sync::task::block_on(async {
///     racekit::sync::future::yield_now().await;
/// });
/// ```
pub async fn yield_now() {
    #[cfg(racekit_shuttle)]
    shuttle::future::yield_now().await;
    #[cfg(not(racekit_shuttle))]
    YieldNow { yielded: false }.await;
}

/// Pending on its first poll (waking itself), ready on the next.
#[cfg(not(racekit_shuttle))]
struct YieldNow {
    yielded: bool,
}

#[cfg(not(racekit_shuttle))]
impl std::future::Future for YieldNow {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.yielded {
            return std::task::Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}
