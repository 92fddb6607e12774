//! Typed identifiers. A bare `i64` never crosses a boundary: an `EventId` cannot be passed
//! where a `BookingId` is expected.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! int_id {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            #[must_use]
            pub const fn value(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl From<i64> for $name {
            fn from(value: i64) -> Self {
                Self(value)
            }
        }
    )+};
}

int_id!(
    /// Identifier of an event (a trip, race, workshop).
    EventId,
    /// Identifier of a booking.
    BookingId,
    /// Identifier of a payment attempt.
    PaymentId,
    /// Identifier of a refund record of a payment.
    RefundId,
    /// Identifier of a waitlist entry.
    WaitlistEntryId,
    /// Identifier of a review.
    ReviewId,
    /// Identifier of an organizer's reply to a review.
    ReviewReplyId,
    /// Identifier of a favorite.
    FavoriteId,
    /// Identifier of an event category.
    CategoryId,
    /// Identifier of a price option (ticket tier) of an event.
    PriceOptionId,
    /// Identifier of a promo code.
    PromoCodeId,
    /// Identifier of a loyalty ledger entry.
    LoyaltyEntryId,
    /// Identifier of a crew in backend-crew.
    CrewId,
);

/// Identifier of a user: the `sub` of the caller's token (a UUID), owned by the user service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl UserId {
    #[must_use]
    pub const fn value(self) -> Uuid {
        self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for UserId {
    type Err = crate::DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| crate::DomainError::validation("user_id", "must be a UUID"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_parses_a_uuid_and_rejects_anything_else() {
        let id: UserId = "6f1c2a0e-3f7a-4f4e-9a59-1b9f7f1c0d11".parse().unwrap();
        assert_eq!(id.to_string(), "6f1c2a0e-3f7a-4f4e-9a59-1b9f7f1c0d11");
        let err = "42".parse::<UserId>().unwrap_err();
        assert_eq!(err.code(), "VALIDATION_FAILED");
    }

    #[test]
    fn int_ids_serialize_as_plain_numbers() {
        assert_eq!(EventId(7).to_string(), "7");
        assert_eq!(BookingId::from(9).value(), 9);
    }
}
