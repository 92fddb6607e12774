//! Persistence of the waitlist, reviews, favorites, promo codes and the loyalty ledger.

use async_trait::async_trait;
use domain::favorite::Favorite;
use domain::loyalty::{LoyaltyEntry, NewLoyaltyEntry};
use domain::promo_code::{PromoCode, PromoCodeText, PromoTerms};
use domain::review::{NewReview, NewReviewReply, RatingSummary, Review, ReviewReply, ReviewStatus};
use domain::waitlist::{WaitlistEntry, WaitlistStatus};
use domain::{
    BookingId, EventId, PromoCodeId, Quantity, ReviewId, Timestamp, UserId, WaitlistEntryId,
};

use crate::{AppError, Page, PageRequest};

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WaitlistRepository: Send + Sync {
    /// Appends the user to the event's queue with the next priority. A user already in the
    /// queue is `Conflict { code: ErrorCode::AlreadyOnWaitlist }`.
    async fn join(
        &self,
        event_id: EventId,
        user_id: UserId,
        quantity: Quantity,
        now: Timestamp,
    ) -> Result<WaitlistEntry, AppError>;
    async fn find(&self, id: WaitlistEntryId) -> Result<Option<WaitlistEntry>, AppError>;
    /// The user's WAITING or NOTIFIED entry for the event, locked.
    async fn find_open(
        &self,
        event_id: EventId,
        user_id: UserId,
    ) -> Result<Option<WaitlistEntry>, AppError>;
    /// The NOTIFIED entries (open offers) of any of `users` for the event, locked.
    async fn find_offers(
        &self,
        event_id: EventId,
        users: &[UserId],
    ) -> Result<Vec<WaitlistEntry>, AppError>;
    /// The user's WAITING or NOTIFIED entry for the event, read without locking it (a plain
    /// read must not make the offer paths, which skip locked entries, pass it over).
    async fn peek_open(
        &self,
        event_id: EventId,
        user_id: UserId,
    ) -> Result<Option<WaitlistEntry>, AppError>;
    /// 1-based position among the event's open entries.
    async fn position(&self, entry: &WaitlistEntry) -> Result<u64, AppError>;
    async fn list(
        &self,
        event_id: EventId,
        statuses: Vec<WaitlistStatus>,
        page: PageRequest,
    ) -> Result<Page<WaitlistEntry>, AppError>;
    /// The first WAITING entries by priority, locked and skipped by other instances.
    async fn next_waiting(
        &self,
        event_id: EventId,
        limit: u32,
    ) -> Result<Vec<WaitlistEntry>, AppError>;
    async fn update(&self, entry: &WaitlistEntry) -> Result<WaitlistEntry, AppError>;
    /// NOTIFIED entries whose hold ended before `now`, locked and skipped by other instances.
    async fn claim_expired_offers(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<WaitlistEntry>, AppError>;
    /// Open entries of an event, locked (event cancellation).
    async fn open_for_event(&self, event_id: EventId) -> Result<Vec<WaitlistEntry>, AppError>;
    /// Σ seats held for NOTIFIED entries of the event (the seat invariant).
    async fn held_seats(&self, event_id: EventId) -> Result<u64, AppError>;
    /// Writes a `waitlist_audit` line for a status change.
    async fn append_audit(
        &self,
        entry: &WaitlistEntry,
        old_status: Option<WaitlistStatus>,
        actor_id: Option<UserId>,
        at: Timestamp,
    ) -> Result<(), AppError>;
}

/// Review list sort orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReviewSort {
    #[default]
    Newest,
    MostHelpful,
    /// Oldest first: the moderation queue is worked in arrival order.
    Oldest,
}

