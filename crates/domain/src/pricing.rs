//! The pricing pipeline (PRODUCT.md §7), in its documented order, all in exact decimals and
//! rounded to 2 places half-even at the end of each step:
//!
//! 1. unit price: the price option's price if one is chosen, else the event's price;
//! 2. dynamic pricing: the rule with the highest `min_fill_ratio` not above the fill ratio
//!    before this booking multiplies the unit price;
//! 3. × quantity;
//! 4. group discount: the rule with the highest `min_quantity` not above the quantity;
//! 5. promo code: a percent of, or a fixed amount off, what is left;
//! 6. loyalty points: whole points, each worth `point_value`, at most `max_share` of what is left;
//! 7. floor at 0.
//!
//! Every discount is capped at what is left after the previous steps, so the breakdown always
//! adds up: `total = base + dynamic_adjustment − group_discount − promo_discount − loyalty_discount`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{DomainError, Money, Percent, Quantity};

/// Dynamic pricing: from `min_fill_ratio` (0..=1) of seats taken, multiply the unit price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicPricingRule {
    pub min_fill_ratio: Decimal,
    pub multiplier: Decimal,
}

/// Group discount: from `min_quantity` seats in one booking, `percent` off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDiscountRule {
    pub min_quantity: u32,
    pub percent: Percent,
}

/// The per-event pricing rules, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "RawPricingRules", into = "RawPricingRules")]
pub struct PricingRules {
    dynamic: Vec<DynamicPricingRule>,
    group: Vec<GroupDiscountRule>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RawPricingRules {
    #[serde(default)]
    dynamic: Vec<DynamicPricingRule>,
    #[serde(default)]
    group: Vec<GroupDiscountRule>,
}

impl TryFrom<RawPricingRules> for PricingRules {
    type Error = DomainError;
    fn try_from(raw: RawPricingRules) -> Result<Self, Self::Error> {
        Self::new(raw.dynamic, raw.group)
    }
}

impl From<PricingRules> for RawPricingRules {
    fn from(rules: PricingRules) -> Self {
        Self {
            dynamic: rules.dynamic,
            group: rules.group,
        }
    }
}

impl PricingRules {
    pub const MAX_RULES: usize = 16;
    /// No dynamic rule may more than multiply the price by ten.
    pub const MAX_MULTIPLIER: Decimal = Decimal::TEN;

    pub fn new(
        mut dynamic: Vec<DynamicPricingRule>,
        mut group: Vec<GroupDiscountRule>,
    ) -> Result<Self, DomainError> {
        if dynamic.len() > Self::MAX_RULES || group.len() > Self::MAX_RULES {
            return Err(DomainError::validation(
                "pricing_rules",
                format!("at most {} rules of each kind", Self::MAX_RULES),
            ));
        }
        for rule in &dynamic {
            if rule.min_fill_ratio < Decimal::ZERO || rule.min_fill_ratio > Decimal::ONE {
                return Err(DomainError::validation(
                    "pricing_rules.dynamic",
                    "min_fill_ratio must be in 0..1",
                ));
            }
            if rule.multiplier <= Decimal::ZERO || rule.multiplier > Self::MAX_MULTIPLIER {
                return Err(DomainError::validation(
                    "pricing_rules.dynamic",
                    "multiplier must be in (0, 10]",
                ));
            }
            if rule.multiplier.normalize().scale() > 4
                || rule.min_fill_ratio.normalize().scale() > 4
            {
                return Err(DomainError::validation(
                    "pricing_rules.dynamic",
                    "at most 4 decimal places",
                ));
            }
        }
        if group.iter().any(|g| g.min_quantity < 2) {
            return Err(DomainError::validation(
                "pricing_rules.group",
                "min_quantity must be at least 2",
            ));
        }
        dynamic.sort_by_key(|r| r.min_fill_ratio);
        group.sort_by_key(|g| g.min_quantity);
        if dynamic
            .windows(2)
            .any(|w| w[0].min_fill_ratio == w[1].min_fill_ratio)
            || group
                .windows(2)
                .any(|w| w[0].min_quantity == w[1].min_quantity)
        {
            return Err(DomainError::validation(
                "pricing_rules",
                "rule thresholds must be distinct",
            ));
        }
        Ok(Self { dynamic, group })
    }

