//! The `sandbox` gateway: an in-process, deterministic emulation of a payment provider for dev
//! and tests (PRODUCT.md §5).
//!
//! Nothing leaves the process. A payment stays `Pending` until someone plays the customer on the
//! sandbox page (`simulate`), which settles it `Paid` or `Failed` for good. References are
//! derived from the idempotency key and the sandbox's secret, so a retried initiation finds
//! the same session but nobody can compute another customer's reference (its payment page)
//! from a key they know or guess; and
//! refunds are idempotent per key and capped at the paid amount. State lives in memory: a
//! restart forgets every sandbox payment (the service then sees `UnknownReference`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use domain::Money;
use ports::payment_gateway::{
    GatewayError, GatewayPaymentStatus, GatewaySession, PaymentGateway, PaymentSessionRequest,
    SimulatedOutcome, WebhookNotice,
};
use sha2::{Digest, Sha256};

use crate::http::InvalidGatewayConfig;
use crate::registry::{GatewayContext, GatewayKind};
use crate::webhook_signature;
use ports::redaction::mask;
use serde::Deserialize;

/// The header carrying the sandbox's webhook signature (`t=<unix>,v1=<hex hmac>`).
pub const SANDBOX_SIGNATURE_HEADER: &str = "X-Sandbox-Signature";

/// The reason a simulated failure reports.
pub const SANDBOX_DECLINE_REASON: &str = "declined in the sandbox";

/// Settings of the sandbox gateway.
#[derive(Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// The service's own public address; payment pages are `{public_base_url}/sandbox/payments/{reference}`.
    pub public_base_url: String,
    /// The secret sandbox webhooks are signed with.
    pub webhook_secret: String,
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("public_base_url", &self.public_base_url)
            .field("webhook_secret", &"<redacted>")
            .finish()
    }
}

/// The configuration section of the `kind = "sandbox"` gateway, which must be named `sandbox`
/// (its payment page, `/sandbox/payments/{reference}`, asks the registry for that name).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// At least 8 characters.
    pub webhook_secret: String,
}

impl GatewayKind for SandboxGateway {
    const KIND: &'static str = "sandbox";
    type Settings = SandboxSettings;

    fn build(
        name: &str,
        settings: SandboxSettings,
        context: &GatewayContext,
    ) -> Result<Arc<dyn PaymentGateway>, InvalidGatewayConfig> {
        if name != "sandbox" {
            return Err(InvalidGatewayConfig(
                "the sandbox gateway must be named `sandbox`".to_owned(),
            ));
        }
        if settings.webhook_secret.len() < 8 {
            return Err(InvalidGatewayConfig(
                "webhook_secret must be at least 8 characters".to_owned(),
            ));
        }
        Ok(Arc::new(Self::new(SandboxConfig {
            public_base_url: context.public_base_url.clone(),
            webhook_secret: settings.webhook_secret,
        })))
    }
}

/// The sandbox gateway (`kind = "sandbox"`, registry name `sandbox`).
pub struct SandboxGateway {
    config: SandboxConfig,
    payments: Mutex<HashMap<String, SandboxPayment>>,
}

