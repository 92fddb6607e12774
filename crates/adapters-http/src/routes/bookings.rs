//! `/bookings`: create (with price options, promo code, loyalty points and the price
//! breakdown), get, list by role, cancel with the refund policy.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use application::services::{BookingCancellation, BookingFilter, CreateBookingCommand};
use chrono::{DateTime, Utc};
use domain::booking::{Booking, BookingStatus};
use domain::{BookingId, EventId, PriceOptionId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::dto::{PageInfo, PageParams, PaymentResponse, PriceBreakdownResponse};
use crate::extract::OptionalJson;
use crate::idempotency::{self, JsonReply};
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

/// `POST /bookings` (`CreateBookingRequest`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBookingRequest {
    pub event_id: i64,
    /// Seats, 1 to the configured maximum (10 by default).
    #[schema(minimum = 1, maximum = 10)]
    pub quantity: i64,
    pub price_option_id: Option<i64>,
    pub promo_code: Option<String>,
    /// Loyalty points to spend (capped by the balance and the program's share).
    pub use_loyalty_points: Option<u64>,
}

/// `POST /bookings/{id}/cancel`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBookingRequest {
    #[schema(
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub reason: Option<String>,
}

/// `BookingResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BookingResponse {
    pub id: i64,
    pub event_id: i64,
    pub user_id: String,
    /// PENDING_PAYMENT, CONFIRMED, COMPLETED, CANCELED or EXPIRED.
    pub status: String,
    pub quantity: u32,
    pub price_option_id: Option<i64>,
    #[schema(value_type = String, example = "3000.00")]
    pub total_price: String,
    pub price_breakdown: PriceBreakdownResponse,
    pub payment_deadline: DateTime<Utc>,
    /// Issued when the booking is confirmed.
    pub ticket_code: Option<String>,
    pub canceled_reason: Option<String>,
    /// Payments made on the booking (details only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payments: Option<Vec<PaymentResponse>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl BookingResponse {
    pub fn of(b: &Booking) -> Self {
        Self {
            id: b.id.value(),
            event_id: b.event_id.value(),
            user_id: b.user_id.to_string(),
            status: b.status.as_str().to_owned(),
            quantity: b.quantity.get(),
            price_option_id: b.price_option_id.map(|p| p.value()),
            total_price: b.total_price().to_string(),
            price_breakdown: PriceBreakdownResponse::from(&b.price),
            payment_deadline: b.payment_deadline,
            ticket_code: b.ticket_code.as_ref().map(|t| t.as_str().to_owned()),
            canceled_reason: b.canceled_reason.clone(),
            payments: None,
            version: b.version,
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookingListResponse {
    pub bookings: Vec<BookingResponse>,
    #[serde(flatten)]
    pub page: PageInfo,
}

/// The outcome of a cancellation.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingCancellationResponse {
    pub booking: BookingResponse,
    /// The share of the paid amount given back (0–100).
    #[schema(value_type = String, example = "80")]
    pub refund_percent: String,
    #[schema(value_type = String, example = "2400.00")]
    pub refund_amount: String,
}

impl From<&BookingCancellation> for BookingCancellationResponse {
    fn from(c: &BookingCancellation) -> Self {
        Self {
            booking: BookingResponse::of(&c.booking),
            refund_percent: c.refund_percent.value().normalize().to_string(),
            refund_amount: c.refund_amount.to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListBookingsParams {
    /// Page number, from 0 (at most 10000).
    #[param(minimum = 0, maximum = 10000)]
    pub page: Option<i64>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
    pub event_id: Option<i64>,
    /// PENDING_PAYMENT, CONFIRMED, COMPLETED, CANCELED or EXPIRED.
    #[param(pattern = r"^(PENDING_PAYMENT|CONFIRMED|COMPLETED|CANCELED|EXPIRED)$")]
    pub status: Option<String>,
    /// ADMIN (and organizers for their events): bookings of this user.
    pub user_id: Option<uuid::Uuid>,
}

/// Books seats for the caller. The answer carries the price breakdown and the payment
/// deadline.
#[utoipa::path(
    post, path = "/api/v1/bookings", tag = "bookings",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a retried request")),
    request_body = CreateBookingRequest,
    responses(
        (status = 201, body = BookingResponse, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "SOLD_OUT, BOOKING_CLOSED, ALREADY_BOOKED, PRICE_OPTION_SOLD_OUT, PROMO_CODE_INVALID (one answer for every unusable code), SEAT_LIMIT_PER_USER, UNPAID_SEAT_LIMIT, IDEMPOTENCY_KEY_IN_USE", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/bookings")]
pub async fn create_booking(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<CreateBookingRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    idempotency::run(&state, &req, &caller.0, &b, || async {
        let cmd = CreateBookingCommand {
            event_id: EventId(b.event_id),
            quantity: b.quantity,
            price_option_id: b.price_option_id.map(PriceOptionId),
            promo_code: b.promo_code.clone(),
            use_loyalty_points: b.use_loyalty_points,
        };
        let booking = state.bookings.create(&caller.0, cmd).await?;
        JsonReply::created(
            format!("/api/v1/bookings/{}", booking.id.value()),
            &BookingResponse::of(&booking),
        )
    })
    .await
}

/// One booking with its payments (its owner, the event's organizer, or ADMIN).
#[utoipa::path(
    get, path = "/api/v1/bookings/{id}", tag = "bookings",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = BookingResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/bookings/{id}")]
pub async fn get_booking(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let details = state
        .bookings
        .get(&caller.0, BookingId(id.into_inner()))
        .await?;
    let mut response = BookingResponse::of(&details.booking);
    response.payments = Some(
        details
            .payments
            .iter()
            .map(|p| PaymentResponse::of(p, None))
            .collect(),
    );
    Ok(HttpResponse::Ok().json(response))
}

/// Bookings the caller may see: a user's own; an organizer's events' bookings (own bookings with
/// `user_id` = self); all for ADMIN.
#[utoipa::path(
    get, path = "/api/v1/bookings", tag = "bookings",
    params(ListBookingsParams),
    responses(
        (status = 200, body = BookingListResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/bookings")]
pub async fn list_bookings(
    state: web::Data<ApiState>,
    caller: Caller,
    params: web::Query<ListBookingsParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let status = p
        .status
        .as_deref()
        .map(|s| BookingStatus::parse_field("status", s))
        .transpose()?;
    let filter = BookingFilter {
        event_id: p.event_id.map(EventId),
        status,
        user_id: p.user_id.map(UserId),
        page: PageParams {
            page: p.page,
            size: p.size,
        }
        .request()?,
    };
    let page = state.bookings.list(&caller.0, filter).await?;
    Ok(HttpResponse::Ok().json(BookingListResponse {
        page: PageInfo::of(&page),
        bookings: page.items.iter().map(BookingResponse::of).collect(),
    }))
}

/// Cancels a booking (its owner or ADMIN): a pending one is just canceled, a confirmed one is
/// refunded by the event's refund policy; the seats are freed.
#[utoipa::path(
    post, path = "/api/v1/bookings/{id}/cancel", tag = "bookings",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = Option<CancelBookingRequest>),
    responses(
        (status = 200, body = BookingCancellationResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "INVALID_TRANSITION", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The payment gateway could not refund; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/bookings/{id}/cancel")]
pub async fn cancel_booking(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    OptionalJson(b): OptionalJson<CancelBookingRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = BookingId(id.into_inner());
    idempotency::run(&state, &req, &caller.0, &b, || async {
        let done = state
            .bookings
            .cancel(&caller.0, id, b.reason.clone())
            .await?;
        JsonReply::ok(&BookingCancellationResponse::from(&done))
    })
    .await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_booking)
        .service(list_bookings)
        .service(get_booking)
        .service(cancel_booking);
}
