//! `/actuator/health` with its Kubernetes probes `/actuator/health/liveness` and
//! `/actuator/health/readiness` (status for everyone, component details for ADMIN),
//! `/actuator/info`, `/actuator/prometheus` and `/actuator/metrics` (ADMIN) and
//! `/actuator/loggers` (ADMIN).
//!
//! On the management port (`management.port`, when set) the same endpoints answer without
//! credentials: that port is meant for scrapers and probes inside the cluster only.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, post, web};
use application::AppError;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::problem::ApiError;
// Re-exported where the start-up code has always found it.
pub use crate::dto::InfoResponse;
use crate::state::ApiState;

/// Registered in the app data of the management port's server: there the actuator answers
/// without credentials.
#[derive(Debug, Clone, Copy)]
pub struct ManagementPort;

/// Whether the caller may see details and admin-only endpoints: an ADMIN, or anyone on the
/// management port.
fn privileged(caller: &Caller, management: Option<&web::Data<ManagementPort>>) -> bool {
    management.is_some() || caller.0.actor.is_admin()
}

fn require_privileged(
    caller: &Caller,
    management: Option<&web::Data<ManagementPort>>,
) -> Result<(), ApiError> {
    if management.is_some() {
        return Ok(());
    }
    caller
        .0
        .actor
        .require_role(
            &[application::Role::Admin],
            "only admins read the actuator's metrics and loggers",
        )
        .map(drop)
        .map_err(ApiError)
}

/// One dependency in the health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentStatus {
    /// `UP` or `DOWN`.
    pub status: &'static str,
    /// Whether readiness fails when it is down.
    pub critical: bool,
    /// How long the check took.
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

/// The health of every component: `UP` (200) when every critical one is up, `DOWN` (503)
/// otherwise. The same answer as the readiness probe.
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
pub async fn health(
    state: web::Data<ApiState>,
    caller: Caller,
    management: Option<web::Data<ManagementPort>>,
) -> HttpResponse {
    readiness_answer(&state, privileged(&caller, management.as_ref())).await
}

/// Readiness (Kubernetes): whether this instance can serve — the database and every other
/// critical component up. 503 takes the pod out of the load balancer, without restarting it.
#[utoipa::path(
    get,
    path = "/actuator/health/readiness",
    tag = "actuator",
    responses(
        (status = 200, description = "Every critical component is up", body = HealthResponse),
        (status = 503, description = "A critical component is down", body = HealthResponse),
    )
)]
#[get("/actuator/health/readiness")]
pub async fn readiness(
    state: web::Data<ApiState>,
    caller: Caller,
    management: Option<web::Data<ManagementPort>>,
) -> HttpResponse {
    readiness_answer(&state, privileged(&caller, management.as_ref())).await
}

/// Liveness (Kubernetes): the process answers HTTP. Never checks a dependency, so a database
/// outage does not make Kubernetes restart every pod.
#[utoipa::path(
    get,
    path = "/actuator/health/liveness",
    tag = "actuator",
    responses((status = 200, description = "The process is alive", body = HealthResponse))
)]
#[get("/actuator/health/liveness")]
pub async fn liveness() -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse {
        status: "UP",
        components: None,
    })
}

