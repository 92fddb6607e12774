//! The ports of backend-event: what the use cases need from the world and the vocabulary
//! shared by every layer above the domain. Outbound adapters depend on this crate only (never
//! on the use cases), so editing a use case does not rebuild them.
//!
//! * Outbound ports: object-safe async traits used behind `Arc<dyn …>`. Each has a mockall mock
//!   (`Mock…`) under `cfg(test)` and the `mocks` feature.
//! * [`error`] — `AppError`, the one error type inbound adapters map to HTTP/gRPC.
//! * [`actor`] — who is calling and what they may do.
//! * [`pagination`] — `Page`/`PageRequest`.
//! * [`outbox`] — domain events as they travel through the transactional outbox.
//! * [`clock`] — time as a port.
//!
//! Persistence goes through a unit of work: `UnitOfWork::begin` opens a transaction (`Tx`)
//! that exposes every repository on the same connection; `Tx::commit` makes the change,
//! its audit row and its outbox row durable together; dropping a `Tx` rolls it back.

pub mod actor;
pub mod clock;
pub mod error;
pub mod outbox;
pub mod pagination;

pub mod authentication;
pub mod bookings;
pub mod cache;
pub mod client_address;
pub mod consistency;
pub mod crew;
pub mod engagement;
pub mod events;
pub mod health;
pub mod messaging;
pub mod payment_gateway;
pub mod records;
pub mod redaction;
pub mod tickets;
pub mod unit_of_work;

pub use authentication::{Authenticate, Credentials};
pub use bookings::{
    BookingLog, BookingQuery, BookingRepository, NewRefund, PaymentRepository, PlacementRejection,
    RefundRecord, ReminderKind, SeatHolding,
};
pub use cache::{Cache, CacheError, RateDecision, RateLimit, RateLimiter};
pub use client_address::{ClientAddress, IpNet, TrustedProxies};
pub use consistency::{
    ConsistencyStore, ForeignPriceOption, PromoUseDrift, SeatDrift, SeatRepair, StaleOutbox,
    UnderpaidBooking,
};
pub use crew::{
    CrewAssignment, CrewAssignmentRecord, CrewAssignmentRepository, CrewDirectory, CrewRequest,
    NewCrewAssignment,
};
pub use engagement::{
    FavoriteRepository, LoyaltyLedger, PromoCodeQuery, PromoCodeRepository, ReviewQuery,
    ReviewRepository, ReviewSort, WaitlistRepository,
};
pub use events::{
    CategoryRepository, EventListing, EventPopularity, EventQuery, EventRepository, EventSort,
    EventStats,
};
pub use health::{ComponentHealth, HealthIndicator};
pub use messaging::{MessagePublisher, PublishError};
pub use payment_gateway::{
    GatewayError, GatewayPaymentStatus, GatewaySession, PaymentGateway, PaymentGateways,
    PaymentSessionRequest, SimulatedOutcome, WebhookNotice,
};
pub use records::{
    AuditEntry, AuditLog, AuditQuery, AuditRecord, IDEMPOTENCY_IN_PROGRESS, IdempotencyRecord,
    IdempotencyStore, JobOutcome, JobRunStore, JobRunSummary, OutboxStats, OutboxStore,
};
pub use tickets::TicketCodeGenerator;
pub use unit_of_work::{Tx, UnitOfWork};

pub use actor::{Actor, RequestContext, Role};
pub use error::{AppError, ErrorCode, ErrorKind, FieldError};
pub use pagination::{Page, PageRequest};

/// Parses the sort key of a list request (`sort_by=price`): blank is the default, case is
/// ignored, anything else is a validation error of `field` listing the keys. The sort enums'
/// `parse_field` use it, and both inbound adapters use those.
fn parse_sort_key<T: Copy + Default>(
    field: &'static str,
    raw: &str,
    keys: &[(&'static str, T)],
) -> Result<T, crate::AppError> {
    let wanted = raw.trim();
    if wanted.is_empty() {
        return Ok(T::default());
    }
    keys.iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(wanted))
        .map(|&(_, sort)| sort)
        .ok_or_else(|| {
            let names: Vec<&str> = keys.iter().map(|(key, _)| *key).collect();
            domain::DomainError::unknown_input(field, wanted, &names).into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FieldError;

    #[test]
    fn sort_keys_default_when_blank_ignore_case_and_list_the_keys_when_unknown() {
        assert_eq!(
            EventSort::parse_field("sort_by", "").unwrap(),
            EventSort::StartDate
        );
        assert_eq!(
            EventSort::parse_field("sort_by", " Created_At ").unwrap(),
            EventSort::CreatedAt
        );
        assert_eq!(
            ReviewSort::parse_field("sort", "helpful").unwrap(),
            ReviewSort::MostHelpful
        );
        let Err(crate::AppError::Validation { fields }) = ReviewSort::parse_field("sort", "oldest")
        else {
            panic!("the moderation order is not a request key");
        };
        assert_eq!(
            fields,
            [FieldError {
                field: "sort".into(),
                message: "unknown value `oldest`; expected one of newest, helpful".into(),
            }]
        );
    }
}
