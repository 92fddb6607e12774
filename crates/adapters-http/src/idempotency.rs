//! `Idempotency-Key` on POSTs that create things or move money: the first response is stored
//! (status and body) and replayed for the same key and the same request; the same key with a
//! different request is 422 `IDEMPOTENCY_KEY_REUSED`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use application::RequestContext;
use application::services::IdempotencyStart;
use application::services::idempotency::request_hash;
use serde::{Deserialize, Serialize};

use crate::problem::{ApiError, PROBLEM_JSON, problem_of, status_of};
use crate::state::ApiState;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";

/// A JSON answer that can be stored and replayed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonReply {
    pub status: u16,
    pub location: Option<String>,
    pub body: serde_json::Value,
}

impl JsonReply {
    pub fn created(location: String, body: &impl Serialize) -> Result<Self, ApiError> {
        Ok(Self {
            status: 201,
            location: Some(location),
            body: to_value(body)?,
        })
    }

    pub fn ok(body: &impl Serialize) -> Result<Self, ApiError> {
        Ok(Self {
            status: 200,
            location: None,
            body: to_value(body)?,
        })
    }

    fn into_response(self, replayed: bool) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = HttpResponse::build(status);
        response.content_type(if status.is_client_error() || status.is_server_error() {
            PROBLEM_JSON
        } else {
            "application/json"
        });
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.insert_header((header::LOCATION, location));
        }
        if replayed {
            response.insert_header((
                HeaderName::from_static(REPLAYED),
                HeaderValue::from_static("true"),
            ));
        }
        response.json(self.body)
    }
}

fn to_value(body: &impl Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(body)
        .map_err(|e| application::AppError::internal(format!("response serialization: {e}")).into())
}

/// Runs `work` once per key: replays a stored answer, refuses a reused key, stores the answer
/// (errors included, except 5xx which release the key for a retry).
pub async fn run<F, Fut, B>(
    state: &ApiState,
    req: &HttpRequest,
    ctx: &RequestContext,
    request: &B,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<JsonReply, ApiError>>,
    B: Serialize,
{
    let Some(raw) = req.headers().get(HEADER) else {
        return work().await.map(|r| r.into_response(false));
    };
    let key = raw.to_str().map_err(|_| {
        application::AppError::invalid("Idempotency-Key", "must be visible ASCII characters")
    })?;
    let operation = format!(
        "{} {}",
        req.method(),
        req.match_pattern().unwrap_or_else(|| req.path().to_owned())
    );
    let canonical = serde_json::to_vec(request)
        .map_err(|e| application::AppError::internal(format!("request serialization: {e}")))?;
    let hash = request_hash(&[operation.as_bytes(), req.path().as_bytes(), &canonical]);
    let user = ctx.actor.user_id();
    match state
        .idempotency
        .begin(key, user, &operation, &hash)
        .await?
    {
        IdempotencyStart::Replay { body, .. } => {
            let stored: JsonReply = serde_json::from_slice(&body).map_err(|e| {
                application::AppError::internal(format!("stored idempotent response: {e}"))
            })?;
            Ok(stored.into_response(true))
        }
        IdempotencyStart::Run(reservation) => {
            let reply = match work().await {
                Ok(reply) => reply,
                Err(ApiError(err)) => {
                    let status = status_of(&err);
                    if status.is_server_error() {
                        let _ = state
                            .idempotency
                            .finish(reservation, status.as_u16(), Vec::new())
                            .await;
                        return Err(ApiError(err));
                    }
                    let problem = problem_of(&err);
                    JsonReply {
                        status: status.as_u16(),
                        location: None,
                        body: to_value(&problem)?,
                    }
                }
            };
            let stored = serde_json::to_vec(&reply).map_err(|e| {
                application::AppError::internal(format!("reply serialization: {e}"))
            })?;
            state
                .idempotency
                .finish(reservation, reply.status, stored)
                .await?;
            Ok(reply.into_response(false))
        }
    }
}
