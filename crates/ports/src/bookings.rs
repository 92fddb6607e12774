//! Persistence of bookings, their log, payments and refunds.

use async_trait::async_trait;
use domain::booking::{Booking, BookingStatus, NewBooking};
use domain::payment::{NewPayment, Payment, RefundStatus};
use domain::{BookingId, EventId, Money, PaymentId, RefundId, Timestamp, UserId};

use crate::{AppError, ErrorCode, Page, PageRequest};

/// Why one booking of a placement batch was not placed. The others in the batch are not
/// affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementRejection {
    /// Not enough seats left (`available` at the time of the attempt).
    SoldOut { available: u32 },
    /// The user already has an active booking for the event.
    AlreadyBooked,
    /// The price option's stock ran out.
    PriceOptionSoldOut { available: u32 },
    /// The promo code reached `max_uses`.
    PromoCodeExhausted,
    /// The waitlist hold the booking wanted to use is gone (expired or taken).
    WaitlistHoldGone,
}

impl PlacementRejection {
    #[must_use]
    pub const fn code(self) -> ErrorCode {
        match self {
            Self::SoldOut { .. } => ErrorCode::SoldOut,
            Self::AlreadyBooked => ErrorCode::AlreadyBooked,
            Self::PriceOptionSoldOut { .. } => ErrorCode::PriceOptionSoldOut,
            Self::PromoCodeExhausted => ErrorCode::PromoCodeInvalid,
            Self::WaitlistHoldGone => ErrorCode::WaitlistOfferExpired,
        }
    }
}

impl From<PlacementRejection> for AppError {
    fn from(r: PlacementRejection) -> Self {
        let message = match r {
            PlacementRejection::SoldOut { available } => {
                format!(
                    "sold out: {available} seat(s) left; join the waitlist to be told when seats free up"
                )
            }
            PlacementRejection::AlreadyBooked => {
                "you already have an active booking for this event".to_owned()
            }
            PlacementRejection::PriceOptionSoldOut { available } => {
                format!("this price option has {available} seat(s) left")
            }
            // The one answer of every unusable promo code (codes cannot be probed).
            PlacementRejection::PromoCodeExhausted => {
                "the promo code cannot be used for this booking".to_owned()
            }
            PlacementRejection::WaitlistHoldGone => "the waitlist offer has expired".to_owned(),
        };
        Self::conflict(r.code(), message)
    }
}

/// One line of `booking_logs`.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingLog {
    pub booking_id: BookingId,
    pub old_status: Option<BookingStatus>,
    pub new_status: BookingStatus,
    pub actor_id: Option<UserId>,
    pub details: serde_json::Value,
    pub created_at: Timestamp,
}

/// Booking list filters, scoped by the use case to what the caller may see.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BookingQuery {
    pub user_id: Option<UserId>,
    pub event_id: Option<EventId>,
    /// Only bookings of events created by this organizer.
    pub event_creator_id: Option<UserId>,
    pub statuses: Vec<BookingStatus>,
    pub page: PageRequest,
}

/// The reminders of PRODUCT.md §10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReminderKind {
    DayBefore,
    HourBefore,
}

impl ReminderKind {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DayBefore => "24H",
            Self::HourBefore => "1H",
        }
    }

    /// How long before the start the reminder goes out.
    #[must_use]
    pub fn lead(self) -> chrono::Duration {
        match self {
            Self::DayBefore => chrono::Duration::hours(24),
            Self::HourBefore => chrono::Duration::hours(1),
        }
    }
}

