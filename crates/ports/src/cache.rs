//! The shared cache and the rate limiter: ports that Redis implements when it is configured and
//! in-process twins implement otherwise (`adapters-redis`).
//!
//! Both are best-effort helpers, never a source of truth: booking decisions never read the
//! cache, and a failing backend is reported as [`CacheError`] so that a caller (or the failover
//! adapter) can serve without it.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

/// The cache backend did not answer (connection refused, timeout, protocol error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cache unavailable: {0}")]
pub struct CacheError(pub String);

/// A byte cache with per-entry TTL and monotonic generation counters.
///
/// Generations make invalidation cheap and correct across instances: a reader puts the current
/// generation of what an entry depends on into the entry's key, and a writer [`Cache::bump`]s
/// the generation after its transaction committed, so every instance's next read misses.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Cache: Send + Sync {
    /// The entry under `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError>;
    /// Stores `value` under `key` for `ttl`.
    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError>;
    /// Removes `key`.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// The current value of the generation counter `key`. A counter that does not exist yet is
    /// created with a value never handed out before (so a lost counter cannot make an old
    /// entry's key current again).
    async fn generation(&self, key: &str) -> Result<u64, CacheError>;
    /// Advances the generation counter `key` and returns its new value.
    async fn bump(&self, key: &str) -> Result<u64, CacheError>;
}

/// `limit` requests per `period` for one key, with bursts up to `limit` (GCRA: one request is
/// replenished every `period / limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub period: Duration,
}

impl RateLimit {
    /// `limit` requests a minute.
    #[must_use]
    pub const fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(60),
        }
    }

    /// The time one request's allowance takes to come back (`period / limit`).
    #[must_use]
    pub fn emission_interval(&self) -> Duration {
        self.period / self.limit.max(1)
    }
}

/// The answer of the limiter for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// The configured limit (`RateLimit-Limit`).
    pub limit: u32,
    /// Requests still allowed right now (`RateLimit-Remaining`).
    pub remaining: u32,
    /// When the allowance is whole again (`RateLimit-Reset`).
    pub reset_after: Duration,
    /// When a refused request may be retried (`Retry-After`); zero when allowed.
    pub retry_after: Duration,
}

/// Counts requests against a [`RateLimit`] per key (`booking_create:user:<id>`).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request of `key` and says whether it is within `limit`. A refused request is
    /// not counted.
    async fn check(&self, key: &str, limit: RateLimit) -> Result<RateDecision, CacheError>;
}
