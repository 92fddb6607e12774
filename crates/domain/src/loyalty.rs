//! Loyalty points (PRODUCT.md §7): earned on confirmed bookings and approved reviews, redeemed
//! as a discount. The ledger is append-only; the balance is the sum of its entries.

use rust_decimal::Decimal;

use crate::pricing::LoyaltyRedemption;
use crate::{BookingId, DomainError, LoyaltyEntryId, Money, Percent, ReviewId, Timestamp, UserId};

text_enum! {
    /// Why points moved.
    LoyaltyEntryKind {
        BookingEarned => "BOOKING_EARNED",
        ReviewEarned => "REVIEW_EARNED",
        Redeemed => "REDEEMED",
        /// A redemption given back (the booking that spent the points was canceled or expired).
        RedemptionReversed => "REDEMPTION_REVERSED",
        /// Points taken back (the booking that earned them was refunded).
        EarningReversed => "EARNING_REVERSED",
    }
}

/// The programme's terms, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoyaltyProgram {
    /// Points earned per currency unit paid (e.g. 0.01 → 1 point per 100.00).
    pub points_per_currency_unit: Decimal,
    /// Points for an approved review.
    pub review_points: u32,
    /// What one point is worth when redeemed.
    pub point_value: Money,
    /// At most this share of a price may be paid with points.
    pub max_redeem_share: Percent,
}

impl LoyaltyProgram {
    /// Whole points earned for `paid` (rounded down).
    #[must_use]
    pub fn points_for(&self, paid: Money) -> u64 {
        let points = (paid.floor_at_zero().amount() * self.points_per_currency_unit).floor();
        u64::try_from(points.mantissa()).unwrap_or(0)
    }

    /// The redemption request for the pricing pipeline, checked against the balance.
    pub fn redemption(
        &self,
        requested: u64,
        balance: u64,
    ) -> Result<LoyaltyRedemption, DomainError> {
        if requested > balance {
            return Err(DomainError::InsufficientPoints {
                requested,
                available: balance,
            });
        }
        Ok(LoyaltyRedemption {
            points: requested,
            point_value: self.point_value,
            max_share: self.max_redeem_share,
        })
    }
}

/// A ledger line about to be appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLoyaltyEntry {
    pub user_id: UserId,
    /// Positive when earned, negative when spent or reversed.
    pub points: i64,
    pub kind: LoyaltyEntryKind,
    pub booking_id: Option<BookingId>,
    pub review_id: Option<ReviewId>,
    pub created_at: Timestamp,
}

impl NewLoyaltyEntry {
    fn signed(points: u64, negative: bool) -> i64 {
        let p = i64::try_from(points).unwrap_or(i64::MAX);
        if negative { -p } else { p }
    }

    #[must_use]
    pub fn earned_for_booking(
        user_id: UserId,
        booking_id: BookingId,
        points: u64,
        now: Timestamp,
    ) -> Self {
        Self {
            user_id,
            points: Self::signed(points, false),
            kind: LoyaltyEntryKind::BookingEarned,
            booking_id: Some(booking_id),
            review_id: None,
            created_at: now,
        }
    }

    #[must_use]
    pub fn earned_for_review(
        user_id: UserId,
        review_id: ReviewId,
        points: u32,
        now: Timestamp,
    ) -> Self {
        Self {
            user_id,
            points: i64::from(points),
            kind: LoyaltyEntryKind::ReviewEarned,
            booking_id: None,
            review_id: Some(review_id),
            created_at: now,
        }
    }

    #[must_use]
    pub fn redeemed(user_id: UserId, booking_id: BookingId, points: u64, now: Timestamp) -> Self {
        Self {
            user_id,
            points: Self::signed(points, true),
            kind: LoyaltyEntryKind::Redeemed,
            booking_id: Some(booking_id),
            review_id: None,
            created_at: now,
        }
    }

    #[must_use]
    pub fn redemption_reversed(
        user_id: UserId,
        booking_id: BookingId,
        points: u64,
        now: Timestamp,
    ) -> Self {
        Self {
            user_id,
            points: Self::signed(points, false),
            kind: LoyaltyEntryKind::RedemptionReversed,
            booking_id: Some(booking_id),
            review_id: None,
            created_at: now,
        }
    }

    #[must_use]
    pub fn earning_reversed(
        user_id: UserId,
        booking_id: BookingId,
        points: u64,
        now: Timestamp,
    ) -> Self {
        Self {
            user_id,
            points: Self::signed(points, true),
            kind: LoyaltyEntryKind::EarningReversed,
            booking_id: Some(booking_id),
            review_id: None,
            created_at: now,
        }
    }
}

/// A stored ledger line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoyaltyEntry {
    pub id: LoyaltyEntryId,
    pub user_id: UserId,
    pub points: i64,
    pub kind: LoyaltyEntryKind,
    pub booking_id: Option<BookingId>,
    pub review_id: Option<ReviewId>,
    pub created_at: Timestamp,
}

/// The balance of a ledger: the sum of its lines, never reported below zero.
#[must_use]
pub fn balance<'a>(entries: impl IntoIterator<Item = &'a LoyaltyEntry>) -> u64 {
    let sum: i64 = entries.into_iter().map(|e| e.points).sum();
    u64::try_from(sum).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::now;

    fn program() -> LoyaltyProgram {
        LoyaltyProgram {
            points_per_currency_unit: Decimal::new(1, 2),
            review_points: 50,
            point_value: Money::parse("1").unwrap(),
            max_redeem_share: Percent::from_whole(20).unwrap(),
        }
    }

    #[test]
    fn one_point_per_100_paid_rounded_down() {
        assert_eq!(program().points_for(Money::parse("2524.50").unwrap()), 25);
        assert_eq!(program().points_for(Money::parse("99.99").unwrap()), 0);
        assert_eq!(program().points_for(Money::parse("-10").unwrap()), 0);
    }

    #[test]
    fn cannot_redeem_more_than_the_balance() {
        assert_eq!(
            program().redemption(10, 9).unwrap_err().code(),
            "INSUFFICIENT_POINTS"
        );
        assert_eq!(program().redemption(9, 9).unwrap().points, 9);
    }

    #[test]
    fn balance_is_the_sum_of_the_ledger() {
        let user = UserId(uuid::Uuid::nil());
        let lines = [
            NewLoyaltyEntry::earned_for_booking(user, BookingId(1), 30, now()),
            NewLoyaltyEntry::earned_for_review(user, ReviewId(1), 50, now()),
            NewLoyaltyEntry::redeemed(user, BookingId(2), 60, now()),
            NewLoyaltyEntry::redemption_reversed(user, BookingId(2), 60, now()),
            NewLoyaltyEntry::earning_reversed(user, BookingId(1), 30, now()),
        ];
        let stored: Vec<LoyaltyEntry> = lines
            .into_iter()
            .enumerate()
            .map(|(i, n)| LoyaltyEntry {
                id: LoyaltyEntryId(i64::try_from(i).unwrap()),
                user_id: n.user_id,
                points: n.points,
                kind: n.kind,
                booking_id: n.booking_id,
                review_id: n.review_id,
                created_at: n.created_at,
            })
            .collect();
        assert_eq!(balance(&stored), 50);
        assert_eq!(stored[2].points, -60);
    }
}
