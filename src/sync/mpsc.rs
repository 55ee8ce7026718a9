//! An unbounded multi-producer, single-consumer channel with `std::sync::mpsc`'s
//! semantics, built from the facade's own primitives.
//!
//! loom's mock channel blocks a `recv` whose senders are all gone (a false deadlock where
//! std returns `RecvError`), and has no `recv_timeout`; this one behaves like std's on
//! every backend, because it is made of [`Mutex`] and [`Condvar`].
//!
//! # Invariants
//!
//! Under the one lock: `senders` counts live [`Sender`]s; once it is 0 it stays 0, and a
//! receiver that finds the queue empty then returns `Disconnected`; once the receiver is
//! dropped, every send fails and returns its value. Every send and the last sender's drop
//! notify the receiver, so a blocked `recv` always wakes to new data or to disconnection.

use super::{Arc, Condvar, Deadline, Mutex};
use std::collections::VecDeque;
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError};

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    available: Condvar,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    senders: usize,
    receiver_alive: bool,
}

/// The sending half; clone it for more producers.
#[derive(Debug)]
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving half.
#[derive(Debug)]
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// A new channel.
///
/// # Examples
///
/// ```
/// use racekit::sync::{mpsc, thread};
///
/// let (sender, receiver) = mpsc::channel();
/// let producer = thread::spawn(move || {
///     for n in 0..3 {
///         sender.send(n).unwrap();
///     }
/// });
/// // The loop ends when the producer (the last sender) is gone.
/// assert_eq!(receiver.iter().collect::<Vec<_>>(), [0, 1, 2]);
/// producer.join().unwrap();
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State { items: VecDeque::new(), senders: 1, receiver_alive: true }),
        available: Condvar::new(),
    });
    (Sender { shared: shared.clone() }, Receiver { shared })
}

impl<T> Sender<T> {
    /// Sends `value`; fails (returning it) once the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut state = self.shared.state.lock();
        if !state.receiver_alive {
            return Err(SendError(value));
        }
        state.items.push_back(value);
        drop(state);
        self.shared.available.notify_one();
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.state.lock().senders += 1;
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // Under loom a thread unwinding from a detected failure must not call back into
        // the model (it would abort the process); the execution has failed already.
        if cfg!(racekit_loom) && std::thread::panicking() {
            return;
        }
        let mut state = self.shared.state.lock();
        state.senders -= 1;
        let last = state.senders == 0;
        drop(state);
        if last {
            self.shared.available.notify_all();
        }
    }
}

impl<T> Receiver<T> {
    /// Blocks until a value arrives; fails once every sender is gone and nothing is left.
    pub fn recv(&self) -> Result<T, RecvError> {
        let mut state = self.shared.state.lock();
        loop {
            if let Some(value) = state.items.pop_front() {
                return Ok(value);
            }
            if state.senders == 0 {
                return Err(RecvError);
            }
            state = self.shared.available.wait(state);
        }
    }

    /// Takes a value if one is waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.shared.state.lock();
        match state.items.pop_front() {
            Some(value) => Ok(value),
            None if state.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Blocks at most `timeout` for a value (under the model checkers the timeout firing
    /// is a choice, see [`Condvar::wait_timeout`]).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let deadline = Deadline::after(timeout);
        let mut state = self.shared.state.lock();
        loop {
            if let Some(value) = state.items.pop_front() {
                return Ok(value);
            }
            if state.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            let (next, timed_out) = self.shared.available.wait_until(state, deadline);
            state = next;
            if timed_out && state.items.is_empty() && state.senders > 0 {
                return Err(RecvTimeoutError::Timeout);
            }
        }
    }

    /// Values until every sender is gone.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(move || self.recv().ok())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if cfg!(racekit_loom) && std::thread::panicking() {
            return;
        }
        self.shared.state.lock().receiver_alive = false;
    }
}
