//! Inbound ports: the use cases, as plain structs holding `Arc<dyn Port>`.

pub mod events;

pub use events::{CreateEventCommand, EventService, EventWithOptions};
