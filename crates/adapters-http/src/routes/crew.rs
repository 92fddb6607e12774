//! `/events/{id}/crew`: crew assignment through backend-crew (PRODUCT.md §9).

use actix_web::{HttpResponse, post, web};
use application::services::{AssignCrewCommand, CrewOutcome};
use domain::{CrewId, EventId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::dto::CrewInfo;
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

/// `AssignCrewRequest`: a specific crew, or any crew with these skills (at least one of both).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignCrewRequest {
    #[schema(minimum = 1)]
    pub crew_id: Option<i64>,
    /// Up to 20 skills of at most 50 characters.
    #[schema(max_items = 20)]
    #[serde(default)]
    pub skills: Vec<String>,
}

/// The answer of `POST /events/{id}/crew`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CrewAssignmentResponse {
    pub event_id: i64,
    /// The event's crew status: ASSIGNED, PENDING_RETRY ("crew will be assigned later") or
    /// FAILED.
    pub crew_status: String,
    pub crew_id: Option<i64>,
    pub crew: CrewInfo,
    pub message: String,
    /// The event's version after the change.
    pub version: i64,
}

impl From<&CrewOutcome> for CrewAssignmentResponse {
    fn from(o: &CrewOutcome) -> Self {
        Self {
            event_id: o.event.id.value(),
            crew_status: o.event.crew_status.as_str().to_owned(),
            crew_id: o.event.crew_id.map(CrewId::value),
            crew: CrewInfo::from(&o.assignment),
            message: o.message().to_owned(),
            version: o.event.version,
        }
    }
}

/// Assigns a crew (ORGANIZER of the event, ADMIN). When the crew service is unavailable the
/// answer is still 200, with `crew_status = PENDING_RETRY`: the request is retried in the
/// background.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/crew", tag = "events",
    params(("id" = i64, Path, description = "Event id")),
    request_body = AssignCrewRequest,
    responses(
        (status = 200, body = CrewAssignmentResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown event (or another organizer's), or unknown crew", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "INVALID_TRANSITION (canceled or finished event) or NO_CREW_AVAILABLE", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/events/{id}/crew")]
pub async fn assign_crew(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<AssignCrewRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let outcome = state
        .crew
        .assign_crew(
            &caller.0,
            EventId(id.into_inner()),
            AssignCrewCommand {
                crew_id: b.crew_id,
                skills: b.skills,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(CrewAssignmentResponse::from(&outcome)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(assign_crew);
}