impl ReviewSort {
    /// The request keys (`sort`); `Oldest` is the moderation queue's own order, not offered.
    pub const KEYS: &'static [(&'static str, Self)] =
        &[("newest", Self::Newest), ("helpful", Self::MostHelpful)];

    /// Parses the request input `field`; blank is the default (`newest`).
    pub fn parse_field(field: &'static str, raw: &str) -> Result<Self, AppError> {
        super::parse_sort_key(field, raw, Self::KEYS)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReviewQuery {
    pub event_id: Option<EventId>,
    pub user_id: Option<UserId>,
    pub statuses: Vec<ReviewStatus>,
    pub min_rating: Option<u8>,
    pub sort: ReviewSort,
    pub page: PageRequest,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ReviewRepository: Send + Sync {
    /// A second review by the same user for the event is `Conflict { code: ErrorCode::AlreadyReviewed }`.
    async fn insert(&self, review: NewReview) -> Result<Review, AppError>;
    async fn find(&self, id: ReviewId) -> Result<Option<Review>, AppError>;
    /// Optimistic update by version; bumps the version.
    async fn update(&self, review: &Review) -> Result<Review, AppError>;
    /// The page and the rating summary of everything the filters match.
    async fn search(&self, query: &ReviewQuery) -> Result<(Page<Review>, RatingSummary), AppError>;
    async fn add_reply(&self, reply: NewReviewReply) -> Result<ReviewReply, AppError>;
    async fn replies(&self, review_ids: &[ReviewId]) -> Result<Vec<ReviewReply>, AppError>;
    /// Records the vote and increments `helpful_count` together; `false` if the user had
    /// already voted (nothing changes).
    async fn add_helpful_vote(
        &self,
        review_id: ReviewId,
        user_id: UserId,
        at: Timestamp,
    ) -> Result<bool, AppError>;
    /// Average and count over ACTIVE reviews of the event.
    async fn rating_summary(&self, event_id: EventId) -> Result<RatingSummary, AppError>;
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FavoriteRepository: Send + Sync {
    /// Idempotent: answers the favorite and whether it was created now.
    async fn add(
        &self,
        event_id: EventId,
        user_id: UserId,
        at: Timestamp,
    ) -> Result<(Favorite, bool), AppError>;
    /// Answers whether there was something to remove.
    async fn remove(&self, event_id: EventId, user_id: UserId) -> Result<bool, AppError>;
    async fn list(&self, user_id: UserId, page: PageRequest) -> Result<Page<Favorite>, AppError>;
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PromoCodeQuery {
    /// Codes created by this user (organizers see their own).
    pub created_by: Option<UserId>,
    pub event_id: Option<EventId>,
    pub active_only: bool,
    pub page: PageRequest,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PromoCodeRepository: Send + Sync {
    /// An existing code is `Conflict { code: ErrorCode::PromoCodeExists }`.
    async fn insert(
        &self,
        code: PromoCodeText,
        terms: PromoTerms,
        created_by: UserId,
        now: Timestamp,
    ) -> Result<PromoCode, AppError>;
    async fn find(&self, id: PromoCodeId) -> Result<Option<PromoCode>, AppError>;
    async fn find_by_code(&self, code: &PromoCodeText) -> Result<Option<PromoCode>, AppError>;
    /// Optimistic update by version; bumps the version.
    async fn update(&self, code: &PromoCode) -> Result<PromoCode, AppError>;
    async fn search(&self, query: &PromoCodeQuery) -> Result<Page<PromoCode>, AppError>;
    /// Records which booking used the code (the use itself is counted by `place`).
    async fn record_redemption(
        &self,
        id: PromoCodeId,
        booking_id: BookingId,
        user_id: UserId,
        at: Timestamp,
    ) -> Result<(), AppError>;
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LoyaltyLedger: Send + Sync {
    /// Appends a line. The ledger is append-only: lines are never changed or deleted.
    async fn append(&self, entry: NewLoyaltyEntry) -> Result<LoyaltyEntry, AppError>;
    /// The user's balance, serialized against concurrent spending of the same user.
    async fn balance_for_update(&self, user_id: UserId) -> Result<u64, AppError>;
    async fn balance(&self, user_id: UserId) -> Result<u64, AppError>;
    async fn history(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<LoyaltyEntry>, AppError>;
    /// Whether the user already has a `REVIEW_EARNED` line for the review (points for a
    /// review are credited once, however often it is re-moderated).
    async fn has_review_credit(
        &self,
        user_id: UserId,
        review_id: ReviewId,
    ) -> Result<bool, AppError>;
}
