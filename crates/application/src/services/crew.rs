//! Crew assignment through backend-crew (PRODUCT.md §9).
//!
//! `assign_crew` asks the [`CrewDirectory`] for a specific crew or for any crew with the given
//! skills. The call happens outside any database transaction (a slow crew service must not
//! hold row locks); the answer is then written in one transaction with its audit and outbox
//! rows:
//! * assigned → the event is ASSIGNED with the crew, `crew.assigned` is published;
//! * crew service unavailable → the event is PENDING_RETRY and the caller is told "crew will be
//!   assigned later" (a success, not an error);
//! * a refusal (no crew fits, unknown crew) → the caller gets it, nothing changes.
//!
//! Retry state (attempts, next attempt time, last error, the crew's name) is kept in the
//! `crew_assignments` table, one row per request; the event row only carries `crew_status` and
//! `crew_id`. `retry_crew` (job `crew-retry`) retries due PENDING_RETRY rows with exponential
//! backoff; after `max_attempts` the event's crew is FAILED and `crew.failed` plus an
//! `admin.alert` are published. The same pass gives crews back to backend-crew: those of
//! canceled events (cancellation itself never waits for backend-crew) and those replaced by a
//! reassignment.

use std::sync::Arc;

use chrono::Duration;
use domain::crew::{CrewAssignmentStatus, CrewRetryPolicy};
use domain::event::{CrewStatus, Event, EventStatus};
use domain::{CrewId, DomainError, EventId, Timestamp, text};
use serde_json::{Value, json};

use crate::AppError;
use crate::actor::{RequestContext, Role};
use crate::clock::Clock;
use crate::outbox::DomainEventType;
use crate::ports::{
    AuditEntry, CrewAssignment, CrewAssignmentRecord, CrewDirectory, CrewRequest,
    NewCrewAssignment, Tx, UnitOfWork,
};
use crate::services::recording::Recorder;

/// Most skills one request may name.
pub const MAX_SKILLS: usize = 20;
/// Longest skill name.
pub const SKILL_MAX: usize = 50;
/// A claimed row is not claimed again for this long, so that a second instance does not retry
/// the same request while the first one is still waiting for backend-crew.
const CLAIM_LEASE_MINUTES: i64 = 5;

/// `POST /api/v1/events/{id}/crew`, `AssignCrew`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssignCrewCommand {
    /// A specific crew; without it, any crew with `skills`.
    pub crew_id: Option<i64>,
    pub skills: Vec<String>,
}

/// What an assignment request ended in.
#[derive(Debug, Clone, PartialEq)]
pub struct CrewOutcome {
    pub event: Event,
    /// The `crew_assignments` row of this request.
    pub assignment: CrewAssignmentRecord,
}

impl CrewOutcome {
    /// The sentence shown to the organizer.
    #[must_use]
    pub fn message(&self) -> &'static str {
        match self.assignment.status {
            CrewAssignmentStatus::Assigned => "crew assigned",
            CrewAssignmentStatus::PendingRetry | CrewAssignmentStatus::Requested => {
                "crew will be assigned later: the crew service is unavailable, the request is retried"
            }
            CrewAssignmentStatus::Failed => "crew assignment failed",
            CrewAssignmentStatus::Released => "crew released",
        }
    }
}

/// The crew use cases.
#[derive(Clone)]
pub struct CrewService {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
    directory: Arc<dyn CrewDirectory>,
    policy: CrewRetryPolicy,
}

impl std::fmt::Debug for CrewService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrewService")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The crew part of outbox payloads and audit rows.
#[must_use]
pub fn crew_summary(event: &Event, row: &CrewAssignmentRecord) -> Value {
    json!({
        "event_id": event.id.value(),
        "crew_status": event.crew_status.as_str(),
        "crew_id": row.crew_id.map(CrewId::value),
        "crew_name": row.crew_name,
        "skills": row.skills,
        "assignment_status": row.status.as_str(),
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.map(|t| t.to_rfc3339()),
        "last_error": row.last_error,
    })
}

fn event_crew(event: &Event) -> Value {
    json!({
        "event_id": event.id.value(),
        "crew_status": event.crew_status.as_str(),
        "crew_id": event.crew_id.map(CrewId::value),
    })
}

