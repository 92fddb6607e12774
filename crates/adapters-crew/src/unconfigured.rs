//! The directory of an instance without `services.crew.url` (the embedded default): every
//! call answers "unavailable", so crew requests are kept PENDING_RETRY and assigned once a crew
//! service is configured, instead of failing or being invented.

use async_trait::async_trait;
use domain::{CrewId, EventId};
use ports::AppError;
use ports::{CrewAssignment, CrewDirectory, CrewRequest};

#[derive(Debug, Clone, Copy, Default)]
pub struct UnconfiguredCrewDirectory;

#[async_trait]
impl CrewDirectory for UnconfiguredCrewDirectory {
    async fn assign(&self, _request: &CrewRequest) -> Result<CrewAssignment, AppError> {
        Err(AppError::Unavailable { dependency: "crew" })
    }

    async fn release(&self, _event_id: EventId, _crew_id: CrewId) -> Result<(), AppError> {
        Err(AppError::Unavailable { dependency: "crew" })
    }
}
