//! What the booking and payment use cases share: `Commerce` (their dependencies) and `Env`
//! (the steps they take inside one transaction): cancelling a booking with its refund, recording
//! refunds of payments, confirming a fully paid booking, and the JSON summaries written to the
//! outbox, the audit log and `booking_logs`.
//!
//! Everything here works inside the caller's transaction and never commits, and nothing here
//! calls a gateway: a refund is recorded PENDING (the payment's refundable amount is reserved
//! at once) and sent after the caller committed, by
//! [`PaymentService::process_refunds`](crate::services::PaymentService::process_refunds).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Duration;
use domain::booking::{Booking, BookingStatus};
use domain::booking_rules::BookingSettings;
use domain::event::{Event, EventStatus};
use domain::loyalty::{LoyaltyProgram, NewLoyaltyEntry};
use domain::payment::{Payment, PaymentCoverage, RefundRetryPolicy, allocate_refund};
use domain::price_option::NewPriceOption;
use domain::refund_policy::CancellationReason;
use domain::ticket::TicketCode;
use domain::{Money, Percent, Timestamp};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::outbox::DomainEventType;
use crate::ports::{
    AuditEntry, BookingLog, NewRefund, PaymentGateways, TicketCodeGenerator, Tx, UnitOfWork,
};
use crate::services::recording::Recorder;
use crate::services::waitlist::{WaitlistSettings, offer_freed_seats};
use crate::{AppError, RequestContext};

/// The longest refund reason the store keeps (`payment_refunds.reason`).
const MAX_REFUND_REASON: usize = 500;
/// The longest failure reason a payment keeps.
const MAX_FAILURE_REASON: usize = 500;

/// A booking after its cancellation, with the money given back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingCancellation {
    pub booking: Booking,
    /// The share of the net paid amount the policy gives back (100% for unpaid bookings and
    /// event cancellations).
    pub refund_percent: Percent,
    pub refund_amount: Money,
}

/// The booking as other services and the audit log see it.
#[must_use]
pub fn booking_summary(b: &Booking) -> Value {
    json!({
        "booking_id": b.id.value(),
        "event_id": b.event_id.value(),
        "user_id": b.user_id.to_string(),
        "quantity": b.quantity.get(),
        "status": b.status.as_str(),
        "total_price": b.total_price().to_string(),
        "price_option_id": b.price_option_id.map(|p| p.value()),
        "promo_code_id": b.promo_code_id.map(|p| p.value()),
        "payment_deadline": b.payment_deadline.to_rfc3339(),
        "ticket_code": b.ticket_code.as_ref().map(|t| t.as_str().to_owned()),
        "canceled_reason": b.canceled_reason,
    })
}

/// The payment as other services and the audit log see it.
#[must_use]
pub fn payment_summary(p: &Payment) -> Value {
    json!({
        "payment_id": p.id.value(),
        "booking_id": p.booking_id.value(),
        "amount": p.amount.to_string(),
        "status": p.status.as_str(),
        "gateway": p.gateway,
        "gateway_reference": p.gateway_reference,
        "payment_method": p.payment_method,
        "refund_amount": p.refund_amount.to_string(),
        "failure_reason": p.failure_reason,
    })
}

/// `s` cut to at most `max` characters (on a character boundary).
pub(crate) fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

pub(crate) fn clip_failure(reason: &str) -> String {
    let r = clip(reason.trim(), MAX_FAILURE_REASON);
    if r.is_empty() {
        "declined by the payment gateway".to_owned()
    } else {
        r
    }
}

/// A fresh idempotency key for a gateway call: 244 random bits, so nobody can guess another
/// customer's key (or the reference a gateway derives from it).
pub(crate) fn random_key(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Wakes whatever sends pending refunds (bootstrap: the process-refunds job), so a refund
/// does not wait for the next scheduled run. Called after the transaction that recorded the
/// refunds committed; best effort (the schedule sends them anyway).
pub type RefundKick = Arc<dyn Fn() + Send + Sync>;

/// What the booking and payment use cases share.
#[derive(Clone)]
pub(crate) struct Commerce {
    pub uow: Arc<dyn UnitOfWork>,
    pub clock: Arc<dyn Clock>,
    pub gateways: PaymentGateways,
    pub tickets: Arc<dyn TicketCodeGenerator>,
    pub settings: BookingSettings,
    pub loyalty: LoyaltyProgram,
    /// Freed seats go to the waitlist in the transaction that frees them.
    pub waitlist: WaitlistSettings,
    /// Called after a transaction that recorded refunds committed.
    pub kick: Option<RefundKick>,
    /// Backoff and attempts of pending refunds.
    pub refund_retry: RefundRetryPolicy,
    /// Seat-hoarding limits checked when placing bookings.
    pub seat_limits: SeatLimits,
}

/// Seat-hoarding limits (`app.booking.max_seats_per_user_per_event`,
/// `app.booking.max_unpaid_seats_per_user`); a booking past either is refused with a 409 of
/// its own. The default limits nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatLimits {
    /// Most seats one user holds in one event over its active bookings.
    pub per_user_per_event: u64,
    /// Most unpaid (PENDING_PAYMENT) seats one user holds over all events. Free bookings are
    /// confirmed at once and never count.
    pub unpaid_per_user: u64,
}

