//! What the handlers share: the use cases and a few settings.

use std::sync::Arc;

use application::ports::{HealthIndicator, TrustedProxies};
use application::services::{
    AdminService, BookingService, CategoryService, CrewService, EventService, FavoriteService,
    IdempotencyService, JobService, LoyaltyService, PaymentService, PromoCodeService, RateLimits,
    ReadCache, ReviewService, WaitlistService,
};

use crate::dto::InfoResponse;
use crate::observe::AccessLog;

#[derive(Clone)]
pub struct ApiState {
    pub events: EventService,
    pub categories: CategoryService,
    pub crew: CrewService,
    pub bookings: BookingService,
    pub payments: PaymentService,
    pub favorites: FavoriteService,
    pub reviews: ReviewService,
    pub idempotency: IdempotencyService,
    pub promo_codes: PromoCodeService,
    pub loyalty: LoyaltyService,
    pub admin: AdminService,
    pub waitlist: WaitlistService,
    pub jobs: JobService,
    /// The catalog and details cache (`crate::cached`).
    pub read_cache: ReadCache,
    pub health: Vec<Arc<dyn HealthIndicator>>,
    /// Counted by the `rate_limit` middleware.
    pub rate_limits: RateLimits,
    pub info: InfoResponse,
    pub settings: HttpSettings,
    pub observability: Observability,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("info", &self.info)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// HTTP-level settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    /// Serve the sandbox payment page.
    pub sandbox_enabled: bool,
    /// Whose `X-Forwarded-For` (and gateway identity headers) are believed.
    pub trusted_proxies: TrustedProxies,
    /// Send `Strict-Transport-Security`.
    pub hsts: bool,
    /// Serve the OpenAPI document (`/api-docs/openapi.json`) and Swagger UI (`/docs`).
    pub api_docs: bool,
    pub access_log: AccessLog,
}

/// What the actuator's observability endpoints read, provided by bootstrap.
#[derive(Clone, Default)]
pub struct Observability {
    /// `/actuator/prometheus` and `/actuator/metrics`; `None` = metrics are not collected.
    pub metrics: Option<Arc<dyn MetricsSource>>,
    /// `/actuator/loggers`; `None` = the log filter cannot be changed at run time.
    pub log_levels: Option<Arc<dyn LogLevels>>,
}

impl std::fmt::Debug for Observability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observability")
            .field("metrics", &self.metrics.is_some())
            .field("log_levels", &self.log_levels.is_some())
            .finish()
    }
}

/// The Prometheus text of every metric of this instance (gauges read at scrape time are
/// refreshed first).
#[async_trait::async_trait]
pub trait MetricsSource: Send + Sync {
    async fn render(&self) -> String;
}

/// The log filter of the running process.
pub trait LogLevels: Send + Sync {
    /// The level of each configured target; `ROOT` is the default level.
    fn levels(&self) -> Vec<(String, String)>;
    /// Sets `target`'s level (`ROOT` for the default); `None` removes the target's own level.
    ///
    /// # Errors
    /// An unknown level, a malformed target, or `None` for `ROOT`.
    fn set(&self, target: &str, level: Option<&str>) -> Result<(), String>;
}
