//! Every role and ownership rule of PRODUCT.md §1 over HTTP, on SQLite and PostgreSQL:
//! guest → 401, wrong role → 403, someone else's object → 404, ADMIN sees everything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::*;
use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

fn problem(status: u16, body: &Value, expected_status: u16, code: &str, what: &str) {
    assert_eq!(status, expected_status, "{what}: {body}");
    assert_eq!(body["code"], code, "{what}: {body}");
}

fn not_found(status: u16, body: &Value, what: &str) {
    problem(status, body, 404, "NOT_FOUND", what);
}

fn forbidden(status: u16, body: &Value, what: &str) {
    problem(status, body, 403, "FORBIDDEN", what);
}

fn unauthenticated(status: u16, body: &Value, what: &str) {
    problem(status, body, 401, "UNAUTHENTICATED", what);
}

async fn draft_event(app: &TestApp, who: Who, name: &str) -> i64 {
    let (status, body) = app
        .post(
            "/api/v1/events",
            Some(who),
            json!({
                "name": name,
                "start_date": (app.clock_now() + Duration::days(20)).to_rfc3339(),
                "max_participants": 10,
                "price": "500.00",
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "DRAFT");
    body["id"].as_i64().unwrap()
}

fn ids(list: &Value, field: &str) -> Vec<i64> {
    list[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {list}"))
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

// Bookings and payments belong to their user; the event's organizer and ADMIN see them.
on_both!(booking_and_payment_ownership, |app| {
    let org = organizer(1);
    let other_org = organizer(2);
    let alice = user(1);
    let bob = user(2);
    let event_id = app.published_event(org, 10, "300.00", 20).await;
    let (booking_id, payment_id) = app.confirmed_booking(alice, event_id, 1).await;
    let booking = format!("/api/v1/bookings/{booking_id}");
    let payment = format!("/api/v1/payments/{payment_id}");

    // Another user: 404 everywhere, nothing changes.
    let (s, b) = app.get(&booking, Some(bob)).await;
    not_found(s, &b, "bob reads alice's booking");
    let (s, b) = app.get(&payment, Some(bob)).await;
    not_found(s, &b, "bob reads alice's payment");
    let (s, b) = app
        .post(&format!("{booking}/cancel"), Some(bob), json!({}))
        .await;
    not_found(s, &b, "bob cancels alice's booking");
    let (s, b) = app
        .post(
            "/api/v1/payments",
            Some(bob),
            json!({"booking_id": booking_id, "payment_method": "CARD"}),
        )
        .await;
    not_found(s, &b, "bob pays alice's booking");
    let (s, b) = app
        .post(
            &format!("{payment}/refund"),
            Some(bob),
            json!({"reason": "mine now"}),
        )
        .await;
    not_found(s, &b, "bob refunds alice's payment");
    // Another organizer: 404 as well.
    let (s, b) = app.get(&booking, Some(other_org)).await;
    not_found(s, &b, "another organizer reads the booking");
    let (s, b) = app.get(&payment, Some(other_org)).await;
    not_found(s, &b, "another organizer reads the payment");
    let (s, b) = app
        .get(
            &format!("/api/v1/bookings?event_id={event_id}"),
            Some(other_org),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["total_elements"], 0,
        "another organizer lists the event's bookings: {b}"
    );
    // Guests: 401.
    let (s, b) = app.get(&booking, None).await;
    unauthenticated(s, &b, "guest reads a booking");
    let (s, b) = app.get(&payment, None).await;
    unauthenticated(s, &b, "guest reads a payment");
    let (s, b) = app
        .post(&format!("{booking}/cancel"), None, json!({}))
        .await;
    unauthenticated(s, &b, "guest cancels a booking");
    let (s, b) = app.get("/api/v1/bookings", None).await;
    unauthenticated(s, &b, "guest lists bookings");

    // The owner, the event's organizer and ADMIN see them.
    for (who, what) in [(alice, "owner"), (org, "organizer"), (admin(), "admin")] {
        let (s, b) = app.get(&booking, Some(who)).await;
        assert_eq!(s, 200, "{what}: {b}");
        assert_eq!(b["status"], "CONFIRMED", "{what}");
        assert_eq!(b["user_id"], alice.id.to_string(), "{what}");
        let (s, p) = app.get(&payment, Some(who)).await;
        assert_eq!(s, 200, "{what}: {p}");
        assert_eq!(p["status"], "COMPLETED", "{what}");
    }
    let (s, b) = app
        .get(&format!("/api/v1/bookings?event_id={event_id}"), Some(org))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(ids(&b, "bookings"), vec![booking_id], "{b}");

    // The organizer sees the booking but does not cancel it (the owner or ADMIN does).
    let (s, b) = app
        .post(&format!("{booking}/cancel"), Some(org), json!({}))
        .await;
    not_found(s, &b, "organizer cancels a participant's booking");

    // Still CONFIRMED and paid after all of that.
    let (_, b) = app.get(&booking, Some(alice)).await;
    assert_eq!(b["status"], "CONFIRMED");
    let (_, p) = app.get(&payment, Some(alice)).await;
    assert_eq!(p["status"], "COMPLETED");
    assert_eq!(p["refund_amount"], "0.00");

    // ADMIN may cancel it.
    let (s, c) = app
        .post(&format!("{booking}/cancel"), Some(admin()), json!({}))
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["booking"]["status"], "CANCELED");
    assert_eq!(c["refund_amount"], "300.00");
});

// Event management: organizers and ADMIN create; only the creator (or ADMIN) manages.
on_both!(event_management, |app| {
    let org = organizer(1);
    let other_org = organizer(2);
    let alice = user(1);
    let body = json!({
        "name": "Not allowed",
        "start_date": (app.clock_now() + Duration::days(5)).to_rfc3339(),
        "max_participants": 5,
        "price": "100.00",
    });
    let (s, b) = app.post("/api/v1/events", Some(alice), body.clone()).await;
    forbidden(s, &b, "user creates an event");
    let (s, b) = app.post("/api/v1/events", None, body.clone()).await;
    unauthenticated(s, &b, "guest creates an event");
    let (s, b) = app
        .get("/api/v1/events?status=DRAFT,PUBLISHED", Some(admin()))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["total_elements"], 0, "nothing was created: {b}");
    let (s, created) = app.post("/api/v1/events", Some(admin()), body).await;
    assert_eq!(s, 201, "admin creates an event: {created}");

    let published = app.published_event(org, 10, "100.00", 10).await;
    let draft = draft_event(&app, org, "Org one's draft").await;
    for id in [published, draft] {
        let path = format!("/api/v1/events/{id}");
        let (s, b) = app
            .put(&path, Some(other_org), json!({"name": "Hijacked"}))
            .await;
        not_found(s, &b, "another organizer edits");
        let (s, b) = app
            .post(&format!("{path}/publish"), Some(other_org), json!({}))
            .await;
        not_found(s, &b, "another organizer publishes");
        let (s, b) = app
            .post(&format!("{path}/cancel"), Some(other_org), json!({}))
            .await;
        not_found(s, &b, "another organizer cancels");
        let (s, b) = app.get(&format!("{path}/stats"), Some(other_org)).await;
        not_found(s, &b, "another organizer reads stats");
        // Users and guests.
        let (s, b) = app
            .put(&path, Some(alice), json!({"name": "Hijacked"}))
            .await;
        forbidden(s, &b, "user edits");
        let (s, b) = app
            .post(&format!("{path}/publish"), Some(alice), json!({}))
            .await;
        forbidden(s, &b, "user publishes");
        let (s, b) = app
            .post(&format!("{path}/cancel"), Some(alice), json!({}))
            .await;
        forbidden(s, &b, "user cancels an event");
        let (s, b) = app.put(&path, None, json!({"name": "Hijacked"})).await;
        unauthenticated(s, &b, "guest edits");
        let (s, b) = app.post(&format!("{path}/cancel"), None, json!({})).await;
        unauthenticated(s, &b, "guest cancels");
        let (s, b) = app.get(&format!("{path}/stats"), None).await;
        unauthenticated(s, &b, "guest reads stats");
        let (s, b) = app.get(&format!("{path}/stats"), Some(alice)).await;
        forbidden(s, &b, "user reads stats");

        // Unchanged.
        let (s, e) = app.get(&path, Some(org)).await;
        assert_eq!(s, 200, "{e}");
        assert_ne!(e["name"], "Hijacked");
        assert_ne!(e["status"], "CANCELED");
        // The creator and ADMIN read the stats.
        for who in [org, admin()] {
            let (s, b) = app.get(&format!("{path}/stats"), Some(who)).await;
            assert_eq!(s, 200, "{b}");
            assert_eq!(b["event_id"], id);
        }
    }
    let (_, d) = app.get(&format!("/api/v1/events/{draft}"), Some(org)).await;
    assert_eq!(d["status"], "DRAFT", "another organizer did not publish it");

    // ADMIN edits anyone's event.
    let (s, e) = app
        .put(
            &format!("/api/v1/events/{published}"),
            Some(admin()),
            json!({"name": "Renamed by admin"}),
        )
        .await;
    assert_eq!(s, 200, "{e}");
    let (_, e) = app.get(&format!("/api/v1/events/{published}"), None).await;
    assert_eq!(e["name"], "Renamed by admin");
    assert_eq!(e["creator_id"], org.id.to_string());
    // and the creator still does.
    let (s, e) = app
        .put(
            &format!("/api/v1/events/{draft}"),
            Some(org),
            json!({"name": "Renamed by its creator"}),
        )
        .await;
    assert_eq!(s, 200, "{e}");
});

// Guests and users see published events only; drafts are the creator's (and ADMIN's).
on_both!(draft_visibility, |app| {
    let org = organizer(1);
    let other_org = organizer(2);
    let alice = user(1);
    let published = app.published_event(org, 10, "100.00", 10).await;
    let draft = draft_event(&app, org, "Secret draft").await;
    let path = format!("/api/v1/events/{draft}");

    let (s, b) = app.get(&path, None).await;
    not_found(s, &b, "guest reads a draft");
    let (s, b) = app.get(&path, Some(alice)).await;
    not_found(s, &b, "user reads a draft");
    let (s, b) = app.get(&path, Some(other_org)).await;
    not_found(s, &b, "another organizer reads a draft");
    for who in [org, admin()] {
        let (s, b) = app.get(&path, Some(who)).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["status"], "DRAFT");
    }
    // Nobody books a draft.
    let (s, b) = app
        .post(
            "/api/v1/bookings",
            Some(alice),
            json!({"event_id": draft, "quantity": 1}),
        )
        .await;
    not_found(s, &b, "user books a draft");

    // The catalog.
    for who in [None, Some(alice), Some(other_org), Some(org)] {
        let (s, b) = app.get("/api/v1/events", who).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(ids(&b, "events"), vec![published], "catalog for {who:?}");
        assert_eq!(b["total_elements"], 1);
    }
    let (s, b) = app.get("/api/v1/events?status=DRAFT", None).await;
    unauthenticated(s, &b, "guest asks for drafts");
    let (s, b) = app.get("/api/v1/events?status=PUBLISHED,DRAFT", None).await;
    unauthenticated(s, &b, "guest asks for drafts among others");
    let (s, b) = app.get("/api/v1/events?status=DRAFT", Some(alice)).await;
    forbidden(s, &b, "user asks for drafts");
    let (s, b) = app
        .get("/api/v1/events?status=DRAFT", Some(other_org))
        .await;
    forbidden(s, &b, "organizer asks for all drafts");
    let (s, b) = app.get("/api/v1/events?status=DRAFT", Some(admin())).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(ids(&b, "events"), vec![draft]);
    // COMPLETED may be asked for by anyone.
    let (s, b) = app.get("/api/v1/events?status=COMPLETED", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["total_elements"], 0);

    // mine=true: the creator's events in every status.
    let (s, b) = app.get("/api/v1/events?mine=true", Some(org)).await;
    assert_eq!(s, 200, "{b}");
    let mut mine = ids(&b, "events");
    mine.sort_unstable();
    assert_eq!(mine, vec![published, draft]);
    let (s, b) = app
        .get("/api/v1/events?mine=true&status=DRAFT", Some(org))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(ids(&b, "events"), vec![draft]);
    let (s, b) = app.get("/api/v1/events?mine=true", Some(other_org)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["total_elements"], 0, "{b}");
    let (s, b) = app.get("/api/v1/events?mine=true", Some(alice)).await;
    forbidden(s, &b, "user asks for own events");
    let (s, b) = app.get("/api/v1/events?mine=true", None).await;
    unauthenticated(s, &b, "guest asks for own events");
});

// A user lists only their own bookings.
on_both!(booking_lists, |app| {
    let org = organizer(1);
    let alice = user(1);
    let bob = user(2);
    let event_id = app.published_event(org, 10, "100.00", 10).await;
    let a = app.book(alice, event_id, 1).await;
    let b = app.book(bob, event_id, 2).await;
    let (alice_booking, bob_booking) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());

    let (s, l) = app.get("/api/v1/bookings", Some(alice)).await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(ids(&l, "bookings"), vec![alice_booking]);
    assert_eq!(l["total_elements"], 1);
    let (s, l) = app
        .get(
            &format!("/api/v1/bookings?event_id={event_id}"),
            Some(alice),
        )
        .await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(ids(&l, "bookings"), vec![alice_booking]);
    let (s, l) = app
        .get(
            &format!("/api/v1/bookings?user_id={}", alice.id),
            Some(alice),
        )
        .await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(ids(&l, "bookings"), vec![alice_booking]);
    let (s, l) = app
        .get(&format!("/api/v1/bookings?user_id={}", bob.id), Some(alice))
        .await;
    forbidden(s, &l, "alice lists bob's bookings");

    // The organizer sees both on the event; ADMIN sees all and filters by user.
    let (s, l) = app.get("/api/v1/bookings", Some(org)).await;
    assert_eq!(s, 200, "{l}");
    let mut both = ids(&l, "bookings");
    both.sort_unstable();
    assert_eq!(both, vec![alice_booking, bob_booking]);
    let (s, l) = app
        .get(&format!("/api/v1/bookings?user_id={}", bob.id), Some(org))
        .await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(ids(&l, "bookings"), vec![bob_booking]);
    let (s, l) = app.get("/api/v1/bookings", Some(admin())).await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["total_elements"], 2);
    let (s, l) = app
        .get(
            &format!("/api/v1/bookings?user_id={}", bob.id),
            Some(admin()),
        )
        .await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(ids(&l, "bookings"), vec![bob_booking]);
    // Another organizer sees none of them.
    let (s, l) = app.get("/api/v1/bookings", Some(organizer(2))).await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["total_elements"], 0, "{l}");
});

