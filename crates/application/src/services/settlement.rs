//! What happens at the gateways after a commit (job `process-refunds`):
//!
//! * **Pending refunds.** A refund is recorded PENDING, its amount reserved on the payment,
//!   in the transaction that decides it (cancellation, event cancellation, expiry, an admin's
//!   or owner's refund, a payment arriving for a dead booking). [`PaymentService::process_refunds`]
//!   claims due ones in a short transaction (`SKIP LOCKED` on PostgreSQL; the claim counts an
//!   attempt and leases the row for [`CLAIM_LEASE_MINUTES`]), commits, calls the gateway with
//!   the refund's own idempotency key — the same key on every attempt, so a retry after a
//!   crash or a lost answer refunds once — and records the answer in its own transaction:
//!   * refunded → SUCCEEDED with the gateway's reference, `payment.refunded` and an audit row;
//!   * unavailable → due again after the backoff ([`RefundRetryPolicy`]), until the attempts
//!     are exhausted;
//!   * refused, unknown reference, or attempts exhausted → FAILED: the reservation is taken
//!     back from the payment (the money was not returned), `admin.alert` is published and an
//!     audit row written; the refund stays visible on the payment (`GET /payments/{id}`).
//! * **Unreferenced intents.** A payment intent whose second transaction never committed
//!   (the process died, the database failed) is INITIATED without a reference;
//!   [`PaymentService::reconcile_intents`] asks its gateway again with the payment's key and
//!   records what it answers (see [`PaymentService::resolve_intent`]).

use chrono::Duration;
use domain::payment::{Payment, PaymentStatus, RefundStatus};
use serde_json::{Value, json};

use crate::AppError;
use crate::actor::RequestContext;
use crate::outbox::DomainEventType;
use crate::ports::{AuditEntry, GatewayError, RefundRecord, Tx};
use crate::services::PaymentService;
use crate::services::commerce::payment_summary;
use crate::services::recording::Recorder;

/// A claimed refund is not claimed again for this long, so a second worker does not send it
/// while the first one still waits for the gateway (a crashed worker's claim runs out).
pub const CLAIM_LEASE_MINUTES: i64 = 5;
/// An intent younger than this may still be in its own initiation's hands.
const INTENT_GRACE_MINUTES: i64 = 2;
/// The longest gateway error text a refund keeps.
const MAX_ERROR: usize = 500;

/// The refund as the audit log and events see it.
#[must_use]
pub fn refund_summary(r: &RefundRecord) -> Value {
    json!({
        "refund_id": r.id.value(),
        "payment_id": r.payment_id.value(),
        "amount": r.amount.to_string(),
        "status": r.status.as_str(),
        "reason": r.reason,
        "gateway_reference": r.gateway_reference,
        "attempts": r.attempts,
        "last_error": r.last_error,
    })
}

/// What one gateway call for a refund came to.
enum Outcome {
    Refunded(String),
    /// Worth trying again later.
    Unavailable(String),
    /// Will never succeed.
    Refused(String),
}

impl PaymentService {
    /// Job `process-refunds`: sends up to `limit` due pending refunds, then resolves up to
    /// `limit` payment intents left without a reference. Answers how many it handled.
    #[tracing::instrument(name = "PaymentService.process_due", skip_all)]
    pub async fn process_due(&self, limit: u32) -> Result<u64, AppError> {
        let refunds = self.process_refunds(limit).await?;
        let intents = self.reconcile_intents(limit).await?;
        Ok(refunds + intents)
    }

    /// Sends up to `limit` due pending refunds to their gateways (see the module docs).
    #[tracing::instrument(name = "PaymentService.process_refunds", skip_all)]
    pub async fn process_refunds(&self, limit: u32) -> Result<u64, AppError> {
        if limit == 0 {
            return Ok(0);
        }
        let ctx = RequestContext::system("process-refunds");
        let claimed = self.claim_refunds(limit).await?;
        let mut handled = 0;
        for (refund, payment) in claimed {
            let outcome = self.send_refund(&refund, &payment).await;
            self.record_refund_outcome(&ctx, refund, outcome).await?;
            handled += 1;
        }
        Ok(handled)
    }

