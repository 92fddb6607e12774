//! Inbound ports: the use cases, as plain structs holding `Arc<dyn Port>`.

pub mod admin;
pub mod bookings;
pub mod categories;
pub mod commerce;
pub mod consistency;
pub mod crew;
mod event_completion;
pub mod events;
pub mod favorites;
pub mod idempotency;
pub mod jobs;
pub mod loyalty;
pub mod outbox_relay;
pub mod payments;
pub mod placement;
pub mod promo_codes;
pub mod rate_limits;
pub mod read_cache;
mod recording;
pub mod reminders;
pub mod retention;
pub mod reviews;
pub mod settlement;
pub mod waitlist;

#[cfg(test)]
pub(crate) mod test_support;

pub use admin::{AdminService, BulkCancelCommand, BulkItemResult, PopularityReport};
pub use bookings::{
    BookingCancellation, BookingDetails, BookingFilter, BookingService, CancelEventCommand,
    CreateBookingCommand, EventCancellation,
};
pub use categories::CategoryService;
pub use commerce::{RefundKick, SeatLimits, booking_summary, payment_summary};
pub use consistency::{ConsistencyReport, ConsistencyService, REPAIR_SEATS_ACTION};
pub use crew::{AssignCrewCommand, CrewOutcome, CrewService};
pub use events::{
    CreateEventCommand, EventDetails, EventService, EventWithOptions, ListEventsQuery,
    PublishEventCommand, RescheduleTo, UpdateEventCommand,
};
pub use favorites::{AddedFavorite, FavoriteService, FavoriteView};
pub use idempotency::{IdempotencyService, IdempotencyStart, Reservation};
pub use jobs::{
    JobArgs, JobLocking, JobRegistry, JobRunReport, JobSchedule, JobService, ScheduledTask,
};
pub use loyalty::{LoyaltyAccount, LoyaltyService};
pub use outbox_relay::{
    BrokerHealth, OutboxHealth, OutboxRelay, RelayMetrics, RelayReport, RelayStatus, RetryPolicy,
};
pub use payments::{InitiatePaymentCommand, PaymentService, PaymentView, RefundCommand};
pub use placement::BatchSettings;
pub use promo_codes::{
    CreatePromoCodeCommand, PromoCodeFilter, PromoCodeService, PromoTermsInput, PromoValidation,
    UpdatePromoCodeCommand, ValidatePromoCodeCommand,
};
pub use rate_limits::{LimitKind, RateLimitSettings, RateLimits};
pub use read_cache::{CachedView, Lookup, ReadCache, ReadCacheSettings, View};
pub use reminders::ReminderService;
pub use retention::{RetentionReport, RetentionService, RetentionSettings};
pub use reviews::{
    CreateReviewCommand, HelpfulVote, ListReviewsQuery, ModerateReviewCommand, ModeratedReview,
    ReviewList, ReviewService, ReviewView, UpdateReviewCommand, review_summary,
};
pub use settlement::refund_summary;
pub use waitlist::{WaitlistPosition, WaitlistService, WaitlistSettings, WaitlistView};
