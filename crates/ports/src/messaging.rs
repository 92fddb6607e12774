//! Publishing domain events to the broker.

use async_trait::async_trait;

use crate::outbox::OutboxRecord;

/// Why a publish did not get the broker's confirm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Broker unreachable or connection lost: retry later with backoff.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused the message (nack / returned): retry later, alert if it persists.
    #[error("message rejected: {0}")]
    Rejected(String),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MessagePublisher: Send + Sync {
    /// Publishes the record's envelope (persistent, `message_id` = outbox id, routing key = event
    /// type) and returns only once the broker confirmed it.
    async fn publish(&self, record: &OutboxRecord) -> Result<(), PublishError>;
    /// For readiness checks.
    async fn is_connected(&self) -> bool;
}
