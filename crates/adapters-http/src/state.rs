//! What the handlers share: the use cases and a few settings.

use std::sync::Arc;

use application::ports::{HealthIndicator, TrustedProxies};
use application::services::{
    AdminService, BookingService, CategoryService, CrewService, EventService, FavoriteService,
    IdempotencyService, JobService, LoyaltyService, PaymentService, PromoCodeService,
    ReviewService, WaitlistService,
};

use crate::dto::InfoResponse;

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
    pub health: Vec<Arc<dyn HealthIndicator>>,
    pub info: InfoResponse,
    pub settings: HttpSettings,
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
}
