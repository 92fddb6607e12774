//! The `http` gateway: the client of the platform's backend-payment service.
//!
//! The REST contract is documented in `docs/payment-gateways.md`. Transport failures (timeouts,
//! refused connections, 5xx, 408/429) are retried with a small exponential backoff — every call
//! is safe to repeat: reads are reads and the two writes carry an `Idempotency-Key` — and end as
//! `Unavailable`; any other 4xx is the gateway's answer and is not retried. A circuit breaker
//! stops calling a gateway that keeps failing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::{BookingId, Money, PaymentId};
use ports::payment_gateway::{
    GatewayError, GatewayPaymentStatus, GatewaySession, PaymentGateway, PaymentSessionRequest,
    WebhookNotice,
};
use reqwest::{RequestBuilder, StatusCode, Url};
use resilient_http::{ResilientCaller, Unanswered};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::registry::{GatewayContext, GatewayKind, ResilienceSettings};
use crate::webhook_signature;

/// The header carrying backend-payment's webhook signature (`t=<unix>,v1=<hex hmac>`).
pub const PAYMENT_SIGNATURE_HEADER: &str = "X-Payment-Signature";

/// The header making a write safe to retry.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// Settings of the backend-payment client.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpGatewayConfig {
    /// The registry name (`http` by default).
    pub name: String,
    /// backend-payment's address, e.g. `http://backend-payment:8104`.
    pub base_url: String,
    /// Per attempt, connection included.
    pub timeout: Duration,
    /// Retries after the first attempt of a call that failed in transport.
    pub max_retries: u32,
    /// The secret backend-payment signs its webhooks with.
    pub webhook_secret: String,
    /// Consecutive unavailable calls that open the circuit (0 disables the breaker).
    pub breaker_threshold: u32,
    /// How long an open circuit fails fast before letting one probe through.
    pub breaker_cooldown: Duration,
}

impl HttpGatewayConfig {
    /// The defaults with the given address and secret.
    #[must_use]
    pub fn new(base_url: impl Into<String>, webhook_secret: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            webhook_secret: webhook_secret.into(),
            ..Self::default()
        }
    }
}

impl Default for HttpGatewayConfig {
    fn default() -> Self {
        Self {
            name: "http".to_owned(),
            base_url: "http://backend-payment:8104".to_owned(),
            timeout: Duration::from_secs(5),
            max_retries: 2,
            webhook_secret: String::new(),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for HttpGatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpGatewayConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("webhook_secret", &"<redacted>")
            .field("breaker_threshold", &self.breaker_threshold)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .finish()
    }
}

/// A configuration the client cannot be built from (a bad base URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidGatewayConfig(pub String);

impl std::fmt::Display for InvalidGatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid payment gateway configuration: {}", self.0)
    }
}

impl std::error::Error for InvalidGatewayConfig {}

/// The longest a health probe waits for a connection.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The configuration section of a `kind = "http"` gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpGatewaySettings {
    /// backend-payment's address.
    pub url: String,
    pub webhook_secret: String,
    #[serde(default)]
    pub resilience: ResilienceSettings,
}

/// The backend-payment gateway (`kind = "http"`, registered as `http` by default).
#[derive(Debug)]
pub struct HttpPaymentGateway {
    client: reqwest::Client,
    base_url: Url,
    config: HttpGatewayConfig,
    caller: ResilientCaller,
}

#[derive(Serialize)]
struct InitiateBody<'a> {
    payment_id: PaymentId,
    booking_id: BookingId,
    amount: Money,
    method: &'a str,
    return_url: Option<&'a str>,
}

