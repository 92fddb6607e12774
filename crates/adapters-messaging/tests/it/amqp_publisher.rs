//! `AmqpPublisher` against a real RabbitMQ (`TEST_AMQP_URL`, default the local broker). Each
//! test publishes to its own exchange, so tests run in parallel without seeing each other.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::time::{Duration, Instant};

use adapters_messaging::testing::{TestConsumer, amqp_url, broker_reachable, unique_name};
use adapters_messaging::{AmqpConfig, AmqpPublisher};
use chrono::TimeZone;
use ports::outbox::{DomainEventType, OutboxMessage, OutboxRecord};
use ports::{MessagePublisher, PublishError};

fn require_services() -> bool {
    std::env::var("EVENT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

fn record(id: i64, event_type: DomainEventType, aggregate_id: i64) -> OutboxRecord {
    let at = chrono::Utc.with_ymd_and_hms(2027, 5, 1, 9, 30, 0).unwrap();
    OutboxRecord {
        id,
        message: OutboxMessage::new(
            event_type,
            "booking",
            aggregate_id,
            id,
            serde_json::json!({"booking_id": aggregate_id, "status": "CONFIRMED"}),
            at,
        ),
        attempts: 0,
        created_at: at,
        traceparent: None,
    }
}

/// A publisher and a consumer on a fresh exchange, or `None` (SKIPPED) when no broker
/// answers. A broker that answers but refuses the setup fails the test.
async fn setup(test: &str, patterns: &[&str]) -> Option<(AmqpPublisher, TestConsumer)> {
    let url = amqp_url();
    if !broker_reachable(&url) {
        assert!(
            !require_services(),
            "RabbitMQ at {url} is required but does not answer"
        );
        eprintln!("SKIPPED (no RabbitMQ at {url})");
        return None;
    }
    let exchange = unique_name(&format!("test.{test}"));
    let consumer = match TestConsumer::bind(&url, &exchange, patterns).await {
        Ok(c) => c,
        Err(e) => panic!("binding a consumer on RabbitMQ at {url}: {e}"),
    };
    Some((AmqpPublisher::new(AmqpConfig::new(url, exchange)), consumer))
}

#[tokio::test]
async fn a_published_record_arrives_as_a_persistent_json_envelope() {
    let Some((publisher, mut consumer)) = setup("envelope", &["booking.*"]).await else {
        return;
    };
    publisher.connect().await.unwrap();
    assert!(publisher.is_connected().await);
    publisher
        .publish(&record(41, DomainEventType::BookingConfirmed, 7))
        .await
        .unwrap();

    let got = consumer
        .next(Duration::from_secs(5))
        .await
        .expect("delivered");
    assert_eq!(got.routing_key, "booking.confirmed");
    assert_eq!(got.message_id.as_deref(), Some("41"));
    assert_eq!(got.kind.as_deref(), Some("booking.confirmed"));
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    assert_eq!(got.delivery_mode, Some(2));
    assert_eq!(
        got.timestamp,
        Some(
            u64::try_from(
                record(41, DomainEventType::BookingConfirmed, 7)
                    .created_at
                    .timestamp()
            )
            .unwrap()
        )
    );
    assert_eq!(got.body["id"], "41");
    assert_eq!(got.body["type"], "booking.confirmed");
    assert_eq!(got.body["aggregate_type"], "booking");
    assert_eq!(got.body["aggregate_id"], "7");
    assert_eq!(got.body["version"], 41);
    assert_eq!(got.body["occurred_at"], "2027-05-01T09:30:00.000Z");
    assert_eq!(got.body["payload"]["status"], "CONFIRMED");
    consumer.finish().await;
}

#[tokio::test]
async fn records_arrive_in_publish_order_and_only_where_bound() {
    let Some((publisher, mut consumer)) =
        setup("order", &["booking.created", "booking.canceled"]).await
    else {
        return;
    };
    let kinds = [
        DomainEventType::BookingCreated,
        DomainEventType::BookingConfirmed, // not bound: dropped by the exchange, still confirmed
        DomainEventType::BookingCanceled,
    ];
    for (i, kind) in (1..).zip(kinds) {
        publisher.publish(&record(i, kind, 9)).await.unwrap();
    }
    let got = consumer.drain(Duration::from_millis(500)).await;
    let ids: Vec<_> = got.iter().map(|m| m.message_id.clone().unwrap()).collect();
    assert_eq!(ids, ["1", "3"]);
    consumer.finish().await;
}

#[tokio::test]
async fn a_closed_port_is_unavailable_quickly() {
    // a port nobody listens on: bind, read the port, close
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let publisher = AmqpPublisher::new(AmqpConfig::new(
        format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        "aquastream.event",
    ));
    let started = Instant::now();
    let err = publisher
        .publish(&record(1, DomainEventType::BookingCreated, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(!publisher.is_connected().await);
}

#[tokio::test]
async fn the_publisher_reconnects_after_the_connection_drops() {
    let Some((publisher, mut consumer)) = setup("reconnect", &["#"]).await else {
        return;
    };
    publisher
        .publish(&record(1, DomainEventType::BookingCreated, 3))
        .await
        .unwrap();
    publisher.drop_connection_for_tests().await;
    assert!(!publisher.is_connected().await);

    publisher
        .publish(&record(2, DomainEventType::BookingConfirmed, 3))
        .await
        .expect("the next publish reconnects by itself");
    assert!(publisher.is_connected().await);
    let got = consumer.drain(Duration::from_millis(500)).await;
    let ids: Vec<_> = got.iter().map(|m| m.message_id.clone().unwrap()).collect();
    assert_eq!(ids, ["1", "2"]);
    consumer.finish().await;
}
