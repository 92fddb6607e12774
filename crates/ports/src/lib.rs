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
pub mod crew;
pub mod engagement;
pub mod events;
pub mod health;
pub mod messaging;
pub mod payment_gateway;
pub mod records;
pub mod tickets;
pub mod unit_of_work;

pub use authentication::{Authenticate, Credentials};
pub use bookings::{
    BookingLog, BookingQuery, BookingRepository, NewRefund, PaymentRepository, PlacementRejection,
    RefundRecord, ReminderKind,
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
pub use error::{AppError, FieldError};
pub use pagination::{Page, PageRequest};