impl Default for SeatLimits {
    fn default() -> Self {
        Self {
            per_user_per_event: u64::MAX,
            unpaid_per_user: u64::MAX,
        }
    }
}

impl Commerce {
    pub(crate) fn new(
        uow: Arc<dyn UnitOfWork>,
        clock: Arc<dyn Clock>,
        gateways: PaymentGateways,
        tickets: Arc<dyn TicketCodeGenerator>,
        settings: BookingSettings,
        loyalty: LoyaltyProgram,
    ) -> Self {
        Self {
            uow,
            clock,
            gateways,
            tickets,
            settings,
            loyalty,
            waitlist: WaitlistSettings::default(),
            kick: None,
            refund_retry: RefundRetryPolicy::default(),
            seat_limits: SeatLimits::default(),
        }
    }

    /// After a commit: wakes the refund sender when `env` recorded refunds.
    pub(crate) fn after_commit(&self, queued_refunds: bool) {
        if queued_refunds && let Some(kick) = &self.kick {
            kick();
        }
    }

    /// The per-transaction view the shared steps (logs, refunds, outbox) work with.
    pub(crate) fn env<'a>(&'a self, tx: &'a dyn Tx, ctx: &'a RequestContext) -> Env<'a> {
        Env {
            tx,
            ctx,
            gateways: &self.gateways,
            loyalty: &self.loyalty,
            waitlist: &self.waitlist,
            now: self.clock.now(),
            queued: AtomicBool::new(false),
        }
    }
}

pub(crate) struct Env<'a> {
    pub tx: &'a dyn Tx,
    pub ctx: &'a RequestContext,
    pub gateways: &'a PaymentGateways,
    pub loyalty: &'a LoyaltyProgram,
    pub waitlist: &'a WaitlistSettings,
    pub now: Timestamp,
    /// Refunds were recorded in this transaction (the sender is woken after the commit).
    queued: AtomicBool,
}

