//! Real connectors over TCP, and the small echo server they talk to in tests and examples.
//!
//! [`TestServer`] listens on `127.0.0.1` on a port the operating system picks, echoes what
//! it receives, and counts the connections it holds, so a test can check the pool against
//! the other side of the socket: no connection leaked (the server's count drops to zero
//! after [`Pool::close`](super::Pool::close)) and never more than `max_open` at once.
//! [`TcpConnector`] (blocking, `std::net`) and [`AsyncTcpConnector`] (tokio) connect to it.
//!
//! Both connectors close a connection gracefully: they shut down their side and wait for
//! the server to close its own, which it does only after it stopped counting the
//! connection. So once [`Connector::close`] returns, the server's count no longer
//! includes it, and the server's count is never above the pool's.
//!
//! Not built under `--cfg racekit_shuttle` (tokio's network types are not modelled there):
//! model the pool with a fake connector instead.
//!
//! # Examples
//!
//! ```
//! use racekit::pool::tcp::{ping, TcpConnector, TestServer};
//! use racekit::pool::Pool;
//!
//! let server = TestServer::start()?;
//! let pool = Pool::new(TcpConnector::new(server.addr()), 2).unwrap();
//! {
//!     let mut conn = pool.get().unwrap();
//!     ping(&mut conn)?; // a round trip through the echo server
//! }
//! assert_eq!(server.accepted(), 1);
//! pool.close();
//! assert!(server.wait_for_live_at_most(0, std::time::Duration::from_secs(5)));
//! server.stop();
//! # Ok::<(), std::io::Error>(())
//! ```

use super::{AsyncConnector, BlockingConnector, Connector};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadBuf};

/// How long a graceful close waits for the server to close its side.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The message [`ping`] and [`ping_async`] send and expect back.
const PING: [u8; 8] = *b"racekit!";

/// An echo server on `127.0.0.1` for tests and examples, counting the connections it holds.
///
/// It stands for a database on the other side of a socket, so it runs on plain OS threads
/// (`std::thread`, `std::sync`) rather than the facade: it is never part of a model, and
/// its threads are not the tested code's tasks. [`stop`](Self::stop) (or dropping it)
/// closes every connection and joins every thread.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    shared: std::sync::Arc<ServerShared>,
    listener: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct ServerShared {
    state: std::sync::Mutex<ServerState>,
    changed: std::sync::Condvar,
    stopping: AtomicBool,
}

#[derive(Debug, Default)]
struct ServerState {
    live: usize,
    peak_live: usize,
    accepted: u64,
    next_id: u64,
    /// A second handle on every live connection, to cut it from outside its thread.
    streams: HashMap<u64, TcpStream>,
    handlers: Vec<std::thread::JoinHandle<()>>,
}

impl ServerShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TestServer {
    /// Starts the server on `127.0.0.1`, on a port the operating system picks.
    pub fn start() -> io::Result<TestServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let shared = std::sync::Arc::new(ServerShared::default());
        let accepting = shared.clone();
        let listener = std::thread::Builder::new()
            .name("pool test server".into())
            .spawn(move || accept_loop(&listener, &accepting))?;
        Ok(TestServer { addr, shared, listener: Some(listener) })
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections the server holds now.
    pub fn live(&self) -> usize {
        self.shared.lock().live
    }

    /// The most connections it ever held at once.
    pub fn peak_live(&self) -> usize {
        self.shared.lock().peak_live
    }

    /// Connections it ever accepted.
    pub fn accepted(&self) -> u64 {
        self.shared.lock().accepted
    }

    /// Blocks until the server holds at most `live` connections, or `timeout` passes;
    /// returns whether it got there.
    pub fn wait_for_live_at_most(&self, live: usize, timeout: Duration) -> bool {
        self.wait_for(timeout, |state| state.live <= live)
    }

