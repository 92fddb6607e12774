//! The time-based refund policy (PRODUCT.md §6).
//!
//! Default tiers by the time left before `start_date` at the moment of cancellation:
//! `≥ 7 days → 100%`, `≥ 48 h → 80%`, `≥ 24 h → 50%`, otherwise 0%. A tier's lower bound is
//! inclusive, so exactly 48 h before the start is 80%. When the event itself is canceled, or an
//! admin flags force majeure, the refund is 100% whatever the time.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::{DomainError, Money, Percent, Timestamp};

/// One tier: from `min_hours_before` hours before the start (inclusive), refund `percent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundTier {
    pub min_hours_before: u32,
    pub percent: Percent,
}

/// Why a booking is being refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancellationReason {
    /// The customer cancels: the time tiers apply.
    ByCustomer,
    /// The organizer or an admin canceled the event: always 100%.
    EventCanceled,
    /// An admin cancels with the force-majeure flag: always 100%.
    ForceMajeure,
}

/// An ordered list of tiers, highest threshold first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<RefundTier>", into = "Vec<RefundTier>")]
pub struct RefundPolicy {
    tiers: Vec<RefundTier>,
}

/// The refund a cancellation gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundDecision {
    pub percent: Percent,
    pub amount: Money,
}

impl RefundPolicy {
    /// At most this many tiers in an override.
    pub const MAX_TIERS: usize = 16;
    /// Thresholds beyond two years before an event make no sense.
    pub const MAX_HOURS: u32 = 2 * 366 * 24;

    /// The platform default of seed 000.
    #[must_use]
    pub fn standard() -> Self {
        let tier = |min_hours_before, percent| RefundTier {
            min_hours_before,
            percent: Percent::from_whole(percent).unwrap_or(Percent::ZERO),
        };
        Self {
            tiers: vec![tier(7 * 24, 100), tier(48, 80), tier(24, 50), tier(0, 0)],
        }
    }

    /// A per-event override. Tiers may come in any order; they must have distinct thresholds
    /// and the refund must not grow as the event approaches (a later cancellation never gets
    /// more back than an earlier one).
    pub fn new(mut tiers: Vec<RefundTier>) -> Result<Self, DomainError> {
        if tiers.is_empty() || tiers.len() > Self::MAX_TIERS {
            return Err(DomainError::validation(
                "refund_policy",
                format!("must have between 1 and {} tiers", Self::MAX_TIERS),
            ));
        }
        if tiers.iter().any(|t| t.min_hours_before > Self::MAX_HOURS) {
            return Err(DomainError::validation(
                "refund_policy",
                format!("min_hours_before must be at most {}", Self::MAX_HOURS),
            ));
        }
        tiers.sort_by_key(|t| std::cmp::Reverse(t.min_hours_before));
        for pair in tiers.windows(2) {
            if pair[0].min_hours_before == pair[1].min_hours_before {
                return Err(DomainError::validation(
                    "refund_policy",
                    "tier thresholds must be distinct",
                ));
            }
            if pair[1].percent > pair[0].percent {
                return Err(DomainError::validation(
                    "refund_policy",
                    "refund percent must not increase as the event approaches",
                ));
            }
        }
        Ok(Self { tiers })
    }

    #[must_use]
    pub fn tiers(&self) -> &[RefundTier] {
        &self.tiers
    }

    /// The refund percent for a cancellation at `at` of an event starting at `start`.
    #[must_use]
    pub fn percent_for(
        &self,
        start: Timestamp,
        at: Timestamp,
        reason: CancellationReason,
    ) -> Percent {
        match reason {
            CancellationReason::EventCanceled | CancellationReason::ForceMajeure => Percent::FULL,
            CancellationReason::ByCustomer => {
                let before = start - at;
                self.tiers
                    .iter()
                    .find(|t| before >= Duration::hours(i64::from(t.min_hours_before)))
                    .map_or(Percent::ZERO, |t| t.percent)
            }
        }
    }

