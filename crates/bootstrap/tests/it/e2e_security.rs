//! Security regressions (issue 12), each named after the hole it closes, against the running
//! app.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::*;
use reqwest::Method;
use serde_json::json;

// Hole 1: whoever holds a sandbox reference (it is in the page's URL) may play the customer,
// but learns only the payment's outcome — never the ticket code or the booking.
on_both!(hole_1_sandbox_page_answers_the_outcome_only, |app| {
    let alice = user(1);
    let event_id = app.published_event(organizer(1), 10, "100.00", 10).await;
    let booking_id = app.book(alice, event_id, 1).await["id"].as_i64().unwrap();
    let payment = app.pay(alice, booking_id).await;
    let reference = payment["gateway_reference"].as_str().unwrap().to_owned();

    let page = app
        .req(Method::GET, &format!("/sandbox/payments/{reference}"), None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (status, paid) = app
        .post(
            &format!("/sandbox/payments/{reference}"),
            None,
            json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid, json!({"status": "COMPLETED"}));

    let (_, booking) = app
        .get(&format!("/api/v1/bookings/{booking_id}"), Some(alice))
        .await;
    assert_eq!(booking["status"], "CONFIRMED", "{booking}");
    let ticket = booking["ticket_code"].as_str().unwrap();
    for answer in [page.as_str(), &paid.to_string()] {
        assert!(!answer.contains(ticket), "ticket code leaked: {answer}");
        assert!(!answer.contains("booking"), "booking data leaked: {answer}");
        assert!(!answer.contains("100.00"), "amount leaked: {answer}");
    }
    // Playing it again reveals nothing more either.
    let (_, again) = app
        .post(
            &format!("/sandbox/payments/{reference}"),
            None,
            json!({"outcome": "success"}),
        )
        .await;
    assert!(!again.to_string().contains(ticket), "{again}");
});

// Hole 4: a webhook signs `<timestamp>.<body>`; outside the window (5 minutes either way) it is
// refused, and an event id the gateway already sent is a replay, refused too. A webhook whose
// application failed leaves no record: the gateway's retry of it is applied.
on_both!(hole_4_webhook_replays_are_refused, |app| {
    let alice = user(1);
    let event_id = app.published_event(organizer(1), 10, "100.00", 10).await;
    let booking_id = app.book(alice, event_id, 1).await["id"].as_i64().unwrap();
    let payment = app.pay(alice, booking_id).await;
    let reference = payment["gateway_reference"].as_str().unwrap().to_owned();
    let signer = adapters_payment::SandboxGateway::new(adapters_payment::SandboxConfig {
        public_base_url: app.base.clone(),
        webhook_secret: "sandbox-webhook-secret".to_owned(),
    });
    let now = app.clock_now().timestamp();
    let send = |event: &str, reference: &str, at: i64| {
        let body = json!({"event_id": event, "reference": reference}).to_string();
        app.req(Method::POST, "/api/v1/payments/webhook/sandbox", None)
            .header("Content-Type", "application/json")
            .header("X-Sandbox-Signature", signer.sign(at, body.as_bytes()))
            .body(body)
    };
    async fn answer(r: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
        let response = r.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    // Stale and future timestamps (well signed) are refused, with their own code.
    for at in [now - 301, now + 301, now - 86_400] {
        let (status, problem) = answer(send("evt_window", &reference, at)).await;
        assert_eq!(status, 400, "{at}: {problem}");
        assert_eq!(
            problem["code"], "WEBHOOK_TIMESTAMP_OUT_OF_RANGE",
            "{problem}"
        );
    }
    // A good one, inside the window either way; the refused ones above recorded nothing.
    for (event, at) in [
        ("evt_window", now - 299),
        ("evt_early", now + 299),
        ("evt_now", now),
    ] {
        let (status, answer) = answer(send(event, &reference, at)).await;
        assert_eq!(status, 200, "{event}: {answer}");
    }
    // The same event again — the very same request, or re-signed now — is a replay.
    for at in [now, now - 10] {
        let (status, problem) = answer(send("evt_now", &reference, at)).await;
        assert_eq!(status, 409, "{problem}");
        assert_eq!(problem["code"], "WEBHOOK_REPLAYED", "{problem}");
    }
    // Another gateway's event ids are its own: the same id on the http gateway is no replay
    // of the sandbox's (it fails on its signature, not as a replay).
    let (status, _) = answer(
        app.req(Method::POST, "/api/v1/payments/webhook/http", None)
            .header("Content-Type", "application/json")
            .body(json!({"event_id": "evt_now", "reference": reference}).to_string()),
    )
    .await;
    assert_eq!(status, 401);
    // A webhook that could not be applied (unknown reference) is not remembered: its retry
    // gets the same answer, not "replayed".
    for _ in 0..2 {
        let (status, problem) = answer(send("evt_unknown", "no-such-reference", now)).await;
        assert_eq!(status, 404, "{problem}");
    }
    // The payment itself is untouched by all this (the sandbox still says pending).
    let (_, p) = app
        .get(&format!("/api/v1/payments/{}", payment["id"]), Some(alice))
        .await;
    assert_eq!(p["status"], "INITIATED", "{p}");
});

// Hole 7: X-Forwarded-For is believed from a trusted proxy only (the test profile trusts the
// loopback): the audit trail records the first address, from the right, that is not a proxy.
on_both!(
    hole_7_forwarded_for_is_read_from_trusted_proxies_only,
    |app| {
        let org = organizer(7);
        let (status, event) = app
            .send(
                app.req(Method::POST, "/api/v1/events", Some(org))
                    .header("X-Forwarded-For", "6.6.6.6, 203.0.113.5")
                    .json(&json!({
                        "name": "Audited",
                        "start_date": (app.clock_now() + chrono::Duration::days(5)).to_rfc3339(),
                        "max_participants": 5,
                        "price": "10.00",
                    })),
            )
            .await;
        assert_eq!(status, 201, "{event}");
        let (status, audit) = app
            .get(
                &format!(
                    "/api/v1/admin/audit?action=event.create&entity_id={}",
                    event["id"]
                ),
                Some(admin()),
            )
            .await;
        assert_eq!(status, 200, "{audit}");
        assert_eq!(audit["entries"][0]["client_ip"], "203.0.113.5", "{audit}");
    }
);

// Hole 7 (gateway headers): with the loopback not among the trusted proxies, the identity
// headers of a caller connecting directly are ignored — nobody becomes ADMIN by sending them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hole_7_gateway_headers_from_an_untrusted_peer_are_ignored() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("APP__SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/8"]"#)],
    )
    .await
    .unwrap();
    let (status, problem) = app.get("/api/v1/admin/audit", Some(admin())).await;
    assert_eq!(status, 401, "{problem}");
    let (status, problem) = app
        .post(
            "/api/v1/categories",
            Some(admin()),
            json!({"name": "Spoofed"}),
        )
        .await;
    assert_eq!(status, 401, "{problem}");
    let (status, categories) = app.get("/api/v1/categories", None).await;
    assert_eq!(status, 200);
    assert!(!categories.to_string().contains("Spoofed"), "{categories}");
}