#[derive(Deserialize)]
struct InitiateAnswer {
    reference: String,
    payment_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum RemoteStatus {
    Pending,
    Paid,
    Failed,
}

#[derive(Deserialize)]
struct StatusAnswer {
    status: RemoteStatus,
    amount: Option<Money>,
    reason: Option<String>,
}

#[derive(Serialize)]
struct RefundBody {
    amount: Money,
}

#[derive(Deserialize)]
struct RefundAnswer {
    refund_reference: String,
}

impl HttpPaymentGateway {
    /// Builds the client; fails on a base URL that is not an absolute http(s) URL.
    pub fn new(config: HttpGatewayConfig) -> Result<Self, InvalidGatewayConfig> {
        let base_url = Url::parse(config.base_url.trim())
            .map_err(|e| InvalidGatewayConfig(format!("base_url {:?}: {e}", config.base_url)))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(InvalidGatewayConfig(format!(
                "base_url {:?} must be an http(s) URL",
                config.base_url
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| InvalidGatewayConfig(format!("http client: {e}")))?;
        Ok(Self {
            client,
            base_url,
            caller: ResilientCaller::new(
                "payment gateway",
                config.max_retries,
                config.breaker_threshold,
                config.breaker_cooldown,
            ),
            config,
        })
    }

    /// `{base}/api/v1/payments[/{segment}…]`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["api", "v1", "payments"])
                .extend(segments);
        }
        url
    }

    /// Runs one logical call through the breaker, retrying transient failures; a call that
    /// gets no answer is `GatewayError::Unavailable`.
    async fn call<T>(
        &self,
        operation: &'static str,
        request: impl Fn() -> RequestBuilder + Send + Sync,
        answer: impl Fn(StatusCode, &[u8]) -> Result<T, GatewayError> + Send + Sync,
    ) -> Result<T, GatewayError> {
        self.caller
            .call(
                operation,
                request,
                answer,
                |why| unanswered(PROVIDER, operation, why),
                |e| matches!(e, GatewayError::Unavailable(_)),
            )
            .await
    }
}

/// The provider's name in errors.
const PROVIDER: &str = "backend-payment";

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, GatewayError> {
    parse_answer(PROVIDER, body)
}

/// A call to `provider` that got no usable answer (its circuit is open, or every attempt
/// failed): `Unavailable`, so the caller retries later and never assumes an outcome. For every
/// HTTP-based gateway.
#[must_use]
pub fn unanswered(provider: &str, operation: &str, why: Unanswered) -> GatewayError {
    match why {
        Unanswered::CircuitOpen => GatewayError::Unavailable(format!("{provider} circuit is open")),
        Unanswered::Failed { attempts, reason } => GatewayError::Unavailable(format!(
            "{provider} {operation}: {reason} (after {attempts} attempts)"
        )),
    }
}

/// A 2xx body that does not follow the provider's contract: the provider is misbehaving, which
/// the service can only treat as unavailable (it is never a reason to assume an outcome).
///
/// # Errors
/// `Unavailable` naming the provider and what did not parse.
pub fn parse_answer<T: DeserializeOwned>(provider: &str, body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|e| {
        GatewayError::Unavailable(format!("{provider} answered an unexpected body: {e}"))
    })
}

