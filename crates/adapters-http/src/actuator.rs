//! `/actuator/health` (status for everyone, component details for ADMIN) and `/actuator/info`.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, web};
use futures_util::future::join_all;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
// Re-exported where the start-up code has always found it.
pub use crate::dto::InfoResponse;
use crate::state::ApiState;

/// One dependency in the health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentStatus {
    /// `UP` or `DOWN`.
    pub status: &'static str,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The health answer: `UP` when every critical component is up (200), `DOWN` otherwise (503).
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    pub status: &'static str,
    /// Only for ADMIN callers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<BTreeMap<String, ComponentStatus>>,
}

/// Liveness and readiness with the database status and latency.
#[utoipa::path(
    get,
    path = "/actuator/health",
    tag = "actuator",
    responses(
        (status = 200, description = "Every critical component is up", body = HealthResponse),
        (status = 503, description = "A critical component is down", body = HealthResponse),
    )
)]
#[get("/actuator/health")]
pub async fn health(state: web::Data<ApiState>, caller: Caller) -> HttpResponse {
    let checks = join_all(state.health.iter().map(|h| async move {
        let result = h.check().await;
        (h.name().to_owned(), h.critical(), result)
    }))
    .await;
    let up = checks.iter().all(|(_, critical, r)| r.up || !critical);
    let components = caller.0.actor.is_admin().then(|| {
        checks
            .into_iter()
            .map(|(name, _, r)| {
                (
                    name,
                    ComponentStatus {
                        status: if r.up { "UP" } else { "DOWN" },
                        latency_ms: r.latency.as_secs_f64() * 1000.0,
                        detail: r.detail,
                    },
                )
            })
            .collect()
    });
    let body = HealthResponse {
        status: if up { "UP" } else { "DOWN" },
        components,
    };
    if up {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// What everyone may know of the build.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicInfo {
    pub name: String,
    pub version: String,
}

/// Name and version for everyone; the profile, database and payment gateways for ADMIN only
/// (they tell an attacker which defaults to try).
#[utoipa::path(
    get,
    path = "/actuator/info",
    tag = "actuator",
    responses((status = 200, description = "Name and version; ADMIN also gets profile, database and payment_gateways (InfoResponse)", body = PublicInfo))
)]
#[get("/actuator/info")]
pub async fn info(state: web::Data<ApiState>, caller: Caller) -> HttpResponse {
    if caller.0.actor.is_admin() {
        return HttpResponse::Ok().json(&state.info);
    }
    HttpResponse::Ok().json(PublicInfo {
        name: state.info.name.clone(),
        version: state.info.version.clone(),
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health).service(info);
}
