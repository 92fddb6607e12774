//! Domain events reaching a real RabbitMQ through the outbox relay (`TEST_AMQP_URL`, default
//! the local broker; `SKIPPED` without one unless `EVENT_TEST_REQUIRE_SERVICES=1`). Each test
//! publishes to its own exchange and consumes from its own exclusive queue.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::support::{
    Backend, TestApp, admin, organizer, spawn_app_publishing, spawn_app_with, user,
};
use adapters_messaging::testing::{
    Received, TestConsumer, amqp_url, broker_reachable, unique_name,
};
use adapters_messaging::{AmqpConfig, AmqpPublisher};
use application::outbox::{DomainEventType, OutboxMessage, OutboxRecord};
use application::ports::{MessagePublisher, PublishError};
use application::services::{OutboxRelay, RetryPolicy};
use async_trait::async_trait;
use serde_json::json;
use test_db::require_services;

/// A consumer on a fresh exchange, or `None` (SKIPPED) when no broker answers. A broker that
/// answers but refuses the bind fails the test.
async fn consumer(test: &str, patterns: &[&str]) -> Option<(String, TestConsumer)> {
    let url = amqp_url();
    if !broker_reachable(&url) {
        assert!(
            !require_services(),
            "RabbitMQ at {url} is required but does not answer"
        );
        eprintln!("SKIPPED (no RabbitMQ at {url})");
        return None;
    }
    let exchange = unique_name(&format!("e2e.{test}"));
    match TestConsumer::bind(&url, &exchange, patterns).await {
        Ok(c) => Some((exchange, c)),
        Err(e) => panic!("binding a consumer on RabbitMQ at {url}: {e}"),
    }
}

