//! The catalog and details cache end to end (PRODUCT.md §13 "Caching", seed 000 read-only
//! mode): the next read shows every kind of write; cached answers are the bytes an uncached
//! one would be, with an ETag that `If-None-Match` turns into 304; personal views are never
//! shared; seat counts lag at most 2 s with batching on; two instances on one Redis see each
//! other's writes; Redis cut → still served; database cut → the cached catalog and details
//! are served (stale) and writes get 503 `DATABASE_UNAVAILABLE`, until it is back.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::e2e_observability::{CuttableProxy, scrape, spawn_app_behind_proxy, total};
use crate::e2e_rate_limits::{prefix, redis_url};
use crate::support::*;

/// (status, headers, raw body) of a GET.
async fn fetch(
    app: &TestApp,
    path: &str,
    who: Option<Who>,
    if_none_match: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut r = app.req(Method::GET, path, who);
    if let Some(tag) = if_none_match {
        r = r.header("If-None-Match", tag);
    }
    let response = r.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

async fn details(app: &TestApp, id: i64) -> Value {
    let (status, _, body) = fetch(app, &format!("/api/v1/events/{id}"), None, None).await;
    assert_eq!(status, 200);
    json_of(&body)
}

async fn catalog_ids(app: &TestApp) -> Vec<i64> {
    let (status, _, body) = fetch(app, "/api/v1/events?size=100", None, None).await;
    assert_eq!(status, 200);
    json_of(&body)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

async fn catalog_entry(app: &TestApp, id: i64) -> Value {
    let (status, _, body) = fetch(app, "/api/v1/events?size=100", None, None).await;
    assert_eq!(status, 200);
    json_of(&body)["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Polls `read` until `done` holds or `within` passed; answers the elapsed time.
async fn eventually<F, Fut>(
    within: Duration,
    mut read: F,
    done: impl Fn(&Value) -> bool,
) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let started = Instant::now();
    loop {
        let value = read().await;
        if done(&value) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "not seen within {within:?}: {value}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_both!(cached_answers_are_the_uncached_bytes_with_etags, |app| {
    let org = organizer(1);
    let id = app.published_event(org, 10, "100.00", 10).await;
    let path = format!("/api/v1/events/{id}");
    for path in [path.as_str(), "/api/v1/events?size=50&sort_by=price"] {
        let (status, miss_headers, miss) = fetch(&app, path, None, None).await;
        assert_eq!(status, 200);
        assert_eq!(
            header(&miss_headers, "cache-status"),
            "backend-event; fwd=miss"
        );
        assert_eq!(header(&miss_headers, "cache-control"), "no-cache");
        let etag = header(&miss_headers, "etag").to_owned();
        // every caller class that sees the public view gets the same stored bytes
        for who in [None, Some(user(1)), Some(organizer(2))] {
            let (status, headers, hit) = fetch(&app, path, who, None).await;
            assert_eq!(status, 200);
            assert_eq!(header(&headers, "cache-status"), "backend-event; hit");
            assert_eq!(header(&headers, "etag"), etag);
            assert_eq!(header(&headers, "content-type"), "application/json");
            assert_eq!(hit, miss, "{path}: a hit is byte-identical to the miss");
        }
        for tag in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            "*".to_owned(),
        ] {
            let (status, headers, body) = fetch(&app, path, None, Some(&tag)).await;
            assert_eq!(status, 304, "If-None-Match: {tag}");
            assert_eq!(header(&headers, "etag"), etag);
            assert!(body.is_empty());
        }
        let (status, _, _) = fetch(&app, path, None, Some("\"other\"")).await;
        assert_eq!(status, 200);
    }

    // Personal views are built for the caller and never shared: the creator (who also sees
    // inactive price options) and admins.
    let (status, _) = app
        .post(
            &format!("/api/v1/events/{id}/price-options"),
            Some(org),
            json!({"name": "Hidden", "price": "50.00", "quantity_available": 3, "is_active": false}),
        )
        .await;
    assert_eq!(status, 201);
    for who in [org, admin()] {
        let (status, headers, body) = fetch(&app, &path, Some(who), None).await;
        assert_eq!(status, 200);
        assert_eq!(
            header(&headers, "cache-status"),
            "backend-event; fwd=bypass"
        );
        assert_eq!(header(&headers, "cache-control"), "no-store");
        assert_eq!(json_of(&body)["price_options"].as_array().unwrap().len(), 1);
    }
    let (_, headers, body) = fetch(&app, &path, None, None).await;
    assert_eq!(header(&headers, "cache-status"), "backend-event; fwd=miss");
    assert_eq!(
        json_of(&body)["price_options"],
        json!([]),
        "the public view"
    );
    let (_, headers, _) = fetch(&app, &path, Some(organizer(2)), None).await;
    assert_eq!(header(&headers, "cache-status"), "backend-event; hit");
    // hits and misses are counted per view
    let counted = |result: &'static str| {
        let app = &app;
        async move {
            let samples = scrape(app).await;
            total(
                &samples,
                "aquastream_cache_requests_total",
                &[("cache", "details"), ("result", result)],
            )
        }
    };
    let hits = counted("hit").await;
    for _ in 0..3 {
        let _ = fetch(&app, &path, None, None).await;
    }
    // ≥: under `cargo test` other tests of the process count too
    assert!(counted("hit").await >= hits + 3.0);
    // a draft is never cached
    let (status, draft) = app
        .post(
            "/api/v1/events",
            Some(org),
            json!({"name": "Draft", "start_date": (app.clock_now() + chrono::Duration::days(3)).to_rfc3339(),
                   "max_participants": 5, "price": "1.00"}),
        )
        .await;
    assert_eq!(status, 201, "{draft}");
    let draft = format!("/api/v1/events/{}", draft["id"]);
    for _ in 0..2 {
        let (status, headers, _) = fetch(&app, &draft, Some(org), None).await;
        assert_eq!(status, 200);
        assert_eq!(
            header(&headers, "cache-status"),
            "backend-event; fwd=bypass"
        );
        assert_eq!(fetch(&app, &draft, None, None).await.0, 404);
    }
});

on_both!(the_next_read_shows_every_kind_of_write, |app| {
    let org = organizer(1);
    let id = app.published_event(org, 10, "100.00", 10).await;
    let path = format!("/api/v1/events/{id}");
    // warm both views
    let _ = details(&app, id).await;
    assert!(catalog_ids(&app).await.contains(&id));

    // edit
    let (status, body) = app
        .put(
            &path,
            Some(org),
            json!({"name": "Renamed", "is_featured": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(details(&app, id).await["name"], "Renamed");
    assert_eq!(catalog_entry(&app, id).await["is_featured"], true);

    // reschedule
    let later = app.clock_now() + chrono::Duration::days(20);
    let (status, body) = app
        .put(&path, Some(org), json!({"start_date": later.to_rfc3339()}))
        .await;
    assert_eq!(status, 200, "{body}");
    let shown: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(details(&app, id).await["start_date"].clone()).unwrap();
    assert_eq!(shown, later);

    // price option: added, then deactivated
    let (status, option) = app
        .post(
            &format!("{path}/price-options"),
            Some(org),
            json!({"name": "Early", "price": "80.00", "quantity_available": 5}),
        )
        .await;
    assert_eq!(status, 201, "{option}");
    assert_eq!(details(&app, id).await["price_options"][0]["name"], "Early");
    let (status, _) = app
        .put(
            &format!("{path}/price-options/{}", option["id"]),
            Some(org),
            json!({"name": "Early", "price": "80.00", "quantity_available": 5, "is_active": false}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(details(&app, id).await["price_options"], json!([]));

    // seats (the test profile invalidates them at once: seat_flush_ms = 0)
    let booking = app.book(user(1), id, 2).await;
    assert_eq!(details(&app, id).await["available_seats"], 8);
    assert_eq!(catalog_entry(&app, id).await["available_seats"], 8);
    let _ = app
        .cancel_booking(user(1), booking["id"].as_i64().unwrap(), json!({}))
        .await;
    assert_eq!(details(&app, id).await["available_seats"], 10);

    // publish: a draft enters the catalog
    let (status, draft) = app
        .post(
            "/api/v1/events",
            Some(org),
            json!({"name": "Later", "start_date": later.to_rfc3339(), "max_participants": 5, "price": "1.00"}),
        )
        .await;
    assert_eq!(status, 201, "{draft}");
    let draft_id = draft["id"].as_i64().unwrap();
    assert!(!catalog_ids(&app).await.contains(&draft_id));
    let (status, _) = app
        .post(
            &format!("/api/v1/events/{draft_id}/publish"),
            Some(org),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(catalog_ids(&app).await.contains(&draft_id));

    // review approval changes the rating
    let rated = app.published_event(org, 5, "10.00", 1).await;
    let _ = app.confirmed_booking(user(2), rated, 1).await;
    app.clock.advance(chrono::Duration::days(2));
    assert_eq!(details(&app, rated).await["review_count"], 0);
    let (status, review) = app
        .post(
            "/api/v1/reviews",
            Some(user(2)),
            json!({"event_id": rated, "rating": 4, "content": "good"}),
        )
        .await;
    assert_eq!(status, 201, "{review}");
    assert_eq!(details(&app, rated).await["review_count"], 0, "PENDING");
    let (status, _) = app
        .post(
            &format!("/api/v1/reviews/{}/moderate", review["id"]),
            Some(admin()),
            json!({"status": "ACTIVE", "reason": "fine"}),
        )
        .await;
    assert_eq!(status, 200);
    let shown = details(&app, rated).await;
    assert_eq!(
        (&shown["review_count"], &shown["avg_rating"]),
        (&json!(1), &json!("4.00"))
    );

    // cancel: shown as CANCELED, gone from the catalog
    let (status, body) = app
        .post(&format!("{path}/cancel"), Some(org), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(details(&app, id).await["status"], "CANCELED");
    assert!(!catalog_ids(&app).await.contains(&id));
});

/// Seat changes are batched: a booking shows in cached reads within
/// `seat_flush_ms + generation_ttl_ms` (≤ 2 s), not necessarily at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seat_counts_lag_at_most_two_seconds_with_batching() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("APP__CACHE__SEAT_FLUSH_MS", "1000"),
            ("APP__CACHE__GENERATION_TTL_MS", "500"),
        ],
    )
    .await
    .unwrap();
    let id = app.published_event(organizer(1), 10, "100.00", 10).await;
    assert_eq!(details(&app, id).await["available_seats"], 10);
    let _ = app.book(user(1), id, 3).await;
    let lag = eventually(
        Duration::from_secs(2),
        || details(&app, id),
        |d| d["available_seats"] == 7,
    )
    .await;
    eprintln!("seat count seen after {lag:?}");
    let _ = eventually(
        Duration::from_secs(2),
        || catalog_entry(&app, id),
        |e| e["available_seats"] == 7,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_see_each_others_writes() {
    let Some(redis) = redis_url() else {
        return;
    };
    let prefix = prefix("read-cache");
    let env = [
        ("APP__REDIS__URL", redis.as_str()),
        ("APP__REDIS__KEY_PREFIX", prefix.as_str()),
        ("APP__CACHE__SEAT_FLUSH_MS", "1000"),
    ];
    let a = spawn_app_with(Backend::Sqlite, &env).await.unwrap();
    let b = spawn_app_on(&a, &env).await;
    let id = a.published_event(organizer(1), 10, "100.00", 10).await;
    let path = format!("/api/v1/events/{id}");
    let _ = details(&a, id).await;
    // B finds A's entry in Redis, then serves it from its own memory
    let (_, headers, _) = fetch(&b, &path, None, None).await;
    assert_eq!(header(&headers, "cache-status"), "backend-event; hit");
    assert!(catalog_ids(&b).await.contains(&id));

    let (status, _) = a
        .put(&path, Some(organizer(1)), json!({"name": "Seen by B"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        details(&a, id).await["name"],
        "Seen by B",
        "the writer at once"
    );
    let lag = eventually(
        Duration::from_secs(1),
        || details(&b, id),
        |d| d["name"] == "Seen by B",
    )
    .await;
    eprintln!("B saw A's edit after {lag:?}");
    let _ = eventually(
        Duration::from_secs(1),
        || catalog_entry(&b, id),
        |e| e["name"] == "Seen by B",
    )
    .await;

    // a booking on B shows on A within the seat lag
    let _ = b.book(user(1), id, 4).await;
    let _ = eventually(
        Duration::from_secs(2),
        || details(&a, id),
        |d| d["available_seats"] == 6,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_invalidations_go_on_while_redis_is_cut() {
    let Some(redis) = redis_url() else {
        return;
    };
    let proxy = CuttableProxy::to(
        redis
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned(),
    )
    .await;
    let proxied = format!("redis://127.0.0.1:{}", proxy.addr.port());
    let prefix = prefix("read-cache-cut");
    let env = [
        ("APP__REDIS__URL", proxied.as_str()),
        ("APP__REDIS__KEY_PREFIX", prefix.as_str()),
        ("APP__REDIS__RETRY_INTERVAL_SECONDS", "0"),
    ];
    let app = spawn_app_with(Backend::Sqlite, &env).await.unwrap();
    let org = organizer(1);
    let id = app.published_event(org, 10, "100.00", 10).await;
    let path = format!("/api/v1/events/{id}");
    assert_eq!(details(&app, id).await["name"], "E2E event");
    assert!(catalog_ids(&app).await.contains(&id));

    proxy.cut();
    for _ in 0..3 {
        assert_eq!(details(&app, id).await["name"], "E2E event");
        assert!(catalog_ids(&app).await.contains(&id));
    }
    let (status, _) = app
        .put(&path, Some(org), json!({"name": "While cut"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(details(&app, id).await["name"], "While cut");
    assert_eq!(catalog_entry(&app, id).await["name"], "While cut");

    proxy.restore();
    let (status, _) = app
        .put(&path, Some(org), json!({"name": "Redis back"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(details(&app, id).await["name"], "Redis back");
    assert_eq!(catalog_entry(&app, id).await["name"], "Redis back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_catalog_is_served_and_writes_refused_while_the_database_is_cut() {
    let Some((app, proxy)) =
        spawn_app_behind_proxy(&[("APP__DATABASE__ACQUIRE_TIMEOUT_SECONDS", "1")]).await
    else {
        return;
    };
    let org = organizer(1);
    let id = app.published_event(org, 10, "100.00", 10).await;
    let path = format!("/api/v1/events/{id}");
    let catalog = "/api/v1/events?size=100";
    let (_, _, stored_details) = fetch(&app, &path, None, None).await;
    let (_, _, stored_catalog) = fetch(&app, catalog, None, None).await;
    // a later write invalidates both entries; their stale copies stay
    let (status, edited) = app
        .put(&path, Some(org), json!({"name": "Not read yet"}))
        .await;
    assert_eq!(status, 200);
    let version = edited["version"].as_i64().unwrap();

    proxy.cut();
    for (path, stored) in [(path.as_str(), &stored_details), (catalog, &stored_catalog)] {
        let (status, headers, body) = fetch(&app, path, Some(user(1)), None).await;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        assert_eq!(
            header(&headers, "cache-status"),
            "backend-event; hit; detail=stale"
        );
        assert_eq!(&body, stored);
    }
    let response = app
        .req(Method::PUT, &path, Some(org))
        .json(&json!({"name": "Refused"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(header(response.headers(), "retry-after"), "5");
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "DATABASE_UNAVAILABLE", "{problem}");
    let (status, problem) = app.get("/api/v1/events/999999", None).await;
    assert_eq!(
        (status, &problem["code"]),
        (503, &json!("DATABASE_UNAVAILABLE"))
    );
    assert_eq!(app.get("/actuator/health/readiness", None).await.0, 503);
    assert_eq!(app.get("/actuator/health/liveness", None).await.0, 200);

    proxy.restore();
    let started = Instant::now();
    loop {
        let (status, body) = app.put(&path, Some(org), json!({"name": "Back"})).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "writes did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, headers, body) = fetch(&app, &path, None, None).await;
    assert_eq!(header(&headers, "cache-status"), "backend-event; fwd=miss");
    assert_eq!(json_of(&body)["name"], "Back");
    // nothing half-applied: the refused write left no version behind
    assert_eq!(json_of(&body)["version"], version + 1);
    assert_eq!(catalog_entry(&app, id).await["name"], "Back");
    assert_eq!(app.get("/actuator/health/readiness", None).await.0, 200);
}
