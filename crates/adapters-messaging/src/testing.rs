//! A consumer for tests (this crate's and the end-to-end tests): binds an exclusive queue to
//! an exchange and hands over what arrives, with the AMQP properties the contract names.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};

/// The AMQP URL of the tests (`TEST_AMQP_URL`, default the local broker).
#[must_use]
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// Whether the broker's port at `url` (`amqp://[user@]host[:port]/…`) accepts a TCP connection
/// within two seconds. Tests skip only when it does not: a broker that answers but refuses
/// what a test asks (a bind, a declare) is a failure, not a reason to skip.
#[must_use]
pub fn broker_reachable(url: &str) -> bool {
    use std::net::ToSocketAddrs;
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.split_once(':') {
        Some((host, port)) => (host, port.parse().unwrap_or(5672)),
        None => (host_port, 5672),
    };
    (host, port).to_socket_addrs().is_ok_and(|mut addrs| {
        addrs.any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
    })
}

/// A name no other test (or earlier run) uses.
#[must_use]
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}.{}.{nanos}", std::process::id())
}

/// One message as a consumer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub routing_key: String,
    pub message_id: Option<String>,
    pub kind: Option<String>,
    pub content_type: Option<String>,
    pub delivery_mode: Option<u8>,
    pub timestamp: Option<u64>,
    /// The W3C trace context header, when the message carries one.
    pub traceparent: Option<String>,
    pub body: serde_json::Value,
}

#[derive(Debug)]
pub struct TestConsumer {
    connection: Connection,
    channel: Channel,
    consumer: Consumer,
    exchange: String,
}

impl TestConsumer {
    /// Declares `exchange` as the publisher does (durable topic) and binds a fresh exclusive
    /// queue to it for each routing key pattern.
    pub async fn bind(url: &str, exchange: &str, patterns: &[&str]) -> Result<Self, String> {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .map_err(|e| e.to_string())?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| e.to_string())?;
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        for pattern in patterns {
            channel
                .queue_bind(
                    queue.name().clone(),
                    exchange.into(),
                    (*pattern).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| e.to_string())?;
        }
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            connection,
            channel,
            consumer,
            exchange: exchange.to_owned(),
        })
    }

    /// The next message, or `None` when nothing arrives within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Received> {
        let delivery = tokio::time::timeout(wait, self.consumer.next())
            .await
            .ok()??
            .ok()?;
        let p = &delivery.properties;
        Some(Received {
            routing_key: delivery.routing_key.to_string(),
            message_id: p.message_id().as_ref().map(ToString::to_string),
            kind: p.kind().as_ref().map(ToString::to_string),
            content_type: p.content_type().as_ref().map(ToString::to_string),
            delivery_mode: *p.delivery_mode(),
            timestamp: *p.timestamp(),
            traceparent: p
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get("traceparent"))
                .and_then(|v| match v {
                    lapin::types::AMQPValue::LongString(s) => {
                        Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                    }
                    _ => None,
                }),
            body: serde_json::from_slice(&delivery.data).unwrap_or(serde_json::Value::Null),
        })
    }

    /// Everything that arrives until `quiet` passes with nothing new.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Received> {
        let mut all = Vec::new();
        while let Some(m) = self.next(quiet).await {
            all.push(m);
        }
        all
    }

    /// Deletes the test's exchange and closes the connection.
    pub async fn finish(self) {
        let _ = self
            .channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
        let _ = self.connection.close(200, "test done".into()).await;
    }
}
