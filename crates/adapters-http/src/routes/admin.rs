//! `/admin`: the audit log, bulk cancel and reschedule of events, the popularity/conversion
//! report. ADMIN only.

use actix_web::{HttpResponse, get, post, web};
use application::AppError;
use application::ports::{AuditQuery, AuditRecord, EventPopularity};
use application::services::{BulkCancelCommand, BulkItemResult, RescheduleTo};
use chrono::{DateTime, Utc};
use domain::{EventId, UserId};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::auth::Caller;
use crate::dto::{PageInfo, PageParams};
use crate::problem::{ApiError, Problem, problem_of};
use crate::state::ApiState;
use crate::validation;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub actor_id: Option<uuid::Uuid>,
    /// `event.create`, `booking.cancel`, …
    pub action: Option<String>,
    /// `event`, `booking`, `payment`, `promo_code`, …
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Page number, from 0 (at most 10000).
    #[param(minimum = 0, maximum = 10000)]
    pub page: Option<i64>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
}

/// One audit line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntryResponse {
    pub id: i64,
    pub actor_id: Option<String>,
    pub actor_role: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&AuditRecord> for AuditEntryResponse {
    fn from(r: &AuditRecord) -> Self {
        let e = &r.entry;
        Self {
            id: r.id,
            actor_id: e.actor_id.map(|u| u.to_string()),
            actor_role: e.actor_role.as_str().to_owned(),
            action: e.action.clone(),
            entity_type: e.entity_type.clone(),
            entity_id: e.entity_id.clone(),
            before: e.before.clone(),
            after: e.after.clone(),
            request_id: e.request_id.clone(),
            client_ip: e.client_ip.clone(),
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditListResponse {
    pub entries: Vec<AuditEntryResponse>,
    #[serde(flatten)]
    pub page: PageInfo,
}

/// `POST /admin/events/bulk-cancel`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkCancelRequest {
    /// 1 to 100 events.
    #[schema(min_items = 1, max_items = 100)]
    pub event_ids: Vec<i64>,
    pub reason: Option<String>,
    #[serde(default = "yes")]
    pub notify_participants: bool,
    #[serde(default)]
    pub force_majeure: bool,
}

/// Exactly one of both (the schema's `oneOf`).
fn one_target(r: &BulkRescheduleRequest) -> Result<(), ValidationError> {
    if r.shift_minutes.is_some() == r.new_start_date.is_some() {
        return Err(validation::violation(
            "shift_minutes",
            "give exactly one of shift_minutes and new_start_date",
        ));
    }
    Ok(())
}

const fn yes() -> bool {
    true
}

/// `POST /admin/events/bulk-reschedule`: exactly one of `shift_minutes` and `new_start_date`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "one_target"))]
pub struct BulkRescheduleRequest {
    /// 1 to 100 events.
    #[schema(min_items = 1, max_items = 100)]
    pub event_ids: Vec<i64>,
    /// Move every event by this many minutes (negative: earlier).
    pub shift_minutes: Option<i64>,
    /// Move every event to start at this instant.
    pub new_start_date: Option<DateTime<Utc>>,
}

/// The outcome of one item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkItemResponse {
    pub event_id: i64,
    /// `succeeded` or `failed`.
    pub status: &'static str,
    /// The problem `code` of a failed item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResponse {
    pub results: Vec<BulkItemResponse>,
    pub succeeded: usize,
    pub failed: usize,
}

/// The problem detail of a failed item (internals are logged, never shown).
fn item_detail(err: &AppError) -> String {
    if let AppError::Internal { detail } = err {
        tracing::error!(error = %detail, "bulk item failed");
    }
    let problem = problem_of(err);
    match problem.errors.first() {
        Some(field) => format!("{}: {}", field.field, field.message),
        None => problem.detail,
    }
}

impl BulkResponse {
    fn of(results: &[BulkItemResult]) -> Self {
        let results: Vec<BulkItemResponse> = results
            .iter()
            .map(|r| match &r.outcome {
                Ok(()) => BulkItemResponse {
                    event_id: r.event_id.value(),
                    status: "succeeded",
                    code: None,
                    detail: None,
                },
                Err(e) => BulkItemResponse {
                    event_id: r.event_id.value(),
                    status: "failed",
                    code: Some(e.code().as_str().to_owned()),
                    detail: Some(item_detail(e)),
                },
            })
            .collect();
        let succeeded = results.iter().filter(|r| r.status == "succeeded").count();
        Self {
            failed: results.len() - succeeded,
            succeeded,
            results,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PopularityParams {
    /// Default: 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// Default: now.
    pub to: Option<DateTime<Utc>>,
    /// 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// One event of the report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PopularityItem {
    pub event_id: i64,
    pub name: String,
    /// Detail views (all time).
    pub views: u64,
    /// Bookings created in the period.
    pub bookings: u64,
    /// Of those, confirmed (or completed).
    pub confirmed: u64,
    /// Paid minus refunded in the period.
    #[schema(value_type = String, example = "4500.00")]
    pub revenue: String,
    /// bookings / views (4 decimals), null without views.
    #[schema(value_type = Option<String>, example = "0.2500")]
    pub view_to_booking: Option<String>,
    /// confirmed / bookings (4 decimals), null without bookings.
    #[schema(value_type = Option<String>, example = "0.5000")]
    pub booking_to_confirmed: Option<String>,
}

fn ratio(part: u64, whole: u64) -> Option<String> {
    (whole > 0).then(|| {
        let mut r = (Decimal::from(part) / Decimal::from(whole))
            .round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven);
        r.rescale(4);
        r.to_string()
    })
}

impl From<&EventPopularity> for PopularityItem {
    fn from(p: &EventPopularity) -> Self {
        Self {
            event_id: p.event_id.value(),
            name: p.name.clone(),
            views: p.views,
            bookings: p.bookings,
            confirmed: p.confirmed,
            revenue: p.revenue.to_string(),
            view_to_booking: ratio(p.bookings, p.views),
            booking_to_confirmed: ratio(p.confirmed, p.bookings),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PopularityResponse {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub events: Vec<PopularityItem>,
}

/// The audit log, newest first (ADMIN).
#[utoipa::path(
    get, path = "/api/v1/admin/audit", tag = "admin",
    params(AuditParams),
    responses(
        (status = 200, body = AuditListResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/admin/audit")]
pub async fn audit_log(
    state: web::Data<ApiState>,
    caller: Caller,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let query = AuditQuery {
        actor_id: p.actor_id.map(UserId),
        action: p.action.filter(|s| !s.trim().is_empty()),
        entity_type: p.entity_type.filter(|s| !s.trim().is_empty()),
        entity_id: p.entity_id.filter(|s| !s.trim().is_empty()),
        from: p.from,
        to: p.to,
        page: PageParams {
            page: p.page,
            size: p.size,
        }
        .request()?,
    };
    let page = state.admin.audit(&caller.0, query).await?;
    Ok(HttpResponse::Ok().json(AuditListResponse {
        page: PageInfo::of(&page),
        entries: page.items.iter().map(AuditEntryResponse::from).collect(),
    }))
}

/// Cancels many events, each on its own; every item is reported (ADMIN).
#[utoipa::path(
    post, path = "/api/v1/admin/events/bulk-cancel", tag = "admin",
    request_body = BulkCancelRequest,
    responses(
        (status = 200, body = BulkResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/admin/events/bulk-cancel")]
pub async fn bulk_cancel(
    state: web::Data<ApiState>,
    caller: Caller,
    body: web::Json<BulkCancelRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let results = state
        .admin
        .bulk_cancel(
            &caller.0,
            BulkCancelCommand {
                event_ids: b.event_ids.into_iter().map(EventId).collect(),
                reason: b.reason,
                notify_participants: b.notify_participants,
                force_majeure: b.force_majeure,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(BulkResponse::of(&results)))
}

/// Moves many events (by a shift or to a new start, keeping each duration), each on its own;
/// participants are notified through `event.rescheduled` (ADMIN).
#[utoipa::path(
    post, path = "/api/v1/admin/events/bulk-reschedule", tag = "admin",
    request_body = BulkRescheduleRequest,
    responses(
        (status = 200, body = BulkResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/admin/events/bulk-reschedule")]
pub async fn bulk_reschedule(
    state: web::Data<ApiState>,
    caller: Caller,
    body: web::Json<BulkRescheduleRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    validation::validate(&b)?;
    let to = match (b.shift_minutes, b.new_start_date) {
        (Some(minutes), _) => chrono::Duration::try_minutes(minutes)
            .map(RescheduleTo::ShiftBy)
            .ok_or_else(|| AppError::invalid("shift_minutes", "out of range"))?,
        (None, Some(at)) => RescheduleTo::StartAt(at),
        (None, None) => return Err(AppError::internal("the target passed validation").into()),
    };
    let results = state
        .admin
        .bulk_reschedule(
            &caller.0,
            b.event_ids.into_iter().map(EventId).collect(),
            to,
        )
        .await?;
    Ok(HttpResponse::Ok().json(BulkResponse::of(&results)))
}

/// Views → bookings → confirmed and revenue per event over a period, most confirmed first
/// (ADMIN).
#[utoipa::path(
    get, path = "/api/v1/admin/reports/popularity", tag = "admin",
    params(PopularityParams),
    responses(
        (status = 200, body = PopularityResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/admin/reports/popularity")]
pub async fn popularity_report(
    state: web::Data<ApiState>,
    caller: Caller,
    params: web::Query<PopularityParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let report = state
        .admin
        .popularity(&caller.0, p.from, p.to, p.limit)
        .await?;
    Ok(HttpResponse::Ok().json(PopularityResponse {
        from: report.from,
        to: report.to,
        events: report.events.iter().map(PopularityItem::from).collect(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(audit_log)
        .service(bulk_cancel)
        .service(bulk_reschedule)
        .service(popularity_report);
}
