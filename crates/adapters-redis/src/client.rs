//! The Redis connection: a deadpool pool creates connections (with its create and wait
//! timeouts); one multiplexed connection taken from it is shared by every request, so a
//! command costs one round trip (a pooled checkout would add a PING each time). A connection
//! that fails in transport or times out is dropped and the next command opens a new one.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{self, RedisError};
use deadpool_redis::{Config, Connection, Pool, PoolConfig, Runtime, Timeouts};
use ports::CacheError;

/// Where Redis is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Put before every key, so several services (or tests) share one Redis.
    pub key_prefix: String,
    /// Opening a connection.
    pub connect_timeout: Duration,
    /// One command (or script) round trip.
    pub command_timeout: Duration,
}

impl RedisConfig {
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: "backend-event:".to_owned(),
            connect_timeout: Duration::from_millis(500),
            command_timeout: Duration::from_millis(250),
        }
    }
}

/// A Redis endpoint and its shared connection.
pub struct RedisClient {
    pool: Pool,
    shared: Mutex<Option<MultiplexedConnection>>,
    prefix: String,
    connect_timeout: Duration,
    command_timeout: Duration,
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClient")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisClient {
    /// Checks the URL; connects on first use.
    ///
    /// # Errors
    /// The URL is not a Redis URL.
    pub fn new(config: &RedisConfig) -> Result<Self, CacheError> {
        let mut cfg = Config::from_url(config.url.clone());
        let mut pool = PoolConfig::new(4);
        pool.timeouts = Timeouts {
            wait: Some(config.connect_timeout),
            create: Some(config.connect_timeout),
            recycle: Some(config.command_timeout),
        };
        cfg.pool = Some(pool);
        let pool = cfg
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| CacheError(format!("redis.url: {e}")))?;
        Ok(Self {
            pool,
            shared: Mutex::new(None),
            prefix: config.key_prefix.clone(),
            connect_timeout: config.connect_timeout,
            command_timeout: config.command_timeout,
        })
    }

    /// `key` with the configured prefix.
    #[must_use]
    pub fn key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.prefix.len() + key.len());
        full.push_str(&self.prefix);
        full.push_str(key);
        full
    }

    fn cached(&self) -> Option<MultiplexedConnection> {
        self.shared.lock().ok().and_then(|c| c.clone())
    }

    fn forget(&self) {
        if let Ok(mut shared) = self.shared.lock() {
            *shared = None;
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, CacheError> {
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        let object = tokio::time::timeout(self.connect_timeout, self.pool.get())
            .await
            .map_err(|_| CacheError("connecting to redis timed out".to_owned()))?
            .map_err(|e| CacheError(format!("connecting to redis: {e}")))?;
        let conn = Connection::take(object);
        if let Ok(mut shared) = self.shared.lock() {
            *shared = Some(conn.clone());
        }
        Ok(conn)
    }

    /// Runs one command (or script) on the shared connection, within the command timeout.
    ///
    /// # Errors
    /// Redis is unreachable, timed out, or answered an error.
    pub async fn run<T, F, Fut>(&self, command: F) -> Result<T, CacheError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let conn = self.connection().await?;
        match tokio::time::timeout(self.command_timeout, command(conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || e.is_unrecoverable_error()
                {
                    self.forget();
                }
                Err(CacheError(format!("redis: {e}")))
            }
            Err(_) => {
                self.forget();
                Err(CacheError("redis command timed out".to_owned()))
            }
        }
    }

    /// One `PING` and how long it took.
    ///
    /// # Errors
    /// Redis did not answer.
    pub async fn ping(&self) -> Result<Duration, CacheError> {
        let started = Instant::now();
        self.run(
            |mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await },
        )
        .await?;
        Ok(started.elapsed())
    }
}
