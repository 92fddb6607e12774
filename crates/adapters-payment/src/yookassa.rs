//! The `yookassa` gateway: a client of the YooKassa API v3 (amounts in RUB), the worked example
//! of `docs/payment-gateways.md`. Everything of it is this file plus its line in
//! `GatewayKinds::builtin`.
//!
//! - `initiate`: `POST /v3/payments` with the `Idempotence-Key` header (YooKassa answers the
//!   same payment for a repeated key), `capture: true` and a `redirect` confirmation; the
//!   customer pays at `confirmation.confirmation_url`.
//! - `status`: `GET /v3/payments/{id}`: `pending`/`waiting_for_capture` → `Pending`,
//!   `succeeded` → `Paid` (its `amount`), `canceled` → `Failed` (`cancellation_details.reason`).
//! - `refund`: `POST /v3/refunds` `{payment_id, amount}` with the `Idempotence-Key`.
//! - Webhooks (notifications `payment.succeeded`, `payment.canceled`, `refund.succeeded`, …)
//!   carry **no signature**. Their authenticity comes from querying the payment back: the
//!   service never reads a state from a webhook, it asks `status` — here `GET /v3/payments/{id}`
//!   over an authenticated TLS connection — so a forged notification can at most make the
//!   service ask. `verify_webhook` therefore only reads which payment the notification is
//!   about; it answers `InvalidSignature` for a body that is not a YooKassa notification. The
//!   notice's id is `<event>:<object id>` (YooKassa sends each event of an object once, and a
//!   redelivery carries the same), and its timestamp is the time of receipt (nothing is signed).
//!   YooKassa's published sender addresses can additionally be allow-listed at the ingress.
//!
//! Transport failures, 5xx, 408 and 429 are retried (every call is safe to repeat: reads are
//! reads and writes carry the `Idempotence-Key`) and end as `Unavailable`, like 202 (YooKassa
//! still processing the request); 404 is `UnknownReference`; other 4xx are `Refused` with
//! YooKassa's `description`. Calls go through a circuit breaker.

use std::sync::Arc;

use async_trait::async_trait;
use domain::Money;
use ports::payment_gateway::{
    GatewayError, GatewayPaymentStatus, GatewaySession, PaymentGateway, PaymentSessionRequest,
    WebhookNotice,
};
use reqwest::{RequestBuilder, StatusCode, Url};
use resilient_http::ResilientCaller;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::http::{InvalidGatewayConfig, parse_answer, unanswered};
use crate::registry::{GatewayContext, GatewayKind, ResilienceSettings};

/// The only currency this gateway takes.
pub const YOOKASSA_CURRENCY: &str = "RUB";

/// The header making a YooKassa write safe to retry.
pub const IDEMPOTENCE_KEY_HEADER: &str = "Idempotence-Key";

/// The configuration section of a `kind = "yookassa"` gateway.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YooKassaSettings {
    /// The API's address; YooKassa's own by default.
    #[serde(default = "default_url")]
    pub url: String,
    /// The shop's id and secret key (HTTP Basic credentials).
    pub shop_id: String,
    pub secret_key: String,
    #[serde(default)]
    pub resilience: ResilienceSettings,
}

fn default_url() -> String {
    "https://api.yookassa.ru".to_owned()
}

impl std::fmt::Debug for YooKassaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YooKassaSettings")
            .field("url", &self.url)
            .field("shop_id", &self.shop_id)
            .field("secret_key", &"<redacted>")
            .field("resilience", &self.resilience)
            .finish()
    }
}

/// The YooKassa gateway.
#[derive(Debug)]
pub struct YooKassaGateway {
    name: String,
    client: reqwest::Client,
    base_url: Url,
    settings: YooKassaSettings,
    caller: ResilientCaller,
}

impl GatewayKind for YooKassaGateway {
    const KIND: &'static str = "yookassa";
    type Settings = YooKassaSettings;