/// What one user holds, for the seat-hoarding limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatHolding {
    pub user: UserId,
    /// PENDING_PAYMENT seats over all events.
    pub unpaid_seats: u64,
    /// PENDING_PAYMENT and CONFIRMED seats of the event asked about.
    pub event_seats: u64,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait BookingRepository: Send + Sync {
    /// Places a batch of bookings of one event, all or nothing: takes their seats (except seats
    /// held for a waitlist entry converted in this transaction), price-option stock and promo
    /// uses with one conditional update each, and inserts them. Answers the stored bookings in
    /// the input's order. The use case decides beforehand which items can be placed (it holds
    /// the event's row lock); when a condition fails anyway — seats, stock, uses, a hold, a user
    /// who already has an active booking — the call fails with that [`PlacementRejection`] as a
    /// conflict and the transaction must be rolled back.
    async fn place(
        &self,
        event_id: EventId,
        bookings: Vec<NewBooking>,
    ) -> Result<Vec<Booking>, AppError>;

    /// For each of `users` holding any active booking: its unpaid (PENDING_PAYMENT) seats over
    /// all events and its active (PENDING_PAYMENT or CONFIRMED) seats of `event_id`. Users
    /// holding nothing are left out. One query per placement batch: its seat-hoarding limits,
    /// and `event_seats > 0` is a user who already holds a booking of the event.
    async fn seat_holdings(
        &self,
        event_id: EventId,
        users: &[UserId],
    ) -> Result<Vec<SeatHolding>, AppError>;

    async fn find(&self, id: BookingId) -> Result<Option<Booking>, AppError>;

    /// Reads and row-locks the booking until the transaction ends.
    async fn find_for_update(&self, id: BookingId) -> Result<Option<Booking>, AppError>;

    /// The user's PENDING_PAYMENT or CONFIRMED booking for the event, if any.
    async fn find_active(
        &self,
        event_id: EventId,
        user_id: UserId,
    ) -> Result<Option<Booking>, AppError>;

    /// The user's most recent booking for the event in any status (review eligibility).
    async fn find_latest(
        &self,
        event_id: EventId,
        user_id: UserId,
    ) -> Result<Option<Booking>, AppError>;

    /// Optimistic update by version (`VERSION_CONFLICT` otherwise); bumps the version.
    async fn update(&self, booking: &Booking) -> Result<Booking, AppError>;

    async fn search(&self, query: &BookingQuery) -> Result<Page<Booking>, AppError>;

    /// Active bookings of an event, locked (event cancellation).
    async fn active_for_event(&self, event_id: EventId) -> Result<Vec<Booking>, AppError>;

    /// PENDING_PAYMENT bookings whose deadline is before `deadline_before`, locked and skipped
    /// by other instances (the partial index on pending bookings by deadline).
    async fn claim_expired(
        &self,
        deadline_before: Timestamp,
        limit: u32,
    ) -> Result<Vec<Booking>, AppError>;

    /// CONFIRMED bookings of events starting in `(from, to]` that have not had this reminder.
    async fn claim_reminders_due(
        &self,
        kind: ReminderKind,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> Result<Vec<Booking>, AppError>;

    /// Records that a reminder went out; `false` if it already had (exactly once per kind).
    async fn mark_reminder_sent(
        &self,
        booking_id: BookingId,
        kind: ReminderKind,
        at: Timestamp,
    ) -> Result<bool, AppError>;

    /// CONFIRMED bookings of an event (completion).
    async fn confirmed_for_event(&self, event_id: EventId) -> Result<Vec<Booking>, AppError>;

    /// Stores the status change of claimed bookings that all moved to the same status at the
    /// same instant (the expiry job's batch), with one statement; each row must still be at the
    /// version it was read with. Answers the bookings as stored (version + 1).
    async fn store_transitions(&self, bookings: &[Booking]) -> Result<Vec<Booking>, AppError>;

    async fn append_log(&self, log: BookingLog) -> Result<(), AppError>;

    async fn logs(&self, booking_id: BookingId) -> Result<Vec<BookingLog>, AppError>;

    /// Σ quantity of bookings holding seats for the event (the seat invariant).
    async fn seats_held(&self, event_id: EventId) -> Result<u64, AppError>;

    /// Moves finished bookings (and their payments) older than `before` to the archive tables.
    async fn archive_before(&self, before: Timestamp, limit: u32) -> Result<u64, AppError>;
}

/// A refund about to be recorded on a payment: PENDING, to be sent to the gateway after the
/// transaction that records it has committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    pub payment_id: PaymentId,
    pub amount: Money,
    pub reason: String,
    /// The key the gateway knows this refund by: every attempt sends the same one, so a retry
    /// after a crash refunds once.
    pub idempotency_key: String,
    pub actor_id: Option<UserId>,
    pub created_at: Timestamp,
}

