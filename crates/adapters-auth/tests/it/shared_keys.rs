//! The issuer's keys shared through the `Cache` port: every fetch writes the JWKS to the
//! cache, and an instance that cannot reach the issuer validates tokens with the copy found
//! there — on the same Redis as another instance (`TEST_REDIS_URL`, a key prefix of its own),
//! or in one process's memory. A fetch from the issuer always wins over the copy.

use std::sync::Arc;
use std::time::Duration;

use adapters_auth::{AuthConfig, Authenticator, KeySource};
use adapters_redis::{CacheBackend, CacheSettings, InMemoryCache, RedisConfig};
use ports::{Actor, AppError, Authenticate, Cache, Role};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::bearer_tokens::{ISSUER, bearer, claims_of, jwks, jwt_config, token};

/// One instance's authenticator: keys from `jwks_url`, shared through `cache`.
fn instance(jwks_url: &str, cache: &Arc<dyn Cache>) -> Authenticator {
    let mut jwt = jwt_config(ISSUER, Some(jwks_url.to_owned()));
    // Long enough for the test, short enough not to leave keys behind in a shared Redis.
    jwt.jwks_cache_ttl = Duration::from_secs(120);
    Authenticator::with_shared_cache(
        AuthConfig {
            jwt: Some(jwt),
            gateway_headers: false,
        },
        Arc::clone(cache),
    )
}

/// An issuer of its own (not one of wiremock's pooled servers, which keep listening when
/// dropped), serving the JWKS with `key`.
async fn issuer_serving(key: &str, fetches: u64) -> MockServer {
    let server = MockServer::builder().start().await;
    Mock::given(method("GET"))
        .and(path("/certs"))
        .respond_with(jwks(&[key]))
        .expect(fetches)
        .mount(&server)
        .await;
    server
}

/// Shuts `server` down (checking its expectations) and waits until its port refuses
/// connections.
async fn shut_down(server: MockServer) {
    let address = *server.address();
    drop(server);
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(address).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the issuer at {address} still accepts connections");
}

fn signed_with(key: &str, roles: &[&str]) -> ports::Credentials {
    bearer(&token(
        key,
        &format!("{key}-key"),
        &claims_of(ISSUER, roles),
    ))
}

fn in_memory() -> Arc<dyn Cache> {
    Arc::new(InMemoryCache::new(1 << 20, Duration::from_secs(300)))
}

/// Instance A fetches the keys from the issuer; the issuer goes away; instance B, started
/// afterwards, validates a token signed with them (a write: the token is really checked).
async fn a_later_instance_validates_with_the_keys_another_fetched(
    first: &Arc<dyn Cache>,
    second: &Arc<dyn Cache>,
) {
    let server = issuer_serving("issuer", 1).await;
    let url = format!("{}/certs", server.uri());
    let a = instance(&url, first);
    let organizer = signed_with("issuer", &["ORGANIZER"]);
    assert_eq!(
        a.authenticate(&organizer, false).await.unwrap().role(),
        Role::Organizer
    );
    assert_eq!(a.key_status().unwrap().source, Some(KeySource::Issuer));
    shut_down(server).await;

    let b = instance(&url, second);
    let actor = b.authenticate(&organizer, false).await.unwrap();
    assert_eq!(actor.role(), Role::Organizer);
    let status = b.key_status().unwrap();
    assert_eq!(status.source, Some(KeySource::SharedCache));
    assert_eq!(status.cached_keys, 1);
    assert_eq!(status.last_fetch_ok, Some(false));
    assert!(matches!(
        b.refresh_keys().await,
        Err(AppError::Unavailable { .. })
    ));

    // A key the copy does not hold stays unknown: the issuer could not say it is bad.
    let other = signed_with("rotated", &["ADMIN"]);
    assert_eq!(b.authenticate(&other, true).await.unwrap(), Actor::guest());
    let write = b.authenticate(&other, false).await;
    assert!(matches!(write, Err(AppError::Unauthenticated)), "{write:?}");
}

#[tokio::test]
async fn the_keys_are_shared_through_redis() {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    if !test_db::service_available("Redis", &url, 6379) {
        return;
    }
    let mut redis = RedisConfig::new(url);
    redis.key_prefix = format!("test:shared-jwks:{}:", uuid::Uuid::new_v4().simple());
    let settings = CacheSettings {
        memory_max_bytes: 1 << 20,
        max_ttl: Duration::from_secs(300),
        retry_interval: Duration::from_secs(1),
        fallback_ttl: Duration::from_secs(1),
    };
    // Two instances: each its own pool and in-memory fallback, one Redis.
    let first = CacheBackend::redis(&redis, &settings).unwrap().cache;
    let second = CacheBackend::redis(&redis, &settings).unwrap().cache;
    a_later_instance_validates_with_the_keys_another_fetched(&first, &second).await;
}

#[tokio::test]
async fn the_keys_are_shared_through_the_in_memory_cache() {
    let cache = in_memory();
    a_later_instance_validates_with_the_keys_another_fetched(&cache, &cache).await;
}

#[tokio::test]
async fn a_fetch_from_the_issuer_wins_over_the_shared_copy() {
    let cache = in_memory();
    let old_issuer = issuer_serving("issuer", 1).await;
    let old_url = format!("{}/certs", old_issuer.uri());
    let a = instance(&old_url, &cache);
    let old_token = signed_with("issuer", &["USER"]);
    assert!(a.authenticate(&old_token, false).await.is_ok());

    // The issuer has rotated to another key and withdrawn the old one.
    let rotated_issuer = issuer_serving("rotated", 2).await;
    let b = instance(&format!("{}/certs", rotated_issuer.uri()), &cache);
    let new_token = signed_with("rotated", &["USER"]);
    assert!(b.authenticate(&new_token, false).await.is_ok());
    // The withdrawn key is refused even for a read: the issuer said it does not know it.
    let refused = b.authenticate(&old_token, true).await;
    assert!(
        matches!(refused, Err(AppError::Unauthenticated)),
        "{refused:?}"
    );
    assert_eq!(b.key_status().unwrap().source, Some(KeySource::Issuer));

    // The copy is now the rotated JWKS: an instance that cannot reach any issuer gets it.
    shut_down(old_issuer).await;
    shut_down(rotated_issuer).await;
    let c = instance(&old_url, &cache);
    assert!(c.authenticate(&new_token, false).await.is_ok());
    assert_eq!(
        c.authenticate(&old_token, true).await.unwrap(),
        Actor::guest()
    );
}
