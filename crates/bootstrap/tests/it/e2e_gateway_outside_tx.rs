//! No payment-gateway call while a database transaction is open (issue 15 §1), end to end on
//! SQLite and PostgreSQL, with a wiremock stand-in of backend-payment as the default gateway.
//!
//! * A gateway that takes 2 s to answer a refund or a payment initiation must not delay the
//!   bookings other users make on the same event meanwhile (before the fix the refund held the
//!   event's row lock, and on SQLite any open transaction held the only connection).
//! * A cancellation answers its refund PENDING; the process-refunds job sends it (the same key
//!   on every attempt, one `payment.refunded`), backs off while the gateway is unavailable, and
//!   fails it with an `admin.alert` when the gateway refuses.
//! * A payment intent whose gateway answer was lost is resolved with its key, by the job or by
//!   the client's retry; two users reusing one `Idempotency-Key` never collide.

use std::time::{Duration, Instant};

use crate::support::{Backend, TestApp, admin, organizer, spawn_app_with, user};
use application::clock::Clock;
use application::outbox::DomainEventType;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// How long the slow gateway takes to answer.
const SLOW: Duration = Duration::from_secs(2);
/// Users booking while the slow call is in flight.
const OTHERS: u128 = 50;
/// The bound every one of their bookings must meet: 1 s, or, where 50 bookings contending
/// for one event row take longer than that on a quiet gateway (PostgreSQL on a loaded
/// two-core machine commits them one after the other), the quiet round's worst plus 500 ms.
/// Either way well under `SLOW`, and every booking must also finish while the slow call is
/// still in flight; before the fix they all waited for it.
const BOUND: Duration = Duration::from_secs(1);
const MARGIN: Duration = Duration::from_millis(500);

/// The app with the `http` gateway (backend-payment's stand-in) as default: no immediate
/// retries and no breaker, so each call the app makes reaches the stand-in exactly once.
async fn spawn_with_payment(backend: Backend) -> Option<(TestApp, MockServer)> {
    let gateway = MockServer::start().await;
    let url = gateway.uri();
    let app = spawn_app_with(
        backend,
        &[
            ("APP__PAYMENTS__DEFAULT_GATEWAY", "http"),
            ("APP__PAYMENTS__GATEWAYS__HTTP__URL", url.as_str()),
            (
                "APP__PAYMENTS__GATEWAYS__HTTP__RESILIENCE__TIMEOUT_MS",
                "10000",
            ),
            (
                "APP__PAYMENTS__GATEWAYS__HTTP__RESILIENCE__MAX_RETRIES",
                "0",
            ),
        ],
    )
    .await?;
    Some((app, gateway))
}

/// Runs the body against SQLite and PostgreSQL, each with its own backend-payment stand-in.
macro_rules! with_gateway {
    ($name:ident, |$app:ident, $gw:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let ($app, $gw) = spawn_with_payment(Backend::Sqlite).await.unwrap();
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(($app, $gw)) = spawn_with_payment(Backend::Postgres).await else {
                    return;
                };
                $body
            }
        }
    };
}

/// backend-payment answers initiations with `ref-<idempotency key>` after `delay`.
async fn answer_initiations(gw: &MockServer, delay: Duration) {
    Mock::given(method("POST"))
        .and(path("/api/v1/payments"))
        .respond_with(move |req: &wiremock::Request| {
            let key = req
                .headers
                .get("Idempotency-Key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            // The reference is derived from the key: a repeated key is the same session.
            let reference = format!("ref-{key}");
            ResponseTemplate::new(201)
                .set_body_json(json!({
                    "reference": reference,
                    "payment_url": format!("https://pay.example/{reference}"),
                }))
                .set_delay(delay)
        })
        .mount(gw)
        .await;
}

/// backend-payment says every reference is paid for `amount`.
async fn everything_paid(gw: &MockServer, amount: &str) {
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v1/payments/[^/]+$"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "PAID", "amount": amount})),
        )
        .mount(gw)
        .await;
}

