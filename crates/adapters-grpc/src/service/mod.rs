//! `org.aquastream.event.EventService`: each rpc authenticates the caller from the metadata,
//! converts the request, calls one application use case and converts the answer. The trait
//! impl below only dispatches, one line per rpc, to the module of its resource.

mod bookings;
mod events;
mod not_yet;
mod payments;

use std::sync::Arc;

use application::ports::Authenticate;
use application::services::{BookingService, EventService, PaymentService};
use tonic::{Request, Response, Status};

use crate::auth::Callers;
use crate::pb;
use crate::pb::event_service_server::EventService as EventRpc;

/// The use cases the rpcs call (the same instances REST uses).
#[derive(Clone)]
pub struct UseCases {
    pub events: EventService,
    pub bookings: BookingService,
    pub payments: PaymentService,
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
            callers: Callers::new(authenticator),
        }
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

    async fn assign_crew(&self, _: Request<pb::AssignCrewRequest>) -> Reply<pb::EventResponse> {
        Err(not_yet::rpc("AssignCrew"))
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
        _: Request<pb::AddFavoriteRequest>,
    ) -> Reply<pb::FavoriteResponse> {
        Err(not_yet::rpc("AddFavorite"))
    }

    async fn remove_favorite(&self, _: Request<pb::RemoveFavoriteRequest>) -> Reply<()> {
        Err(not_yet::rpc("RemoveFavorite"))
    }

    async fn list_favorites(
        &self,
        _: Request<pb::ListFavoritesRequest>,
    ) -> Reply<pb::ListFavoritesResponse> {
        Err(not_yet::rpc("ListFavorites"))
    }

    async fn create_review(
        &self,
        _: Request<pb::CreateReviewRequest>,
    ) -> Reply<pb::ReviewResponse> {
        Err(not_yet::rpc("CreateReview"))
    }

    async fn update_review(
        &self,
        _: Request<pb::UpdateReviewRequest>,
    ) -> Reply<pb::ReviewResponse> {
        Err(not_yet::rpc("UpdateReview"))
    }

    async fn list_reviews(
        &self,
        _: Request<pb::ListReviewsRequest>,
    ) -> Reply<pb::ListReviewsResponse> {
        Err(not_yet::rpc("ListReviews"))
    }

    async fn reply_to_review(
        &self,
        _: Request<pb::ReplyToReviewRequest>,
    ) -> Reply<pb::ReviewReplyResponse> {
        Err(not_yet::rpc("ReplyToReview"))
    }

    async fn get_event_stats(
        &self,
        r: Request<pb::GetEventStatsRequest>,
    ) -> Reply<pb::EventStatsResponse> {
        events::stats(self, r).await
    }
}
