//! Invalidation derived from what a transaction wrote, applied after it committed.
//!
//! Every write records its domain events in the outbox of its transaction, so the outbox says
//! what changed: a message about an `event` aggregate (created, updated, published, canceled,
//! rescheduled, completed, crew assigned, …) invalidates that event and the catalog at once;
//! any other message naming an `event_id` (bookings, payments, waitlist) moved seat counts,
//! which are invalidated in batches (`ReadCache::flush_seats`). Review moderation writes no
//! domain event but changes the public rating, so review inserts and updates invalidate their
//! event too. A transaction dropped without commit invalidates nothing.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use domain::review::{NewReview, NewReviewReply, RatingSummary, Review, ReviewReply};
use domain::{EventId, ReviewId, Timestamp, UserId};

use super::ReadCache;
use crate::outbox::{OutboxMessage, OutboxRecord};
use crate::ports::{
    AuditLog, BookingRepository, CategoryRepository, ConsistencyStore, CrewAssignmentRepository,
    EventRepository, FavoriteRepository, ForeignPriceOption, IdempotencyStore, JobRunStore,
    LoyaltyLedger, OutboxStats, OutboxStore, PaymentRepository, PromoCodeRepository, PromoUseDrift,
    ReviewQuery, ReviewRepository, SeatDrift, SeatRepair, StaleOutbox, Tx, UnderpaidBooking,
    UnitOfWork, WaitlistRepository,
};
use crate::{AppError, Page};

pub(super) struct TrackingUnitOfWork {
    inner: Arc<dyn UnitOfWork>,
    cache: ReadCache,
}

impl TrackingUnitOfWork {
    pub(super) fn new(inner: Arc<dyn UnitOfWork>, cache: ReadCache) -> Self {
        Self { inner, cache }
    }
}

#[async_trait]
impl UnitOfWork for TrackingUnitOfWork {
    async fn begin(&self) -> Result<Box<dyn Tx>, AppError> {
        Ok(Box::new(TrackingTx {
            inner: self.inner.begin().await?,
            cache: self.cache.clone(),
            changes: Mutex::default(),
        }))
    }
}

/// What a transaction changed, as far as the cached views go.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Changes {
    /// Invalidated at once.
    pub(super) events: BTreeSet<EventId>,
    /// Seat counts only: invalidated by the next seat flush.
    pub(super) seats: BTreeSet<EventId>,
}

impl Changes {
    pub(super) fn saw(&mut self, message: &OutboxMessage) {
        if message.aggregate_type == "event" {
            if let Ok(id) = message.aggregate_id.parse::<i64>() {
                self.events.insert(EventId(id));
            }
        } else if let Some(id) = message
            .payload
            .get("event_id")
            .and_then(serde_json::Value::as_i64)
        {
            self.seats.insert(EventId(id));
        }
    }
}

struct TrackingTx {
    inner: Box<dyn Tx>,
    cache: ReadCache,
    changes: Mutex<Changes>,
}

impl TrackingTx {
    fn record(&self, f: impl FnOnce(&mut Changes)) {
        if let Ok(mut changes) = self.changes.lock() {
            f(&mut changes);
        }
    }
}

#[async_trait]
impl Tx for TrackingTx {
    fn events(&self) -> &dyn EventRepository {
        self.inner.events()
    }
    fn categories(&self) -> &dyn CategoryRepository {
        self.inner.categories()
    }
    fn bookings(&self) -> &dyn BookingRepository {
        self.inner.bookings()
    }
    fn payments(&self) -> &dyn PaymentRepository {
        self.inner.payments()
    }
    fn waitlist(&self) -> &dyn WaitlistRepository {
        self.inner.waitlist()
    }
    fn reviews(&self) -> &dyn ReviewRepository {
        self
    }
    fn favorites(&self) -> &dyn FavoriteRepository {
        self.inner.favorites()
    }
    fn promo_codes(&self) -> &dyn PromoCodeRepository {
        self.inner.promo_codes()
    }
    fn loyalty(&self) -> &dyn LoyaltyLedger {
        self.inner.loyalty()
    }
    fn audit(&self) -> &dyn AuditLog {
        self.inner.audit()
    }
    fn outbox(&self) -> &dyn OutboxStore {
        self
    }
    fn idempotency(&self) -> &dyn IdempotencyStore {
        self.inner.idempotency()
    }
    fn job_runs(&self) -> &dyn JobRunStore {
        self.inner.job_runs()
    }
    fn crew_assignments(&self) -> &dyn CrewAssignmentRepository {
        self.inner.crew_assignments()
    }
    fn consistency(&self) -> &dyn ConsistencyStore {
        self
    }

