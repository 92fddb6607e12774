//! Bookings and their state machine (PRODUCT.md §3).
//!
//! `PENDING_PAYMENT → CONFIRMED → COMPLETED`; `PENDING_PAYMENT → EXPIRED` (deadline + grace
//! passed, by the job); `PENDING_PAYMENT | CONFIRMED → CANCELED`. A booking holds its seats
//! while it is active (PENDING_PAYMENT or CONFIRMED); every move out of an active status tells
//! the caller how many seats to give back.

use chrono::Duration;

use crate::pricing::PriceBreakdown;
use crate::ticket::TicketCode;
use crate::{
    BookingId, DomainError, EventId, Money, PriceOptionId, PromoCodeId, Quantity, Timestamp,
    Transition, UserId, WaitlistEntryId, text,
};

text_enum! {
    /// Lifecycle of a booking.
    BookingStatus {
        PendingPayment => "PENDING_PAYMENT",
        Confirmed => "CONFIRMED",
        Completed => "COMPLETED",
        Canceled => "CANCELED",
        Expired => "EXPIRED",
    }
}

impl BookingStatus {
    /// Active bookings count for "one active booking per user per event" and may still change.
    #[must_use]
    pub const fn is_active(self) -> bool {
        matches!(self, Self::PendingPayment | Self::Confirmed)
    }

    /// Statuses whose seats stay taken: active bookings, and completed ones (the seats were
    /// used). Canceled and expired bookings gave theirs back.
    #[must_use]
    pub const fn holds_seats(self) -> bool {
        matches!(
            self,
            Self::PendingPayment | Self::Confirmed | Self::Completed
        )
    }
}

/// A validated booking about to be placed (the store gives it its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBooking {
    pub event_id: EventId,
    pub user_id: UserId,
    pub quantity: Quantity,
    pub price_option_id: Option<PriceOptionId>,
    pub promo_code_id: Option<PromoCodeId>,
    pub waitlist_entry_id: Option<WaitlistEntryId>,
    pub price: PriceBreakdown,
    pub payment_deadline: Timestamp,
    pub created_at: Timestamp,
}

/// A stored booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub id: BookingId,
    pub event_id: EventId,
    pub user_id: UserId,
    pub quantity: Quantity,
    pub price_option_id: Option<PriceOptionId>,
    pub promo_code_id: Option<PromoCodeId>,
    pub waitlist_entry_id: Option<WaitlistEntryId>,
    pub price: PriceBreakdown,
    pub status: BookingStatus,
    pub payment_deadline: Timestamp,
    pub ticket_code: Option<TicketCode>,
    pub canceled_reason: Option<String>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The result of a move out of an active status: the transition and the seats to free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Release {
    pub transition: Transition<BookingStatus>,
    pub seats_freed: u32,
}

impl Booking {
    #[must_use]
    pub fn from_new(id: BookingId, new: NewBooking) -> Self {
        Self {
            id,
            event_id: new.event_id,
            user_id: new.user_id,
            quantity: new.quantity,
            price_option_id: new.price_option_id,
            promo_code_id: new.promo_code_id,
            waitlist_entry_id: new.waitlist_entry_id,
            price: new.price,
            status: BookingStatus::PendingPayment,
            payment_deadline: new.payment_deadline,
            ticket_code: None,
            canceled_reason: None,
            version: 0,
            created_at: new.created_at,
            updated_at: new.created_at,
        }
    }

    #[must_use]
    pub const fn total_price(&self) -> Money {
        self.price.total
    }

    #[must_use]
    pub const fn is_active(&self) -> bool {
        self.status.is_active()
    }

    /// Seats this booking takes from the event right now.
    #[must_use]
    pub const fn seats_held(&self) -> u32 {
        if self.status.holds_seats() {
            self.quantity.get()
        } else {
            0
        }
    }

    /// Whether the unpaid booking is past its deadline plus the grace period.
    #[must_use]
    pub fn is_past_grace(&self, now: Timestamp, grace: Duration) -> bool {
        now > self.payment_deadline + grace
    }