/// backend-payment refunds after `delay`, the refund reference derived from the key.
async fn answer_refunds(gw: &MockServer, delay: Duration) {
    Mock::given(method("POST"))
        .and(path_regex(r"^/api/v1/payments/[^/]+/refunds$"))
        .respond_with(move |req: &wiremock::Request| {
            let key = req
                .headers
                .get("Idempotency-Key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            ResponseTemplate::new(201)
                .set_body_json(json!({"refund_reference": format!("rf-{key}")}))
                .set_delay(delay)
        })
        .mount(gw)
        .await;
}

/// How many requests backend-payment received matching `method` and a path ending in `tail`.
async fn received(gw: &MockServer, verb: &str, tail: &str) -> usize {
    gw.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == verb && r.url.path().ends_with(tail))
        .count()
}

/// Waits (at most 10 s) until backend-payment has received `n` such requests.
async fn wait_received(gw: &MockServer, verb: &str, tail: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while received(gw, verb, tail).await < n {
        assert!(
            Instant::now() < deadline,
            "backend-payment never received {n} {verb} …{tail}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A CONFIRMED booking of user 0 paid through the stand-in: (booking id, payment id).
async fn paid_booking(app: &TestApp, gw: &MockServer, event: i64) -> (i64, i64) {
    answer_initiations(gw, Duration::ZERO).await;
    everything_paid(gw, "100.00").await;
    let booking = app.book(user(0), event, 1).await;
    let payment = app.pay(user(0), booking["id"].as_i64().unwrap()).await;
    let reference = payment["gateway_reference"].as_str().unwrap().to_owned();
    let (status, paid) = app
        .post(
            "/api/v1/payments/confirm",
            Some(user(0)),
            json!({"gateway_reference": reference}),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["booking_status"], "CONFIRMED", "{paid}");
    (
        booking["id"].as_i64().unwrap(),
        payment["id"].as_i64().unwrap(),
    )
}

/// Users 1..=50 book one seat each on `event`, all at once; answers every latency.
async fn others_book(app: &TestApp, event: i64) -> Vec<Duration> {
    let runs = (1..=OTHERS).map(|n| async move {
        let started = Instant::now();
        app.book(user(n), event, 1).await;
        started.elapsed()
    });
    futures_util::future::join_all(runs).await
}

fn worst(latencies: &[Duration], what: &str) -> Duration {
    assert_eq!(latencies.len(), usize::try_from(OTHERS).unwrap());
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let worst = sorted[sorted.len() - 1];
    eprintln!(
        "{} bookings {what}: median {:?}, worst {worst:?}",
        latencies.len(),
        sorted[sorted.len() / 2]
    );
    worst
}

/// The quiet round: 50 bookings on a fresh event with no gateway call in flight (this also
/// opens the pool's connections). Answers the bound of the measured round.
async fn quiet_round(app: &TestApp) -> Duration {
    let event = app.published_event(organizer(2), 100, "100.00", 30).await;
    let quiet = worst(&others_book(app, event).await, "with no gateway call");
    BOUND.max(quiet + MARGIN)
}

fn assert_not_delayed(latencies: &[Duration], bound: Duration) {
    let worst = worst(latencies, &format!("during a {SLOW:?} gateway call"));
    assert!(
        worst < bound,
        "a booking took {worst:?} while the gateway call was in flight (bound {bound:?})"
    );
}

with_gateway!(
    a_slow_refund_does_not_delay_the_bookings_of_the_event,
    |app, gw| {
        let event = app.published_event(organizer(1), 100, "100.00", 30).await;
        let (booking, _) = paid_booking(&app, &gw, event).await;
        let bound = quiet_round(&app).await;
        answer_refunds(&gw, SLOW).await;

        // The customer cancels; the refund goes to the gateway (from the cancel itself before the
        // fix, from the process-refunds job after it: triggering an unknown job is a harmless 404).
        let refunding = {
            let app_base = app.base.clone();
            let client = app.client.clone();
            let admin = admin();
            let user0 = user(0);
            tokio::spawn(async move {
                let cancel = client
                    .post(format!("{app_base}/api/v1/bookings/{booking}/cancel"))
                    .header("X-User-Id", user0.id.to_string())
                    .header("X-User-Role", user0.role)
                    .json(&json!({"reason": "plans changed"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(cancel.status().as_u16(), 200);
                // Until a run was not SKIPPED (another test holding the job's lock); before the
                // fix the job did not exist (404) and the cancellation had called the gateway.
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let run = client
                        .post(format!("{app_base}/internal/jobs/process-refunds"))
                        .header("X-User-Id", admin.id.to_string())
                        .header("X-User-Role", admin.role)
                        .json(&json!({}))
                        .send()
                        .await
                        .unwrap();
                    if run.status().as_u16() != 200 {
                        break;
                    }
                    let body: Value = run.json().await.unwrap();
                    if body["outcome"] != "SKIPPED" || Instant::now() > deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        wait_received(&gw, "POST", "/refunds", 1).await;

        let latencies = others_book(&app, event).await;
        let still_in_flight = !refunding.is_finished();
        assert_not_delayed(&latencies, bound);
        assert!(
            still_in_flight,
            "the bookings finished only after the slow refund call: they waited for it"
        );
        refunding.await.unwrap();
    }
);

with_gateway!(
    a_slow_payment_initiation_does_not_delay_other_bookings,
    |app, gw| {
        let event = app.published_event(organizer(1), 100, "100.00", 30).await;
        let booking = app.book(user(0), event, 1).await;
        let bound = quiet_round(&app).await;
        answer_initiations(&gw, SLOW).await;

        let initiating = {
            let app_base = app.base.clone();
            let client = app.client.clone();
            let user0 = user(0);
            let booking_id = booking["id"].clone();
            tokio::spawn(async move {
                client
                    .post(format!("{app_base}/api/v1/payments"))
                    .header("X-User-Id", user0.id.to_string())
                    .header("X-User-Role", user0.role)
                    .json(&json!({"booking_id": booking_id, "payment_method": "CARD"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        };
        wait_received(&gw, "POST", "/api/v1/payments", 1).await;

        let latencies = others_book(&app, event).await;
        let still_in_flight = !initiating.is_finished();
        assert_not_delayed(&latencies, bound);
        assert!(
            still_in_flight,
            "the bookings finished only after the slow initiation call: they waited for it"
        );
        assert_eq!(initiating.await.unwrap(), 201);
    }
);

/// The outbox rows of `kind` about payment `id` (read in a transaction that is rolled back).
async fn outbox_rows(app: &TestApp, kind: DomainEventType, id: i64) -> Vec<Value> {
    let tx = app.services.uow.begin().await.unwrap();
    let rows = tx
        .outbox()
        .claim_batch(app.clock.now() + chrono::Duration::days(3650), 1000)
        .await
        .unwrap();
    drop(tx);
    rows.into_iter()
        .filter(|r| r.message.event_type == kind && r.message.aggregate_id == id.to_string())
        .map(|r| r.message.payload)
        .collect()
}

/// Runs process-refunds once. On PostgreSQL the job's advisory lock is database-wide, so a
/// test running in another schema at the same moment makes a run SKIPPED: try again (10 s at
/// most) until one run actually happened.
async fn process_refunds(app: &TestApp) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = app
            .post("/internal/jobs/process-refunds", Some(admin()), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        if body["outcome"] != "SKIPPED" {
            assert_eq!(body["outcome"], "SUCCEEDED", "{body}");
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "process-refunds kept being skipped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn get_payment(app: &TestApp, who: crate::support::Who, id: i64) -> Value {
    let (status, body) = app.get(&format!("/api/v1/payments/{id}"), Some(who)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Every Idempotency-Key backend-payment received on requests whose path ends in `tail`.
async fn keys_received(gw: &MockServer, tail: &str) -> Vec<String> {
    gw.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with(tail))
        .map(|r| {
            r.headers
                .get("Idempotency-Key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

async fn cancel(app: &TestApp, booking: i64) -> Value {
    app.cancel_booking(user(0), booking, json!({"reason": "plans changed"}))
        .await
}

with_gateway!(
    a_cancellation_answers_the_refund_pending_and_the_job_sends_it,
    |app, gw| {
        let event = app.published_event(organizer(1), 10, "100.00", 30).await;
        let (booking, payment) = paid_booking(&app, &gw, event).await;
        answer_refunds(&gw, Duration::ZERO).await;

        let canceled = cancel(&app, booking).await;
        assert_eq!(canceled["booking"]["status"], "CANCELED", "{canceled}");
        assert_eq!(canceled["refund_amount"], "100.00", "{canceled}");
        // The seats are back at once; the money is on its way.
        let (_, details) = app.get(&format!("/api/v1/events/{event}"), None).await;
        assert_eq!(details["available_seats"], 10, "{details}");
        assert_eq!(received(&gw, "POST", "/refunds").await, 0);
        let pending = get_payment(&app, user(0), payment).await;
        assert_eq!(pending["status"], "REFUNDED", "{pending}");
        assert_eq!(pending["refund_amount"], "100.00", "{pending}");
        assert_eq!(pending["refunds"][0]["status"], "PENDING", "{pending}");
        assert_eq!(pending["refunds"][0]["amount"], "100.00", "{pending}");
        assert_eq!(pending["refunds"][0]["attempts"], 0, "{pending}");
        assert!(
            outbox_rows(&app, DomainEventType::PaymentRefunded, payment)
                .await
                .is_empty()
        );

        let run = process_refunds(&app).await;
        assert_eq!(run["processed"], 1, "{run}");

        let done = get_payment(&app, user(0), payment).await;
        assert_eq!(done["status"], "REFUNDED", "{done}");
        assert_eq!(done["refunds"][0]["status"], "SUCCEEDED", "{done}");
        let keys = keys_received(&gw, "/refunds").await;
        assert_eq!(keys.len(), 1);
        assert!(
            keys[0].starts_with("rfd_") && keys[0].len() == 68,
            "{keys:?}"
        );
        assert_eq!(
            done["refunds"][0]["gateway_reference"],
            format!("rf-{}", keys[0]).as_str(),
            "{done}"
        );
        let events = outbox_rows(&app, DomainEventType::PaymentRefunded, payment).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["refunded"], "100.00");
    }
);

with_gateway!(
    an_unavailable_gateway_is_retried_with_the_same_key_and_refunds_once,
    |app, gw| {
        let event = app.published_event(organizer(1), 10, "100.00", 30).await;
        let (booking, payment) = paid_booking(&app, &gw, event).await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/api/v1/payments/[^/]+/refunds$"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&gw)
            .await;
        answer_refunds(&gw, Duration::ZERO).await;
        cancel(&app, booking).await;

        process_refunds(&app).await;
        let waiting = get_payment(&app, admin(), payment).await;
        assert_eq!(waiting["refunds"][0]["status"], "PENDING", "{waiting}");
        assert_eq!(waiting["refunds"][0]["attempts"], 1, "{waiting}");
        assert!(
            waiting["refunds"][0]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("unavailable")),
            "{waiting}"
        );
        // Not due before the backoff (30 s by default) has passed.
        process_refunds(&app).await;
        assert_eq!(keys_received(&gw, "/refunds").await.len(), 1);

        app.clock.advance(chrono::Duration::seconds(31));
        process_refunds(&app).await;
        // Nothing is due any more: a later run sends nothing.
        app.clock.advance(chrono::Duration::hours(1));
        process_refunds(&app).await;

        let done = get_payment(&app, admin(), payment).await;
        assert_eq!(done["refunds"][0]["status"], "SUCCEEDED", "{done}");
        assert_eq!(done["refunds"][0]["attempts"], 2, "{done}");
        let keys = keys_received(&gw, "/refunds").await;
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert_eq!(keys[0], keys[1], "every attempt sends the refund's one key");
        assert_eq!(
            outbox_rows(&app, DomainEventType::PaymentRefunded, payment)
                .await
                .len(),
            1
        );
    }
);

with_gateway!(
    a_refused_refund_fails_raises_an_alert_and_stays_visible_to_admins,
    |app, gw| {
        let event = app.published_event(organizer(1), 10, "100.00", 30).await;
        let (booking, payment) = paid_booking(&app, &gw, event).await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/api/v1/payments/[^/]+/refunds$"))
            .respond_with(
                ResponseTemplate::new(422).set_body_json(json!({"detail": "card account closed"})),
            )
            .mount(&gw)
            .await;
        cancel(&app, booking).await;

        process_refunds(&app).await;

        let failed = get_payment(&app, admin(), payment).await;
        assert_eq!(failed["refunds"][0]["status"], "FAILED", "{failed}");
        assert!(
            failed["refunds"][0]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("card account closed")),
            "{failed}"
        );
        // The money did not go back: it is refundable again.
        assert_eq!(failed["status"], "COMPLETED", "{failed}");
        assert_eq!(failed["refund_amount"], "0.00", "{failed}");
        let alerts = outbox_rows(&app, DomainEventType::AdminAlert, payment).await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0]["alert"], "REFUND_FAILED");
        assert_eq!(alerts[0]["refund"]["status"], "FAILED");
        assert!(
            outbox_rows(&app, DomainEventType::PaymentRefunded, payment)
                .await
                .is_empty()
        );
        process_refunds(&app).await;
        assert_eq!(keys_received(&gw, "/refunds").await.len(), 1, "not retried");
    }
);

with_gateway!(
    an_intent_whose_answer_was_lost_is_reconciled_by_its_key,
    |app, gw| {
        let event = app.published_event(organizer(1), 10, "100.00", 30).await;
        let booking = app.book(user(0), event, 1).await;
        // The gateway's answer is lost once (it may or may not have started the session).
        Mock::given(method("POST"))
            .and(path("/api/v1/payments"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&gw)
            .await;
        answer_initiations(&gw, Duration::ZERO).await;
        everything_paid(&gw, "100.00").await;

        let (status, body) = app
            .post(
                "/api/v1/payments",
                Some(user(0)),
                json!({"booking_id": booking["id"], "payment_method": "CARD"}),
            )
            .await;
        assert_eq!(status, 503, "{body}");
        let (_, details) = app
            .get(
                &format!("/api/v1/bookings/{}", booking["id"]),
                Some(user(0)),
            )
            .await;
        let intent = &details["payments"][0];
        assert_eq!(intent["status"], "INITIATED", "{details}");
        assert!(intent["gateway_reference"].is_null(), "{details}");
        let payment = intent["id"].as_i64().unwrap();

        // Too young: its initiation may still be running.
        process_refunds(&app).await;
        assert_eq!(keys_received(&gw, "/api/v1/payments").await.len(), 1);

        app.clock.advance(chrono::Duration::minutes(3));
        let run = process_refunds(&app).await;

        let keys = keys_received(&gw, "/api/v1/payments").await;
        assert_eq!(keys.len(), 2, "{keys:?} {run}");
        assert_eq!(keys[0], keys[1], "asked again with the same key");
        let resolved = get_payment(&app, user(0), payment).await;
        assert_eq!(
            resolved["gateway_reference"],
            format!("ref-{}", keys[0]).as_str(),
            "{resolved}"
        );
        // The gateway said paid: the booking is confirmed.
        assert_eq!(resolved["status"], "COMPLETED", "{resolved}");
        let (_, details) = app
            .get(
                &format!("/api/v1/bookings/{}", booking["id"]),
                Some(user(0)),
            )
            .await;
        assert_eq!(details["status"], "CONFIRMED", "{details}");
    }
);

with_gateway!(
    a_client_retry_with_its_key_resumes_the_same_payment,
    |app, gw| {
        let event = app.published_event(organizer(1), 10, "100.00", 30).await;
        let booking = app.book(user(0), event, 1).await;
        Mock::given(method("POST"))
            .and(path("/api/v1/payments"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&gw)
            .await;
        answer_initiations(&gw, Duration::ZERO).await;
        let pay = || {
            app.send(
                app.req(reqwest::Method::POST, "/api/v1/payments", Some(user(0)))
                    .header("Idempotency-Key", "checkout-1")
                    .json(&json!({"booking_id": booking["id"], "payment_method": "CARD"})),
            )
        };

        let (status, body) = pay().await;
        assert_eq!(status, 503, "{body}");
        let (status, body) = pay().await;
        assert_eq!(status, 201, "{body}");

        let (_, details) = app
            .get(
                &format!("/api/v1/bookings/{}", booking["id"]),
                Some(user(0)),
            )
            .await;
        assert_eq!(
            details["payments"].as_array().unwrap().len(),
            1,
            "the retry resumed the first intent: {details}"
        );
        assert_eq!(details["payments"][0]["id"], body["id"], "{details}");
        let keys = keys_received(&gw, "/api/v1/payments").await;
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], keys[1]);
        assert!(
            !keys[0].contains("checkout-1"),
            "the client's key is not sent as is"
        );
    }
);

/// Issue 12 #2: two users reusing one `Idempotency-Key` used to collide on the gateway
/// reference (a 500). Now each gets a payment of their own.
mod two_users_reusing_one_key_each_get_their_payment {
    use super::*;

    async fn run(app: TestApp) {
        let event = app.published_event(organizer(1), 10, "100.00", 30).await;
        let mut references = Vec::new();
        for who in [user(1), user(2)] {
            let booking = app.book(who, event, 1).await;
            let (status, body) = app
                .send(
                    app.req(reqwest::Method::POST, "/api/v1/payments", Some(who))
                        .header("Idempotency-Key", "walkthrough-1")
                        .json(&json!({"booking_id": booking["id"], "payment_method": "CARD"})),
                )
                .await;
            assert_eq!(status, 201, "{body}");
            references.push(body["gateway_reference"].as_str().unwrap().to_owned());
        }
        assert_ne!(references[0], references[1]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(crate::support::spawn_app(Backend::Sqlite).await.unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = crate::support::spawn_app(Backend::Postgres).await {
            run(app).await;
        }
    }
}

/// Where the scheduler runs, a cancellation wakes process-refunds at once: with the job's
/// schedule an hour away, the refund still reaches the gateway within seconds.
mod a_cancellation_wakes_the_refund_sender {
    use super::*;

    async fn run(backend: Backend) {
        let gateway = MockServer::start().await;
        let url = gateway.uri();
        let Some(app) = spawn_app_with(
            backend,
            &[
                ("APP__PAYMENTS__DEFAULT_GATEWAY", "http"),
                ("APP__PAYMENTS__GATEWAYS__HTTP__URL", url.as_str()),
                (
                    "APP__PAYMENTS__GATEWAYS__HTTP__RESILIENCE__MAX_RETRIES",
                    "0",
                ),
                ("APP__JOBS__SCHEDULER_ENABLED", "true"),
                ("APP__JOBS__PROCESS_REFUNDS_INTERVAL_SECONDS", "3600"),
            ],
        )
        .await
        else {
            return;
        };
        let event = app.published_event(organizer(1), 10, "100.00", 30).await;
        let (booking, payment) = paid_booking(&app, &gateway, event).await;
        answer_refunds(&gateway, Duration::ZERO).await;

        cancel(&app, booking).await;

        wait_received(&gateway, "POST", "/refunds", 1).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let done = get_payment(&app, user(0), payment).await;
            if done["refunds"][0]["status"] == "SUCCEEDED" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the refund was never recorded: {done}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(Backend::Postgres).await;
    }
}