    async fn commit(self: Box<Self>) -> Result<(), AppError> {
        let Self {
            inner,
            cache,
            changes,
        } = *self;
        inner.commit().await?;
        let mut changes = changes.into_inner().unwrap_or_default();
        if cache.settings().seat_flush_interval.is_zero() {
            // No batching configured: seat counts are invalidated at once too.
            let seats = std::mem::take(&mut changes.seats);
            changes.events.extend(seats);
        }
        if !changes.events.is_empty() {
            let events: Vec<EventId> = changes.events.iter().copied().collect();
            cache.invalidate(&events).await;
        }
        cache.seats_changed(changes.seats.difference(&changes.events).copied());
        Ok(())
    }
}

#[async_trait]
impl OutboxStore for TrackingTx {
    async fn enqueue(&self, message: OutboxMessage) -> Result<(), AppError> {
        self.record(|c| c.saw(&message));
        self.inner.outbox().enqueue(message).await
    }
    async fn claim_batch(&self, now: Timestamp, limit: u32) -> Result<Vec<OutboxRecord>, AppError> {
        self.inner.outbox().claim_batch(now, limit).await
    }
    async fn mark_sent(&self, ids: &[i64], at: Timestamp) -> Result<(), AppError> {
        self.inner.outbox().mark_sent(ids, at).await
    }
    async fn mark_failed(&self, id: i64, error: &str, retry_at: Timestamp) -> Result<(), AppError> {
        self.inner.outbox().mark_failed(id, error, retry_at).await
    }
    async fn stats(&self) -> Result<OutboxStats, AppError> {
        self.inner.outbox().stats().await
    }
    async fn purge_sent_before(&self, before: Timestamp, limit: u32) -> Result<u64, AppError> {
        self.inner.outbox().purge_sent_before(before, limit).await
    }
}

/// A seat repair changes what the event's pages show: it invalidates them like any event write.
#[async_trait]
impl ConsistencyStore for TrackingTx {
    async fn seat_drifts(&self) -> Result<Vec<SeatDrift>, AppError> {
        self.inner.consistency().seat_drifts().await
    }
    async fn promo_use_drifts(&self) -> Result<Vec<PromoUseDrift>, AppError> {
        self.inner.consistency().promo_use_drifts().await
    }
    async fn foreign_price_options(&self) -> Result<Vec<ForeignPriceOption>, AppError> {
        self.inner.consistency().foreign_price_options().await
    }
    async fn underpaid_bookings(&self) -> Result<Vec<UnderpaidBooking>, AppError> {
        self.inner.consistency().underpaid_bookings().await
    }
    async fn unsent_outbox_before(&self, before: Timestamp) -> Result<StaleOutbox, AppError> {
        self.inner.consistency().unsent_outbox_before(before).await
    }
    async fn repair_seats(
        &self,
        event_id: EventId,
        now: Timestamp,
    ) -> Result<SeatRepair, AppError> {
        let repair = self.inner.consistency().repair_seats(event_id, now).await?;
        self.record(|c| {
            c.events.insert(event_id);
        });
        Ok(repair)
    }
}

#[async_trait]
impl ReviewRepository for TrackingTx {
    async fn insert(&self, review: NewReview) -> Result<Review, AppError> {
        let stored = self.inner.reviews().insert(review).await?;
        self.record(|c| {
            c.events.insert(stored.event_id);
        });
        Ok(stored)
    }
    async fn find(&self, id: ReviewId) -> Result<Option<Review>, AppError> {
        self.inner.reviews().find(id).await
    }
    async fn update(&self, review: &Review) -> Result<Review, AppError> {
        let stored = self.inner.reviews().update(review).await?;
        self.record(|c| {
            c.events.insert(stored.event_id);
        });
        Ok(stored)
    }
    async fn search(&self, query: &ReviewQuery) -> Result<(Page<Review>, RatingSummary), AppError> {
        self.inner.reviews().search(query).await
    }
    async fn add_reply(&self, reply: NewReviewReply) -> Result<ReviewReply, AppError> {
        self.inner.reviews().add_reply(reply).await
    }
    async fn replies(&self, review_ids: &[ReviewId]) -> Result<Vec<ReviewReply>, AppError> {
        self.inner.reviews().replies(review_ids).await
    }
    async fn add_helpful_vote(
        &self,
        review_id: ReviewId,
        user_id: UserId,
        at: Timestamp,
    ) -> Result<bool, AppError> {
        self.inner
            .reviews()
            .add_helpful_vote(review_id, user_id, at)
            .await
    }
    async fn rating_summary(&self, event_id: EventId) -> Result<RatingSummary, AppError> {
        self.inner.reviews().rating_summary(event_id).await
    }
}
