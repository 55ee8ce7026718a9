//! Multi-producer, single-consumer channels with `std::sync::mpsc`'s semantics, unbounded
//! ([`channel`]) and bounded ([`sync_channel`], a bound of 0 being a rendezvous), built
//! from the facade's own primitives.
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
//! Every receive and the receiver's drop notify blocked senders (`space`), so a bounded
//! send always wakes to room, to its rendezvous, or to disconnection. `received` counts
//! values taken; a rendezvous send with ticket `t` is complete once `received > t`.

use super::{Arc, Condvar, Deadline, Mutex};
use std::collections::VecDeque;
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    /// Receivers wait here for values.
    available: Condvar,
    /// Bounded senders wait here for room or for their rendezvous.
    space: Condvar,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    /// `None`: unbounded; `Some(0)`: rendezvous.
    bound: Option<usize>,
    senders: usize,
    receiver_alive: bool,
    /// Values sent (the next send's ticket) and values received.
    sent: u64,
    received: u64,
    /// Whether the receiver is blocked in a receive (a rendezvous `try_send` needs one).
    receiver_waiting: bool,
}

impl<T> State<T> {
    fn has_room(&self) -> bool {
        match self.bound {
            None => true,
            Some(0) => self.items.is_empty(),
            Some(bound) => self.items.len() < bound,
        }
    }

    fn push(&mut self, value: T) -> u64 {
        self.items.push_back(value);
        self.sent += 1;
        self.sent - 1
    }
}

/// One counted handle on the sending side: cloning and dropping it keep `senders` right.
#[derive(Debug)]
struct SenderHandle<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for SenderHandle<T> {
    fn clone(&self) -> Self {
        self.shared.state.lock().senders += 1;
        SenderHandle { shared: self.shared.clone() }
    }
}

impl<T> Drop for SenderHandle<T> {
    fn drop(&mut self) {
        // Under loom a thread unwinding from a detected failure must not call back into
        // the model (it would abort the process); the execution has failed already.
        if super::backend::unwinding_from_a_failure() {
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

/// The sending half of a [`channel`]; clone it for more producers.
#[derive(Debug)]
pub struct Sender<T> {
    handle: SenderHandle<T>,
}

/// The sending half of a [`sync_channel`]; clone it for more producers.
#[derive(Debug)]
pub struct SyncSender<T> {
    handle: SenderHandle<T>,
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
    let (handle, receiver) = new_channel(None);
    (Sender { handle }, receiver)
}

/// A new channel holding at most `bound` values: a send blocks while it is full. With a
/// bound of 0 every send waits until the receiver has taken its value (a rendezvous).
///
/// # Examples
///
/// ```
/// use racekit::sync::{mpsc, thread};
///
/// let (sender, receiver) = mpsc::sync_channel(1);
/// let producer = thread::spawn(move || {
///     for n in 0..3 {
///         sender.send(n).unwrap(); // waits while one value is queued
///     }
/// });
/// assert_eq!(receiver.iter().collect::<Vec<_>>(), [0, 1, 2]);
/// producer.join().unwrap();
/// ```
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let (handle, receiver) = new_channel(Some(bound));
    (SyncSender { handle }, receiver)
}

fn new_channel<T>(bound: Option<usize>) -> (SenderHandle<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            bound,
            senders: 1,
            receiver_alive: true,
            sent: 0,
            received: 0,
            receiver_waiting: false,
        }),
        available: Condvar::new(),
        space: Condvar::new(),
    });
    (SenderHandle { shared: shared.clone() }, Receiver { shared })
}

impl<T> Sender<T> {
    /// Sends `value`; fails (returning it) once the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let shared = &self.handle.shared;
        let mut state = shared.state.lock();
        if !state.receiver_alive {
            return Err(SendError(value));
        }
        state.push(value);
        drop(state);
        shared.available.notify_one();
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender { handle: self.handle.clone() }
    }
}

impl<T> SyncSender<T> {
    /// Sends `value`, waiting while the channel is full (and, with a bound of 0, until the
    /// receiver has taken it); fails, returning it, once the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let shared = &self.handle.shared;
        let mut state = shared.state.lock();
        loop {
            if !state.receiver_alive {
                return Err(SendError(value));
            }
            if state.has_room() {
                break;
            }
            state = shared.space.wait(state);
        }
        let ticket = state.push(value);
        shared.available.notify_one();
        if state.bound == Some(0) {
            while state.received <= ticket && state.receiver_alive {
                state = shared.space.wait(state);
            }
            if state.received <= ticket {
                // The receiver left before taking it: it is still the one queued value.
                let value = state.items.pop_back().expect("an untaken rendezvous value is queued");
                return Err(SendError(value));
            }
        }
        Ok(())
    }

    /// Sends `value` if there is room now (with a bound of 0: if the receiver is waiting).
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let shared = &self.handle.shared;
        let mut state = shared.state.lock();
        if !state.receiver_alive {
            return Err(TrySendError::Disconnected(value));
        }
        let room = state.has_room() && (state.bound != Some(0) || state.receiver_waiting);
        if !room {
            return Err(TrySendError::Full(value));
        }
        state.push(value);
        drop(state);
        shared.available.notify_one();
        Ok(())
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> Self {
        SyncSender { handle: self.handle.clone() }
    }
}

impl<T> Receiver<T> {
    /// Blocks until a value arrives; fails once every sender is gone and nothing is left.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.receive(None).map_err(|_| RecvError)
    }

    /// Takes a value if one is waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.shared.state.lock();
        match self.take(&mut state) {
            Some(value) => Ok(value),
            None if state.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Blocks at most `timeout` for a value (under the model checkers the timeout firing
    /// is a choice, see [`Condvar::wait_timeout`]).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.receive(Some(Deadline::after(timeout)))
    }

    /// Values until every sender is gone.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(move || self.recv().ok())
    }

    fn receive(&self, deadline: Option<Deadline>) -> Result<T, RecvTimeoutError> {
        let mut state = self.shared.state.lock();
        loop {
            if let Some(value) = self.take(&mut state) {
                return Ok(value);
            }
            if state.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            state.receiver_waiting = true;
            let (next, timed_out) = self.shared.available.wait_until_some(state, deadline);
            state = next;
            state.receiver_waiting = false;
            if timed_out && state.items.is_empty() && state.senders > 0 {
                return Err(RecvTimeoutError::Timeout);
            }
        }
    }

    /// Takes the oldest value, waking bounded senders (room, or a completed rendezvous).
    fn take(&self, state: &mut State<T>) -> Option<T> {
        let value = state.items.pop_front()?;
        state.received += 1;
        if state.bound.is_some() {
            self.shared.space.notify_all();
        }
        Some(value)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if super::backend::unwinding_from_a_failure() {
            return;
        }
        let mut state = self.shared.state.lock();
        state.receiver_alive = false;
        let bounded = state.bound.is_some();
        drop(state);
        if bounded {
            self.shared.space.notify_all();
        }
    }
}
