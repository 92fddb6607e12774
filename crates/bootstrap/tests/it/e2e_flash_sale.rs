//! A flash sale over HTTP: many distinct users book one seat each at the same moment.
//! Exactly `seats` bookings succeed, every other request is 409 `SOLD_OUT`, nothing is 5xx,
//! the event ends with 0 seats available and the seat invariant holds.
//!
//! PostgreSQL: 300 users for 100 seats (skipped when PostgreSQL is absent, a failure when
//! `EVENT_TEST_REQUIRE_SERVICES=1`). SQLite, the embedded default: 60 users for 20 seats.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::cast_precision_loss
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::support::{Backend, TestApp, admin, organizer, spawn_app, user};

async fn flash_sale(app: TestApp, users: u32, seats: u32) {
    let event_id = app
        .published_event(organizer(1), seats, "1500.00", 30)
        .await;
    let app = Arc::new(app);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(users as usize + 16)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let url = format!("{}/api/v1/bookings", app.base);
    let barrier = Arc::new(Barrier::new(users as usize + 1));

    let mut tasks = Vec::with_capacity(users as usize);
    for n in 1..=users {
        let (client, url, barrier) = (client.clone(), url.clone(), barrier.clone());
        let who = user(u128::from(n));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = client
                .post(&url)
                .header("X-User-Id", who.id.to_string())
                .header("X-User-Role", who.role)
                .json(&json!({"event_id": event_id, "quantity": 1}))
                .send()
                .await
                .expect("request sent");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        results.push(t.await.expect("task finished"));
    }
    let elapsed = started.elapsed();
    eprintln!(
        "flash sale on {:?}: {users} users, {seats} seats: {:.3} s, {:.0} requests/s",
        app.backend,
        elapsed.as_secs_f64(),
        f64::from(users) / elapsed.as_secs_f64()
    );

    let mut by_outcome: BTreeMap<(u16, String), u32> = BTreeMap::new();
    for (status, body) in &results {
        let code = body["code"].as_str().unwrap_or("").to_owned();
        *by_outcome.entry((*status, code)).or_default() += 1;
    }
    let created = by_outcome.get(&(201, String::new())).copied().unwrap_or(0);
    let sold_out = by_outcome
        .get(&(409, "SOLD_OUT".to_owned()))
        .copied()
        .unwrap_or(0);
    let server_errors: Vec<_> = results.iter().filter(|(s, _)| *s >= 500).collect();
    assert!(server_errors.is_empty(), "5xx answers: {server_errors:?}");
    assert_eq!(
        (created, sold_out),
        (seats, users - seats),
        "outcomes: {by_outcome:?}"
    );
    assert_eq!(by_outcome.len(), 2, "other statuses: {by_outcome:?}");
    let mut quantities_created = 0;
    for (status, body) in &results {
        if *status == 201 {
            assert_eq!(body["event_id"], event_id, "{body}");
            assert_eq!(body["status"], "PENDING_PAYMENT", "{body}");
            quantities_created += body["quantity"].as_u64().unwrap();
        }
    }
    assert_eq!(quantities_created, u64::from(seats));

    let (status, event) = app.get(&format!("/api/v1/events/{event_id}"), None).await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["available_seats"], 0, "{event}");
    assert_eq!(event["max_participants"], seats, "{event}");

    let (status, list) = app
        .get(
            &format!("/api/v1/bookings?event_id={event_id}&size=100"),
            Some(admin()),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total_elements"], seats, "{list}");
    let bookings = list["bookings"].as_array().unwrap();
    assert_eq!(bookings.len(), seats as usize, "one page holds them all");
    let held: u64 = bookings
        .iter()
        .filter(|b| b["status"] == "PENDING_PAYMENT" || b["status"] == "CONFIRMED")
        .map(|b| b["quantity"].as_u64().unwrap())
        .sum();
    let available = event["available_seats"].as_u64().unwrap();
    assert_eq!(
        available + held,
        u64::from(seats),
        "seat invariant: available + held = capacity"
    );
    let distinct_users: std::collections::BTreeSet<_> =
        bookings.iter().map(|b| b["user_id"].to_string()).collect();
    assert_eq!(
        distinct_users.len(),
        seats as usize,
        "one booking per winner"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_300_users_100_seats_no_oversell() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    flash_sale(app, 300, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_60_users_20_seats_no_oversell() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    flash_sale(app, 60, 20).await;
}
