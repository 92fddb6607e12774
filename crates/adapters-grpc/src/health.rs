//! `grpc.health.v1.Health` answers from the same [`HealthIndicator`]s as `/actuator/health`:
//! SERVING while every critical indicator is up, NOT_SERVING otherwise, for the whole server
//! (`""`) and for `org.aquastream.event.EventService`. The indicators are checked once before
//! the server accepts calls and then every interval, so a health call never waits for a
//! database round trip.

use std::sync::Arc;
use std::time::Duration;

use application::ports::HealthIndicator;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::pb::event_service_server::EventServiceServer;
use crate::service::EventGrpc;

/// What the health service watches.
#[derive(Clone)]
pub struct HealthSettings {
    pub indicators: Vec<Arc<dyn HealthIndicator>>,
    /// How often the indicators are checked again.
    pub interval: Duration,
}

impl std::fmt::Debug for HealthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthSettings")
            .field("indicators", &self.indicators.len())
            .field("interval", &self.interval)
            .finish()
    }
}

/// Whether the service can serve: every critical indicator is up.
pub(crate) async fn serving(indicators: &[Arc<dyn HealthIndicator>]) -> bool {
    for indicator in indicators.iter().filter(|i| i.critical()) {
        let health = indicator.check().await;
        if !health.up {
            tracing::warn!(component = indicator.name(), detail = ?health.detail, "gRPC health: NOT_SERVING");
            return false;
        }
    }
    true
}

/// Checks the indicators and publishes the result.
pub(crate) async fn refresh(reporter: &HealthReporter, indicators: &[Arc<dyn HealthIndicator>]) {
    let status = if serving(indicators).await {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    reporter.set_service_status("", status).await;
    reporter
        .set_service_status(
            <EventServiceServer<EventGrpc> as NamedService>::NAME,
            status,
        )
        .await;
}

/// Refreshes forever, every `interval` (the first refresh is done by the caller).
pub(crate) async fn watch(reporter: HealthReporter, settings: HealthSettings) {
    let mut ticks = tokio::time::interval(settings.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        refresh(&reporter, &settings.indicators).await;
    }
}

#[cfg(test)]
mod tests {
    use application::ports::ComponentHealth;
    use application::ports::health::MockHealthIndicator;

    use super::*;

    fn indicator(critical: bool, up: bool) -> Arc<dyn HealthIndicator> {
        let mut mock = MockHealthIndicator::new();
        mock.expect_name().return_const("db".to_owned());
        mock.expect_critical().return_const(critical);
        mock.expect_check().returning(move || ComponentHealth {
            up,
            latency: Duration::ZERO,
            detail: None,
        });
        Arc::new(mock)
    }

    #[tokio::test]
    async fn only_critical_indicators_decide() {
        assert!(serving(&[]).await);
        assert!(serving(&[indicator(true, true), indicator(false, false)]).await);
        assert!(!serving(&[indicator(true, true), indicator(true, false)]).await);
    }
}
