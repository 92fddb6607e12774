//! backend-crew: crew assignment for events (PRODUCT.md §9).

use async_trait::async_trait;
use domain::crew::CrewAssignmentStatus;
use domain::{CrewId, EventId, Timestamp};

use crate::AppError;

/// Ask for a specific crew, or for any crew with these skills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrewRequest {
    pub event_id: EventId,
    pub crew_id: Option<CrewId>,
    pub skills: Vec<String>,
    pub starts_at: Timestamp,
    pub ends_at: Option<Timestamp>,
}

/// The crew service's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrewAssignment {
    pub crew_id: CrewId,
    pub crew_name: Option<String>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CrewDirectory: Send + Sync {
    /// Assigns a crew. `AppError::Unavailable { dependency: "crew" }` when the service is down
    /// (the caller marks the event PENDING_RETRY); `Conflict` when no crew fits.
    async fn assign(&self, request: &CrewRequest) -> Result<CrewAssignment, AppError>;
    /// Releases the crew of a canceled event.
    async fn release(&self, event_id: EventId, crew_id: CrewId) -> Result<(), AppError>;
}

/// One request to backend-crew as it is kept in `crew_assignments`: what was asked, what came
/// back, and where the retries stand. The event row only says `crew_status`/`crew_id`; the
/// attempts, the next retry time, the crew's name and the last error live here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrewAssignmentRecord {
    pub id: i64,
    pub event_id: EventId,
    pub crew_id: Option<CrewId>,
    pub crew_name: Option<String>,
    pub skills: Vec<String>,
    pub status: CrewAssignmentStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A new `crew_assignments` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCrewAssignment {
    pub event_id: EventId,
    pub crew_id: Option<CrewId>,
    pub crew_name: Option<String>,
    pub skills: Vec<String>,
    pub status: CrewAssignmentStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

/// The `crew_assignments` table.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CrewAssignmentRepository: Send + Sync {
    async fn insert(&self, new: NewCrewAssignment) -> Result<CrewAssignmentRecord, AppError>;
    /// Writes every mutable column (crew, status, attempts, next attempt, error, updated_at).
    async fn update(&self, record: &CrewAssignmentRecord) -> Result<(), AppError>;
    /// One row, locked for update on PostgreSQL.
    async fn find_for_update(&self, id: i64) -> Result<Option<CrewAssignmentRecord>, AppError>;
    /// The rows of an event that are not RELEASED, newest first.
    async fn active_for_event(
        &self,
        event_id: EventId,
    ) -> Result<Vec<CrewAssignmentRecord>, AppError>;
    /// PENDING_RETRY rows whose `next_attempt_at` has come, oldest due first, locked with
    /// `SKIP LOCKED` so that instances claim disjoint rows.
    async fn claim_due_retries(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<CrewAssignmentRecord>, AppError>;
    /// Crews to give back to backend-crew: ASSIGNED rows of CANCELED events, and RELEASED rows
    /// whose release call is due (`next_attempt_at <= now`). Locked with `SKIP LOCKED`.
    async fn claim_due_releases(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<CrewAssignmentRecord>, AppError>;
}
