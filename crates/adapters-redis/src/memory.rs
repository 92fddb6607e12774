//! The in-process cache and rate limiter: the embedded default when no Redis is configured,
//! and the fallback while a configured Redis is down. Each instance has its own, so limits are
//! per instance and invalidations reach only this instance (documented in operations.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use ports::{Cache, CacheError, RateDecision, RateLimit, RateLimiter};

use crate::gcra;

/// An entry and the instant it expires.
#[derive(Clone)]
struct Entry {
    value: Bytes,
    expires: Instant,
}

/// moka, bounded by total bytes; every entry carries its own expiry.
pub struct InMemoryCache {
    entries: moka::sync::Cache<String, Entry>,
    generations: Mutex<HashMap<String, u64>>,
    /// The first value of a new generation counter (see `Cache::generation`).
    epoch: AtomicU64,
}

impl std::fmt::Debug for InMemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryCache")
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

impl InMemoryCache {
    /// A cache holding at most `max_bytes` of values (keys included), evicting the least
    /// recently used; `max_ttl` bounds how long any entry lives.
    #[must_use]
    pub fn new(max_bytes: u64, max_ttl: Duration) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, v: &Entry| {
                u32::try_from(k.len() + v.value.len()).unwrap_or(u32::MAX)
            })
            .time_to_live(max_ttl)
            .build();
        Self {
            entries,
            generations: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(now_micros()),
        }
    }
}

#[async_trait]
impl Cache for InMemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        Ok(self
            .entries
            .get(key)
            .filter(|e| e.expires > Instant::now())
            .map(|e| e.value))
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        self.entries.insert(
            key.to_owned(),
            Entry {
                value,
                expires: Instant::now() + ttl,
            },
        );
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.entries.invalidate(key);
        Ok(())
    }

    async fn generation(&self, key: &str) -> Result<u64, CacheError> {
        let mut generations = self.generations.lock().map_err(poisoned)?;
        Ok(*generations
            .entry(key.to_owned())
            .or_insert_with(|| self.epoch.fetch_add(1, Ordering::Relaxed)))
    }

    async fn bump(&self, key: &str) -> Result<u64, CacheError> {
        let mut generations = self.generations.lock().map_err(poisoned)?;
        let generation = generations
            .entry(key.to_owned())
            .or_insert_with(|| self.epoch.fetch_add(1, Ordering::Relaxed));
        *generation += 1;
        Ok(*generation)
    }
}

/// GCRA per key in a map; keys whose allowance is whole again are dropped as the map grows.
#[derive(Debug)]
pub struct InMemoryRateLimiter {
    state: Mutex<Limits>,
    started: Instant,
}

#[derive(Debug, Default)]
struct Limits {
    tats: HashMap<String, u64>,
    /// Prune when the map reaches this size (doubled when pruning frees too little).
    prune_at: usize,
}

const PRUNE_FLOOR: usize = 4096;

impl Default for InMemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryRateLimiter {
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: Mutex::new(Limits {
                tats: HashMap::new(),
                prune_at: PRUNE_FLOOR,
            }),
            started: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        gcra::micros(self.started.elapsed())
    }
}

#[async_trait]
impl RateLimiter for InMemoryRateLimiter {
    async fn check(&self, key: &str, limit: RateLimit) -> Result<RateDecision, CacheError> {
        let now = self.now();
        let mut state = self.state.lock().map_err(poisoned)?;
        let step = gcra::step(state.tats.get(key).copied(), now, limit);
        if let Some(tat) = step.new_tat {
            if let Some(slot) = state.tats.get_mut(key) {
                *slot = tat;
            } else {
                if state.tats.len() >= state.prune_at {
                    state.tats.retain(|_, tat| *tat > now);
                    state.prune_at = (state.tats.len() * 2).max(PRUNE_FLOOR);
                }
                state.tats.insert(key.to_owned(), tat);
            }
        }
        Ok(step.decision)
    }
}

fn poisoned<T>(_: T) -> CacheError {
    CacheError("in-memory state poisoned".to_owned())
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, gcra::micros)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn entries_expire_and_generations_only_grow() {
        let cache = InMemoryCache::new(1 << 20, Duration::from_secs(300));
        let minute = Duration::from_secs(60);
        cache
            .put("a", Bytes::from_static(b"x"), minute)
            .await
            .unwrap();
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"x"[..]));
        cache
            .put("b", Bytes::from_static(b"y"), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(cache.get("b").await.unwrap(), None, "expired at once");
        cache.delete("a").await.unwrap();
        assert_eq!(cache.get("a").await.unwrap(), None);

        let g = cache.generation("g").await.unwrap();
        assert_eq!(cache.generation("g").await.unwrap(), g);
        assert_eq!(cache.bump("g").await.unwrap(), g + 1);
        assert_eq!(cache.generation("g").await.unwrap(), g + 1);
        assert_ne!(
            cache.generation("h").await.unwrap(),
            g,
            "fresh counters differ"
        );
    }

    #[tokio::test]
    async fn the_limiter_refuses_past_the_limit_per_key() {
        let limiter = InMemoryRateLimiter::new();
        let limit = RateLimit::per_minute(2);
        assert!(limiter.check("k", limit).await.unwrap().allowed);
        assert!(limiter.check("k", limit).await.unwrap().allowed);
        let refused = limiter.check("k", limit).await.unwrap();
        assert!(!refused.allowed);
        assert!(refused.retry_after > Duration::from_secs(29));
        assert!(limiter.check("other", limit).await.unwrap().allowed);
    }
}
