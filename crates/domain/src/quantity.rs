//! The number of seats in one booking.

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Seats requested in one booking: at least 1, at most the configured maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(u32);

impl Quantity {
    pub const ONE: Self = Self(1);

    /// `value` in `1..=max`. Takes an `i64` so that negative or huge inputs from the edge are
    /// rejected here rather than wrapped by a cast.
    pub fn new(value: i64, max: u32) -> Result<Self, DomainError> {
        match u32::try_from(value) {
            Ok(n) if (1..=max).contains(&n) => Ok(Self(n)),
            _ => Err(DomainError::validation(
                "quantity",
                format!("must be between 1 and {max}"),
            )),
        }
    }

    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive() {
        assert_eq!(Quantity::new(1, 10).unwrap().get(), 1);
        assert_eq!(Quantity::new(10, 10).unwrap().get(), 10);
    }

    #[test]
    fn zero_negative_above_max_and_overflowing_values_are_rejected() {
        for bad in [0, -1, 11, i64::from(u32::MAX) + 1, i64::MIN] {
            assert_eq!(
                Quantity::new(bad, 10).unwrap_err().code(),
                "VALIDATION_FAILED",
                "{bad}"
            );
        }
    }
}
