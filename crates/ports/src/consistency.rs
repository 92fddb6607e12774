//! The consistency check (`backend-event check`, and optionally at start): queries over the
//! stored invariants that the use cases keep transaction by transaction, for what a bug, a
//! manual edit or a partial restore may have broken.

use async_trait::async_trait;
use domain::{EventId, Timestamp};

use crate::AppError;

/// An event whose seat counts do not add up: `available + booked + held ≠ capacity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatDrift {
    pub event_id: EventId,
    pub capacity: i64,
    /// `events.available_seats` as stored.
    pub available: i64,
    /// Seats of bookings that hold them (PENDING_PAYMENT, CONFIRMED, COMPLETED), archived ones
    /// included.
    pub booked: i64,
    /// Seats held for NOTIFIED waitlist entries.
    pub held: i64,
}

impl SeatDrift {
    /// What `available_seats` should be.
    #[must_use]
    pub const fn expected_available(&self) -> i64 {
        self.capacity - self.booked - self.held
    }
}

/// A promo code whose use counter differs from the bookings placed with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoUseDrift {
    pub promo_code_id: i64,
    pub code: String,
    pub current_uses: i64,
    /// Bookings (archived ones included) that used the code.
    pub bookings: i64,
}

/// A booking priced with an option of another event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignPriceOption {
    pub booking_id: i64,
    pub booking_event_id: i64,
    pub price_option_id: i64,
    pub option_event_id: i64,
}

/// A CONFIRMED or COMPLETED booking whose settled payments do not cover its total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnderpaidBooking {
    pub booking_id: i64,
    pub total_minor: i64,
    /// Σ amount of its paid (COMPLETED, PARTIAL_REFUND, REFUNDED) payments.
    pub paid_minor: i64,
}

/// Outbox rows still unsent although older than a cut-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleOutbox {
    pub count: u64,
    pub oldest: Option<Timestamp>,
}

/// What [`ConsistencyStore::repair_seats`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatRepair {
    /// The counts add up (by now: another transaction may have fixed them).
    AddsUp,
    /// `available_seats` was set to [`SeatDrift::expected_available`].
    Repaired(SeatDrift),
    /// More seats are taken than the event has: no `available_seats` can fix that.
    Overbooked(SeatDrift),
}

/// What the check reads and the one thing it repairs.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ConsistencyStore: Send + Sync {
    /// Every event whose seat counts do not add up, by id.
    async fn seat_drifts(&self) -> Result<Vec<SeatDrift>, AppError>;
    /// Every promo code whose `current_uses` differs from the bookings that used it.
    async fn promo_use_drifts(&self) -> Result<Vec<PromoUseDrift>, AppError>;
    /// Bookings whose price option belongs to another event.
    async fn foreign_price_options(&self) -> Result<Vec<ForeignPriceOption>, AppError>;
    /// Confirmed or completed bookings with a positive total not covered by paid payments.
    async fn underpaid_bookings(&self) -> Result<Vec<UnderpaidBooking>, AppError>;
    /// Unsent outbox rows created before `before`.
    async fn unsent_outbox_before(&self, before: Timestamp) -> Result<StaleOutbox, AppError>;
    /// Locks the event, counts its seats again and, when they still do not add up (and can),
    /// sets `available_seats` to what they should be (bumping the event's version).
    async fn repair_seats(&self, event_id: EventId, now: Timestamp)
    -> Result<SeatRepair, AppError>;
}
