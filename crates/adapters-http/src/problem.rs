//! The one mapping table from `AppError` to HTTP: `application/problem+json` (RFC 9457) with a
//! stable `code`, field errors for validation failures, `Retry-After` for rate limits.
//! Internal errors are logged with the request id and answered without internals.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use application::AppError;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a `VALIDATION_FAILED` problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemField {
    /// The field, as named in the request (`quantity`, `price_options[0].price`, query `size`).
    pub field: String,
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:problem:<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code: `SOLD_OUT`, `VERSION_CONFLICT`, `VALIDATION_FAILED`, …
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An error answered as problem+json. Handlers return `Result<_, ApiError>`.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        Self(err)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The HTTP status of an application error.
#[must_use]
pub fn status_of(err: &AppError) -> StatusCode {
    match err {
        AppError::NotFound { .. } => StatusCode::NOT_FOUND,
        AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
        AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
        AppError::Conflict { code, .. } => match *code {
            "IDEMPOTENCY_KEY_REUSED" => StatusCode::UNPROCESSABLE_ENTITY,
            "PRECONDITION_FAILED" => StatusCode::PRECONDITION_FAILED,
            "PAYLOAD_TOO_LARGE" => StatusCode::PAYLOAD_TOO_LARGE,
            "UNSUPPORTED_MEDIA_TYPE" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "METHOD_NOT_ALLOWED" => StatusCode::METHOD_NOT_ALLOWED,
            "BAD_REQUEST" | "MALFORMED_JSON" | "IDEMPOTENCY_KEY_INVALID" => StatusCode::BAD_REQUEST,
            "ROUTE_NOT_FOUND" => StatusCode::NOT_FOUND,
            _ => StatusCode::CONFLICT,
        },
        AppError::Validation { .. } => StatusCode::BAD_REQUEST,
        AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The problem document of an application error (without the request id).
#[must_use]
pub fn problem_of(err: &AppError) -> Problem {
    let status = status_of(err);
    let code = err.code();
    let (detail, errors) = match err {
        AppError::Validation { fields } => (
            "the request is invalid; see `errors`".to_owned(),
            fields
                .iter()
                .map(|f| ProblemField {
                    field: f.field.clone(),
                    message: f.message.clone(),
                })
                .collect(),
        ),
        AppError::Internal { .. } => (
            "an unexpected error occurred; it has been logged with the request id".to_owned(),
            Vec::new(),
        ),
        AppError::Unauthenticated => (
            "valid credentials are required: a Bearer token (or the gateway headers where enabled)"
                .to_owned(),
            Vec::new(),
        ),
        other => (other.to_string(), Vec::new()),
    };
    Problem {
        kind: format!(
            "urn:problem:{}",
            code.to_ascii_lowercase().replace('_', "-")
        ),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        code: code.to_owned(),
        errors,
        request_id: None,
    }
}

/// A problem+json response for `err`.
#[must_use]
pub fn problem_response(err: &AppError) -> HttpResponse {
    if let AppError::Internal { detail } = err {
        tracing::error!(error = %detail, "internal error");
    }
    let problem = problem_of(err);
    let mut response = HttpResponse::build(status_of(err));
    response.content_type(PROBLEM_JSON);
    if let AppError::RateLimited { retry_after } = err {
        let secs = retry_after.as_secs().max(1);
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            response.insert_header((header::RETRY_AFTER, value));
        }
    }
    if matches!(err, AppError::Unauthenticated) {
        response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
    }
    response.json(problem)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        problem_response(&self.0)
    }
}

/// A 4xx that is not a business rule: malformed JSON, wrong content type, unknown route…
#[must_use]
pub fn bad_request(detail: impl Into<String>) -> AppError {
    AppError::conflict("BAD_REQUEST", detail)
}