    /// Claims due refunds (one more attempt each, leased) with their payments, and commits.
    async fn claim_refunds(&self, limit: u32) -> Result<Vec<(RefundRecord, Payment)>, AppError> {
        let now = self.deps.clock.now();
        let tx = self.deps.uow.begin().await?;
        let rows = tx
            .payments()
            .claim_due_refunds(now, now + Duration::minutes(CLAIM_LEASE_MINUTES), limit)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for refund in rows {
            let payment = tx
                .payments()
                .find(refund.payment_id)
                .await?
                .ok_or_else(|| {
                    AppError::internal(format!("refund {} of a missing payment", refund.id))
                })?;
            claimed.push((refund, payment));
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// The gateway call, with no transaction open.
    async fn send_refund(&self, refund: &RefundRecord, payment: &Payment) -> Outcome {
        let gateway = match self.deps.gateways.get(&payment.gateway) {
            Ok(g) => g,
            Err(e) => return Outcome::Refused(format!("gateway {}: {e}", payment.gateway)),
        };
        let Some(reference) = payment.gateway_reference.as_deref() else {
            return Outcome::Refused("the payment has no gateway reference".to_owned());
        };
        // Refunds recorded before keys were stored on the row get a key stable per row.
        let key = refund
            .idempotency_key
            .clone()
            .unwrap_or_else(|| format!("refund-{}", refund.id));
        match gateway.refund(reference, refund.amount, &key).await {
            Ok(reference) => Outcome::Refunded(reference),
            Err(e @ GatewayError::Unavailable(_)) => Outcome::Unavailable(e.to_string()),
            Err(e) => Outcome::Refused(e.to_string()),
        }
    }

    /// The second transaction: the gateway's answer, unless another worker recorded one
    /// first (then nothing is written twice).
    async fn record_refund_outcome(
        &self,
        ctx: &RequestContext,
        claimed: RefundRecord,
        outcome: Outcome,
    ) -> Result<(), AppError> {
        let now = self.deps.clock.now();
        let tx = self.deps.uow.begin().await?;
        let Some(mut refund) = tx.payments().find_refund_for_update(claimed.id).await? else {
            return Ok(());
        };
        if refund.status != RefundStatus::Pending {
            return Ok(());
        }
        let before = refund_summary(&refund);
        match outcome {
            Outcome::Refunded(reference) => {
                refund.status = RefundStatus::Succeeded;
                refund.gateway_reference = Some(reference);
                refund.next_attempt_at = None;
                refund.last_error = None;
                refund.completed_at = Some(now);
                tx.payments().update_refund(&refund).await?;
                let payment = touch_payment(tx.as_ref(), &refund, now, false).await?;
                let mut payload = payment_summary(&payment);
                if let Some(map) = payload.as_object_mut() {
                    map.extend([
                        ("refunded".to_owned(), json!(refund.amount.to_string())),
                        ("reason".to_owned(), json!(refund.reason)),
                        ("refund_id".to_owned(), json!(refund.id.value())),
                        (
                            "refund_reference".to_owned(),
                            json!(refund.gateway_reference),
                        ),
                    ]);
                }
                emit(
                    tx.as_ref(),
                    &payment,
                    DomainEventType::PaymentRefunded,
                    payload,
                    now,
                )
                .await?;
                record_audit(tx.as_ref(), ctx, "payment.refund", &refund, before, now).await?;
            }
            Outcome::Unavailable(error) if !self.deps.refund_retry.exhausted(refund.attempts) => {
                refund.next_attempt_at =
                    Some(self.deps.refund_retry.next_attempt_at(refund.attempts, now));
                refund.last_error = Some(clip_error(&error));
                tx.payments().update_refund(&refund).await?;
                tracing::warn!(refund_id = refund.id.value(), attempts = refund.attempts, error = %error, "refund not sent; will retry");
            }
            Outcome::Unavailable(error) | Outcome::Refused(error) => {
                refund.status = RefundStatus::Failed;
                refund.next_attempt_at = None;
                refund.last_error = Some(clip_error(&error));
                refund.completed_at = Some(now);
                tx.payments().update_refund(&refund).await?;
                let payment = touch_payment(tx.as_ref(), &refund, now, true).await?;
                let mut payload = payment_summary(&payment);
                if let Some(map) = payload.as_object_mut() {
                    map.extend([
                        ("alert".to_owned(), json!("REFUND_FAILED")),
                        ("refund".to_owned(), refund_summary(&refund)),
                    ]);
                }
                emit(
                    tx.as_ref(),
                    &payment,
                    DomainEventType::AdminAlert,
                    payload,
                    now,
                )
                .await?;
                record_audit(
                    tx.as_ref(),
                    ctx,
                    "payment.refund.fail",
                    &refund,
                    before,
                    now,
                )
                .await?;
                tracing::error!(refund_id = refund.id.value(), payment_id = payment.id.value(), attempts = refund.attempts, error = %error, "refund failed for good");
            }
        }
        tx.commit().await
    }

    /// Resolves up to `limit` intents left INITIATED without a reference for longer than the
    /// initiation itself can take.
    #[tracing::instrument(name = "PaymentService.reconcile_intents", skip_all)]
    pub async fn reconcile_intents(&self, limit: u32) -> Result<u64, AppError> {
        if limit == 0 {
            return Ok(0);
        }
        let now = self.deps.clock.now();
        let tx = self.deps.uow.begin().await?;
        let intents = tx
            .payments()
            .unreferenced_before(now - Duration::minutes(INTENT_GRACE_MINUTES), limit)
            .await?;
        drop(tx);
        let ctx = RequestContext::system("payment-reconciliation");
        let mut handled = 0;
        for payment in intents {
            // One intent the gateway cannot answer about now must not stop the others.
            if let Err(e) = self.resolve_intent(&ctx, &payment).await {
                tracing::warn!(payment_id = payment.id.value(), error = %e, "payment intent not resolved yet");
            }
            handled += 1;
        }
        Ok(handled)
    }
}

/// Locks the refund's payment (by its reference) and bumps its version, so that the event
/// this change publishes carries a version of its own; `revert` takes the failed refund's
/// reservation back first.
async fn touch_payment(
    tx: &dyn Tx,
    refund: &RefundRecord,
    now: domain::Timestamp,
    revert: bool,
) -> Result<Payment, AppError> {
    let mut payment = tx
        .payments()
        .find(refund.payment_id)
        .await?
        .ok_or_else(|| AppError::internal(format!("refund {} of a missing payment", refund.id)))?;
    if let Some(reference) = payment.gateway_reference.clone() {
        payment = tx
            .payments()
            .find_by_reference_for_update(&payment.gateway, &reference)
            .await?
            .unwrap_or(payment);
    }
    let reserved = matches!(
        payment.status,
        PaymentStatus::PartialRefund | PaymentStatus::Refunded
    );
    if revert && reserved {
        let _ = payment.revert_refund(refund.amount, now)?;
    } else {
        payment.updated_at = now;
    }
    tx.payments().update(&payment).await
}

async fn emit(
    tx: &dyn Tx,
    payment: &Payment,
    kind: DomainEventType,
    payload: Value,
    now: domain::Timestamp,
) -> Result<(), AppError> {
    Recorder::new(tx, now)
        .emit_payload(payment, kind, payload)
        .await
}

async fn record_audit(
    tx: &dyn Tx,
    ctx: &RequestContext,
    action: &str,
    refund: &RefundRecord,
    before: Value,
    now: domain::Timestamp,
) -> Result<(), AppError> {
    tx.audit()
        .record(
            AuditEntry::by(ctx, action, "payment", refund.payment_id, now)
                .with_change(Some(before), Some(refund_summary(refund))),
        )
        .await
}

fn clip_error(error: &str) -> String {
    error.chars().take(MAX_ERROR).collect()
}
