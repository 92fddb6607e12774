//! `/events/{id}/waitlist`: join, leave, see one's place (or, for the event's organizer and
//! admins, the queue), and run the waitlist processing for one event.

use actix_web::{HttpResponse, delete, get, post, web};
use application::services::{WaitlistPosition, WaitlistView};
use chrono::{DateTime, Utc};
use domain::EventId;
use domain::waitlist::{WaitlistEntry, WaitlistStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::dto::{PageInfo, PageParams};
use crate::extract::OptionalJson;
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

/// Expired offers handled by one manual processing run.
const PROCESS_LIMIT: u32 = 1000;

/// `POST /events/{id}/waitlist`; the body may be omitted (one seat).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinWaitlistRequest {
    /// Seats wanted, 1 to the booking maximum (default 1).
    #[schema(minimum = 1, maximum = 10)]
    pub quantity: Option<i64>,
}

/// A waitlist entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WaitlistEntryResponse {
    pub id: i64,
    pub event_id: i64,
    pub user_id: String,
    /// WAITING, NOTIFIED, CONVERTED, EXPIRED, LEFT or CANCELED.
    pub status: String,
    pub quantity: u32,
    /// Join order (lower is served first).
    pub priority: i64,
    /// 1-based place among the open entries (own entry only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// Seats held for a NOTIFIED entry until `hold_expires_at`.
    pub held_seats: u32,
    pub notified_at: Option<DateTime<Utc>>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WaitlistEntryResponse {
    fn of(e: &WaitlistEntry, position: Option<u64>) -> Self {
        Self {
            id: e.id.value(),
            event_id: e.event_id.value(),
            user_id: e.user_id.to_string(),
            status: e.status.as_str().to_owned(),
            quantity: e.quantity.get(),
            priority: e.priority,
            position,
            held_seats: e.held_seats,
            notified_at: e.notified_at,
            hold_expires_at: e.hold_expires_at,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }

    fn positioned(p: &WaitlistPosition) -> Self {
        Self::of(&p.entry, Some(p.position))
    }
}

/// The queue of an event (organizer and admins).
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistQueueResponse {
    pub entries: Vec<WaitlistEntryResponse>,
    #[serde(flatten)]
    pub page: PageInfo,
}

/// The answer of `GET /events/{id}/waitlist`: the caller's own entry, or the queue.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum WaitlistViewResponse {
    Own(WaitlistEntryResponse),
    Queue(WaitlistQueueResponse),
}

/// The outcome of a processing run.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistProcessResponse {
    /// Entries moved: offers expired plus waiters notified.
    pub processed: u64,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitlistQueueParams {
    /// Page number, from 0 (at most 10000).
    #[param(minimum = 0, maximum = 10000)]
    pub page: Option<i64>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
    /// Comma-separated statuses (organizer and admins): WAITING, NOTIFIED, CONVERTED,
    /// EXPIRED, LEFT, CANCELED.
    #[param(
        pattern = r"^((WAITING|NOTIFIED|CONVERTED|EXPIRED|LEFT|CANCELED)(,(WAITING|NOTIFIED|CONVERTED|EXPIRED|LEFT|CANCELED))*)?$"
    )]
    pub status: Option<String>,
}

/// Joins the waiting list of a full event (201 with the entry and its position). An event with
/// enough free seats is 409 `SEATS_AVAILABLE`: book it directly.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/waitlist", tag = "waitlist",
    params(("id" = i64, Path)),
    request_body(content = Option<JoinWaitlistRequest>),
    responses(
        (status = 201, body = WaitlistEntryResponse, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "SEATS_AVAILABLE, ALREADY_ON_WAITLIST, ALREADY_BOOKED, EVENT_NOT_BOOKABLE, BOOKING_CLOSED", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/events/{id}/waitlist")]
pub async fn join_waitlist(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
    OptionalJson(b): OptionalJson<JoinWaitlistRequest>,
) -> Result<HttpResponse, ApiError> {
    let event_id = EventId(id.into_inner());
    let joined = state
        .waitlist
        .join(&caller.0, event_id, b.quantity.unwrap_or(1))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            "Location",
            format!("/api/v1/events/{}/waitlist", event_id.value()),
        ))
        .json(WaitlistEntryResponse::positioned(&joined)))
}

/// Leaves the waiting list; seats held for the caller pass to the next waiter.
#[utoipa::path(
    delete, path = "/api/v1/events/{id}/waitlist", tag = "waitlist",
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Left the queue"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not on the waiting list", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[delete("/events/{id}/waitlist")]
pub async fn leave_waitlist(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state
        .waitlist
        .leave(&caller.0, EventId(id.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own entry and position (404 when not queued); for the event's organizer and
/// admins, the queue in join order (`?status=` filters it; a USER asking for it is 403).
#[utoipa::path(
    get, path = "/api/v1/events/{id}/waitlist", tag = "waitlist",
    params(("id" = i64, Path), WaitlistQueueParams),
    responses(
        (status = 200, body = WaitlistViewResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/events/{id}/waitlist")]
pub async fn get_waitlist(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
    params: web::Query<WaitlistQueueParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let statuses = WaitlistStatus::parse_list("status", p.status.as_deref().unwrap_or_default())?;
    let page = PageParams {
        page: p.page,
        size: p.size,
    }
    .request()?;
    let view = state
        .waitlist
        .view(&caller.0, EventId(id.into_inner()), statuses, page)
        .await?;
    let response = match view {
        WaitlistView::Own(p) => WaitlistViewResponse::Own(WaitlistEntryResponse::positioned(&p)),
        WaitlistView::Queue(page) => WaitlistViewResponse::Queue(WaitlistQueueResponse {
            page: PageInfo::of(&page),
            entries: page
                .items
                .iter()
                .map(|e| WaitlistEntryResponse::of(e, None))
                .collect(),
        }),
    };
    Ok(HttpResponse::Ok().json(response))
}

/// Runs the waitlist processing for the event (its organizer or ADMIN): expired offers are
/// closed and free seats offered to the next waiters.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/waitlist/process", tag = "waitlist",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = WaitlistProcessResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/events/{id}/waitlist/process")]
pub async fn process_waitlist(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let processed = state
        .waitlist
        .process(&caller.0, Some(EventId(id.into_inner())), PROCESS_LIMIT)
        .await?;
    Ok(HttpResponse::Ok().json(WaitlistProcessResponse { processed }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(join_waitlist)
        .service(leave_waitlist)
        .service(get_waitlist)
        .service(process_waitlist);
}
