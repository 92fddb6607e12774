//! Inbound ports: the use cases, as plain structs holding `Arc<dyn Port>`.

pub mod bookings;
pub mod categories;
mod event_completion;
pub mod events;
pub mod idempotency;
pub mod jobs;
pub mod outbox_relay;
pub mod payments;
pub mod refunds;
pub mod reminders;
pub mod retention;

#[cfg(test)]
pub(crate) mod test_support;

pub use bookings::{
    BookingCancellation, BookingDetails, BookingFilter, BookingService, CancelEventCommand,
    CreateBookingCommand, EventCancellation,
};
pub use categories::CategoryService;
pub use events::{
    CreateEventCommand, EventDetails, EventService, EventWithOptions, ListEventsQuery,
    PublishEventCommand, UpdateEventCommand,
};
pub use idempotency::{IdempotencyService, IdempotencyStart, Reservation};
pub use jobs::{
    JobArgs, JobLocking, JobRegistry, JobRunReport, JobSchedule, JobService, ScheduledTask,
};
pub use outbox_relay::{
    BrokerHealth, OutboxHealth, OutboxRelay, RelayMetrics, RelayReport, RelayStatus, RetryPolicy,
};
pub use payments::{InitiatePaymentCommand, PaymentService, PaymentView, RefundCommand};
pub use refunds::{booking_summary, payment_summary};
pub use reminders::ReminderService;
pub use retention::{RetentionReport, RetentionService, RetentionSettings};
