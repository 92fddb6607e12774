//! Test support for use-case tests: a transaction made of mockall mocks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::AppError;
use crate::ports::bookings::{MockBookingRepository, MockPaymentRepository};
use crate::ports::consistency::MockConsistencyStore;
use crate::ports::crew::MockCrewAssignmentRepository;
use crate::ports::engagement::{
    MockFavoriteRepository, MockLoyaltyLedger, MockPromoCodeRepository, MockReviewRepository,
    MockWaitlistRepository,
};
use crate::ports::events::{MockCategoryRepository, MockEventRepository};
use crate::ports::records::{MockAuditLog, MockIdempotencyStore, MockJobRunStore, MockOutboxStore};
use crate::ports::unit_of_work::MockUnitOfWork;
use crate::ports::{
    AuditLog, BookingRepository, CategoryRepository, ConsistencyStore, CrewAssignmentRepository,
    EventRepository, FavoriteRepository, IdempotencyStore, JobRunStore, LoyaltyLedger, OutboxStore,
    PaymentRepository, PromoCodeRepository, ReviewRepository, Tx, WaitlistRepository,
};

/// A transaction made of mocks: any repository a test did not set up panics when touched.
pub struct FakeTx {
    pub events: MockEventRepository,
    pub categories: MockCategoryRepository,
    pub bookings: MockBookingRepository,
    pub payments: MockPaymentRepository,
    pub waitlist: MockWaitlistRepository,
    pub reviews: MockReviewRepository,
    pub favorites: MockFavoriteRepository,
    pub promo_codes: MockPromoCodeRepository,
    pub loyalty: MockLoyaltyLedger,
    pub audit: MockAuditLog,
    pub outbox: MockOutboxStore,
    pub idempotency: MockIdempotencyStore,
    pub job_runs: MockJobRunStore,
    pub crew_assignments: MockCrewAssignmentRepository,
    pub consistency: MockConsistencyStore,
    pub committed: Arc<AtomicBool>,
}

impl FakeTx {
    pub fn new(committed: Arc<AtomicBool>) -> Self {
        Self {
            events: MockEventRepository::new(),
            categories: MockCategoryRepository::new(),
            bookings: MockBookingRepository::new(),
            payments: MockPaymentRepository::new(),
            waitlist: MockWaitlistRepository::new(),
            reviews: MockReviewRepository::new(),
            favorites: MockFavoriteRepository::new(),
            promo_codes: MockPromoCodeRepository::new(),
            loyalty: MockLoyaltyLedger::new(),
            audit: MockAuditLog::new(),
            outbox: MockOutboxStore::new(),
            idempotency: MockIdempotencyStore::new(),
            job_runs: MockJobRunStore::new(),
            crew_assignments: MockCrewAssignmentRepository::new(),
            consistency: MockConsistencyStore::new(),
            committed,
        }
    }
}

#[async_trait]
impl Tx for FakeTx {
    fn events(&self) -> &dyn EventRepository {
        &self.events
    }
    fn categories(&self) -> &dyn CategoryRepository {
        &self.categories
    }
    fn bookings(&self) -> &dyn BookingRepository {
        &self.bookings
    }
    fn payments(&self) -> &dyn PaymentRepository {
        &self.payments
    }
    fn waitlist(&self) -> &dyn WaitlistRepository {
        &self.waitlist
    }
    fn reviews(&self) -> &dyn ReviewRepository {
        &self.reviews
    }
    fn favorites(&self) -> &dyn FavoriteRepository {
        &self.favorites
    }
    fn promo_codes(&self) -> &dyn PromoCodeRepository {
        &self.promo_codes
    }
    fn loyalty(&self) -> &dyn LoyaltyLedger {
        &self.loyalty
    }
    fn audit(&self) -> &dyn AuditLog {
        &self.audit
    }
    fn outbox(&self) -> &dyn OutboxStore {
        &self.outbox
    }
    fn idempotency(&self) -> &dyn IdempotencyStore {
        &self.idempotency
    }
    fn job_runs(&self) -> &dyn JobRunStore {
        &self.job_runs
    }
    fn crew_assignments(&self) -> &dyn CrewAssignmentRepository {
        &self.crew_assignments
    }
    fn consistency(&self) -> &dyn ConsistencyStore {
        &self.consistency
    }

    async fn commit(self: Box<Self>) -> Result<(), AppError> {
        self.committed.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// A unit of work that hands out the given transactions in order, one per `begin`, and
/// refuses to begin more.
pub fn uow_with(txs: Vec<FakeTx>) -> MockUnitOfWork {
    let mut uow = MockUnitOfWork::new();
    let count = txs.len();
    let slot = Mutex::new(txs.into_iter().collect::<std::collections::VecDeque<_>>());
    uow.expect_begin().times(count).returning(move || {
        let tx = slot
            .lock()
            .map_err(|_| AppError::internal("poisoned"))?
            .pop_front()
            .ok_or_else(|| AppError::internal("no more transactions"))?;
        Ok(Box::new(tx) as Box<dyn Tx>)
    });
    uow
}
