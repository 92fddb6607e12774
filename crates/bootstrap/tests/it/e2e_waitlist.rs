//! The waitlist end to end (PRODUCT.md §4) on SQLite and PostgreSQL: seats freed on a full
//! event are held for the head of the queue, a notified waiter books on the held seat, an
//! offer whose window passed goes to the next waiter, capacity raises and expired bookings
//! advance the queue, and the seat invariant
//! `available_seats + Σ quantity(active bookings) + Σ held seats = max_participants` holds
//! after every step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Duration;
use domain::booking::NewBooking;
use domain::booking_rules::payment_deadline;
use domain::pricing::PriceBreakdown;
use domain::{EventId, Money, Quantity, UserId};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::support::{TestApp, Who, admin, organizer, user};

/// `SELECT COUNT(*) …` on the app's database.
async fn count(app: &TestApp, sql: &str) -> i64 {
    let db = &app.services.db;
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn outbox(app: &TestApp, event_type: &str) -> i64 {
    count(
        app,
        &format!("SELECT COUNT(*) FROM outbox WHERE event_type = '{event_type}'"),
    )
    .await
}

async fn waitlist_audit(app: &TestApp, event_id: i64, status: &str) -> i64 {
    count(
        app,
        &format!(
            "SELECT COUNT(*) FROM waitlist_audit WHERE event_id = {event_id} AND new_status = '{status}'"
        ),
    )
    .await
}

fn waitlist_path(event_id: i64) -> String {
    format!("/api/v1/events/{event_id}/waitlist")
}

async fn join(app: &TestApp, who: Who, event_id: i64, quantity: u32) -> Value {
    let (status, body) = app
        .post(
            &waitlist_path(event_id),
            Some(who),
            json!({"quantity": quantity}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// The caller's own entry (status and held seats).
async fn own(app: &TestApp, who: Who, event_id: i64) -> (u16, Value) {
    app.get(&waitlist_path(event_id), Some(who)).await
}

/// Entries of the event in `status`, as its organizer sees them.
async fn queue(app: &TestApp, owner: Who, event_id: i64, status: &str) -> Vec<Value> {
    let (code, body) = app
        .get(
            &format!("{}?status={status}", waitlist_path(event_id)),
            Some(owner),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    body["entries"].as_array().unwrap().clone()
}

fn user_ids(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["user_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn book(app: &TestApp, who: Who, event_id: i64, quantity: u32) -> (u16, Value) {
    app.post(
        "/api/v1/bookings",
        Some(who),
        json!({"event_id": event_id, "quantity": quantity}),
    )
    .await
}

async fn cancel(app: &TestApp, who: Who, booking_id: i64) {
    app.cancel_booking(who, booking_id, json!({})).await;
}

// The scenario: a 5-seat event sold out, 3 waiters, 2 cancellations, one waiter books,
// one lets the window pass, the third gets the seat.
on_both!(
    sold_out_event_hands_freed_seats_to_waiters_in_order,
    |app| {
        let org = organizer(1);
        let event = app.published_event(org, 5, "1500.00", 30).await;
        let mut bookings = Vec::new();
        for n in 1..=3 {
            bookings.push(app.confirmed_booking(user(n), event, 1).await.0);
            crate::support::assert_invariant(&app, event).await;
        }
        for n in 4..=5 {
            let (status, body) = book(&app, user(n), event, 1).await;
            assert_eq!(status, 201, "{body}");
            bookings.push(body["id"].as_i64().unwrap());
            crate::support::assert_invariant(&app, event).await;
        }
        assert_eq!(
            crate::support::assert_invariant(&app, event).await,
            (0, 5, 0)
        );

        for (n, place) in [(6, 1), (7, 2), (8, 3)] {
            let entry = join(&app, user(n), event, 1).await;
            assert_eq!(entry["status"], "WAITING", "{entry}");
            assert_eq!(entry["position"], place, "{entry}");
            crate::support::assert_invariant(&app, event).await;
        }
        assert_eq!(waitlist_audit(&app, event, "WAITING").await, 3);

        // One confirmed and one pending booking are canceled: the first two waiters hold a seat.
        cancel(&app, user(1), bookings[0]).await;
        assert_eq!(
            crate::support::assert_invariant(&app, event).await,
            (0, 4, 1)
        );
        cancel(&app, user(4), bookings[3]).await;
        assert_eq!(
            crate::support::assert_invariant(&app, event).await,
            (0, 3, 2)
        );
        for n in [6, 7] {
            let (status, body) = own(&app, user(n), event).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["status"], "NOTIFIED", "{body}");
            assert_eq!(body["held_seats"], 1, "{body}");
            assert!(body["hold_expires_at"].is_string(), "{body}");
        }
        let (_, third) = own(&app, user(8), event).await;
        assert_eq!(third["status"], "WAITING", "{third}");
        assert_eq!(outbox(&app, "waitlist.notified").await, 2);
        assert_eq!(waitlist_audit(&app, event, "NOTIFIED").await, 2);

        // Held seats are not for sale: an outsider finds the event sold out.
        let (status, body) = book(&app, user(10), event, 1).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("SOLD_OUT")),
            "{body}"
        );

        // Waiter 1 books on the held seat.
        let (status, body) = book(&app, user(6), event, 1).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(
            crate::support::assert_invariant(&app, event).await,
            (0, 4, 1)
        );
        let (status, _) = own(&app, user(6), event).await;
        assert_eq!(status, 404, "a converted entry has left the queue");
        assert_eq!(
            user_ids(&queue(&app, org, event, "CONVERTED").await),
            [user(6).id.to_string()]
        );
        assert_eq!(outbox(&app, "waitlist.converted").await, 1);

        // Waiter 2 lets the window pass; processing hands the seat to waiter 3.
        app.clock.advance(Duration::minutes(31));
        let (status, body) = app
            .post(
                &format!("{}/process", waitlist_path(event)),
                Some(org),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["processed"], 2,
            "one offer expired, one waiter notified: {body}"
        );
        assert_eq!(
            crate::support::assert_invariant(&app, event).await,
            (0, 4, 1)
        );
        assert_eq!(
            user_ids(&queue(&app, org, event, "EXPIRED").await),
            [user(7).id.to_string()]
        );
        let (_, third) = own(&app, user(8), event).await;
        assert_eq!(third["status"], "NOTIFIED", "{third}");
        assert_eq!(third["position"], 1, "{third}");
        assert_eq!(outbox(&app, "waitlist.expired").await, 1);
        assert_eq!(outbox(&app, "waitlist.notified").await, 3);
        assert_eq!(waitlist_audit(&app, event, "EXPIRED").await, 1);

        // The expired waiter cannot book any more: the seat is someone else's.
        let (status, body) = book(&app, user(7), event, 1).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("SOLD_OUT")),
            "{body}"
        );

        // A second run finds nothing to do.
        assert_eq!(app.services.waitlist.process_due(100).await.unwrap(), 0);
        crate::support::assert_invariant(&app, event).await;
    }
);

on_both!(join_leave_and_view_follow_the_permission_rules, |app| {
    let org = organizer(1);
    let full = app.published_event(org, 1, "100.00", 30).await;
    let (status, body) = book(&app, user(1), full, 1).await;
    assert_eq!(status, 201, "{body}");
    let path = waitlist_path(full);

    // Guests.
    for method in [Method::POST, Method::GET, Method::DELETE] {
        let (status, body) = app.send(app.req(method.clone(), &path, None)).await;
        assert_eq!(status, 401, "{method} {body}");
    }

    // Bad input.
    for body in [
        json!({"quantity": 0}),
        json!({"quantity": 11}),
        json!({"quantity": 1, "seats": 2}),
        json!({"quantity": "two"}),
    ] {
        let (status, answer) = app.post(&path, Some(user(2)), body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["code"], "VALIDATION_FAILED", "{answer}");
    }
    let (status, answer) = app
        .send(
            app.req(Method::POST, &path, Some(user(2)))
                .header("Content-Type", "application/json")
                .body("{\"quantity\": "),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = app
        .post("/api/v1/events/abc/waitlist", Some(user(2)), json!({}))
        .await;
    assert_eq!(status, 400);
    let (status, body) = app
        .post(&waitlist_path(999_999), Some(user(2)), json!({}))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app
        .get(&format!("{path}?status=SOMETIMES"), Some(org))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app.get(&format!("{path}?colour=red"), Some(org)).await;
    assert_eq!(status, 400, "{body}");

    // A draft is invisible, an event with free seats is booked directly.
    let (status, draft) = app
        .post(
            "/api/v1/events",
            Some(org),
            json!({
                "name": "Draft",
                "start_date": (app.clock_now() + Duration::days(10)).to_rfc3339(),
                "max_participants": 1,
                "price": "10.00",
            }),
        )
        .await;
    assert_eq!(status, 201, "{draft}");
    let (status, body) = app
        .post(
            &waitlist_path(draft["id"].as_i64().unwrap()),
            Some(user(2)),
            json!({}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let roomy = app.published_event(org, 5, "100.00", 30).await;
    let (status, body) = app
        .post(&waitlist_path(roomy), Some(user(2)), json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("SEATS_AVAILABLE")),
        "{body}"
    );

    // Joining: without a body one seat; twice is refused; a booking holder is refused.
    let (status, entry) = app.send(app.req(Method::POST, &path, Some(user(2)))).await;
    assert_eq!(status, 201, "{entry}");
    assert_eq!(
        (entry["quantity"].as_u64(), entry["position"].as_u64()),
        (Some(1), Some(1))
    );
    let (status, body) = app.post(&path, Some(user(2)), json!({"quantity": 1})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("ALREADY_ON_WAITLIST")),
        "{body}"
    );
    let (status, body) = app.post(&path, Some(user(1)), json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("ALREADY_BOOKED")),
        "{body}"
    );
    join(&app, user(3), full, 2).await;

    // Views: own entry, the queue for the organizer and admins, nothing for others.
    let (status, mine) = own(&app, user(3), full).await;
    assert_eq!(
        (status, mine["position"].as_u64()),
        (200, Some(2)),
        "{mine}"
    );
    let (status, _) = own(&app, user(4), full).await;
    assert_eq!(status, 404, "not queued");
    let (status, _) = app
        .get(&format!("{path}?status=WAITING"), Some(user(3)))
        .await;
    assert_eq!(status, 403, "users do not see the queue");
    let (status, _) = own(&app, organizer(2), full).await;
    assert_eq!(
        status, 404,
        "another event's organizer does not see this queue"
    );
    for who in [org, admin()] {
        let (status, body) = app.get(&path, Some(who)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total_elements"], 2, "{body}");
        assert_eq!(
            user_ids(body["entries"].as_array().unwrap()),
            [user(2).id.to_string(), user(3).id.to_string()],
            "join order"
        );
    }
    assert!(queue(&app, org, full, "NOTIFIED").await.is_empty());

    // Processing: the organizer of the event and admins; others by the usual rules.
    let process = format!("{path}/process");
    let (status, _) = app.post(&process, Some(user(2)), json!({})).await;
    assert_eq!(status, 403);
    let (status, _) = app.post(&process, Some(organizer(2)), json!({})).await;
    assert_eq!(status, 404);
    let (status, body) = app.post(&process, Some(admin()), json!({})).await;
    assert_eq!(
        (status, body["processed"].as_u64()),
        (200, Some(0)),
        "{body}"
    );

    // Leaving.
    let (status, _) = app
        .send(app.req(Method::DELETE, &path, Some(user(4))))
        .await;
    assert_eq!(status, 404, "not queued");
    let (status, _) = app
        .send(app.req(Method::DELETE, &path, Some(user(2))))
        .await;
    assert_eq!(status, 204);
    let (_, mine) = own(&app, user(3), full).await;
    assert_eq!(mine["position"], 1, "{mine}");
    assert_eq!(
        user_ids(&queue(&app, org, full, "LEFT").await),
        [user(2).id.to_string()]
    );
    assert_eq!(waitlist_audit(&app, full, "LEFT").await, 1);
    crate::support::assert_invariant(&app, full).await;
});

/// The organizer of `event` sets its capacity; answers the event.
async fn raise(app: &TestApp, event: i64, seats: i64) -> Value {
    let (status, body) = app
        .put(
            &format!("/api/v1/events/{event}"),
            Some(organizer(1)),
            json!({"max_participants": seats}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

// Capacity raised: the head waiter gets the seats once they cover its quantity, the one behind
// it does not overtake it; leaving with a hold and canceling the event release the held seats.
on_both!(
    raising_capacity_notifies_the_head_waiter_in_fifo_order,
    |app| {
        let org = organizer(1);
        let event = app.published_event(org, 2, "100.00", 30).await;
        for n in 1..=2 {
            let (status, body) = book(&app, user(n), event, 1).await;
            assert_eq!(status, 201, "{body}");
        }
        join(&app, user(3), event, 2).await;
        join(&app, user(4), event, 1).await;

        // One free seat does not cover the head's two: nobody is notified.
        let body = raise(&app, event, 3).await;
        assert_eq!(body["available_seats"], 1, "{body}");
        assert_eq!(
            crate::support::assert_invariant(&app, event).await,
            (1, 2, 0)
        );
        assert_eq!(own(&app, user(4), event).await.1["status"], "WAITING");

        // Two more: the head holds two, the next one holds the last seat.
        let body = raise(&app, event, 5).await;
        assert_eq!(body["available_seats"], 0, "{body}");
        assert_eq!(
            crate::support::assert_invariant(&app, event).await,
            (0, 2, 3)
        );
        let (_, head) = own(&app, user(3), event).await;
        assert_eq!(
            (head["status"].as_str(), head["held_seats"].as_u64()),
            (Some("NOTIFIED"), Some(2))
        );
        assert_eq!(own(&app, user(4), event).await.1["status"], "NOTIFIED");

        // The head leaves: its two seats go back to the event (nobody else waits).
        let (status, _) = app
            .send(app.req(Method::DELETE, &waitlist_path(event), Some(user(3))))
            .await;
        assert_eq!(status, 204);
        assert_eq!(
            crate::support::assert_invariant(&app, event).await,
            (2, 2, 1)
        );

        // Canceling the event clears the queue and its holds.
        let (status, body) = app
            .post(
                &format!("/api/v1/events/{event}/cancel"),
                Some(org),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            crate::support::assert_invariant(&app, event).await,
            (5, 0, 0)
        );
        assert_eq!(
            user_ids(&queue(&app, org, event, "CANCELED").await),
            [user(4).id.to_string()]
        );
        assert_eq!(waitlist_audit(&app, event, "CANCELED").await, 1);
    }
);

/// Places `n` pending bookings of distinct users on `event_id` in one transaction, at 100.00
/// each, due at the current clock plus the default TTL.
async fn place_pending(app: &TestApp, event_id: i64, first_user: u128, n: u32) {
    let now = app.clock_now();
    let total = Money::parse("100").unwrap();
    let deadline = payment_deadline(now, Duration::minutes(30), now + Duration::days(365));
    let batch: Vec<NewBooking> = (0..n)
        .map(|i| NewBooking {
            event_id: EventId(event_id),
            user_id: UserId(uuid::Uuid::from_u128(first_user + u128::from(i))),
            quantity: Quantity::ONE,
            price_option_id: None,
            promo_code_id: None,
            waitlist_entry_id: None,
            price: PriceBreakdown {
                unit_price: total,
                quantity: 1,
                base: total,
                dynamic_adjustment: Money::ZERO,
                group_discount: Money::ZERO,
                promo_discount: Money::ZERO,
                loyalty_discount: Money::ZERO,
                loyalty_points_used: 0,
                total,
            },
            payment_deadline: deadline,
            created_at: now,
        })
        .collect();
    let batch_len = batch.len();
    let tx = app.services.uow.begin().await.unwrap();
    let placed = tx.bookings().place(EventId(event_id), batch).await.unwrap();
    assert_eq!(placed.len(), batch_len, "every booking placed");
    tx.commit().await.unwrap();
}

async fn expiry_sweep(app: &TestApp, many: u32) {
    let org = organizer(1);
    let big = app.published_event(org, many, "100.00", 30).await;
    place_pending(app, big, 0x5000_0000, many).await;
    assert_eq!(
        crate::support::assert_invariant(app, big).await,
        (0, u64::from(many), 0)
    );

    // A small full event with a waiter, one of whose bookings is younger.
    let small = app.published_event(org, 3, "100.00", 30).await;
    for n in 1..=2 {
        let (status, body) = book(app, user(n), small, 1).await;
        assert_eq!(status, 201, "{body}");
    }
    app.clock.advance(Duration::minutes(10));
    let (status, young) = book(app, user(3), small, 1).await;
    assert_eq!(status, 201, "{young}");
    join(app, user(4), small, 1).await;

    // Just past deadline (30 min) but within grace (5 min): nothing expires yet.
    app.clock.advance(Duration::minutes(22));
    assert_eq!(
        app.services
            .bookings
            .expire_due(std::time::Duration::from_secs(60))
            .await
            .unwrap(),
        0
    );

    // Past deadline + grace for everything but the young booking.
    app.clock.advance(Duration::minutes(4));
    let expired = app
        .services
        .bookings
        .expire_due(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(expired, u64::from(many) + 2);
    assert_eq!(
        app.services
            .bookings
            .expire_due(std::time::Duration::from_secs(60))
            .await
            .unwrap(),
        0
    );

    assert_eq!(
        crate::support::assert_invariant(app, big).await,
        (many, 0, 0)
    );
    // Two seats freed on the small event: the waiter holds one, one is free again.
    assert_eq!(
        crate::support::assert_invariant(app, small).await,
        (1, 1, 1)
    );
    assert_eq!(own(app, user(4), small).await.1["status"], "NOTIFIED");
    let (status, body) = app
        .get(&format!("/api/v1/bookings/{}", young["id"]), Some(user(3)))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("PENDING_PAYMENT")),
        "{body}"
    );

    assert_eq!(outbox(app, "booking.expired").await, i64::from(many) + 2);
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) FROM bookings WHERE status = 'EXPIRED'"
        )
        .await,
        i64::from(many) + 2
    );
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) FROM booking_logs WHERE new_status = 'EXPIRED'"
        )
        .await,
        i64::from(many) + 2
    );
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'booking.expire'"
        )
        .await,
        i64::from(many) + 2
    );
    assert_eq!(outbox(app, "waitlist.notified").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_expire_due_expires_a_thousand_pending_bookings_and_advances_the_waitlist() {
    let Some(app) = crate::support::spawn_app(crate::support::Backend::Postgres).await else {
        return;
    };
    expiry_sweep(&app, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_expire_due_expires_pending_bookings_and_advances_the_waitlist() {
    let app = crate::support::spawn_app(crate::support::Backend::Sqlite)
        .await
        .unwrap();
    expiry_sweep(&app, 250).await;
}

// A notified waiter who books fewer seats than were held passes the rest to the next waiter.
on_both!(
    held_seats_a_booking_does_not_need_go_to_the_next_waiter,
    |app| {
        let event = app.published_event(organizer(1), 2, "100.00", 30).await;
        let (status, first) = book(&app, user(1), event, 2).await;
        assert_eq!(status, 201, "{first}");
        join(&app, user(2), event, 2).await;
        join(&app, user(3), event, 1).await;

        cancel(&app, user(1), first["id"].as_i64().unwrap()).await;
        assert_eq!(
            crate::support::assert_invariant(&app, event).await,
            (0, 0, 2)
        );
        assert_eq!(own(&app, user(3), event).await.1["status"], "WAITING");

        let (status, body) = book(&app, user(2), event, 1).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(
            crate::support::assert_invariant(&app, event).await,
            (0, 1, 1)
        );
        let (_, next) = own(&app, user(3), event).await;
        assert_eq!(
            (next["status"].as_str(), next["held_seats"].as_u64()),
            (Some("NOTIFIED"), Some(1)),
            "{next}"
        );
    }
);
