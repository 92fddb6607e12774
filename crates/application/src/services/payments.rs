//! Payment use cases (PRODUCT.md §5).
//!
//! Confirmation, webhooks and the sandbox simulation all end in one function,
//! [`PaymentService::apply_gateway_word`]: the payment is locked, the gateway is *asked* for the
//! state of the reference (a caller's word is never trusted) and that state is applied:
//! * paid → the payment is COMPLETED; a PENDING_PAYMENT booking whose completed payments now
//!   cover its total is CONFIRMED with a ticket code; a booking that is EXPIRED, CANCELED or past
//!   its deadline plus grace is never resurrected: the payment is refunded at once;
//! * failed → the payment is FAILED;
//! * pending → nothing changes.
//!
//! A payment that is no longer INITIATED is not asked about again: applying twice is a no-op
//! that answers the same view.

use std::sync::Arc;

use domain::booking::{Booking, BookingStatus};
use domain::booking_rules::BookingSettings;
use domain::loyalty::LoyaltyProgram;
use domain::payment::{NewPayment, Payment, PaymentCoverage, PaymentStatus};
use domain::{BookingId, Money, PaymentId};
use serde_json::json;

use crate::AppError;
use crate::actor::RequestContext;
use crate::clock::Clock;
use crate::outbox::DomainEventType;
use crate::ports::{
    GatewayPaymentStatus, PaymentGateway, PaymentGateways, PaymentSessionRequest, SimulatedOutcome,
    TicketCodeGenerator, Tx, UnitOfWork,
};
use crate::services::bookings::{cancel_in_tx, event_creator};
use crate::services::refunds::{Commerce, Env, clip, clip_failure, payment_summary};
use crate::services::waitlist::WaitlistSettings;

/// Input of `POST /api/v1/payments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiatePaymentCommand {
    pub booking_id: BookingId,
    pub payment_method: String,
    pub return_url: Option<String>,
    /// Less than the outstanding amount makes a partial payment; `None` pays it all.
    pub amount: Option<Money>,
    /// Passed to the gateway so a retried initiation does not charge twice.
    pub idempotency_key: Option<String>,
}

/// A payment with its booking, and the page where the customer pays (on initiation only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentView {
    pub payment: Payment,
    pub payment_url: Option<String>,
    pub booking: Booking,
}

/// Input of `POST /api/v1/payments/{id}/refund`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundCommand {
    /// ADMIN: any amount up to what is refundable on the payment (default: all of it).
    /// Owner: at most what the refund policy gives back (default: that).
    pub amount: Option<Money>,
    pub reason: String,
}

/// The payment use cases.
#[derive(Clone)]
pub struct PaymentService {
    deps: Commerce,
}

impl std::fmt::Debug for PaymentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentService")
            .field("gateways", &self.deps.gateways)
            .finish_non_exhaustive()
    }
}

const MAX_RETURN_URL: usize = 2048;
const MAX_IDEMPOTENCY_KEY: usize = 200;

impl PaymentService {
    #[must_use]
    pub fn new(
        uow: Arc<dyn UnitOfWork>,
        clock: Arc<dyn Clock>,
        gateways: PaymentGateways,
        tickets: Arc<dyn TicketCodeGenerator>,
        settings: BookingSettings,
        loyalty: LoyaltyProgram,
    ) -> Self {
        Self {
            deps: Commerce::new(uow, clock, gateways, tickets, settings, loyalty),
        }
    }

    /// The waitlist settings used when this service frees seats (default: offers at once,
    /// 30-minute window).
    #[must_use]
    pub const fn with_waitlist(mut self, settings: WaitlistSettings) -> Self {
        self.deps.waitlist = settings;
        self
    }

