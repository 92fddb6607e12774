//! The payment gateway plugin interface (PRODUCT.md §5).
//!
//! A new gateway is one adapter implementing [`PaymentGateway`] plus one
//! [`PaymentGateways::register`] call in bootstrap. The use cases never trust a caller's word
//! that something was paid: they ask the gateway ([`PaymentGateway::status`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use domain::{BookingId, Money, PaymentId};

use crate::{AppError, ErrorCode};

/// What the gateway needs to start a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSessionRequest {
    pub payment_id: PaymentId,
    pub booking_id: BookingId,
    pub amount: Money,
    pub payment_method: String,
    /// Where the customer returns after paying.
    pub return_url: Option<String>,
    /// Sent to the gateway so a retried initiation does not charge twice.
    pub idempotency_key: String,
}

/// A started payment: the gateway's reference and the page where the customer pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySession {
    pub reference: String,
    pub payment_url: String,
}

/// What the gateway says about a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayPaymentStatus {
    Pending,
    Paid { amount: Money },
    Failed { reason: String },
}

/// What the customer does on a test gateway's payment page (the sandbox of PRODUCT.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimulatedOutcome {
    Success,
    Failure,
}

/// A verified webhook: which reference changed (the use case then asks `status`), the
/// gateway's id of this notice (a replay carries the same id) and when it was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookNotice {
    pub reference: String,
    pub event_id: String,
    /// The signed timestamp, Unix seconds.
    pub signed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// Timeout, connection refused, circuit open: try later.
    #[error("payment gateway unavailable: {0}")]
    Unavailable(String),
    /// The gateway refused the request.
    #[error("payment gateway refused: {0}")]
    Refused(String),
    /// The reference is unknown to the gateway.
    #[error("unknown payment reference")]
    UnknownReference,
    /// A webhook whose signature does not verify.
    #[error("invalid webhook signature")]
    InvalidSignature,
}

impl From<GatewayError> for AppError {
    fn from(err: GatewayError) -> Self {
        match err {
            GatewayError::Unavailable(_) => Self::Unavailable {
                dependency: "payment gateway",
            },
            GatewayError::Refused(reason) => Self::conflict(ErrorCode::PaymentRefused, reason),
            GatewayError::UnknownReference => Self::NotFound { entity: "payment" },
            GatewayError::InvalidSignature => Self::Unauthenticated,
        }
    }
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// The registry name (`sandbox`, `http`, …), also stored on each payment.
    fn name(&self) -> &str;
    async fn initiate(
        &self,
        request: &PaymentSessionRequest,
    ) -> Result<GatewaySession, GatewayError>;
    async fn status(&self, reference: &str) -> Result<GatewayPaymentStatus, GatewayError>;
    /// Refunds `amount` of a paid reference; answers the gateway's refund reference.
    async fn refund(
        &self,
        reference: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<String, GatewayError>;
    /// Verifies a webhook's signature over its raw body.
    fn verify_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookNotice, GatewayError>;
    /// Plays the customer on the gateway's payment page. Only test gateways (the sandbox)
    /// override it; real gateways keep this answer, `Refused`.
    async fn simulate(
        &self,
        _reference: &str,
        _outcome: SimulatedOutcome,
    ) -> Result<(), GatewayError> {
        Err(GatewayError::Refused("not a test gateway".to_owned()))
    }
    /// Whether the gateway can be called now (the `payment` health component). In-process
    /// gateways keep this answer, up; remote ones check their circuit breaker and connection.
    ///
    /// # Errors
    /// Why the gateway counts as down.
    async fn probe(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The gateways known to this instance, by name, with the one new payments use by default.
#[derive(Clone)]
pub struct PaymentGateways {
    by_name: BTreeMap<String, Arc<dyn PaymentGateway>>,
    default: Arc<dyn PaymentGateway>,
}

impl std::fmt::Debug for PaymentGateways {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentGateways")
            .field("gateways", &self.by_name.keys().collect::<Vec<_>>())
            .field("default", &self.default.name())
            .finish()
    }
}

impl PaymentGateways {
    /// A registry whose default is `default`.
    #[must_use]
    pub fn new(default: Arc<dyn PaymentGateway>) -> Self {
        Self {
            by_name: BTreeMap::from([(default.name().to_owned(), Arc::clone(&default))]),
            default,
        }
    }

    /// Adds a gateway (replacing one of the same name).
    #[must_use]
    pub fn register(mut self, gateway: Arc<dyn PaymentGateway>) -> Self {
        if gateway.name() == self.default.name() {
            self.default = Arc::clone(&gateway);
        }
        self.by_name.insert(gateway.name().to_owned(), gateway);
        self
    }

    /// The gateway named `name`; unknown names are a 404 (webhook paths carry the name).
    pub fn get(&self, name: &str) -> Result<Arc<dyn PaymentGateway>, AppError> {
        self.by_name.get(name).cloned().ok_or(AppError::NotFound {
            entity: "payment gateway",
        })
    }

    #[must_use]
    pub fn default_gateway(&self) -> Arc<dyn PaymentGateway> {
        Arc::clone(&self.default)
    }

    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(name: &'static str) -> Arc<dyn PaymentGateway> {
        let mut g = MockPaymentGateway::new();
        g.expect_name().return_const(name.to_owned());
        Arc::new(g)
    }

    #[test]
    fn registry_finds_gateways_by_name_and_keeps_the_default() {
        let registry = PaymentGateways::new(gateway("sandbox")).register(gateway("http"));
        assert_eq!(registry.names(), ["http", "sandbox"]);
        assert_eq!(registry.default_gateway().name(), "sandbox");
        assert_eq!(registry.get("http").unwrap().name(), "http");
        assert_eq!(
            registry.get("paypal").err().map(|e| e.code()),
            Some(ErrorCode::NotFound)
        );
    }

    #[test]
    fn gateway_errors_map_to_app_errors() {
        assert_eq!(
            AppError::from(GatewayError::Unavailable("timeout".into())).code(),
            "SERVICE_UNAVAILABLE"
        );
        assert_eq!(
            AppError::from(GatewayError::InvalidSignature).code(),
            "UNAUTHENTICATED"
        );
        assert_eq!(
            AppError::from(GatewayError::Refused("limit".into())).code(),
            "PAYMENT_REFUSED"
        );
    }
}
