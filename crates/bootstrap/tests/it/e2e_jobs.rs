//! The scheduled jobs over HTTP: `POST /internal/jobs/{name}` (ADMIN), `GET
//! /actuator/scheduledtasks`, and what the jobs implemented here do (complete-events,
//! send-reminders, publish-scheduled-events, retention), on SQLite and PostgreSQL. The
//! multi-instance lock is in `usecases_jobs.rs`; the reminders reaching the broker in
//! `e2e_broker.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::time::{Duration, Instant};

use crate::support::{Backend, TestApp, admin, organizer, spawn_app_with, user};
use serde_json::{Value, json};

const JOBS: [&str; 9] = [
    "expire-bookings",
    "process-waitlist",
    "cleanup-expired-waitlist",
    "complete-events",
    "publish-scheduled-events",
    "send-reminders",
    "crew-retry",
    "process-refunds",
    "retention",
];

async fn run_job(app: &TestApp, name: &str) -> Value {
    let (status, body) = app
        .post(&format!("/internal/jobs/{name}"), Some(admin()), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["job"], name, "{body}");
    body
}

fn task<'a>(tasks: &'a Value, name: &str) -> &'a Value {
    tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{name} missing from {tasks}"))
}

on_both!(only_admins_run_jobs_and_see_them, |app| {
    let path = "/internal/jobs/complete-events";
    let (status, body) = app.post(path, None, json!({})).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = app.post(path, Some(user(1)), json!({})).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app.post(path, Some(organizer(1)), json!({})).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app
        .post("/internal/jobs/launch-rockets", Some(admin()), json!({}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "NOT_FOUND", "{body}");
    let (status, body) = app
        .post(
            "/internal/jobs/process-waitlist?eventId=abc",
            Some(admin()),
            json!({}),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = app.get("/actuator/scheduledtasks", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = app.get("/actuator/scheduledtasks", Some(user(1))).await;
    assert_eq!(status, 403, "{body}");
});

on_both!(scheduledtasks_lists_every_job_with_its_last_run, |app| {
    let (status, before) = app.get("/actuator/scheduledtasks", Some(admin())).await;
    assert_eq!(status, 200, "{before}");
    let names: Vec<&str> = before["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, JOBS);
    assert_eq!(
        task(&before, "expire-bookings")["schedule"],
        "every 60000ms"
    );
    assert_eq!(
        task(&before, "process-waitlist")["schedule"],
        "every 300000ms"
    );
    assert_eq!(
        task(&before, "complete-events")["schedule"],
        "cron 0 0 * * * *"
    );
    assert!(task(&before, "complete-events")["last_run"].is_null());

    let ran = run_job(&app, "publish-scheduled-events").await;
    assert_eq!(ran["outcome"], "SUCCEEDED", "{ran}");
    assert_eq!(ran["processed"], 0);
    assert!(ran["duration_ms"].is_u64());
    let ran = run_job(&app, "retention").await;
    assert_eq!(ran["outcome"], "SUCCEEDED", "{ran}");

    let (_, after) = app.get("/actuator/scheduledtasks", Some(admin())).await;
    for name in ["publish-scheduled-events", "retention"] {
        let last = &task(&after, name)["last_run"];
        assert_eq!(last["processed"], 0, "{after}");
        assert!(last["error"].is_null(), "{after}");
        assert!(!last["instance"].as_str().unwrap().is_empty(), "{after}");
        assert_eq!(
            last["started_at"].as_str().unwrap(),
            ran["started_at"].as_str().unwrap(),
            "the manual clock's time: {after}"
        );
        assert!(last["duration_ms"].is_u64(), "{after}");
    }
    assert!(task(&after, "complete-events")["last_run"].is_null());
});

on_both!(
    complete_events_completes_the_event_and_its_bookings,
    |app| {
        let org = organizer(1);
        let event_id = app.published_event(org, 10, "1000.00", 1).await;
        let (booking_id, _) = app.confirmed_booking(user(1), event_id, 2).await;
        let open_id = app.published_event(org, 10, "1000.00", 30).await;

        let ran = run_job(&app, "complete-events").await;
        assert_eq!(ran["processed"], 0, "nothing has ended yet: {ran}");

        app.clock.advance(chrono::Duration::days(2));
        let ran = run_job(&app, "complete-events").await;
        assert_eq!(ran["outcome"], "SUCCEEDED", "{ran}");
        assert_eq!(ran["processed"], 1, "{ran}");
        let (_, event) = app
            .get(&format!("/api/v1/events/{event_id}"), Some(org))
            .await;
        assert_eq!(event["status"], "COMPLETED", "{event}");
        let (_, booking) = app
            .get(&format!("/api/v1/bookings/{booking_id}"), Some(user(1)))
            .await;
        assert_eq!(booking["status"], "COMPLETED", "{booking}");
        let (_, open) = app
            .get(&format!("/api/v1/events/{open_id}"), Some(org))
            .await;
        assert_eq!(open["status"], "PUBLISHED", "{open}");

        let ran = run_job(&app, "complete-events").await;
        assert_eq!(ran["processed"], 0, "already completed: {ran}");
    }
);

on_both!(reminders_go_out_once_per_booking_and_kind, |app| {
    let event_id = app.published_event(organizer(1), 10, "500.00", 3).await;
    app.confirmed_booking(user(1), event_id, 1).await;
    app.confirmed_booking(user(2), event_id, 1).await;

    assert_eq!(run_job(&app, "send-reminders").await["processed"], 0);
    // 23 h before the start: the 24 h reminders
    app.clock.advance(chrono::Duration::hours(3 * 24 - 23));
    assert_eq!(run_job(&app, "send-reminders").await["processed"], 2);
    assert_eq!(run_job(&app, "send-reminders").await["processed"], 0);
    // 30 min before the start: the 1 h reminders
    app.clock.advance(chrono::Duration::minutes(22 * 60 + 30));
    assert_eq!(run_job(&app, "send-reminders").await["processed"], 2);
    assert_eq!(run_job(&app, "send-reminders").await["processed"], 0);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_runs_jobs_on_their_interval() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("APP__JOBS__SCHEDULER_ENABLED", "true"),
            ("APP__JOBS__PUBLISH_SCHEDULED_INTERVAL_SECONDS", "1"),
        ],
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, tasks) = app.get("/actuator/scheduledtasks", Some(admin())).await;
        assert_eq!(status, 200, "{tasks}");
        let last = &task(&tasks, "publish-scheduled-events")["last_run"];
        if !last.is_null() {
            assert_eq!(last["processed"], 0, "{tasks}");
            // hourly and daily jobs have not come round yet
            assert!(task(&tasks, "retention")["last_run"].is_null(), "{tasks}");
            break;
        }
        assert!(Instant::now() < deadline, "no scheduled run: {tasks}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// expire-bookings over HTTP: a pending booking past deadline + grace expires, its seats come
// back, and a payment the customer completes afterwards is refunded while the booking stays
// EXPIRED.
on_both!(
    expire_bookings_frees_seats_and_refunds_late_payments,
    |app| {
        let alice = user(1);
        let event_id = app.published_event(organizer(1), 10, "100.00", 10).await;
        let booking = app.book(alice, event_id, 3).await;
        let booking_id = booking["id"].as_i64().unwrap();
        let payment = app.pay(alice, booking_id).await;

        let ran = run_job(&app, "expire-bookings").await;
        assert_eq!(ran["processed"], 0, "not due yet: {ran}");

        // Past the 30 min deadline and the 5 min grace of the test profile.
        app.clock.advance(chrono::Duration::minutes(36));
        let ran = run_job(&app, "expire-bookings").await;
        assert_eq!(ran["outcome"], "SUCCEEDED", "{ran}");
        assert_eq!(ran["processed"], 1, "{ran}");
        let (_, event) = app.get(&format!("/api/v1/events/{event_id}"), None).await;
        assert_eq!(event["available_seats"], 10, "{event}");

        let reference = payment["gateway_reference"].as_str().unwrap();
        let (status, paid) = app
            .post(
                &format!("/sandbox/payments/{reference}"),
                None,
                json!({"outcome": "success"}),
            )
            .await;
        assert_eq!(status, 200, "{paid}");
        let (_, b) = app
            .get(&format!("/api/v1/bookings/{booking_id}"), Some(alice))
            .await;
        assert_eq!(b["status"], "EXPIRED", "{b}");
        assert_eq!(b["payments"][0]["status"], "REFUNDED", "{b}");
        assert_eq!(b["payments"][0]["refund_amount"], "300.00", "{b}");
        let (_, event) = app.get(&format!("/api/v1/events/{event_id}"), None).await;
        assert_eq!(event["available_seats"], 10, "{event}");
    }
);

// process-waitlist?eventId= (seed 002): an offer whose window passed expires and its seat goes
// back to the event when nobody else waits.
on_both!(process_waitlist_for_one_event_expires_stale_offers, |app| {
    let org = organizer(1);
    let event_id = app.published_event(org, 1, "100.00", 10).await;
    let (booking_id, _) = app.confirmed_booking(user(1), event_id, 1).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/events/{event_id}/waitlist"),
            Some(user(2)),
            json!({"quantity": 1}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.cancel_booking(user(1), booking_id, json!({})).await;
    let (_, mine) = app
        .get(
            &format!("/api/v1/events/{event_id}/waitlist"),
            Some(user(2)),
        )
        .await;
    assert_eq!(mine["status"], "NOTIFIED", "{mine}");

    app.clock.advance(chrono::Duration::hours(1));
    let (status, ran) = app
        .post(
            &format!("/internal/jobs/process-waitlist?eventId={event_id}"),
            Some(admin()),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{ran}");
    assert_eq!(ran["outcome"], "SUCCEEDED", "{ran}");
    assert_eq!(ran["processed"], 1, "{ran}");
    let (_, event) = app.get(&format!("/api/v1/events/{event_id}"), None).await;
    assert_eq!(event["available_seats"], 1, "{event}");
    let (status, mine) = app
        .get(
            &format!("/api/v1/events/{event_id}/waitlist"),
            Some(user(2)),
        )
        .await;
    assert_eq!(status, 404, "no longer in the queue: {mine}");
});
