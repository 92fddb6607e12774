//! Inbound ports: the use cases, as plain structs holding `Arc<dyn Port>`.

pub mod bookings;
pub mod categories;
pub mod crew;
pub mod events;
pub mod idempotency;
pub mod payments;
pub mod refunds;

#[cfg(test)]
pub(crate) mod test_support;

pub use bookings::{
    BookingCancellation, BookingDetails, BookingFilter, BookingService, CancelEventCommand,
    CreateBookingCommand, EventCancellation,
};
pub use categories::CategoryService;
pub use crew::{AssignCrewCommand, CrewOutcome, CrewService};
pub use events::{
    CreateEventCommand, EventDetails, EventService, EventWithOptions, ListEventsQuery,
    PublishEventCommand, UpdateEventCommand,
};
pub use idempotency::{IdempotencyService, IdempotencyStart, Reservation};
pub use payments::{InitiatePaymentCommand, PaymentService, PaymentView, RefundCommand};
pub use refunds::{booking_summary, payment_summary};