    fn build(
        name: &str,
        settings: YooKassaSettings,
        _context: &GatewayContext,
    ) -> Result<Arc<dyn PaymentGateway>, InvalidGatewayConfig> {
        Ok(Arc::new(Self::new(name, settings)?))
    }
}

#[derive(Serialize, Deserialize)]
struct Amount {
    value: Money,
    currency: String,
}

impl Amount {
    fn rub(value: Money) -> Self {
        Self {
            value,
            currency: YOOKASSA_CURRENCY.to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct Confirmation {
    confirmation_url: String,
}

#[derive(Deserialize)]
struct Cancellation {
    reason: String,
}

#[derive(Deserialize)]
struct PaymentObject {
    id: String,
    status: String,
    amount: Amount,
    confirmation: Option<Confirmation>,
    cancellation_details: Option<Cancellation>,
}

#[derive(Deserialize)]
struct RefundObject {
    id: String,
    status: String,
}

#[derive(Deserialize)]
struct Notification {
    event: String,
    object: NotifiedObject,
}

#[derive(Deserialize)]
struct NotifiedObject {
    id: String,
    /// Present on refund objects: the payment refunded.
    payment_id: Option<String>,
}

impl YooKassaGateway {
    /// Builds the client registered as `name`.
    ///
    /// # Errors
    /// A URL that is not http(s), blank credentials, a zero timeout.
    pub fn new(name: &str, settings: YooKassaSettings) -> Result<Self, InvalidGatewayConfig> {
        let base_url = Url::parse(settings.url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| {
                InvalidGatewayConfig(format!("url {:?} must be an http(s) URL", settings.url))
            })?;
        if settings.shop_id.trim().is_empty() || settings.secret_key.trim().is_empty() {
            return Err(InvalidGatewayConfig(
                "shop_id and secret_key are required".to_owned(),
            ));
        }
        let r = settings.resilience;
        let timeout = r.timeout()?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| InvalidGatewayConfig(format!("http client: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            client,
            base_url,
            caller: ResilientCaller::new(
                "yookassa",
                r.max_retries,
                r.breaker_threshold,
                r.breaker_cooldown(),
            ),
            settings,
        })
    }

    /// `{base}/v3/{segment}…`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("v3").extend(segments);
        }
        url
    }

    fn request(&self, method: reqwest::Method, url: &Url) -> RequestBuilder {
        self.client
            .request(method, url.clone())
            .basic_auth(&self.settings.shop_id, Some(&self.settings.secret_key))
    }

    async fn call<T>(
        &self,
        operation: &'static str,
        request: impl Fn() -> RequestBuilder + Send + Sync,
        answer: impl Fn(&[u8]) -> Result<T, GatewayError> + Send + Sync,
    ) -> Result<T, GatewayError> {
        self.caller
            .call(
                operation,
                request,
                |status, body| match status {
                    StatusCode::ACCEPTED => Err(GatewayError::Unavailable(
                        "yookassa is still processing the request".to_owned(),
                    )),
                    StatusCode::NOT_FOUND => Err(GatewayError::UnknownReference),
                    s if s.is_success() => answer(body),
                    _ => Err(GatewayError::Refused(description(status, body))),
                },
                |why| unanswered("yookassa", operation, why),
                |e| matches!(e, GatewayError::Unavailable(_)),
            )
            .await
    }
}

/// A 2xx body outside the API: the gateway can only treat it as unavailable.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, GatewayError> {
    parse_answer("yookassa", body)
}

/// YooKassa's error `description`, else the status line.
fn description(status: StatusCode, body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| json.get("description")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("yookassa answered {status}"))
}

fn rub(amount: Amount) -> Result<Money, GatewayError> {
    if amount.currency == YOOKASSA_CURRENCY {
        Ok(amount.value)
    } else {
        Err(GatewayError::Unavailable(format!(
            "yookassa answered an amount in {}",
            amount.currency
        )))
    }
}

#[async_trait]
impl PaymentGateway for YooKassaGateway {
    fn name(&self) -> &str {
        &self.name
    }

