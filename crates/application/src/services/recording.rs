//! The one way a use case records a domain event: an outbox row written in the transaction of
//! the change it describes, keyed by its aggregate (type, id, version) so consumers can order
//! and deduplicate. Use cases never build [`OutboxMessage`]s themselves.
//!
//! An aggregate says what it is and how other services see it ([`Aggregate`]); the
//! [`Recorder`] writes `kind` about it with that summary (plus fields of the change), or with a
//! payload of its own where the event is not about the aggregate's state (an alert, a
//! waitlist move).

use domain::Timestamp;
use domain::booking::Booking;
use domain::event::Event;
use domain::payment::Payment;
use domain::review::Review;
use domain::waitlist::WaitlistEntry;
use serde_json::Value;

use crate::AppError;
use crate::outbox::{DomainEventType, OutboxMessage};
use crate::ports::Tx;
use crate::services::commerce::{booking_summary, payment_summary};
use crate::services::events::event_summary;
use crate::services::reviews::review_summary;

/// Something domain events are about.
pub(crate) trait Aggregate {
    /// The outbox's aggregate type: `event`, `booking`, `payment`, `review`, `waitlist`.
    const TYPE: &'static str;
    fn aggregate_id(&self) -> String;
    /// The version after the change; aggregates without one answer 0.
    fn aggregate_version(&self) -> i64;
    /// The part other services care about: the default payload.
    fn summary(&self) -> Value;
}

/// An aggregate with an id, a version and a summary function.
macro_rules! versioned_aggregate {
    ($($ty:ty => $name:literal, $summary:path;)+) => {$(
        impl Aggregate for $ty {
            const TYPE: &'static str = $name;
            fn aggregate_id(&self) -> String {
                self.id.to_string()
            }
            fn aggregate_version(&self) -> i64 {
                self.version
            }
            fn summary(&self) -> Value {
                $summary(self)
            }
        }
    )+};
}

versioned_aggregate! {
    Event => "event", event_summary;
    Booking => "booking", booking_summary;
    Payment => "payment", payment_summary;
    Review => "review", review_summary;
}

/// Waitlist entries carry no version; their events say what moved in their own payload.
impl Aggregate for WaitlistEntry {
    const TYPE: &'static str = "waitlist";
    fn aggregate_id(&self) -> String {
        self.id.to_string()
    }
    fn aggregate_version(&self) -> i64 {
        0
    }
    fn summary(&self) -> Value {
        serde_json::json!({
            "waitlist_entry_id": self.id.value(),
            "event_id": self.event_id.value(),
            "user_id": self.user_id.to_string(),
            "quantity": self.quantity.get(),
        })
    }
}

/// Writes domain events into the outbox of one open transaction, stamped `now`.
#[derive(Clone, Copy)]
pub(crate) struct Recorder<'a> {
    tx: &'a dyn Tx,
    now: Timestamp,
}

impl<'a> Recorder<'a> {
    pub(crate) const fn new(tx: &'a dyn Tx, now: Timestamp) -> Self {
        Self { tx, now }
    }

    /// `kind` about `aggregate`: its summary, with the fields of `extra` (an object) added or
    /// replaced. `Value::Null` adds nothing.
    pub(crate) async fn emit<A: Aggregate>(
        &self,
        aggregate: &A,
        kind: DomainEventType,
        extra: Value,
    ) -> Result<(), AppError> {
        let mut payload = aggregate.summary();
        if let (Some(map), Value::Object(more)) = (payload.as_object_mut(), extra) {
            map.extend(more);
        }
        self.emit_payload(aggregate, kind, payload).await
    }

    /// `kind` about `aggregate` with a payload of its own.
    pub(crate) async fn emit_payload<A: Aggregate>(
        &self,
        aggregate: &A,
        kind: DomainEventType,
        payload: Value,
    ) -> Result<(), AppError> {
        self.emit_about(
            A::TYPE,
            aggregate.aggregate_id(),
            aggregate.aggregate_version(),
            kind,
            payload,
        )
        .await
    }

    /// `kind` about an aggregate known only by its key (a row the use case did not load).
    pub(crate) async fn emit_about(
        &self,
        aggregate_type: &str,
        aggregate_id: impl ToString,
        aggregate_version: i64,
        kind: DomainEventType,
        payload: Value,
    ) -> Result<(), AppError> {
        let message = OutboxMessage::new(
            kind,
            aggregate_type,
            aggregate_id,
            aggregate_version,
            payload,
            self.now,
        );
        self.tx.outbox().enqueue(message).await
    }
}
