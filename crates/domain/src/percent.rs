//! A percentage in 0..=100 with at most two decimal places.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Percent(Decimal);

impl Percent {
    pub const ZERO: Self = Self(Decimal::ZERO);
    pub const FULL: Self = Self(Decimal::ONE_HUNDRED);

    pub fn new(value: Decimal) -> Result<Self, DomainError> {
        if value.is_sign_negative() && !value.is_zero() || value > Decimal::ONE_HUNDRED {
            return Err(DomainError::validation(
                "percent",
                "must be between 0 and 100",
            ));
        }
        if value.normalize().scale() > 2 {
            return Err(DomainError::validation(
                "percent",
                "must have at most 2 decimal places",
            ));
        }
        Ok(Self(value.normalize()))
    }

    pub fn from_whole(value: u32) -> Result<Self, DomainError> {
        Self::new(Decimal::from(value))
    }

    #[must_use]
    pub const fn value(self) -> Decimal {
        self.0
    }

    /// `percent / 100`.
    #[must_use]
    pub fn as_fraction(self) -> Decimal {
        self.0 / Decimal::ONE_HUNDRED
    }
}

impl TryFrom<Decimal> for Percent {
    type Error = DomainError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Percent> for Decimal {
    fn from(value: Percent) -> Self {
        value.0
    }
}

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}%", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn accepts_zero_to_one_hundred() {
        assert_eq!(Percent::from_whole(0).unwrap(), Percent::ZERO);
        assert_eq!(Percent::from_whole(100).unwrap(), Percent::FULL);
        assert_eq!(
            Percent::new(Decimal::from_str("12.5").unwrap())
                .unwrap()
                .to_string(),
            "12.5%"
        );
    }

    #[test]
    fn rejects_out_of_range_and_excess_precision() {
        assert!(Percent::from_whole(101).is_err());
        assert!(Percent::new(Decimal::from_str("-0.01").unwrap()).is_err());
        assert!(Percent::new(Decimal::from_str("10.001").unwrap()).is_err());
    }
}
