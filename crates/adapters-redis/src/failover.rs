//! Redis with the in-memory adapters as fallback: a configured but unreachable Redis never
//! fails a request. After a failure Redis is skipped for `retry_interval` (no request waits on
//! a dead connection), then the next call tries it again; health checks probe it too. The
//! switch is logged once each way and shown by the `cache` health component.
//!
//! Invalidations made while Redis was down are remembered and replayed to Redis when it is
//! back, so entries it still holds from before the outage do not come back as current; while
//! on the fallback, entries live at most `fallback_ttl`, which bounds how long another
//! instance's write stays unseen here.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use ports::{
    Cache, CacheError, ComponentHealth, HealthIndicator, RateDecision, RateLimit, RateLimiter,
};

use crate::client::RedisClient;
use crate::lease::LeasedLimiter;
use crate::memory::{InMemoryCache, InMemoryRateLimiter};
use crate::redis_cache::RedisCache;
use crate::redis_limiter::RedisRateLimiter;

/// Whether Redis is in use, shared by the cache, the limiter and the health component.
#[derive(Debug)]
pub struct RedisStatus {
    client: Arc<RedisClient>,
    started: Instant,
    /// 0 = Redis in use; otherwise the instant (µs since `started`, ≥ 1) of the next try.
    retry_at: AtomicU64,
    retry_interval: Duration,
    /// Generation counters bumped on the fallback, replayed to Redis on recovery.
    pending_bumps: Mutex<HashSet<String>>,
}

impl RedisStatus {
    #[must_use]
    pub fn new(client: Arc<RedisClient>, retry_interval: Duration) -> Arc<Self> {
        Arc::new(Self {
            client,
            started: Instant::now(),
            retry_at: AtomicU64::new(0),
            retry_interval,
            pending_bumps: Mutex::new(HashSet::new()),
        })
    }

