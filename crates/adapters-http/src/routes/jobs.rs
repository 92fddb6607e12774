//! The scheduled jobs over HTTP (mounted at the root, as in seed 002): `POST
//! /internal/jobs/{name}` runs a job now (ADMIN), `GET /actuator/scheduledtasks` lists every job
//! with its schedule and latest run (ADMIN).

use actix_web::{HttpResponse, get, post, web};
use application::services::{JobRunReport, ScheduledTask};
use chrono::{DateTime, Utc};
use domain::EventId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunJobParams {
    /// `process-waitlist`: only this event's waitlist.
    #[serde(rename = "eventId", alias = "event_id")]
    #[param(rename = "eventId")]
    pub event_id: Option<i64>,
}

/// The answer of a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobRunResponse {
    pub job: String,
    /// `SUCCEEDED`, `FAILED`, or `SKIPPED` (running elsewhere).
    pub outcome: &'static str,
    pub processed: u64,
    pub duration_ms: u64,
    pub started_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&JobRunReport> for JobRunResponse {
    fn from(r: &JobRunReport) -> Self {
        Self {
            job: r.job.clone(),
            outcome: r.outcome_text(),
            processed: r.processed(),
            duration_ms: millis(r.duration),
            started_at: r.started_at,
            error: r.error().map(str::to_owned),
        }
    }
}

/// Runs a job now and answers how it went (ADMIN). A job failing is a 200 with `outcome:
/// FAILED` and the error: the request itself succeeded.
#[utoipa::path(
    post, path = "/internal/jobs/{name}", tag = "jobs",
    params(("name" = String, Path, description = "expire-bookings, process-waitlist, …"), RunJobParams),
    responses(
        (status = 200, body = JobRunResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/internal/jobs/{name}")]
pub async fn run_job(
    state: web::Data<ApiState>,
    caller: Caller,
    name: web::Path<String>,
    params: web::Query<RunJobParams>,
) -> Result<HttpResponse, ApiError> {
    let report = state
        .jobs
        .trigger(&caller.0, &name, params.event_id.map(EventId))
        .await?;
    Ok(HttpResponse::Ok().json(JobRunResponse::from(&report)))
}

/// The latest recorded run of a job (any instance).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LastRunResponse {
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<u64>,
    pub processed: u64,
    pub error: Option<String>,
    pub instance: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduledTaskResponse {
    pub name: String,
    /// `every 60000ms` or `cron 0 0 * * * *`.
    pub schedule: String,
    pub last_run: Option<LastRunResponse>,
}

impl From<ScheduledTask> for ScheduledTaskResponse {
    fn from(t: ScheduledTask) -> Self {
        Self {
            name: t.name,
            schedule: t.schedule.to_string(),
            last_run: t.last_run.map(|r| LastRunResponse {
                started_at: r.started_at,
                finished_at: r.finished_at,
                duration_ms: r.finished_at.map(|f| {
                    u64::try_from((f - r.started_at).num_milliseconds()).unwrap_or_default()
                }),
                processed: r.processed,
                error: r.error,
                instance: r.instance,
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduledTasksResponse {
    pub tasks: Vec<ScheduledTaskResponse>,
}

/// Every scheduled job with its schedule and latest run (ADMIN).
#[utoipa::path(
    get, path = "/actuator/scheduledtasks", tag = "jobs",
    responses(
        (status = 200, body = ScheduledTasksResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/actuator/scheduledtasks")]
pub async fn scheduled_tasks(
    state: web::Data<ApiState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let tasks = state.jobs.scheduled_tasks(&caller.0).await?;
    Ok(HttpResponse::Ok().json(ScheduledTasksResponse {
        tasks: tasks.into_iter().map(ScheduledTaskResponse::from).collect(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(run_job).service(scheduled_tasks);
}
