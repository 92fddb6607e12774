//! gRPC server metrics and traces, a tower layer around every service:
//! `grpc_server_request_duration_seconds{service, method, code}` (a histogram; its `_count`
//! is the call count). The code is the `grpc-status` of a trailers-only answer (every error
//! tonic returns from a unary handler), `OK` otherwise. Calls to a path no service knows are
//! recorded as `service="unknown", method="unknown"`, so a client cannot grow the label set.
//!
//! Every call runs inside a `grpc_request` span (`rpc.system`, `rpc.service`, `rpc.method`,
//! `rpc.grpc.status_code`); with traces on ([`enable_trace_context`]) it continues the
//! caller's W3C `traceparent` from the request metadata.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::trace::TraceContextExt as _;
use tonic::Code;
use tonic::codegen::http;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub const REQUEST_DURATION: &str = "grpc_server_request_duration_seconds";

/// The layer added to the server builder.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsLayer;

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Metrics { inner }
    }
}

/// The service the layer wraps around the router.
#[derive(Debug, Clone)]
pub struct Metrics<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for Metrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (service, method) = split_path(req.uri().path());
        let span = call_span(&req, &service, &method);
        let started = Instant::now();
        let call = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        Box::pin(async move {
            let result = call.instrument(span.clone()).await;
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .map_or(Code::Ok, |v| Code::from_bytes(v.as_bytes())),
                Err(_) => Code::Internal,
            };
            let (service, method) = if code == Code::Unimplemented {
                ("unknown".to_owned(), "unknown".to_owned())
            } else {
                (service, method)
            };
            span.record("rpc.grpc.status_code", code as i32);
            metrics::histogram!(
                REQUEST_DURATION,
                "service" => service,
                "method" => method,
                "code" => code_name(code),
            )
            .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// Set once by bootstrap when traces are exported: calls then read the W3C trace context.
static TRACE_CONTEXT: AtomicBool = AtomicBool::new(false);

/// Makes calls continue the caller's trace (the global propagator must be set).
pub fn enable_trace_context() {
    TRACE_CONTEXT.store(true, Ordering::Relaxed);
}

/// The request metadata (HTTP/2 headers) as an OpenTelemetry extractor.
struct Metadata<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for Metadata<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The span of one call, a child of the caller's trace context when traces are on.
fn call_span<B>(req: &http::Request<B>, service: &str, method: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc_request",
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    if TRACE_CONTEXT.load(Ordering::Relaxed) {
        let parent =
            opentelemetry::global::get_text_map_propagator(|p| p.extract(&Metadata(req.headers())));
        let _ = span.set_parent(parent);
        let context = span.context();
        let span_context = context.span().span_context().clone();
        if span_context.is_valid() {
            span.record("trace_id", span_context.trace_id().to_string().as_str());
        }
    }
    span
}

/// `/package.Service/Method` → (`package.Service`, `Method`).
fn split_path(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    if service.is_empty() || method.is_empty() {
        return ("unknown".to_owned(), "unknown".to_owned());
    }
    (service.to_owned(), method.to_owned())
}

/// The canonical name of a status code (`NOT_FOUND`).
const fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_splits_into_service_and_method() {
        assert_eq!(
            split_path("/aquastream.event.v1.EventService/GetEvent"),
            (
                "aquastream.event.v1.EventService".to_owned(),
                "GetEvent".to_owned()
            )
        );
        assert_eq!(
            split_path("/nonsense"),
            ("unknown".to_owned(), "unknown".to_owned())
        );
        assert_eq!(code_name(Code::from_bytes(b"5")), "NOT_FOUND");
    }
}