// Hole 10: a caller whose role can never use a route is refused (401/403) before the body is
// read: the answer is the same whether the body is complete, incomplete or not JSON at all.
on_both!(hole_10_authorization_comes_before_body_validation, |app| {
    let cases: &[(Method, &str, Option<Who>, u16)] = &[
        (Method::POST, "/api/v1/events", Some(user(1)), 403),
        (Method::POST, "/api/v1/events", None, 401),
        (Method::PUT, "/api/v1/events/1", Some(user(1)), 403),
        (Method::POST, "/api/v1/categories", Some(organizer(1)), 403),
        (
            Method::POST,
            "/api/v1/admin/events/bulk-cancel",
            Some(organizer(1)),
            403,
        ),
        (Method::POST, "/api/v1/promo-codes", Some(user(1)), 403),
        (
            Method::POST,
            "/api/v1/reviews/1/moderate",
            Some(user(1)),
            403,
        ),
        (Method::POST, "/api/v1/bookings", None, 401),
        (Method::POST, "/api/v1/payments", None, 401),
        (Method::POST, "/api/events", Some(user(1)), 403),
        (
            Method::POST,
            "/internal/jobs/expire-bookings",
            Some(user(1)),
            403,
        ),
    ];
    for (method, path, who, expected) in cases {
        for body in ["{}", "{not json", r#"{"name": 1}"#] {
            let (status, problem) = app
                .send(
                    app.req(method.clone(), path, *who)
                        .header("Content-Type", "application/json")
                        .body(body),
                )
                .await;
            assert_eq!(status, *expected, "{method} {path} {body}: {problem}");
            let code = problem["code"].as_str().unwrap_or_default();
            assert!(
                code == "FORBIDDEN" || code == "UNAUTHENTICATED",
                "{method} {path} {body}: {problem}"
            );
        }
    }
    // A caller who may use the route still gets the validation answer.
    let (status, problem) = app
        .post("/api/v1/events", Some(organizer(1)), json!({}))
        .await;
    assert_eq!(status, 400, "{problem}");
});