    /// Blocks until the server has accepted at least `accepted` connections, or `timeout`
    /// passes; returns whether it got there. (A client's connect returns once the
    /// operating system completed the handshake, which may be before the server's accept.)
    pub fn wait_for_accepted(&self, accepted: u64, timeout: Duration) -> bool {
        self.wait_for(timeout, |state| state.accepted >= accepted)
    }

    fn wait_for(&self, timeout: Duration, done: impl Fn(&ServerState) -> bool) -> bool {
        let deadline = crate::sync::Deadline::after(timeout);
        let mut state = self.shared.lock();
        while !done(&state) {
            let left = deadline.remaining();
            if left.is_zero() {
                return false;
            }
            state = match self.shared.changed.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }

    /// Cuts every live connection from the server's side, as a server restart would: the
    /// clients see end-of-file (and [`Connector::validate`] refuses the connection).
    pub fn disconnect_all(&self) {
        for stream in self.shared.lock().streams.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Stops accepting, closes every connection and joins every thread.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        let Some(listener) = self.listener.take() else { return };
        // Release: the accept loop's Acquire load sees the flag after the wake-up connect.
        self.shared.stopping.store(true, Ordering::Release);
        // Wakes the blocked accept; if it fails the listener is gone already.
        let _ = TcpStream::connect(self.addr);
        let _ = listener.join();
        self.disconnect_all();
        let handlers = std::mem::take(&mut self.shared.lock().handlers);
        for handler in handlers {
            let _ = handler.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn accept_loop(listener: &TcpListener, shared: &std::sync::Arc<ServerShared>) {
    for stream in listener.incoming() {
        // Acquire: pairs with the Release store in `shut_down`.
        if shared.stopping.load(Ordering::Acquire) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let Ok(handle) = stream.try_clone() else { continue };
        let mut state = shared.lock();
        state.next_id += 1;
        let id = state.next_id;
        state.live += 1;
        state.accepted += 1;
        state.peak_live = state.peak_live.max(state.live);
        state.streams.insert(id, handle);
        state.handlers.retain(|handler| !handler.is_finished());
        let serving = shared.clone();
        match std::thread::Builder::new().name("pool test connection".into()).spawn(move || serve(stream, id, &serving))
        {
            Ok(handler) => state.handlers.push(handler),
            Err(_) => {
                // Out of threads: drop the connection, as an overloaded server would.
                state.live -= 1;
                state.streams.remove(&id);
            }
        }
        drop(state);
        shared.changed.notify_all();
    }
}

/// Echoes until the client closes (or the connection is cut), then stops counting the
/// connection *before* closing it, so a client's graceful close returns after the count
/// dropped.
fn serve(mut stream: TcpStream, id: u64, shared: &ServerShared) {
    let mut buffer = [0u8; 256];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let mut state = shared.lock();
    state.live -= 1;
    let handle = state.streams.remove(&id);
    drop(state);
    shared.changed.notify_all();
    drop(handle);
    drop(stream);
}

/// Shuts down the sending side and waits (at most [`CLOSE_WAIT`]) for the server to close
/// its side, so the server has stopped counting the connection when this returns.
fn close_gracefully(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(CLOSE_WAIT));
    let mut buffer = [0u8; 256];
    while let Ok(1..) = stream.read(&mut buffer) {}
}

/// One round trip through the echo server.
pub fn ping(stream: &mut TcpStream) -> io::Result<()> {
    stream.write_all(&PING)?;
    let mut echo = [0u8; PING.len()];
    stream.read_exact(&mut echo)?;
    check_echo(&echo)
}

/// One round trip through the echo server, asynchronously.
pub async fn ping_async(stream: &mut tokio::net::TcpStream) -> io::Result<()> {
    stream.write_all(&PING).await?;
    let mut echo = [0u8; PING.len()];
    stream.read_exact(&mut echo).await?;
    check_echo(&echo)
}

fn check_echo(echo: &[u8]) -> io::Result<()> {
    if echo == PING {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidData, "the server echoed something else"))
    }
}

/// Whether nothing is waiting to be read: end-of-file means the server closed, and data
/// nobody asked for means the connection is out of step.
fn nothing_to_read(peeked: Poll<io::Result<usize>>) -> bool {
    matches!(peeked, Poll::Pending)
}

/// A blocking connector to a TCP address (in tests, a [`TestServer`]'s).
#[derive(Clone, Debug)]
pub struct TcpConnector {
    addr: SocketAddr,
    connect_timeout: Duration,
}

impl TcpConnector {
    /// Connects to `addr`, giving up a connect after 5 seconds.
    pub fn new(addr: SocketAddr) -> Self {
        TcpConnector { addr, connect_timeout: Duration::from_secs(5) }
    }

