//! Batched placement (issue: flash-sale write path): requests for one event placed together in
//! one transaction, through the running app, on both backends.
//!
//! A long `app.booking.batch.max_wait_ms` makes the batches deterministic: the first request
//! starts the event's batch, which waits that long before it takes every request queued by then.
//! Requests are sent a few milliseconds apart, so they arrive — and are decided — in that order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::support::{Backend, TestApp, Who, assert_invariant, organizer, spawn_app_with, user};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

/// The batch window of these tests: long enough for every request of a test to be queued.
const WINDOW_MS: &str = "400";
/// Time between two requests of one batch: keeps their arrival order.
const SPACING: Duration = Duration::from_millis(20);

/// Runs the body on SQLite and on PostgreSQL, with `backend` naming the one.
macro_rules! by_backend {
    ($name:ident, |$backend:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $backend = Backend::Sqlite;
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $backend = Backend::Postgres;
                $body
            }
        }
    };
}

async fn batching_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(
        backend,
        &[
            ("APP__APP__BOOKING__BATCH__MAX_WAIT_MS", WINDOW_MS),
            ("APP__APP__BOOKING__BATCH__MAX_SIZE", "64"),
        ],
    )
    .await
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    let db = &app.services.db;
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

async fn event_version(app: &TestApp, event_id: i64) -> i64 {
    scalar(
        app,
        &format!("SELECT version FROM events WHERE id = {event_id}"),
    )
    .await
}

async fn created_events(app: &TestApp, event_id: i64) -> i64 {
    scalar(
        app,
        &format!(
            "SELECT COUNT(*) FROM outbox WHERE event_type = 'booking.created' AND aggregate_id IN \
             (SELECT CAST(id AS TEXT) FROM bookings WHERE event_id = {event_id})"
        ),
    )
    .await
}

async fn bookings_of(app: &TestApp, event_id: i64) -> i64 {
    scalar(
        app,
        &format!("SELECT COUNT(*) FROM bookings WHERE event_id = {event_id}"),
    )
    .await
}

/// Sends the requests `SPACING` apart without waiting for answers; answers them in order.
async fn send_spaced(app: &TestApp, requests: Vec<(Who, Value)>) -> Vec<(u16, Value)> {
    let mut pending = Vec::new();
    for (who, body) in requests {
        let r = app
            .req(reqwest::Method::POST, "/api/v1/bookings", Some(who))
            .json(&body);
        let client = app.client.clone();
        pending.push(tokio::spawn(async move {
            let response = client.execute(r.build().unwrap()).await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }));
        tokio::time::sleep(SPACING).await;
    }
    let mut answers = Vec::new();
    for p in pending {
        answers.push(p.await.unwrap());
    }
    answers
}

fn book(event_id: i64) -> Value {
    json!({"event_id": event_id, "quantity": 1})
}

