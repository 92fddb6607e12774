//! The one mapping table from `AppError` to HTTP: `application/problem+json` (RFC 9457) with a
//! stable `code`, field errors for validation failures, `Retry-After` for rate limits.
//! Internal errors are logged with the request id and answered without internals.
//!
//! Requests refused before they reach a use case (malformed JSON, oversize body, unknown route…)
//! are [`TransportError`]s: HTTP-only codes, rendered as the same problem+json.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use application::{AppError, ErrorCode};
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
    /// The request id (also in the `X-Request-Id` header): the key to the log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The trace id of the caller's `traceparent`, when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// An error answered as problem+json. Handlers return `Result<_, ApiError>`.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        Self(err)
    }
}

/// So that handlers can `?` the domain's input parsers (`EventStatus::parse_list`).
impl From<domain::DomainError> for ApiError {
    fn from(err: domain::DomainError) -> Self {
        Self(err.into())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The HTTP status of an error code: this edge's one table. Exhaustive, so a new code does not
/// compile until it has a status; `statuses_stay_in_the_family_of_their_kind` checks each status
/// against the code's transport-neutral [`application::ErrorKind`].
#[must_use]
pub const fn http_status(code: ErrorCode) -> StatusCode {
    use ErrorCode as C;
    match code {
        C::NotFound => StatusCode::NOT_FOUND,
        C::Forbidden => StatusCode::FORBIDDEN,
        C::Unauthenticated => StatusCode::UNAUTHORIZED,
        C::ValidationFailed | C::WebhookTimestampOutOfRange => StatusCode::BAD_REQUEST,
        // The request contradicts the one first sent under its key (IETF idempotency-key draft).
        C::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        C::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        C::ServiceUnavailable | C::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        C::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        C::InvalidTransition
        | C::EventNotBookable
        | C::BookingClosed
        | C::EventAlreadyStarted
        | C::EventNotFinished
        | C::SoldOut
        | C::CapacityBelowBooked
        | C::PriceOptionUnavailable
        | C::PriceOptionSoldOut
        | C::PromoCodeNotApplicable
        | C::PromoCodeInvalid
        | C::PaymentExceedsOutstanding
        | C::RefundExceedsPaid
        | C::PaymentDeadlinePassed
        | C::DeadlineNotReached
        | C::WaitlistOfferExpired
        | C::ReviewNotAllowed
        | C::SelfVote
        | C::InsufficientPoints
        | C::CategoryCycle
        | C::VersionConflict
        | C::AlreadyBooked
        | C::AlreadyOnWaitlist
        | C::AlreadyReviewed
        | C::CategoryExists
        | C::PromoCodeExists
        | C::PromoCodeAlreadyRedeemed
        | C::BookingNotPayable
        | C::PaymentAmountMismatch
        | C::PaymentRefused
        | C::RefundExceedsPolicy
        | C::SeatsAvailable
        | C::NoCrewAvailable
        | C::CrewRequestRefused
        | C::CrewReleaseRefused
        | C::IdempotencyKeyInUse
        | C::PaymentKeyReused
        | C::PaymentReferenceConflict
        | C::WebhookReplayed
        | C::SeatLimitPerUser
        | C::UnpaidSeatLimit => StatusCode::CONFLICT,
    }
}

/// The HTTP status of an application error.
#[must_use]
pub const fn status_of(err: &AppError) -> StatusCode {
    http_status(err.code())
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
    Problem::new(status, code.as_str(), detail, errors)
}

impl Problem {
    fn new(status: StatusCode, code: &str, detail: String, errors: Vec<ProblemField>) -> Self {
        Self {
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
            trace_id: None,
        }
    }

    /// The same, carrying the ids of the request being served (when there is one).
    #[must_use]
    pub fn with_request_ids(mut self) -> Self {
        if let Some(ids) = crate::observe::current_ids() {
            self.request_id = Some(ids.request_id);
            self.trace_id = ids.trace_id;
        }
        self
    }
}

/// A problem+json response for `err`.
#[must_use]
pub fn problem_response(err: &AppError) -> HttpResponse {
    if let AppError::Internal { detail } = err {
        tracing::error!(error = %detail, "internal error");
    }
    let problem = problem_of(err).with_request_ids();
    let mut response = HttpResponse::build(status_of(err));
    response.content_type(PROBLEM_JSON);
    if let Some(retry_after) = err.retry_after() {
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

/// The codes of requests refused by the HTTP layer itself, before any use case: they exist on
/// this edge only (gRPC has its own framing errors), so they are not [`ErrorCode`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportCode {
    /// The body is not JSON at all (a syntax error, not a wrong field).
    MalformedJson,
    /// The body is larger than `server.max_body_bytes`.
    PayloadTooLarge,
    /// A JSON body sent with another content type.
    UnsupportedMediaType,
    /// No route has this path.
    RouteNotFound,
    /// The path exists, the method does not (answered with `Allow`).
    MethodNotAllowed,
    /// Any other unreadable request.
    BadRequest,
}

impl TransportCode {
    pub const ALL: &'static [Self] = &[
        Self::MalformedJson,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RouteNotFound,
        Self::MethodNotAllowed,
        Self::BadRequest,
    ];

    /// The wire form, the `code` of the problem.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "MALFORMED_JSON",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RouteNotFound => "ROUTE_NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::BadRequest => "BAD_REQUEST",
        }
    }