    #[must_use]
    pub fn dynamic(&self) -> &[DynamicPricingRule] {
        &self.dynamic
    }

    #[must_use]
    pub fn group(&self) -> &[GroupDiscountRule] {
        &self.group
    }

    /// The multiplier for a fill ratio: the highest matching threshold wins; none → 1.
    #[must_use]
    pub fn multiplier_for(&self, fill_ratio: Decimal) -> Decimal {
        self.dynamic
            .iter()
            .rev()
            .find(|r| r.min_fill_ratio <= fill_ratio)
            .map_or(Decimal::ONE, |r| r.multiplier)
    }

    /// The group discount for a quantity: the highest matching threshold wins; none → 0%.
    #[must_use]
    pub fn group_discount_for(&self, quantity: u32) -> Percent {
        self.group
            .iter()
            .rev()
            .find(|g| g.min_quantity <= quantity)
            .map_or(Percent::ZERO, |g| g.percent)
    }
}

/// What a promo code takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PromoDiscount {
    Percent(Percent),
    FixedAmount(Money),
}

impl PromoDiscount {
    /// The discount on `amount`, never more than `amount`.
    #[must_use]
    pub fn discount_on(self, amount: Money) -> Money {
        let amount = amount.floor_at_zero();
        let raw = match self {
            Self::Percent(p) => amount.percent(p),
            Self::FixedAmount(m) => m.floor_at_zero(),
        };
        raw.min(amount)
    }
}

/// Loyalty points the customer wants to spend, and the programme's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoyaltyRedemption {
    /// Points the customer offers to spend (at most their balance).
    pub points: u64,
    /// What one point is worth.
    pub point_value: Money,
    /// At most this share of the price after promo may be paid with points.
    pub max_share: Percent,
}

/// Everything the pipeline needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceRequest<'a> {
    pub unit_price: Money,
    pub quantity: Quantity,
    /// Seats taken before this booking, and the capacity: the fill ratio of step 2.
    pub seats_taken: u32,
    pub capacity: u32,
    pub rules: &'a PricingRules,
    pub promo: Option<PromoDiscount>,
    pub loyalty: Option<LoyaltyRedemption>,
}

/// The price of a booking, step by step. Returned to the customer with the booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBreakdown {
    /// Unit price before dynamic pricing.
    pub unit_price: Money,
    pub quantity: u32,
    /// `unit_price × quantity`.
    pub base: Money,
    /// What dynamic pricing added (or, with a multiplier below 1, took off).
    pub dynamic_adjustment: Money,
    pub group_discount: Money,
    pub promo_discount: Money,
    pub loyalty_discount: Money,
    pub loyalty_points_used: u64,
    pub total: Money,
}

impl PriceBreakdown {
    /// `base + dynamic_adjustment − discounts`, the identity every breakdown satisfies.
    #[must_use]
    pub fn sum_of_parts(&self) -> Money {
        self.base + self.dynamic_adjustment
            - self.group_discount
            - self.promo_discount
            - self.loyalty_discount
    }
}

