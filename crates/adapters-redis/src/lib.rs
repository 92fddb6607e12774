//! Redis-backed adapters: the shared [`Cache`](ports::Cache) and the distributed GCRA
//! [`RateLimiter`](ports::RateLimiter) over a deadpool-redis pool, their in-process twins (the
//! embedded default when no Redis is configured), the failover between the two and the
//! `cache` health component.
//!
//! The Redis limiter is used through token leases ([`lease`]): a hot key costs a round trip per
//! lease, not per request.
//!
//! [`CacheBackend::connect`] is what bootstrap calls: with a Redis URL it returns the failover
//! adapters (never failing a request while Redis is down), without one the in-memory ones.

mod client;
mod failover;
pub mod gcra;
pub mod lease;
mod memory;
mod redis_cache;
mod redis_limiter;

use std::sync::Arc;
use std::time::Duration;

use ports::{Cache, CacheError, HealthIndicator, RateLimiter};

pub use client::{RedisClient, RedisConfig};
pub use failover::{CacheHealth, FailoverCache, FailoverRateLimiter, RedisStatus};
pub use memory::{InMemoryCache, InMemoryRateLimiter};
pub use redis_cache::RedisCache;
pub use redis_limiter::RedisRateLimiter;

/// How the in-process cache is sized and how the failover behaves.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Bytes of values the in-process cache keeps at most.
    pub memory_max_bytes: u64,
    /// The longest TTL an entry gets.
    pub max_ttl: Duration,
    /// After a Redis failure, requests skip Redis this long before trying it again.
    pub retry_interval: Duration,
    /// The TTL of entries put in the fallback while Redis is down.
    pub fallback_ttl: Duration,
}

/// The cache, the limiter and the health component of one instance.
#[derive(Clone)]
pub struct CacheBackend {
    pub cache: Arc<dyn Cache>,
    pub limiter: Arc<dyn RateLimiter>,
    pub health: Arc<dyn HealthIndicator>,
    /// `None` when no Redis is configured.
    pub redis: Option<Arc<RedisStatus>>,
}

impl std::fmt::Debug for CacheBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheBackend")
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl CacheBackend {
    /// The in-memory adapters (no Redis configured).
    #[must_use]
    pub fn in_memory(settings: &CacheSettings) -> Self {
        Self {
            cache: Arc::new(InMemoryCache::new(
                settings.memory_max_bytes,
                settings.max_ttl,
            )),
            limiter: Arc::new(InMemoryRateLimiter::new()),
            health: Arc::new(CacheHealth::new(None)),
            redis: None,
        }
    }

    /// Redis with the in-memory fallback. Does not connect: an unreachable Redis at start is
    /// only logged (by the first failing call) and served around.
    ///
    /// # Errors
    /// The URL is not a Redis URL.
    pub fn redis(config: &RedisConfig, settings: &CacheSettings) -> Result<Self, CacheError> {
        let client = Arc::new(RedisClient::new(config)?);
        let status = RedisStatus::new(client, settings.retry_interval);
        Ok(Self {
            cache: Arc::new(FailoverCache::new(
                Arc::clone(&status),
                InMemoryCache::new(settings.memory_max_bytes, settings.max_ttl),
                settings.fallback_ttl,
            )),
            limiter: Arc::new(FailoverRateLimiter::new(Arc::clone(&status))),
            health: Arc::new(CacheHealth::new(Some(Arc::clone(&status)))),
            redis: Some(status),
        })
    }
}