    /// `POST /api/v1/payments`: the booking's owner (or an admin) starts a payment of the
    /// outstanding amount, or part of it, on the default gateway.
    pub async fn initiate(
        &self,
        ctx: &RequestContext,
        cmd: InitiatePaymentCommand,
    ) -> Result<PaymentView, AppError> {
        ctx.actor.require_authenticated()?;
        if let Some(url) = &cmd.return_url {
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok || url.len() > MAX_RETURN_URL {
                return Err(AppError::invalid(
                    "return_url",
                    "must be an http(s) URL of at most 2048 characters",
                ));
            }
        }
        let tx = self.deps.uow.begin().await?;
        let env = self.deps.env(tx.as_ref(), ctx);
        let now = env.now;
        let peek = tx
            .bookings()
            .find(cmd.booking_id)
            .await?
            .ok_or(AppError::NotFound { entity: "booking" })?;
        ctx.actor.require_owner(peek.user_id, "booking")?;
        // The lock serializes concurrent initiations of one booking (outstanding stays right).
        let booking = tx
            .bookings()
            .find_for_update(cmd.booking_id)
            .await?
            .ok_or(AppError::NotFound { entity: "booking" })?;
        if booking.status != BookingStatus::PendingPayment {
            return Err(AppError::conflict(
                crate::ErrorCode::BookingNotPayable,
                format!(
                    "the booking is {}; only PENDING_PAYMENT bookings take payments",
                    booking.status
                ),
            ));
        }
        if now > booking.payment_deadline {
            return Err(AppError::conflict(
                crate::ErrorCode::PaymentDeadlinePassed,
                format!(
                    "the payment deadline {} has passed",
                    booking.payment_deadline.to_rfc3339()
                ),
            ));
        }
        let gateway = self.deps.gateways.default_gateway();
        let payments = tx.payments().for_booking(booking.id).await?;
        let coverage = PaymentCoverage::of(booking.total_price(), &payments);
        let new = NewPayment::new(
            booking.id,
            cmd.amount,
            &coverage,
            &cmd.payment_method,
            gateway.name(),
            now,
        )?;
        let mut payment = tx.payments().insert(new).await?;
        let key = cmd
            .idempotency_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map_or_else(
                || format!("payment-{}", payment.id),
                |k| clip(k, MAX_IDEMPOTENCY_KEY),
            );
        let session = gateway
            .initiate(&PaymentSessionRequest {
                payment_id: payment.id,
                booking_id: booking.id,
                amount: payment.amount,
                payment_method: payment.payment_method.clone(),
                return_url: cmd.return_url.clone(),
                idempotency_key: key,
            })
            .await?;
        payment.gateway_reference = Some(session.reference.clone());
        let payment = tx.payments().update(&payment).await?;
        env.emit_payment(
            &payment,
            DomainEventType::PaymentInitiated,
            json!({"payment_url": session.payment_url}),
        )
        .await?;
        env.audit(
            "payment.initiate",
            "payment",
            payment.id,
            None,
            Some(payment_summary(&payment)),
        )
        .await?;
        tx.commit().await?;
        Ok(PaymentView {
            payment,
            payment_url: Some(session.payment_url),
            booking,
        })
    }

