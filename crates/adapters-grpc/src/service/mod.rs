//! `org.aquastream.event.EventService`: each rpc authenticates the caller from the metadata,
//! converts the request, calls one application use case and converts the answer. The trait
//! impl below only dispatches, one line per rpc, to the module of its resource.

mod bookings;
mod crew;
mod events;
mod favorites;
mod payments;
pub(crate) mod reviews;

pub use crew::{CREW_MESSAGE_METADATA, CREW_STATUS_METADATA};

use std::sync::Arc;

use application::ports::{Authenticate, RequestContext, TrustedProxies};
use application::services::{
    BookingService, CrewService, EventService, FavoriteService, LimitKind, PaymentService,
    RateLimits, ReviewService,
};
use tonic::{Request, Response, Status};

use crate::auth::{Access, Callers, Least};
use crate::pb;
use crate::pb::event_service_server::EventService as EventRpc;
use crate::status::OrStatus;

/// The use cases the rpcs call (the same instances REST uses).
#[derive(Clone)]
pub struct UseCases {
    pub events: EventService,
    pub bookings: BookingService,
    pub payments: PaymentService,
    pub favorites: FavoriteService,
    pub reviews: ReviewService,
    pub crew: CrewService,
}

impl std::fmt::Debug for UseCases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UseCases").finish_non_exhaustive()
    }
}

/// The implementation of the generated `EventService` trait.
#[derive(Clone)]
pub struct EventGrpc {
    use_cases: UseCases,
    callers: Callers,
    rate_limits: RateLimits,
}

impl std::fmt::Debug for EventGrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventGrpc").finish_non_exhaustive()
    }
}

impl EventGrpc {
    #[must_use]
    pub fn new(use_cases: UseCases, authenticator: Arc<dyn Authenticate>) -> Self {
        Self {
            use_cases,
            callers: Callers::new(authenticator, TrustedProxies::default()),
            rate_limits: RateLimits::default(),
        }
    }

    /// The rate limits REST applies too (default: none).
    #[must_use]
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = limits;
        self
    }

    /// Counts the call against `kind`'s limit for the caller (RESOURCE_EXHAUSTED with
    /// `RetryInfo` over it).
    async fn limit(&self, kind: LimitKind, ctx: &RequestContext) -> Result<(), Status> {
        self.rate_limits
            .check_client(kind, ctx)
            .await
            .or_status()
            .map(|_| ())
    }

    /// Believe `x-forwarded-for` and the gateway identity metadata only from these peers
    /// (none by default).
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.callers = self.callers.with_trusted_proxies(proxies);
        self
    }

    /// The caller of `request`, allowed `access`, or the status that refuses the call.
    ///
    /// A caller whose role is below `least` is refused here (guest: UNAUTHENTICATED, another
    /// role: PERMISSION_DENIED), before the request is converted or validated.
    async fn caller<T>(
        &self,
        request: &Request<T>,
        access: Access,
        least: Least,
    ) -> Result<RequestContext, Status> {
        let ctx = self.callers.context(request, access).await.or_status()?;
        least.check(&ctx).or_status()?;
        Ok(ctx)
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl EventRpc for EventGrpc {
    async fn create_event(&self, r: Request<pb::CreateEventRequest>) -> Reply<pb::EventResponse> {
        events::create(self, r).await
    }

    async fn update_event(&self, r: Request<pb::UpdateEventRequest>) -> Reply<pb::EventResponse> {
        events::update(self, r).await
    }

    async fn get_event(&self, r: Request<pb::GetEventRequest>) -> Reply<pb::EventResponse> {
        events::get(self, r).await
    }

    async fn list_events(
        &self,
        r: Request<pb::ListEventsRequest>,
    ) -> Reply<pb::ListEventsResponse> {
        events::list(self, r).await
    }

    async fn publish_event(&self, r: Request<pb::PublishEventRequest>) -> Reply<pb::EventResponse> {
        events::publish(self, r).await
    }

    async fn cancel_event(&self, r: Request<pb::CancelEventRequest>) -> Reply<pb::EventResponse> {
        events::cancel(self, r).await
    }

    async fn assign_crew(&self, r: Request<pb::AssignCrewRequest>) -> Reply<pb::EventResponse> {
        crew::assign(self, r).await
    }

    async fn create_booking(
        &self,
        r: Request<pb::CreateBookingRequest>,
    ) -> Reply<pb::BookingResponse> {
        bookings::create(self, r).await
    }

    async fn get_booking(&self, r: Request<pb::GetBookingRequest>) -> Reply<pb::BookingResponse> {
        bookings::get(self, r).await
    }

    async fn list_bookings(
        &self,
        r: Request<pb::ListBookingsRequest>,
    ) -> Reply<pb::ListBookingsResponse> {
        bookings::list(self, r).await
    }

    async fn cancel_booking(
        &self,
        r: Request<pb::CancelBookingRequest>,
    ) -> Reply<pb::BookingResponse> {
        bookings::cancel(self, r).await
    }

    async fn initiate_payment(
        &self,
        r: Request<pb::InitiatePaymentRequest>,
    ) -> Reply<pb::PaymentResponse> {
        payments::initiate(self, r).await
    }

    async fn confirm_payment(
        &self,
        r: Request<pb::ConfirmPaymentRequest>,
    ) -> Reply<pb::PaymentResponse> {
        payments::confirm(self, r).await
    }

    async fn refund_payment(
        &self,
        r: Request<pb::RefundPaymentRequest>,
    ) -> Reply<pb::PaymentResponse> {
        payments::refund(self, r).await
    }

    async fn add_favorite(
        &self,
        r: Request<pb::AddFavoriteRequest>,
    ) -> Reply<pb::FavoriteResponse> {
        favorites::add(self, r).await
    }

    async fn remove_favorite(&self, r: Request<pb::RemoveFavoriteRequest>) -> Reply<()> {
        favorites::remove(self, r).await
    }

    async fn list_favorites(
        &self,
        r: Request<pb::ListFavoritesRequest>,
    ) -> Reply<pb::ListFavoritesResponse> {
        favorites::list(self, r).await
    }

    async fn create_review(
        &self,
        r: Request<pb::CreateReviewRequest>,
    ) -> Reply<pb::ReviewResponse> {
        reviews::create(self, r).await
    }

    async fn update_review(
        &self,
        r: Request<pb::UpdateReviewRequest>,
    ) -> Reply<pb::ReviewResponse> {
        reviews::update(self, r).await
    }

    async fn list_reviews(
        &self,
        r: Request<pb::ListReviewsRequest>,
    ) -> Reply<pb::ListReviewsResponse> {
        reviews::list(self, r).await
    }

    async fn reply_to_review(
        &self,
        r: Request<pb::ReplyToReviewRequest>,
    ) -> Reply<pb::ReviewReplyResponse> {
        reviews::reply(self, r).await
    }

    async fn get_event_stats(
        &self,
        r: Request<pb::GetEventStatsRequest>,
    ) -> Reply<pb::EventStatsResponse> {
        events::stats(self, r).await
    }
}