/// One refund of a payment and how far its gateway call got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: RefundId,
    pub payment_id: PaymentId,
    pub amount: Money,
    pub reason: String,
    pub status: RefundStatus,
    /// The gateway's refund reference, once it answered.
    pub gateway_reference: Option<String>,
    /// `None` for refunds recorded before refunds were sent after commit.
    pub idempotency_key: Option<String>,
    /// Gateway calls started so far.
    pub attempts: u32,
    /// When a PENDING refund is due (again); also the lease of a claimed one.
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub actor_id: Option<UserId>,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PaymentRepository: Send + Sync {
    async fn insert(&self, payment: NewPayment) -> Result<Payment, AppError>;
    async fn find(&self, id: PaymentId) -> Result<Option<Payment>, AppError>;
    /// The payment a gateway reference belongs to (no lock).
    async fn find_by_reference(
        &self,
        gateway: &str,
        reference: &str,
    ) -> Result<Option<Payment>, AppError>;
    /// Finds and row-locks the payment a gateway reference belongs to.
    async fn find_by_reference_for_update(
        &self,
        gateway: &str,
        reference: &str,
    ) -> Result<Option<Payment>, AppError>;
    /// Optimistic update by version; bumps the version.
    async fn update(&self, payment: &Payment) -> Result<Payment, AppError>;
    async fn for_booking(&self, booking_id: BookingId) -> Result<Vec<Payment>, AppError>;
    /// The payments of any of `bookings`, oldest first.
    async fn for_bookings(&self, bookings: &[BookingId]) -> Result<Vec<Payment>, AppError>;
    /// The payment the gateway knows by `key` (its initiation's idempotency key).
    async fn find_by_gateway_key(
        &self,
        gateway: &str,
        key: &str,
    ) -> Result<Option<Payment>, AppError>;
    /// INITIATED payments without a gateway reference created before `before` (their
    /// initiation's second transaction never committed), oldest first.
    async fn unreferenced_before(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<Payment>, AppError>;
    /// Records a PENDING refund, due at once.
    async fn record_refund(&self, refund: NewRefund) -> Result<RefundRecord, AppError>;
    async fn refunds(&self, payment_id: PaymentId) -> Result<Vec<RefundRecord>, AppError>;
    /// Claims up to `limit` PENDING refunds due at `now` (rows other transactions hold are
    /// skipped): each gets one more attempt and is not due again before `lease_until`, so no
    /// other worker sends it meanwhile. Answers them as updated.
    async fn claim_due_refunds(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<RefundRecord>, AppError>;
    async fn find_refund_for_update(&self, id: RefundId) -> Result<Option<RefundRecord>, AppError>;
    /// Writes a refund's status, gateway reference, attempts, next attempt, last error and
    /// completion time.
    async fn update_refund(&self, refund: &RefundRecord) -> Result<(), AppError>;
    /// Records that `gateway` sent the webhook `event_id`, received at `received_at`, after
    /// deleting the records received before `forget_before`. Answers `false` (and records
    /// nothing) when the pair is already recorded: the webhook is a replay.
    async fn record_webhook_event(
        &self,
        gateway: &str,
        event_id: &str,
        received_at: Timestamp,
        forget_before: Timestamp,
    ) -> Result<bool, AppError>;
    /// Deletes the record of a webhook whose application failed, so the gateway's retry of
    /// the same event is applied.
    async fn forget_webhook_event(&self, gateway: &str, event_id: &str) -> Result<(), AppError>;
}