impl Env<'_> {
    /// Whether refunds were recorded in this transaction.
    pub(crate) fn queued_refunds(&self) -> bool {
        self.queued.load(Ordering::Relaxed)
    }

    pub(crate) async fn log(
        &self,
        booking: &Booking,
        old: Option<BookingStatus>,
        details: Value,
    ) -> Result<(), AppError> {
        self.tx
            .bookings()
            .append_log(BookingLog {
                booking_id: booking.id,
                old_status: old,
                new_status: booking.status,
                actor_id: self.ctx.actor.user_id(),
                details,
                created_at: self.now,
            })
            .await
    }

    /// Marks `payment` FAILED for `reason` (what the gateway said), stores it and records
    /// `payment.failed` with its audit row; `payment` becomes the stored row.
    pub(crate) async fn fail_payment(
        &self,
        payment: &mut Payment,
        reason: &str,
    ) -> Result<(), AppError> {
        let before = payment_summary(payment);
        let _ = payment.fail(&clip_failure(reason), self.now)?;
        *payment = self.tx.payments().update(payment).await?;
        self.record()
            .emit(&*payment, DomainEventType::PaymentFailed, Value::Null)
            .await?;
        self.audit(
            "payment.fail",
            "payment",
            payment.id,
            Some(before),
            Some(payment_summary(payment)),
        )
        .await
    }

    /// Where this transaction's domain events go.
    pub(crate) const fn record(&self) -> Recorder<'_> {
        Recorder::new(self.tx, self.now)
    }

    pub(crate) async fn audit(
        &self,
        action: &str,
        entity_type: &str,
        entity_id: impl ToString,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Result<(), AppError> {
        self.tx
            .audit()
            .record(
                AuditEntry::by(self.ctx, action, entity_type, entity_id, self.now)
                    .with_change(before, after),
            )
            .await
    }

    /// Refunds `amount` over `payments`, newest payment first (`allocate_refund`): each part
    /// is reserved on its payment (PARTIAL_REFUND / REFUNDED, so it cannot be refunded twice)
    /// and recorded as a PENDING refund with its own idempotency key, plus an audit row.
    /// Answers the payments as stored afterwards.
    ///
    /// No gateway is called here: the caller may hold an event's row lock. The refunds are
    /// sent after the commit ([`PaymentService::process_refunds`]), which records the
    /// gateway's answer and publishes `payment.refunded` in its own transaction.
    ///
    /// [`PaymentService::process_refunds`]: crate::services::PaymentService::process_refunds
    pub(crate) async fn refund_payments(
        &self,
        payments: &[Payment],
        amount: Money,
        reason: &str,
    ) -> Result<Vec<Payment>, AppError> {
        let plan = allocate_refund(payments, amount)?;
        let reason = clip(reason.trim(), MAX_REFUND_REASON);
        let reason = if reason.is_empty() {
            "refund".to_owned()
        } else {
            reason
        };
        let mut refunded = Vec::with_capacity(plan.len());
        for (payment_id, part) in plan {
            let Some(before) = payments.iter().find(|p| p.id == payment_id) else {
                return Err(AppError::internal(format!(
                    "refund plan names unknown payment {payment_id}"
                )));
            };
            // Checked now, while the caller can still be told: a refund that could never be
            // sent must not be promised.
            if before.gateway_reference.is_none() {
                return Err(AppError::internal(format!(
                    "paid payment {payment_id} has no gateway reference"
                )));
            }
            let _ = self.gateways.get(&before.gateway)?;
            let mut payment = before.clone();
            let _ = payment.refund(part, self.now)?;
            let refund = self
                .tx
                .payments()
                .record_refund(NewRefund {
                    payment_id,
                    amount: part,
                    reason: reason.clone(),
                    idempotency_key: random_key("rfd_"),
                    actor_id: self.ctx.actor.user_id(),
                    created_at: self.now,
                })
                .await?;
            let payment = self.tx.payments().update(&payment).await?;
            let mut after = payment_summary(&payment);
            if let Some(map) = after.as_object_mut() {
                map.insert("refund_id".to_owned(), json!(refund.id.value()));
                map.insert("refund_status".to_owned(), json!(refund.status.as_str()));
                map.insert("refunding".to_owned(), json!(part.to_string()));
            }
            self.audit(
                "payment.refund.request",
                "payment",
                payment.id,
                Some(payment_summary(before)),
                Some(after),
            )
            .await?;
            self.queued.store(true, Ordering::Relaxed);
            refunded.push(payment);
        }
        Ok(refunded)
    }

    /// PENDING_PAYMENT → CONFIRMED with a ticket: booking update, log, `booking.confirmed`,
    /// loyalty points earned on the price. Answers the stored booking.
    pub(crate) async fn confirm_booking(
        &self,
        mut booking: Booking,
        ticket: TicketCode,
        grace: Duration,
    ) -> Result<Booking, AppError> {
        let before = booking_summary(&booking);
        let t = booking.confirm(ticket, self.now, grace)?;
        let booking = self.tx.bookings().update(&booking).await?;
        let earned = self.loyalty.points_for(booking.total_price());
        if earned > 0 {
            self.tx
                .loyalty()
                .append(NewLoyaltyEntry::earned_for_booking(
                    booking.user_id,
                    booking.id,
                    earned,
                    self.now,
                ))
                .await?;
        }
        self.log(
            &booking,
            Some(t.from),
            json!({"action": "confirm", "loyalty_points_earned": earned}),
        )
        .await?;
        self.record()
            .emit(&booking, DomainEventType::BookingConfirmed, json!({}))
            .await?;
        self.audit(
            "booking.confirm",
            "booking",
            booking.id,
            Some(before),
            Some(booking_summary(&booking)),
        )
        .await?;
        Ok(booking)
    }

    /// Gives a booking's seats and its price option's stock back. The caller holds the event's
    /// row lock: the option's stock is read, changed and written, which must not race a
    /// placement.
    pub(crate) async fn free_stock(&self, booking: &Booking, seats: u32) -> Result<(), AppError> {
        if seats > 0 {
            self.tx
                .events()
                .release_seats(booking.event_id, seats)
                .await?;
        }
        if let Some(option_id) = booking.price_option_id {
            let options = self.tx.events().price_options(booking.event_id).await?;
            if let Some(mut option) = options.into_iter().find(|o| o.id == option_id)
                && option.quantity_available.is_some()
            {
                option.release(seats);
                self.tx
                    .events()
                    .save_price_option(
                        booking.event_id,
                        Some(option.id),
                        NewPriceOption {
                            name: option.name,
                            price: option.price,
                            description: option.description,
                            quantity_available: option.quantity_available,
                            is_active: option.is_active,
                        },
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Cancels an active booking of `event` (which the caller has locked, before the booking):
    /// frees its seats and price-option stock, refunds what the policy gives back, gives back
    /// or takes back loyalty points, and writes the log, outbox and audit rows.
    ///
    /// * A PENDING_PAYMENT booking gets back everything already paid on it (partial payments):
    ///   nothing was delivered.
    /// * A CONFIRMED booking gets `percent × net paid`, the percent from the event's policy for
    ///   `cause` at `now`.
    /// * `requested`: a customer asking for less than the policy gives; more is refused.
    pub(crate) async fn cancel_booking(
        &self,
        mut booking: Booking,
        event: &Event,
        reason: Option<&str>,
        cause: CancellationReason,
        requested: Option<Money>,
    ) -> Result<BookingCancellation, AppError> {
        let before = booking_summary(&booking);
        let release = booking.cancel(reason, self.now)?;
        let was = release.transition.from;

        let payments = self.tx.payments().for_booking(booking.id).await?;
        let coverage = PaymentCoverage::of(booking.total_price(), &payments);
        let net_paid = coverage.net_paid().floor_at_zero();
        let (percent, policy_amount) = if was == BookingStatus::Confirmed {
            let d = event.effective_refund_policy().refund_for(
                net_paid,
                event.schedule.start_date,
                self.now,
                cause,
            );
            (d.percent, d.amount)
        } else {
            (Percent::FULL, net_paid)
        };
        let amount = match requested {
            Some(r) if r > policy_amount => {
                return Err(AppError::conflict(
                    crate::ErrorCode::RefundExceedsPolicy,
                    format!("the refund policy gives back at most {policy_amount}"),
                ));
            }
            Some(r) if !r.is_positive() => {
                return Err(AppError::invalid("amount", "must be positive"));
            }
            Some(r) => r,
            None => policy_amount,
        };

        // Seats and price-option stock go back (the event row is locked by the caller, so the
        // read-modify-write of the option cannot race a placement).
        self.free_stock(&booking, release.seats_freed).await?;

        if amount.is_positive() {
            let why = match cause {
                CancellationReason::ByCustomer => "booking canceled",
                CancellationReason::EventCanceled => "event canceled",
                CancellationReason::ForceMajeure => "event canceled (force majeure)",
            };
            let text = reason.map_or_else(|| why.to_owned(), |r| format!("{why}: {r}"));
            self.refund_payments(&payments, amount, &text).await?;
        }

        // Loyalty: redeemed points come back when the customer loses nothing else (unpaid
        // booking or a full refund); points earned on the confirmation are taken back for the
        // refunded share.
        let used = booking.price.loyalty_points_used;
        let full = percent == Percent::FULL && amount == policy_amount;
        if used > 0 && (was == BookingStatus::PendingPayment || full) {
            self.tx
                .loyalty()
                .append(NewLoyaltyEntry::redemption_reversed(
                    booking.user_id,
                    booking.id,
                    used,
                    self.now,
                ))
                .await?;
        }
        if was == BookingStatus::Confirmed && amount.is_positive() {
            let earned = self.loyalty.points_for(booking.total_price());
            let back = self.loyalty.points_for(amount).min(earned);
            if back > 0 {
                self.tx
                    .loyalty()
                    .append(NewLoyaltyEntry::earning_reversed(
                        booking.user_id,
                        booking.id,
                        back,
                        self.now,
                    ))
                    .await?;
            }
        }

        let booking = self.tx.bookings().update(&booking).await?;
        let details = json!({
            "action": "cancel",
            "cause": cause_text(cause),
            "reason": booking.canceled_reason,
            "seats_freed": release.seats_freed,
            "refund_percent": percent.value().to_string(),
            "refund_amount": amount.to_string(),
        });
        self.log(&booking, Some(was), details.clone()).await?;
        self.record()
            .emit(&booking, DomainEventType::BookingCanceled, details)
            .await?;
        self.audit(
            "booking.cancel",
            "booking",
            booking.id,
            Some(before),
            Some(booking_summary(&booking)),
        )
        .await?;
        // The freed seats go to the waitlist (not for an event being canceled: its queue is
        // closed by the caller).
        if release.seats_freed > 0 && event.status == EventStatus::Published {
            offer_freed_seats(self.tx, booking.event_id, self.now, self.waitlist, self.ctx).await?;
        }
        Ok(BookingCancellation {
            booking,
            refund_percent: percent,
            refund_amount: amount,
        })
    }
}

const fn cause_text(cause: CancellationReason) -> &'static str {
    match cause {
        CancellationReason::ByCustomer => "CUSTOMER",
        CancellationReason::EventCanceled => "EVENT_CANCELED",
        CancellationReason::ForceMajeure => "FORCE_MAJEURE",
    }
}

/// A serializable detail (the price breakdown) as JSON for logs and events.
pub(crate) fn details_of<T: serde::Serialize>(value: &T) -> Result<Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::internal(format!("json: {e}")))
}