// Hole 10 over gRPC: the same order — a caller whose role can never use the rpc is refused
// before the request is converted or validated (an empty CreateEvent is invalid).
on_both!(hole_10_grpc_authorization_comes_before_validation, |app| {
    use crate::grpc::{call, client};
    use adapters_grpc::pb;
    let mut grpc = client(&app).await;
    let denied = grpc
        .create_event(call(pb::CreateEventRequest::default(), Some(user(1))))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    let guest = grpc
        .create_event(call(pb::CreateEventRequest::default(), None))
        .await
        .unwrap_err();
    assert_eq!(guest.code(), tonic::Code::Unauthenticated, "{guest:?}");
    let guest = grpc
        .create_booking(call(pb::CreateBookingRequest::default(), None))
        .await
        .unwrap_err();
    assert_eq!(guest.code(), tonic::Code::Unauthenticated, "{guest:?}");
    let invalid = grpc
        .create_event(call(pb::CreateEventRequest::default(), Some(organizer(1))))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), tonic::Code::InvalidArgument, "{invalid:?}");
});

async fn headers_of(app: &TestApp, r: reqwest::RequestBuilder) -> reqwest::header::HeaderMap {
    let _ = app;
    r.send().await.unwrap().headers().clone()
}

// Hole 9: security headers on every answer; no-store on personal ones; a CSP fit for each
// kind of page; HSTS only when server.hsts is on.
on_both!(hole_9_security_headers, |app| {
    let h = |map: &reqwest::header::HeaderMap, name: &str| {
        map.get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let public = headers_of(&app, app.req(Method::GET, "/api/v1/events", None)).await;
    let personal = headers_of(
        &app,
        app.req(Method::GET, "/api/v1/bookings", Some(user(1))),
    )
    .await;
    let refused = headers_of(&app, app.req(Method::POST, "/api/v1/events", Some(user(1)))).await;
    let unknown = headers_of(&app, app.req(Method::GET, "/nothing", None)).await;
    for map in [&public, &personal, &refused, &unknown] {
        assert_eq!(h(map, "x-content-type-options"), "nosniff", "{map:?}");
        assert_eq!(h(map, "x-frame-options"), "DENY", "{map:?}");
        assert_eq!(h(map, "referrer-policy"), "no-referrer", "{map:?}");
        assert!(h(map, "content-security-policy").contains("frame-ancestors 'none'"));
        assert!(
            map.get("strict-transport-security").is_none(),
            "hsts is off by default"
        );
    }
    assert_eq!(h(&personal, "cache-control"), "no-store");
    assert_eq!(h(&refused, "cache-control"), "no-store");
    assert_eq!(
        h(&public, "cache-control"),
        "no-cache",
        "public reads stay cacheable (stored, then revalidated with their ETag)"
    );

    let page = headers_of(&app, app.req(Method::GET, "/sandbox/payments/sbx_x", None)).await;
    assert!(h(&page, "content-security-policy").contains("form-action 'self'"));
    assert_eq!(h(&page, "cache-control"), "no-store");
    let docs = headers_of(&app, app.req(Method::GET, "/docs/", None)).await;
    assert!(
        h(&docs, "content-security-policy").contains("script-src 'self'"),
        "{docs:?}"
    );
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hole_9_hsts_when_enabled() {
    let app = spawn_app_with(Backend::Sqlite, &[("APP__SERVER__HSTS", "true")])
        .await
        .unwrap();
    let map = headers_of(&app, app.req(Method::GET, "/actuator/health", None)).await;
    assert!(
        map.get("strict-transport-security")
            .is_some_and(|v| v.to_str().unwrap().starts_with("max-age=")),
        "{map:?}"
    );
}

// Information exposure: with the docs and the sandbox switched off (the prod defaults) their
// routes do not exist — 404, not a 405 that advertises them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_docs_and_sandbox_routes_are_404() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("APP__SERVER__API_DOCS", "false"),
            ("APP__PAYMENTS__GATEWAYS__SANDBOX__ENABLED", "false"),
            ("APP__PAYMENTS__DEFAULT_GATEWAY", "http"),
        ],
    )
    .await
    .unwrap();
    for (method, path) in [
        (Method::GET, "/docs/"),
        (Method::GET, "/api-docs/openapi.json"),
        (Method::GET, "/sandbox/payments/sbx_x"),
        (Method::POST, "/sandbox/payments/sbx_x"),
    ] {
        let (status, problem) = app.send(app.req(method.clone(), path, None)).await;
        assert_eq!(status, 404, "{method} {path}: {problem}");
    }
}

