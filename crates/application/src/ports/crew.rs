//! backend-crew: crew assignment for events (PRODUCT.md §9).

use async_trait::async_trait;
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