/// Checks and normalizes the request: a positive `crew_id` and/or 1..=20 distinct non-blank
/// skills of at most 50 characters.
fn validate(cmd: AssignCrewCommand) -> Result<(Option<CrewId>, Vec<String>), AppError> {
    let crew_id = match cmd.crew_id {
        Some(id) if id <= 0 => return Err(AppError::invalid("crew_id", "must be positive")),
        other => other.map(CrewId),
    };
    if cmd.skills.len() > MAX_SKILLS {
        return Err(AppError::invalid(
            "skills",
            format!("at most {MAX_SKILLS} skills"),
        ));
    }
    let mut skills: Vec<String> = Vec::with_capacity(cmd.skills.len());
    for (i, skill) in cmd.skills.iter().enumerate() {
        let skill = text::required("skill", skill, SKILL_MAX).map_err(|e| match e {
            DomainError::Validation { message, .. } => {
                AppError::invalid(format!("skills[{i}]"), message)
            }
            other => other.into(),
        })?;
        if !skills.contains(&skill) {
            skills.push(skill);
        }
    }
    if crew_id.is_none() && skills.is_empty() {
        return Err(AppError::invalid(
            "skills",
            "give a crew_id or at least one skill",
        ));
    }
    Ok((crew_id, skills))
}

fn is_live(event: &Event) -> bool {
    matches!(event.status, EventStatus::Draft | EventStatus::Published)
}

/// Whether a failed call is worth another try later (the crew service did not answer), as
/// opposed to an answer (no crew fits, unknown crew).
const fn is_transient(error: &AppError) -> bool {
    matches!(
        error,
        AppError::Unavailable { .. } | AppError::Internal { .. }
    )
}

fn error_text(error: &AppError) -> String {
    match error {
        AppError::Internal { detail } => detail.clone(),
        other => other.to_string(),
    }
}

async fn enqueue(
    tx: &dyn Tx,
    event: &Event,
    kind: DomainEventType,
    payload: Value,
    now: Timestamp,
) -> Result<(), AppError> {
    Recorder::new(tx, now)
        .emit_payload(event, kind, payload)
        .await
}

/// Closes the other open requests of an event once `keep` is settled: a crew that was assigned
/// and is not the new one goes back to backend-crew (a release due now); open requests that
/// never got a crew are simply closed. With `keep_assigned`, assigned crews stay (a request
/// that is only pending does not take the current crew away).
async fn supersede(
    tx: &dyn Tx,
    event_id: EventId,
    keep: Option<i64>,
    new_crew: Option<CrewId>,
    keep_assigned: bool,
    now: Timestamp,
) -> Result<(), AppError> {
    for mut row in tx.crew_assignments().active_for_event(event_id).await? {
        if Some(row.id) == keep {
            continue;
        }
        let assigned = row.status == CrewAssignmentStatus::Assigned;
        if assigned && keep_assigned {
            continue;
        }
        let give_back = assigned && row.crew_id.is_some() && row.crew_id != new_crew;
        row.status = CrewAssignmentStatus::Released;
        row.attempts = 0;
        row.next_attempt_at = give_back.then_some(now);
        row.updated_at = now;
        tx.crew_assignments().update(&row).await?;
    }
    Ok(())
}

impl CrewService {
    #[must_use]
    pub fn new(
        uow: Arc<dyn UnitOfWork>,
        clock: Arc<dyn Clock>,
        directory: Arc<dyn CrewDirectory>,
        policy: CrewRetryPolicy,
    ) -> Self {
        Self {
            uow,
            clock,
            directory,
            policy,
        }
    }

