//! What this adapter tells the metrics facade: the business counters, counted when the
//! transaction that wrote their outbox rows commits (work rolled back is never counted), the
//! database errors, the time to begin a transaction and the pool's gauges.
//!
//! Every insert path of outbox rows calls [`SeaTx::note_outbox`] for each row it wrote;
//! `OutboxStore::enqueue` does. `SeaTx::commit_tx` then increments the counters once the
//! commit succeeded.

use std::sync::Mutex;

use ports::outbox::{DomainEventType, OutboxMessage};
use sea_orm::{DatabaseBackend, DatabaseConnection};

use crate::tx::SeaTx;

pub const BOOKINGS_CREATED: &str = "aquastream_bookings_created_total";
pub const BOOKINGS_CONFIRMED: &str = "aquastream_bookings_confirmed_total";
pub const BOOKINGS_CANCELED: &str = "aquastream_bookings_canceled_total";
pub const BOOKINGS_EXPIRED: &str = "aquastream_bookings_expired_total";
/// Label `outcome`: `succeeded`, `failed`, `refunded`.
pub const PAYMENTS: &str = "aquastream_payments_total";
/// Refunded money in currency units. The facade's counters are integers, so this one is
/// exported as a gauge that only ever grows.
pub const REFUNDS_AMOUNT: &str = "aquastream_refunds_amount_total";
pub const WAITLIST_PROCESSED: &str = "aquastream_waitlist_processed_total";
pub const EVENTS_COMPLETED: &str = "aquastream_events_completed_total";
/// Label `kind`: `connection`, `busy`, `other`.
pub const DB_ERRORS: &str = "aquastream_db_errors_total";
/// Histogram: acquiring a pooled connection and sending `BEGIN`.
pub const DB_BEGIN_SECONDS: &str = "aquastream_db_begin_seconds";
pub const DB_POOL_SIZE: &str = "aquastream_db_pool_connections";
pub const DB_POOL_IDLE: &str = "aquastream_db_pool_idle_connections";
pub const DB_POOL_MAX: &str = "aquastream_db_pool_max_connections";

/// One business fact noted in a transaction, counted at commit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fact {
    Count(&'static str, Option<&'static str>),
    Refunded(f64),
}

/// The business fact of an outbox message, if it is one the counters follow.
pub(crate) fn fact_of(message: &OutboxMessage) -> Option<Fact> {
    use DomainEventType as T;
    Some(match message.event_type {
        T::BookingCreated => Fact::Count(BOOKINGS_CREATED, None),
        T::BookingConfirmed => Fact::Count(BOOKINGS_CONFIRMED, None),
        T::BookingCanceled => Fact::Count(BOOKINGS_CANCELED, None),
        T::BookingExpired => Fact::Count(BOOKINGS_EXPIRED, None),
        T::PaymentCompleted => Fact::Count(PAYMENTS, Some("succeeded")),
        T::PaymentFailed => Fact::Count(PAYMENTS, Some("failed")),
        T::PaymentRefunded => Fact::Refunded(
            message
                .payload
                .get("refunded")
                .and_then(serde_json::Value::as_str)
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0),
        ),
        T::WaitlistNotified => Fact::Count(WAITLIST_PROCESSED, None),
        T::EventCompleted => Fact::Count(EVENTS_COMPLETED, None),
        _ => return None,
    })
}

fn count(fact: Fact) {
    match fact {
        Fact::Count(name, None) => metrics::counter!(name).increment(1),
        Fact::Count(name, Some(outcome)) => {
            metrics::counter!(name, "outcome" => outcome).increment(1);
        }
        Fact::Refunded(amount) => {
            metrics::counter!(PAYMENTS, "outcome" => "refunded").increment(1);
            metrics::gauge!(REFUNDS_AMOUNT).increment(amount);
        }
    }
}

/// The facts a transaction noted; counted by [`Noted::count_committed`].
#[derive(Debug, Default)]
pub(crate) struct Noted(Mutex<Vec<Fact>>);

impl Noted {
    pub(crate) fn push(&self, fact: Option<Fact>) {
        if let Some(fact) = fact
            && let Ok(mut facts) = self.0.lock()
        {
            facts.push(fact);
        }
    }

    /// Called after a successful commit.
    pub(crate) fn count_committed(self) {
        let facts = self.0.into_inner().unwrap_or_else(|p| p.into_inner());
        for fact in facts {
            count(fact);
        }
    }
}

impl SeaTx {
    /// Notes an outbox row written in this transaction, so that its business counter (if it
    /// has one) moves when — and only if — the transaction commits. Every code path that
    /// inserts outbox rows calls this once per row it wrote.
    pub fn note_outbox(&self, message: &OutboxMessage) {
        self.noted.push(fact_of(message));
    }
}

/// The W3C `traceparent` of the current span when OpenTelemetry traces are on (stored with
/// an outbox row, so the message continues the trace of the change).
#[must_use]
pub fn current_traceparent() -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}

/// Sets every business counter to zero at start, so scrapes and dashboards see the series
/// before the first booking.
pub fn register_business_counters() {
    for name in [
        BOOKINGS_CREATED,
        BOOKINGS_CONFIRMED,
        BOOKINGS_CANCELED,
        BOOKINGS_EXPIRED,
        WAITLIST_PROCESSED,
        EVENTS_COMPLETED,
    ] {
        metrics::counter!(name).absolute(0);
    }
    for outcome in ["succeeded", "failed", "refunded"] {
        metrics::counter!(PAYMENTS, "outcome" => outcome).absolute(0);
    }
    metrics::gauge!(REFUNDS_AMOUNT).increment(0.0);
    for kind in ["connection", "busy", "other"] {
        metrics::counter!(DB_ERRORS, "kind" => kind).absolute(0);
    }
}

/// Publishes the pool's size, idle connections and maximum (read at scrape time).
pub fn record_pool_gauges(db: &DatabaseConnection, max_connections: u32) {
    let (size, idle) = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => return,
    };
    metrics::gauge!(DB_POOL_SIZE).set(f64::from(size));
    #[allow(clippy::cast_precision_loss)] // a pool never holds 2^52 connections
    metrics::gauge!(DB_POOL_IDLE).set(idle as f64);
    metrics::gauge!(DB_POOL_MAX).set(f64::from(max_connections));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(event_type: DomainEventType, payload: serde_json::Value) -> OutboxMessage {
        OutboxMessage::new(event_type, "payment", 1, 1, payload, chrono::Utc::now())
    }

    #[test]
    fn business_events_map_to_their_counters() {
        assert_eq!(
            fact_of(&message(
                DomainEventType::BookingCreated,
                serde_json::json!({})
            )),
            Some(Fact::Count(BOOKINGS_CREATED, None))
        );
        assert_eq!(
            fact_of(&message(
                DomainEventType::PaymentFailed,
                serde_json::json!({})
            )),
            Some(Fact::Count(PAYMENTS, Some("failed")))
        );
        assert_eq!(
            fact_of(&message(
                DomainEventType::PaymentRefunded,
                serde_json::json!({"refunded": "12.50"})
            )),
            Some(Fact::Refunded(12.5))
        );
        assert_eq!(
            fact_of(&message(
                DomainEventType::ReviewCreated,
                serde_json::json!({})
            )),
            None
        );
    }
}
