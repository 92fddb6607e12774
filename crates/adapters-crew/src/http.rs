//! The client of the platform's backend-crew service.
//!
//! Contract (see `docs/crew-integration.md`):
//! * `PUT {base}/api/v1/events/{event_id}/crew` `{crew_id?, skills, starts_at, ends_at?}` →
//!   200 `{crew_id, crew_name?}`; 404 unknown crew; 409 no crew fits; 400/422 bad request.
//! * `DELETE {base}/api/v1/events/{event_id}/crew/{crew_id}` → 2xx; 404 means the crew is not
//!   held for the event (already released), which is success too.
//!
//! Both calls are idempotent (PUT sets the crew of an event, DELETE removes it), so transport
//! failures (timeouts, refused connections, 5xx, 408, 429) are retried with a short exponential
//! backoff and end as `AppError::Unavailable { dependency: "crew" }`. A circuit breaker stops
//! calling a service that keeps failing.

use std::time::Duration;

use async_trait::async_trait;
use domain::{CrewId, EventId, Timestamp};
use ports::{AppError, ErrorCode};
use ports::{CrewAssignment, CrewDirectory, CrewRequest};
use reqwest::{RequestBuilder, StatusCode, Url};
use resilient_http::ResilientCaller;
use serde::{Deserialize, Serialize};

const UNAVAILABLE: AppError = AppError::Unavailable { dependency: "crew" };

/// Settings of the backend-crew client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCrewConfig {
    /// backend-crew's address (`services.crew.url`), e.g. `http://backend-crew:8106`.
    pub base_url: String,
    /// Per attempt, connection included (`services.crew.timeout_ms`).
    pub timeout: Duration,
    /// Retries after the first attempt of a call that failed in transport.
    pub max_retries: u32,
    /// Consecutive unavailable calls that open the circuit (0 disables the breaker).
    pub breaker_threshold: u32,
    /// How long an open circuit fails fast before letting one probe through.
    pub breaker_cooldown: Duration,
}

impl HttpCrewConfig {
    /// The defaults with the given address.
    #[must_use]
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            timeout: Duration::from_secs(3),
            max_retries: 2,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

/// A configuration the client cannot be built from (a bad base URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCrewConfig(pub String);

impl std::fmt::Display for InvalidCrewConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid crew service configuration: {}", self.0)
    }
}

impl std::error::Error for InvalidCrewConfig {}

/// backend-crew over HTTP.
#[derive(Debug)]
pub struct HttpCrewDirectory {
    client: reqwest::Client,
    base_url: Url,
    caller: ResilientCaller,
    /// How long a health probe waits for a connection.
    probe_timeout: std::time::Duration,
}

#[derive(Serialize)]
struct AssignBody<'a> {
    crew_id: Option<i64>,
    skills: &'a [String],
    starts_at: Timestamp,
    ends_at: Option<Timestamp>,
}

#[derive(Deserialize)]
struct AssignAnswer {
    crew_id: i64,
    crew_name: Option<String>,
}

impl HttpCrewDirectory {
    /// Builds the client; fails on a base URL that is not an absolute http(s) URL.
    pub fn new(config: HttpCrewConfig) -> Result<Self, InvalidCrewConfig> {
        let base_url = Url::parse(config.base_url.trim())
            .map_err(|e| InvalidCrewConfig(format!("base_url {:?}: {e}", config.base_url)))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(InvalidCrewConfig(format!(
                "base_url {:?} must be an http(s) URL",
                config.base_url
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| InvalidCrewConfig(format!("http client: {e}")))?;
        Ok(Self {
            client,
            base_url,
            caller: ResilientCaller::new(
                "crew service",
                config.max_retries,
                config.breaker_threshold,
                config.breaker_cooldown,
            ),
            probe_timeout: config.timeout.min(std::time::Duration::from_secs(2)),
        })
    }

    /// Whether calls currently fail fast.
    #[must_use]
    pub fn circuit_open(&self) -> bool {
        self.caller.circuit_open()
    }

    /// Whether backend-crew can be called now: the breaker is closed and a connection to it
    /// opens within the call timeout (at most 2 s). For the `crew` health component.
    ///
    /// # Errors
    /// Why the crew service counts as down.
    pub async fn probe(&self) -> Result<(), String> {
        self.caller.probe(&self.base_url, self.probe_timeout).await
    }

    /// `{base}/api/v1/events/{event_id}/crew[/{segment}…]`.
    fn url(&self, event_id: EventId, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        let event = event_id.value().to_string();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["api", "v1", "events", event.as_str(), "crew"])
                .extend(segments);
        }
        url
    }

