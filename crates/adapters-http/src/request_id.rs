//! The request id: taken from `X-Request-Id` when the caller (or the gateway) sent a sane one,
//! generated otherwise; stored in the request extensions, echoed in the response header and
//! recorded on every log line of the request.

/// The id of one request, as stored in the request extensions by the request-id middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The header that carries it both ways.
pub const HEADER: &str = "x-request-id";

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

/// A caller-supplied id is kept when it is short and printable; anything else is replaced.
fn sanitize(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')))
    .then(|| value.to_owned())
}

/// Middleware: assigns the request id, runs the request inside a span carrying it (so every
/// log line of the request has it), logs one line per request, and sets the response header.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(sanitize)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "http_request",
        request_id = %id,
        method = %req.method(),
        path = %application::ports::redaction::loggable_path(req.path()),
    );
    let started = std::time::Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    match result {
        Ok(mut response) => {
            let status = response.status().as_u16();
            tracing::info!(
                status,
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request finished"
            );
            if let Ok(value) = HeaderValue::from_str(&id) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(HEADER), value);
            }
            Ok(response)
        }
        Err(err) => {
            tracing::warn!(error = %err, "request failed");
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn keeps_sane_ids_and_drops_the_rest() {
        assert_eq!(sanitize("abc-123").as_deref(), Some("abc-123"));
        assert_eq!(sanitize(""), None);
        assert_eq!(sanitize("a b"), None);
        assert_eq!(sanitize(&"x".repeat(129)), None);
        assert_eq!(sanitize("<script>"), None);
    }
}
