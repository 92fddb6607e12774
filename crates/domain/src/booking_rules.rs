//! The rules for placing a booking that span several entities (PRODUCT.md §3).

use chrono::Duration;

use crate::event::Event;
use crate::price_option::PriceOption;
use crate::{DomainError, Quantity, Timestamp};

/// Booking settings from configuration (`app.event.booking.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingSettings {
    /// How long an unpaid booking holds its seats (`ttl-minutes`).
    pub ttl: Duration,
    /// Extra time after the deadline before the expiry job frees the seats.
    pub grace: Duration,
    /// The largest `quantity` of one booking.
    pub max_quantity: u32,
}

impl Default for BookingSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::minutes(30),
            grace: Duration::minutes(5),
            max_quantity: 10,
        }
    }
}

/// `min(now + ttl, booking cutoff)`: a booking never stays payable past the cutoff.
#[must_use]
pub fn payment_deadline(now: Timestamp, ttl: Duration, cutoff: Timestamp) -> Timestamp {
    (now + ttl).min(cutoff)
}

/// Everything checked before seats are taken. The seat take itself is the store's atomic
/// conditional update; this catches what can be known up front, with the clearest error.
pub fn check_can_book(
    event: &Event,
    quantity: Quantity,
    price_option: Option<&PriceOption>,
    now: Timestamp,
) -> Result<(), DomainError> {
    event.check_bookable(now)?;
    if let Some(option) = price_option {
        option.check_available_for(event.id, quantity.get())?;
    }
    if quantity.get() > event.seats.available() {
        return Err(DomainError::SoldOut {
            requested: quantity.get(),
            available: event.seats.available(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::{now, published};
    use crate::{EventId, Money, PriceOptionId};

    #[test]
    fn deadline_is_now_plus_ttl_when_the_cutoff_is_far() {
        let cutoff = now() + Duration::days(3);
        assert_eq!(
            payment_deadline(now(), Duration::minutes(30), cutoff),
            now() + Duration::minutes(30)
        );
    }

    #[test]
    fn deadline_never_passes_the_cutoff() {
        let cutoff = now() + Duration::minutes(10);
        assert_eq!(
            payment_deadline(now(), Duration::minutes(30), cutoff),
            cutoff
        );
    }

    #[test]
    fn booking_a_published_event_with_seats_is_allowed() {
        let e = published();
        assert!(check_can_book(&e, Quantity::new(10, 10).unwrap(), None, now()).is_ok());
    }

    #[test]
    fn more_than_available_is_sold_out() {
        let mut e = published();
        e.seats.take(9).unwrap();
        let err = check_can_book(&e, Quantity::new(2, 10).unwrap(), None, now()).unwrap_err();
        assert_eq!(
            err,
            DomainError::SoldOut {
                requested: 2,
                available: 1
            }
        );
    }

    #[test]
    fn after_the_cutoff_booking_is_closed() {
        let e = published();
        let late = e.booking_cutoff() + Duration::seconds(1);
        assert_eq!(
            check_can_book(&e, Quantity::ONE, None, late)
                .unwrap_err()
                .code(),
            "BOOKING_CLOSED"
        );
    }

    #[test]
    fn price_option_of_another_event_is_refused() {
        let e = published();
        let option = PriceOption {
            id: PriceOptionId(3),
            event_id: EventId(99),
            name: "VIP".into(),
            price: Money::parse("10").unwrap(),
            description: None,
            quantity_available: None,
            is_active: true,
        };
        let err = check_can_book(&e, Quantity::ONE, Some(&option), now()).unwrap_err();
        assert_eq!(err.code(), "PRICE_OPTION_UNAVAILABLE");
    }
}
