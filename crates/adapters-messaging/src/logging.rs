//! The embedded default's broker: logs each envelope and reports it delivered, so the outbox
//! drains and the service runs without RabbitMQ.

use async_trait::async_trait;
use ports::outbox::OutboxRecord;
use ports::{MessagePublisher, PublishError};

#[derive(Debug, Clone, Copy, Default)]
pub struct LoggingPublisher;

#[async_trait]
impl MessagePublisher for LoggingPublisher {
    async fn publish(&self, record: &OutboxRecord) -> Result<(), PublishError> {
        let envelope = serde_json::to_string(&record.envelope())
            .map_err(|e| PublishError::Rejected(format!("envelope: {e}")))?;
        tracing::info!(
            message_id = record.id,
            routing_key = record.message.event_type.as_str(),
            envelope = %envelope,
            "domain event"
        );
        Ok(())
    }

    async fn is_connected(&self) -> bool {
        true
    }
}