// Role strings are exact: USER, ORGANIZER, ADMIN (or ROLE_ADMIN …); `admin` is refused.
on_both!(role_names_are_exact, |app| {
    let id = "30000000-0000-4000-8000-000000000009";
    for (role, expected) in [
        ("admin", 401),
        ("Admin", 401),
        ("ROLE_ADMIN", 200),
        ("ADMIN", 200),
    ] {
        let (status, body) = app
            .send(
                app.req(Method::GET, "/api/v1/admin/audit", None)
                    .header("X-User-Id", id)
                    .header("X-User-Role", role),
            )
            .await;
        assert_eq!(status, expected, "{role}: {body}");
    }
});

// gRPC limits: a message larger than the HTTP body limit is refused before it is parsed, and
// reflection is served only where enabled (the prod default is off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_limits_message_size_and_reflection_off() {
    use adapters_grpc::pb;
    use futures_util::stream;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;

    use crate::grpc::{call, channel, client};
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("APP__GRPC__REFLECTION", "false"),
            ("APP__SERVER__MAX_BODY_BYTES", "4096"),
        ],
    )
    .await
    .unwrap();
    let mut grpc = client(&app).await;
    let big = pb::CreateEventRequest {
        name: "x".repeat(10_000),
        ..Default::default()
    };
    let refused = grpc
        .create_event(call(big, Some(organizer(1))))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::OutOfRange, "{refused:?}");

    let mut reflection = ServerReflectionClient::new(channel(&app).await);
    let answer = reflection
        .server_reflection_info(stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await;
    assert_eq!(
        answer.unwrap_err().code(),
        tonic::Code::Unimplemented,
        "reflection is off"
    );
}
