//! Cache and rate limiter: Redis when configured, in-process otherwise.

use std::time::Duration;

use async_trait::async_trait;

use crate::AppError;

/// A byte cache with TTLs. Failures are reported, and callers treat them as misses: the cache
/// never decides a booking.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Cache: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, AppError>;
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), AppError>;
    async fn delete(&self, key: &str) -> Result<(), AppError>;
    /// Drops every key starting with `prefix` (catalog pages after a write).
    async fn delete_prefix(&self, prefix: &str) -> Result<(), AppError>;
}

/// `limit` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRule {
    pub limit: u32,
    pub period: Duration,
}

/// The limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub remaining: u32,
    /// When refused: how long until a request would be allowed.
    pub retry_after: Duration,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request for `key` against `rule`.
    async fn check(&self, key: &str, rule: RateRule) -> Result<RateDecision, AppError>;
}
