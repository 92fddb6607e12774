//! How malformed requests are answered: bad JSON, wrong types, unknown enum values, oversize
//! bodies, wrong content types, bad query strings and path segments all become 4xx
//! problem+json, never 500.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{HttpRequest, HttpResponse, web};
use application::AppError;

use crate::problem::{ApiError, problem_response};

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let app = match &err {
        JsonPayloadError::OverflowKnownLength { length, limit } => AppError::conflict(
            "PAYLOAD_TOO_LARGE",
            format!("the body has {length} bytes; the limit is {limit}"),
        ),
        JsonPayloadError::Overflow { limit } => AppError::conflict(
            "PAYLOAD_TOO_LARGE",
            format!("the body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => AppError::conflict(
            "UNSUPPORTED_MEDIA_TYPE",
            "the body must be JSON (Content-Type: application/json)",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => AppError::invalid("body", e.to_string()),
        JsonPayloadError::Deserialize(e) => {
            AppError::conflict("MALFORMED_JSON", format!("the body is not valid JSON: {e}"))
        }
        other => AppError::conflict("BAD_REQUEST", other.to_string()),
    };
    actix_web::error::InternalError::from_response(err, problem_response(&app)).into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let app = AppError::invalid("query", err.to_string());
    actix_web::error::InternalError::from_response(err, problem_response(&app)).into()
}

fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    let app = AppError::invalid("path", err.to_string());
    actix_web::error::InternalError::from_response(err, problem_response(&app)).into()
}

/// Registers the extractor configurations on an app or scope.
pub fn configure(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_body_bytes)
            .error_handler(json_error),
    )
    .app_data(web::QueryConfig::default().error_handler(query_error))
    .app_data(web::PathConfig::default().error_handler(path_error))
    .app_data(web::PayloadConfig::default().limit(max_body_bytes));
}

/// Unknown routes: 404 problem+json.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    problem_response(&AppError::conflict(
        "ROUTE_NOT_FOUND",
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

/// Parses a path id: positive 64-bit integer.
pub fn parse_id(raw: &str, field: &'static str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| AppError::invalid(field, "must be a positive integer").into())
}
