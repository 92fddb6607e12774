//! The shared rate limiter: GCRA (`gcra.rs`) in one Lua script, so the read, the decision and
//! the write are atomic across instances; time is Redis's own clock (`TIME`), so instances
//! with skewed clocks still share one budget. The key expires when its allowance is whole.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::Script;
use ports::{CacheError, RateDecision, RateLimit, RateLimiter};

use crate::client::RedisClient;
use crate::gcra;
use crate::lease::TokenSource;

/// KEYS[1] the key; ARGV[1] the emission interval T (µs), ARGV[2] the limit, ARGV[3] the
/// requests taken at once (all or none). Returns {allowed, remaining, reset_after_us,
/// retry_after_us}.
const GCRA: &str = r"
local emission = tonumber(ARGV[1])
local burst = emission * tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + emission * tonumber(ARGV[3])
local ahead = new_tat - now
if ahead > burst then
  return {0, 0, tat - now, ahead - burst}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(ahead / 1000))
return {1, math.floor((burst - ahead) / emission), ahead, 0}
";

#[derive(Debug)]
pub struct RedisRateLimiter {
    client: Arc<RedisClient>,
    script: Script,
}

impl RedisRateLimiter {
    #[must_use]
    pub fn new(client: Arc<RedisClient>) -> Self {
        Self {
            client,
            script: Script::new(GCRA),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, key: &str, limit: RateLimit) -> Result<RateDecision, CacheError> {
        self.take(key, limit, 1).await
    }
}

#[async_trait]
impl TokenSource for RedisRateLimiter {
    /// `cost` requests of `key` at once, all or none, in one script run.
    async fn take(
        &self,
        key: &str,
        limit: RateLimit,
        cost: u32,
    ) -> Result<RateDecision, CacheError> {
        let key = self.client.key(key);
        let emission = gcra::micros(limit.emission_interval()).max(1);
        let script = &self.script;
        let (allowed, remaining, reset, retry): (i64, i64, i64, i64) = self
            .client
            .run(|mut conn| async move {
                script
                    .key(&key)
                    .arg(emission)
                    .arg(limit.limit.max(1))
                    .arg(cost.max(1))
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let us = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        Ok(RateDecision {
            allowed: allowed == 1,
            limit: limit.limit,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_after: us(reset),
            retry_after: us(retry),
        })
    }
}