    /// `POST /api/v1/payments/confirm`: the booking's owner (or an admin) asks to apply what
    /// the gateway says about `gateway_reference`. Others get 404.
    pub async fn confirm(
        &self,
        ctx: &RequestContext,
        gateway_reference: &str,
    ) -> Result<PaymentView, AppError> {
        ctx.actor.require_authenticated()?;
        let reference = gateway_reference.trim();
        if reference.is_empty() {
            return Err(AppError::invalid("gateway_reference", "must not be empty"));
        }
        let tx = self.deps.uow.begin().await?;
        let mut found = None;
        for name in self.deps.gateways.names() {
            if let Some(p) = tx
                .payments()
                .find_by_reference_for_update(name, reference)
                .await?
            {
                found = Some(p);
                break;
            }
        }
        let payment = found.ok_or(AppError::NotFound { entity: "payment" })?;
        let booking = lock_booking(tx.as_ref(), payment.booking_id).await?;
        ctx.actor
            .require_owner(booking.user_id, "payment")
            .map_err(|_| AppError::NotFound { entity: "payment" })?;
        let view = self
            .apply_gateway_word(&self.deps.env(tx.as_ref(), ctx), payment, booking)
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// `POST /api/v1/payments/webhook/{gateway}`: a signed notice from the gateway (a bad
    /// signature is 401); the state is then asked for and applied as the system.
    pub async fn webhook(
        &self,
        gateway: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), AppError> {
        let gw = self.deps.gateways.get(gateway)?;
        let notice = gw.verify_webhook(headers, body)?;
        self.apply_by_reference(gateway, &notice.reference, "webhook")
            .await
            .map(|_| ())
    }

    /// The sandbox payment page: plays the customer (`success`/`failure`) on a test gateway,
    /// then applies the gateway's state as a webhook would. Real gateways refuse (409).
    pub async fn simulate(
        &self,
        gateway: &str,
        reference: &str,
        outcome: SimulatedOutcome,
    ) -> Result<PaymentView, AppError> {
        let gw = self.deps.gateways.get(gateway)?;
        gw.simulate(reference, outcome).await?;
        self.apply_by_reference(gateway, reference, "payment-simulation")
            .await
    }

    /// `GET /api/v1/payments/{id}`: whoever may read the booking (owner, the event's
    /// organizer, admins).
    pub async fn get(&self, ctx: &RequestContext, id: PaymentId) -> Result<PaymentView, AppError> {
        ctx.actor.require_authenticated()?;
        let tx = self.deps.uow.begin().await?;
        let payment = tx
            .payments()
            .find(id)
            .await?
            .ok_or(AppError::NotFound { entity: "payment" })?;
        let booking = tx
            .bookings()
            .find(payment.booking_id)
            .await?
            .ok_or(AppError::NotFound { entity: "payment" })?;
        let creator = event_creator(tx.as_ref(), booking.event_id).await?;
        ctx.actor
            .require_booking_reader(booking.user_id, creator)
            .map_err(|e| match e {
                AppError::NotFound { .. } => AppError::NotFound { entity: "payment" },
                other => other,
            })?;
        Ok(PaymentView {
            payment,
            payment_url: None,
            booking,
        })
    }

    /// `POST /api/v1/payments/{id}/refund`.
    /// * ADMIN: refunds `amount` (default: everything refundable) of this payment; the booking
    ///   is left alone unless nothing paid on it remains, then it is canceled (seats freed).
    /// * The booking's owner: only through the refund policy, which means canceling the
    ///   booking exactly like `BookingService::cancel`; an `amount` above what the policy
    ///   gives is 409 `REFUND_EXCEEDS_POLICY`.
    /// * Anyone else: 404.
    pub async fn refund(
        &self,
        ctx: &RequestContext,
        id: PaymentId,
        cmd: RefundCommand,
    ) -> Result<PaymentView, AppError> {
        let me = ctx.actor.require_authenticated()?;
        let reason = cmd.reason.trim();
        if reason.is_empty() {
            return Err(AppError::invalid("reason", "must not be empty"));
        }
        if cmd.amount.is_some_and(|a| !a.is_positive()) {
            return Err(AppError::invalid("amount", "must be positive"));
        }
        let tx = self.deps.uow.begin().await?;
        let env = self.deps.env(tx.as_ref(), ctx);
        let peek = tx
            .payments()
            .find(id)
            .await?
            .ok_or(AppError::NotFound { entity: "payment" })?;
        let owner = tx
            .bookings()
            .find(peek.booking_id)
            .await?
            .ok_or(AppError::NotFound { entity: "payment" })?;

        if !ctx.actor.is_admin() {
            if owner.user_id != me {
                return Err(AppError::NotFound { entity: "payment" });
            }
            cancel_in_tx(&env, owner.id, Some(reason), cmd.amount).await?;
        } else {
            // Lock order as everywhere: event, booking, then the payment's row (by update).
            let event = tx
                .events()
                .find_for_update(owner.event_id)
                .await?
                .ok_or_else(|| AppError::internal("payment of a booking of a missing event"))?;
            let booking = lock_booking(tx.as_ref(), owner.id).await?;
            let payment = tx
                .payments()
                .find(id)
                .await?
                .ok_or(AppError::NotFound { entity: "payment" })?;
            let refundable = payment.refundable();
            let amount = cmd.amount.unwrap_or(refundable);
            if !amount.is_positive() || amount > refundable {
                return Err(AppError::conflict(
                    crate::ErrorCode::RefundExceedsPaid,
                    format!("the refund exceeds the refundable {refundable}"),
                ));
            }
            env.refund_payments(std::slice::from_ref(&payment), amount, reason)
                .await?;
            let payments = tx.payments().for_booking(booking.id).await?;
            let coverage = PaymentCoverage::of(booking.total_price(), &payments);
            let pending = payments
                .iter()
                .any(|p| p.status == PaymentStatus::Initiated);
            if booking.is_active() && !coverage.net_paid().is_positive() && !pending {
                env.cancel_booking(
                    booking,
                    &event,
                    Some(reason),
                    domain::refund_policy::CancellationReason::ByCustomer,
                    None,
                )
                .await?;
            }
        }

        let payment = tx
            .payments()
            .find(id)
            .await?
            .ok_or(AppError::NotFound { entity: "payment" })?;
        let booking = tx
            .bookings()
            .find(payment.booking_id)
            .await?
            .ok_or(AppError::NotFound { entity: "payment" })?;
        tx.commit().await?;
        Ok(PaymentView {
            payment,
            payment_url: None,
            booking,
        })
    }

    /// Webhook and simulation: find the payment by reference and apply as the system.
    async fn apply_by_reference(
        &self,
        gateway: &str,
        reference: &str,
        job: &str,
    ) -> Result<PaymentView, AppError> {
        let ctx = RequestContext::system(&format!("{job}:{gateway}"));
        let tx = self.deps.uow.begin().await?;
        let payment = tx
            .payments()
            .find_by_reference_for_update(gateway, reference)
            .await?
            .ok_or(AppError::NotFound { entity: "payment" })?;
        let booking = lock_booking(tx.as_ref(), payment.booking_id).await?;
        let view = self
            .apply_gateway_word(&self.deps.env(tx.as_ref(), &ctx), payment, booking)
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Asks the payment's gateway for its state and applies it (see the module docs). The
    /// payment and its booking are locked by the caller.
    async fn apply_gateway_word(
        &self,
        env: &Env<'_>,
        mut payment: Payment,
        booking: Booking,
    ) -> Result<PaymentView, AppError> {
        if payment.status != PaymentStatus::Initiated {
            return Ok(PaymentView {
                payment,
                payment_url: None,
                booking,
            });
        }
        let gateway: Arc<dyn PaymentGateway> = self.deps.gateways.get(&payment.gateway)?;
        let reference = payment.gateway_reference.clone().ok_or_else(|| {
            AppError::internal(format!("payment {} has no reference", payment.id))
        })?;
        let before = payment_summary(&payment);
        let now = env.now;
        match gateway.status(&reference).await? {
            GatewayPaymentStatus::Pending => Ok(PaymentView {
                payment,
                payment_url: None,
                booking,
            }),
            GatewayPaymentStatus::Failed { reason } => {
                let _ = payment.fail(&clip_failure(&reason), now)?;
                let payment = env.tx.payments().update(&payment).await?;
                env.emit_payment(&payment, DomainEventType::PaymentFailed, json!({}))
                    .await?;
                env.audit(
                    "payment.fail",
                    "payment",
                    payment.id,
                    Some(before),
                    Some(payment_summary(&payment)),
                )
                .await?;
                Ok(PaymentView {
                    payment,
                    payment_url: None,
                    booking,
                })
            }
            GatewayPaymentStatus::Paid { amount } => {
                if amount != payment.amount {
                    return Err(AppError::conflict(
                        crate::ErrorCode::PaymentAmountMismatch,
                        format!(
                            "the gateway reports {amount} paid for a payment of {}",
                            payment.amount
                        ),
                    ));
                }
                let _ = payment.complete(now)?;
                let mut payment = env.tx.payments().update(&payment).await?;
                env.emit_payment(&payment, DomainEventType::PaymentCompleted, json!({}))
                    .await?;
                env.audit(
                    "payment.complete",
                    "payment",
                    payment.id,
                    Some(before),
                    Some(payment_summary(&payment)),
                )
                .await?;
                let late = booking.status == BookingStatus::PendingPayment
                    && booking.is_past_grace(now, self.deps.settings.grace);
                let mut booking = booking;
                match booking.status {
                    BookingStatus::Expired | BookingStatus::Canceled => {
                        let why = format!(
                            "automatic refund: payment arrived for a {} booking",
                            booking.status
                        );
                        payment = self.refund_whole(env, payment, &why).await?;
                    }
                    BookingStatus::PendingPayment if late => {
                        payment = self
                            .refund_whole(
                                env,
                                payment,
                                "automatic refund: payment arrived after the payment deadline",
                            )
                            .await?;
                    }
                    BookingStatus::PendingPayment => {
                        let all = env.tx.payments().for_booking(booking.id).await?;
                        if PaymentCoverage::of(booking.total_price(), &all).is_fully_paid() {
                            booking = env
                                .confirm_booking(
                                    booking,
                                    self.deps.tickets.generate(),
                                    self.deps.settings.grace,
                                )
                                .await?;
                        }
                    }
                    BookingStatus::Confirmed | BookingStatus::Completed => {}
                }
                Ok(PaymentView {
                    payment,
                    payment_url: None,
                    booking,
                })
            }
        }
    }

    async fn refund_whole(
        &self,
        env: &Env<'_>,
        payment: Payment,
        why: &str,
    ) -> Result<Payment, AppError> {
        let amount = payment.refundable();
        let mut done = env
            .refund_payments(std::slice::from_ref(&payment), amount, why)
            .await?;
        done.pop()
            .ok_or_else(|| AppError::internal("automatic refund refunded nothing"))
    }
}

async fn lock_booking(tx: &dyn Tx, id: BookingId) -> Result<Booking, AppError> {
    tx.bookings()
        .find_for_update(id)
        .await?
        .ok_or_else(|| AppError::internal(format!("payment of missing booking {id}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::ports::tickets::MockTicketCodeGenerator;
    use crate::services::bookings::tests::{
        booking, gateways, named_gateway, now, payment, program, user,
    };
    use crate::services::test_support::{FakeTx, uow_with};
    use std::sync::atomic::{AtomicBool, Ordering};

    fn service(
        txs: Vec<FakeTx>,
        gateway: crate::ports::payment_gateway::MockPaymentGateway,
    ) -> PaymentService {
        PaymentService::new(
            Arc::new(uow_with(txs)),
            Arc::new(ManualClock::new(now())),
            gateways(gateway),
            Arc::new(MockTicketCodeGenerator::new()),
            BookingSettings::default(),
            program(),
        )
    }

    fn locked(tx: &mut FakeTx, p: Payment, b: Booking) {
        tx.payments
            .expect_find_by_reference_for_update()
            .returning(move |_, _| Ok(Some(p.clone())));
        tx.bookings
            .expect_find_for_update()
            .returning(move |_| Ok(Some(b.clone())));
    }

    #[tokio::test]
    async fn a_settled_payment_is_not_asked_about_again_and_nothing_is_written() {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        let p = payment(PaymentStatus::Completed);
        let b = booking(BookingStatus::Confirmed);
        locked(&mut tx, p.clone(), b.clone());
        tx.payments.expect_update().never();
        tx.outbox.expect_enqueue().never();
        let mut g = named_gateway();
        g.expect_status().never();

        let view = service(vec![tx], g)
            .confirm(&user(1), "ref-11")
            .await
            .unwrap();

        assert_eq!((view.payment, view.booking), (p, b));
    }

    #[tokio::test]
    async fn a_paid_amount_that_differs_from_the_payment_is_refused_and_rolled_back() {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        locked(
            &mut tx,
            payment(PaymentStatus::Initiated),
            booking(BookingStatus::PendingPayment),
        );
        tx.payments.expect_update().never();
        let mut g = named_gateway();
        g.expect_status().times(1).returning(|_| {
            Ok(GatewayPaymentStatus::Paid {
                amount: Money::parse("1").unwrap(),
            })
        });

        let err = service(vec![tx], g)
            .confirm(&user(1), "ref-11")
            .await
            .unwrap_err();

        assert_eq!(err.code(), "PAYMENT_AMOUNT_MISMATCH");
        assert!(!committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn confirm_by_someone_else_is_not_found_before_the_gateway_is_asked() {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        locked(
            &mut tx,
            payment(PaymentStatus::Initiated),
            booking(BookingStatus::PendingPayment),
        );
        let mut g = named_gateway();
        g.expect_status().never();
        let err = service(vec![tx], g)
            .confirm(&user(2), "ref-11")
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::NotFound { entity: "payment" }));
        assert!(!committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_forged_webhook_is_unauthenticated_and_opens_no_transaction() {
        let mut g = named_gateway();
        g.expect_verify_webhook()
            .returning(|_, _| Err(crate::ports::GatewayError::InvalidSignature));
        let err = service(vec![], g)
            .webhook("fake", &[], b"ref-11")
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Unauthenticated));
    }
}
