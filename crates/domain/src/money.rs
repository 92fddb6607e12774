//! Exact money: a decimal with two places, rounded half-even at defined steps.

use std::fmt;
use std::ops::{Add, Neg, Sub};
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{DomainError, Percent};

/// An amount of money in the platform currency, always at scale 2.
///
/// Amounts may be negative only as intermediate adjustments (a dynamic-pricing multiplier
/// below 1 gives a negative adjustment); prices, payments and refunds are validated
/// non-negative where they enter the domain. Stored as integer minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Self = Self(Decimal::from_parts(0, 0, 0, false, 2));
    /// The largest amount accepted from outside (just under one trillion).
    pub const MAX_INPUT: Self = Self(Decimal::from_parts(276_447_231, 23_283, 0, false, 2));
    const SCALE: u32 = 2;

    /// An exact amount: rejects more than two decimal places and amounts beyond `MAX_INPUT`.
    pub fn from_decimal(value: Decimal) -> Result<Self, DomainError> {
        if value.normalize().scale() > Self::SCALE {
            return Err(DomainError::validation(
                "amount",
                "must have at most 2 decimal places",
            ));
        }
        if value.abs() > Self::MAX_INPUT.0 {
            return Err(DomainError::validation("amount", "is too large"));
        }
        Ok(Self::rounded(value))
    }

    /// Rounds any decimal to 2 places, half to even (the one rounding rule of the domain).
    #[must_use]
    pub fn rounded(value: Decimal) -> Self {
        let mut d =
            value.round_dp_with_strategy(Self::SCALE, RoundingStrategy::MidpointNearestEven);
        d.rescale(Self::SCALE);
        Self(d)
    }

    /// From integer minor units (cents), as stored in the database.
    #[must_use]
    pub fn from_minor_units(minor: i64) -> Self {
        Self(Decimal::new(minor, Self::SCALE))
    }

    /// To integer minor units (cents). Amounts in the domain are bounded by validated inputs
    /// (prices ≤ `MAX_INPUT`, quantities and multipliers bounded), far inside `i64`; the
    /// conversion saturates rather than wraps if that bound were ever broken.
    #[must_use]
    pub fn to_minor_units(self) -> i64 {
        let mantissa = self.0.mantissa();
        i64::try_from(mantissa).unwrap_or(if mantissa < 0 { i64::MIN } else { i64::MAX })
    }

    /// Parses `"1500"`, `"1500.5"` or `"1500.50"`; rejects exponents, more than two places,
    /// blanks and non-numbers.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let text = text.trim();
        if text.is_empty() || text.contains(['e', 'E']) {
            return Err(DomainError::validation(
                "amount",
                "must be a decimal number",
            ));
        }
        let value = Decimal::from_str(text)
            .map_err(|_| DomainError::validation("amount", "must be a decimal number"))?;
        Self::from_decimal(value)
    }

    #[must_use]
    pub const fn amount(self) -> Decimal {
        self.0
    }

    #[must_use]
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    #[must_use]
    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    #[must_use]
    pub fn is_positive(self) -> bool {
        !self.is_negative() && !self.is_zero()
    }

    /// `self × quantity`, exact.
    #[must_use]
    pub fn times(self, quantity: u32) -> Self {
        Self::rounded(self.0 * Decimal::from(quantity))
    }

    /// `self × factor`, rounded half-even.
    #[must_use]
    pub fn scaled(self, factor: Decimal) -> Self {
        Self::rounded(self.0 * factor)
    }

    /// The given share of this amount, rounded half-even.
    #[must_use]
    pub fn percent(self, percent: Percent) -> Self {
        self.scaled(percent.as_fraction())
    }

    /// Never below zero.
    #[must_use]
    pub fn floor_at_zero(self) -> Self {
        if self.is_negative() { Self::ZERO } else { self }
    }

    /// Validates a non-negative amount (prices, payments).
    pub fn non_negative(self, field: &'static str) -> Result<Self, DomainError> {
        if self.is_negative() {
            return Err(DomainError::validation(field, "must not be negative"));
        }
        Ok(self)
    }
}

impl Add for Money {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(self.0 + rhs.0)
    }
}

impl Sub for Money {
    type Output = Self;
    fn sub(self, rhs: Self) -> Self {
        Self(self.0 - rhs.0)
    }
}

impl Neg for Money {
    type Output = Self;
    fn neg(self) -> Self {
        Self(-self.0)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, Add::add)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl FromStr for Money {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn parses_and_prints_with_two_places() {
        assert_eq!(m("1500").to_string(), "1500.00");
        assert_eq!(m("1500.5").to_string(), "1500.50");
        assert_eq!(m(" 0.01 ").to_string(), "0.01");
        assert_eq!(m("-3.10").to_string(), "-3.10");
    }

    #[test]
    fn rejects_more_than_two_places_exponents_and_garbage() {
        for bad in ["1.005", "1e3", "", "abc", "1,5", "NaN", "1000000000000.00"] {
            let err = Money::parse(bad).unwrap_err();
            assert_eq!(err.code(), "VALIDATION_FAILED", "{bad}");
        }
        // trailing zeros beyond two places are still exact
        assert_eq!(m("2.500").to_string(), "2.50");
    }

    #[test]
    fn rounds_half_to_even() {
        assert_eq!(
            Money::rounded(Decimal::from_str("2.345").unwrap()).to_string(),
            "2.34"
        );
        assert_eq!(
            Money::rounded(Decimal::from_str("2.355").unwrap()).to_string(),
            "2.36"
        );
        assert_eq!(
            Money::rounded(Decimal::from_str("-2.345").unwrap()).to_string(),
            "-2.34"
        );
    }

    #[test]
    fn minor_units_round_trip() {
        assert_eq!(m("1500.25").to_minor_units(), 150_025);
        assert_eq!(Money::from_minor_units(150_025), m("1500.25"));
        assert_eq!(Money::from_minor_units(-5).to_string(), "-0.05");
        assert_eq!(Money::MAX_INPUT.to_string(), "999999999999.99");
    }

    #[test]
    fn arithmetic_is_exact() {
        // 0.1 + 0.2 is exactly 0.3 here, unlike in floating point
        assert_eq!(m("0.10") + m("0.20"), m("0.30"));
        assert_eq!(m("10.00") - m("10.01"), m("-0.01"));
        assert_eq!(m("33.33").times(3), m("99.99"));
        assert_eq!(m("100").percent(Percent::from_whole(15).unwrap()), m("15"));
        assert_eq!(m("0.05").scaled(Decimal::new(5, 1)), m("0.02"));
        assert_eq!([m("1"), m("2.5")].into_iter().sum::<Money>(), m("3.50"));
        assert_eq!(m("-1").floor_at_zero(), Money::ZERO);
    }

    #[test]
    fn serializes_as_a_string_and_validates_on_the_way_in() {
        assert_eq!(serde_json::to_string(&m("12.3")).unwrap(), "\"12.30\"");
        assert_eq!(serde_json::from_str::<Money>("\"7.5\"").unwrap(), m("7.50"));
        assert!(serde_json::from_str::<Money>("\"7.555\"").is_err());
    }
}
