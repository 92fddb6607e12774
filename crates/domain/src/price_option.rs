//! Price options: ticket tiers of an event, optionally with their own stock.

use crate::{DomainError, EventId, Money, PriceOptionId, text};

/// Unvalidated input of a price option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceOptionInput {
    pub name: String,
    pub price: Money,
    pub description: Option<String>,
    pub quantity_available: Option<i64>,
    pub is_active: bool,
}

/// A validated price option, not stored yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPriceOption {
    pub name: String,
    pub price: Money,
    pub description: Option<String>,
    pub quantity_available: Option<u32>,
    pub is_active: bool,
}

impl NewPriceOption {
    pub fn new(input: PriceOptionInput) -> Result<Self, DomainError> {
        let quantity_available = input
            .quantity_available
            .map(|q| {
                u32::try_from(q).map_err(|_| {
                    DomainError::validation(
                        "price_options.quantity_available",
                        "must not be negative",
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            name: text::required("price_options.name", &input.name, 100)?,
            price: input.price.non_negative("price_options.price")?,
            description: text::optional(
                "price_options.description",
                input.description.as_deref(),
                255,
            )?,
            quantity_available,
            is_active: input.is_active,
        })
    }
}

/// A stored price option. `quantity_available = None` means "limited by the event only".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceOption {
    pub id: PriceOptionId,
    pub event_id: EventId,
    pub name: String,
    pub price: Money,
    pub description: Option<String>,
    pub quantity_available: Option<u32>,
    pub is_active: bool,
}

impl PriceOption {
    /// Usable for `quantity` seats of `event_id`.
    pub fn check_available_for(&self, event_id: EventId, quantity: u32) -> Result<(), DomainError> {
        if self.event_id != event_id || !self.is_active {
            return Err(DomainError::PriceOptionUnavailable);
        }
        match self.quantity_available {
            Some(left) if left < quantity => Err(DomainError::PriceOptionSoldOut {
                requested: quantity,
                available: left,
            }),
            _ => Ok(()),
        }
    }

    /// Takes stock for a booking (no-op for unlimited options).
    pub fn take(&mut self, quantity: u32) -> Result<(), DomainError> {
        self.check_available_for(self.event_id, quantity)?;
        if let Some(left) = self.quantity_available.as_mut() {
            *left -= quantity;
        }
        Ok(())
    }

    /// Gives stock back when a booking that used this option is canceled or expires.
    pub fn release(&mut self, quantity: u32) {
        if let Some(left) = self.quantity_available.as_mut() {
            *left = left.saturating_add(quantity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(stock: Option<u32>) -> PriceOption {
        PriceOption {
            id: PriceOptionId(1),
            event_id: EventId(1),
            name: "Early bird".into(),
            price: Money::parse("900").unwrap(),
            description: None,
            quantity_available: stock,
            is_active: true,
        }
    }

    #[test]
    fn limited_stock_is_taken_and_released() {
        let mut o = option(Some(3));
        o.take(2).unwrap();
        assert_eq!(o.quantity_available, Some(1));
        assert_eq!(
            o.take(2).unwrap_err(),
            DomainError::PriceOptionSoldOut {
                requested: 2,
                available: 1
            }
        );
        o.release(2);
        assert_eq!(o.quantity_available, Some(3));
    }

    #[test]
    fn unlimited_and_inactive_options() {
        let mut o = option(None);
        o.take(1000).unwrap();
        assert_eq!(o.quantity_available, None);
        o.is_active = false;
        assert_eq!(o.take(1).unwrap_err(), DomainError::PriceOptionUnavailable);
    }

    #[test]
    fn input_validation() {
        let input = |name: &str, price: &str, qty| PriceOptionInput {
            name: name.into(),
            price: Money::parse(price).unwrap(),
            description: None,
            quantity_available: qty,
            is_active: true,
        };
        assert!(NewPriceOption::new(input("VIP", "10", Some(5))).is_ok());
        assert!(NewPriceOption::new(input("", "10", None)).is_err());
        assert!(NewPriceOption::new(input("VIP", "-1", None)).is_err());
        assert!(NewPriceOption::new(input("VIP", "10", Some(-1))).is_err());
    }
}
