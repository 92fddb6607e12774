//! `RedisCache` and `RedisRateLimiter` against the real Redis.

use std::time::Duration;

use adapters_redis::lease::LeasedLimiter;
use adapters_redis::{RedisCache, RedisRateLimiter};
use bytes::Bytes;
use ports::{Cache, RateLimit, RateLimiter};

use crate::support::{client, config};

#[tokio::test]
async fn entries_round_trip_expire_and_are_deleted() {
    let Some(config) = config("entries") else {
        return;
    };
    let cache = RedisCache::new(client(&config));
    assert_eq!(cache.get("k").await.unwrap(), None);
    cache
        .put(
            "k",
            Bytes::from_static(b"\x00value\xff"),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(
        cache.get("k").await.unwrap().as_deref(),
        Some(&b"\x00value\xff"[..]),
        "binary-safe"
    );
    cache.delete("k").await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), None);

    // The TTL is Redis's own: the key carries it.
    cache
        .put("t", Bytes::from_static(b"x"), Duration::from_secs(300))
        .await
        .unwrap();
    let raw = redis_pttl(&config.url, &format!("{}t", config.key_prefix)).await;
    assert!((299_000..=300_000).contains(&raw), "PTTL {raw}");
}

async fn redis_pttl(url: &str, key: &str) -> i64 {
    let client = deadpool_redis::redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    deadpool_redis::redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn generations_start_unique_and_only_grow_across_clients() {
    let Some(config) = config("generations") else {
        return;
    };
    let a = RedisCache::new(client(&config));
    let b = RedisCache::new(client(&config));
    let first = a.generation("catalog").await.unwrap();
    assert!(first > 1_000_000, "starts at the clock, not at 0: {first}");
    assert_eq!(b.generation("catalog").await.unwrap(), first, "one counter");
    assert_eq!(b.bump("catalog").await.unwrap(), first + 1);
    assert_eq!(a.generation("catalog").await.unwrap(), first + 1);
    // bumping a counter nobody read yet starts it at the clock too
    let fresh = a.bump("event:1").await.unwrap();
    assert!(fresh > 1_000_000);
}

#[tokio::test]
async fn gcra_allows_ten_a_minute_and_refuses_the_eleventh_across_instances() {
    let Some(config) = config("gcra") else {
        return;
    };
    let a = RedisRateLimiter::new(client(&config));
    let b = RedisRateLimiter::new(client(&config));
    let limit = RateLimit::per_minute(10);
    for i in 0..10_u32 {
        let limiter = if i % 2 == 0 { &a } else { &b };
        let d = limiter.check("user:1", limit).await.unwrap();
        assert!(d.allowed, "request {i}");
        assert_eq!(d.limit, 10);
        assert!(d.remaining <= 9 - i, "request {i}: {d:?}");
    }
    let refused = b.check("user:1", limit).await.unwrap();
    assert!(!refused.allowed, "the 11th, on either instance, is refused");
    assert_eq!(refused.remaining, 0);
    assert!(
        refused.retry_after > Duration::from_secs(5)
            && refused.retry_after <= Duration::from_secs(6),
        "{refused:?}"
    );
    assert!(refused.reset_after > Duration::from_secs(59), "{refused:?}");
    // refused requests are not counted, other keys have their own budget
    assert!(!a.check("user:1", limit).await.unwrap().allowed);
    assert!(a.check("user:2", limit).await.unwrap().allowed);

    // the key expires when the allowance would be whole again
    let pttl = redis_pttl(&config.url, &format!("{}user:2", config.key_prefix)).await;
    assert!((1..=6_000).contains(&pttl), "PTTL {pttl}");
}

/// Leases (`lease.rs`) take tokens before they are used: two instances leasing from one budget
/// never allow more than it, and once both have used up their leases they allowed exactly it.
#[tokio::test]
async fn leased_limiters_of_two_instances_share_one_budget_exactly() {
    let Some(config) = config("lease") else {
        return;
    };
    // leases that outlive the test: none is forfeited on a slow machine
    let ttl = Duration::from_secs(600);
    let a = LeasedLimiter::with_ttl(RedisRateLimiter::new(client(&config)), ttl);
    let b = LeasedLimiter::with_ttl(RedisRateLimiter::new(client(&config)), ttl);
    let limit = RateLimit {
        limit: 200,
        period: Duration::from_secs(86_400),
    };
    let mut allowed = 0;
    for i in 0..600_u32 {
        let limiter = if i % 3 == 0 { &a } else { &b };
        if limiter.check("client:1", limit).await.unwrap().allowed {
            allowed += 1;
        }
    }
    // both are refused now, with nothing left in their leases
    assert!(!a.check("client:1", limit).await.unwrap().allowed);
    assert!(!b.check("client:1", limit).await.unwrap().allowed);
    assert_eq!(allowed, 200);
}
