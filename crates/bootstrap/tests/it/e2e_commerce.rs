//! Commerce over HTTP: the pricing pipeline of PRODUCT.md §7 as bookings show it, price
//! options, promo codes (CRUD, permissions, validation, concurrent redemption), the loyalty
//! account, and the admin surface (audit query, bulk cancel/reschedule, popularity report,
//! event stats). Every test runs on SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::too_many_lines
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use application::outbox::DomainEventType;
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::support::{Backend, TestApp, Who, admin, organizer, spawn_app, user};

/// Creates and publishes an event with `extra` fields merged into the request; answers its id.
async fn event_with(app: &TestApp, who: Who, seats: u32, price: &str, extra: Value) -> i64 {
    let start = app.clock_now() + chrono::Duration::days(30);
    let mut body = json!({
        "name": "Commerce event",
        "start_date": start.to_rfc3339(),
        "end_date": (start + chrono::Duration::hours(3)).to_rfc3339(),
        "max_participants": seats,
        "price": price,
        "auto_publish": true,
    });
    if let (Some(map), Value::Object(more)) = (body.as_object_mut(), extra) {
        map.extend(more);
    }
    let (status, created) = app.post("/api/v1/events", Some(who), body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_i64().unwrap()
}

async fn book(app: &TestApp, who: Who, body: Value) -> (u16, Value) {
    app.post("/api/v1/bookings", Some(who), body).await
}

async fn create_promo(app: &TestApp, who: Who, body: Value) -> Value {
    let (status, created) = app.post("/api/v1/promo-codes", Some(who), body).await;
    assert_eq!(status, 201, "{created}");
    created
}

async fn delete(app: &TestApp, path: &str, who: Option<Who>) -> (u16, Value) {
    app.send(app.req(reqwest::Method::DELETE, path, who)).await
}

fn breakdown(b: &Value) -> BTreeMap<String, String> {
    [
        "unit_price",
        "base",
        "dynamic_adjustment",
        "group_discount",
        "promo_discount",
        "loyalty_discount",
        "total",
    ]
    .into_iter()
    .map(|k| {
        (
            k.to_owned(),
            b["price_breakdown"][k].as_str().unwrap_or("?").to_owned(),
        )
    })
    .collect()
}

fn expect_breakdown(b: &Value, expected: &[(&str, &str)]) {
    let want: BTreeMap<String, String> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(breakdown(b), want, "{b}");
}

fn field_of(problem: &Value) -> String {
    problem["errors"][0]["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The outbox rows of one kind (read in a transaction that is rolled back).
async fn outbox_of(app: &TestApp, kind: DomainEventType) -> Vec<Value> {
    let tx = app.services.uow.begin().await.unwrap();
    let far = app.clock_now() + chrono::Duration::days(3650);
    let rows = tx.outbox().claim_batch(far, 10_000).await.unwrap();
    rows.into_iter()
        .filter(|r| r.message.event_type == kind)
        .map(|r| r.message.payload)
        .collect()
}

// --- pricing ------------------------------------------------------------------------------

on_both!(the_spec_pricing_example_shows_every_line, |app| {
    let org = organizer(1);
    let customer = user(1);
    // Points first: a confirmed booking of 3000.00 earns 30 points (0.01 per unit).
    let earning = event_with(&app, org, 5, "3000.00", json!({})).await;
    let (earned_booking, _) = app.confirmed_booking(customer, earning, 1).await;
    let (status, account) = app.get("/api/v1/loyalty", Some(customer)).await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["balance"], 30, "{account}");
    assert_eq!(account["point_value"], "1.00");
    assert_eq!(account["history"][0]["kind"], "BOOKING_EARNED");
    assert_eq!(account["history"][0]["points"], 30);
    assert_eq!(account["history"][0]["booking_id"], earned_booking);

    // 1000.00, capacity 10, ≥0.5 full → ×1.10, ≥0.8 → ×1.25, groups of 3+ → 10% off.
    let event = event_with(
        &app,
        org,
        10,
        "1000.00",
        json!({"pricing_rules": {
            "dynamic": [
                {"min_fill_ratio": "0.5", "multiplier": "1.10"},
                {"min_fill_ratio": "0.8", "multiplier": "1.25"},
            ],
            "group": [{"min_quantity": 3, "percent": "10"}],
        }}),
    )
    .await;
    // Before anyone books: no dynamic adjustment.
    let promo = create_promo(
        &app,
        org,
        json!({"code": "spring-10", "discount_percentage": 10, "event_id": event}),
    )
    .await;
    assert_eq!(promo["code"], "SPRING-10", "normalized: {promo}");
    let (status, quote) = app
        .post(
            "/api/v1/promo-codes/Spring-10/validate",
            Some(customer),
            json!({"event_id": event, "quantity": 1}),
        )
        .await;
    assert_eq!(status, 200, "{quote}");
    expect_breakdown(
        &quote,
        &[
            ("unit_price", "1000.00"),
            ("base", "1000.00"),
            ("dynamic_adjustment", "0.00"),
            ("group_discount", "0.00"),
            ("promo_discount", "100.00"),
            ("loyalty_discount", "0.00"),
            ("total", "900.00"),
        ],
    );

    // Five seats taken: fill ratio 0.5.
    for n in 11..=15 {
        let (status, b) = book(&app, user(n), json!({"event_id": event, "quantity": 1})).await;
        assert_eq!(status, 201, "{b}");
    }
    let (status, quote) = app
        .post(
            "/api/v1/promo-codes/SPRING-10/validate",
            Some(customer),
            json!({"event_id": event, "quantity": 3}),
        )
        .await;
    assert_eq!(status, 200, "{quote}");
    assert_eq!(quote["promo_discount"], "297.00", "{quote}");
    assert_eq!(quote["discount_percentage"], 10, "{quote}");
    expect_breakdown(
        &quote,
        &[
            ("unit_price", "1000.00"),
            ("base", "3000.00"),
            ("dynamic_adjustment", "300.00"),
            ("group_discount", "330.00"),
            ("promo_discount", "297.00"),
            ("loyalty_discount", "0.00"),
            ("total", "2673.00"),
        ],
    );

    // 3 seats: 3000 + 300 (×1.10) − 330 (10% group) − 297 (10% promo) − 25 points = 2648.
    let (status, booking) = book(
        &app,
        customer,
        json!({"event_id": event, "quantity": 3, "promo_code": " spring-10 ", "use_loyalty_points": 25}),
    )
    .await;
    assert_eq!(status, 201, "{booking}");
    expect_breakdown(
        &booking,
        &[
            ("unit_price", "1000.00"),
            ("base", "3000.00"),
            ("dynamic_adjustment", "300.00"),
            ("group_discount", "330.00"),
            ("promo_discount", "297.00"),
            ("loyalty_discount", "25.00"),
            ("total", "2648.00"),
        ],
    );
    assert_eq!(booking["price_breakdown"]["loyalty_points_used"], 25);
    assert_eq!(booking["total_price"], "2648.00");
    assert_eq!(booking["status"], "PENDING_PAYMENT");
    let booking_id = booking["id"].as_i64().unwrap();

    let (_, code) = app
        .get(&format!("/api/v1/promo-codes/{}", promo["id"]), Some(org))
        .await;
    assert_eq!(code["current_uses"], 1, "{code}");

    // Points spent: 30 − 25.
    let (_, account) = app.get("/api/v1/loyalty", Some(customer)).await;
    assert_eq!(account["balance"], 5, "{account}");
    assert_eq!(account["history"][0]["kind"], "REDEEMED", "{account}");
    assert_eq!(account["history"][0]["points"], -25);
    assert_eq!(account["history"][0]["booking_id"], booking_id);
    assert_eq!(account["total_elements"], 2);

    // Canceling the unpaid booking gives the points back.
    app.cancel_booking(customer, booking_id, json!({})).await;
    let (_, account) = app.get("/api/v1/loyalty?size=1", Some(customer)).await;
    assert_eq!(account["balance"], 30, "{account}");
    assert_eq!(account["history"][0]["kind"], "REDEMPTION_REVERSED");
    assert_eq!(account["history"][0]["points"], 25);
    assert_eq!(account["total_elements"], 3);
    assert_eq!(account["total_pages"], 3);

    // Someone else's account: admin yes, user no.
    let path = format!("/api/v1/loyalty?user_id={}", customer.id);
    let (status, seen) = app.get(&path, Some(admin())).await;
    assert_eq!(
        (status, seen["balance"].clone()),
        (200, json!(30)),
        "{seen}"
    );
    let (status, _) = app.get(&path, Some(user(2))).await;
    assert_eq!(status, 403);
    let (status, _) = app.get("/api/v1/loyalty", None).await;
    assert_eq!(status, 401);
});

on_both!(fixed_promos_price_options_and_the_floor_at_zero, |app| {
    let org = organizer(1);
    let event = event_with(&app, org, 20, "100.00", json!({})).await;
    let options = format!("/api/v1/events/{event}/price-options");

    // Price options: the creator adds one; others may not.
    let vip = json!({"name": "VIP", "price": "250.00", "quantity_available": 5});
    let (status, _) = app.post(&options, Some(user(1)), vip.clone()).await;
    assert_eq!(status, 403);
    let (status, _) = app.post(&options, Some(organizer(2)), vip.clone()).await;
    assert_eq!(status, 404);
    let (status, _) = app.post(&options, None, vip.clone()).await;
    assert_eq!(status, 401);
    let (status, option) = app.post(&options, Some(org), vip).await;
    assert_eq!(status, 201, "{option}");
    let option_id = option["id"].as_i64().unwrap();
    let (status, bad) = app
        .post(
            &options,
            Some(org),
            json!({"name": "Bad", "price": "-1.00"}),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(field_of(&bad), "price_options.price", "{bad}");

    // Unscoped fixed codes are for admins.
    let (status, refused) = app
        .post(
            "/api/v1/promo-codes",
            Some(org),
            json!({"code": "MINUS50", "discount_amount": "50.00"}),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    create_promo(
        &app,
        admin(),
        json!({"code": "MINUS50", "discount_amount": "50.00"}),
    )
    .await;

    // 2 × VIP 250.00 − 50.00.
    let (status, booking) = book(
        &app,
        user(1),
        json!({"event_id": event, "quantity": 2, "price_option_id": option_id, "promo_code": "minus50"}),
    )
    .await;
    assert_eq!(status, 201, "{booking}");
    assert_eq!(booking["price_option_id"], option_id);
    expect_breakdown(
        &booking,
        &[
            ("unit_price", "250.00"),
            ("base", "500.00"),
            ("dynamic_adjustment", "0.00"),
            ("group_discount", "0.00"),
            ("promo_discount", "50.00"),
            ("loyalty_discount", "0.00"),
            ("total", "450.00"),
        ],
    );
    let (status, list) = app.get(&options, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["price_options"][0]["quantity_available"], 3, "{list}");

    // A fixed amount above the price: floored at 0, confirmed at once with a ticket.
    create_promo(
        &app,
        admin(),
        json!({"code": "FREE500", "discount_amount": 500, "event_id": event}),
    )
    .await;
    let (status, free) = book(
        &app,
        user(2),
        json!({"event_id": event, "quantity": 1, "promo_code": "FREE500"}),
    )
    .await;
    assert_eq!(status, 201, "{free}");
    expect_breakdown(
        &free,
        &[
            ("unit_price", "100.00"),
            ("base", "100.00"),
            ("dynamic_adjustment", "0.00"),
            ("group_discount", "0.00"),
            ("promo_discount", "100.00"),
            ("loyalty_discount", "0.00"),
            ("total", "0.00"),
        ],
    );
    assert_eq!(free["status"], "CONFIRMED", "{free}");
    assert!(free["ticket_code"].is_string(), "{free}");

    // Replace, then deactivate: kept for the organizer, hidden from the public, not bookable.
    let one = format!("{options}/{option_id}");
    let (status, replaced) = app
        .put(
            &one,
            Some(org),
            json!({"name": "VIP+", "price": "300.00", "quantity_available": 4}),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(
        (replaced["name"].clone(), replaced["price"].clone()),
        (json!("VIP+"), json!("300.00"))
    );
    let (status, _) = app
        .put(
            &format!("{options}/999999"),
            Some(org),
            json!({"name": "X", "price": "1"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = delete(&app, &one, Some(organizer(2))).await;
    assert_eq!(status, 404);
    let (status, off) = delete(&app, &one, Some(org)).await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(off["is_active"], false);
    assert_eq!(off["quantity_available"], 4, "stock kept: {off}");
    let (_, public) = app.get(&options, Some(user(3))).await;
    assert_eq!(public["price_options"], json!([]), "{public}");
    let (_, managed) = app.get(&options, Some(org)).await;
    assert_eq!(managed["price_options"][0]["is_active"], false, "{managed}");
    let (status, refused) = book(
        &app,
        user(3),
        json!({"event_id": event, "quantity": 1, "price_option_id": option_id}),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "PRICE_OPTION_UNAVAILABLE");
    let updated = outbox_of(&app, DomainEventType::EventUpdated).await;
    assert!(
        updated.iter().filter(|p| p["event_id"] == event).count() >= 3,
        "each option write emits event.updated: {updated:?}"
    );
});

on_both!(pricing_rules_are_validated_with_field_paths, |app| {
    let org = organizer(1);
    let event = event_with(&app, org, 10, "100.00", json!({})).await;
    let path = format!("/api/v1/events/{event}");
    let cases = [
        (
            json!({"dynamic": [{"min_fill_ratio": "0.5", "multiplier": "0"}]}),
            "pricing_rules.dynamic[0]",
        ),
        (
            json!({"dynamic": [
                {"min_fill_ratio": "0.5", "multiplier": "1.1"},
                {"min_fill_ratio": "1.5", "multiplier": "1.2"},
            ]}),
            "pricing_rules.dynamic[1]",
        ),
        (
            json!({"dynamic": [
                {"min_fill_ratio": "0.5", "multiplier": "1.1"},
                {"min_fill_ratio": "0.5", "multiplier": "1.2"},
            ]}),
            "pricing_rules",
        ),
        (
            json!({"group": [{"min_quantity": 3, "percent": "101"}]}),
            "pricing_rules.group[0].percent",
        ),
        (
            json!({"group": [{"min_quantity": 1, "percent": "10"}]}),
            "pricing_rules.group[0]",
        ),
    ];
    for (rules, field) in cases {
        let (status, problem) = app
            .put(&path, Some(org), json!({"pricing_rules": rules}))
            .await;
        assert_eq!(status, 400, "{rules}: {problem}");
        assert_eq!(field_of(&problem), field, "{rules}: {problem}");
    }
    let (status, problem) = app
        .put(
            &path,
            Some(org),
            json!({"pricing_rules": {"dynamic": [], "surge": []}}),
        )
        .await;
    assert_eq!(status, 400, "unknown fields: {problem}");
    let (status, problem) = app
        .put(
            &path,
            Some(org),
            json!({"refund_policy": [{"min_hours_before": 24, "percent": 120}]}),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(field_of(&problem), "refund_policy[0].percent");
    let (status, ok) = app
        .put(
            &path,
            Some(org),
            json!({"pricing_rules": {"group": [{"min_quantity": 2, "percent": 5}]}}),
        )
        .await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["pricing_rules"]["group"][0]["min_quantity"], 2, "{ok}");
    let (status, b) = book(&app, user(1), json!({"event_id": event, "quantity": 2})).await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(b["price_breakdown"]["group_discount"], "10.00", "{b}");
    assert_eq!(b["total_price"], "190.00", "{b}");
});

// --- promo codes --------------------------------------------------------------------------

on_both!(promo_code_permissions_and_bad_input, |app| {
    let (org1, org2) = (organizer(1), organizer(2));
    let e1 = event_with(&app, org1, 10, "100.00", json!({})).await;
    let e2 = event_with(&app, org2, 10, "100.00", json!({})).await;
    let body = |code: &str, event: i64| json!({"code": code, "discount_percentage": 10, "event_id": event});

    let (status, _) = app
        .post("/api/v1/promo-codes", Some(user(1)), body("USERCODE", e1))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .post("/api/v1/promo-codes", None, body("GUESTCODE", e1))
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .post("/api/v1/promo-codes", Some(org1), body("STEAL", e2))
        .await;
    assert_eq!(status, 404, "another organizer's event");
    let (status, created) = app
        .post("/api/v1/promo-codes", Some(org1), body("org1-code", e1))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["code"], "ORG1-CODE");
    assert_eq!(created["current_uses"], 0);
    assert_eq!(created["version"], 0);
    let (status, dup) = app
        .post("/api/v1/promo-codes", Some(org1), body("Org1-Code", e1))
        .await;
    assert_eq!(status, 409, "{dup}");
    assert_eq!(dup["code"], "PROMO_CODE_EXISTS");
    let org2_code = create_promo(&app, org2, body("ORG2-CODE", e2)).await;

    let now = app.clock_now();
    let bad = [
        (
            json!({"code": "BAD1", "discount_percentage": 101, "event_id": e1}),
            "discount_percentage",
        ),
        (
            json!({"code": "BAD2", "discount_amount": "-5.00", "event_id": e1}),
            "discount_amount",
        ),
        (
            json!({"code": "BAD3", "discount_percentage": 10, "discount_amount": "5", "event_id": e1}),
            "discount_percentage",
        ),
        (
            json!({"code": "BAD4", "discount_percentage": 10, "event_id": e1,
                   "start_date": now.to_rfc3339(),
                   "end_date": (now - chrono::Duration::days(1)).to_rfc3339()}),
            "end_date",
        ),
        (
            json!({"code": "BAD5", "discount_percentage": 10, "event_id": e1, "max_uses": 0}),
            "max_uses",
        ),
        (
            json!({"code": "a b", "discount_percentage": 10, "event_id": e1}),
            "code",
        ),
        (
            json!({"code": "BAD6", "discount_percentage": 10, "event_id": e1, "owner": "me"}),
            "body",
        ),
    ];
    for (input, field) in bad {
        let (status, problem) = app
            .post("/api/v1/promo-codes", Some(org1), input.clone())
            .await;
        assert_eq!(status, 400, "{input}: {problem}");
        assert_eq!(field_of(&problem), field, "{input}: {problem}");
    }

    // Reading and changing: the creator and admins; another organizer gets 404, users 403.
    let one = format!("/api/v1/promo-codes/{id}");
    let (status, _) = app.get(&one, Some(org2)).await;
    assert_eq!(status, 404);
    let (status, _) = app.get(&one, Some(user(1))).await;
    assert_eq!(status, 403);
    let (status, seen) = app.get(&one, Some(admin())).await;
    assert_eq!((status, seen["code"].clone()), (200, json!("ORG1-CODE")));
    let (status, _) = app
        .put(
            &one,
            Some(org2),
            json!({"discount_percentage": 50, "event_id": e2}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = delete(&app, &one, Some(org2)).await;
    assert_eq!(status, 404);

    let (status, stale) = app
        .put(
            &one,
            Some(org1),
            json!({"version": 7, "discount_percentage": 20, "event_id": e1}),
        )
        .await;
    assert_eq!(
        (status, stale["code"].clone()),
        (409, json!("VERSION_CONFLICT"))
    );
    let (status, moved) = app
        .put(
            &one,
            Some(org1),
            json!({"discount_percentage": 20, "event_id": e2}),
        )
        .await;
    assert_eq!(
        status, 404,
        "cannot move a code to another organizer's event: {moved}"
    );
    let (status, updated) = app
        .put(
            &one,
            Some(org1),
            json!({"version": 0, "discount_percentage": 20, "event_id": e1, "max_uses": 5}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["discount_percentage"], 20);
    assert_eq!(updated["max_uses"], 5);
    assert_eq!(updated["version"], 1);

    let (status, mine) = app.get("/api/v1/promo-codes", Some(org1)).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["total_elements"], 1, "{mine}");
    assert_eq!(mine["promo_codes"][0]["id"], id);
    let (status, _) = app
        .get(
            &format!("/api/v1/promo-codes?created_by={}", org2.id),
            Some(org1),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app.get("/api/v1/promo-codes", Some(user(1))).await;
    assert_eq!(status, 403);
    let (_, all) = app.get("/api/v1/promo-codes", Some(admin())).await;
    assert_eq!(all["total_elements"], 2, "{all}");
    let (_, theirs) = app
        .get(
            &format!("/api/v1/promo-codes?created_by={}", org2.id),
            Some(admin()),
        )
        .await;
    assert_eq!(theirs["total_elements"], 1, "{theirs}");
    assert_eq!(theirs["promo_codes"][0]["id"], org2_code["id"]);

    // Deactivation keeps the code, inactive; the list can hide it.
    let (status, off) = delete(&app, &one, Some(org1)).await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(off["is_active"], false);
    let (_, active) = app
        .get("/api/v1/promo-codes?active_only=true", Some(org1))
        .await;
    assert_eq!(active["total_elements"], 0, "{active}");

    // Every write is audited.
    let (status, audit) = app
        .get(
            &format!("/api/v1/admin/audit?entity_type=promo_code&entity_id={id}"),
            Some(admin()),
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "promo_code.deactivate",
            "promo_code.update",
            "promo_code.create"
        ],
        "{audit}"
    );
});

on_both!(hole_5_validate_answers_one_code_and_audits_why, |app| {
    let org = organizer(1);
    let e1 = event_with(&app, org, 10, "100.00", json!({})).await;
    let e2 = event_with(&app, org, 10, "100.00", json!({})).await;
    let now = app.clock_now();
    create_promo(
        &app,
        org,
        json!({"code": "OLD", "discount_percentage": 10, "event_id": e1,
               "start_date": (now - chrono::Duration::days(10)).to_rfc3339(),
               "end_date": (now - chrono::Duration::days(1)).to_rfc3339()}),
    )
    .await;
    let off = create_promo(
        &app,
        org,
        json!({"code": "OFF", "discount_percentage": 10, "event_id": e1}),
    )
    .await;
    let (status, _) = delete(
        &app,
        &format!("/api/v1/promo-codes/{}", off["id"]),
        Some(org),
    )
    .await;
    assert_eq!(status, 200);
    create_promo(
        &app,
        org,
        json!({"code": "ONLY-E1", "discount_percentage": 10, "event_id": e1}),
    )
    .await;
    create_promo(
        &app,
        org,
        json!({"code": "ONCE", "discount_percentage": 10, "event_id": e1, "max_uses": 1}),
    )
    .await;
    create_promo(
        &app,
        org,
        json!({"code": "LATER", "discount_percentage": 10, "event_id": e1,
               "start_date": (now + chrono::Duration::days(1)).to_rfc3339()}),
    )
    .await;
    let (status, used) = book(
        &app,
        user(1),
        json!({"event_id": e1, "quantity": 1, "promo_code": "ONCE"}),
    )
    .await;
    assert_eq!(status, 201, "{used}");
    assert_eq!(used["price_breakdown"]["promo_discount"], "10.00");

    let cases = [
        ("OLD", e1, "expired"),
        ("OFF", e1, "not active"),
        ("ONLY-E1", e2, "another event"),
        ("ONCE", e1, "used up"),
        ("LATER", e1, "not valid yet"),
        ("NO-SUCH-CODE", e1, "unknown"),
    ];
    for (code, event, why) in cases {
        let (status, problem) = app
            .post(
                &format!("/api/v1/promo-codes/{code}/validate"),
                Some(user(2)),
                json!({"event_id": event, "quantity": 1}),
            )
            .await;
        // Hole 5: one answer whatever the reason, so codes cannot be probed …
        assert_eq!(status, 409, "{code}: {problem}");
        assert_eq!(problem["code"], "PROMO_CODE_INVALID", "{code}");
        assert_eq!(
            problem["detail"], "the promo code cannot be used for this booking",
            "{code}: {problem}"
        );
        // … and the reason in the audit log only.
        let (status, audit) = app
            .get(
                "/api/v1/admin/audit?action=promo_code.refused",
                Some(admin()),
            )
            .await;
        assert_eq!(status, 200, "{audit}");
        assert!(
            audit["entries"][0]["after"]["reason"]
                .as_str()
                .unwrap()
                .contains(why),
            "{code}: {audit}"
        );
    }
    // Hole 5 on the booking path: the same one answer for every reason, the reason audited
    // (`during: booking.create`), nothing booked.
    for (code, event, why) in cases {
        let (status, problem) = book(
            &app,
            user(2),
            json!({"event_id": event, "quantity": 1, "promo_code": code}),
        )
        .await;
        assert_eq!(status, 409, "{code}: {problem}");
        assert_eq!(problem["code"], "PROMO_CODE_INVALID", "{code}");
        assert_eq!(
            problem["detail"], "the promo code cannot be used for this booking",
            "{code}: {problem}"
        );
        let (_, audit) = app
            .get(
                "/api/v1/admin/audit?action=promo_code.refused",
                Some(admin()),
            )
            .await;
        let last = &audit["entries"][0]["after"];
        assert_eq!(last["during"], "booking.create", "{code}: {audit}");
        assert!(
            last["reason"].as_str().unwrap().contains(why),
            "{code}: {audit}"
        );
    }
    let (_, mine) = app.get("/api/v1/bookings", Some(user(2))).await;
    assert_eq!(mine["total_elements"], 0, "{mine}");

    let validate = "/api/v1/promo-codes/ONLY-E1/validate";
    let (status, _) = app
        .post(validate, None, json!({"event_id": e1, "quantity": 1}))
        .await;
    assert_eq!(status, 401);
    let (status, problem) = app
        .post(
            validate,
            Some(user(2)),
            json!({"event_id": e1, "quantity": 0}),
        )
        .await;
    assert_eq!(
        (status, field_of(&problem)),
        (400, "quantity".to_owned()),
        "{problem}"
    );
    let (status, _) = app
        .post(
            validate,
            Some(user(2)),
            json!({"event_id": 999_999, "quantity": 1}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, ok) = app
        .post(
            validate,
            Some(user(2)),
            json!({"event_id": e1, "quantity": 2}),
        )
        .await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["valid"], true);
    assert_eq!(ok["price_breakdown"]["total"], "180.00", "{ok}");
});

/// `users` distinct users redeem one code with `max_uses = 10` at the same moment.
async fn concurrent_redemptions(app: TestApp, users: u32) {
    let org = organizer(1);
    let event = event_with(&app, org, users, "100.00", json!({})).await;
    let promo = create_promo(
        &app,
        org,
        json!({"code": "RUSH", "discount_percentage": 50, "event_id": event, "max_uses": 10}),
    )
    .await;
    let app = Arc::new(app);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(users as usize + 16)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let url = format!("{}/api/v1/bookings", app.base);
    let barrier = Arc::new(Barrier::new(users as usize + 1));
    let mut tasks = Vec::new();
    for n in 1..=users {
        let (client, url, barrier) = (client.clone(), url.clone(), barrier.clone());
        let who = user(u128::from(n));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = client
                .post(&url)
                .header("X-User-Id", who.id.to_string())
                .header("X-User-Role", who.role)
                .json(&json!({"event_id": event, "quantity": 1, "promo_code": "RUSH"}))
                .send()
                .await
                .expect("request sent");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }));
    }
    barrier.wait().await;
    let mut outcomes: BTreeMap<(u16, String), u32> = BTreeMap::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == 201 {
            assert_eq!(body["price_breakdown"]["promo_discount"], "50.00", "{body}");
        }
        let code = body["code"].as_str().unwrap_or("").to_owned();
        *outcomes.entry((status, code)).or_default() += 1;
    }
    let expected: BTreeMap<(u16, String), u32> = [
        ((201, String::new()), 10),
        ((409, "PROMO_CODE_INVALID".to_owned()), users - 10),
    ]
    .into_iter()
    .collect();
    assert_eq!(outcomes, expected);

    let (_, code) = app
        .get(&format!("/api/v1/promo-codes/{}", promo["id"]), Some(org))
        .await;
    assert_eq!(code["current_uses"], 10, "{code}");
    let (_, list) = app
        .get(
            &format!("/api/v1/bookings?event_id={event}&size=100"),
            Some(admin()),
        )
        .await;
    assert_eq!(
        list["total_elements"], 10,
        "no half-written booking: {list}"
    );
    let (_, details) = app.get(&format!("/api/v1/events/{event}"), None).await;
    assert_eq!(details["available_seats"], users - 10, "{details}");
    let created = outbox_of(&app, DomainEventType::BookingCreated).await;
    assert_eq!(created.len(), 10, "one booking.created per booking");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_100_users_redeem_a_code_with_10_uses() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    concurrent_redemptions(app, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_30_users_redeem_a_code_with_10_uses() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    concurrent_redemptions(app, 30).await;
}

// --- admin --------------------------------------------------------------------------------

on_both!(audit_query_filters_and_pages, |app| {
    let org = organizer(1);
    for _ in 0..3 {
        event_with(&app, org, 10, "10.00", json!({})).await;
    }
    event_with(&app, organizer(2), 10, "10.00", json!({})).await;
    for who in [Some(org), Some(user(1))] {
        let (status, _) = app.get("/api/v1/admin/audit", who).await;
        assert_eq!(status, 403);
    }
    let (status, _) = app.get("/api/v1/admin/audit", None).await;
    assert_eq!(status, 401);

    let base = format!(
        "/api/v1/admin/audit?action=event.create&entity_type=event&actor_id={}",
        org.id
    );
    let (status, page0) = app.get(&format!("{base}&size=2"), Some(admin())).await;
    assert_eq!(status, 200, "{page0}");
    assert_eq!(page0["total_elements"], 3, "{page0}");
    assert_eq!(page0["total_pages"], 2);
    assert_eq!(page0["entries"].as_array().unwrap().len(), 2);
    let first = &page0["entries"][0];
    assert_eq!(first["actor_id"], org.id.to_string());
    assert_eq!(first["actor_role"], "ORGANIZER");
    assert!(first["after"].is_object(), "{first}");
    let (_, page1) = app
        .get(&format!("{base}&size=2&page=1"), Some(admin()))
        .await;
    assert_eq!(page1["entries"].as_array().unwrap().len(), 1, "{page1}");
    let (_, all_creates) = app
        .get("/api/v1/admin/audit?action=event.create", Some(admin()))
        .await;
    assert_eq!(all_creates["total_elements"], 4, "{all_creates}");

    let before = (app.clock_now() - chrono::Duration::seconds(1)).to_rfc3339();
    let (_, none) = app
        .get(
            &format!("{base}&to={}", before.replace('+', "%2B")),
            Some(admin()),
        )
        .await;
    assert_eq!(none["total_elements"], 0, "{none}");
    let (_, some) = app
        .get(
            &format!("{base}&from={}", before.replace('+', "%2B")),
            Some(admin()),
        )
        .await;
    assert_eq!(some["total_elements"], 3, "{some}");
    let (status, problem) = app.get("/api/v1/admin/audit?size=0", Some(admin())).await;
    assert_eq!((status, field_of(&problem)), (400, "size".to_owned()));
});

on_both!(bulk_cancel_and_reschedule_report_every_item, |app| {
    let org = organizer(1);
    let kept = event_with(&app, org, 10, "100.00", json!({})).await;
    let to_cancel = event_with(&app, org, 10, "100.00", json!({})).await;
    let already = event_with(&app, org, 10, "100.00", json!({})).await;
    let (booking, _) = app.confirmed_booking(user(1), to_cancel, 2).await;
    let (status, _) = app
        .post(
            &format!("/api/v1/events/{already}/cancel"),
            Some(org),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);

    let request = json!({"event_ids": [to_cancel, 999_999, already], "reason": "storm warning"});
    for who in [Some(org), Some(user(1))] {
        let (status, _) = app
            .post("/api/v1/admin/events/bulk-cancel", who, request.clone())
            .await;
        assert_eq!(status, 403);
    }
    let (status, result) = app
        .post("/api/v1/admin/events/bulk-cancel", Some(admin()), request)
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        (result["succeeded"].clone(), result["failed"].clone()),
        (json!(1), json!(2))
    );
    let items = result["results"].as_array().unwrap();
    assert_eq!(
        items[0],
        json!({"event_id": to_cancel, "status": "succeeded"})
    );
    assert_eq!(items[1]["status"], "failed");
    assert_eq!(items[1]["code"], "NOT_FOUND");
    assert_eq!(items[2]["status"], "failed");
    assert_eq!(items[2]["code"], "INVALID_TRANSITION");
    assert!(
        items[2]["detail"].as_str().unwrap().contains("CANCELED"),
        "{result}"
    );
    let (_, canceled) = app
        .get(&format!("/api/v1/events/{to_cancel}"), Some(org))
        .await;
    assert_eq!(canceled["status"], "CANCELED");
    assert_eq!(canceled["canceled_reason"], "storm warning");
    let (_, b) = app
        .get(&format!("/api/v1/bookings/{booking}"), Some(user(1)))
        .await;
    assert_eq!(b["status"], "CANCELED", "{b}");
    assert_eq!(b["payments"][0]["status"], "REFUNDED", "{b}");
    let (status, empty) = app
        .post(
            "/api/v1/admin/events/bulk-cancel",
            Some(admin()),
            json!({"event_ids": []}),
        )
        .await;
    assert_eq!((status, field_of(&empty)), (400, "event_ids".to_owned()));

    // Reschedule: by a shift, keeping the duration; a canceled event fails on its own.
    let (_, before) = app.get(&format!("/api/v1/events/{kept}"), None).await;
    for bad in [
        json!({"event_ids": [kept]}),
        json!({"event_ids": [kept], "shift_minutes": 60, "new_start_date": before["start_date"]}),
        json!({"event_ids": [kept], "shift_minutes": 0}),
    ] {
        let (status, problem) = app
            .post(
                "/api/v1/admin/events/bulk-reschedule",
                Some(admin()),
                bad.clone(),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {problem}");
    }
    let (status, result) = app
        .post(
            "/api/v1/admin/events/bulk-reschedule",
            Some(admin()),
            json!({"event_ids": [kept, to_cancel], "shift_minutes": 120}),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["results"][0]["status"], "succeeded", "{result}");
    assert_eq!(result["results"][1]["status"], "failed");
    assert_eq!(result["results"][1]["code"], "INVALID_TRANSITION");
    let (_, after) = app.get(&format!("/api/v1/events/{kept}"), None).await;
    let at =
        |v: &Value, k: &str| chrono::DateTime::parse_from_rfc3339(v[k].as_str().unwrap()).unwrap();
    assert_eq!(
        at(&after, "start_date") - at(&before, "start_date"),
        chrono::Duration::hours(2)
    );
    assert_eq!(
        at(&after, "end_date") - at(&after, "start_date"),
        chrono::Duration::hours(3),
        "duration kept"
    );
    let moved: Vec<Value> = outbox_of(&app, DomainEventType::EventRescheduled)
        .await
        .into_iter()
        .filter(|p| p["event_id"] == kept)
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(moved[0]["previous_start_date"].as_str().unwrap())
            .unwrap(),
        at(&before, "start_date")
    );

    // To a fixed start.
    let target = app.clock_now() + chrono::Duration::days(60);
    let (status, result) = app
        .post(
            "/api/v1/admin/events/bulk-reschedule",
            Some(admin()),
            json!({"event_ids": [kept], "new_start_date": target.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["succeeded"], 1);
    let (_, after) = app.get(&format!("/api/v1/events/{kept}"), None).await;
    assert_eq!(at(&after, "start_date"), target);
    let (_, audit) = app
        .get(
            &format!("/api/v1/admin/audit?action=event.reschedule&entity_id={kept}"),
            Some(admin()),
        )
        .await;
    assert_eq!(audit["total_elements"], 2, "{audit}");
});

on_both!(popularity_report_and_event_stats, |app| {
    let org = organizer(1);
    let event = event_with(&app, org, 10, "150.00", json!({})).await;
    let quiet = event_with(&app, org, 10, "150.00", json!({})).await;
    for who in [None, Some(user(1)), Some(user(2))] {
        let (status, _) = app.get(&format!("/api/v1/events/{event}"), who).await;
        assert_eq!(status, 200);
    }
    // The organizer's own views are not counted.
    let (status, _) = app.get(&format!("/api/v1/events/{event}"), Some(org)).await;
    assert_eq!(status, 200);
    app.confirmed_booking(user(1), event, 2).await;
    let (status, b) = book(&app, user(2), json!({"event_id": event, "quantity": 1})).await;
    assert_eq!(status, 201, "{b}");
    let (status, b) = book(&app, user(3), json!({"event_id": quiet, "quantity": 1})).await;
    assert_eq!(status, 201, "{b}");

    let (status, _) = app.get("/api/v1/admin/reports/popularity", Some(org)).await;
    assert_eq!(status, 403);
    let (status, problem) = app
        .get("/api/v1/admin/reports/popularity?limit=0", Some(admin()))
        .await;
    assert_eq!((status, field_of(&problem)), (400, "limit".to_owned()));
    let (status, report) = app
        .get("/api/v1/admin/reports/popularity", Some(admin()))
        .await;
    assert_eq!(status, 200, "{report}");
    let lines = report["events"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{report}");
    assert_eq!(
        lines[0],
        json!({
            "event_id": event,
            "name": "Commerce event",
            "views": 3,
            "bookings": 2,
            "confirmed": 1,
            "revenue": "300.00",
            "view_to_booking": "0.6667",
            "booking_to_confirmed": "0.5000",
        })
    );
    assert_eq!(lines[1]["event_id"], quiet);
    assert_eq!(lines[1]["views"], 0);
    assert_eq!(lines[1]["view_to_booking"], Value::Null);
    let (_, top) = app
        .get("/api/v1/admin/reports/popularity?limit=1", Some(admin()))
        .await;
    assert_eq!(top["events"].as_array().unwrap().len(), 1, "{top}");
    let past = (app.clock_now() - chrono::Duration::days(1)).to_rfc3339();
    let (_, empty) = app
        .get(
            &format!(
                "/api/v1/admin/reports/popularity?to={}",
                past.replace('+', "%2B")
            ),
            Some(admin()),
        )
        .await;
    assert_eq!(empty["events"], json!([]), "{empty}");

    // Stats: the proto's EventStatsResponse field names.
    let stats_path = format!("/api/v1/events/{event}/stats");
    let (status, stats) = app.get(&stats_path, Some(org)).await;
    assert_eq!(status, 200, "{stats}");
    let day = app.clock_now().date_naive().to_string();
    assert_eq!(
        stats,
        json!({
            "event_id": event,
            "total_bookings": 2,
            "confirmed_bookings": 1,
            "canceled_bookings": 0,
            "total_revenue": "300.00",
            "avg_rating": "0.00",
            "review_count": 0,
            "bookings_by_day": {day: 2},
        })
    );
    let (status, _) = app.get(&stats_path, Some(admin())).await;
    assert_eq!(status, 200);
    let (status, _) = app.get(&stats_path, Some(organizer(2))).await;
    assert_eq!(status, 404);
    let (status, _) = app.get(&stats_path, Some(user(1))).await;
    assert_eq!(status, 403);
    let later = (app.clock_now() + chrono::Duration::days(1)).to_rfc3339();
    let (status, none) = app
        .get(
            &format!("{stats_path}?from={}", later.replace('+', "%2B")),
            Some(org),
        )
        .await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["total_bookings"], 0, "{none}");
});