impl std::fmt::Debug for SandboxGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("SandboxGateway")
            .field("public_base_url", &self.config.public_base_url)
            .field("payments", &self.lock().len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SandboxState {
    Pending,
    Paid,
    Failed,
}

#[derive(Debug)]
struct SandboxPayment {
    amount: Money,
    state: SandboxState,
    /// Refunds by idempotency key: (refund reference, amount).
    refunds: HashMap<String, (String, Money)>,
}

impl SandboxPayment {
    fn refunded(&self) -> Money {
        self.refunds.values().map(|(_, amount)| *amount).sum()
    }
}

impl SandboxGateway {
    #[must_use]
    pub fn new(config: SandboxConfig) -> Self {
        Self {
            config,
            payments: Mutex::new(HashMap::new()),
        }
    }

    /// The `X-Sandbox-Signature` header value for `body` signed at `timestamp` (Unix
    /// seconds), so tests and docs can send webhooks the sandbox accepts.
    #[must_use]
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        webhook_signature::sign(self.config.webhook_secret.as_bytes(), timestamp, body)
    }

    /// The sandbox page of a reference.
    #[must_use]
    pub fn payment_url(&self, reference: &str) -> String {
        format!(
            "{}/sandbox/payments/{reference}",
            self.config.public_base_url.trim_end_matches('/')
        )
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, SandboxPayment>> {
        // A panic while holding the lock cannot leave a half-written entry (every update is a
        // single assignment), so a poisoned map is still consistent.
        self.payments.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `prefix` + the first 32 hex digits of SHA-256 over the parts, NUL-separated.
fn derived_reference(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hex::encode(hasher.finalize());
    format!("{prefix}{}", &digest[..32])
}

#[async_trait]
impl PaymentGateway for SandboxGateway {
    fn name(&self) -> &str {
        "sandbox"
    }

    async fn initiate(
        &self,
        request: &PaymentSessionRequest,
    ) -> Result<GatewaySession, GatewayError> {
        if !request.amount.is_positive() {
            return Err(GatewayError::Refused(
                "the amount must be positive".to_owned(),
            ));
        }
        if request.idempotency_key.trim().is_empty() {
            return Err(GatewayError::Refused(
                "an idempotency key is required".to_owned(),
            ));
        }
        let reference = derived_reference(
            "sbx_",
            &[
                &self.config.webhook_secret,
                "payment",
                &request.idempotency_key,
            ],
        );
        let mut payments = self.lock();
        match payments.get(&reference) {
            // A retry of the same initiation: the same session.
            Some(existing) if existing.amount == request.amount => {}
            // The key reused for a different payment: a real provider refuses this too.
            Some(_) => {
                return Err(GatewayError::Refused(
                    "idempotency key already used for a different amount".to_owned(),
                ));
            }
            None => {
                payments.insert(
                    reference.clone(),
                    SandboxPayment {
                        amount: request.amount,
                        state: SandboxState::Pending,
                        refunds: HashMap::new(),
                    },
                );
                tracing::debug!(reference = %mask(&reference), amount = %request.amount, "sandbox payment initiated");
            }
        }
        drop(payments);
        Ok(GatewaySession {
            payment_url: self.payment_url(&reference),
            reference,
        })
    }

    async fn status(&self, reference: &str) -> Result<GatewayPaymentStatus, GatewayError> {
        let payments = self.lock();
        let payment = payments
            .get(reference)
            .ok_or(GatewayError::UnknownReference)?;
        Ok(match payment.state {
            SandboxState::Pending => GatewayPaymentStatus::Pending,
            SandboxState::Paid => GatewayPaymentStatus::Paid {
                amount: payment.amount,
            },
            SandboxState::Failed => GatewayPaymentStatus::Failed {
                reason: SANDBOX_DECLINE_REASON.to_owned(),
            },
        })
    }

    async fn refund(
        &self,
        reference: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<String, GatewayError> {
        let mut payments = self.lock();
        let payment = payments
            .get_mut(reference)
            .ok_or(GatewayError::UnknownReference)?;
        if let Some((refund_reference, previous)) = payment.refunds.get(idempotency_key) {
            return if *previous == amount {
                Ok(refund_reference.clone())
            } else {
                Err(GatewayError::Refused(
                    "idempotency key already used for a different refund amount".to_owned(),
                ))
            };
        }
        if payment.state != SandboxState::Paid {
            return Err(GatewayError::Refused(
                "only a paid payment can be refunded".to_owned(),
            ));
        }
        if !amount.is_positive() {
            return Err(GatewayError::Refused(
                "the refund amount must be positive".to_owned(),
            ));
        }
        let refundable = payment.amount - payment.refunded();
        if amount > refundable {
            return Err(GatewayError::Refused(format!(
                "refund of {amount} exceeds the refundable {refundable}"
            )));
        }
        let refund_reference = derived_reference("sbxr_", &[reference, idempotency_key]);
        payment.refunds.insert(
            idempotency_key.to_owned(),
            (refund_reference.clone(), amount),
        );
        tracing::debug!(reference = %mask(reference), %amount, refund_reference = %mask(&refund_reference), "sandbox refund");
        Ok(refund_reference)
    }

    fn verify_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookNotice, GatewayError> {
        webhook_signature::verify(
            SANDBOX_SIGNATURE_HEADER,
            self.config.webhook_secret.as_bytes(),
            headers,
            body,
        )
    }

    async fn simulate(
        &self,
        reference: &str,
        outcome: SimulatedOutcome,
    ) -> Result<(), GatewayError> {
        let mut payments = self.lock();
        let payment = payments
            .get_mut(reference)
            .ok_or(GatewayError::UnknownReference)?;
        let target = match outcome {
            SimulatedOutcome::Success => SandboxState::Paid,
            SimulatedOutcome::Failure => SandboxState::Failed,
        };
        match payment.state {
            SandboxState::Pending => {
                payment.state = target;
                tracing::debug!(reference = %mask(reference), ?outcome, "sandbox payment settled");
                Ok(())
            }
            // Playing the same outcome again (a double click, a retried POST) changes nothing.
            settled if settled == target => Ok(()),
            // A settled payment never changes its mind.
            SandboxState::Paid => Err(GatewayError::Refused(
                "the payment is already paid".to_owned(),
            )),
            SandboxState::Failed => Err(GatewayError::Refused(
                "the payment has already failed".to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{BookingId, PaymentId};

    fn gateway() -> SandboxGateway {
        SandboxGateway::new(SandboxConfig {
            public_base_url: "http://localhost:8080/".to_owned(),
            webhook_secret: "sandbox-secret".to_owned(),
        })
    }

    fn money(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    fn request(key: &str, amount: &str) -> PaymentSessionRequest {
        PaymentSessionRequest {
            payment_id: PaymentId(7),
            booking_id: BookingId(3),
            amount: money(amount),
            payment_method: "card".to_owned(),
            return_url: None,
            idempotency_key: key.to_owned(),
        }
    }

    async fn paid(gateway: &SandboxGateway, key: &str, amount: &str) -> String {
        let session = gateway.initiate(&request(key, amount)).await.unwrap();
        gateway
            .simulate(&session.reference, SimulatedOutcome::Success)
            .await
            .unwrap();
        session.reference
    }

    #[test]
    fn is_named_sandbox() {
        assert_eq!(gateway().name(), "sandbox");
    }

    #[tokio::test]
    async fn initiate_answers_a_pending_session_on_the_sandbox_page() {
        let gw = gateway();
        let session = gw.initiate(&request("pay-7", "12.50")).await.unwrap();
        assert!(
            session.reference.starts_with("sbx_"),
            "{}",
            session.reference
        );
        assert_eq!(session.reference.len(), 4 + 32);
        // The trailing slash of the base is not doubled.
        assert_eq!(
            session.payment_url,
            format!(
                "http://localhost:8080/sandbox/payments/{}",
                session.reference
            )
        );
        assert_eq!(
            gw.status(&session.reference).await,
            Ok(GatewayPaymentStatus::Pending)
        );
    }

    #[tokio::test]
    async fn initiate_is_idempotent_per_key_and_deterministic() {
        let gw = gateway();
        let first = gw.initiate(&request("pay-7", "12.50")).await.unwrap();
        let retry = gw.initiate(&request("pay-7", "12.50")).await.unwrap();
        assert_eq!(first, retry);
        // Deterministic across instances (e.g. after a restart of a test).
        let elsewhere = gateway()
            .initiate(&request("pay-7", "12.50"))
            .await
            .unwrap();
        assert_eq!(first, elsewhere);
        let other = gw.initiate(&request("pay-8", "12.50")).await.unwrap();
        assert_ne!(first.reference, other.reference);
        // The secret is part of the derivation: knowing a key does not give the reference.
        let keyed_otherwise = SandboxGateway::new(SandboxConfig {
            public_base_url: "http://localhost:8102".into(),
            webhook_secret: "another secret".into(),
        })
        .initiate(&request("pay-7", "12.50"))
        .await
        .unwrap();
        assert_ne!(first.reference, keyed_otherwise.reference);
    }

    #[tokio::test]
    async fn a_retry_does_not_reset_a_settled_payment() {
        let gw = gateway();
        let reference = paid(&gw, "pay-7", "12.50").await;
        let retry = gw.initiate(&request("pay-7", "12.50")).await.unwrap();
        assert_eq!(retry.reference, reference);
        assert_eq!(
            gw.status(&reference).await,
            Ok(GatewayPaymentStatus::Paid {
                amount: money("12.50")
            })
        );
    }

    #[tokio::test]
    async fn initiate_refuses_a_reused_key_with_another_amount_and_bad_input() {
        let gw = gateway();
        gw.initiate(&request("pay-7", "12.50")).await.unwrap();
        for (key, amount) in [
            ("pay-7", "13.00"),
            ("pay-9", "0"),
            ("pay-9", "-1.00"),
            ("  ", "5"),
        ] {
            let result = gw.initiate(&request(key, amount)).await;
            assert!(
                matches!(result, Err(GatewayError::Refused(_))),
                "{key} {amount}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn simulate_settles_a_payment_paid_or_failed() {
        let gw = gateway();
        let ok = paid(&gw, "a", "10").await;
        assert_eq!(
            gw.status(&ok).await,
            Ok(GatewayPaymentStatus::Paid {
                amount: money("10.00")
            })
        );

        let ko = gw.initiate(&request("b", "10")).await.unwrap().reference;
        gw.simulate(&ko, SimulatedOutcome::Failure).await.unwrap();
        assert_eq!(
            gw.status(&ko).await,
            Ok(GatewayPaymentStatus::Failed {
                reason: "declined in the sandbox".to_owned()
            })
        );
    }

    #[tokio::test]
    async fn simulate_is_idempotent_but_never_changes_a_settled_payment() {
        let gw = gateway();
        let ok = paid(&gw, "a", "10").await;
        assert_eq!(gw.simulate(&ok, SimulatedOutcome::Success).await, Ok(()));
        assert!(matches!(
            gw.simulate(&ok, SimulatedOutcome::Failure).await,
            Err(GatewayError::Refused(_))
        ));
        assert!(matches!(
            gw.status(&ok).await,
            Ok(GatewayPaymentStatus::Paid { .. })
        ));

        let ko = gw.initiate(&request("b", "10")).await.unwrap().reference;
        gw.simulate(&ko, SimulatedOutcome::Failure).await.unwrap();
        assert_eq!(gw.simulate(&ko, SimulatedOutcome::Failure).await, Ok(()));
        assert!(matches!(
            gw.simulate(&ko, SimulatedOutcome::Success).await,
            Err(GatewayError::Refused(_))
        ));
        assert!(matches!(
            gw.status(&ko).await,
            Ok(GatewayPaymentStatus::Failed { .. })
        ));
    }

    #[tokio::test]
    async fn unknown_references_are_reported_as_such() {
        let gw = gateway();
        assert_eq!(
            gw.status("sbx_nope").await,
            Err(GatewayError::UnknownReference)
        );
        assert_eq!(
            gw.simulate("sbx_nope", SimulatedOutcome::Success).await,
            Err(GatewayError::UnknownReference)
        );
        assert_eq!(
            gw.refund("sbx_nope", money("1"), "r1").await,
            Err(GatewayError::UnknownReference)
        );
    }

    #[tokio::test]
    async fn refunds_only_paid_payments() {
        let gw = gateway();
        let pending = gw.initiate(&request("a", "10")).await.unwrap().reference;
        assert!(matches!(
            gw.refund(&pending, money("1"), "r1").await,
            Err(GatewayError::Refused(_))
        ));
        let failed = gw.initiate(&request("b", "10")).await.unwrap().reference;
        gw.simulate(&failed, SimulatedOutcome::Failure)
            .await
            .unwrap();
        assert!(matches!(
            gw.refund(&failed, money("1"), "r1").await,
            Err(GatewayError::Refused(_))
        ));
    }

    #[tokio::test]
    async fn refunds_are_capped_at_the_paid_amount_cumulatively() {
        let gw = gateway();
        let reference = paid(&gw, "a", "10.00").await;
        assert!(matches!(
            gw.refund(&reference, money("10.01"), "r0").await,
            Err(GatewayError::Refused(_))
        ));
        assert!(matches!(
            gw.refund(&reference, money("0"), "rz").await,
            Err(GatewayError::Refused(_))
        ));
        let first = gw.refund(&reference, money("6.00"), "r1").await.unwrap();
        assert!(first.starts_with("sbxr_"), "{first}");
        // 6 + 4.01 > 10
        assert!(matches!(
            gw.refund(&reference, money("4.01"), "r2").await,
            Err(GatewayError::Refused(_))
        ));
        let second = gw.refund(&reference, money("4.00"), "r3").await.unwrap();
        assert_ne!(first, second);
        // Fully refunded: nothing more, not even a cent.
        assert!(matches!(
            gw.refund(&reference, money("0.01"), "r4").await,
            Err(GatewayError::Refused(_))
        ));
        // Still reported paid: refunds are the service's bookkeeping.
        assert!(matches!(
            gw.status(&reference).await,
            Ok(GatewayPaymentStatus::Paid { .. })
        ));
    }

    #[tokio::test]
    async fn a_refund_is_idempotent_per_key() {
        let gw = gateway();
        let reference = paid(&gw, "a", "10.00").await;
        let first = gw.refund(&reference, money("6.00"), "r1").await.unwrap();
        let replay = gw.refund(&reference, money("6.00"), "r1").await.unwrap();
        assert_eq!(first, replay);
        // The replay was not counted: 4.00 is still refundable.
        assert!(gw.refund(&reference, money("4.00"), "r2").await.is_ok());
        // The same key for a different amount is a different request.
        assert!(matches!(
            gw.refund(&reference, money("1.00"), "r1").await,
            Err(GatewayError::Refused(_))
        ));
    }

    #[test]
    fn verifies_webhooks_signed_with_its_secret() {
        let gw = gateway();
        let body = br#"{"event_id":"e1","reference":"sbx_abc"}"#;
        let signature = gw.sign(1_700_000_000, body);
        assert!(signature.starts_with("t=1700000000,v1="));
        let headers = vec![("x-sandbox-signature".to_owned(), signature.clone())];
        assert_eq!(
            gw.verify_webhook(&headers, body),
            Ok(WebhookNotice {
                reference: "sbx_abc".to_owned(),
                event_id: "e1".to_owned(),
                signed_at: 1_700_000_000,
            })
        );
        let tampered = br#"{"event_id":"e1","reference":"sbx_abd"}"#;
        assert_eq!(
            gw.verify_webhook(&headers, tampered),
            Err(GatewayError::InvalidSignature)
        );
        assert_eq!(
            gw.verify_webhook(&[], body),
            Err(GatewayError::InvalidSignature)
        );
        let wrong = vec![(
            "X-Sandbox-Signature".to_owned(),
            webhook_signature::sign(b"another secret", 1_700_000_000, body),
        )];
        assert_eq!(
            gw.verify_webhook(&wrong, body),
            Err(GatewayError::InvalidSignature)
        );
        let garbage = vec![("X-Sandbox-Signature".to_owned(), "t=1,v1=nothex".to_owned())];
        assert_eq!(
            gw.verify_webhook(&garbage, body),
            Err(GatewayError::InvalidSignature)
        );
    }

    #[test]
    fn a_validly_signed_webhook_without_a_reference_is_refused() {
        let gw = gateway();
        let body = br#"{"event_id":"e1","status":"PAID"}"#;
        let headers = vec![("X-Sandbox-Signature".to_owned(), gw.sign(1, body))];
        assert!(matches!(
            gw.verify_webhook(&headers, body),
            Err(GatewayError::Refused(_))
        ));
    }
}
