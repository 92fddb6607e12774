//! Payment use cases (PRODUCT.md §5).
//!
//! No gateway is called while a database transaction is open (a slow gateway must never hold
//! a booking's or an event's row lock, nor SQLite's only connection):
//! * **initiate** writes the payment intent (INITIATED, with the gateway idempotency key it
//!   will be known by) and commits; calls the gateway; records the reference and
//!   `payment.initiated` in a second transaction. An intent whose second transaction never
//!   committed is resolved by asking the gateway again with the same key (which answers the
//!   same session): by the client retrying with its `Idempotency-Key`, or by the
//!   process-refunds job ([`PaymentService::reconcile_intents`]).
//! * **confirm, webhooks, the sandbox page** read the payment, ask the gateway for the state of
//!   the reference (a caller's word is never trusted) with no transaction open, then lock the
//!   payment and its booking and apply that state ([`apply_gateway_word`]):
//!   * paid → the payment is COMPLETED; a PENDING_PAYMENT booking whose completed payments now
//!     cover its total is CONFIRMED with a ticket code; a booking that is EXPIRED, CANCELED or
//!     past its deadline plus grace is never resurrected: the payment is refunded;
//!   * failed → the payment is FAILED;
//!   * pending → nothing changes.
//!
//!   A payment that is no longer INITIATED is not asked about again: applying twice is a no-op
//!   that answers the same view.
//! * **refunds** are recorded PENDING in the transaction that decides them and sent by
//!   [`PaymentService::process_refunds`] after the commit (`settlement.rs`).

use std::sync::Arc;

use domain::booking::{Booking, BookingStatus};
use domain::booking_rules::BookingSettings;
use domain::loyalty::LoyaltyProgram;
use domain::payment::{NewPayment, Payment, PaymentCoverage, PaymentStatus, RefundRetryPolicy};
use domain::{BookingId, Money, PaymentId, UserId};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::AppError;
use crate::actor::RequestContext;
use crate::clock::Clock;
use crate::outbox::DomainEventType;
use crate::ports::{
    GatewayError, GatewayPaymentStatus, GatewaySession, PaymentGateway, PaymentGateways,
    PaymentSessionRequest, RefundRecord, SimulatedOutcome, TicketCodeGenerator, Tx, UnitOfWork,
};
use crate::services::bookings::{cancel_in_tx, event_creator};
use crate::services::commerce::{Commerce, Env, RefundKick, payment_summary, random_key};
use crate::services::waitlist::WaitlistSettings;

/// Input of `POST /api/v1/payments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiatePaymentCommand {
    pub booking_id: BookingId,
    pub payment_method: String,
    pub return_url: Option<String>,
    /// Less than the outstanding amount makes a partial payment; `None` pays it all.
    pub amount: Option<Money>,
    /// The client's `Idempotency-Key`: the gateway key is derived from it (and the caller), so
    /// a retried initiation resumes the same payment instead of charging twice.
    pub idempotency_key: Option<String>,
}

/// A payment with its booking, and the page where the customer pays (on initiation only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentView {
    pub payment: Payment,
    pub payment_url: Option<String>,
    pub booking: Booking,
    /// The payment's refunds with their state (PENDING until the gateway confirmed them);
    /// loaded by `get` and `refund`, `None` elsewhere.
    pub refunds: Option<Vec<RefundRecord>>,
}

impl PaymentView {
    const fn of(payment: Payment, booking: Booking) -> Self {
        Self {
            payment,
            payment_url: None,
            booking,
            refunds: None,
        }
    }
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
    pub(crate) deps: Commerce,
    /// Origins (`https://app.example`) a `return_url` may point to; empty: none is accepted.
    return_origins: Arc<[String]>,
    /// How far a webhook's signed timestamp may be from now, either way
    /// (`payments.webhook_tolerance_seconds`).
    webhook_tolerance_seconds: i64,
}

impl std::fmt::Debug for PaymentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentService")
            .field("gateways", &self.deps.gateways)
            .finish_non_exhaustive()
    }
}

const MAX_RETURN_URL: usize = 2048;

/// The default replay window of webhooks, either way (5 minutes).
pub const DEFAULT_WEBHOOK_TOLERANCE_SECONDS: i64 = 300;