    /// The refund of `paid` for a cancellation at `at`, rounded half-even.
    #[must_use]
    pub fn refund_for(
        &self,
        paid: Money,
        start: Timestamp,
        at: Timestamp,
        reason: CancellationReason,
    ) -> RefundDecision {
        let percent = self.percent_for(start, at, reason);
        RefundDecision {
            percent,
            amount: paid.floor_at_zero().percent(percent),
        }
    }
}

impl Default for RefundPolicy {
    fn default() -> Self {
        Self::standard()
    }
}

impl TryFrom<Vec<RefundTier>> for RefundPolicy {
    type Error = DomainError;
    fn try_from(value: Vec<RefundTier>) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<RefundPolicy> for Vec<RefundTier> {
    fn from(value: RefundPolicy) -> Self {
        value.tiers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn start() -> Timestamp {
        Utc.with_ymd_and_hms(2027, 6, 1, 10, 0, 0).unwrap()
    }

    fn pct(before: Duration) -> u32 {
        let p = RefundPolicy::standard().percent_for(
            start(),
            start() - before,
            CancellationReason::ByCustomer,
        );
        u32::try_from(p.value().mantissa()).unwrap() / 10u32.pow(p.value().scale())
    }

    fn secs(n: i64) -> Duration {
        Duration::seconds(n)
    }

    #[test]
    fn seven_days_exactly_is_100() {
        assert_eq!(pct(Duration::days(7)), 100);
    }
    #[test]
    fn seven_days_plus_1s_is_100() {
        assert_eq!(pct(Duration::days(7) + secs(1)), 100);
    }
    #[test]
    fn seven_days_minus_1s_is_80() {
        assert_eq!(pct(Duration::days(7) - secs(1)), 80);
    }
    #[test]
    fn forty_eight_hours_exactly_is_80() {
        assert_eq!(pct(Duration::hours(48)), 80);
    }
    #[test]
    fn forty_eight_hours_plus_1s_is_80() {
        assert_eq!(pct(Duration::hours(48) + secs(1)), 80);
    }
    #[test]
    fn forty_eight_hours_minus_1s_is_50() {
        assert_eq!(pct(Duration::hours(48) - secs(1)), 50);
    }
    #[test]
    fn twenty_four_hours_exactly_is_50() {
        assert_eq!(pct(Duration::hours(24)), 50);
    }
    #[test]
    fn twenty_four_hours_plus_1s_is_50() {
        assert_eq!(pct(Duration::hours(24) + secs(1)), 50);
    }
    #[test]
    fn twenty_four_hours_minus_1s_is_0() {
        assert_eq!(pct(Duration::hours(24) - secs(1)), 0);
    }
    #[test]
    fn after_the_start_is_0() {
        assert_eq!(pct(-Duration::hours(1)), 0);
    }

    #[test]
    fn event_canceled_and_force_majeure_are_always_100() {
        let p = RefundPolicy::standard();
        let late = start() - Duration::minutes(5);
        assert_eq!(
            p.percent_for(start(), late, CancellationReason::EventCanceled),
            Percent::FULL
        );
        assert_eq!(
            p.percent_for(start(), late, CancellationReason::ForceMajeure),
            Percent::FULL
        );
        assert_eq!(
            p.percent_for(
                start(),
                start() + Duration::days(1),
                CancellationReason::ForceMajeure
            ),
            Percent::FULL
        );
    }

    #[test]
    fn refund_amount_of_1999_99_at_80_percent_is_1599_99() {
        // 1999.99 × 0.8 = 1599.992 → 1599.99
        let d = RefundPolicy::standard().refund_for(
            Money::parse("1999.99").unwrap(),
            start(),
            start() - Duration::days(3),
            CancellationReason::ByCustomer,
        );
        assert_eq!(d.amount, Money::parse("1599.99").unwrap());
    }

    #[test]
    fn refund_amount_rounds_half_even_0_05_at_50_percent_is_0_02() {
        let d = RefundPolicy::standard().refund_for(
            Money::parse("0.05").unwrap(),
            start(),
            start() - Duration::hours(30),
            CancellationReason::ByCustomer,
        );
        assert_eq!(d.amount, Money::parse("0.02").unwrap());
    }

    fn tier(h: u32, p: u32) -> RefundTier {
        RefundTier {
            min_hours_before: h,
            percent: Percent::from_whole(p).unwrap(),
        }
    }

    #[test]
    fn override_is_sorted_and_applied() {
        let p = RefundPolicy::new(vec![tier(0, 10), tier(72, 90)]).unwrap();
        assert_eq!(p.tiers()[0].min_hours_before, 72);
        let at = |h| start() - Duration::hours(h);
        assert_eq!(
            p.percent_for(start(), at(72), CancellationReason::ByCustomer),
            Percent::from_whole(90).unwrap()
        );
        assert_eq!(
            p.percent_for(start(), at(71), CancellationReason::ByCustomer),
            Percent::from_whole(10).unwrap()
        );
    }

    #[test]
    fn override_validation() {
        assert!(RefundPolicy::new(vec![]).is_err());
        assert!(
            RefundPolicy::new(vec![tier(24, 50), tier(24, 40)]).is_err(),
            "duplicate threshold"
        );
        assert!(
            RefundPolicy::new(vec![tier(24, 100), tier(168, 50)]).is_err(),
            "grows as the event approaches"
        );
        assert!(RefundPolicy::new(vec![tier(RefundPolicy::MAX_HOURS + 1, 50)]).is_err());
        assert!(RefundPolicy::new((0..17).map(|h| tier(h, 0)).collect()).is_err());
    }

    #[test]
    fn override_round_trips_through_json_and_is_validated_on_the_way_in() {
        let p = RefundPolicy::new(vec![tier(48, 100), tier(0, 25)]).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<RefundPolicy>(&json).unwrap(), p);
        let bad = r#"[{"min_hours_before":1,"percent":"10"},{"min_hours_before":1,"percent":"5"}]"#;
        assert!(serde_json::from_str::<RefundPolicy>(bad).is_err());
    }

    fn arb_policy() -> impl Strategy<Value = RefundPolicy> {
        prop::collection::btree_map(0u32..=2000, 0u32..=100, 1..8).prop_map(|m| {
            // Pair descending thresholds with descending percents: a valid, monotone policy.
            let mut percents: Vec<u32> = m.values().copied().collect();
            percents.sort_unstable_by(|a, b| b.cmp(a));
            let tiers = m
                .keys()
                .rev()
                .zip(percents.iter())
                .map(|(&h, &p)| tier(h, p))
                .collect();
            RefundPolicy::new(tiers).unwrap()
        })
    }

    proptest! {
        #[test]
        fn refund_percent_is_monotone_non_increasing_as_the_event_approaches(
            policy in prop_oneof![Just(RefundPolicy::standard()), arb_policy()],
            a in -100_000i64..10_000_000,
            b in -100_000i64..10_000_000,
        ) {
            let (earlier, later) = (a.min(b), a.max(b));
            let at_earlier = start() - Duration::seconds(later);  // more time left
            let at_later = start() - Duration::seconds(earlier);
            let p1 = policy.percent_for(start(), at_earlier, CancellationReason::ByCustomer);
            let p2 = policy.percent_for(start(), at_later, CancellationReason::ByCustomer);
            prop_assert!(p2 <= p1);
        }

        #[test]
        fn refund_amount_is_between_zero_and_paid(
            cents in 0i64..100_000_000,
            before in -100_000i64..10_000_000,
            policy in prop_oneof![Just(RefundPolicy::standard()), arb_policy()],
        ) {
            let paid = Money::from_minor_units(cents);
            let d = policy.refund_for(paid, start(), start() - Duration::seconds(before), CancellationReason::ByCustomer);
            prop_assert!(!d.amount.is_negative());
            prop_assert!(d.amount <= paid);
        }
    }
}
