//! Outbound HTTP calls to other platform services (backend-payment, backend-crew), shared by
//! the adapters that make them: one logical call goes through a circuit breaker, and transient
//! failures (transport errors, 5xx, 408, 429, an unreadable body) are retried with exponential
//! backoff. Any other answer is the service's word and goes to the caller's `answer` as is.
//!
//! Not an adapter: it implements no port, so adapters may share it without depending on each
//! other.

pub mod circuit_breaker;

use std::time::{Duration, Instant};

pub use circuit_breaker::CircuitBreaker;
use reqwest::{RequestBuilder, StatusCode};

/// The first retry waits this long; each further one twice as long (capped at `MAX_BACKOFF`).
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Why a call got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unanswered {
    /// The breaker is open: the call was not tried.
    CircuitOpen,
    /// Every attempt failed transiently; `reason` is the last failure.
    Failed { attempts: u32, reason: String },
}

/// Calls one service: its breaker and its retry budget.
#[derive(Debug)]
pub struct ResilientCaller {
    service: &'static str,
    breaker: CircuitBreaker,
    max_retries: u32,
}

enum Attempt<T> {
    Done(T),
    Transient(String),
}

impl ResilientCaller {
    /// `service` names the callee in logs; `breaker_threshold` 0 disables the breaker.
    #[must_use]
    pub fn new(
        service: &'static str,
        max_retries: u32,
        breaker_threshold: u32,
        breaker_cooldown: Duration,
    ) -> Self {
        Self {
            service,
            breaker: CircuitBreaker::new(service, breaker_threshold, breaker_cooldown),
            max_retries,
        }
    }

    /// Whether calls currently fail fast.
    #[must_use]
    pub fn circuit_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// The callee's health: `Err` while the breaker is open (calls fail fast) or when no TCP
    /// connection to `url`'s host and port opens within `timeout`. No request is sent, so a
    /// health check costs the callee nothing but a connection.
    ///
    /// # Errors
    /// Why the callee counts as down.
    pub async fn probe(&self, url: &reqwest::Url, timeout: Duration) -> Result<(), String> {
        if self.circuit_open() {
            return Err("circuit open: calls fail fast".to_owned());
        }
        let host = url.host_str().ok_or_else(|| "no host".to_owned())?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| "no port".to_owned())?;
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("{host}:{port}: {e}")),
            Err(_) => Err(format!("{host}:{port}: no connection within {timeout:?}")),
        }
    }

    /// Runs one logical call. `answer` turns the service's answer into the adapter's result;
    /// `unanswered` turns a call that got none into the adapter's error; `is_unavailable`
    /// tells which results count as failures for the breaker (an answer can say the service
    /// is not working, e.g. a body that does not parse).
    pub async fn call<T, E>(
        &self,
        operation: &'static str,
        request: impl Fn() -> RequestBuilder + Send + Sync,
        answer: impl Fn(StatusCode, &[u8]) -> Result<T, E> + Send + Sync,
        unanswered: impl Fn(Unanswered) -> E + Send + Sync,
        is_unavailable: impl Fn(&E) -> bool + Send + Sync,
    ) -> Result<T, E> {
        use tracing::Instrument as _;
        // a client span per logical call (retries included); its context is the
        // `traceparent` the callee receives
        let span = tracing::info_span!(
            "http.client",
            otel.kind = "client",
            peer.service = self.service,
            operation,
        );
        self.call_in(operation, request, answer, unanswered, is_unavailable)
            .instrument(span)
            .await
    }

    async fn call_in<T, E>(
        &self,
        operation: &'static str,
        request: impl Fn() -> RequestBuilder + Send + Sync,
        answer: impl Fn(StatusCode, &[u8]) -> Result<T, E> + Send + Sync,
        unanswered: impl Fn(Unanswered) -> E + Send + Sync,
        is_unavailable: impl Fn(&E) -> bool + Send + Sync,
    ) -> Result<T, E> {
        let service = self.service;
        let Some(permit) = self.breaker.admit(Instant::now()) else {
            tracing::debug!(service, operation, "circuit open; failing fast");
            return Err(unanswered(Unanswered::CircuitOpen));
        };
        let mut retry: u32 = 0;
        let outcome = loop {
            match attempt(&request, &answer).await {
                Attempt::Done(result) => break result,
                Attempt::Transient(why) if retry < self.max_retries => {
                    let backoff = backoff(retry);
                    tracing::warn!(service, operation, attempt = retry, error = %why, ?backoff, "call failed; retrying");
                    tokio::time::sleep(backoff).await;
                    retry += 1;
                }
                Attempt::Transient(why) => {
                    tracing::warn!(service, operation, attempts = retry + 1, error = %why, "service unavailable");
                    break Err(unanswered(Unanswered::Failed {
                        attempts: retry + 1,
                        reason: why,
                    }));
                }
            }
        };
        match &outcome {
            Err(e) if is_unavailable(e) => permit.failed(Instant::now()),
            _ => permit.succeeded(),
        }
        outcome
    }
}