/// `https://App.example:8443/x?y` → `https://app.example:8443`. `None` for anything whose
/// authority is not a plain host (userinfo `a@b`, backslashes, empty host), so that a
/// look-alike cannot pass for an allowed origin.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty()
        || authority.contains(['@', '\\', ' '])
        || authority.chars().any(char::is_control)
    {
        return None;
    }
    Some(format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// The key a payment is known by at its gateway. With the client's `Idempotency-Key`: a
/// SHA-256 of (caller, operation, key), so a retry finds the same payment and two users
/// reusing one key never collide; without one: 244 random bits. Never predictable from
/// anything another user sees.
fn gateway_key(caller: Option<UserId>, client_key: Option<&str>) -> String {
    match client_key.map(str::trim).filter(|k| !k.is_empty()) {
        Some(key) => {
            let mut hasher = Sha256::new();
            for part in [
                caller.map(|u| u.to_string()).unwrap_or_default().as_bytes(),
                b"payment.initiate",
                key.as_bytes(),
            ] {
                hasher.update((part.len() as u64).to_be_bytes());
                hasher.update(part);
            }
            format!("pay_{}", hex::encode(hasher.finalize()))
        }
        None => random_key("pay_"),
    }
}

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
            return_origins: Arc::from(Vec::new()),
            webhook_tolerance_seconds: DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
        }
    }

    /// How far (seconds, either way) a webhook's signed timestamp may be from now
    /// (`payments.webhook_tolerance_seconds`, default 300).
    #[must_use]
    pub fn with_webhook_tolerance_seconds(mut self, seconds: u64) -> Self {
        self.webhook_tolerance_seconds = i64::try_from(seconds).unwrap_or(i64::MAX).max(1);
        self
    }

    /// The origins (`scheme://host[:port]`, `payments.allowed_return_origins`) a payment's
    /// `return_url` may point to; without any, a `return_url` is refused (no open redirect).
    #[must_use]
    pub fn with_allowed_return_origins(mut self, origins: Vec<String>) -> Self {
        self.return_origins = origins
            .into_iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .collect();
        self
    }

    /// The waitlist settings used when this service frees seats (default: offers at once,
    /// 30-minute window).
    #[must_use]
    pub const fn with_waitlist(mut self, settings: WaitlistSettings) -> Self {
        self.deps.waitlist = settings;
        self
    }

    /// Called after a transaction that recorded refunds committed (bootstrap wakes the
    /// process-refunds job with it).
    #[must_use]
    pub fn with_refund_kick(mut self, kick: RefundKick) -> Self {
        self.deps.kick = Some(kick);
        self
    }

    /// Attempts and backoff of pending refunds (default: 5 attempts, 1 minute doubling up to
    /// an hour).
    #[must_use]
    pub const fn with_refund_retry(mut self, policy: RefundRetryPolicy) -> Self {
        self.deps.refund_retry = policy;
        self
    }

    /// `POST /api/v1/payments`: the booking's owner (or an admin) starts a payment of the
    /// outstanding amount, or part of it, on the default gateway. See the module docs for the
    /// two transactions around the gateway call.
    #[tracing::instrument(name = "PaymentService.initiate", skip_all)]
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
            let allowed = origin(url).is_some_and(|o| self.return_origins.contains(&o));
            if !allowed {
                return Err(AppError::invalid(
                    "return_url",
                    "must point to one of the allowed origins (payments.allowed_return_origins)",
                ));
            }
        }
        let gateway = self.deps.gateways.default_gateway();
        let key = gateway_key(ctx.actor.user_id(), cmd.idempotency_key.as_deref());
        let (payment, booking) = self.write_intent(ctx, &cmd, gateway.as_ref(), key).await?;

        // No transaction is open during the call.
        let session = match gateway
            .initiate(&session_request(&payment, cmd.return_url.clone())?)
            .await
        {
            Ok(session) => session,
            Err(GatewayError::Refused(reason)) => {
                // The gateway will never take this payment: it stops reserving its share of
                // the outstanding amount.
                self.fail_intent(ctx, payment.id, &reason).await?;
                return Err(GatewayError::Refused(reason).into());
            }
            // Unavailable (or anything unexpected): the intent stays; the same key resolves
            // it later whether or not the gateway started a session.
            Err(other) => return Err(other.into()),
        };
        let payment = self.record_session(ctx, payment.id, &session).await?;
        Ok(PaymentView {
            payment,
            payment_url: Some(session.payment_url),
            booking,
            refunds: None,
        })
    }

    /// The first transaction of an initiation: checks the booking (locked, so concurrent
    /// initiations see each other's reservation of the outstanding amount) and writes the
    /// INITIATED intent with its gateway key, or finds the intent a retry with the same key
    /// resumes.
    async fn write_intent(
        &self,
        ctx: &RequestContext,
        cmd: &InitiatePaymentCommand,
        gateway: &dyn PaymentGateway,
        key: String,
    ) -> Result<(Payment, Booking), AppError> {
        let tx = self.deps.uow.begin().await?;
        let env = self.deps.env(tx.as_ref(), ctx);
        let now = env.now;
        let peek = tx
            .bookings()
            .find(cmd.booking_id)
            .await?
            .ok_or(AppError::NotFound { entity: "booking" })?;
        ctx.actor.require_owner(peek.user_id, "booking")?;
        let booking = tx
            .bookings()
            .find_for_update(cmd.booking_id)
            .await?
            .ok_or(AppError::NotFound { entity: "booking" })?;
        if let Some(existing) = tx
            .payments()
            .find_by_gateway_key(gateway.name(), &key)
            .await?
        {
            if existing.booking_id == booking.id && existing.status == PaymentStatus::Initiated {
                // A retry of an initiation whose answer was lost: the same payment, asked
                // about again with the same key.
                tx.commit().await?;
                return Ok((existing, booking));
            }
            return Err(key_reused());
        }
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
        let payments = tx.payments().for_booking(booking.id).await?;
        let coverage = PaymentCoverage::of(booking.total_price(), &payments);
        let mut new = NewPayment::new(
            booking.id,
            cmd.amount,
            &coverage,
            &cmd.payment_method,
            gateway.name(),
            now,
        )?;
        new.gateway_key = Some(key);
        let payment = tx.payments().insert(new).await?;
        env.audit(
            "payment.intent",
            "payment",
            payment.id,
            None,
            Some(payment_summary(&payment)),
        )
        .await?;
        tx.commit().await?;
        Ok((payment, booking))
    }

    /// The second transaction of an initiation: the gateway's reference and
    /// `payment.initiated`. A payment that got its reference meanwhile (a concurrent retry, the
    /// reconciliation) is answered as stored.
    async fn record_session(
        &self,
        ctx: &RequestContext,
        id: PaymentId,
        session: &GatewaySession,
    ) -> Result<Payment, AppError> {
        let tx = self.deps.uow.begin().await?;
        let env = self.deps.env(tx.as_ref(), ctx);
        let mut payment = tx
            .payments()
            .find(id)
            .await?
            .ok_or_else(|| AppError::internal(format!("payment intent {id} vanished")))?;
        match &payment.gateway_reference {
            Some(known) if *known == session.reference => return Ok(payment),
            Some(other) => {
                return Err(AppError::internal(format!(
                    "payment {id} has reference {other}, the gateway answered {}",
                    session.reference
                )));
            }
            None => {}
        }
        if payment.status != PaymentStatus::Initiated {
            return Ok(payment);
        }
        payment.gateway_reference = Some(session.reference.clone());
        payment.updated_at = env.now;
        let payment = tx.payments().update(&payment).await?;
        env.record()
            .emit(
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
        Ok(payment)
    }

    /// The gateway refused an initiation for good: the intent is FAILED.
    async fn fail_intent(
        &self,
        ctx: &RequestContext,
        id: PaymentId,
        reason: &str,
    ) -> Result<(), AppError> {
        let tx = self.deps.uow.begin().await?;
        let env = self.deps.env(tx.as_ref(), ctx);
        let Some(mut payment) = tx.payments().find(id).await? else {
            return Ok(());
        };
        if payment.status != PaymentStatus::Initiated || payment.gateway_reference.is_some() {
            return Ok(());
        }
        env.fail_payment(&mut payment, reason).await?;
        tx.commit().await
    }

    /// Resolves an intent whose reference was never recorded: asks the gateway again with the
    /// payment's key (the gateway answers the session it started, or starts it), records the
    /// reference, then applies the gateway's state as a webhook would.
    pub(crate) async fn resolve_intent(
        &self,
        ctx: &RequestContext,
        payment: &Payment,
    ) -> Result<(), AppError> {
        let gateway = self.deps.gateways.get(&payment.gateway)?;
        let session = match gateway.initiate(&session_request(payment, None)?).await {
            Ok(session) => session,
            Err(GatewayError::Refused(reason)) => {
                return self.fail_intent(ctx, payment.id, &reason).await;
            }
            Err(other) => return Err(other.into()),
        };
        let payment = self.record_session(ctx, payment.id, &session).await?;
        if let Some(reference) = &payment.gateway_reference {
            self.apply_by_reference(&payment.gateway, reference, "payment-reconciliation")
                .await?;
        }
        Ok(())
    }

    /// `POST /api/v1/payments/confirm`: the booking's owner (or an admin) asks to apply what
    /// the gateway says about `gateway_reference`. Others get 404.
    #[tracing::instrument(name = "PaymentService.confirm", skip_all)]
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
        // A short read: which payment, whose, and whether there is anything to ask.
        let tx = self.deps.uow.begin().await?;
        let mut found = None;
        for name in self.deps.gateways.names() {
            if let Some(p) = tx.payments().find_by_reference(name, reference).await? {
                found = Some(p);
                break;
            }
        }
        let payment = found.ok_or(AppError::NotFound { entity: "payment" })?;
        let booking = tx
            .bookings()
            .find(payment.booking_id)
            .await?
            .ok_or_else(|| {
                AppError::internal(format!("payment of missing booking {}", payment.booking_id))
            })?;
        drop(tx);
        ctx.actor
            .require_owner(booking.user_id, "payment")
            .map_err(|_| AppError::NotFound { entity: "payment" })?;
        if payment.status != PaymentStatus::Initiated {
            return Ok(PaymentView::of(payment, booking));
        }
        let word = self.ask_gateway(&payment).await?;
        self.apply_word(ctx, &payment.gateway, reference, word)
            .await
    }

    /// `POST /api/v1/payments/webhook/{gateway}`: a signed notice from the gateway (a bad
    /// signature is 401); the state is then asked for and applied as the system.
    ///
    /// Replays are refused: a signed timestamp further than the tolerance from now (either way)
    /// is 400 `WEBHOOK_TIMESTAMP_OUT_OF_RANGE`; an event id this gateway already sent within
    /// the window is 409 `WEBHOOK_REPLAYED`. The event id is recorded in its own transaction
    /// before the gateway is asked (no gateway call inside a transaction); when applying fails,
    /// the record is deleted again so that the gateway's retry of the event is applied.
    #[tracing::instrument(name = "PaymentService.webhook", skip_all)]
    pub async fn webhook(
        &self,
        gateway: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), AppError> {
        let gw = self.deps.gateways.get(gateway)?;
        let notice = gw.verify_webhook(headers, body)?;
        let now = self.deps.clock.now();
        let skew = now.timestamp().saturating_sub(notice.signed_at);
        if skew.abs() > self.webhook_tolerance_seconds {
            return Err(AppError::conflict(
                crate::ErrorCode::WebhookTimestampOutOfRange,
                format!(
                    "the webhook's signed timestamp is {} seconds {}; at most {} are accepted",
                    skew.abs(),
                    if skew > 0 { "old" } else { "in the future" },
                    self.webhook_tolerance_seconds
                ),
            ));
        }
        // Records older than twice the window can no longer be matched by a webhook that
        // passes the timestamp check.
        let forget_before = now - chrono::Duration::seconds(2 * self.webhook_tolerance_seconds);
        let tx = self.deps.uow.begin().await?;
        let fresh = tx
            .payments()
            .record_webhook_event(gateway, &notice.event_id, now, forget_before)
            .await?;
        if !fresh {
            return Err(AppError::conflict(
                crate::ErrorCode::WebhookReplayed,
                "this webhook event was already received",
            ));
        }
        tx.commit().await?;
        match self
            .apply_by_reference(gateway, &notice.reference, "webhook")
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Err(forget) = self.forget_webhook_event(gateway, &notice.event_id).await {
                    tracing::warn!(gateway, error = %forget, "could not forget a failed webhook event");
                }
                Err(e)
            }
        }
    }

    async fn forget_webhook_event(&self, gateway: &str, event_id: &str) -> Result<(), AppError> {
        let tx = self.deps.uow.begin().await?;
        tx.payments()
            .forget_webhook_event(gateway, event_id)
            .await?;
        tx.commit().await
    }

    /// The sandbox payment page: plays the customer (`success`/`failure`) on a test gateway,
    /// then applies the gateway's state as a webhook would. Real gateways refuse (409).
    #[tracing::instrument(name = "PaymentService.simulate", skip_all)]
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
    /// organizer, admins), with the payment's refunds.
    #[tracing::instrument(name = "PaymentService.get", skip_all)]
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
        let refunds = tx.payments().refunds(id).await?;
        Ok(PaymentView {
            refunds: Some(refunds),
            ..PaymentView::of(payment, booking)
        })
    }

    /// `POST /api/v1/payments/{id}/refund`.
    /// * ADMIN: refunds `amount` (default: everything refundable) of this payment; the booking
    ///   is left alone unless nothing paid on it remains, then it is canceled (seats freed).
    /// * The booking's owner: only through the refund policy, which means canceling the
    ///   booking exactly like `BookingService::cancel`; an `amount` above what the policy
    ///   gives is 409 `REFUND_EXCEEDS_POLICY`.
    /// * Anyone else: 404.
    ///
    /// The refund is answered PENDING (in `refunds`) and sent to the gateway after the commit.
    #[tracing::instrument(name = "PaymentService.refund", skip_all)]
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
        let refunds = tx.payments().refunds(id).await?;
        let queued = env.queued_refunds();
        tx.commit().await?;
        self.deps.after_commit(queued);
        Ok(PaymentView {
            refunds: Some(refunds),
            ..PaymentView::of(payment, booking)
        })
    }

    /// Webhook, simulation and reconciliation: find the payment by reference, ask its
    /// gateway (no transaction open) and apply as the system.
    pub(crate) async fn apply_by_reference(
        &self,
        gateway: &str,
        reference: &str,
        job: &str,
    ) -> Result<PaymentView, AppError> {
        let ctx = RequestContext::system(&format!("{job}:{gateway}"));
        let tx = self.deps.uow.begin().await?;
        let payment = tx
            .payments()
            .find_by_reference(gateway, reference)
            .await?
            .ok_or(AppError::NotFound { entity: "payment" })?;
        let booking = tx
            .bookings()
            .find(payment.booking_id)
            .await?
            .ok_or_else(|| {
                AppError::internal(format!("payment of missing booking {}", payment.booking_id))
            })?;
        drop(tx);
        if payment.status != PaymentStatus::Initiated {
            return Ok(PaymentView::of(payment, booking));
        }
        let word = self.ask_gateway(&payment).await?;
        self.apply_word(&ctx, gateway, reference, word).await
    }

    /// What the payment's gateway says about its reference. Called with no transaction open.
    async fn ask_gateway(&self, payment: &Payment) -> Result<GatewayPaymentStatus, AppError> {
        let gateway: Arc<dyn PaymentGateway> = self.deps.gateways.get(&payment.gateway)?;
        let reference = payment.gateway_reference.as_deref().ok_or_else(|| {
            AppError::internal(format!("payment {} has no reference", payment.id))
        })?;
        Ok(gateway.status(reference).await?)
    }

    /// Locks the payment and its booking and applies the gateway's word (see the module
    /// docs); wakes the refund sender when it refunded.
    async fn apply_word(
        &self,
        ctx: &RequestContext,
        gateway: &str,
        reference: &str,
        word: GatewayPaymentStatus,
    ) -> Result<PaymentView, AppError> {
        let tx = self.deps.uow.begin().await?;
        let payment = tx
            .payments()
            .find_by_reference_for_update(gateway, reference)
            .await?
            .ok_or(AppError::NotFound { entity: "payment" })?;
        let booking = lock_booking(tx.as_ref(), payment.booking_id).await?;
        let env = self.deps.env(tx.as_ref(), ctx);
        let view = self
            .apply_gateway_word(&env, payment, booking, word)
            .await?;
        let queued = env.queued_refunds();
        tx.commit().await?;
        self.deps.after_commit(queued);
        Ok(view)
    }

    /// Applies what the gateway said (asked before the transaction began) to the payment and
    /// its booking, both locked by the caller. A payment settled meanwhile is left alone.
    async fn apply_gateway_word(
        &self,
        env: &Env<'_>,
        mut payment: Payment,
        booking: Booking,
        word: GatewayPaymentStatus,
    ) -> Result<PaymentView, AppError> {
        if payment.status != PaymentStatus::Initiated {
            return Ok(PaymentView::of(payment, booking));
        }
        let before = payment_summary(&payment);
        let now = env.now;
        match word {
            GatewayPaymentStatus::Pending => Ok(PaymentView::of(payment, booking)),
            GatewayPaymentStatus::Failed { reason } => {
                env.fail_payment(&mut payment, &reason).await?;
                Ok(PaymentView::of(payment, booking))
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
                env.record()
                    .emit(&payment, DomainEventType::PaymentCompleted, json!({}))
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
                        payment = refund_whole(env, payment, &why).await?;
                    }
                    BookingStatus::PendingPayment if late => {
                        payment = refund_whole(
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
                Ok(PaymentView::of(payment, booking))
            }
        }
    }
}