    fn refuse(&self, action: &'static str) -> DomainError {
        DomainError::invalid_transition("booking", self.status.as_str(), action)
    }

    fn move_to(&mut self, to: BookingStatus, now: Timestamp) -> Transition<BookingStatus> {
        let from = self.status;
        self.status = to;
        self.updated_at = now;
        Transition::new(from, to)
    }

    /// Fully paid: PENDING_PAYMENT → CONFIRMED with its ticket code. A payment that arrives after
    /// the deadline plus grace is refused (the seats may be gone; the caller refunds it).
    pub fn confirm(
        &mut self,
        ticket_code: TicketCode,
        now: Timestamp,
        grace: Duration,
    ) -> Result<Transition<BookingStatus>, DomainError> {
        if self.status != BookingStatus::PendingPayment {
            return Err(self.refuse("confirm"));
        }
        if self.is_past_grace(now, grace) {
            return Err(DomainError::PaymentDeadlinePassed);
        }
        self.ticket_code = Some(ticket_code);
        Ok(self.move_to(BookingStatus::Confirmed, now))
    }

    /// The event took place: CONFIRMED → COMPLETED. Seats stay counted (they were used).
    pub fn complete(&mut self, now: Timestamp) -> Result<Transition<BookingStatus>, DomainError> {
        if self.status != BookingStatus::Confirmed {
            return Err(self.refuse("complete"));
        }
        Ok(self.move_to(BookingStatus::Completed, now))
    }

    /// PENDING_PAYMENT | CONFIRMED → CANCELED; frees the seats. Whether money goes back is the
    /// refund policy's business, decided by the caller from the transition's `from`.
    pub fn cancel(&mut self, reason: Option<&str>, now: Timestamp) -> Result<Release, DomainError> {
        if !self.is_active() {
            return Err(self.refuse("cancel"));
        }
        let reason = text::optional("reason", reason, 1000)?;
        let seats_freed = self.quantity.get();
        self.canceled_reason = reason;
        Ok(Release {
            transition: self.move_to(BookingStatus::Canceled, now),
            seats_freed,
        })
    }