// Categories: public list, ADMIN writes.
on_both!(categories, |app| {
    let body = json!({"name": "Rafting", "description": "White water"});
    let (s, b) = app.post("/api/v1/categories", None, body.clone()).await;
    unauthenticated(s, &b, "guest creates a category");
    let (s, b) = app
        .post("/api/v1/categories", Some(user(1)), body.clone())
        .await;
    forbidden(s, &b, "user creates a category");
    let (s, b) = app
        .post("/api/v1/categories", Some(organizer(1)), body.clone())
        .await;
    forbidden(s, &b, "organizer creates a category");
    let (s, b) = app.get("/api/v1/categories", None).await;
    assert_eq!(s, 200, "{b}");
    assert!(
        !b["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "Rafting"),
        "{b}"
    );

    let response = app
        .req(Method::POST, "/api/v1/categories", Some(admin()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, Some(format!("/api/v1/categories/{id}")));
    assert_eq!(created["name"], "Rafting");

    let (s, b) = app.post("/api/v1/categories", Some(admin()), body).await;
    problem(s, &b, 409, "CATEGORY_EXISTS", "duplicate category");
    let (s, b) = app
        .put(
            &format!("/api/v1/categories/{id}"),
            Some(user(1)),
            json!({"name": "Mine"}),
        )
        .await;
    forbidden(s, &b, "user renames a category");

    for who in [None, Some(user(1))] {
        let (s, b) = app.get("/api/v1/categories", who).await;
        assert_eq!(s, 200, "{b}");
        let rafting: Vec<&Value> = b["categories"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] == "Rafting")
            .collect();
        assert_eq!(rafting.len(), 1, "{b}");
        assert_eq!(rafting[0]["id"], id);
        assert_eq!(rafting[0]["description"], "White water");
    }
});

// Malformed gateway headers are refused, on public endpoints too.
on_both!(gateway_headers, |app| {
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("X-User-Id", "not-a-uuid"), ("X-User-Role", "USER")],
            "bad uuid",
        ),
        (&[("X-User-Id", "not-a-uuid")], "bad uuid, no role"),
        (
            &[
                ("X-User-Id", "10000000-0000-4000-8000-000000000001"),
                ("X-User-Role", "SUPERUSER"),
            ],
            "unknown role",
        ),
        (&[("X-User-Role", "ADMIN")], "role without an id"),
        (
            &[
                ("X-User-Id", "10000000-0000-4000-8000-000000000001"),
                ("X-User-Role", "GOD,ADMIN"),
            ],
            "unknown role in a list",
        ),
    ];
    let event_id = app.published_event(organizer(1), 10, "100.00", 10).await;
    for (headers, what) in cases {
        for (method, path, body) in [
            (Method::GET, "/api/v1/bookings".to_owned(), None),
            (Method::GET, "/api/v1/events".to_owned(), None),
            (Method::GET, format!("/api/v1/events/{event_id}"), None),
            (
                Method::POST,
                "/api/v1/bookings".to_owned(),
                Some(json!({"event_id": event_id, "quantity": 1})),
            ),
            (
                Method::POST,
                "/api/v1/categories".to_owned(),
                Some(json!({"name": "Sneaky"})),
            ),
        ] {
            let mut r = app.req(method.clone(), &path, None);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            if let Some(b) = body {
                r = r.json(&b);
            }
            let (s, b) = app.send(r).await;
            unauthenticated(s, &b, &format!("{what}: {method} {path}"));
        }
    }
    // Nothing was written.
    let (_, e) = app.get(&format!("/api/v1/events/{event_id}"), None).await;
    assert_eq!(e["available_seats"], 10);
    let (_, c) = app.get("/api/v1/categories", None).await;
    assert!(
        !c["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "Sneaky")
    );
    // Well-formed headers work; role names are exact (`user` is not a role).
    for (role, expected) in [("USER", 200), ("ROLE_USER", 200), ("user", 401)] {
        let r = app
            .req(Method::GET, "/api/v1/bookings", None)
            .header("X-User-Id", user(1).id.to_string())
            .header("X-User-Role", role);
        let (s, b) = app.send(r).await;
        assert_eq!(s, expected, "{role}: {b}");
    }
});