/// Everyone gets the status, from the critical components alone (a slow optional dependency
/// never delays a probe); ADMIN callers get every component, checked at once.
async fn readiness_answer(state: &ApiState, details: bool) -> HttpResponse {
    let checked = state.health.iter().filter(|h| details || h.critical());
    let checks = join_all(checked.map(|h| async move {
        let result = h.check().await;
        (h.name().to_owned(), h.critical(), result)
    }))
    .await;
    let up = checks.iter().all(|(_, critical, r)| r.up || !critical);
    let components = details.then(|| {
        checks
            .into_iter()
            .map(|(name, critical, r)| {
                (
                    name,
                    ComponentStatus {
                        status: if r.up { "UP" } else { "DOWN" },
                        critical,
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

/// Every metric of this instance in the Prometheus text format (ADMIN, or the management port).
#[utoipa::path(
    get,
    path = "/actuator/prometheus",
    tag = "actuator",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String),
        (status = 401, description = "No credentials", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Metrics are not collected by this instance", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/actuator/prometheus")]
pub async fn prometheus(
    state: web::Data<ApiState>,
    caller: Caller,
    management: Option<web::Data<ManagementPort>>,
) -> Result<HttpResponse, ApiError> {
    require_privileged(&caller, management.as_ref())?;
    let source = metrics_source(&state)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(source.render().await))
}

/// The names of the metrics `/actuator/prometheus` exports.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricNames {
    pub names: Vec<String>,
}

/// The list of metric names (ADMIN, or the management port).
#[utoipa::path(
    get,
    path = "/actuator/metrics",
    tag = "actuator",
    responses(
        (status = 200, description = "Every exported metric name", body = MetricNames),
        (status = 401, description = "No credentials", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Metrics are not collected by this instance", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/actuator/metrics")]
pub async fn metric_names(
    state: web::Data<ApiState>,
    caller: Caller,
    management: Option<web::Data<ManagementPort>>,
) -> Result<HttpResponse, ApiError> {
    require_privileged(&caller, management.as_ref())?;
    let text = metrics_source(&state)?.render().await;
    Ok(HttpResponse::Ok().json(MetricNames {
        names: names_in(&text),
    }))
}

fn metrics_source(
    state: &ApiState,
) -> Result<&std::sync::Arc<dyn crate::state::MetricsSource>, ApiError> {
    state
        .observability
        .metrics
        .as_ref()
        .ok_or(ApiError(AppError::NotFound {
            entity: "metrics endpoint",
        }))
}

/// The metric names declared (`# TYPE name kind`) in a Prometheus text, sorted, once each.
#[must_use]
pub fn names_in(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The log level of each configured target (`ROOT` is the default level).
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggersResponse {
    pub levels: BTreeMap<String, String>,
}

/// A new level for one target: a JSON object with `level` and nothing else.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoggerLevel {
    /// `off`, `error`, `warn`, `info`, `debug`, `trace`; `null` removes the target's own level.
    /// Required: a body without it changes nothing and is refused.
    #[schema(pattern = r"^(off|error|warn|info|debug|trace)$", required = true)]
    #[serde(deserialize_with = "Option::deserialize")]
    pub level: Option<String>,
}

/// The log levels in force (ADMIN, or the management port).
#[utoipa::path(
    get,
    path = "/actuator/loggers",
    tag = "actuator",
    responses(
        (status = 200, description = "The level of each configured target", body = LoggersResponse),
        (status = 401, description = "No credentials", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/actuator/loggers")]
pub async fn loggers(
    state: web::Data<ApiState>,
    caller: Caller,
    management: Option<web::Data<ManagementPort>>,
) -> Result<HttpResponse, ApiError> {
    require_privileged(&caller, management.as_ref())?;
    let levels = state
        .observability
        .log_levels
        .as_ref()
        .map(|l| l.levels().into_iter().collect())
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(LoggersResponse { levels }))
}

/// Changes the level of one log target in the running process (ADMIN, or the management
/// port), e.g. `sqlx::query` to `debug` to log every SQL statement.
#[utoipa::path(
    post,
    path = "/actuator/loggers/{target}",
    tag = "actuator",
    params(("target" = String, Path, pattern = r"^[A-Za-z0-9_:-]{1,200}$", description = "A tracing target (`sqlx::query`, `adapters_http`) or `ROOT`")),
    request_body = LoggerLevel,
    responses(
        (status = 200, description = "The levels now in force", body = LoggersResponse),
        (status = 400, description = "Unknown level or malformed target", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No credentials", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "The log filter cannot be changed in this process", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/actuator/loggers/{target}")]
pub async fn set_logger(
    state: web::Data<ApiState>,
    caller: Caller,
    management: Option<web::Data<ManagementPort>>,
    target: web::Path<String>,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    require_privileged(&caller, management.as_ref())?;
    // An object only: serde would also read a struct from an array (`[null]`).
    let body: LoggerLevel = serde_json::from_value(serde_json::Value::Object(body.into_inner()))
        .map_err(|e| ApiError(AppError::invalid("body", e.to_string())))?;
    let levels = state
        .observability
        .log_levels
        .as_ref()
        .ok_or(ApiError(AppError::NotFound {
            entity: "log level control",
        }))?;
    levels
        .set(&target, body.level.as_deref())
        .map_err(|message| ApiError(AppError::invalid("level", message)))?;
    tracing::warn!(target = %target, level = ?body.level, by = ?caller.0.actor, "log level changed");
    Ok(HttpResponse::Ok().json(LoggersResponse {
        levels: levels.levels().into_iter().collect(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // the probes before `/actuator/health` is matched on its own
    cfg.service(liveness)
        .service(readiness)
        .service(health)
        .service(info)
        .service(prometheus)
        .service(metric_names)
        .service(loggers)
        .service(set_logger);
}

#[cfg(test)]
mod tests {
    use super::names_in;

    #[test]
    fn metric_names_come_from_the_type_lines() {
        let text = "# TYPE b_total counter\nb_total 1\n# HELP a help\n# TYPE a gauge\na 2\n";
        assert_eq!(names_in(text), ["a", "b_total"]);
    }
}
