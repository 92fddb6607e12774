//! Inbound ports: the use cases, as plain structs holding `Arc<dyn Port>`.

pub mod events;

#[cfg(test)]
pub(crate) mod test_support;

pub use events::{CreateEventCommand, EventService, EventWithOptions};
