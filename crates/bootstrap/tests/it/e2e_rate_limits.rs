//! Rate limits end to end (PRODUCT.md §13): the 11th booking in a minute by one user and the
//! 101st catalog call by one client are refused with 429 `RATE_LIMITED`, `Retry-After` and
//! the `RateLimit-*` headers (gRPC: RESOURCE_EXHAUSTED with RetryInfo); two instances on one
//! Redis share one budget; Redis cut mid-run → requests still succeed on the fallback.

use serde_json::json;
use tonic::Code;
use tonic_types::StatusExt;

use crate::e2e_observability::CuttableProxy;
use crate::grpc::{call, client};
use crate::support::*;
use adapters_grpc::pb;

const ON: (&str, &str) = ("APP__RATE_LIMITS__ENABLED", "true");

pub(crate) fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    test_db::service_available("Redis", &url, 6379).then_some(url)
}

pub(crate) fn prefix(test: &str) -> String {
    format!("test:{test}:{}:", uuid::Uuid::new_v4().simple())
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_booking_in_a_minute_by_one_user_is_refused_with_retry_after() {
    let app = spawn_app_with(Backend::Sqlite, &[ON]).await.unwrap();
    let event = app.published_event(organizer(1), 100, "10.00", 10).await;
    let booker = user(1);
    for i in 0..10 {
        let response = app
            .req(reqwest::Method::POST, "/api/v1/bookings", Some(booker))
            .json(&json!({"event_id": event, "quantity": 1}))
            .send()
            .await
            .unwrap();
        // the first books, the others are refused by the use case (one booking per user):
        // every request counts
        assert_ne!(response.status().as_u16(), 429, "request {i}");
        assert_eq!(header(&response, "ratelimit-limit"), "10");
        assert_eq!(
            header(&response, "ratelimit-remaining"),
            (9 - i).to_string()
        );
    }
    let response = app
        .req(reqwest::Method::POST, "/api/v1/bookings", Some(booker))
        .json(&json!({"event_id": event, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(
        header(&response, "content-type"),
        "application/problem+json"
    );
    let retry: u64 = header(&response, "retry-after").parse().unwrap();
    assert!((1..=6).contains(&retry), "Retry-After {retry}");
    assert_eq!(header(&response, "ratelimit-remaining"), "0");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "RATE_LIMITED", "{body}");
    assert_eq!(body["status"], 429, "{body}");

    // another user has a budget of their own; the same user over gRPC shares this one
    app.book(user(2), event, 1).await;
    let mut grpc = client(&app).await;
    let status = grpc
        .create_booking(call(
            pb::CreateBookingRequest {
                event_id: event,
                quantity: 1,
                ..Default::default()
            },
            Some(booker),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let retry = status.get_details_retry_info().expect("RetryInfo");
    assert!(
        retry.retry_delay.is_some_and(|d| d.as_secs() <= 6),
        "{retry:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hundred_and_first_catalog_call_by_one_client_is_refused() {
    let app = spawn_app_with(Backend::Sqlite, &[ON]).await.unwrap();
    for i in 0..100 {
        let (status, body) = app.get("/api/v1/events", None).await;
        assert_eq!(status, 200, "call {i}: {body}");
    }
    let (status, body) = app.get("/api/v1/events", None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "RATE_LIMITED");
    // the guest's budget is its IP's; a signed-in user is counted by id
    let (status, _) = app.get("/api/events", None).await;
    assert_eq!(status, 429, "the /api alias shares the budget");
    let (status, _) = app.get("/api/v1/events", Some(user(5))).await;
    assert_eq!(status, 200);
    // gRPC ListEvents by the same guest is over the limit too
    let mut grpc = client(&app).await;
    let status = grpc
        .list_events(call(pb::ListEventsRequest::default(), None))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_off_unless_enabled_and_the_seed_variable_turns_them_on() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    for _ in 0..105 {
        assert_eq!(app.get("/api/v1/events", None).await.0, 200);
    }
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("AQUASTREAM_RATE_LIMIT_ENABLED", "true"),
            ("APP__RATE_LIMITS__EVENT_LIST_PER_MINUTE", "3"),
        ],
    )
    .await
    .unwrap();
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/events", None).await.0, 200);
    }
    assert_eq!(app.get("/api/v1/events", None).await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_share_one_budget() {
    let Some(redis) = redis_url() else {
        return;
    };
    let prefix = prefix("shared-budget");
    let env = [
        ON,
        ("APP__RATE_LIMITS__EVENT_LIST_PER_MINUTE", "10"),
        ("APP__REDIS__URL", redis.as_str()),
        ("APP__REDIS__KEY_PREFIX", prefix.as_str()),
    ];
    let a = spawn_app_with(Backend::Sqlite, &env).await.unwrap();
    let b = spawn_app_on(&a, &env).await;
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        assert_eq!(app.get("/api/v1/events", None).await.0, 200, "call {i}");
    }
    assert_eq!(a.get("/api/v1/events", None).await.0, 429);
    assert_eq!(b.get("/api/v1/events", None).await.0, 429);
    let (_, health) = a.get("/actuator/health", Some(admin())).await;
    assert_eq!(health["components"]["cache"]["status"], "UP", "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_succeed_while_redis_is_cut_and_redis_is_used_again_when_it_returns() {
    let Some(redis) = redis_url() else {
        return;
    };
    let target = redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = CuttableProxy::to(target).await;
    let proxied = format!("redis://127.0.0.1:{}", proxy.addr.port());
    let prefix = prefix("cut");
    let env = [
        ON,
        ("APP__RATE_LIMITS__EVENT_LIST_PER_MINUTE", "1000"),
        ("APP__REDIS__URL", proxied.as_str()),
        ("APP__REDIS__KEY_PREFIX", prefix.as_str()),
        ("APP__REDIS__RETRY_INTERVAL_SECONDS", "0"),
    ];
    let app = spawn_app_with(Backend::Sqlite, &env).await.unwrap();
    assert_eq!(app.get("/api/v1/events", None).await.0, 200);
    let (_, health) = app.get("/actuator/health", Some(admin())).await;
    assert_eq!(health["components"]["cache"]["status"], "UP", "{health}");

    proxy.cut();
    for i in 0..5 {
        let (status, body) = app.get("/api/v1/events", None).await;
        assert_eq!(status, 200, "call {i} while Redis is cut: {body}");
    }
    let event = app.published_event(organizer(1), 10, "5.00", 5).await;
    app.book(user(1), event, 1).await;
    let (status, health) = app.get("/actuator/health", Some(admin())).await;
    assert_eq!(status, 200, "the cache is not critical: {health}");
    assert_eq!(health["components"]["cache"]["status"], "DOWN", "{health}");
    let (status, _) = app.get("/actuator/health/readiness", None).await;
    assert_eq!(status, 200, "still ready on the fallback");

    proxy.restore();
    let (_, health) = app.get("/actuator/health", Some(admin())).await;
    assert_eq!(health["components"]["cache"]["status"], "UP", "{health}");
    assert_eq!(app.get("/api/v1/events", None).await.0, 200);
}
