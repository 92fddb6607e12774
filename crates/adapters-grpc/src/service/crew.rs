//! `AssignCrew`: a specific crew through backend-crew (the contract has no skills field, so
//! `crew_id` is required here; REST also takes skills).
//!
//! `EventResponse` has no crew status, so the outcome travels in the response metadata:
//! `x-crew-status` (ASSIGNED, PENDING_RETRY, FAILED) and `x-crew-message` (the sentence for the
//! organizer, e.g. "crew will be assigned later…" while backend-crew is unavailable).

use application::services::AssignCrewCommand;
use domain::EventId;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use super::EventGrpc;
use crate::auth::{Access, Least};
use crate::convert::id;
use crate::messages;
use crate::pb;
use crate::status::OrStatus;

type Reply<T> = Result<Response<T>, Status>;

/// Response metadata key: the event's crew status after the call.
pub const CREW_STATUS_METADATA: &str = "x-crew-status";
/// Response metadata key: what the organizer is told.
pub const CREW_MESSAGE_METADATA: &str = "x-crew-message";

pub(super) async fn assign(
    svc: &EventGrpc,
    request: Request<pb::AssignCrewRequest>,
) -> Reply<pb::EventResponse> {
    let ctx = svc
        .caller(&request, Access::Write, Least::Organizer)
        .await?;
    let r = request.into_inner();
    let event_id = id("event_id", r.event_id).or_status()?;
    let crew_id = id("crew_id", r.crew_id).or_status()?;
    let outcome = svc
        .use_cases
        .crew
        .assign_crew(
            &ctx,
            EventId(event_id),
            AssignCrewCommand {
                crew_id: Some(crew_id),
                skills: Vec::new(),
            },
        )
        .await
        .or_status()?;
    let mut response = Response::new(messages::event(&outcome.event));
    let metadata = response.metadata_mut();
    metadata.insert(
        CREW_STATUS_METADATA,
        MetadataValue::from_static(outcome.event.crew_status.as_str()),
    );
    metadata.insert(
        CREW_MESSAGE_METADATA,
        MetadataValue::from_static(outcome.message()),
    );
    Ok(response)
}