    async fn initiate(
        &self,
        request: &PaymentSessionRequest,
    ) -> Result<GatewaySession, GatewayError> {
        let url = self.url(&["payments"]);
        let mut confirmation = json!({"type": "redirect"});
        if let Some(return_url) = &request.return_url {
            confirmation["return_url"] = json!(return_url);
        }
        let body = json!({
            "amount": Amount::rub(request.amount),
            "capture": true,
            "confirmation": confirmation,
            "description": format!("Booking {}", request.booking_id.0),
            "metadata": {
                "payment_id": request.payment_id.0.to_string(),
                "booking_id": request.booking_id.0.to_string(),
            },
        });
        self.call(
            "initiate",
            || {
                self.request(reqwest::Method::POST, &url)
                    .header(IDEMPOTENCE_KEY_HEADER, &request.idempotency_key)
                    .json(&body)
            },
            |bytes| {
                let payment: PaymentObject = parse(bytes)?;
                let confirmation = payment.confirmation.ok_or_else(|| {
                    GatewayError::Unavailable("yookassa answered no confirmation_url".to_owned())
                })?;
                Ok(GatewaySession {
                    reference: payment.id,
                    payment_url: confirmation.confirmation_url,
                })
            },
        )
        .await
    }

    async fn status(&self, reference: &str) -> Result<GatewayPaymentStatus, GatewayError> {
        let url = self.url(&["payments", reference]);
        self.call(
            "status",
            || self.request(reqwest::Method::GET, &url),
            |bytes| {
                let payment: PaymentObject = parse(bytes)?;
                match payment.status.as_str() {
                    "pending" | "waiting_for_capture" => Ok(GatewayPaymentStatus::Pending),
                    "succeeded" => Ok(GatewayPaymentStatus::Paid {
                        amount: rub(payment.amount)?,
                    }),
                    "canceled" => Ok(GatewayPaymentStatus::Failed {
                        reason: payment
                            .cancellation_details
                            .map_or_else(|| "canceled by yookassa".to_owned(), |c| c.reason),
                    }),
                    other => Err(GatewayError::Unavailable(format!(
                        "yookassa answered the unknown status {other:?}"
                    ))),
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
        let url = self.url(&["refunds"]);
        let body = json!({"payment_id": reference, "amount": Amount::rub(amount)});
        self.call(
            "refund",
            || {
                self.request(reqwest::Method::POST, &url)
                    .header(IDEMPOTENCE_KEY_HEADER, idempotency_key)
                    .json(&body)
            },
            |bytes| {
                let refund: RefundObject = parse(bytes)?;
                if refund.status == "canceled" {
                    return Err(GatewayError::Refused(
                        "yookassa canceled the refund".to_owned(),
                    ));
                }
                Ok(refund.id)
            },
        )
        .await
    }

    /// No signature to check (see the module's documentation): reads the notification's
    /// payment; the service then asks `status`, which is the check.
    fn verify_webhook(
        &self,
        _headers: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookNotice, GatewayError> {
        let notification: Notification =
            serde_json::from_slice(body).map_err(|_| GatewayError::InvalidSignature)?;
        let object = notification.object;
        let reference = object.payment_id.unwrap_or_else(|| object.id.clone());
        if reference.trim().is_empty() || notification.event.trim().is_empty() {
            return Err(GatewayError::InvalidSignature);
        }
        let event_id: String = format!("{}:{}", notification.event, object.id)
            .chars()
            .take(200)
            .collect();
        Ok(WebhookNotice {
            reference,
            event_id,
            signed_at: chrono::Utc::now().timestamp(),
        })
    }

    /// Up while the breaker is closed and a connection to the API opens (at most 2 s).
    async fn probe(&self) -> Result<(), String> {
        let timeout = self
            .settings
            .resilience
            .timeout()
            .map_err(|e| e.0)?
            .min(std::time::Duration::from_secs(2));
        self.caller.probe(&self.base_url, timeout).await
    }
}
