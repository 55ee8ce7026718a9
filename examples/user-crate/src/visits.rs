//! Visit counters: a counter that loses updates and its fix, and an async doorbell that
//! misses a ring and its fix. The buggy variants stay in the crate on purpose: the
//! model-checking job's proof runs them and must catch them.

#[cfg(not(racekit_loom))]
use racekit::sync::async_sync::Notify;
#[cfg(not(racekit_loom))]
use racekit::sync::atomic::AtomicBool;
use racekit::sync::atomic::{AtomicU64, Ordering};

/// Counts visits from many threads.
#[derive(Default)]
pub struct Visits {
    count: AtomicU64,
}

impl Visits {
    /// A counter at zero.
    pub fn new() -> Visits {
        Visits::default()
    }

    /// Counts one visit in a single atomic read-modify-write: no visit is ever lost.
    pub fn record(&self) {
        // Relaxed: the count is the only data, and `seen` is read after the threads join.
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The bug: a load and a separate store, so two visitors that load the same value
    /// both store it plus one and a visit is lost.
    pub fn record_racy(&self) {
        let seen = self.count.load(Ordering::SeqCst);
        self.count.store(seen + 1, Ordering::SeqCst);
    }

    /// Visits counted.
    pub fn seen(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

/// A doorbell rung once by one task and awaited by another. Not in the loom build: loom
/// cannot run tokio, so async code is model-checked under shuttle.
#[cfg(not(racekit_loom))]
#[derive(Default)]
pub struct Doorbell {
    rung: AtomicBool,
    notify: Notify,
}

#[cfg(not(racekit_loom))]
impl Doorbell {
    /// A doorbell nobody rang.
    pub fn new() -> Doorbell {
        Doorbell::default()
    }

    /// Rings: wakes every task waiting now (`notify_waiters` keeps no permit for later).
    pub fn ring(&self) {
        self.rung.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Waits for the ring, registering as a waiter before looking at the flag, so a ring
    /// between the look and the wait is never missed.
    pub async fn wait(&self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !self.rung.load(Ordering::SeqCst) {
            notified.await;
        }
    }

    /// The bug: looks at the flag first and only then starts waiting; a ring in between
    /// wakes nobody and the waiter sleeps forever.
    pub async fn wait_racy(&self) {
        if !self.rung.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
            self.notify.notified().await;
        }
    }
}