by_backend!(one_batch_answers_each_request_on_its_own, |backend| {
    let Some(app) = batching_app(backend).await else {
        return;
    };
    let org = organizer(1);
    let event = app.published_event(org, 4, "100.00", 30).await;
    let (status, promo) = app
        .post(
            "/api/v1/promo-codes",
            Some(org),
            json!({"code": "LAST-ONE", "discount_percentage": 50, "event_id": event,
                       "max_uses": 1}),
        )
        .await;
    assert_eq!(status, 201, "{promo}");
    // Sold out: user 1 holds 1 seat, user 2 holds 3; user 3 waits for 1.
    app.book(user(1), event, 1).await;
    let big = app.book(user(2), event, 3).await;
    let (status, entry) = app
        .post(
            &format!("/api/v1/events/{event}/waitlist"),
            Some(user(3)),
            json!({"quantity": 1}),
        )
        .await;
    assert_eq!(status, 201, "{entry}");
    // User 2 cancels: user 3 is offered 1 held seat, 2 seats are free.
    app.cancel_booking(user(2), big["id"].as_i64().unwrap(), json!({}))
        .await;
    assert_eq!(assert_invariant(&app, event).await, (2, 1, 1));
    let version = event_version(&app, event).await;
    let created = created_events(&app, event).await;

    let answers = send_spaced(
        &app,
        vec![
            (
                user(4),
                json!({"event_id": event, "quantity": 1, "promo_code": "LAST-ONE"}),
            ),
            (user(1), book(event)), // already holds a booking
            (
                user(5),
                json!({"event_id": event, "quantity": 1, "promo_code": "LAST-ONE"}),
            ),
            (user(3), book(event)), // books on the held seat
            (user(6), book(event)), // the last free seat
            (user(7), book(event)), // nothing left
        ],
    )
    .await;
    let codes: Vec<_> = answers
        .iter()
        .map(|(s, b)| (*s, b["code"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(
        codes,
        [
            (201, String::new()),
            (409, "ALREADY_BOOKED".to_owned()),
            (409, "PROMO_CODE_INVALID".to_owned()),
            (201, String::new()),
            (201, String::new()),
            (409, "SOLD_OUT".to_owned()),
        ],
        "{answers:?}"
    );
    // the promo's one use went to the first; its price is halved
    assert_eq!(answers[0].1["total_price"], "50.00", "{}", answers[0].1);
    assert_eq!(answers[3].1["total_price"], "100.00");
    for (status, body) in &answers {
        if *status == 409 {
            assert_eq!(body["status"], 409, "problem+json: {body}");
        }
    }

    // one transaction, one seat update for the whole batch
    assert_eq!(event_version(&app, event).await, version + 1);
    assert_eq!(assert_invariant(&app, event).await, (0, 4, 0));
    assert_eq!(created_events(&app, event).await, created + 3);
    assert_eq!(
        scalar(
            &app,
            &format!(
                "SELECT CAST(current_uses AS BIGINT) FROM promo_codes WHERE id = {}",
                promo["id"]
            )
        )
        .await,
        1
    );
    let (status, converted) = app
        .get(
            &format!("/api/v1/events/{event}/waitlist?status=CONVERTED"),
            Some(org),
        )
        .await;
    assert_eq!(status, 200, "{converted}");
    assert_eq!(
        converted["entries"][0]["user_id"],
        user(3).id.to_string(),
        "{converted}"
    );
});

by_backend!(
    a_failed_batch_transaction_writes_nothing_and_answers_everyone,
    |backend| {
        let Some(app) = batching_app(backend).await else {
            return;
        };
        let event = app.published_event(organizer(1), 10, "100.00", 30).await;
        // The database refuses any booking of user 66: the batch's insert fails, every time.
        let poison = user(66).id;
        let db = &app.services.db;
        let sql = match backend {
            Backend::Postgres => vec![
                "CREATE FUNCTION refuse_user_66() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
                    .to_owned(),
                format!(
                    "CREATE TRIGGER refuse_66 BEFORE INSERT ON bookings FOR EACH ROW \
                     WHEN (NEW.user_id = '{poison}') EXECUTE FUNCTION refuse_user_66()"
                ),
            ],
            Backend::Sqlite => vec![format!(
                "CREATE TRIGGER refuse_66 BEFORE INSERT ON bookings \
                 WHEN NEW.user_id = X'{}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                poison.simple()
            )],
        };
        for statement in sql {
            db.execute_unprepared(&statement).await.unwrap();
        }
        let version = event_version(&app, event).await;

        let answers = send_spaced(
            &app,
            vec![
                (user(1), book(event)),
                (user(66), book(event)),
                (user(2), book(event)),
            ],
        )
        .await;
        for (status, body) in &answers {
            assert_eq!(*status, 500, "every waiter is answered: {body}");
            assert_eq!(body["code"], "INTERNAL_ERROR", "{body}");
        }
        assert_eq!(bookings_of(&app, event).await, 0);
        assert_eq!(created_events(&app, event).await, 0);
        assert_eq!(event_version(&app, event).await, version);
        assert_eq!(assert_invariant(&app, event).await, (10, 0, 0));

        // the queue goes on: the next batch places its bookings
        let answers = send_spaced(&app, vec![(user(1), book(event)), (user(2), book(event))]).await;
        assert!(answers.iter().all(|(s, _)| *s == 201), "{answers:?}");
        assert_eq!(assert_invariant(&app, event).await, (8, 2, 0));
    }
);

by_backend!(
    a_batched_request_is_replayed_by_its_idempotency_key,
    |backend| {
        let Some(app) = batching_app(backend).await else {
            return;
        };
        let event = app.published_event(organizer(1), 10, "100.00", 30).await;
        let keyed = |who: Who| {
            app.req(reqwest::Method::POST, "/api/v1/bookings", Some(who))
                .header("Idempotency-Key", format!("flash-{}", who.id))
                .json(&book(event))
        };
        let first = tokio::spawn(keyed(user(1)).send());
        tokio::time::sleep(SPACING).await;
        let other = tokio::spawn(keyed(user(2)).send());
        let first = first.await.unwrap().unwrap();
        assert_eq!(first.status().as_u16(), 201);
        let first: Value = first.json().await.unwrap();
        assert_eq!(other.await.unwrap().unwrap().status().as_u16(), 201);

        let again = keyed(user(1)).send().await.unwrap();
        assert_eq!(again.status().as_u16(), 201);
        assert_eq!(
            again
                .headers()
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        let again: Value = again.json().await.unwrap();
        assert_eq!(again["id"], first["id"]);
        assert_eq!(bookings_of(&app, event).await, 2);
        assert_eq!(assert_invariant(&app, event).await, (8, 2, 0));
    }
);

/// Two instances on one database, each batching its own requests: the seat update stays a
/// conditional statement, so together they place exactly `capacity` bookings.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_hammering_one_event_place_exactly_its_capacity() {
    let Some(first) = spawn_app_with(Backend::Postgres, &[]).await else {
        return;
    };
    let second = crate::support::spawn_app_on(&first, &[]).await;
    let event = first.published_event(organizer(1), 100, "100.00", 30).await;

    let mut tasks = Vec::new();
    for n in 0..400u128 {
        let app = if n % 2 == 0 { &first } else { &second };
        let r = app
            .req(
                reqwest::Method::POST,
                "/api/v1/bookings",
                Some(user(10_000 + n)),
            )
            .json(&book(event));
        tasks.push(tokio::spawn(async move {
            let response = r.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body["code"].as_str().unwrap_or("").to_owned())
        }));
    }
    let (mut placed, mut sold_out) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            (201, _) => placed += 1,
            (409, code) if code == "SOLD_OUT" => sold_out += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((placed, sold_out), (100, 300));
    assert_eq!(assert_invariant(&first, event).await, (0, 100, 0));
    assert_eq!(bookings_of(&first, event).await, 100);
    assert_eq!(created_events(&first, event).await, 100);
}

// Hole 6 (issue 12): seat hoarding. A user holds at most `max_seats_per_user_per_event` seats of
// an event and `max_unpaid_seats_per_user` unpaid seats over all events; both are checked in the
// batch, against one query for the batch's users, in arrival order. A refused request writes
// nothing and the others of its batch go on.
by_backend!(hole_6_seat_hoarding_limits, |backend| {
    let Some(app) = spawn_app_with(
        backend,
        &[
            ("APP__APP__BOOKING__BATCH__MAX_WAIT_MS", WINDOW_MS),
            ("APP__APP__BOOKING__BATCH__MAX_SIZE", "64"),
            ("APP__APP__BOOKING__MAX_SEATS_PER_USER_PER_EVENT", "3"),
            ("APP__APP__BOOKING__MAX_UNPAID_SEATS_PER_USER", "5"),
        ],
    )
    .await
    else {
        return;
    };
    let org = organizer(1);
    let a = app.published_event(org, 30, "100.00", 30).await;
    let b = app.published_event(org, 30, "100.00", 30).await;
    let c = app.published_event(org, 30, "100.00", 30).await;
    let free = app.published_event(org, 30, "0.00", 30).await;
    let first = app.book(user(1), a, 3).await; // user 1: 3 unpaid seats
    let quantity = |event: i64, q: u32| json!({"event_id": event, "quantity": q});

    // One batch on event b.
    let answers = send_spaced(
        &app,
        vec![
            (user(1), quantity(b, 3)), // 3 + 3 unpaid > 5
            (user(1), quantity(b, 2)), // 3 + 2 = 5: fits
            (user(1), quantity(b, 1)), // already booked in this batch
            (user(3), quantity(b, 4)), // 4 seats of one event > 3
            (user(3), quantity(b, 3)), // fits
        ],
    )
    .await;
    let codes: Vec<_> = answers
        .iter()
        .map(|(s, body)| (*s, body["code"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(
        codes,
        [
            (409, "UNPAID_SEAT_LIMIT".to_owned()),
            (201, String::new()),
            (409, "ALREADY_BOOKED".to_owned()),
            (409, "SEAT_LIMIT_PER_USER".to_owned()),
            (201, String::new()),
        ],
        "{answers:?}"
    );
    assert_eq!(bookings_of(&app, b).await, 2, "refusals wrote nothing");
    assert_eq!(assert_invariant(&app, b).await.0, 25);

    // User 1 now holds 5 unpaid seats: another event is refused, a free one is not (a free
    // booking is confirmed at once, never unpaid).
    let (status, problem) = app
        .post("/api/v1/bookings", Some(user(1)), quantity(c, 1))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("UNPAID_SEAT_LIMIT")),
        "{problem}"
    );
    let (status, confirmed) = app
        .post("/api/v1/bookings", Some(user(1)), quantity(free, 3))
        .await;
    assert_eq!(status, 201, "{confirmed}");
    assert_eq!(confirmed["status"], "CONFIRMED");

    // Paying frees the unpaid allowance.
    let payment = app.pay(user(1), first["id"].as_i64().unwrap()).await;
    let reference = payment["gateway_reference"].as_str().unwrap().to_owned();
    let (status, paid) = app
        .post(
            &format!("/sandbox/payments/{reference}"),
            None,
            json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    let (status, booked) = app
        .post("/api/v1/bookings", Some(user(1)), quantity(c, 3))
        .await;
    assert_eq!(status, 201, "{booked}");
});

// Hole 6, per event: an event's own `max_seats_per_user` replaces the instance-wide limit, in
// either direction; it is set on create and changed on update, and out-of-range values are 400.
by_backend!(hole_6_per_event_seat_limit, |backend| {
    let Some(app) = spawn_app_with(
        backend,
        &[("APP__APP__BOOKING__MAX_SEATS_PER_USER_PER_EVENT", "3")],
    )
    .await
    else {
        return;
    };
    let org = organizer(1);
    let start = (app.clock_now() + chrono::Duration::days(20)).to_rfc3339();
    let event = |limit: Value| {
        json!({
            "name": "Limited", "start_date": start, "max_participants": 50, "price": "10.00",
            "booking_deadline_hours": 0, "auto_publish": true, "max_seats_per_user": limit,
        })
    };
    for bad in [json!(0), json!(-2), json!(100_001)] {
        let (status, problem) = app.post("/api/v1/events", Some(org), event(bad)).await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(
            problem["errors"][0]["field"], "max_seats_per_user",
            "{problem}"
        );
    }
    let (status, wide) = app.post("/api/v1/events", Some(org), event(json!(5))).await;
    assert_eq!(status, 201, "{wide}");
    assert_eq!(wide["max_seats_per_user"], 5);
    let wide = wide["id"].as_i64().unwrap();
    let (status, narrow) = app.post("/api/v1/events", Some(org), event(json!(2))).await;
    assert_eq!(status, 201, "{narrow}");
    let narrow = narrow["id"].as_i64().unwrap();
    let (status, default) = app
        .post("/api/v1/events", Some(org), event(Value::Null))
        .await;
    assert_eq!(status, 201, "{default}");
    assert_eq!(default["max_seats_per_user"], Value::Null);
    let default = default["id"].as_i64().unwrap();

    let book = |event: i64, who: u128, quantity: u32| {
        let app = &app;
        async move {
            let (status, body) = app
                .post(
                    "/api/v1/bookings",
                    Some(user(who)),
                    json!({"event_id": event, "quantity": quantity}),
                )
                .await;
            (status, body["code"].as_str().unwrap_or("").to_owned())
        }
    };
    let refused = (409, "SEAT_LIMIT_PER_USER".to_owned());
    assert_eq!(book(wide, 1, 5).await.0, 201, "above the instance-wide 3");
    assert_eq!(book(narrow, 1, 3).await, refused);
    assert_eq!(book(narrow, 1, 2).await.0, 201);
    assert_eq!(book(default, 1, 4).await, refused);
    assert_eq!(book(default, 1, 3).await.0, 201);

    let (status, updated) = app
        .put(
            &format!("/api/v1/events/{narrow}"),
            Some(org),
            json!({"max_seats_per_user": 1}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["max_seats_per_user"], 1);
    assert_eq!(book(narrow, 2, 2).await, refused);
    assert_eq!(book(narrow, 2, 1).await.0, 201);
    let (status, problem) = app
        .put(
            &format!("/api/v1/events/{narrow}"),
            Some(org),
            json!({"max_seats_per_user": 0}),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(bookings_of(&app, narrow).await, 2, "refusals wrote nothing");
});
