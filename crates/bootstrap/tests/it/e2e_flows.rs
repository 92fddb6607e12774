//! End-to-end flows over HTTP against the real app (SQLite and PostgreSQL): the happy path from
//! event creation to refund, every refund tier with the manual clock, idempotent replays,
//! optimistic locking, partial payments, failed payments, organizer cancellation, webhooks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::*;
use chrono::Duration;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// Sends and answers (status, headers, JSON body or Null).
async fn send_full(r: reqwest::RequestBuilder) -> (u16, HeaderMap, Value) {
    let response = r.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn event_json(app: &TestApp, id: i64, who: Option<Who>) -> Value {
    let (status, body) = app.get(&format!("/api/v1/events/{id}"), who).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn seats(app: &TestApp, id: i64) -> u64 {
    event_json(app, id, None).await["available_seats"]
        .as_u64()
        .unwrap()
}

async fn booking_json(app: &TestApp, id: i64, who: Who) -> Value {
    let (status, body) = app.get(&format!("/api/v1/bookings/{id}"), Some(who)).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn payment_json(app: &TestApp, id: i64, who: Who) -> Value {
    let (status, body) = app.get(&format!("/api/v1/payments/{id}"), Some(who)).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn pay(app: &TestApp, who: Who, booking_id: i64, amount: Option<&str>) -> Value {
    let mut body = json!({"booking_id": booking_id, "payment_method": "CARD"});
    if let Some(a) = amount {
        body["amount"] = json!(a);
    }
    let (status, payment) = app.post("/api/v1/payments", Some(who), body).await;
    assert_eq!(status, 201, "{payment}");
    assert_eq!(payment["status"], "INITIATED", "{payment}");
    payment
}

async fn sandbox(app: &TestApp, reference: &str, outcome: &str) -> Value {
    let (status, body) = app
        .post(
            &format!("/sandbox/payments/{reference}"),
            None,
            json!({"outcome": outcome}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn cancel_booking(app: &TestApp, who: Who, id: i64) -> Value {
    app.cancel_booking(who, id, json!({"reason": "plans changed"}))
        .await
}

fn is_ticket_code(code: &str) -> bool {
    code.starts_with("EVT-")
        && code.len() > 4
        && code
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || c == '-')
}

// 1. The happy path: create, publish, browse, book, pay, cancel with a full refund.
on_both!(happy_path, |app| {
    let org = organizer(1);
    let alice = user(1);
    let start = app.clock_now() + Duration::days(30);
    let (status, headers, created) = send_full(
        app.req(Method::POST, "/api/v1/events", Some(org))
            .json(&json!({
                "name": "Rafting on the Katun",
                "description": "Three days on the river",
                "start_date": start.to_rfc3339(),
                "max_participants": 10,
                "price": "1500.00",
                "location": "Altai",
            })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        header(&headers, "location"),
        Some(format!("/api/v1/events/{id}").as_str())
    );
    assert_eq!(created["status"], "DRAFT");
    assert_eq!(created["available_seats"], 10);

    // Not yet visible to guests.
    let (status, body) = app.get(&format!("/api/v1/events/{id}"), None).await;
    assert_eq!(status, 404, "{body}");

    let (status, published) = app
        .post(
            &format!("/api/v1/events/{id}/publish"),
            Some(org),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["status"], "PUBLISHED");

    // The guest sees it in the catalog and in details.
    let (status, catalog) = app.get("/api/v1/events", None).await;
    assert_eq!(status, 200, "{catalog}");
    assert_eq!(catalog["total_elements"], 1, "{catalog}");
    assert_eq!(catalog["events"][0]["id"], id);
    assert_eq!(catalog["events"][0]["available_seats"], 10);
    let details = event_json(&app, id, None).await;
    assert_eq!(details["name"], "Rafting on the Katun");
    assert_eq!(details["status"], "PUBLISHED");
    assert_eq!(details["available_seats"], 10);
    assert_eq!(details["price"], "1500.00");

    // Alice books two seats.
    let (status, headers, booking) = send_full(
        app.req(Method::POST, "/api/v1/bookings", Some(alice))
            .json(&json!({"event_id": id, "quantity": 2})),
    )
    .await;
    assert_eq!(status, 201, "{booking}");
    let booking_id = booking["id"].as_i64().unwrap();
    assert_eq!(
        header(&headers, "location"),
        Some(format!("/api/v1/bookings/{booking_id}").as_str())
    );
    assert_eq!(booking["status"], "PENDING_PAYMENT");
    assert_eq!(booking["quantity"], 2);
    assert_eq!(booking["total_price"], "3000.00");
    assert_eq!(booking["price_breakdown"]["unit_price"], "1500.00");
    assert_eq!(booking["price_breakdown"]["base"], "3000.00");
    assert_eq!(booking["price_breakdown"]["total"], "3000.00");
    assert_eq!(booking["user_id"], alice.id.to_string());
    let deadline: chrono::DateTime<chrono::Utc> = booking["payment_deadline"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(deadline > app.clock_now(), "{booking}");
    assert!(deadline <= start, "{booking}");
    assert!(booking["ticket_code"].is_null());
    assert_eq!(seats(&app, id).await, 8);

    // Payment through the sandbox.
    let payment = pay(&app, alice, booking_id, None).await;
    let payment_id = payment["id"].as_i64().unwrap();
    assert_eq!(payment["amount"], "3000.00");
    assert_eq!(payment["gateway"], "sandbox");
    let reference = payment["gateway_reference"].as_str().unwrap().to_owned();
    let url = payment["payment_url"].as_str().unwrap();
    assert!(
        url.ends_with(&format!("/sandbox/payments/{reference}")),
        "{url}"
    );
    let paid = sandbox(&app, &reference, "success").await;
    assert_eq!(paid, json!({"status": "COMPLETED"}), "the outcome only");

    let confirmed = booking_json(&app, booking_id, alice).await;
    assert_eq!(confirmed["status"], "CONFIRMED");
    let ticket = confirmed["ticket_code"].as_str().unwrap();
    assert!(is_ticket_code(ticket), "{ticket}");
    let payments = confirmed["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1, "{confirmed}");
    assert_eq!(payments[0]["id"], payment_id);
    assert_eq!(payments[0]["status"], "COMPLETED");
    assert_eq!(
        payment_json(&app, payment_id, alice).await["status"],
        "COMPLETED"
    );
    assert_eq!(seats(&app, id).await, 8);

    // Canceled 30 days ahead: a full refund, the seats come back.
    let canceled = cancel_booking(&app, alice, booking_id).await;
    assert_eq!(canceled["refund_percent"], "100", "{canceled}");
    assert_eq!(canceled["refund_amount"], "3000.00", "{canceled}");
    assert_eq!(canceled["booking"]["status"], "CANCELED");
    let after = booking_json(&app, booking_id, alice).await;
    assert_eq!(after["status"], "CANCELED");
    assert_eq!(after["canceled_reason"], "plans changed");
    assert_eq!(seats(&app, id).await, 10);
    let refunded = payment_json(&app, payment_id, alice).await;
    assert_eq!(refunded["status"], "REFUNDED", "{refunded}");
    assert_eq!(refunded["refund_amount"], "3000.00", "{refunded}");
    assert_eq!(refunded["booking_status"], "CANCELED");
});

/// Books and pays one seat of a fresh 1000.00 event starting `hours` from now, moves the clock
/// so that the cancellation happens exactly `before` hours ahead of the start, cancels, and
/// checks the refund.
async fn refund_case(
    app: &TestApp,
    n: u128,
    before: i64,
    percent: &str,
    amount: &str,
    status: &str,
) {
    let who = user(n);
    let event_id = app.published_event(organizer(1), 5, "1000.00", 10).await;
    let start: chrono::DateTime<chrono::Utc> = event_json(app, event_id, None).await["start_date"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (booking_id, payment_id) = app.confirmed_booking(who, event_id, 1).await;
    let saved = app.clock_now();
    app.clock.set(start - Duration::hours(before));
    let canceled = cancel_booking(app, who, booking_id).await;
    assert_eq!(
        canceled["refund_percent"], percent,
        "{before} h: {canceled}"
    );
    assert_eq!(canceled["refund_amount"], amount, "{before} h: {canceled}");
    assert_eq!(canceled["booking"]["status"], "CANCELED");
    let payment = payment_json(app, payment_id, who).await;
    assert_eq!(payment["status"], status, "{before} h: {payment}");
    assert_eq!(payment["refund_amount"], amount, "{before} h: {payment}");
    assert_eq!(payment["amount"], "1000.00");
    assert_eq!(
        booking_json(app, booking_id, who).await["status"],
        "CANCELED"
    );
    assert_eq!(seats(app, event_id).await, 5);
    app.clock.set(saved);
}

// 2. Refund tiers: ≥ 7 days 100%, 48 h exactly 80%, 24–48 h 50%, < 24 h 0%.
on_both!(refund_tiers, |app| {
    refund_case(&app, 1, 7 * 24, "100", "1000.00", "REFUNDED").await;
    refund_case(&app, 2, 7 * 24 - 1, "80", "800.00", "PARTIAL_REFUND").await;
    refund_case(&app, 3, 48, "80", "800.00", "PARTIAL_REFUND").await;
    refund_case(&app, 4, 30, "50", "500.00", "PARTIAL_REFUND").await;
    refund_case(&app, 5, 24, "50", "500.00", "PARTIAL_REFUND").await;
    refund_case(&app, 6, 10, "0", "0.00", "COMPLETED").await;
});

async fn list_bookings(app: &TestApp, who: Who, query: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/bookings{query}"), Some(who))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

// 3. Idempotency-Key on bookings and payments.
on_both!(idempotent_replay, |app| {
    let alice = user(1);
    let bob = user(2);
    let event_id = app.published_event(organizer(1), 10, "700.00", 20).await;
    let request = json!({"event_id": event_id, "quantity": 2});
    let post = |who: Who, key: &str, body: &Value| {
        app.req(Method::POST, "/api/v1/bookings", Some(who))
            .header("Idempotency-Key", key)
            .json(body)
    };

    let (s1, h1, first) = send_full(post(alice, "key-1", &request)).await;
    assert_eq!(s1, 201, "{first}");
    assert!(header(&h1, "idempotent-replayed").is_none());
    let (s2, h2, second) = send_full(post(alice, "key-1", &request)).await;
    assert_eq!(s2, 201, "{second}");
    assert_eq!(second, first);
    assert_eq!(header(&h2, "idempotent-replayed"), Some("true"));
    assert_eq!(header(&h2, "location"), header(&h1, "location"));
    let listed = list_bookings(&app, alice, "").await;
    assert_eq!(listed["total_elements"], 1, "{listed}");
    assert_eq!(seats(&app, event_id).await, 8);

    // Same key, different body.
    let (status, _, problem) = send_full(post(
        alice,
        "key-1",
        &json!({"event_id": event_id, "quantity": 3}),
    ))
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(list_bookings(&app, alice, "").await["total_elements"], 1);
    assert_eq!(seats(&app, event_id).await, 8);

    // The same key for another user is another request.
    let (status, headers, bobs) = send_full(post(bob, "key-1", &request)).await;
    assert_eq!(status, 201, "{bobs}");
    assert!(header(&headers, "idempotent-replayed").is_none());
    assert_ne!(bobs["id"], first["id"]);
    assert_eq!(bobs["user_id"], bob.id.to_string());
    assert_eq!(list_bookings(&app, bob, "").await["total_elements"], 1);
    assert_eq!(seats(&app, event_id).await, 6);

    // Payments.
    let booking_id = first["id"].as_i64().unwrap();
    let pay_req = json!({"booking_id": booking_id, "payment_method": "CARD"});
    let post_pay = |key: &str, body: &Value| {
        app.req(Method::POST, "/api/v1/payments", Some(alice))
            .header("Idempotency-Key", key)
            .json(body)
    };
    let (s1, _, p1) = send_full(post_pay("pay-1", &pay_req)).await;
    assert_eq!(s1, 201, "{p1}");
    let (s2, h2, p2) = send_full(post_pay("pay-1", &pay_req)).await;
    assert_eq!(s2, 201, "{p2}");
    assert_eq!(p2, p1);
    assert_eq!(header(&h2, "idempotent-replayed"), Some("true"));
    let details = booking_json(&app, booking_id, alice).await;
    assert_eq!(
        details["payments"].as_array().unwrap().len(),
        1,
        "{details}"
    );
    let (status, _, problem) = send_full(post_pay(
        "pay-1",
        &json!({"booking_id": booking_id, "payment_method": "SBP"}),
    ))
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "IDEMPOTENCY_KEY_REUSED");
    let details = booking_json(&app, booking_id, alice).await;
    assert_eq!(details["payments"].as_array().unwrap().len(), 1);
});

// 4. Optimistic locking on PUT /events/{id}.
on_both!(optimistic_lock, |app| {
    let org = organizer(1);
    let id = app.published_event(org, 10, "100.00", 10).await;
    let (status, headers, event) =
        send_full(app.req(Method::GET, &format!("/api/v1/events/{id}"), None)).await;
    assert_eq!(status, 200);
    let v0 = event["version"].as_i64().unwrap();
    // The details' ETag is `"<version>-<hash of the body>"`; If-Match takes it whole.
    let etag0 = header(&headers, "etag").unwrap().to_owned();
    assert!(etag0.starts_with(&format!("\"{v0}-")), "{etag0}");

    // Someone else changes it first.
    let (status, headers, updated) = send_full(
        app.req(Method::PUT, &format!("/api/v1/events/{id}"), Some(org))
            .header("If-Match", &etag0)
            .json(&json!({"name": "First edit"})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], v0 + 1);
    assert_eq!(updated["name"], "First edit");
    let etag1 = format!("\"{}\"", v0 + 1);
    assert_eq!(header(&headers, "etag"), Some(etag1.as_str()));

    // A stale If-Match loses.
    let (status, _, problem) = send_full(
        app.req(Method::PUT, &format!("/api/v1/events/{id}"), Some(org))
            .header("If-Match", &etag0)
            .json(&json!({"name": "Stale edit"})),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "VERSION_CONFLICT");
    // A stale body version loses too.
    let (status, problem) = app
        .put(
            &format!("/api/v1/events/{id}"),
            Some(org),
            json!({"name": "Stale edit", "version": v0}),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "VERSION_CONFLICT");
    let now = event_json(&app, id, None).await;
    assert_eq!(now["name"], "First edit");
    assert_eq!(now["version"], v0 + 1);

    // The current version wins.
    let (status, updated) = app
        .put(
            &format!("/api/v1/events/{id}"),
            Some(org),
            json!({"name": "Second edit", "version": v0 + 1}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], v0 + 2);
    let (status, _, updated) = send_full(
        app.req(Method::PUT, &format!("/api/v1/events/{id}"), Some(org))
            .header("If-Match", format!("\"{}\"", v0 + 2))
            .json(&json!({"description": "now with a description"})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], v0 + 3);
    let now = event_json(&app, id, None).await;
    assert_eq!(now["name"], "Second edit");
    assert_eq!(now["description"], "now with a description");
    assert_eq!(now["version"], v0 + 3);
});

// 5. Partial payments.
on_both!(partial_payments, |app| {
    let alice = user(1);
    let event_id = app.published_event(organizer(1), 10, "1000.00", 10).await;
    let booking_id = app.book(alice, event_id, 1).await["id"].as_i64().unwrap();

    let first = pay(&app, alice, booking_id, Some("400.00")).await;
    assert_eq!(first["amount"], "400.00");
    let done = sandbox(
        &app,
        first["gateway_reference"].as_str().unwrap(),
        "success",
    )
    .await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let b = booking_json(&app, booking_id, alice).await;
    assert_eq!(b["status"], "PENDING_PAYMENT");
    assert!(b["ticket_code"].is_null());

    // More than the 600.00 still owed.
    let (status, problem) = app
        .post(
            "/api/v1/payments",
            Some(alice),
            json!({"booking_id": booking_id, "payment_method": "CARD", "amount": "600.01"}),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "PAYMENT_EXCEEDS_OUTSTANDING", "{problem}");

    let rest = pay(&app, alice, booking_id, None).await;
    assert_eq!(rest["amount"], "600.00", "{rest}");
    let done = sandbox(&app, rest["gateway_reference"].as_str().unwrap(), "success").await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let b = booking_json(&app, booking_id, alice).await;
    assert_eq!(b["status"], "CONFIRMED");
    assert!(is_ticket_code(b["ticket_code"].as_str().unwrap()), "{b}");
    let payments = b["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 2, "{b}");
    assert!(payments.iter().all(|p| p["status"] == "COMPLETED"), "{b}");

    // Nothing is owed any more.
    let (status, problem) = app
        .post(
            "/api/v1/payments",
            Some(alice),
            json!({"booking_id": booking_id, "payment_method": "CARD"}),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "BOOKING_NOT_PAYABLE", "{problem}");
});

// 5b. A booking that expires half paid gives the partial payment back and stays EXPIRED.
on_both!(expiry_refunds_partial_payments, |app| {
    let alice = user(1);
    let event_id = app.published_event(organizer(1), 10, "1000.00", 10).await;
    let booking_id = app.book(alice, event_id, 1).await["id"].as_i64().unwrap();
    let first = pay(&app, alice, booking_id, Some("400.00")).await;
    let done = sandbox(
        &app,
        first["gateway_reference"].as_str().unwrap(),
        "success",
    )
    .await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(
        booking_json(&app, booking_id, alice).await["status"],
        "PENDING_PAYMENT"
    );

    // Past the deadline (test profile: ttl) and the grace period.
    app.clock.advance(Duration::hours(2));
    assert_eq!(
        app.services
            .bookings
            .expire_due(std::time::Duration::from_secs(60))
            .await
            .unwrap(),
        1
    );

    let b = booking_json(&app, booking_id, alice).await;
    assert_eq!(b["status"], "EXPIRED", "{b}");
    let payment = &b["payments"][0];
    assert_eq!(payment["status"], "REFUNDED", "{b}");
    assert_eq!(payment["refund_amount"], "400.00", "{b}");
    let (_, event) = app.get(&format!("/api/v1/events/{event_id}"), None).await;
    assert_eq!(event["available_seats"], 10, "{event}");
});

// 6. A failed payment leaves the booking payable; confirmation by reference is idempotent.
on_both!(failure_and_confirm, |app| {
    let alice = user(1);
    let event_id = app.published_event(organizer(1), 10, "250.00", 10).await;
    let booking_id = app.book(alice, event_id, 2).await["id"].as_i64().unwrap();

    let failed = pay(&app, alice, booking_id, None).await;
    let failed_id = failed["id"].as_i64().unwrap();
    let result = sandbox(
        &app,
        failed["gateway_reference"].as_str().unwrap(),
        "failure",
    )
    .await;
    assert_eq!(result, json!({"status": "FAILED"}), "the outcome only");
    let p = payment_json(&app, failed_id, alice).await;
    assert_eq!(p["status"], "FAILED");
    assert_eq!(
        booking_json(&app, booking_id, alice).await["status"],
        "PENDING_PAYMENT"
    );
    assert_eq!(seats(&app, event_id).await, 8);

    // Retry and succeed; then confirm the reference twice.
    let retry = pay(&app, alice, booking_id, None).await;
    assert_eq!(retry["amount"], "500.00");
    let reference = retry["gateway_reference"].as_str().unwrap().to_owned();
    sandbox(&app, &reference, "success").await;
    let paid = booking_json(&app, booking_id, alice).await;
    assert_eq!(paid["status"], "CONFIRMED");
    let (s1, c1) = app
        .post(
            "/api/v1/payments/confirm",
            Some(alice),
            json!({"gateway_reference": reference}),
        )
        .await;
    assert_eq!(s1, 200, "{c1}");
    assert_eq!(c1["status"], "COMPLETED");
    assert_eq!(c1["booking_status"], "CONFIRMED");
    let (s2, c2) = app
        .post(
            "/api/v1/payments/confirm",
            Some(alice),
            json!({"gateway_reference": reference}),
        )
        .await;
    assert_eq!(s2, 200, "{c2}");
    assert_eq!(c2, c1);
    let b = booking_json(&app, booking_id, alice).await;
    assert_eq!(b["status"], "CONFIRMED");
    assert_eq!(b["ticket_code"], paid["ticket_code"]);
    assert_eq!(b["payments"].as_array().unwrap().len(), 2);
    assert_eq!(seats(&app, event_id).await, 8);
});

// 7. The organizer cancels the event < 24 h before the start: everyone refunded in full.
on_both!(event_cancel_by_organizer, |app| {
    let org = organizer(1);
    let alice = user(1);
    let bob = user(2);
    let event_id = app.published_event(org, 10, "1200.00", 3).await;
    let (paid_id, payment_id) = app.confirmed_booking(alice, event_id, 2).await;
    let pending_id = app.book(bob, event_id, 1).await["id"].as_i64().unwrap();
    assert_eq!(seats(&app, event_id).await, 7);

    // 12 hours before the start.
    app.clock.advance(Duration::days(3) - Duration::hours(12));
    let (status, done) = app
        .post(
            &format!("/api/v1/events/{event_id}/cancel"),
            Some(org),
            json!({"reason": "river too high"}),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["bookings_canceled"], 2, "{done}");
    assert_eq!(done["refunds_total"], "2400.00", "{done}");
    assert_eq!(done["event"]["status"], "CANCELED");

    let a = booking_json(&app, paid_id, alice).await;
    assert_eq!(a["status"], "CANCELED");
    let b = booking_json(&app, pending_id, bob).await;
    assert_eq!(b["status"], "CANCELED");
    let p = payment_json(&app, payment_id, alice).await;
    assert_eq!(p["status"], "REFUNDED", "{p}");
    assert_eq!(p["refund_amount"], "2400.00", "{p}");
    let e = event_json(&app, event_id, Some(org)).await;
    assert_eq!(e["status"], "CANCELED");
    assert_eq!(e["canceled_reason"], "river too high");
    assert_eq!(e["available_seats"], 10);
});

// 8. Webhooks: a bad signature is 401, an unknown gateway 404.
on_both!(webhook_rejections, |app| {
    let alice = user(1);
    let event_id = app.published_event(organizer(1), 10, "100.00", 10).await;
    let booking_id = app.book(alice, event_id, 1).await["id"].as_i64().unwrap();
    let payment = pay(&app, alice, booking_id, None).await;
    let reference = payment["gateway_reference"].as_str().unwrap();
    let body =
        json!({"gateway_reference": reference, "reference": reference, "status": "COMPLETED"})
            .to_string();

    let (status, _, problem) = send_full(
        app.req(Method::POST, "/api/v1/payments/webhook/sandbox", None)
            .header("Content-Type", "application/json")
            .header("X-Signature", "sha256=00deadbeef")
            .body(body.clone()),
    )
    .await;
    assert_eq!(status, 401, "{problem}");
    let (status, _, problem) = send_full(
        app.req(Method::POST, "/api/v1/payments/webhook/sandbox", None)
            .header("Content-Type", "application/json")
            .body(body.clone()),
    )
    .await;
    assert_eq!(status, 401, "{problem}");

    let (status, _, problem) = send_full(
        app.req(Method::POST, "/api/v1/payments/webhook/nosuchgateway", None)
            .header("Content-Type", "application/json")
            .header("X-Signature", "sha256=00deadbeef")
            .body(body),
    )
    .await;
    assert_eq!(status, 404, "{problem}");

    // Nothing was applied.
    let p = payment_json(&app, payment["id"].as_i64().unwrap(), alice).await;
    assert_eq!(p["status"], "INITIATED");
    assert_eq!(
        booking_json(&app, booking_id, alice).await["status"],
        "PENDING_PAYMENT"
    );

    // A well-signed notice (the test profile's secret) is applied, and applying it again
    // changes nothing.
    let signer = adapters_payment::SandboxGateway::new(adapters_payment::SandboxConfig {
        public_base_url: app.base.clone(),
        webhook_secret: "sandbox-webhook-secret".to_owned(),
    });
    sandbox(&app, reference, "success").await;
    let paid = booking_json(&app, booking_id, alice).await;
    assert_eq!(paid["status"], "CONFIRMED");
    let now = app.clock_now().timestamp();
    for event in ["evt_a", "evt_b"] {
        let signed = json!({"event_id": event, "reference": reference}).to_string();
        let (status, _, answer) = send_full(
            app.req(Method::POST, "/api/v1/payments/webhook/sandbox", None)
                .header("Content-Type", "application/json")
                .header("X-Sandbox-Signature", signer.sign(now, signed.as_bytes()))
                .body(signed.clone()),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    }
    let b = booking_json(&app, booking_id, alice).await;
    assert_eq!(b["status"], "CONFIRMED");
    assert_eq!(b["ticket_code"], paid["ticket_code"]);
    assert_eq!(b["payments"].as_array().unwrap().len(), 1);

    // Well signed, unknown reference.
    let unknown = json!({"event_id": "evt_c", "reference": "no-such-reference"}).to_string();
    let (status, _, problem) = send_full(
        app.req(Method::POST, "/api/v1/payments/webhook/sandbox", None)
            .header("Content-Type", "application/json")
            .header("X-Sandbox-Signature", signer.sign(now, unknown.as_bytes()))
            .body(unknown.clone()),
    )
    .await;
    assert_eq!(status, 404, "{problem}");
});

// 9. Edge cases around payments and cancellations.
on_both!(payment_edges, |app| {
    let alice = user(1);
    let bob = user(2);
    let event_id = app.published_event(organizer(1), 10, "1000.00", 10).await;

    // An INITIATED payment counts against what is owed: the next one asks for the rest.
    let booking_id = app.book(alice, event_id, 1).await["id"].as_i64().unwrap();
    let first = pay(&app, alice, booking_id, Some("400.00")).await;
    let rest = pay(&app, alice, booking_id, None).await;
    assert_eq!(rest["amount"], "600.00", "{rest}");
    let (status, problem) = app
        .post(
            "/api/v1/payments",
            Some(alice),
            json!({"booking_id": booking_id, "payment_method": "CARD", "amount": "0.01"}),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "PAYMENT_EXCEEDS_OUTSTANDING", "{problem}");
    sandbox(&app, rest["gateway_reference"].as_str().unwrap(), "success").await;
    assert_eq!(
        booking_json(&app, booking_id, alice).await["status"],
        "PENDING_PAYMENT"
    );
    sandbox(
        &app,
        first["gateway_reference"].as_str().unwrap(),
        "success",
    )
    .await;
    assert_eq!(
        booking_json(&app, booking_id, alice).await["status"],
        "CONFIRMED"
    );

    // A payment completing after its booking was canceled is refunded, never resurrecting it.
    let pending = app.book(bob, event_id, 1).await["id"].as_i64().unwrap();
    let late = pay(&app, bob, pending, None).await;
    let canceled = cancel_booking(&app, bob, pending).await;
    assert_eq!(canceled["refund_amount"], "0.00", "{canceled}");
    assert_eq!(seats(&app, event_id).await, 9);
    let after = sandbox(&app, late["gateway_reference"].as_str().unwrap(), "success").await;
    assert_eq!(after["status"], "REFUNDED", "{after}");
    let late = payment_json(&app, late["id"].as_i64().unwrap(), bob).await;
    assert_eq!(late["refund_amount"], "1000.00", "{late}");
    let b = booking_json(&app, pending, bob).await;
    assert_eq!(b["status"], "CANCELED");
    assert!(b["ticket_code"].is_null());
    assert_eq!(seats(&app, event_id).await, 9);

    // Canceling twice is an invalid transition.
    let (status, problem) = app
        .post(
            &format!("/api/v1/bookings/{pending}/cancel"),
            Some(bob),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "INVALID_TRANSITION");

    // Quantity out of range; bookings closed once the event has started.
    let (status, problem) = app
        .post(
            "/api/v1/bookings",
            Some(user(3)),
            json!({"event_id": event_id, "quantity": 0}),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["code"], "VALIDATION_FAILED");
    assert_eq!(problem["errors"][0]["field"], "quantity");
    app.clock.advance(Duration::days(10) + Duration::seconds(1));
    let (status, problem) = app
        .post(
            "/api/v1/bookings",
            Some(user(3)),
            json!({"event_id": event_id, "quantity": 1}),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "BOOKING_CLOSED");
    assert_eq!(seats(&app, event_id).await, 9);
});

// 10. Concurrency: no overselling, and one booking per idempotency key under a burst.
on_both!(concurrent_bookings, |app| {
    let event_id = app.published_event(organizer(1), 5, "100.00", 10).await;
    let attempts = (1..=16u128).map(|n| {
        app.post(
            "/api/v1/bookings",
            Some(user(n)),
            json!({"event_id": event_id, "quantity": 1}),
        )
    });
    let results = futures_join_all(attempts).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 5, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["code"], "SOLD_OUT", "{body}");
    }
    assert_eq!(seats(&app, event_id).await, 0);
    let (status, all) = app
        .get(
            &format!("/api/v1/bookings?event_id={event_id}"),
            Some(admin()),
        )
        .await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total_elements"], 5, "{all}");

    // The same key sent eight times at once by one user: one booking.
    let other = app.published_event(organizer(1), 10, "100.00", 10).await;
    let alice = user(100);
    let burst = (0..8).map(|_| {
        app.send(
            app.req(Method::POST, "/api/v1/bookings", Some(alice))
                .header("Idempotency-Key", "burst-1")
                .json(&json!({"event_id": other, "quantity": 2})),
        )
    });
    let results = futures_join_all(burst).await;
    let ids: std::collections::BTreeSet<i64> = results
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    for (status, body) in &results {
        assert!(
            *status == 201 || (*status == 409 && body["code"] == "IDEMPOTENCY_KEY_IN_USE"),
            "{status} {body}"
        );
    }
    let (status, mine) = app
        .get(&format!("/api/v1/bookings?event_id={other}"), Some(alice))
        .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["total_elements"], 1, "{mine}");
    assert_eq!(seats(&app, other).await, 8);
});

/// Runs the futures concurrently on the test runtime and answers their results in order.
async fn futures_join_all<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out = Vec::with_capacity(set.len());
    // Poll all together: a tiny join_all without extra dependencies.
    let mut pending: Vec<Option<std::pin::Pin<Box<F>>>> = set.into_iter().map(Some).collect();
    let mut results: Vec<Option<T>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().map(Option::unwrap));
    out
}

on_both!(event_creation_and_cancellation_are_idempotent, |app| {
    let body = serde_json::json!({
        "name": "Idempotent regatta",
        "start_date": (app.clock_now() + chrono::Duration::days(20)).to_rfc3339(),
        "max_participants": 5,
        "price": "100.00",
        "auto_publish": true,
    });
    let send = |b: serde_json::Value| {
        app.req(reqwest::Method::POST, "/api/v1/events", Some(organizer(7)))
            .header("Idempotency-Key", "create-regatta")
            .json(&b)
    };
    let (s1, first) = app.send(send(body.clone())).await;
    let (s2, second) = app.send(send(body.clone())).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first, second);
    let (_, mine) = app
        .get("/api/v1/events?mine=true", Some(organizer(7)))
        .await;
    assert_eq!(mine["total_elements"], 1, "{mine}");
    let mut other = body.clone();
    other["max_participants"] = serde_json::json!(6);
    let (s3, problem) = app.send(send(other)).await;
    assert_eq!(s3, 422);
    assert_eq!(problem["code"], "IDEMPOTENCY_KEY_REUSED");

    let id = first["id"].as_i64().unwrap();
    let cancel = || {
        app.req(
            reqwest::Method::POST,
            &format!("/api/v1/events/{id}/cancel"),
            Some(organizer(7)),
        )
        .header("Idempotency-Key", "cancel-regatta")
        .json(&serde_json::json!({"reason": "storm"}))
    };
    let (c1, done1) = app.send(cancel()).await;
    let (c2, done2) = app.send(cancel()).await;
    assert_eq!((c1, c2), (200, 200), "{done1} {done2}");
    assert_eq!(done1, done2);
    assert_eq!(done1["event"]["status"], "CANCELED");
});