/// The settings of an app whose relay publishes to `exchange`, polling fast.
fn broker_env(exchange: &str) -> Vec<(&'static str, String)> {
    vec![
        ("APP__BROKER__URL", amqp_url()),
        ("APP__BROKER__EXCHANGE", exchange.to_owned()),
        ("APP__BROKER__RELAY_ENABLED", "true".to_owned()),
        ("APP__BROKER__RELAY_POLL_INTERVAL_MS", "20".to_owned()),
        ("APP__BROKER__RELAY_MAX_BACKOFF_MS", "100".to_owned()),
    ]
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Receives until `done` holds for what arrived, or fails after `within`.
async fn receive_until(
    consumer: &mut TestConsumer,
    within: Duration,
    done: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while !done(&got) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out; received so far: {got:#?}");
        if let Some(m) = consumer.next(left.min(Duration::from_millis(500))).await {
            got.push(m);
        }
    }
    got
}

async fn a_bookings_life_reaches_a_consumer_in_order(backend: Backend) {
    let Some((exchange, mut consumer)) =
        consumer("life", &["booking.*", "payment.*", "event.published"]).await
    else {
        return;
    };
    let env = broker_env(&exchange);
    let Some(app) = spawn_app_with(backend, &as_refs(&env)).await else {
        return;
    };
    let (status, health) = app.get("/actuator/health", Some(admin())).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["components"]["broker"]["status"], "UP", "{health}");

    let event_id = app.published_event(organizer(1), 10, "1000.00", 30).await;
    let (booking_id, payment_id) = app.confirmed_booking(user(1), event_id, 2).await;
    app.cancel_booking(user(1), booking_id, json!({"reason": "plans changed"}))
        .await;
    // The refund is sent (and `payment.refunded` written) after the cancellation committed.
    // The job's advisory lock is database-wide on PostgreSQL: a test in another schema running
    // it at the same moment makes this run SKIPPED, so try until one ran (10 s at most).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = app
            .post("/internal/jobs/process-refunds", Some(admin()), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        if body["outcome"] != "SKIPPED" {
            assert_eq!(body["processed"], 1, "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "process-refunds kept being skipped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let booking = booking_id.to_string();
    let got = receive_until(&mut consumer, Duration::from_secs(20), |got| {
        got.iter().any(|m| {
            m.routing_key == "booking.canceled" && m.body["aggregate_id"] == booking.as_str()
        }) && got.iter().any(|m| m.routing_key == "payment.refunded")
    })
    .await;

    // every message: the AMQP properties and the envelope agree
    for m in &got {
        assert_eq!(m.kind.as_deref(), Some(m.routing_key.as_str()), "{m:?}");
        assert_eq!(m.body["type"], m.routing_key.as_str(), "{m:?}");
        assert_eq!(m.message_id.as_deref(), m.body["id"].as_str(), "{m:?}");
        assert_eq!(m.content_type.as_deref(), Some("application/json"));
        assert_eq!(m.delivery_mode, Some(2));
        assert!(
            m.body["occurred_at"].as_str().unwrap().ends_with('Z'),
            "{m:?}"
        );
        assert!(m.body["version"].is_i64(), "{m:?}");
        assert!(m.body["payload"].is_object(), "{m:?}");
    }
    // one outbox row, one message: published in id order
    let ids: Vec<i64> = got
        .iter()
        .map(|m| m.message_id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let of = |aggregate: &str, id: i64| -> Vec<(String, i64)> {
        got.iter()
            .filter(|m| m.body["aggregate_type"] == aggregate)
            .filter(|m| m.body["aggregate_id"] == id.to_string().as_str())
            .map(|m| (m.routing_key.clone(), m.body["version"].as_i64().unwrap()))
            .collect()
    };
    let booking_events = of("booking", booking_id);
    let kinds: Vec<&str> = booking_events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["booking.created", "booking.confirmed", "booking.canceled"],
        "{got:#?}"
    );
    assert!(
        booking_events.windows(2).all(|w| w[0].1 < w[1].1),
        "versions grow: {booking_events:?}"
    );
    let payment_events = of("payment", payment_id);
    let kinds: Vec<&str> = payment_events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["payment.initiated", "payment.completed", "payment.refunded"],
        "{got:#?}"
    );
    let published = of("event", event_id);
    assert_eq!(published.len(), 1, "{got:#?}");
    assert_eq!(published[0].0, "event.published");

    // the counters follow the commit of the pass that published the last message
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = app.services.relay.status().await.unwrap();
        if status.backlog == 0 || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.backlog, 0, "{status:?}");
    assert_eq!(status.oldest_unsent_age_seconds, None, "{status:?}");
    assert!(status.published_total >= got.len() as u64, "{status:?}");
    assert_eq!(status.failed_total, 0, "{status:?}");
    consumer.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bookings_life_reaches_a_consumer_in_order_sqlite() {
    a_bookings_life_reaches_a_consumer_in_order(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bookings_life_reaches_a_consumer_in_order_postgres() {
    a_bookings_life_reaches_a_consumer_in_order(Backend::Postgres).await;
}

/// Publishes a marker behind everything published so far and receives until it arrives;
/// answers what came before it. The broker confirmed every earlier publish before this one,
/// so they are all ahead of the marker in the queue: a duplicate cannot hide behind a quiet
/// window that ended too early.
async fn receive_up_to_a_marker(
    consumer: &mut TestConsumer,
    exchange: &str,
    event_type: DomainEventType,
) -> Vec<Received> {
    let marker = OutboxRecord {
        id: i64::MAX,
        message: OutboxMessage::new(
            event_type,
            "test-marker",
            0,
            0,
            json!({}),
            chrono::Utc::now(),
        ),
        attempts: 0,
        created_at: chrono::Utc::now(),
        traceparent: None,
    };
    let publisher = AmqpPublisher::new(AmqpConfig::new(amqp_url(), exchange.to_owned()));
    publisher.publish(&marker).await.unwrap();
    let id = marker.id.to_string();
    let mut got = receive_until(consumer, Duration::from_secs(20), |got| {
        got.iter()
            .any(|m| m.message_id.as_deref() == Some(id.as_str()))
    })
    .await;
    assert_eq!(
        got.pop().and_then(|m| m.message_id),
        Some(id),
        "the marker came last"
    );
    got
}

/// Waits (with a bound) until the relay has marked every outbox row sent, then stops it: no
/// publish can follow.
async fn settle_and_stop_the_relay(app: &mut TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = app.services.relay.status().await.unwrap();
        if status.backlog == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox never drained: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop_background().await;
}

/// A publisher that can be pointed elsewhere while the app runs (a broker going away and
/// coming back).
struct Switchable(RwLock<Arc<dyn MessagePublisher>>);

impl Switchable {
    fn current(&self) -> Arc<dyn MessagePublisher> {
        Arc::clone(&self.0.read().unwrap())
    }
    fn switch(&self, to: Arc<dyn MessagePublisher>) {
        *self.0.write().unwrap() = to;
    }
}

#[async_trait]
impl MessagePublisher for Switchable {
    async fn publish(&self, record: &OutboxRecord) -> Result<(), PublishError> {
        self.current().publish(record).await
    }
    async fn is_connected(&self) -> bool {
        self.current().is_connected().await
    }
}

fn closed_port_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
}

/// Books `n` seats for `n` users over HTTP; answers the booking ids.
async fn book_many(app: &TestApp, event_id: i64, n: u128) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for i in 1..=n {
        let (status, body) = app
            .post(
                "/api/v1/bookings",
                Some(user(i)),
                json!({"event_id": event_id, "quantity": 1}),
            )
            .await;
        assert_eq!(status, 201, "booking {i} while the broker is down: {body}");
        ids.insert(body["id"].as_i64().unwrap().to_string());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_loses_no_event() {
    let Some((exchange, mut consumer)) = consumer("outage", &["booking.created"]).await else {
        return;
    };
    let down: Arc<dyn MessagePublisher> = Arc::new(AmqpPublisher::new(AmqpConfig::new(
        closed_port_url(),
        exchange.clone(),
    )));
    let publisher = Arc::new(Switchable(RwLock::new(down)));
    let env = [
        ("APP__BROKER__RELAY_ENABLED", "true"),
        ("APP__BROKER__RELAY_POLL_INTERVAL_MS", "20"),
        ("APP__BROKER__RELAY_MAX_BACKOFF_MS", "100"),
    ];
    let Some(mut app) = spawn_app_publishing(
        Backend::Postgres,
        &env,
        Some(Arc::clone(&publisher) as Arc<dyn MessagePublisher>),
    )
    .await
    else {
        return;
    };
    let event_id = app.published_event(organizer(1), 200, "100.00", 30).await;
    let booked = book_many(&app, event_id, 200).await;

    // the service kept answering; the events wait in the outbox
    let (status, health) = app.get("/actuator/health", Some(admin())).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["components"]["broker"]["status"], "DOWN", "{health}");
    let waiting = app.services.relay.status().await.unwrap();
    assert!(waiting.backlog >= 200, "{waiting:?}");
    assert!(waiting.failed_total >= 1, "{waiting:?}");

    // the broker is back; retry times (backoff from the manual clock) come round
    publisher.switch(Arc::new(AmqpPublisher::new(AmqpConfig::new(
        amqp_url(),
        exchange.clone(),
    ))));
    app.clock.advance(chrono::Duration::hours(1));
    let got = receive_until(&mut consumer, Duration::from_secs(60), |got| {
        let distinct: BTreeSet<_> = got.iter().map(|m| m.message_id.clone()).collect();
        distinct.len() >= 200
    })
    .await;
    settle_and_stop_the_relay(&mut app).await;
    let late =
        receive_up_to_a_marker(&mut consumer, &exchange, DomainEventType::BookingCreated).await;
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for m in got.iter().chain(&late) {
        *per_id.entry(m.message_id.clone().unwrap()).or_default() += 1;
    }
    assert_eq!(per_id.len(), 200, "exactly 200 distinct booking.created");
    assert!(
        per_id.values().all(|n| *n == 1),
        "published once each: {per_id:?}"
    );
    let aggregates: BTreeSet<String> = got
        .iter()
        .chain(&late)
        .map(|m| m.body["aggregate_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(aggregates, booked, "one booking.created per booking made");
    consumer.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_on_one_database_publish_each_row_once() {
    let Some((exchange, mut consumer)) = consumer("two-relays", &["#"]).await else {
        return;
    };
    let Some(app) = spawn_app_with(
        Backend::Postgres,
        &[("APP__BROKER__RELAY_ENABLED", "false")],
    )
    .await
    else {
        return;
    };
    let event_id = app.published_event(organizer(1), 120, "100.00", 30).await;
    book_many(&app, event_id, 120).await;
    let rows = app.services.relay.status().await.unwrap().backlog;
    assert!(
        rows >= 122,
        "event created + published + 120 bookings: {rows}"
    );

    let relay = |_: u8| {
        OutboxRelay::new(
            Arc::clone(&app.services.uow),
            Arc::new(AmqpPublisher::new(AmqpConfig::new(
                amqp_url(),
                exchange.clone(),
            ))),
            app.services.clock.clone(),
            RetryPolicy::default(),
        )
    };
    let instances = [relay(1), relay(2)];
    let runs = instances.iter().map(|relay| async move {
        let mut published = 0;
        loop {
            let report = relay.run_once(5).await.unwrap();
            assert_eq!(report.failed, 0, "{report:?}");
            published += report.published;
            if report.published == 0 && relay.status().await.unwrap().backlog == 0 {
                return published;
            }
        }
    });
    let published: Vec<u64> = futures_util::future::join_all(runs).await;
    assert_eq!(published.iter().sum::<u64>(), rows, "{published:?}");
    assert!(
        published.iter().all(|p| *p > 0),
        "both took part: {published:?}"
    );

    // both relays have returned: every publish of theirs is confirmed
    let got =
        receive_up_to_a_marker(&mut consumer, &exchange, DomainEventType::BookingCreated).await;
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for m in &got {
        *per_id.entry(m.message_id.clone().unwrap()).or_default() += 1;
    }
    assert_eq!(per_id.len() as u64, rows);
    assert!(per_id.values().all(|n| *n == 1), "{per_id:?}");
    consumer.finish().await;
}

async fn send_reminders(app: &TestApp) -> u64 {
    let (status, body) = app
        .post("/internal/jobs/send-reminders", Some(admin()), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["processed"].as_u64().unwrap()
}

async fn each_reminder_is_published_once(backend: Backend) {
    let Some((exchange, mut consumer)) = consumer("reminders", &["event.reminder"]).await else {
        return;
    };
    let env = broker_env(&exchange);
    let Some(mut app) = spawn_app_with(backend, &as_refs(&env)).await else {
        return;
    };
    let event_id = app.published_event(organizer(1), 10, "500.00", 2).await;
    let (booking_id, _) = app.confirmed_booking(user(1), event_id, 1).await;
    app.clock.advance(chrono::Duration::hours(25)); // 23 h before the start
    assert_eq!(send_reminders(&app).await, 1);
    assert_eq!(send_reminders(&app).await, 0);
    app.clock.advance(chrono::Duration::minutes(22 * 60 + 30)); // 30 min before
    assert_eq!(send_reminders(&app).await, 1);
    assert_eq!(send_reminders(&app).await, 0);

    let got = receive_until(&mut consumer, Duration::from_secs(20), |got| got.len() >= 2).await;
    settle_and_stop_the_relay(&mut app).await;
    let late =
        receive_up_to_a_marker(&mut consumer, &exchange, DomainEventType::EventReminder).await;
    assert!(late.is_empty(), "a reminder went out twice: {late:#?}");
    let kinds: Vec<&str> = got
        .iter()
        .map(|m| m.body["payload"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["24H", "1H"]);
    for m in &got {
        assert_eq!(m.body["payload"]["booking_id"], booking_id, "{m:?}");
        assert_eq!(m.body["payload"]["event_id"], event_id, "{m:?}");
        assert_eq!(
            m.body["payload"]["user_id"],
            user(1).id.to_string().as_str(),
            "{m:?}"
        );
    }
    consumer.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_reminder_is_published_once_sqlite() {
    each_reminder_is_published_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_reminder_is_published_once_postgres() {
    each_reminder_is_published_once(Backend::Postgres).await;
}
