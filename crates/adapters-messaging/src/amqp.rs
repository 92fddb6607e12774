//! `AmqpPublisher`: publishes envelopes to a durable topic exchange with publisher confirms.
//!
//! One connection and one confirm-mode channel, opened lazily and kept behind a mutex. Any
//! failure that may have broken them (I/O, closed channel, timeout) drops both, so the next
//! publish reconnects by itself: the relay's backoff paces the attempts while the broker is
//! down. The exchange is declared (durable, topic) on every (re)connect, which is idempotent.
//!
//! Publishes are not `mandatory`: a topic exchange delivers to whoever bound a queue, and an
//! event no consumer asked for is not an error. A nack — or a return, should the broker send
//! one — is `Rejected`; the relay retries it later.

use std::time::Duration;

use async_trait::async_trait;
use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use ports::outbox::OutboxRecord;
use ports::{MessagePublisher, PublishError};
use tokio::sync::Mutex;
use tracing::Instrument;

/// AMQP delivery mode of messages that survive a broker restart.
const PERSISTENT: u8 = 2;

/// Where and how to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpConfig {
    /// `amqp://user:pass@host:5672/vhost`.
    pub url: String,
    /// The topic exchange (`aquastream.event`).
    pub exchange: String,
    /// Connecting (TCP + AMQP handshake + exchange declaration) gives up after this.
    pub connect_timeout: Duration,
    /// Waiting for the broker's confirm gives up after this (the message is then retried, and
    /// consumers dedupe by `message_id`).
    pub confirm_timeout: Duration,
}

impl AmqpConfig {
    #[must_use]
    pub fn new(url: impl Into<String>, exchange: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            exchange: exchange.into(),
            connect_timeout: Duration::from_secs(5),
            confirm_timeout: Duration::from_secs(10),
        }
    }
}

/// The open connection and its confirm-mode channel.
struct Link {
    connection: Connection,
    channel: Channel,
}

impl Link {
    fn is_open(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }
}

pub struct AmqpPublisher {
    config: AmqpConfig,
    link: Mutex<Option<Link>>,
}

impl std::fmt::Debug for AmqpPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpPublisher")
            .field("exchange", &self.config.exchange)
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> PublishError {
    PublishError::Unavailable(format!("{what}: {e}"))
}

async fn open(config: &AmqpConfig) -> Result<Link, PublishError> {
    let connection = Connection::connect(&config.url, ConnectionProperties::default())
        .await
        .map_err(|e| unavailable("connect", e))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| unavailable("open channel", e))?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| unavailable("enable publisher confirms", e))?;
    channel
        .exchange_declare(
            config.exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("declare exchange", e))?;
    Ok(Link {
        connection,
        channel,
    })
}

fn properties(record: &OutboxRecord) -> BasicProperties {
    let timestamp = u64::try_from(record.message.occurred_at.timestamp()).unwrap_or_default();
    let properties = BasicProperties::default()
        .with_message_id(record.id.to_string().into())
        .with_type(record.message.event_type.as_str().into())
        .with_content_type("application/json".into())
        .with_delivery_mode(PERSISTENT)
        .with_timestamp(timestamp);
    match &record.traceparent {
        // the trace of the change: a consumer continues it (W3C trace context over AMQP)
        Some(traceparent) => {
            let mut headers = FieldTable::default();
            headers.insert(
                "traceparent".into(),
                lapin::types::AMQPValue::LongString(traceparent.as_str().into()),
            );
            properties.with_headers(headers)
        }
        None => properties,
    }
}

impl AmqpPublisher {
    /// Nothing is opened until the first publish (or [`AmqpPublisher::connect`]).
    #[must_use]
    pub fn new(config: AmqpConfig) -> Self {
        Self {
            config,
            link: Mutex::new(None),
        }
    }

    /// Connects and declares the exchange now, so a wrong URL shows at start.
    pub async fn connect(&self) -> Result<(), PublishError> {
        let mut link = self.link.lock().await;
        self.ensure_open(&mut link).await.map(|_| ())
    }

    async fn ensure_open<'a>(&self, link: &'a mut Option<Link>) -> Result<&'a Link, PublishError> {
        if !link.as_ref().is_some_and(Link::is_open) {
            *link = None;
            let opened = tokio::time::timeout(self.config.connect_timeout, open(&self.config))
                .await
                .map_err(|_| unavailable("connect", "timed out"))??;
            *link = Some(opened);
        }
        link.as_ref()
            .ok_or_else(|| unavailable("connect", "no connection"))
    }

    async fn publish_on(
        &self,
        channel: &Channel,
        record: &OutboxRecord,
    ) -> Result<(), PublishError> {
        let body = serde_json::to_vec(&record.envelope())
            .map_err(|e| PublishError::Rejected(format!("envelope: {e}")))?;
        let confirm = channel
            .basic_publish(
                self.config.exchange.as_str().into(),
                record.message.event_type.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                properties(record),
            )
            .await
            .map_err(|e| unavailable("publish", e))?;
        let confirmation = tokio::time::timeout(self.config.confirm_timeout, confirm)
            .await
            .map_err(|_| unavailable("confirm", "timed out"))?
            .map_err(|e| unavailable("confirm", e))?;
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
                Err(PublishError::Rejected(format!(
                    "returned: {} {}",
                    returned.reply_code, returned.reply_text
                )))
            }
            Confirmation::Nack(None) => Err(PublishError::Rejected("nack".to_owned())),
            Confirmation::NotRequested => Err(PublishError::Rejected(
                "the channel is not in confirm mode".to_owned(),
            )),
        }
    }

    /// Closes the connection as a broker restart would, for the reconnect test.
    #[doc(hidden)]
    pub async fn drop_connection_for_tests(&self) {
        if let Some(link) = self.link.lock().await.as_ref() {
            let _ = link.connection.close(320, "closed by a test".into()).await;
        }
    }
}

#[async_trait]
impl MessagePublisher for AmqpPublisher {
    async fn publish(&self, record: &OutboxRecord) -> Result<(), PublishError> {
        let span = publish_span(record, &self.config.exchange);
        self.publish_traced(record).instrument(span).await
    }

    async fn is_connected(&self) -> bool {
        self.is_connected_now().await
    }
}

/// The span of one publish, a child of the change's trace when the row carries one (with
/// traces off no layer records it).
fn publish_span(record: &OutboxRecord, exchange: &str) -> tracing::Span {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let span = tracing::info_span!(
        "outbox.publish",
        otel.kind = "producer",
        messaging.system = "rabbitmq",
        messaging.destination.name = %exchange,
        messaging.message.id = record.id,
        event_type = record.message.event_type.as_str(),
    );
    if let Some(traceparent) = &record.traceparent {
        let carrier =
            std::collections::HashMap::from([("traceparent".to_owned(), traceparent.clone())]);
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
        let _ = span.set_parent(parent);
    }
    span
}

impl AmqpPublisher {
    async fn publish_traced(&self, record: &OutboxRecord) -> Result<(), PublishError> {
        let mut link = self.link.lock().await;
        let channel = self.ensure_open(&mut link).await?.channel.clone();
        let result = self.publish_on(&channel, record).await;
        if matches!(result, Err(PublishError::Unavailable(_))) {
            // the connection or channel may be broken: start afresh next time
            *link = None;
        }
        result
    }

    async fn is_connected_now(&self) -> bool {
        self.link.lock().await.as_ref().is_some_and(Link::is_open)
    }
}