    /// `POST /api/v1/events/{id}/crew`, `AssignCrew`: the event's organizer or an admin (USER
    /// 403, another organizer's event 404). The event must be DRAFT or PUBLISHED (409
    /// otherwise). See the module documentation for the outcomes.
    #[tracing::instrument(name = "CrewService.assign_crew", skip_all)]
    pub async fn assign_crew(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
        cmd: AssignCrewCommand,
    ) -> Result<CrewOutcome, AppError> {
        ctx.actor.require_role(
            &[Role::Organizer, Role::Admin],
            "only organizers and admins assign crews",
        )?;
        let (crew_id, skills) = validate(cmd)?;
        let now = self.clock.now();

        let tx = self.uow.begin().await?;
        let event = tx
            .events()
            .find(event_id)
            .await?
            .ok_or(AppError::NotFound { entity: "event" })?;
        ctx.actor.require_event_manager(event.creator_id)?;
        // Refuse a canceled or finished event before bothering backend-crew.
        let _ = event.clone().request_crew(now)?;
        tx.commit().await?;

        let request = CrewRequest {
            event_id,
            crew_id,
            skills: skills.clone(),
            starts_at: event.schedule.start_date,
            ends_at: event.schedule.end_date,
        };
        let answer = match self.directory.assign(&request).await {
            Ok(assignment) => Ok(assignment),
            Err(e) if is_transient(&e) => {
                tracing::warn!(event_id = event_id.value(), error = %e, "crew service unavailable; the request will be retried");
                Err(error_text(&e))
            }
            Err(refusal) => return Err(refusal),
        };

        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut event = tx
            .events()
            .find_for_update(event_id)
            .await?
            .ok_or(AppError::NotFound { entity: "event" })?;
        let before = event_crew(&event);
        if !is_live(&event) {
            if let Ok(assignment) = &answer {
                // Canceled while backend-crew answered: give the crew back.
                let _ = tx
                    .crew_assignments()
                    .insert(NewCrewAssignment {
                        event_id,
                        crew_id: Some(assignment.crew_id),
                        crew_name: assignment.crew_name.clone(),
                        skills,
                        status: CrewAssignmentStatus::Released,
                        attempts: 0,
                        next_attempt_at: Some(now),
                        last_error: None,
                        created_at: now,
                    })
                    .await?;
                tx.commit().await?;
            }
            return Err(DomainError::InvalidTransition {
                entity: "event",
                from: event.status.as_str(),
                action: "assign a crew to",
            }
            .into());
        }
        let outcome = match answer {
            Ok(assignment) => {
                let _ = event.assign_crew(assignment.crew_id, now)?;
                let event = tx.events().update(&event).await?;
                let row = tx
                    .crew_assignments()
                    .insert(NewCrewAssignment {
                        event_id,
                        crew_id: Some(assignment.crew_id),
                        crew_name: assignment.crew_name,
                        skills,
                        status: CrewAssignmentStatus::Assigned,
                        attempts: 1,
                        next_attempt_at: None,
                        last_error: None,
                        created_at: now,
                    })
                    .await?;
                supersede(tx.as_ref(), event_id, Some(row.id), row.crew_id, false, now).await?;
                enqueue(
                    tx.as_ref(),
                    &event,
                    DomainEventType::CrewAssigned,
                    crew_summary(&event, &row),
                    now,
                )
                .await?;
                CrewOutcome {
                    event,
                    assignment: row,
                }
            }
            Err(why) => {
                let _ = event.request_crew(now)?;
                let exhausted = self.policy.exhausted(1);
                if exhausted {
                    let _ = event.crew_failed(now)?;
                } else {
                    let _ = event.crew_retry_pending(now)?;
                }
                let event = tx.events().update(&event).await?;
                let row = tx
                    .crew_assignments()
                    .insert(NewCrewAssignment {
                        event_id,
                        crew_id,
                        crew_name: None,
                        skills,
                        status: if exhausted {
                            CrewAssignmentStatus::Failed
                        } else {
                            CrewAssignmentStatus::PendingRetry
                        },
                        attempts: 1,
                        next_attempt_at: (!exhausted).then(|| self.policy.next_attempt_at(1, now)),
                        last_error: Some(why),
                        created_at: now,
                    })
                    .await?;
                supersede(tx.as_ref(), event_id, Some(row.id), None, true, now).await?;
                if exhausted {
                    Self::emit_failure(tx.as_ref(), &event, &row, now).await?;
                }
                CrewOutcome {
                    event,
                    assignment: row,
                }
            }
        };
        tx.audit()
            .record(
                AuditEntry::by(ctx, "event.crew.assign", "event", event_id, now).with_change(
                    Some(before),
                    Some(crew_summary(&outcome.event, &outcome.assignment)),
                ),
            )
            .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// `crew.failed` and an `admin.alert` for an assignment that will not be retried.
    async fn emit_failure(
        tx: &dyn Tx,
        event: &Event,
        row: &CrewAssignmentRecord,
        now: Timestamp,
    ) -> Result<(), AppError> {
        let summary = crew_summary(event, row);
        enqueue(tx, event, DomainEventType::CrewFailed, summary.clone(), now).await?;
        enqueue(
            tx,
            event,
            DomainEventType::AdminAlert,
            json!({
                "alert": "crew_assignment_failed",
                "message": format!(
                    "no crew could be assigned to event {} after {} attempts",
                    event.id, row.attempts
                ),
                "crew": summary,
            }),
            now,
        )
        .await
    }

    /// Job `crew-retry`: retries up to `limit` due PENDING_RETRY requests, then gives back up to
    /// `limit` crews that are due for release. Answers how many requests and releases it
    /// handled.
    #[tracing::instrument(name = "CrewService.retry_crew", skip_all)]
    pub async fn retry_crew(&self, limit: u32) -> Result<u64, AppError> {
        if limit == 0 {
            return Ok(0);
        }
        let ctx = RequestContext::system("crew-retry");
        let mut processed = 0;
        for (row, event) in self.claim_retries(limit).await? {
            self.retry_one(&ctx, row, &event).await?;
            processed += 1;
        }
        for row in self.claim_releases(limit).await? {
            self.release_one(&ctx, row).await?;
            processed += 1;
        }
        Ok(processed)
    }

    /// Claims due retries by moving their next attempt past a lease. Requests whose event is
    /// no longer waiting for them (canceled, reassigned meanwhile) are closed instead.
    async fn claim_retries(
        &self,
        limit: u32,
    ) -> Result<Vec<(CrewAssignmentRecord, Event)>, AppError> {
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut claimed = Vec::new();
        for mut row in tx.crew_assignments().claim_due_retries(now, limit).await? {
            let event = tx.events().find(row.event_id).await?;
            row.updated_at = now;
            match event {
                Some(event) if is_live(&event) && event.crew_status == CrewStatus::PendingRetry => {
                    row.next_attempt_at = Some(now + Duration::minutes(CLAIM_LEASE_MINUTES));
                    tx.crew_assignments().update(&row).await?;
                    claimed.push((row, event));
                }
                _ => {
                    row.status = CrewAssignmentStatus::Released;
                    row.next_attempt_at = None;
                    tx.crew_assignments().update(&row).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn retry_one(
        &self,
        ctx: &RequestContext,
        row: CrewAssignmentRecord,
        event: &Event,
    ) -> Result<(), AppError> {
        let request = CrewRequest {
            event_id: row.event_id,
            crew_id: row.crew_id,
            skills: row.skills.clone(),
            starts_at: event.schedule.start_date,
            ends_at: event.schedule.end_date,
        };
        let answer = self.directory.assign(&request).await;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let event = tx.events().find_for_update(row.event_id).await?;
        let row = tx.crew_assignments().find_for_update(row.id).await?;
        let (Some(mut event), Some(mut row)) = (event, row) else {
            return tx.commit().await;
        };
        let before = crew_summary(&event, &row);
        if row.status != CrewAssignmentStatus::PendingRetry
            || !is_live(&event)
            || event.crew_status != CrewStatus::PendingRetry
        {
            // Superseded or canceled while backend-crew answered: a crew it gave is returned.
            if let Ok(assignment) = answer {
                row.crew_id = Some(assignment.crew_id);
                row.crew_name = assignment.crew_name;
                row.status = CrewAssignmentStatus::Released;
                row.attempts = 0;
                row.next_attempt_at = Some(now);
                row.updated_at = now;
                tx.crew_assignments().update(&row).await?;
            }
            return tx.commit().await;
        }
        row.attempts = row.attempts.saturating_add(1);
        row.updated_at = now;
        let action = match answer {
            Ok(CrewAssignment { crew_id, crew_name }) => {
                let _ = event.assign_crew(crew_id, now)?;
                let event = tx.events().update(&event).await?;
                row.crew_id = Some(crew_id);
                row.crew_name = crew_name;
                row.status = CrewAssignmentStatus::Assigned;
                row.next_attempt_at = None;
                row.last_error = None;
                tx.crew_assignments().update(&row).await?;
                supersede(tx.as_ref(), event.id, Some(row.id), row.crew_id, false, now).await?;
                enqueue(
                    tx.as_ref(),
                    &event,
                    DomainEventType::CrewAssigned,
                    crew_summary(&event, &row),
                    now,
                )
                .await?;
                tracing::info!(
                    event_id = event.id.value(),
                    attempts = row.attempts,
                    "crew assigned on retry"
                );
                Some(("event.crew.assign", event))
            }
            Err(e) if is_transient(&e) && !self.policy.exhausted(row.attempts) => {
                row.next_attempt_at = Some(self.policy.next_attempt_at(row.attempts, now));
                row.last_error = Some(error_text(&e));
                tx.crew_assignments().update(&row).await?;
                tracing::warn!(event_id = event.id.value(), attempts = row.attempts, error = %e, "crew service still unavailable");
                None
            }
            Err(e) => {
                let _ = event.crew_failed(now)?;
                let event = tx.events().update(&event).await?;
                row.status = CrewAssignmentStatus::Failed;
                row.next_attempt_at = None;
                row.last_error = Some(error_text(&e));
                tx.crew_assignments().update(&row).await?;
                Self::emit_failure(tx.as_ref(), &event, &row, now).await?;
                tracing::error!(event_id = event.id.value(), attempts = row.attempts, error = %e, "crew assignment failed");
                Some(("event.crew.fail", event))
            }
        };
        if let Some((action, event)) = action {
            tx.audit()
                .record(
                    AuditEntry::by(ctx, action, "event", event.id, now)
                        .with_change(Some(before), Some(crew_summary(&event, &row))),
                )
                .await?;
        }
        tx.commit().await
    }

    /// Claims due releases by moving their next attempt past a lease.
    async fn claim_releases(&self, limit: u32) -> Result<Vec<CrewAssignmentRecord>, AppError> {
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut claimed = Vec::new();
        for mut row in tx.crew_assignments().claim_due_releases(now, limit).await? {
            if row.status != CrewAssignmentStatus::Released {
                // The event was canceled: its assigned crew becomes a release to make.
                row.status = CrewAssignmentStatus::Released;
                row.attempts = 0;
            }
            row.next_attempt_at = row
                .crew_id
                .map(|_| now + Duration::minutes(CLAIM_LEASE_MINUTES));
            row.updated_at = now;
            tx.crew_assignments().update(&row).await?;
            if row.crew_id.is_some() {
                claimed.push(row);
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn release_one(
        &self,
        ctx: &RequestContext,
        row: CrewAssignmentRecord,
    ) -> Result<(), AppError> {
        let Some(crew_id) = row.crew_id else {
            return Ok(());
        };
        let answer = self.directory.release(row.event_id, crew_id).await;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let Some(mut row) = tx.crew_assignments().find_for_update(row.id).await? else {
            return tx.commit().await;
        };
        row.updated_at = now;
        match answer {
            Ok(()) => {
                row.next_attempt_at = None;
                row.last_error = None;
                tx.crew_assignments().update(&row).await?;
                tx.audit()
                    .record(
                        AuditEntry::by(ctx, "event.crew.release", "event", row.event_id, now)
                            .with_change(
                                None,
                                Some(json!({"crew_id": crew_id.value(), "released": true})),
                            ),
                    )
                    .await?;
            }
            Err(e) if is_transient(&e) => {
                row.attempts = row.attempts.saturating_add(1);
                row.last_error = Some(error_text(&e));
                if self.policy.exhausted(row.attempts) {
                    row.next_attempt_at = None;
                    let version = tx
                        .events()
                        .find(row.event_id)
                        .await?
                        .map_or(0, |e| e.version);
                    Recorder::new(tx.as_ref(), now)
        .emit_about("event", row.event_id, version, DomainEventType::AdminAlert, json!({
                                "alert": "crew_release_failed",
                                "message": format!(
                                    "crew {crew_id} of event {} could not be released after {} attempts",
                                    row.event_id, row.attempts
                                ),
                                "event_id": row.event_id.value(),
                                "crew_id": crew_id.value(),
                                "last_error": row.last_error,
                            }))
                        .await?;
                    tracing::error!(
                        event_id = row.event_id.value(),
                        crew_id = crew_id.value(),
                        "crew release failed for good"
                    );
                } else {
                    row.next_attempt_at = Some(self.policy.next_attempt_at(row.attempts, now));
                }
                tx.crew_assignments().update(&row).await?;
            }
            Err(e) => {
                // backend-crew answered (it does not hold that crew for the event): nothing
                // left to give back.
                tracing::warn!(event_id = row.event_id.value(), crew_id = crew_id.value(), error = %e, "crew release refused; considered released");
                row.next_attempt_at = None;
                row.last_error = Some(error_text(&e));
                tx.crew_assignments().update(&row).await?;
            }
        }
        tx.commit().await
    }
}

#[cfg(test)]
#[path = "crew_tests.rs"]
mod tests;