    /// Unpaid past the deadline plus grace: PENDING_PAYMENT → EXPIRED; frees the seats.
    pub fn expire(&mut self, now: Timestamp, grace: Duration) -> Result<Release, DomainError> {
        if self.status != BookingStatus::PendingPayment {
            return Err(self.refuse("expire"));
        }
        if !self.is_past_grace(now, grace) {
            return Err(DomainError::DeadlineNotReached);
        }
        let seats_freed = self.quantity.get();
        Ok(Release {
            transition: self.move_to(BookingStatus::Expired, now),
            seats_freed,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::tests::now;

    pub(crate) fn pending(quantity: u32) -> Booking {
        let q = Quantity::new(i64::from(quantity), 10).unwrap();
        let unit = Money::parse("100").unwrap();
        let base = unit.times(quantity);
        Booking::from_new(
            BookingId(1),
            NewBooking {
                event_id: EventId(1),
                user_id: UserId(uuid::Uuid::nil()),
                quantity: q,
                price_option_id: None,
                promo_code_id: None,
                waitlist_entry_id: None,
                price: PriceBreakdown {
                    unit_price: unit,
                    quantity,
                    base,
                    dynamic_adjustment: Money::ZERO,
                    group_discount: Money::ZERO,
                    promo_discount: Money::ZERO,
                    loyalty_discount: Money::ZERO,
                    loyalty_points_used: 0,
                    total: base,
                },
                payment_deadline: now() + Duration::minutes(30),
                created_at: now(),
            },
        )
    }

    pub(crate) fn ticket() -> TicketCode {
        TicketCode::new("AQ-TEST-0000-0001").unwrap()
    }

    fn grace() -> Duration {
        Duration::minutes(5)
    }

    fn confirmed(quantity: u32) -> Booking {
        let mut b = pending(quantity);
        let _ = b.confirm(ticket(), now(), grace()).unwrap();
        b
    }

    #[test]
    fn pending_confirms_with_a_ticket() {
        let mut b = pending(2);
        let t = b.confirm(ticket(), now(), grace()).unwrap();
        assert_eq!(
            (t.from, t.to),
            (BookingStatus::PendingPayment, BookingStatus::Confirmed)
        );
        assert_eq!(b.ticket_code, Some(ticket()));
        assert_eq!(b.seats_held(), 2);
    }

    #[test]
    fn confirm_within_grace_is_accepted_and_after_grace_refused() {
        let deadline = pending(1).payment_deadline;
        let mut b = pending(1);
        assert!(b.confirm(ticket(), deadline + grace(), grace()).is_ok());
        let mut late = pending(1);
        let err = late
            .confirm(ticket(), deadline + grace() + Duration::seconds(1), grace())
            .unwrap_err();
        assert_eq!(err, DomainError::PaymentDeadlinePassed);
        assert_eq!(late.status, BookingStatus::PendingPayment);
    }

    #[test]
    fn only_pending_confirms() {
        for mut b in [confirmed(1), expired(), canceled()] {
            assert_eq!(
                b.confirm(ticket(), now(), grace()).unwrap_err().code(),
                "INVALID_TRANSITION"
            );
        }
    }

    #[test]
    fn confirmed_completes() {
        let mut b = confirmed(1);
        assert_eq!(b.complete(now()).unwrap().to, BookingStatus::Completed);
        assert!(
            !b.is_active(),
            "a completed booking no longer blocks a new one"
        );
        assert_eq!(b.seats_held(), 1, "but its seat was used and stays taken");
    }

    #[test]
    fn pending_cannot_complete() {
        assert_eq!(
            pending(1).complete(now()).unwrap_err().code(),
            "INVALID_TRANSITION"
        );
    }

    #[test]
    fn pending_and_confirmed_cancel_and_free_their_seats() {
        for (mut b, from) in [
            (pending(3), BookingStatus::PendingPayment),
            (confirmed(3), BookingStatus::Confirmed),
        ] {
            let r = b.cancel(Some("changed plans"), now()).unwrap();
            assert_eq!(r.transition.from, from);
            assert_eq!(r.seats_freed, 3);
            assert_eq!(b.seats_held(), 0);
            assert_eq!(b.canceled_reason.as_deref(), Some("changed plans"));
        }
    }

    #[test]
    fn canceled_expired_and_completed_cannot_cancel() {
        let mut done = confirmed(1);
        let _ = done.complete(now()).unwrap();
        for mut b in [canceled(), expired(), done] {
            assert_eq!(
                b.cancel(None, now()).unwrap_err().code(),
                "INVALID_TRANSITION"
            );
        }
    }

    fn canceled() -> Booking {
        let mut b = pending(1);
        let _ = b.cancel(None, now()).unwrap();
        b
    }

    fn expired() -> Booking {
        let mut b = pending(1);
        let at = b.payment_deadline + grace() + Duration::seconds(1);
        let _ = b.expire(at, grace()).unwrap();
        b
    }

    #[test]
    fn pending_expires_only_after_deadline_plus_grace() {
        let mut b = pending(2);
        let edge = b.payment_deadline + grace();
        assert_eq!(
            b.expire(edge, grace()).unwrap_err(),
            DomainError::DeadlineNotReached
        );
        let r = b.expire(edge + Duration::seconds(1), grace()).unwrap();
        assert_eq!(
            (r.transition.to, r.seats_freed),
            (BookingStatus::Expired, 2)
        );
    }

    #[test]
    fn confirmed_never_expires() {
        let mut b = confirmed(1);
        let late = b.payment_deadline + Duration::days(1);
        assert_eq!(
            b.expire(late, grace()).unwrap_err().code(),
            "INVALID_TRANSITION"
        );
    }

    #[test]
    fn statuses_round_trip_and_activity() {
        for s in BookingStatus::ALL {
            assert_eq!(s.as_str().parse::<BookingStatus>().unwrap(), *s);
        }
        let active: Vec<_> = BookingStatus::ALL
            .iter()
            .filter(|s| s.is_active())
            .collect();
        assert_eq!(
            active,
            [&BookingStatus::PendingPayment, &BookingStatus::Confirmed]
        );
    }
}
