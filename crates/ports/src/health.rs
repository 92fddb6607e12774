//! Health indicators for `/actuator/health` and the gRPC health service.

use std::time::Duration;

use async_trait::async_trait;

/// The state of one dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentHealth {
    pub up: bool,
    /// How long the check took.
    pub latency: Duration,
    /// Backend, version, or why it is down. Shown only to admins.
    pub detail: Option<String>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait HealthIndicator: Send + Sync {
    /// `db`, `broker`, `cache`, `payment`, …
    fn name(&self) -> &str;
    /// Whether the service is unusable without it (readiness fails when a critical one is down).
    fn critical(&self) -> bool;
    async fn check(&self) -> ComponentHealth;
}