/// The gateway's explanation of a 4xx: a `detail`, `message`, `title` or `error` field, else
/// the status line.
fn refusal(status: StatusCode, body: &[u8]) -> GatewayError {
    let reason = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| {
            ["detail", "message", "title", "error"]
                .iter()
                .find_map(|key| json.get(key)?.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| format!("backend-payment answered {status}"));
    GatewayError::Refused(reason)
}

impl GatewayKind for HttpPaymentGateway {
    const KIND: &'static str = "http";
    type Settings = HttpGatewaySettings;

    fn build(
        name: &str,
        settings: HttpGatewaySettings,
        _context: &GatewayContext,
    ) -> Result<Arc<dyn PaymentGateway>, InvalidGatewayConfig> {
        let r = settings.resilience;
        Ok(Arc::new(Self::new(HttpGatewayConfig {
            name: name.to_owned(),
            base_url: settings.url,
            timeout: r.timeout()?,
            max_retries: r.max_retries,
            webhook_secret: settings.webhook_secret,
            breaker_threshold: r.breaker_threshold,
            breaker_cooldown: r.breaker_cooldown(),
        })?))
    }
}

#[async_trait]
impl PaymentGateway for HttpPaymentGateway {
    fn name(&self) -> &str {
        &self.config.name
    }

    /// Up while the breaker is closed and a connection to backend-payment opens within the
    /// call timeout (at most 2 s).
    async fn probe(&self) -> Result<(), String> {
        self.caller
            .probe(&self.base_url, self.config.timeout.min(PROBE_TIMEOUT))
            .await
    }

    async fn initiate(
        &self,
        request: &PaymentSessionRequest,
    ) -> Result<GatewaySession, GatewayError> {
        let url = self.url(&[]);
        let body = InitiateBody {
            payment_id: request.payment_id,
            booking_id: request.booking_id,
            amount: request.amount,
            method: &request.payment_method,
            return_url: request.return_url.as_deref(),
        };
        self.call(
            "initiate",
            || {
                self.client
                    .post(url.clone())
                    .header(IDEMPOTENCY_KEY_HEADER, &request.idempotency_key)
                    .json(&body)
            },
            |status, bytes| {
                if !status.is_success() {
                    return Err(refusal(status, bytes));
                }
                let answer: InitiateAnswer = parse(bytes)?;
                Ok(GatewaySession {
                    reference: answer.reference,
                    payment_url: answer.payment_url,
                })
            },
        )
        .await
    }

    async fn status(&self, reference: &str) -> Result<GatewayPaymentStatus, GatewayError> {
        let url = self.url(&[reference]);
        self.call(
            "status",
            || self.client.get(url.clone()),
            |status, bytes| {
                if status == StatusCode::NOT_FOUND {
                    return Err(GatewayError::UnknownReference);
                }
                if !status.is_success() {
                    return Err(refusal(status, bytes));
                }
                let answer: StatusAnswer = parse(bytes)?;
                match answer.status {
                    RemoteStatus::Pending => Ok(GatewayPaymentStatus::Pending),
                    RemoteStatus::Paid => match answer.amount {
                        Some(amount) => Ok(GatewayPaymentStatus::Paid { amount }),
                        None => Err(GatewayError::Unavailable(
                            "backend-payment reported PAID without an amount".to_owned(),
                        )),
                    },
                    RemoteStatus::Failed => Ok(GatewayPaymentStatus::Failed {
                        reason: answer
                            .reason
                            .unwrap_or_else(|| "declined by the payment provider".to_owned()),
                    }),
                }
            },
        )
        .await
    }

    async fn refund(
        &self,
        reference: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<String, GatewayError> {
        let url = self.url(&[reference, "refunds"]);
        let body = RefundBody { amount };
        self.call(
            "refund",
            || {
                self.client
                    .post(url.clone())
                    .header(IDEMPOTENCY_KEY_HEADER, idempotency_key)
                    .json(&body)
            },
            |status, bytes| {
                if status == StatusCode::NOT_FOUND {
                    return Err(GatewayError::UnknownReference);
                }
                if !status.is_success() {
                    return Err(refusal(status, bytes));
                }
                let answer: RefundAnswer = parse(bytes)?;
                Ok(answer.refund_reference)
            },
        )
        .await
    }

    fn verify_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookNotice, GatewayError> {
        webhook_signature::verify(
            PAYMENT_SIGNATURE_HEADER,
            self.config.webhook_secret.as_bytes(),
            headers,
            body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_a_base_path_and_encode_the_reference() {
        let gw =
            HttpPaymentGateway::new(HttpGatewayConfig::new("http://pay.local:8104/base/", "s"))
                .unwrap();
        assert_eq!(
            gw.url(&[]).as_str(),
            "http://pay.local:8104/base/api/v1/payments"
        );
        assert_eq!(
            gw.url(&["a/b c", "refunds"]).as_str(),
            "http://pay.local:8104/base/api/v1/payments/a%2Fb%20c/refunds"
        );
    }

    #[test]
    fn rejects_a_base_url_that_is_not_http() {
        for bad in ["", "not a url", "ftp://x", "mailto:a@b"] {
            assert!(
                HttpPaymentGateway::new(HttpGatewayConfig::new(bad, "s")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let config = HttpGatewayConfig::new("http://x", "top-secret");
        assert!(!format!("{config:?}").contains("top-secret"));
    }
}