/// Runs the pipeline.
#[must_use]
pub fn price(req: &PriceRequest<'_>) -> PriceBreakdown {
    let quantity = req.quantity.get();
    // 1. unit price (a negative price never enters the domain; guard anyway)
    let unit = req.unit_price.floor_at_zero();
    // 2. dynamic pricing on the fill ratio before this booking
    let fill = Decimal::from(req.seats_taken) / Decimal::from(req.capacity.max(1));
    let adjusted_unit = unit.scaled(req.rules.multiplier_for(fill.min(Decimal::ONE)));
    // 3. × quantity
    let base = unit.times(quantity);
    let subtotal = adjusted_unit.times(quantity);
    let dynamic_adjustment = subtotal - base;
    // 4. group discount
    let group_discount = subtotal
        .percent(req.rules.group_discount_for(quantity))
        .min(subtotal);
    let after_group = subtotal - group_discount;
    // 5. promo code
    let promo_discount = req
        .promo
        .map_or(Money::ZERO, |p| p.discount_on(after_group));
    let after_promo = after_group - promo_discount;
    // 6. loyalty points: whole points only, capped by the share and by the offer
    let (loyalty_points_used, loyalty_discount) = req
        .loyalty
        .filter(|l| l.point_value.is_positive())
        .map_or((0, Money::ZERO), |l| {
            let cap = after_promo.percent(l.max_share);
            let affordable = (cap.amount() / l.point_value.amount()).floor();
            let points = u64::try_from(affordable.mantissa())
                .unwrap_or(0)
                .min(l.points);
            (points, l.point_value.scaled(Decimal::from(points)))
        });
    // 7. floor at zero
    let total = (after_promo - loyalty_discount).floor_at_zero();
    PriceBreakdown {
        unit_price: unit,
        quantity,
        base,
        dynamic_adjustment,
        group_discount,
        promo_discount,
        loyalty_discount,
        loyalty_points_used,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }
    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }
    fn pc(n: u32) -> Percent {
        Percent::from_whole(n).unwrap()
    }
    fn q(n: i64) -> Quantity {
        Quantity::new(n, 100).unwrap()
    }

    /// The example rules of PRODUCT.md §7: ≥ 0.5 full → ×1.10, ≥ 0.8 → ×1.25; groups of 3+ get
    /// 10% off, 5+ get 15%.
    fn spec_rules() -> PricingRules {
        PricingRules::new(
            vec![
                DynamicPricingRule {
                    min_fill_ratio: d("0.8"),
                    multiplier: d("1.25"),
                },
                DynamicPricingRule {
                    min_fill_ratio: d("0.5"),
                    multiplier: d("1.10"),
                },
            ],
            vec![
                GroupDiscountRule {
                    min_quantity: 5,
                    percent: pc(15),
                },
                GroupDiscountRule {
                    min_quantity: 3,
                    percent: pc(10),
                },
            ],
        )
        .unwrap()
    }

    fn req<'a>(
        rules: &'a PricingRules,
        unit: &str,
        qty: i64,
        taken: u32,
        cap: u32,
    ) -> PriceRequest<'a> {
        PriceRequest {
            unit_price: m(unit),
            quantity: q(qty),
            seats_taken: taken,
            capacity: cap,
            rules,
            promo: None,
            loyalty: None,
        }
    }

    #[test]
    fn no_rules_1500_x_2_is_3000() {
        let rules = PricingRules::default();
        let b = price(&req(&rules, "1500", 2, 0, 10));
        assert_eq!((b.base, b.total), (m("3000"), m("3000")));
        assert_eq!(b.dynamic_adjustment, Money::ZERO);
    }

    #[test]
    fn fill_49_percent_no_surge_1000_x_1_is_1000() {
        let rules = spec_rules();
        assert_eq!(price(&req(&rules, "1000", 1, 49, 100)).total, m("1000"));
    }

    #[test]
    fn fill_50_percent_surge_1000_x_1_10_is_1100() {
        let rules = spec_rules();
        let b = price(&req(&rules, "1000", 1, 50, 100));
        assert_eq!((b.dynamic_adjustment, b.total), (m("100"), m("1100")));
    }

    #[test]
    fn fill_80_percent_highest_rule_wins_1000_x_1_25_is_1250() {
        let rules = spec_rules();
        assert_eq!(price(&req(&rules, "1000", 1, 80, 100)).total, m("1250"));
    }

    #[test]
    fn qty_3_group_10_percent_1000_x_3_is_2700() {
        let rules = spec_rules();
        let b = price(&req(&rules, "1000", 3, 0, 100));
        assert_eq!((b.group_discount, b.total), (m("300"), m("2700")));
    }

    #[test]
    fn qty_5_highest_group_wins_1000_x_5_less_15_percent_is_4250() {
        let rules = spec_rules();
        assert_eq!(price(&req(&rules, "1000", 5, 0, 100)).total, m("4250"));
    }

    #[test]
    fn surge_1_10_then_qty_3_group_10_then_promo_15_percent_1000_gives_2524_50() {
        // 1000 × 1.10 = 1100; × 3 = 3300; − 10% = 2970; − 15% (445.50) = 2524.50
        let rules = spec_rules();
        let mut r = req(&rules, "1000", 3, 60, 100);
        r.promo = Some(PromoDiscount::Percent(pc(15)));
        let b = price(&r);
        assert_eq!(b.base, m("3000"));
        assert_eq!(b.dynamic_adjustment, m("300"));
        assert_eq!(b.group_discount, m("330"));
        assert_eq!(b.promo_discount, m("445.50"));
        assert_eq!(b.total, m("2524.50"));
    }

    #[test]
    fn unit_rounding_after_surge_33_33_x_1_10_is_36_66_half_even() {
        // 33.33 × 1.10 = 36.663 → 36.66 per seat, × 3 = 109.98
        let rules = PricingRules::new(
            vec![DynamicPricingRule {
                min_fill_ratio: d("0"),
                multiplier: d("1.10"),
            }],
            vec![],
        )
        .unwrap();
        assert_eq!(price(&req(&rules, "33.33", 3, 0, 10)).total, m("109.98"));
    }

    #[test]
    fn fixed_promo_500_off_1200_is_700_and_never_below_zero() {
        let rules = PricingRules::default();
        let mut r = req(&rules, "1200", 1, 0, 10);
        r.promo = Some(PromoDiscount::FixedAmount(m("500")));
        assert_eq!(price(&r).total, m("700"));
        r.promo = Some(PromoDiscount::FixedAmount(m("5000")));
        let b = price(&r);
        assert_eq!((b.promo_discount, b.total), (m("1200"), Money::ZERO));
    }

    #[test]
    fn loyalty_1000_points_at_0_50_capped_at_20_percent_of_1000_uses_400_points_for_200() {
        let rules = PricingRules::default();
        let mut r = req(&rules, "1000", 1, 0, 10);
        r.loyalty = Some(LoyaltyRedemption {
            points: 1000,
            point_value: m("0.50"),
            max_share: pc(20),
        });
        let b = price(&r);
        assert_eq!(
            (b.loyalty_points_used, b.loyalty_discount, b.total),
            (400, m("200"), m("800"))
        );
    }

    #[test]
    fn loyalty_uses_only_the_points_offered_150_points_at_1_is_150() {
        let rules = PricingRules::default();
        let mut r = req(&rules, "1000", 1, 0, 10);
        r.loyalty = Some(LoyaltyRedemption {
            points: 150,
            point_value: m("1"),
            max_share: pc(50),
        });
        let b = price(&r);
        assert_eq!((b.loyalty_points_used, b.total), (150, m("850")));
    }

    #[test]
    fn loyalty_only_whole_points_cap_99_99_at_point_value_10_uses_9_points() {
        let rules = PricingRules::default();
        let mut r = req(&rules, "99.99", 1, 0, 10);
        r.loyalty = Some(LoyaltyRedemption {
            points: 100,
            point_value: m("10"),
            max_share: pc(100),
        });
        let b = price(&r);
        assert_eq!(
            (b.loyalty_points_used, b.loyalty_discount, b.total),
            (9, m("90"), m("9.99"))
        );
    }

    #[test]
    fn free_event_costs_zero() {
        let rules = spec_rules();
        assert_eq!(price(&req(&rules, "0", 4, 90, 100)).total, Money::ZERO);
    }

    #[test]
    fn rules_validation() {
        let dyn_rule = |f: &str, x: &str| DynamicPricingRule {
            min_fill_ratio: d(f),
            multiplier: d(x),
        };
        assert!(PricingRules::new(vec![dyn_rule("1.1", "1.2")], vec![]).is_err());
        assert!(PricingRules::new(vec![dyn_rule("0.5", "0")], vec![]).is_err());
        assert!(PricingRules::new(vec![dyn_rule("0.5", "11")], vec![]).is_err());
        assert!(
            PricingRules::new(vec![dyn_rule("0.5", "1.1"), dyn_rule("0.5", "1.2")], vec![])
                .is_err()
        );
        assert!(
            PricingRules::new(
                vec![],
                vec![GroupDiscountRule {
                    min_quantity: 1,
                    percent: pc(5)
                }]
            )
            .is_err()
        );
        assert!(
            PricingRules::new(vec![dyn_rule("0.5", "0.9")], vec![]).is_ok(),
            "a discount multiplier is allowed"
        );
    }

    #[test]
    fn rules_round_trip_through_json() {
        let rules = spec_rules();
        let json = serde_json::to_string(&rules).unwrap();
        assert_eq!(serde_json::from_str::<PricingRules>(&json).unwrap(), rules);
        assert_eq!(
            serde_json::from_str::<PricingRules>("{}").unwrap(),
            PricingRules::default()
        );
        assert!(
            serde_json::from_str::<PricingRules>(r#"{"group":[{"min_quantity":0,"percent":"5"}]}"#)
                .is_err()
        );
    }

    fn arb_rules() -> impl Strategy<Value = PricingRules> {
        let dynamic = prop::collection::btree_map(0u32..=100, 1u32..=1000, 0..4).prop_map(|m| {
            m.into_iter()
                .map(|(f, x)| DynamicPricingRule {
                    min_fill_ratio: Decimal::new(i64::from(f), 2),
                    multiplier: Decimal::new(i64::from(x), 2),
                })
                .collect::<Vec<_>>()
        });
        let group = prop::collection::btree_map(2u32..=20, 0u32..=100, 0..4).prop_map(|m| {
            m.into_iter()
                .map(|(n, p)| GroupDiscountRule {
                    min_quantity: n,
                    percent: pc(p),
                })
                .collect::<Vec<_>>()
        });
        (dynamic, group).prop_map(|(d, g)| PricingRules::new(d, g).unwrap())
    }

    fn arb_promo() -> impl Strategy<Value = Option<PromoDiscount>> {
        prop_oneof![
            Just(None),
            (0u32..=100).prop_map(|p| Some(PromoDiscount::Percent(pc(p)))),
            (0i64..10_000_000)
                .prop_map(|c| Some(PromoDiscount::FixedAmount(Money::from_minor_units(c)))),
        ]
    }

    proptest! {
        #[test]
        fn price_is_never_negative_and_total_is_the_sum_of_the_breakdown(
            rules in arb_rules(),
            unit_cents in 0i64..100_000_000,
            qty in 1i64..=20,
            cap in 1u32..=500,
            taken_share in 0u32..=100,
            promo in arb_promo(),
            points in 0u64..1_000_000,
            point_value_cents in 0i64..10_000,
            share in 0u32..=100,
        ) {
            let taken = cap * taken_share / 100;
            let r = PriceRequest {
                unit_price: Money::from_minor_units(unit_cents),
                quantity: q(qty),
                seats_taken: taken,
                capacity: cap,
                rules: &rules,
                promo,
                loyalty: Some(LoyaltyRedemption {
                    points,
                    point_value: Money::from_minor_units(point_value_cents),
                    max_share: pc(share),
                }),
            };
            let b = price(&r);
            prop_assert!(!b.total.is_negative());
            prop_assert_eq!(b.total, b.sum_of_parts());
            prop_assert!(b.loyalty_points_used <= points);
            for part in [b.group_discount, b.promo_discount, b.loyalty_discount] {
                prop_assert!(!part.is_negative());
            }
        }
    }
}
