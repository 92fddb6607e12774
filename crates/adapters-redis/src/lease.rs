//! Token leases in front of the shared limiter, so that a hot key does not cost a Redis round
//! trip per request.
//!
//! When a key's local lease is empty, the instance takes `k` requests of the key's budget from
//! Redis at once (all or none, the same GCRA script with a cost) and answers the next `k − 1`
//! requests of that key from memory. Tokens are taken before they are used, so the shared budget
//! is never exceeded, whatever the number of instances; a lease only makes the limit stricter by
//! the tokens it leaves unused when it expires ([`LEASE_TTL`]).
//!
//! `k` follows the demand: it starts at 1, doubles while leases run out before they expire and
//! falls back to what the last lease served when it expired; it never exceeds [`MAX_LEASE`] nor a
//! quarter of what the key has left. So a client that sends one request now and then takes one
//! token per request (exact), a client near its limit takes one at a time (exact), and a key
//! hammered by thousands of requests a second asks Redis a few dozen times a second. While one
//! request refills a key's lease, the others of that key go to Redis one token each: at most one
//! lease per key and instance is ever outstanding.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ports::{CacheError, RateDecision, RateLimit, RateLimiter};

/// How long the tokens of a lease may be used; the unused ones are forfeited.
pub const LEASE_TTL: Duration = Duration::from_secs(1);
/// The most tokens one lease takes.
pub const MAX_LEASE: u32 = 1024;
/// Past this many keys, expired leases are swept on the next refill.
const SWEEP_AT: usize = 4096;

/// Takes `cost` requests of a key's budget at once, all or none.
#[async_trait]
pub trait TokenSource: Send + Sync {
    async fn take(
        &self,
        key: &str,
        limit: RateLimit,
        cost: u32,
    ) -> Result<RateDecision, CacheError>;
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    /// Tokens taken and not used yet.
    tokens: u32,
    /// The size of the last lease, and how many of its tokens were used.
    granted: u32,
    used: u32,
    until: Instant,
    /// The answer of the source when the lease was taken (its `remaining` excludes `tokens`).
    decision: RateDecision,
    /// A request is taking a new lease for this key.
    refilling: bool,
}

/// A [`RateLimiter`] that leases tokens from a shared [`TokenSource`] (the Redis limiter).
#[derive(Debug)]
pub struct LeasedLimiter<S> {
    source: S,
    ttl: Duration,
    leases: Mutex<HashMap<String, Lease>>,
}

impl<S: TokenSource> LeasedLimiter<S> {
    #[must_use]
    pub fn new(source: S) -> Self {
        Self::with_ttl(source, LEASE_TTL)
    }

