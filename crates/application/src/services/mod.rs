//! Inbound ports: the use cases, as plain structs holding `Arc<dyn Port>`.

pub mod categories;
pub mod events;
pub mod idempotency;

#[cfg(test)]
pub(crate) mod test_support;

pub use categories::CategoryService;
pub use events::{
    CreateEventCommand, EventDetails, EventService, EventWithOptions, ListEventsQuery,
    PublishEventCommand, UpdateEventCommand,
};
pub use idempotency::{IdempotencyService, IdempotencyStart, Reservation};
