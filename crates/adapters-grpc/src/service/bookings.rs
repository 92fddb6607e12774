//! Booking rpcs: create, get, list, cancel.

use application::AppError;
use application::services::{BookingFilter, CreateBookingCommand, LimitKind};
use domain::booking::BookingStatus;
use domain::{BookingId, EventId, PriceOptionId, UserId};
use tonic::{Request, Response, Status};

use super::EventGrpc;
use crate::auth::{Access, Least};
use crate::convert::{nonzero, text};
use crate::messages;
use crate::pb;
use crate::status::OrStatus;

type Reply<T> = Result<Response<T>, Status>;

pub(super) async fn create(
    svc: &EventGrpc,
    request: Request<pb::CreateBookingRequest>,
) -> Reply<pb::BookingResponse> {
    let ctx = svc.caller(&request, Access::Write, Least::User).await?;
    svc.limit(LimitKind::BookingCreate, &ctx).await?;
    let r = request.into_inner();
    let cmd = CreateBookingCommand {
        event_id: EventId(r.event_id),
        quantity: i64::from(r.quantity),
        price_option_id: nonzero(r.price_option_id).map(PriceOptionId),
        promo_code: text(r.promo_code),
        use_loyalty_points: None,
    };
    let booking = svc.use_cases.bookings.create(&ctx, cmd).await.or_status()?;
    Ok(Response::new(messages::booking(&booking)))
}

pub(super) async fn get(
    svc: &EventGrpc,
    request: Request<pb::GetBookingRequest>,
) -> Reply<pb::BookingResponse> {
    let ctx = svc.caller(&request, Access::Read, Least::User).await?;
    let id = BookingId(request.into_inner().id);
    let details = svc.use_cases.bookings.get(&ctx, id).await.or_status()?;
    Ok(Response::new(messages::booking(&details.booking)))
}

pub(super) async fn list(
    svc: &EventGrpc,
    request: Request<pb::ListBookingsRequest>,
) -> Reply<pb::ListBookingsResponse> {
    let ctx = svc.caller(&request, Access::Read, Least::User).await?;
    let filter = filter(request.into_inner()).or_status()?;
    let page = svc
        .use_cases
        .bookings
        .list(&ctx, filter)
        .await
        .or_status()?;
    let (total_pages, total_elements, number) = messages::page_info(&page);
    Ok(Response::new(pb::ListBookingsResponse {
        bookings: page.items.iter().map(messages::booking).collect(),
        total_pages,
        total_elements,
        page: number,
    }))
}

fn filter(r: pb::ListBookingsRequest) -> Result<BookingFilter, AppError> {
    let user_id = text(r.user_id)
        .map(|id| {
            uuid::Uuid::parse_str(id.trim())
                .map(UserId)
                .map_err(|_| AppError::invalid("user_id", "must be a UUID"))
        })
        .transpose()?;
    let status = text(r.status)
        .map(|s| BookingStatus::parse_field("status", &s))
        .transpose()?;
    Ok(BookingFilter {
        event_id: nonzero(r.event_id).map(EventId),
        status,
        user_id,
        page: messages::page_request(r.page, r.size)?,
    })
}

pub(super) async fn cancel(
    svc: &EventGrpc,
    request: Request<pb::CancelBookingRequest>,
) -> Reply<pb::BookingResponse> {
    let ctx = svc.caller(&request, Access::Write, Least::User).await?;
    let r = request.into_inner();
    let done = svc
        .use_cases
        .bookings
        .cancel(&ctx, BookingId(r.id), text(r.reason))
        .await
        .or_status()?;
    Ok(Response::new(messages::booking(&done.booking)))
}