    #[must_use]
    pub fn with_ttl(source: S, ttl: Duration) -> Self {
        Self {
            source,
            ttl,
            leases: Mutex::new(HashMap::new()),
        }
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves the request from the key's lease, or says how many tokens to take (`None`: a
    /// refill is under way elsewhere, take one for this request only).
    fn serve_or_size(
        &self,
        key: &str,
        limit: RateLimit,
        now: Instant,
    ) -> Result<RateDecision, Option<u32>> {
        let mut leases = self.leases();
        let Some(lease) = leases.get_mut(key) else {
            return Err(Some(1));
        };
        if lease.decision.limit != limit.limit {
            leases.remove(key);
            return Err(Some(1));
        }
        if lease.tokens > 0 && lease.until > now {
            lease.tokens -= 1;
            lease.used += 1;
            return Ok(RateDecision {
                remaining: lease.decision.remaining.saturating_add(lease.tokens),
                ..lease.decision
            });
        }
        if lease.refilling {
            return Err(None);
        }
        lease.refilling = true;
        let wanted = if lease.until > now {
            // ran out before it expired: the demand is higher
            lease.granted.saturating_mul(2)
        } else {
            lease.used
        };
        let ceiling = (lease.decision.remaining / 4).clamp(1, MAX_LEASE);
        Err(Some(wanted.clamp(1, ceiling)))
    }

    fn store(&self, key: &str, granted: u32, decision: RateDecision, now: Instant) {
        let mut leases = self.leases();
        if leases.len() >= SWEEP_AT {
            leases.retain(|_, l| l.until > now || l.refilling);
        }
        leases.insert(
            key.to_owned(),
            Lease {
                tokens: granted - 1,
                granted,
                used: 1,
                until: now + self.ttl,
                decision,
                refilling: false,
            },
        );
    }

    fn refill_failed(&self, key: &str) {
        if let Some(lease) = self.leases().get_mut(key) {
            lease.refilling = false;
        }
    }

    async fn refill(
        &self,
        key: &str,
        limit: RateLimit,
        want: u32,
    ) -> Result<RateDecision, CacheError> {
        let mut decision = self.source.take(key, limit, want).await?;
        let mut granted = want;
        if !decision.allowed && want > 1 {
            // not enough left for a lease: this request alone
            decision = self.source.take(key, limit, 1).await?;
            granted = 1;
        }
        if decision.allowed {
            self.store(key, granted, decision, Instant::now());
            Ok(RateDecision {
                remaining: decision.remaining.saturating_add(granted - 1),
                ..decision
            })
        } else {
            self.refill_failed(key);
            Ok(decision)
        }
    }
}

#[async_trait]
impl<S: TokenSource> RateLimiter for LeasedLimiter<S> {
    async fn check(&self, key: &str, limit: RateLimit) -> Result<RateDecision, CacheError> {
        match self.serve_or_size(key, limit, Instant::now()) {
            Ok(decision) => Ok(decision),
            Err(None) => self.source.take(key, limit, 1).await,
            Err(Some(want)) => {
                let answer = self.refill(key, limit, want).await;
                if answer.is_err() {
                    self.refill_failed(key);
                }
                answer
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::gcra;

    /// `limit` a day: nothing comes back during a test, so the counts are exact.
    const fn per_day(limit: u32) -> RateLimit {
        RateLimit {
            limit,
            period: Duration::from_secs(86_400),
        }
    }

    /// The in-process GCRA with a cost, counting the calls.
    #[derive(Default)]
    struct Counting {
        tat: Mutex<Option<u64>>,
        calls: AtomicU32,
        started: std::sync::OnceLock<Instant>,
    }

    #[async_trait]
    impl TokenSource for Counting {
        async fn take(
            &self,
            _key: &str,
            limit: RateLimit,
            cost: u32,
        ) -> Result<RateDecision, CacheError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let now = gcra::micros(self.started.get_or_init(Instant::now).elapsed()) + 1;
            let mut tat = self.tat.lock().unwrap();
            let step = gcra::step_n(*tat, now, limit, cost);
            if let Some(t) = step.new_tat {
                *tat = Some(t);
            }
            Ok(step.decision)
        }
    }

    #[tokio::test]
    async fn a_hot_key_asks_the_source_a_few_times_and_every_request_is_allowed() {
        let limiter = LeasedLimiter::new(Counting::default());
        let limit = RateLimit::per_minute(100_000_000);
        for i in 0..20_000 {
            assert!(
                limiter.check("k", limit).await.unwrap().allowed,
                "request {i}"
            );
        }
        let calls = limiter.source.calls.load(Ordering::SeqCst);
        // 1, 2, 4, … 1024 (11 leases), then 1024 at a time
        assert!(calls <= 11 + 20_000 / MAX_LEASE + 1, "{calls} calls");
    }

    #[tokio::test]
    async fn the_budget_is_exact_for_a_client_that_uses_it_up() {
        let limiter = LeasedLimiter::new(Counting::default());
        let limit = per_day(50);
        let mut allowed = 0;
        for _ in 0..80 {
            if limiter.check("k", limit).await.unwrap().allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 50);
        let refused = limiter.check("k", limit).await.unwrap();
        assert!(!refused.allowed);
        assert!(refused.retry_after > Duration::ZERO);
    }

    #[tokio::test]
    async fn a_client_slower_than_the_lease_takes_one_token_per_request() {
        let limiter = LeasedLimiter::with_ttl(Counting::default(), Duration::from_millis(5));
        let limit = per_day(1_000);
        for _ in 0..5 {
            let d = limiter.check("k", limit).await.unwrap();
            assert!(d.allowed);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // each request found its lease expired with one token used: one token taken each time
        assert_eq!(limiter.source.calls.load(Ordering::SeqCst), 5);
        let d = limiter.check("k", limit).await.unwrap();
        assert_eq!(d.remaining, 1_000 - 6, "nothing was forfeited");
    }

    #[tokio::test]
    async fn remaining_counts_the_tokens_held_in_the_lease() {
        let limiter = LeasedLimiter::new(Counting::default());
        let limit = per_day(1_000);
        let mut last = u32::MAX;
        for _ in 0..40 {
            let d = limiter.check("k", limit).await.unwrap();
            assert!(d.remaining < last, "{} after {last}", d.remaining);
            last = d.remaining;
        }
        assert_eq!(last, 1_000 - 40);
    }
}