async fn attempt<T, E>(
    request: &(impl Fn() -> RequestBuilder + Send + Sync),
    answer: &(impl Fn(StatusCode, &[u8]) -> Result<T, E> + Send + Sync),
) -> Attempt<Result<T, E>> {
    let response = match with_trace_context(request()).send().await {
        Ok(response) => response,
        Err(e) => return Attempt::Transient(transport_error(&e)),
    };
    let status = response.status();
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        return Attempt::Transient(format!("HTTP {status}"));
    }
    match response.bytes().await {
        Ok(body) => Attempt::Done(answer(status, &body)),
        Err(e) => Attempt::Transient(transport_error(&e)),
    }
}

fn backoff(retry: u32) -> Duration {
    FIRST_BACKOFF
        .checked_mul(1 << retry.min(16))
        .map_or(MAX_BACKOFF, |d| d.min(MAX_BACKOFF))
}

fn transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        error.to_string()
    }
}

/// Adds the W3C `traceparent` of the current span when OpenTelemetry traces are on, so the
/// called service continues the trace.
fn with_trace_context(request: RequestBuilder) -> RequestBuilder {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    if !span_context.is_valid() {
        return request;
    }
    request.header(
        "traceparent",
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_carry_the_trace_context_of_the_current_span() {
        use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
        use tracing::Instrument as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        use tracing_subscriber::layer::SubscriberExt as _;

        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let _default = tracing::subscriber::set_default(subscriber);
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .respond_with(wiremock::ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let client = reqwest::Client::new();
        let caller = ResilientCaller::new("test", 0, 0, Duration::from_secs(1));
        let caller = &caller;
        let call = |client: reqwest::Client, url: String| async move {
            caller
                .call(
                    "get",
                    || client.get(&url),
                    |status, _| Ok::<_, String>(status),
                    |_| "unanswered".to_owned(),
                    |_| false,
                )
                .await
        };
        let span = tracing::info_span!("outer");
        let trace_id = span.context().span().span_context().trace_id().to_string();
        let outer_span_id = span.context().span().span_context().span_id().to_string();
        call(client.clone(), server.uri())
            .instrument(span)
            .await
            .unwrap();
        call(client, server.uri()).await.unwrap();

        let received = server.received_requests().await.unwrap();
        let traceparent = received[0]
            .headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .unwrap();
        assert_eq!(traceparent.split('-').nth(1), Some(trace_id.as_str()));
        // the parent the callee sees is the call's own client span, not the caller's span
        assert_ne!(traceparent.split('-').nth(2), Some(outer_span_id.as_str()));
        // outside any span the call's client span starts a trace of its own
        let alone = received[1]
            .headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .unwrap();
        assert_ne!(alone.split('-').nth(1), Some(trace_id.as_str()));
    }

    #[tokio::test]
    async fn the_probe_reports_a_reachable_service_a_closed_port_and_an_open_circuit() {
        let server = wiremock::MockServer::start().await;
        let up = reqwest::Url::parse(&server.uri()).unwrap();
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            drop(listener);
            reqwest::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap()
        };
        let timeout = Duration::from_secs(1);
        let caller = ResilientCaller::new("test", 0, 1, Duration::from_secs(60));
        assert_eq!(caller.probe(&up, timeout).await, Ok(()));
        let down = caller.probe(&closed, timeout).await.unwrap_err();
        assert!(down.contains("127.0.0.1"), "{down}");

        // one failed call opens this breaker: the probe says so, reachable or not
        let client = reqwest::Client::new();
        let failed = caller
            .call(
                "get",
                || client.get(closed.clone()),
                |status, _| Ok::<_, String>(status),
                |_| "unanswered".to_owned(),
                |_| true,
            )
            .await;
        assert!(failed.is_err());
        let open = caller.probe(&up, timeout).await.unwrap_err();
        assert!(open.contains("circuit open"), "{open}");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), FIRST_BACKOFF);
        assert_eq!(backoff(1), FIRST_BACKOFF * 2);
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
