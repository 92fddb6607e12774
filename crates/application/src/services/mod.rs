//! Inbound ports: the use cases, as plain structs holding `Arc<dyn Port>`.

pub mod events;
pub mod idempotency;

#[cfg(test)]
pub(crate) mod test_support;

pub use events::{CreateEventCommand, EventService, EventWithOptions};
pub use idempotency::{IdempotencyService, IdempotencyStart, Reservation};
