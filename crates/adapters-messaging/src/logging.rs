//! The embedded default's broker: logs each message's id and routing key (never its payload,
//! which may carry ticket codes and personal data) and reports it delivered, so the outbox
//! drains and the service runs without RabbitMQ.

use async_trait::async_trait;
use ports::outbox::OutboxRecord;
use ports::{MessagePublisher, PublishError};

#[derive(Debug, Clone, Copy, Default)]
pub struct LoggingPublisher;

#[async_trait]
impl MessagePublisher for LoggingPublisher {
    async fn publish(&self, record: &OutboxRecord) -> Result<(), PublishError> {
        // The payload may carry ticket codes, references and personal data: only what
        // identifies the message is logged.
        tracing::info!(
            message_id = record.id,
            routing_key = record.message.event_type.as_str(),
            "domain event"
        );
        Ok(())
    }

    async fn is_connected(&self) -> bool {
        true
    }
}
