//! The unit of work: one database transaction exposing every repository.

use async_trait::async_trait;

use super::{
    AuditLog, BookingRepository, CategoryRepository, ConsistencyStore, CrewAssignmentRepository,
    EventRepository, FavoriteRepository, IdempotencyStore, JobRunStore, LoyaltyLedger, OutboxStore,
    PaymentRepository, PromoCodeRepository, ReviewRepository, WaitlistRepository,
};
use crate::AppError;

/// Opens transactions.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UnitOfWork: Send + Sync {
    /// Begins a transaction. Dropping the returned `Tx` without `commit` rolls it back.
    async fn begin(&self) -> Result<Box<dyn Tx>, AppError>;
}

/// An open transaction. Every repository it hands out works on the same connection, so a
/// state change, its audit row and its outbox row commit or roll back together.
#[async_trait]
pub trait Tx: Send + Sync {
    fn events(&self) -> &dyn EventRepository;
    fn categories(&self) -> &dyn CategoryRepository;
    fn bookings(&self) -> &dyn BookingRepository;
    fn payments(&self) -> &dyn PaymentRepository;
    fn waitlist(&self) -> &dyn WaitlistRepository;
    fn reviews(&self) -> &dyn ReviewRepository;
    fn favorites(&self) -> &dyn FavoriteRepository;
    fn promo_codes(&self) -> &dyn PromoCodeRepository;
    fn loyalty(&self) -> &dyn LoyaltyLedger;
    fn audit(&self) -> &dyn AuditLog;
    fn outbox(&self) -> &dyn OutboxStore;
    fn idempotency(&self) -> &dyn IdempotencyStore;
    fn job_runs(&self) -> &dyn JobRunStore;
    fn crew_assignments(&self) -> &dyn CrewAssignmentRepository;
    fn consistency(&self) -> &dyn ConsistencyStore;

    /// Makes everything done through this transaction durable.
    async fn commit(self: Box<Self>) -> Result<(), AppError>;
}