    #[must_use]
    pub fn client(&self) -> &Arc<RedisClient> {
        &self.client
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Whether to try Redis now.
    fn usable(&self) -> bool {
        let at = self.retry_at.load(Ordering::Relaxed);
        at == 0 || self.now() >= at
    }

    /// Whether Redis is currently given up on (requests are served by the fallback).
    #[must_use]
    pub fn on_fallback(&self) -> bool {
        self.retry_at.load(Ordering::Relaxed) != 0
    }

    fn failed(&self, err: &CacheError) {
        let next = self.now() + u64::try_from(self.retry_interval.as_micros()).unwrap_or(0);
        let was = self.retry_at.swap(next, Ordering::Relaxed);
        if was == 0 {
            tracing::warn!(error = %err, "redis unavailable: cache and rate limits fall back to in-memory");
            metrics::counter!("aquastream_cache_fallback_total").increment(1);
            metrics::gauge!("aquastream_cache_fallback").set(1.0);
        }
    }

    /// Redis answered: back to it, replaying the invalidations it missed.
    async fn succeeded(&self) {
        if self.retry_at.swap(0, Ordering::Relaxed) == 0 {
            return;
        }
        let pending: Vec<String> = self
            .pending_bumps
            .lock()
            .map(|mut p| p.drain().collect())
            .unwrap_or_default();
        let cache = RedisCache::new(Arc::clone(&self.client));
        let mut replayed = 0_usize;
        for key in &pending {
            if let Err(e) = cache.bump(key).await {
                // still flaky: keep the rest for the next recovery
                self.remember(pending.iter().skip(replayed).cloned());
                self.failed(&e);
                return;
            }
            replayed += 1;
        }
        metrics::gauge!("aquastream_cache_fallback").set(0.0);
        tracing::info!(
            replayed_invalidations = replayed,
            "redis is back: cache and rate limits use it again"
        );
    }

    fn remember(&self, keys: impl IntoIterator<Item = String>) {
        if let Ok(mut pending) = self.pending_bumps.lock() {
            pending.extend(keys);
        }
    }

    /// Runs `op` on Redis when usable, recording the outcome; `None` means: use the fallback.
    async fn attempt<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, CacheError>>,
    ) -> Option<T> {
        if !self.usable() {
            return None;
        }
        match op.await {
            Ok(v) => {
                if self.on_fallback() {
                    self.succeeded().await;
                }
                Some(v)
            }
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }
}

/// The cache: Redis, or the in-memory cache while Redis is down.
#[derive(Debug)]
pub struct FailoverCache {
    status: Arc<RedisStatus>,
    redis: RedisCache,
    fallback: InMemoryCache,
    fallback_ttl: Duration,
}

impl FailoverCache {
    #[must_use]
    pub fn new(status: Arc<RedisStatus>, fallback: InMemoryCache, fallback_ttl: Duration) -> Self {
        Self {
            redis: RedisCache::new(Arc::clone(&status.client)),
            status,
            fallback,
            fallback_ttl,
        }
    }
}

#[async_trait]
impl Cache for FailoverCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        match self.status.attempt(self.redis.get(key)).await {
            Some(v) => Ok(v),
            None => self.fallback.get(key).await,
        }
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        match self
            .status
            .attempt(self.redis.put(key, value.clone(), ttl))
            .await
        {
            Some(()) => Ok(()),
            None => {
                self.fallback
                    .put(key, value, ttl.min(self.fallback_ttl))
                    .await
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let _ = self.fallback.delete(key).await;
        match self.status.attempt(self.redis.delete(key)).await {
            Some(()) => Ok(()),
            None => Ok(()),
        }
    }

    async fn generation(&self, key: &str) -> Result<u64, CacheError> {
        let was_down = self.status.on_fallback();
        match self.status.attempt(self.redis.generation(key)).await {
            // Redis is back: the bumps replayed on recovery came after the value just read.
            Some(v) if was_down => Ok(self.redis.generation(key).await.unwrap_or(v)),
            Some(v) => Ok(v),
            None => self.fallback.generation(key).await,
        }
    }

    async fn bump(&self, key: &str) -> Result<u64, CacheError> {
        // The fallback's counter moves too, so its entries are invalidated whichever way
        // the next read goes.
        let local = self.fallback.bump(key).await?;
        match self.status.attempt(self.redis.bump(key)).await {
            Some(v) => Ok(v),
            None => {
                self.status.remember([key.to_owned()]);
                Ok(local)
            }
        }
    }
}

/// The rate limiter: Redis (one budget shared by every instance), or a per-instance one while
/// Redis is down.
#[derive(Debug)]
pub struct FailoverRateLimiter {
    status: Arc<RedisStatus>,
    redis: LeasedLimiter<RedisRateLimiter>,
    fallback: InMemoryRateLimiter,
}

impl FailoverRateLimiter {
    #[must_use]
    pub fn new(status: Arc<RedisStatus>) -> Self {
        Self {
            redis: LeasedLimiter::new(RedisRateLimiter::new(Arc::clone(&status.client))),
            status,
            fallback: InMemoryRateLimiter::new(),
        }
    }
}

#[async_trait]
impl RateLimiter for FailoverRateLimiter {
    async fn check(&self, key: &str, limit: RateLimit) -> Result<RateDecision, CacheError> {
        match self.status.attempt(self.redis.check(key, limit)).await {
            Some(d) => Ok(d),
            None => self.fallback.check(key, limit).await,
        }
    }
}

/// The `cache` health component: never critical (the fallback serves), DOWN while a
/// configured Redis does not answer, with the latency of a `PING`.
#[derive(Debug)]
pub struct CacheHealth {
    status: Option<Arc<RedisStatus>>,
}

impl CacheHealth {
    /// `None`: no Redis configured (in-memory only).
    #[must_use]
    pub const fn new(status: Option<Arc<RedisStatus>>) -> Self {
        Self { status }
    }
}

#[async_trait]
impl HealthIndicator for CacheHealth {
    fn name(&self) -> &str {
        "cache"
    }

    fn critical(&self) -> bool {
        false
    }

    async fn check(&self) -> ComponentHealth {
        let Some(status) = &self.status else {
            return ComponentHealth {
                up: true,
                latency: Duration::ZERO,
                detail: Some("in-memory (no redis.url)".to_owned()),
            };
        };
        let started = Instant::now();
        match status.client.ping().await {
            Ok(latency) => {
                if status.on_fallback() {
                    status.succeeded().await;
                }
                ComponentHealth {
                    up: true,
                    latency,
                    detail: Some("redis".to_owned()),
                }
            }
            Err(e) => {
                status.failed(&e);
                ComponentHealth {
                    up: false,
                    latency: started.elapsed(),
                    detail: Some(format!("{e}; serving from the in-memory fallback")),
                }
            }
        }
    }
}
