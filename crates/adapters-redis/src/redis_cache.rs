//! The shared cache in Redis: entries are strings with `PX` expiry, generations are counters
//! without expiry (see `Cache::generation`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use deadpool_redis::redis::{self, Script};
use ports::{Cache, CacheError};

use crate::client::RedisClient;

/// A missing counter starts at the current time in µs, so a counter lost with a Redis restart
/// (or evicted) never comes back to a value an old entry's key carries.
const GENERATION: &str = r"
local v = redis.call('GET', KEYS[1])
if v then return tonumber(v) end
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return tonumber(redis.call('GET', KEYS[1]))
";

const BUMP: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
return redis.call('INCR', KEYS[1])
";

#[derive(Debug)]
pub struct RedisCache {
    client: Arc<RedisClient>,
    generation: Script,
    bump: Script,
}

impl RedisCache {
    #[must_use]
    pub fn new(client: Arc<RedisClient>) -> Self {
        Self {
            client,
            generation: Script::new(GENERATION),
            bump: Script::new(BUMP),
        }
    }

    /// Runs a generation-counter script on `key` (seeded with the current time in µs).
    async fn counter(&self, script: &Script, key: &str) -> Result<u64, CacheError> {
        let key = self.client.key(key);
        self.client
            .run(|mut conn| async move {
                script
                    .key(&key)
                    .arg(epoch_micros())
                    .invoke_async(&mut conn)
                    .await
            })
            .await
    }
}

fn epoch_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(1))
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        let key = self.client.key(key);
        let value: Option<Vec<u8>> = self
            .client
            .run(|mut conn| async move { redis::cmd("GET").arg(&key).query_async(&mut conn).await })
            .await?;
        Ok(value.map(Bytes::from))
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        let key = self.client.key(key);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.client
            .run(|mut conn| async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(value.as_ref())
                    .arg("PX")
                    .arg(ms)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let key = self.client.key(key);
        self.client
            .run(|mut conn| async move {
                redis::cmd("DEL")
                    .arg(&key)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }

    async fn generation(&self, key: &str) -> Result<u64, CacheError> {
        self.counter(&self.generation, key).await
    }

    async fn bump(&self, key: &str) -> Result<u64, CacheError> {
        self.counter(&self.bump, key).await
    }
}