    #[must_use]
    pub const fn status(self) -> StatusCode {
        match self {
            Self::MalformedJson | Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }
}

/// A request refused by the HTTP layer: answered as problem+json like an [`AppError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct TransportError {
    pub code: TransportCode,
    pub detail: String,
}

impl TransportError {
    #[must_use]
    pub fn new(code: TransportCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }

    #[must_use]
    pub fn problem(&self) -> Problem {
        Problem::new(
            self.code.status(),
            self.code.as_str(),
            self.detail.clone(),
            Vec::new(),
        )
    }

    #[must_use]
    pub fn response(&self) -> HttpResponse {
        HttpResponse::build(self.code.status())
            .content_type(PROBLEM_JSON)
            .json(self.problem().with_request_ids())
    }
}

impl ResponseError for TransportError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

#[cfg(test)]
mod tests {
    use application::ErrorKind;

    use super::*;

    /// The rule both edges follow (`docs/architecture.md`, "Errors"): the status family of
    /// each kind. gRPC's `status.rs` checks its table against the same kinds.
    fn family(kind: ErrorKind) -> &'static [StatusCode] {
        match kind {
            ErrorKind::InvalidInput => &[StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY],
            ErrorKind::Unauthenticated => &[StatusCode::UNAUTHORIZED],
            ErrorKind::Forbidden => &[StatusCode::FORBIDDEN],
            ErrorKind::NotFound => &[StatusCode::NOT_FOUND],
            ErrorKind::Conflict => &[StatusCode::CONFLICT],
            ErrorKind::RateLimited => &[StatusCode::TOO_MANY_REQUESTS],
            ErrorKind::Unavailable => &[StatusCode::SERVICE_UNAVAILABLE],
            ErrorKind::Internal => &[StatusCode::INTERNAL_SERVER_ERROR],
        }
    }

    #[test]
    fn statuses_stay_in_the_family_of_their_kind() {
        for &code in ErrorCode::ALL {
            let status = http_status(code);
            assert!(
                family(code.kind()).contains(&status),
                "{code} is {status} over HTTP, outside its kind {:?}",
                code.kind()
            );
        }
    }

    #[test]
    fn the_problem_carries_the_code_and_its_status() {
        let err = AppError::conflict(ErrorCode::IdempotencyKeyReused, "another request");
        let problem = problem_of(&err);
        assert_eq!(problem.status, 422);
        assert_eq!(problem.code, "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(problem.kind, "urn:problem:idempotency-key-reused");
        assert_eq!(problem.detail, "another request");
    }

    #[test]
    fn transport_codes_are_4xx_and_never_collide_with_use_case_codes() {
        for &code in TransportCode::ALL {
            assert!(code.status().is_client_error(), "{code:?}");
            assert!(
                ErrorCode::ALL.iter().all(|c| c.as_str() != code.as_str()),
                "{code:?} is also an ErrorCode"
            );
            let problem = TransportError::new(code, "why").problem();
            assert_eq!(
                (problem.status, problem.code.as_str()),
                (code.status().as_u16(), code.as_str())
            );
        }
    }
}