    /// Runs one logical call through the breaker, retrying transient failures; a call that
    /// gets no answer is `Unavailable { dependency: "crew" }`.
    async fn call<T>(
        &self,
        operation: &'static str,
        request: impl Fn() -> RequestBuilder + Send + Sync,
        answer: impl Fn(StatusCode, &[u8]) -> Result<T, AppError> + Send + Sync,
    ) -> Result<T, AppError> {
        self.caller
            .call(
                operation,
                request,
                answer,
                |_| UNAVAILABLE,
                |e| matches!(e, AppError::Unavailable { .. }),
            )
            .await
    }
}

/// The service's explanation of a 4xx: a `detail`, `message`, `title` or `error` field, else
/// the status line.
fn reason(status: StatusCode, body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| {
            ["detail", "message", "title", "error"]
                .iter()
                .find_map(|key| json.get(key)?.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| format!("the crew service answered {status}"))
}

/// A 4xx answer of the assign call, as the use case's error.
fn refusal(status: StatusCode, body: &[u8]) -> AppError {
    match status {
        StatusCode::NOT_FOUND => AppError::NotFound { entity: "crew" },
        StatusCode::CONFLICT => {
            AppError::conflict(ErrorCode::NoCrewAvailable, reason(status, body))
        }
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            AppError::invalid("crew", reason(status, body))
        }
        _ => AppError::conflict(ErrorCode::CrewRequestRefused, reason(status, body)),
    }
}

#[async_trait]
impl CrewDirectory for HttpCrewDirectory {
    async fn assign(&self, request: &CrewRequest) -> Result<CrewAssignment, AppError> {
        let url = self.url(request.event_id, &[]);
        let body = AssignBody {
            crew_id: request.crew_id.map(CrewId::value),
            skills: &request.skills,
            starts_at: request.starts_at,
            ends_at: request.ends_at,
        };
        self.call(
            "assign",
            || self.client.put(url.clone()).json(&body),
            |status, bytes| {
                if !status.is_success() {
                    return Err(refusal(status, bytes));
                }
                // A 2xx body off the contract: the service misbehaves, which can only be
                // treated as unavailable (never as an assignment).
                let answer: AssignAnswer = serde_json::from_slice(bytes).map_err(|e| {
                    tracing::warn!(error = %e, "the crew service answered an unexpected body");
                    UNAVAILABLE
                })?;
                Ok(CrewAssignment {
                    crew_id: CrewId(answer.crew_id),
                    crew_name: answer.crew_name,
                })
            },
        )
        .await
    }

    async fn release(&self, event_id: EventId, crew_id: CrewId) -> Result<(), AppError> {
        let crew = crew_id.value().to_string();
        let url = self.url(event_id, &[crew.as_str()]);
        self.call(
            "release",
            || self.client.delete(url.clone()),
            |status, bytes| {
                if status.is_success() || status == StatusCode::NOT_FOUND {
                    Ok(())
                } else {
                    Err(AppError::conflict(
                        ErrorCode::CrewReleaseRefused,
                        reason(status, bytes),
                    ))
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_a_base_path() {
        let crew =
            HttpCrewDirectory::new(HttpCrewConfig::new("http://crew.local:8106/base/")).unwrap();
        assert_eq!(
            crew.url(EventId(7), &["12"]).as_str(),
            "http://crew.local:8106/base/api/v1/events/7/crew/12"
        );
    }

    #[test]
    fn rejects_a_base_url_that_is_not_http() {
        for bad in ["", "not a url", "ftp://x", "mailto:a@b"] {
            assert!(
                HttpCrewDirectory::new(HttpCrewConfig::new(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
