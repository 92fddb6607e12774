//! The pure business core of backend-event.
//!
//! Entities, value objects, state machines, the refund policy and the pricing pipeline of the
//! product spec. Nothing here does I/O, awaits, or knows about a framework: every rule is a
//! function of its inputs (time is passed in as `now`), so it can be tested exhaustively.
#![deny(clippy::float_arithmetic)]

#[macro_use]
mod macros;

pub mod booking;
pub mod booking_rules;
pub mod category;
pub mod crew;
pub mod error;
pub mod event;
pub mod favorite;
pub mod ids;
pub mod loyalty;
pub mod money;
pub mod payment;
pub mod percent;
pub mod price_option;
pub mod pricing;
pub mod promo_code;
pub mod quantity;
pub mod refund_policy;
pub mod review;
pub mod seats;
pub mod text;
pub mod ticket;
pub mod transition;
pub mod waitlist;

pub use error::DomainError;
pub use ids::*;
pub use money::Money;
pub use percent::Percent;
pub use quantity::Quantity;
pub use transition::Transition;

/// The instant type used everywhere in the domain.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
