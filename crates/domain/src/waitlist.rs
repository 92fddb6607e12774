//! The waiting list of a full event (PRODUCT.md §4, seed 002).
//!
//! `WAITING → NOTIFIED` when seats free up: the seats are *held* for the entry for the
//! notification window. `NOTIFIED → CONVERTED` when the user books within the window (the
//! booking uses the held seats), `NOTIFIED → EXPIRED` when the window passes (the held seats go
//! to the next entry). `WAITING | NOTIFIED → LEFT` when the user leaves, `→ CANCELED` when the
//! event is canceled. Every move that ends a hold says how many seats it gives back.

use chrono::Duration;

use crate::{DomainError, EventId, Quantity, Timestamp, Transition, UserId, WaitlistEntryId};

text_enum! {
    /// Lifecycle of a waitlist entry.
    WaitlistStatus {
        Waiting => "WAITING",
        Notified => "NOTIFIED",
        Converted => "CONVERTED",
        Expired => "EXPIRED",
        Left => "LEFT",
        Canceled => "CANCELED",
    }
}

impl WaitlistStatus {
    /// Still in the queue (waiting or holding an offer).
    #[must_use]
    pub const fn is_open(self) -> bool {
        matches!(self, Self::Waiting | Self::Notified)
    }
}

/// A stored waitlist entry. `priority` is the join order (FIFO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitlistEntry {
    pub id: WaitlistEntryId,
    pub event_id: EventId,
    pub user_id: UserId,
    pub priority: i64,
    pub quantity: Quantity,
    pub status: WaitlistStatus,
    pub held_seats: u32,
    pub notified_at: Option<Timestamp>,
    pub hold_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The outcome of a move that ends a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct HoldEnd {
    pub transition: Transition<WaitlistStatus>,
    /// Seats that were held for this entry and are now released (to the next entry or back to
    /// the event), or, for a conversion, handed to the new booking.
    pub seats: u32,
}

impl WaitlistEntry {
    fn refuse(&self, action: &'static str) -> DomainError {
        DomainError::invalid_transition("waitlist entry", self.status.as_str(), action)
    }

    fn end_hold(&mut self, to: WaitlistStatus, now: Timestamp) -> HoldEnd {
        let from = self.status;
        let seats = std::mem::take(&mut self.held_seats);
        self.status = to;
        self.updated_at = now;
        HoldEnd {
            transition: Transition::new(from, to),
            seats,
        }
    }

    /// Seats freed up: WAITING → NOTIFIED, holding `quantity` seats until `now + window`.
    pub fn notify(
        &mut self,
        now: Timestamp,
        window: Duration,
    ) -> Result<Transition<WaitlistStatus>, DomainError> {
        if self.status != WaitlistStatus::Waiting {
            return Err(self.refuse("notify"));
        }
        self.held_seats = self.quantity.get();
        self.notified_at = Some(now);
        self.hold_expires_at = Some(now + window);
        self.status = WaitlistStatus::Notified;
        self.updated_at = now;
        Ok(Transition::new(
            WaitlistStatus::Waiting,
            WaitlistStatus::Notified,
        ))
    }

    /// Whether the offer is still open at `now` (the window's end is inclusive).
    #[must_use]
    pub fn offer_open(&self, now: Timestamp) -> bool {
        self.status == WaitlistStatus::Notified
            && self.hold_expires_at.is_some_and(|end| now <= end)
    }

    /// The user books within the window: NOTIFIED → CONVERTED; the held seats go to the booking.
    pub fn convert(&mut self, now: Timestamp) -> Result<HoldEnd, DomainError> {
        if self.status != WaitlistStatus::Notified {
            return Err(self.refuse("convert"));
        }
        if !self.offer_open(now) {
            return Err(DomainError::WaitlistOfferExpired);
        }
        Ok(self.end_hold(WaitlistStatus::Converted, now))
    }

