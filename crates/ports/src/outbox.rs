//! Domain events as they travel through the transactional outbox to the broker
//! (PRODUCT.md §10): the event types (routing keys), the message a use case writes in its
//! transaction, and the JSON envelope consumers receive.

use domain::Timestamp;
use serde::Serialize;

domain::text_enum! {
    /// Every domain event this service publishes; the text is the AMQP routing key.
    DomainEventType {
        EventCreated => "event.created",
        EventUpdated => "event.updated",
        EventPublished => "event.published",
        EventCanceled => "event.canceled",
        EventRescheduled => "event.rescheduled",
        EventCompleted => "event.completed",
        EventReminder => "event.reminder",
        BookingCreated => "booking.created",
        BookingConfirmed => "booking.confirmed",
        BookingCanceled => "booking.canceled",
        BookingExpired => "booking.expired",
        BookingCompleted => "booking.completed",
        PaymentInitiated => "payment.initiated",
        PaymentCompleted => "payment.completed",
        PaymentFailed => "payment.failed",
        PaymentRefunded => "payment.refunded",
        WaitlistNotified => "waitlist.notified",
        WaitlistExpired => "waitlist.expired",
        WaitlistConverted => "waitlist.converted",
        CrewAssigned => "crew.assigned",
        CrewFailed => "crew.failed",
        ReviewCreated => "review.created",
        ReviewReplied => "review.replied",
        AdminAlert => "admin.alert",
    }
}

/// A domain event to be written to the outbox in the same transaction as the change.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub event_type: DomainEventType,
    /// `event`, `booking`, `payment`, `waitlist`, `review`, …
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The aggregate's version after the change: consumers order and dedupe by it.
    pub aggregate_version: i64,
    pub payload: serde_json::Value,
    pub occurred_at: Timestamp,
}

impl OutboxMessage {
    pub fn new(
        event_type: DomainEventType,
        aggregate_type: &str,
        aggregate_id: impl ToString,
        aggregate_version: i64,
        payload: serde_json::Value,
        occurred_at: Timestamp,
    ) -> Self {
        Self {
            event_type,
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_string(),
            aggregate_version,
            payload,
            occurred_at,
        }
    }
}

/// A stored outbox row, as the relay claims it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    /// Monotonic per database: the message id consumers dedupe by, and the publish order.
    pub id: i64,
    pub message: OutboxMessage,
    pub attempts: u32,
    pub created_at: Timestamp,
    /// The W3C `traceparent` of the change, when traces were on: sent as a message header so a
    /// consumer continues the trace.
    pub traceparent: Option<String>,
}

/// The JSON body published to the broker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope<'a> {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub occurred_at: String,
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub version: i64,
    pub payload: &'a serde_json::Value,
}

impl OutboxRecord {
    #[must_use]
    pub fn envelope(&self) -> Envelope<'_> {
        Envelope {
            id: self.id.to_string(),
            event_type: self.message.event_type.as_str(),
            occurred_at: self
                .message
                .occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            aggregate_type: &self.message.aggregate_type,
            aggregate_id: &self.message.aggregate_id,
            version: self.message.aggregate_version,
            payload: &self.message.payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn envelope_has_the_fields_of_the_spec() {
        let at = chrono::Utc.with_ymd_and_hms(2027, 5, 1, 9, 30, 0).unwrap();
        let record = OutboxRecord {
            id: 42,
            message: OutboxMessage::new(
                DomainEventType::BookingConfirmed,
                "booking",
                17,
                3,
                serde_json::json!({"booking_id": 17}),
                at,
            ),
            attempts: 0,
            created_at: at,
            traceparent: None,
        };
        let json = serde_json::to_value(record.envelope()).unwrap();
        assert_eq!(json["id"], "42");
        assert_eq!(json["type"], "booking.confirmed");
        assert_eq!(json["occurred_at"], "2027-05-01T09:30:00.000Z");
        assert_eq!(json["aggregate_id"], "17");
        assert_eq!(json["version"], 3);
        assert_eq!(json["payload"]["booking_id"], 17);
    }

    #[test]
    fn routing_keys_are_distinct_and_dotted() {
        let mut keys: Vec<_> = DomainEventType::ALL.iter().map(|t| t.as_str()).collect();
        assert!(keys.iter().all(|k| k.contains('.')));
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), DomainEventType::ALL.len());
    }
}
