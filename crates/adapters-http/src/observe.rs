//! The per-request edge middleware: the request id, the trace context (the caller's W3C
//! `traceparent` is honoured: with OpenTelemetry on, the request's span continues the caller's
//! trace; its `trace_id` and `span_id` are on every log line of the request), the HTTP metrics
//! by route *template*, and the access log as configured.
//!
//! Metrics (through the `metrics` facade; bootstrap installs the Prometheus recorder):
//! - `http_server_request_duration_seconds{method, route, status}`: a histogram; its `_count`
//!   is the request count. `route` is the matched pattern (`/api/v1/events/{id}`), never the
//!   raw path; requests no route matched are `route="unmatched"`.
//! - `http_server_active_requests`: requests in flight.
//!
//! Access log: `all` logs one INFO line per request, `errors` only the answers ≥ 500 (WARN),
//! `off` none; a request slower than `slow_request_ms` is always logged (WARN).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use opentelemetry::trace::TraceContextExt as _;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::request_id::{HEADER, RequestId, sanitize};
use crate::state::ApiState;

pub const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
pub const ACTIVE_REQUESTS: &str = "http_server_active_requests";

/// Which requests get an access-log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLogMode {
    /// Every request (INFO).
    All,
    /// Answers with a 5xx status and failed requests (WARN).
    #[default]
    Errors,
    /// None (slow requests are still logged).
    Off,
}

impl AccessLogMode {
    /// `all`, `errors` or `off`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "all" => Some(Self::All),
            "errors" => Some(Self::Errors),
            "off" => Some(Self::Off),
            _ => None,
        }
    }
}

/// The access-log settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessLog {
    pub mode: AccessLogMode,
    /// Requests slower than this are logged whatever the mode.
    pub slow_request: Duration,
}

impl Default for AccessLog {
    fn default() -> Self {
        Self {
            mode: AccessLogMode::Errors,
            slow_request: Duration::from_millis(1000),
        }
    }
}

/// The ids a problem+json body carries, for the request being served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestIds {
    pub request_id: String,
    /// The request's trace id: its span's with OpenTelemetry on, else the one of the caller's
    /// `traceparent`, when it sent a valid one.
    pub trace_id: Option<String>,
}

/// Set once by bootstrap when traces are exported: requests then read the W3C trace context.
static TRACE_CONTEXT: AtomicBool = AtomicBool::new(false);

/// Makes requests continue the caller's trace (the global propagator must be set).
pub fn enable_trace_context() {
    TRACE_CONTEXT.store(true, Ordering::Relaxed);
}

/// The request headers as an OpenTelemetry extractor.
struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .map(actix_web::http::header::HeaderName::as_str)
            .collect()
    }
}

/// Parents `span` on the caller's trace context and answers the (trace id, span id) the
/// request's log lines carry, when OpenTelemetry is on.
fn continue_trace(span: &tracing::Span, req: &ServiceRequest) -> Option<(String, String)> {
    if !TRACE_CONTEXT.load(Ordering::Relaxed) {
        return None;
    }
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(req.headers())));
    let _ = span.set_parent(parent);
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| {
        (
            span_context.trace_id().to_string(),
            span_context.span_id().to_string(),
        )
    })
}

tokio::task_local! {
    static CURRENT: RequestIds;
}

/// The ids of the request this task is serving, if any.
#[must_use]
pub fn current_ids() -> Option<RequestIds> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), when valid.
#[must_use]
pub fn trace_id_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2)
        && (version != "00" || parts.next().is_none());
    valid.then(|| trace.to_owned())
}

/// A bounded method label: the standard methods by name, anything else `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Decrements the in-flight gauge however the request ends (a dropped connection included).
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        metrics::gauge!(ACTIVE_REQUESTS).increment(1.0);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(ACTIVE_REQUESTS).decrement(1.0);
    }
}

/// Middleware: assigns the request id, runs the request inside a span carrying it (and the
/// caller's trace id), records the HTTP metrics, logs as configured and sets the response
/// header.
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
    let caller_trace_id = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(trace_id_of);
    let access = req
        .app_data::<web::Data<ApiState>>()
        .map(|s| s.settings.access_log)
        .unwrap_or_default();
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = method_label(req.method());
    let span = tracing::info_span!(
        "http_request",
        request_id = %id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        otel.kind = "server",
        method = %req.method(),
        path = %application::ports::redaction::loggable_path(req.path()),
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    let trace_id = match continue_trace(&span, &req) {
        Some((trace_id, span_id)) => {
            span.record("span_id", span_id.as_str());
            Some(trace_id)
        }
        None => caller_trace_id,
    };
    if let Some(trace_id) = &trace_id {
        span.record("trace_id", trace_id.as_str());
    }
    let ids = RequestIds {
        request_id: id.clone(),
        trace_id,
    };
    let in_flight = InFlight::enter();
    let started = Instant::now();
    let result = CURRENT
        .scope(ids, next.call(req))
        .instrument(span.clone())
        .await;
    let elapsed = started.elapsed();
    drop(in_flight);
    let _entered = span.enter();
    let slow = elapsed > access.slow_request;
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    match result {
        Ok(mut response) => {
            let status = response.status();
            let route = response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned());
            span.record("http.route", route.as_str());
            span.record("http.response.status_code", status.as_u16());
            metrics::histogram!(
                REQUEST_DURATION,
                "method" => method,
                "route" => route.clone(),
                "status" => status.as_str().to_owned(),
            )
            .record(elapsed.as_secs_f64());
            if slow {
                tracing::warn!(status = status.as_u16(), %route, elapsed_ms, "slow request");
            } else if status.is_server_error() && access.mode != AccessLogMode::Off {
                tracing::warn!(status = status.as_u16(), %route, elapsed_ms, "request failed");
            } else if access.mode == AccessLogMode::All {
                tracing::info!(status = status.as_u16(), %route, elapsed_ms, "request finished");
            }
            if let Ok(value) = HeaderValue::from_str(&id) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(HEADER), value);
            }
            Ok(response)
        }
        Err(err) => {
            let status = err.as_response_error().status_code();
            metrics::histogram!(
                REQUEST_DURATION,
                "method" => method,
                "route" => "unmatched",
                "status" => status.as_str().to_owned(),
            )
            .record(elapsed.as_secs_f64());
            if access.mode != AccessLogMode::Off || slow {
                tracing::warn!(error = %err, elapsed_ms, "request failed");
            }
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_trace_id_of_a_valid_traceparent_only() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            trace_id_of(&format!("00-{trace}-00f067aa0ba902b7-01")).as_deref(),
            Some(trace)
        );
        assert_eq!(
            trace_id_of("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(
            trace_id_of(&format!("00-{trace}-0000000000000000-01")),
            None
        );
        assert_eq!(
            trace_id_of(&format!("ff-{trace}-00f067aa0ba902b7-01")),
            None
        );
        assert_eq!(
            trace_id_of(&format!("00-{trace}-00f067aa0ba902b7-01-x")),
            None
        );
        assert_eq!(trace_id_of("garbage"), None);
        assert_eq!(
            trace_id_of(&format!("00-{}-00f067aa0ba902b7-01", trace.to_uppercase())),
            None
        );
    }

    #[test]
    fn access_log_modes_parse() {
        assert_eq!(AccessLogMode::parse("all"), Some(AccessLogMode::All));
        assert_eq!(AccessLogMode::parse("errors"), Some(AccessLogMode::Errors));
        assert_eq!(AccessLogMode::parse("off"), Some(AccessLogMode::Off));
        assert_eq!(AccessLogMode::parse("verbose"), None);
    }
}
