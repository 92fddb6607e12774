//! gRPC server metrics, a tower layer around every service:
//! `grpc_server_request_duration_seconds{service, method, code}` (a histogram; its `_count`
//! is the call count). The code is the `grpc-status` of a trailers-only answer (every error
//! tonic returns from a unary handler), `OK` otherwise. Calls to a path no service knows are
//! recorded as `service="unknown", method="unknown"`, so a client cannot grow the label set.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::Code;
use tonic::codegen::http;

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
        let started = Instant::now();
        let call = self.inner.call(req);
        Box::pin(async move {
            let result = call.await;
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