async fn refund_whole(env: &Env<'_>, payment: Payment, why: &str) -> Result<Payment, AppError> {
    let amount = payment.refundable();
    let mut done = env
        .refund_payments(std::slice::from_ref(&payment), amount, why)
        .await?;
    done.pop()
        .ok_or_else(|| AppError::internal("automatic refund refunded nothing"))
}

/// What the gateway is asked to start for `payment` (under its stored key).
fn session_request(
    payment: &Payment,
    return_url: Option<String>,
) -> Result<PaymentSessionRequest, AppError> {
    let key = payment
        .gateway_key
        .clone()
        .ok_or_else(|| AppError::internal(format!("payment {} has no gateway key", payment.id)))?;
    Ok(PaymentSessionRequest {
        payment_id: payment.id,
        booking_id: payment.booking_id,
        amount: payment.amount,
        payment_method: payment.payment_method.clone(),
        return_url,
        idempotency_key: key,
    })
}

/// The gateway key already names another payment (or a settled one): the same
/// `Idempotency-Key` was reused for a different request.
pub(crate) fn key_reused() -> AppError {
    AppError::conflict(
        crate::ErrorCode::PaymentKeyReused,
        "this Idempotency-Key already started another payment; use a new key",
    )
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
    use crate::ports::RefundRecord;
    use crate::ports::tickets::MockTicketCodeGenerator;
    use crate::services::bookings::tests::{
        booking, gateways, named_gateway, now, payment, program, user,
    };
    use crate::services::test_support::{FakeTx, uow_with};
    use domain::RefundId;
    use domain::payment::RefundStatus;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    #[test]
    fn return_url_origins_are_compared_exactly() {
        assert_eq!(
            origin("https://App.Example:8443/done?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            origin("https://app.example").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(origin("https://app.example@evil.test/"), None);
        assert_eq!(origin("https:///x"), None);
        assert_eq!(origin("https://app.example\\@evil.test"), None);
    }

    #[tokio::test]
    async fn a_return_url_outside_the_allowed_origins_is_refused_before_anything_is_written() {
        let payments = service(vec![], named_gateway())
            .with_allowed_return_origins(vec!["https://app.example/".into()]);
        for url in [
            "https://evil.test/done",
            "https://app.example.evil.test/",
            "https://app.example@evil.test/",
            "http://app.example/done",
        ] {
            let err = payments
                .initiate(
                    &RequestContext::new(crate::Actor::authenticated(
                        UserId(uuid::Uuid::from_u128(1)),
                        vec![],
                    )),
                    InitiatePaymentCommand {
                        booking_id: BookingId(1),
                        payment_method: "CARD".into(),
                        return_url: Some(url.into()),
                        amount: None,
                        idempotency_key: None,
                    },
                )
                .await
                .unwrap_err();
            assert!(matches!(err, AppError::Validation { .. }), "{url}: {err:?}");
        }
    }

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

    fn tx() -> (FakeTx, Arc<AtomicBool>) {
        let committed = Arc::new(AtomicBool::new(false));
        (FakeTx::new(Arc::clone(&committed)), committed)
    }

    /// The short read before the gateway is asked.
    fn found(tx: &mut FakeTx, p: Payment, b: Booking) {
        tx.payments
            .expect_find_by_reference()
            .returning(move |_, _| Ok(Some(p.clone())));
        tx.bookings
            .expect_find()
            .returning(move |_| Ok(Some(b.clone())));
    }

    /// The transaction that applies the gateway's word.
    fn locked(tx: &mut FakeTx, p: Payment, b: Booking) {
        tx.payments
            .expect_find_by_reference_for_update()
            .returning(move |_, _| Ok(Some(p.clone())));
        tx.bookings
            .expect_find_for_update()
            .returning(move |_| Ok(Some(b.clone())));
    }

    fn permissive_writes(tx: &mut FakeTx) {
        tx.payments.expect_update().returning(|p| {
            let mut stored = p.clone();
            stored.version += 1;
            Ok(stored)
        });
        tx.audit.expect_record().returning(|_| Ok(()));
    }

    #[tokio::test]
    async fn a_settled_payment_is_not_asked_about_again_and_nothing_is_written() {
        let (mut read, _) = tx();
        let p = payment(PaymentStatus::Completed);
        let b = booking(BookingStatus::Confirmed);
        found(&mut read, p.clone(), b.clone());
        read.payments.expect_update().never();
        read.outbox.expect_enqueue().never();
        let mut g = named_gateway();
        g.expect_status().never();

        let view = service(vec![read], g)
            .confirm(&user(1), "ref-11")
            .await
            .unwrap();

        assert_eq!((view.payment, view.booking), (p, b));
    }

    #[tokio::test]
    async fn the_gateway_is_asked_with_no_transaction_open_and_a_wrong_amount_is_refused() {
        let (mut read, _) = tx();
        found(
            &mut read,
            payment(PaymentStatus::Initiated),
            booking(BookingStatus::PendingPayment),
        );
        let (mut apply, committed) = tx();
        locked(
            &mut apply,
            payment(PaymentStatus::Initiated),
            booking(BookingStatus::PendingPayment),
        );
        apply.payments.expect_update().never();
        // Begun transactions are counted: the gateway must be asked between the read and the
        // locking transaction, while neither is open.
        let begun = Arc::new(AtomicU32::new(0));
        let mut uow = crate::ports::unit_of_work::MockUnitOfWork::new();
        let slot = Mutex::new(std::collections::VecDeque::from([read, apply]));
        let counter = Arc::clone(&begun);
        uow.expect_begin().times(2).returning(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let tx = slot.lock().unwrap().pop_front().unwrap();
            Ok(Box::new(tx) as Box<dyn Tx>)
        });
        let mut g = named_gateway();
        let seen = Arc::clone(&begun);
        g.expect_status().times(1).returning(move |_| {
            assert_eq!(seen.load(Ordering::SeqCst), 1, "asked inside a transaction");
            Ok(GatewayPaymentStatus::Paid {
                amount: Money::parse("1").unwrap(),
            })
        });
        let svc = PaymentService::new(
            Arc::new(uow),
            Arc::new(ManualClock::new(now())),
            gateways(g),
            Arc::new(MockTicketCodeGenerator::new()),
            BookingSettings::default(),
            program(),
        );

        let err = svc.confirm(&user(1), "ref-11").await.unwrap_err();

        assert_eq!(err.code(), "PAYMENT_AMOUNT_MISMATCH");
        assert!(!committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn confirm_by_someone_else_is_not_found_before_the_gateway_is_asked() {
        let (mut read, committed) = tx();
        found(
            &mut read,
            payment(PaymentStatus::Initiated),
            booking(BookingStatus::PendingPayment),
        );
        let mut g = named_gateway();
        g.expect_status().never();
        let err = service(vec![read], g)
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

    fn intent() -> Payment {
        let mut p = payment(PaymentStatus::Initiated);
        p.gateway_reference = None;
        p.gateway_key = Some("pay_k".to_owned());
        p
    }

    /// The first transaction of an initiation: the intent is written and committed.
    fn intent_tx(keys: Arc<Mutex<Vec<String>>>) -> (FakeTx, Arc<AtomicBool>) {
        let (mut t, committed) = tx();
        let b = booking(BookingStatus::PendingPayment);
        let b2 = b.clone();
        t.bookings
            .expect_find()
            .returning(move |_| Ok(Some(b.clone())));
        t.bookings
            .expect_find_for_update()
            .returning(move |_| Ok(Some(b2.clone())));
        t.payments
            .expect_find_by_gateway_key()
            .returning(|_, _| Ok(None));
        t.payments.expect_for_booking().returning(|_| Ok(vec![]));
        t.payments.expect_insert().times(1).returning(move |new| {
            keys.lock().unwrap().push(new.gateway_key.clone().unwrap());
            let mut p = Payment::from_new(PaymentId(11), new);
            p.version = 0;
            Ok(p)
        });
        t.audit.expect_record().returning(|_| Ok(()));
        (t, committed)
    }

    #[tokio::test]
    async fn initiation_commits_the_intent_before_the_call_and_records_the_reference_after() {
        let keys = Arc::new(Mutex::new(Vec::new()));
        let (first, intent_committed) = intent_tx(Arc::clone(&keys));
        let (mut second, committed) = tx();
        second
            .payments
            .expect_find()
            .returning(|_| Ok(Some(intent())));
        permissive_writes(&mut second);
        second
            .outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| m.event_type == DomainEventType::PaymentInitiated)
            .returning(|_| Ok(()));
        let mut g = named_gateway();
        let flag = Arc::clone(&intent_committed);
        g.expect_initiate().times(1).returning(move |req| {
            assert!(
                flag.load(Ordering::SeqCst),
                "the gateway was called before the intent committed"
            );
            assert!(req.idempotency_key.starts_with("pay_"));
            Ok(GatewaySession {
                reference: "ref-11".into(),
                payment_url: "https://pay/ref-11".into(),
            })
        });

        let view = service(vec![first, second], g)
            .initiate(
                &user(1),
                InitiatePaymentCommand {
                    booking_id: BookingId(3),
                    payment_method: "CARD".into(),
                    return_url: None,
                    amount: None,
                    idempotency_key: None,
                },
            )
            .await
            .unwrap();

        assert_eq!(view.payment.gateway_reference.as_deref(), Some("ref-11"));
        assert_eq!(view.payment_url.as_deref(), Some("https://pay/ref-11"));
        assert!(committed.load(Ordering::SeqCst));
        // A random key: 244 bits after the prefix.
        assert_eq!(keys.lock().unwrap()[0].len(), 4 + 64);
    }

    #[tokio::test]
    async fn a_gateway_refusing_the_initiation_fails_the_intent() {
        let (first, _) = intent_tx(Arc::new(Mutex::new(Vec::new())));
        let (mut second, committed) = tx();
        second
            .payments
            .expect_find()
            .returning(|_| Ok(Some(intent())));
        second
            .payments
            .expect_update()
            .times(1)
            .withf(|p| p.status == PaymentStatus::Failed)
            .returning(|p| Ok(p.clone()));
        second.audit.expect_record().returning(|_| Ok(()));
        second
            .outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| m.event_type == DomainEventType::PaymentFailed)
            .returning(|_| Ok(()));
        let mut g = named_gateway();
        g.expect_initiate()
            .times(1)
            .returning(|_| Err(GatewayError::Refused("method not supported".into())));

        let err = service(vec![first, second], g)
            .initiate(
                &user(1),
                InitiatePaymentCommand {
                    booking_id: BookingId(3),
                    payment_method: "CARD".into(),
                    return_url: None,
                    amount: None,
                    idempotency_key: None,
                },
            )
            .await
            .unwrap_err();

        assert_eq!(err.code(), "PAYMENT_REFUSED");
        assert!(
            committed.load(Ordering::SeqCst),
            "the intent stops reserving"
        );
    }

    #[test]
    fn gateway_keys_are_per_caller_for_a_client_key_and_random_without_one() {
        let a = Some(crate::services::bookings::tests::uid(1));
        let b = Some(crate::services::bookings::tests::uid(2));
        assert_eq!(gateway_key(a, Some("k1")), gateway_key(a, Some(" k1 ")));
        assert_ne!(gateway_key(a, Some("k1")), gateway_key(b, Some("k1")));
        assert_ne!(gateway_key(a, Some("k1")), gateway_key(a, Some("k2")));
        assert_ne!(gateway_key(a, None), gateway_key(a, None));
        assert!(!gateway_key(a, Some("k1")).contains("k1"));
    }

    /// The second transaction fails (the process dies, the database goes away): the intent
    /// stays INITIATED without a reference; the reconciliation asks the gateway again with
    /// the same key and records the reference it answers.
    #[tokio::test]
    async fn a_crash_between_intent_and_reference_is_reconciled_with_the_same_key() {
        let keys = Arc::new(Mutex::new(Vec::new()));
        let (first, _) = intent_tx(Arc::clone(&keys));
        let (mut broken, broken_committed) = tx();
        broken.payments.expect_find().returning(|_| {
            Err(AppError::Unavailable {
                dependency: "database",
            })
        });
        // The reconciliation run: lists the intent…
        let (mut list, _) = tx();
        let stored = Arc::new(Mutex::new(None::<Payment>));
        let source = Arc::clone(&stored);
        list.payments
            .expect_unreferenced_before()
            .times(1)
            .returning(move |_, _| Ok(vec![source.lock().unwrap().clone().unwrap()]));
        // …records the reference the same key answers…
        let (mut record, recorded) = tx();
        let source = Arc::clone(&stored);
        record
            .payments
            .expect_find()
            .returning(move |_| Ok(source.lock().unwrap().clone()));
        permissive_writes(&mut record);
        record
            .outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| m.event_type == DomainEventType::PaymentInitiated)
            .returning(|_| Ok(()));
        // …then reads it by reference and asks its state (pending: nothing else to write).
        let (mut read, _) = tx();
        let mut referenced = intent();
        referenced.gateway_reference = Some("ref-11".into());
        found(
            &mut read,
            referenced.clone(),
            booking(BookingStatus::PendingPayment),
        );
        let (mut apply, _) = tx();
        locked(
            &mut apply,
            referenced,
            booking(BookingStatus::PendingPayment),
        );
        apply.payments.expect_update().never();

        let sent = Arc::new(Mutex::new(Vec::new()));
        let mut g = named_gateway();
        let log = Arc::clone(&sent);
        g.expect_initiate().times(2).returning(move |req| {
            log.lock().unwrap().push(req.idempotency_key.clone());
            Ok(GatewaySession {
                reference: "ref-11".into(),
                payment_url: "https://pay/ref-11".into(),
            })
        });
        g.expect_status()
            .times(1)
            .returning(|_| Ok(GatewayPaymentStatus::Pending));
        let svc = service(vec![first, broken, list, record, read, apply], g);

        let err = svc
            .initiate(
                &user(1),
                InitiatePaymentCommand {
                    booking_id: BookingId(3),
                    payment_method: "CARD".into(),
                    return_url: None,
                    amount: None,
                    idempotency_key: Some("client-key".into()),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "DATABASE_UNAVAILABLE");
        assert!(!broken_committed.load(Ordering::SeqCst));
        let key = keys.lock().unwrap()[0].clone();
        let mut left = intent();
        left.gateway_key = Some(key.clone());
        *stored.lock().unwrap() = Some(left);

        assert_eq!(svc.reconcile_intents(10).await.unwrap(), 1);

        assert!(recorded.load(Ordering::SeqCst));
        assert_eq!(*sent.lock().unwrap(), [key.clone(), key]);
    }

    fn pending_refund(attempts: u32) -> RefundRecord {
        RefundRecord {
            id: RefundId(5),
            payment_id: PaymentId(11),
            amount: Money::parse("1000").unwrap(),
            reason: "booking canceled".into(),
            status: RefundStatus::Pending,
            gateway_reference: None,
            idempotency_key: Some("rfd_k".into()),
            attempts,
            next_attempt_at: Some(now()),
            last_error: None,
            actor_id: None,
            created_at: now(),
            completed_at: None,
        }
    }

    /// The payment after the cancellation reserved the whole refund.
    fn refunded_payment() -> Payment {
        let mut p = payment(PaymentStatus::Refunded);
        p.refund_amount = p.amount;
        p
    }

    fn claim_tx(attempts: u32) -> FakeTx {
        let (mut t, _) = tx();
        t.payments
            .expect_claim_due_refunds()
            .times(1)
            .returning(move |_, _, _| Ok(vec![pending_refund(attempts)]));
        t.payments
            .expect_find()
            .returning(|_| Ok(Some(refunded_payment())));
        t
    }

    /// The transaction recording a refund's outcome, its row as stored now, counting the
    /// events it writes.
    fn record_tx(row: RefundRecord, events: Arc<Mutex<Vec<DomainEventType>>>) -> FakeTx {
        let (mut t, _) = tx();
        t.payments
            .expect_find_refund_for_update()
            .returning(move |_| Ok(Some(row.clone())));
        t.payments.expect_update_refund().returning(|_| Ok(()));
        t.payments
            .expect_find()
            .returning(|_| Ok(Some(refunded_payment())));
        t.payments
            .expect_find_by_reference_for_update()
            .returning(|_, _| Ok(Some(refunded_payment())));
        permissive_writes(&mut t);
        t.outbox.expect_enqueue().returning(move |m| {
            events.lock().unwrap().push(m.event_type);
            Ok(())
        });
        t
    }

    /// A worker that dies after the gateway refunded but before recording it: the lease
    /// runs out, the next run sends the same key again (the gateway answers the same
    /// refund), and `payment.refunded` is written once; a late duplicate writes nothing.
    #[tokio::test]
    async fn a_refund_is_sent_with_one_key_and_recorded_once_across_retries() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let (mut dies, _) = tx();
        dies.payments
            .expect_find_refund_for_update()
            .returning(|_| {
                Err(AppError::Unavailable {
                    dependency: "database",
                })
            });
        let mut succeeded = pending_refund(2);
        succeeded.status = RefundStatus::Succeeded;
        let txs = vec![
            claim_tx(1),
            dies,
            claim_tx(2),
            record_tx(pending_refund(2), Arc::clone(&events)),
            claim_tx(3),
            record_tx(succeeded, Arc::clone(&events)),
        ];
        let keys = Arc::new(Mutex::new(Vec::new()));
        let mut g = named_gateway();
        let log = Arc::clone(&keys);
        g.expect_refund()
            .times(3)
            .returning(move |reference, amount, key| {
                assert_eq!(
                    (reference, amount),
                    ("ref-11", Money::parse("1000").unwrap())
                );
                log.lock().unwrap().push(key.to_owned());
                Ok("re_1".to_owned())
            });
        let svc = service(txs, g);

        assert_eq!(
            svc.process_refunds(10).await.unwrap_err().code(),
            "DATABASE_UNAVAILABLE"
        );
        assert_eq!(svc.process_refunds(10).await.unwrap(), 1);
        // A second worker that claimed the row before the first recorded it.
        assert_eq!(svc.process_refunds(10).await.unwrap(), 1);

        assert_eq!(*keys.lock().unwrap(), ["rfd_k", "rfd_k", "rfd_k"]);
        assert_eq!(*events.lock().unwrap(), [DomainEventType::PaymentRefunded]);
    }

    #[tokio::test]
    async fn an_unavailable_gateway_backs_off_and_a_refusal_fails_the_refund_with_an_alert() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let updates = Arc::new(Mutex::new(Vec::<RefundRecord>::new()));
        let mut backoff = record_tx(pending_refund(1), Arc::clone(&events));
        backoff.payments.checkpoint();
        let log = Arc::clone(&updates);
        backoff
            .payments
            .expect_find_refund_for_update()
            .returning(|_| Ok(Some(pending_refund(1))));
        backoff.payments.expect_update_refund().returning(move |r| {
            log.lock().unwrap().push(r.clone());
            Ok(())
        });
        backoff.payments.expect_update().never();
        let mut refused = record_tx(pending_refund(2), Arc::clone(&events));
        refused.payments.checkpoint();
        let log = Arc::clone(&updates);
        refused
            .payments
            .expect_find_refund_for_update()
            .returning(|_| Ok(Some(pending_refund(2))));
        refused.payments.expect_update_refund().returning(move |r| {
            log.lock().unwrap().push(r.clone());
            Ok(())
        });
        refused
            .payments
            .expect_find()
            .returning(|_| Ok(Some(refunded_payment())));
        refused
            .payments
            .expect_find_by_reference_for_update()
            .returning(|_, _| Ok(Some(refunded_payment())));
        refused
            .payments
            .expect_update()
            .times(1)
            .withf(|p| p.status == PaymentStatus::Completed && p.refund_amount == Money::ZERO)
            .returning(|p| Ok(p.clone()));
        let mut g = named_gateway();
        let mut answers = vec![
            Err(GatewayError::Refused("already refunded elsewhere".into())),
            Err(GatewayError::Unavailable("timeout".into())),
        ];
        g.expect_refund()
            .times(2)
            .returning(move |_, _, _| answers.pop().unwrap());
        let svc = service(vec![claim_tx(1), backoff, claim_tx(2), refused], g);

        assert_eq!(svc.process_refunds(10).await.unwrap(), 1);
        assert_eq!(svc.process_refunds(10).await.unwrap(), 1);

        let updates = updates.lock().unwrap();
        assert_eq!(updates[0].status, RefundStatus::Pending);
        // The default policy: one minute after the first failed attempt.
        assert_eq!(
            updates[0].next_attempt_at,
            Some(now() + chrono::Duration::minutes(1))
        );
        assert_eq!(updates[1].status, RefundStatus::Failed);
        assert!(
            updates[1]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("already refunded elsewhere"))
        );
        assert_eq!(*events.lock().unwrap(), [DomainEventType::AdminAlert]);
    }
}
