//! The failover adapters: Redis cut mid-run → requests are still served (in-memory), health
//! says so; Redis back → the adapters use it again and replay the invalidations it missed.

use std::time::Duration;

use adapters_redis::{
    CacheHealth, FailoverCache, FailoverRateLimiter, InMemoryCache, RedisCache, RedisConfig,
    RedisStatus,
};
use bytes::Bytes;
use ports::{Cache, HealthIndicator, RateLimit, RateLimiter};

use crate::support::{Proxy, client, config, redis_url};

fn through(proxy: &Proxy, base: &RedisConfig) -> RedisConfig {
    let mut c = base.clone();
    c.url.clone_from(&proxy.url);
    c.connect_timeout = Duration::from_millis(300);
    c.command_timeout = Duration::from_millis(300);
    c
}

#[tokio::test]
async fn a_cut_redis_falls_back_to_memory_and_comes_back_with_the_missed_invalidations() {
    let Some(base) = config("failover") else {
        return;
    };
    let proxy = Proxy::start(&redis_url()).await;
    let config = through(&proxy, &base);
    // retry at once: every call tries Redis again, so recovery needs no waiting
    let status = RedisStatus::new(client(&config), Duration::ZERO);
    let cache = FailoverCache::new(
        status.clone(),
        InMemoryCache::new(1 << 20, Duration::from_secs(300)),
        Duration::from_secs(10),
    );
    let limiter = FailoverRateLimiter::new(status.clone());
    let health = CacheHealth::new(Some(status.clone()));
    let direct = RedisCache::new(client(&base));

    let minute = Duration::from_secs(60);
    let before = cache.generation("event:7").await.unwrap();
    cache
        .put("page", Bytes::from_static(b"redis"), minute)
        .await
        .unwrap();
    assert_eq!(
        direct.get("page").await.unwrap().as_deref(),
        Some(&b"redis"[..])
    );
    let h = health.check().await;
    assert!(h.up, "{h:?}");
    assert!(!health.critical());

    proxy.cut().await;
    // every call still answers
    assert_eq!(
        cache.get("page").await.unwrap(),
        None,
        "the fallback is empty"
    );
    cache
        .put("page", Bytes::from_static(b"memory"), minute)
        .await
        .unwrap();
    assert_eq!(
        cache.get("page").await.unwrap().as_deref(),
        Some(&b"memory"[..])
    );
    cache.bump("event:7").await.unwrap();
    let limit = RateLimit::per_minute(1);
    assert!(limiter.check("ip:1", limit).await.unwrap().allowed);
    assert!(!limiter.check("ip:1", limit).await.unwrap().allowed);
    assert!(status.on_fallback());
    let h = health.check().await;
    assert!(!h.up, "{h:?}");
    assert!(h.detail.unwrap().contains("fallback"));
    assert_eq!(
        direct.generation("event:7").await.unwrap(),
        before,
        "Redis did not see the bump yet"
    );

    proxy.restore();
    assert_eq!(
        cache.get("page").await.unwrap().as_deref(),
        Some(&b"redis"[..]),
        "back on Redis"
    );
    assert!(!status.on_fallback());
    assert_eq!(
        direct.generation("event:7").await.unwrap(),
        before + 1,
        "the invalidation made during the outage was replayed"
    );
    assert!(health.check().await.up);
}

#[tokio::test]
async fn an_unreachable_redis_at_start_never_fails_a_call() {
    let Some(base) = config("unreachable") else {
        return;
    };
    let mut config = base;
    // nothing listens on port 1
    config.url = "redis://127.0.0.1:1".to_owned();
    let status = RedisStatus::new(client(&config), Duration::from_secs(60));
    let cache = FailoverCache::new(
        status.clone(),
        InMemoryCache::new(1 << 20, Duration::from_secs(300)),
        Duration::from_secs(10),
    );
    let limiter = FailoverRateLimiter::new(status.clone());
    cache
        .put("k", Bytes::from_static(b"v"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert!(
        limiter
            .check("k", RateLimit::per_minute(5))
            .await
            .unwrap()
            .allowed
    );
    assert!(status.on_fallback());
    // while given up on, calls do not wait for Redis at all
    let started = std::time::Instant::now();
    for _ in 0..100 {
        cache.get("k").await.unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
}
