//! The `crew` health component (only when backend-crew is configured): up while the client's
//! circuit breaker is closed and a connection to backend-crew opens. Not critical: a crew
//! assignment that fails is retried by the `crew-retry` job.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use ports::{ComponentHealth, HealthIndicator};

use crate::http::HttpCrewDirectory;

/// Health of the crew service client.
#[derive(Debug, Clone)]
pub struct CrewHealth(pub Arc<HttpCrewDirectory>);

#[async_trait]
impl HealthIndicator for CrewHealth {
    fn name(&self) -> &str {
        "crew"
    }

    fn critical(&self) -> bool {
        false
    }

    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        let outcome = self.0.probe().await;
        ComponentHealth {
            up: outcome.is_ok(),
            latency: started.elapsed(),
            detail: Some(outcome.err().unwrap_or_else(|| "reachable".to_owned())),
        }
    }
}