    /// How long one connect may take; zero is refused (every connect would fail at once).
    ///
    /// ```
    /// use racekit::pool::tcp::{TcpConnector, ZeroConnectTimeout};
    /// use std::time::Duration;
    ///
    /// let addr = "127.0.0.1:9".parse().unwrap();
    /// assert!(TcpConnector::new(addr).connect_timeout(Duration::from_millis(250)).is_ok());
    /// assert_eq!(TcpConnector::new(addr).connect_timeout(Duration::ZERO).unwrap_err(), ZeroConnectTimeout);
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Result<Self, ZeroConnectTimeout> {
        if timeout.is_zero() {
            return Err(ZeroConnectTimeout);
        }
        self.connect_timeout = timeout;
        Ok(self)
    }
}

/// [`TcpConnector::connect_timeout`] was given zero.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
#[error("a connect timeout of zero would fail every connect: pass a positive duration (the default is 5 s)")]
pub struct ZeroConnectTimeout;

impl Connector for TcpConnector {
    type Connection = TcpStream;
    type Error = io::Error;

    /// A non-blocking peek: usable while nothing is waiting to be read.
    fn validate(&self, stream: &mut TcpStream) -> bool {
        if stream.set_nonblocking(true).is_err() {
            return false;
        }
        let peeked = match stream.peek(&mut [0u8; 1]) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            other => Poll::Ready(other),
        };
        stream.set_nonblocking(false).is_ok() && nothing_to_read(peeked)
    }

    fn close(&self, stream: TcpStream) {
        close_gracefully(stream);
    }
}

impl BlockingConnector for TcpConnector {
    fn connect(&self) -> io::Result<TcpStream> {
        let stream = TcpStream::connect_timeout(&self.addr, self.connect_timeout)?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// An async (tokio) connector to a TCP address (in tests, a [`TestServer`]'s).
#[derive(Clone, Debug)]
pub struct AsyncTcpConnector {
    addr: SocketAddr,
}

impl AsyncTcpConnector {
    /// Connects to `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        AsyncTcpConnector { addr }
    }

    /// The connector's `validate`, for baselines that need the same check.
    pub fn is_usable(stream: &tokio::net::TcpStream) -> bool {
        // Peeking with a no-op waker only asks the reactor's cached readiness (and at most
        // one non-blocking peek): nothing is read, nobody is woken.
        let mut byte = [0u8; 1];
        let mut buffer = ReadBuf::new(&mut byte);
        let mut cx = Context::from_waker(Waker::noop());
        nothing_to_read(stream.poll_peek(&mut cx, &mut buffer))
    }
}

impl Connector for AsyncTcpConnector {
    type Connection = tokio::net::TcpStream;
    type Error = io::Error;

    /// A non-blocking peek: usable while nothing is waiting to be read.
    fn validate(&self, stream: &mut tokio::net::TcpStream) -> bool {
        Self::is_usable(stream)
    }

    /// Closes gracefully, as [`TcpConnector`] does. It blocks the calling thread until the
    /// server closes its side (a loopback round trip), which is fine for tests.
    fn close(&self, stream: tokio::net::TcpStream) {
        if let Ok(stream) = stream.into_std() {
            if stream.set_nonblocking(false).is_ok() {
                close_gracefully(stream);
            }
        }
    }
}

impl AsyncConnector for AsyncTcpConnector {
    async fn connect_async(&self) -> io::Result<tokio::net::TcpStream> {
        let stream = tokio::net::TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}
