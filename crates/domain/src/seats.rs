//! Seat accounting of an event.
//!
//! The invariant of the product spec: for every event,
//! `available + Σ quantity(bookings holding seats) + Σ seats held for waitlist offers = capacity`,
//! where pending, confirmed and completed bookings hold seats (see `BookingStatus::holds_seats`).
//! `Seats` keeps `available ≤ capacity` by construction; the three-way invariant is checked by
//! [`SeatLedger`] in tests and in consistency checks.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Capacity (`max_participants`) and the seats still free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seats {
    capacity: u32,
    available: u32,
}

impl Seats {
    /// The largest capacity an event may have.
    pub const MAX_CAPACITY: u32 = 100_000;

    /// A new event: everything free.
    pub fn new(capacity: u32) -> Result<Self, DomainError> {
        Self::check_capacity(capacity)?;
        Ok(Self {
            capacity,
            available: capacity,
        })
    }

    /// Rebuilds stored counters, refusing impossible ones.
    pub fn from_parts(capacity: u32, available: u32) -> Result<Self, DomainError> {
        if available > capacity {
            return Err(DomainError::SeatAccounting {
                released: available - capacity,
                capacity,
            });
        }
        Ok(Self {
            capacity,
            available,
        })
    }

    fn check_capacity(capacity: u32) -> Result<(), DomainError> {
        if !(1..=Self::MAX_CAPACITY).contains(&capacity) {
            return Err(DomainError::validation(
                "max_participants",
                format!("must be between 1 and {}", Self::MAX_CAPACITY),
            ));
        }
        Ok(())
    }

    #[must_use]
    pub const fn capacity(self) -> u32 {
        self.capacity
    }

    #[must_use]
    pub const fn available(self) -> u32 {
        self.available
    }

    /// Seats taken by active bookings or held for waitlist offers.
    #[must_use]
    pub const fn taken(self) -> u32 {
        self.capacity - self.available
    }

    #[must_use]
    pub const fn is_sold_out(self) -> bool {
        self.available == 0
    }

    /// Share of capacity taken, in `0..=1` (the input of dynamic pricing).
    #[must_use]
    pub fn fill_ratio(self) -> Decimal {
        Decimal::from(self.taken()) / Decimal::from(self.capacity.max(1))
    }

    /// Takes `quantity` seats, or fails with `SOLD_OUT` leaving the counters untouched.
    pub fn take(&mut self, quantity: u32) -> Result<(), DomainError> {
        if quantity == 0 || quantity > self.available {
            return Err(DomainError::SoldOut {
                requested: quantity,
                available: self.available,
            });
        }
        self.available -= quantity;
        Ok(())
    }

    /// Gives `quantity` seats back. Releasing seats that were never taken is a bug in the
    /// caller and is refused.
    pub fn release(&mut self, quantity: u32) -> Result<(), DomainError> {
        if quantity > self.taken() {
            return Err(DomainError::SeatAccounting {
                released: quantity,
                capacity: self.capacity,
            });
        }
        self.available += quantity;
        Ok(())
    }

    /// Changes the capacity. Lowering it below the seats taken is refused (409); the answer is
    /// the number of seats that became free (negative when capacity shrank).
    pub fn resize(&mut self, capacity: u32) -> Result<i64, DomainError> {
        Self::check_capacity(capacity)?;
        let taken = self.taken();
        if capacity < taken {
            return Err(DomainError::CapacityBelowTaken {
                requested: capacity,
                taken,
            });
        }
        let delta = i64::from(capacity) - i64::from(self.capacity);
        self.capacity = capacity;
        self.available = capacity - taken;
        Ok(delta)
    }
}

/// The three-way seat invariant of an event, for checks and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatLedger {
    pub capacity: u32,
    pub available: u32,
    pub booked: u64,
    pub held: u64,
}

impl SeatLedger {
    /// `available + booked + held == capacity`.
    #[must_use]
    pub fn balances(&self) -> bool {
        u64::from(self.available) + self.booked + self.held == u64::from(self.capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_and_release_move_the_counter() {
        let mut s = Seats::new(5).unwrap();
        s.take(3).unwrap();
        assert_eq!((s.available(), s.taken()), (2, 3));
        s.release(1).unwrap();
        assert_eq!(s.available(), 3);
    }

    #[test]
    fn taking_more_than_available_is_sold_out_and_changes_nothing() {
        let mut s = Seats::new(2).unwrap();
        let err = s.take(3).unwrap_err();
        assert_eq!(
            err,
            DomainError::SoldOut {
                requested: 3,
                available: 2
            }
        );
        assert_eq!(s.available(), 2);
        assert!(s.take(0).is_err(), "taking zero seats is not a booking");
    }

    #[test]
    fn releasing_untaken_seats_is_refused() {
        let mut s = Seats::new(2).unwrap();
        s.take(1).unwrap();
        assert_eq!(s.release(2).unwrap_err().code(), "SEAT_ACCOUNTING");
        assert_eq!(s.available(), 1);
    }

    #[test]
    fn capacity_cannot_drop_below_taken_seats() {
        let mut s = Seats::new(10).unwrap();
        s.take(6).unwrap();
        assert_eq!(
            s.resize(5).unwrap_err(),
            DomainError::CapacityBelowTaken {
                requested: 5,
                taken: 6
            }
        );
        assert_eq!(s.resize(6).unwrap(), -4);
        assert_eq!(s.available(), 0);
        assert_eq!(s.resize(8).unwrap(), 2);
        assert_eq!(s.available(), 2);
    }

    #[test]
    fn capacity_bounds() {
        assert!(Seats::new(0).is_err());
        assert!(Seats::new(Seats::MAX_CAPACITY + 1).is_err());
        assert!(Seats::from_parts(3, 4).is_err());
    }

    #[test]
    fn fill_ratio_is_taken_over_capacity() {
        let mut s = Seats::new(8).unwrap();
        s.take(2).unwrap();
        assert_eq!(s.fill_ratio(), Decimal::new(25, 2));
    }
}