    /// The window passed: NOTIFIED → EXPIRED; the held seats pass on.
    pub fn expire(&mut self, now: Timestamp) -> Result<HoldEnd, DomainError> {
        if self.status != WaitlistStatus::Notified {
            return Err(self.refuse("expire"));
        }
        if self.offer_open(now) {
            return Err(DomainError::DeadlineNotReached);
        }
        Ok(self.end_hold(WaitlistStatus::Expired, now))
    }

    /// The user leaves the queue (releasing a hold if they had one).
    pub fn leave(&mut self, now: Timestamp) -> Result<HoldEnd, DomainError> {
        if !self.status.is_open() {
            return Err(self.refuse("leave"));
        }
        Ok(self.end_hold(WaitlistStatus::Left, now))
    }

    /// The event was canceled: the queue is cleared.
    pub fn cancel(&mut self, now: Timestamp) -> Result<HoldEnd, DomainError> {
        if !self.status.is_open() {
            return Err(self.refuse("cancel"));
        }
        Ok(self.end_hold(WaitlistStatus::Canceled, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::now;

    fn window() -> Duration {
        Duration::minutes(30)
    }

    pub(crate) fn waiting(quantity: u32) -> WaitlistEntry {
        WaitlistEntry {
            id: WaitlistEntryId(1),
            event_id: EventId(1),
            user_id: UserId(uuid::Uuid::nil()),
            priority: 1,
            quantity: Quantity::new(i64::from(quantity), 10).unwrap(),
            status: WaitlistStatus::Waiting,
            held_seats: 0,
            notified_at: None,
            hold_expires_at: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn notified() -> WaitlistEntry {
        let mut w = waiting(2);
        let _ = w.notify(now(), window()).unwrap();
        w
    }

    #[test]
    fn waiting_is_notified_and_holds_seats_for_the_window() {
        let w = notified();
        assert_eq!(w.status, WaitlistStatus::Notified);
        assert_eq!(w.held_seats, 2);
        assert_eq!(w.hold_expires_at, Some(now() + window()));
    }

    #[test]
    fn notified_cannot_be_notified_again() {
        assert_eq!(
            notified().notify(now(), window()).unwrap_err().code(),
            "INVALID_TRANSITION"
        );
    }

    #[test]
    fn convert_within_the_window_hands_the_held_seats_over() {
        let mut w = notified();
        let end = w.convert(now() + window()).unwrap();
        assert_eq!(
            (end.transition.to, end.seats, w.held_seats),
            (WaitlistStatus::Converted, 2, 0)
        );
    }

    #[test]
    fn convert_after_the_window_is_refused() {
        let mut w = notified();
        assert_eq!(
            w.convert(now() + window() + Duration::seconds(1))
                .unwrap_err(),
            DomainError::WaitlistOfferExpired
        );
        assert_eq!(
            waiting(1).convert(now()).unwrap_err().code(),
            "INVALID_TRANSITION"
        );
    }

    #[test]
    fn expire_only_after_the_window_and_releases_the_hold() {
        let mut w = notified();
        assert_eq!(
            w.expire(now() + window()).unwrap_err(),
            DomainError::DeadlineNotReached
        );
        let end = w.expire(now() + window() + Duration::seconds(1)).unwrap();
        assert_eq!((end.transition.to, end.seats), (WaitlistStatus::Expired, 2));
        assert_eq!(
            w.expire(now() + Duration::days(1)).unwrap_err().code(),
            "INVALID_TRANSITION"
        );
    }

    #[test]
    fn leaving_releases_a_hold_only_if_there_was_one() {
        let mut a = waiting(3);
        assert_eq!(a.leave(now()).unwrap().seats, 0);
        let mut b = notified();
        assert_eq!(b.leave(now()).unwrap().seats, 2);
        assert_eq!(b.leave(now()).unwrap_err().code(), "INVALID_TRANSITION");
    }

    #[test]
    fn event_cancellation_clears_open_entries_only() {
        let mut w = notified();
        assert_eq!(
            w.cancel(now()).unwrap().transition.to,
            WaitlistStatus::Canceled
        );
        let mut c = notified();
        let _ = c.convert(now()).unwrap();
        assert_eq!(c.cancel(now()).unwrap_err().code(), "INVALID_TRANSITION");
    }
}
