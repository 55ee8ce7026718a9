//! Pool limits, the builder that checks them, and the error it returns.

use super::{Connector, Pool};
use crate::time::{Clock, SystemClock};
use std::sync::Arc as StdArc;
use std::time::Duration;
use thiserror::Error;

/// The pool's maximum number of open connections when none is given.
pub const DEFAULT_MAX_OPEN: usize = 10;

/// A limit given to [`PoolBuilder`] cannot work.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `max_open` is 0.
    #[error("max_open is 0: a pool must be allowed at least one connection; pass 1 or more")]
    ZeroMaxOpen,
    /// More idle connections allowed than open ones.
    #[error(
        "max_idle ({max_idle}) is above max_open ({max_open}): idle connections count as open; \
         lower max_idle or raise max_open"
    )]
    MaxIdleAboveMaxOpen {
        /// The idle limit given.
        max_idle: usize,
        /// The open limit given.
        max_open: usize,
    },
    /// A zero connection lifetime.
    #[error(
        "max_lifetime is zero: every connection would expire as soon as it opens; pass a \
         positive duration, or leave it unset for no limit"
    )]
    ZeroMaxLifetime,
    /// A zero idle timeout.
    #[error(
        "idle_timeout is zero: no connection could stay idle; pass a positive duration, set \
         max_idle(0) to keep no idle connections, or leave it unset for no limit"
    )]
    ZeroIdleTimeout,
}

/// The checked limits of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections open at once: idle, in use, being opened and being closed.
    pub max_open: usize,
    /// Most idle connections kept; a connection returned beyond it is closed.
    pub max_idle: usize,
    /// Connections older than this (since they were opened) are closed instead of reused.
    pub max_lifetime: Option<Duration>,
    /// Connections idle for longer than this are closed instead of reused.
    pub idle_timeout: Option<Duration>,
}

/// Builds a [`Pool`]: limits, an injected clock, then [`build`](Self::build), which
/// checks the limits.
///
/// # Examples
///
/// ```
/// use racekit::pool::{ConfigError, Connector, BlockingConnector, Pool};
/// use std::time::Duration;
///
/// # #[derive(Debug)] struct Never;
/// # impl std::fmt::Display for Never { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("never") } }
/// # impl std::error::Error for Never {}
/// struct Numbers;
/// impl Connector for Numbers {
///     type Connection = u32;
///     type Error = Never;
/// }
/// impl BlockingConnector for Numbers {
///     fn connect(&self) -> Result<u32, Never> { Ok(7) }
/// }
///
/// let pool = Pool::builder(Numbers)
///     .max_open(4)
///     .max_idle(2)
///     .max_lifetime(Duration::from_secs(1800))
///     .idle_timeout(Duration::from_secs(60))
///     .build()?;
/// assert_eq!(pool.config().max_idle, 2);
///
/// let refused = Pool::builder(Numbers).max_open(1).max_idle(2).build().unwrap_err();
/// assert_eq!(refused, ConfigError::MaxIdleAboveMaxOpen { max_idle: 2, max_open: 1 });
/// # Ok::<(), ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct PoolBuilder<C> {
    connector: C,
    max_open: usize,
    max_idle: Option<usize>,
    max_lifetime: Option<Duration>,
    idle_timeout: Option<Duration>,
    clock: StdArc<dyn Clock>,
}

impl<C: Connector> PoolBuilder<C> {
    pub(super) fn new(connector: C) -> Self {
        PoolBuilder {
            connector,
            max_open: DEFAULT_MAX_OPEN,
            max_idle: None,
            max_lifetime: None,
            idle_timeout: None,
            clock: StdArc::new(SystemClock),
        }
    }

    /// Most connections open at once (default [`DEFAULT_MAX_OPEN`]); must be at least 1.
    pub fn max_open(mut self, max_open: usize) -> Self {
        self.max_open = max_open;
        self
    }

    /// Most idle connections kept (default: `max_open`); at most `max_open`. Zero keeps
    /// none: every returned connection that no waiter takes is closed.
    pub fn max_idle(mut self, max_idle: usize) -> Self {
        self.max_idle = Some(max_idle);
        self
    }

    /// Close connections older than `lifetime` instead of reusing them (default: no limit).
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = Some(lifetime);
        self
    }

    /// Close connections idle for longer than `timeout` instead of reusing them (default:
    /// no limit).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// The clock that lifetimes, idle timeouts and wait times are measured with (default
    /// [`SystemClock`]); tests pass a shared [`ManualClock`](crate::time::ManualClock).
    pub fn clock(mut self, clock: StdArc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the limits and builds the pool. No connection is opened yet.
    pub fn build(self) -> Result<Pool<C>, ConfigError> {
        let max_open = self.max_open;
        if max_open == 0 {
            return Err(ConfigError::ZeroMaxOpen);
        }
        let max_idle = self.max_idle.unwrap_or(max_open);
        if max_idle > max_open {
            return Err(ConfigError::MaxIdleAboveMaxOpen { max_idle, max_open });
        }
        if self.max_lifetime == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroMaxLifetime);
        }
        if self.idle_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroIdleTimeout);
        }
        let config =
            PoolConfig { max_open, max_idle, max_lifetime: self.max_lifetime, idle_timeout: self.idle_timeout };
        Ok(Pool::from_parts(self.connector, config, self.clock))
    }
}
