//! Payments, partial payments and refunds (PRODUCT.md §5).
//!
//! `INITIATED → COMPLETED | FAILED`; `COMPLETED | PARTIAL_REFUND → PARTIAL_REFUND | REFUNDED`.
//! `refund_amount` accumulates and never exceeds `amount`. A booking may be paid in several
//! payments; it is fully paid when completed payments cover its total.

use crate::{BookingId, DomainError, Money, PaymentId, Timestamp, Transition, text};

text_enum! {
    /// Lifecycle of a payment.
    PaymentStatus {
        Initiated => "INITIATED",
        Completed => "COMPLETED",
        Failed => "FAILED",
        PartialRefund => "PARTIAL_REFUND",
        Refunded => "REFUNDED",
    }
}

text_enum! {
    /// Lifecycle of one refund of a payment. The refund is recorded PENDING in the
    /// transaction that decides it (a cancellation, an admin's refund, an automatic refund)
    /// and sent to the gateway after that transaction committed; the gateway's answer moves it
    /// to SUCCEEDED, or to FAILED once it is refused or the attempts are exhausted.
    RefundStatus {
        Pending => "PENDING",
        Succeeded => "SUCCEEDED",
        Failed => "FAILED",
    }
}

/// The backoff between attempts to send a pending refund (the same exponential backoff as
/// crew requests).
pub type RefundRetryPolicy = crate::crew::CrewRetryPolicy;

impl PaymentStatus {
    /// The money was received (some of it may have gone back since).
    #[must_use]
    pub const fn is_paid(self) -> bool {
        matches!(self, Self::Completed | Self::PartialRefund | Self::Refunded)
    }
}

/// A validated payment about to be initiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub booking_id: BookingId,
    pub amount: Money,
    pub payment_method: String,
    pub gateway: String,
    /// The idempotency key the gateway knows this payment by (`None` before it is chosen).
    pub gateway_key: Option<String>,
    pub created_at: Timestamp,
}

impl NewPayment {
    /// `amount` defaults to what is still owed; a smaller amount is a partial payment; more
    /// than is owed is refused.
    pub fn new(
        booking_id: BookingId,
        amount: Option<Money>,
        coverage: &PaymentCoverage,
        payment_method: &str,
        gateway: &str,
        now: Timestamp,
    ) -> Result<Self, DomainError> {
        let outstanding = coverage.outstanding();
        let amount = amount.unwrap_or(outstanding);
        if !amount.is_positive() {
            if outstanding.is_zero() {
                return Err(DomainError::PaymentExceedsOutstanding { outstanding });
            }
            return Err(DomainError::validation("amount", "must be positive"));
        }
        if amount > outstanding {
            return Err(DomainError::PaymentExceedsOutstanding { outstanding });
        }
        let method = text::required("payment_method", payment_method, 50)?;
        if !method
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        {
            return Err(DomainError::validation(
                "payment_method",
                "must be letters, digits, '_' or '-'",
            ));
        }
        Ok(Self {
            booking_id,
            amount,
            payment_method: method.to_ascii_uppercase(),
            gateway: gateway.to_owned(),
            gateway_key: None,
            created_at: now,
        })
    }
}

/// A stored payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub booking_id: BookingId,
    pub amount: Money,
    pub status: PaymentStatus,
    pub gateway: String,
    pub gateway_reference: Option<String>,
    /// The idempotency key of the initiation: asking the gateway again with it answers the
    /// same session, which is how an intent whose reference was never recorded is resolved.
    pub gateway_key: Option<String>,
    pub payment_method: String,
    pub refund_amount: Money,
    pub failure_reason: Option<String>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Payment {
    #[must_use]
    pub fn from_new(id: PaymentId, new: NewPayment) -> Self {
        Self {
            id,
            booking_id: new.booking_id,
            amount: new.amount,
            status: PaymentStatus::Initiated,
            gateway: new.gateway,
            gateway_reference: None,
            gateway_key: new.gateway_key,
            payment_method: new.payment_method,
            refund_amount: Money::ZERO,
            failure_reason: None,
            version: 0,
            created_at: new.created_at,
            updated_at: new.created_at,
        }
    }

    fn refuse(&self, action: &'static str) -> DomainError {
        DomainError::invalid_transition("payment", self.status.as_str(), action)
    }

    fn move_to(&mut self, to: PaymentStatus, now: Timestamp) -> Transition<PaymentStatus> {
        let from = self.status;
        self.status = to;
        self.updated_at = now;
        Transition::new(from, to)
    }

    /// What can still be refunded.
    #[must_use]
    pub fn refundable(&self) -> Money {
        if self.status.is_paid() {
            self.amount - self.refund_amount
        } else {
            Money::ZERO
        }
    }

    /// The gateway reports it paid: INITIATED → COMPLETED.
    pub fn complete(&mut self, now: Timestamp) -> Result<Transition<PaymentStatus>, DomainError> {
        if self.status != PaymentStatus::Initiated {
            return Err(self.refuse("complete"));
        }
        Ok(self.move_to(PaymentStatus::Completed, now))
    }

    /// The gateway reports it failed: INITIATED → FAILED.
    pub fn fail(
        &mut self,
        reason: &str,
        now: Timestamp,
    ) -> Result<Transition<PaymentStatus>, DomainError> {
        if self.status != PaymentStatus::Initiated {
            return Err(self.refuse("fail"));
        }
        self.failure_reason = text::optional("failure_reason", Some(reason), 500)?;
        Ok(self.move_to(PaymentStatus::Failed, now))
    }

    /// Gives `amount` back: PARTIAL_REFUND while something remains, REFUNDED when all is back.
    pub fn refund(
        &mut self,
        amount: Money,
        now: Timestamp,
    ) -> Result<Transition<PaymentStatus>, DomainError> {
        if !matches!(
            self.status,
            PaymentStatus::Completed | PaymentStatus::PartialRefund
        ) {
            return Err(self.refuse("refund"));
        }
        if !amount.is_positive() {
            return Err(DomainError::validation("amount", "must be positive"));
        }
        let refundable = self.refundable();
        if amount > refundable {
            return Err(DomainError::RefundExceedsPaid { refundable });
        }
        self.refund_amount = self.refund_amount + amount;
        let to = if self.refund_amount == self.amount {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartialRefund
        };
        Ok(self.move_to(to, now))
    }
}

impl Payment {
    /// A refund of `amount` that was reserved (by [`Payment::refund`]) failed for good at the
    /// gateway: the money is still with the customer's payment, so it becomes refundable
    /// again.
    pub fn revert_refund(
        &mut self,
        amount: Money,
        now: Timestamp,
    ) -> Result<Transition<PaymentStatus>, DomainError> {
        if !matches!(
            self.status,
            PaymentStatus::PartialRefund | PaymentStatus::Refunded
        ) {
            return Err(self.refuse("revert_refund"));
        }
        if !amount.is_positive() || amount > self.refund_amount {
            return Err(DomainError::validation(
                "amount",
                "must be positive and at most what was refunded",
            ));
        }
        self.refund_amount = self.refund_amount - amount;
        let to = if self.refund_amount.is_zero() {
            PaymentStatus::Completed
        } else {
            PaymentStatus::PartialRefund
        };
        Ok(self.move_to(to, now))
    }
}

/// How far the payments of a booking cover its total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentCoverage {
    pub total: Money,
    /// Completed payments, gross of refunds.
    pub paid: Money,
    /// Payments initiated and not yet settled: they reserve their share of the outstanding
    /// amount so that two parallel payment attempts cannot overpay.
    pub pending: Money,
    /// Refunded so far.
    pub refunded: Money,
}

impl PaymentCoverage {
    #[must_use]
    pub fn of(total: Money, payments: &[Payment]) -> Self {
        let sum =
            |f: &dyn Fn(&Payment) -> Option<Money>| payments.iter().filter_map(f).sum::<Money>();
        Self {
            total,
            paid: sum(&|p| p.status.is_paid().then_some(p.amount)),
            pending: sum(&|p| (p.status == PaymentStatus::Initiated).then_some(p.amount)),
            refunded: sum(&|p| Some(p.refund_amount)),
        }
    }

    /// What a new payment may still ask for.
    #[must_use]
    pub fn outstanding(&self) -> Money {
        (self.total - self.paid - self.pending).floor_at_zero()
    }

    /// The booking may be confirmed.
    #[must_use]
    pub fn is_fully_paid(&self) -> bool {
        self.paid >= self.total
    }

    /// Money the customer has in: paid minus refunded.
    #[must_use]
    pub fn net_paid(&self) -> Money {
        self.paid - self.refunded
    }
}

/// Splits a refund of `amount` over a booking's payments, newest first, each up to its
/// refundable part. Returns `RefundExceedsPaid` if they cannot cover it.
pub fn allocate_refund(
    payments: &[Payment],
    amount: Money,
) -> Result<Vec<(PaymentId, Money)>, DomainError> {
    let mut ordered: Vec<&Payment> = payments
        .iter()
        .filter(|p| p.refundable().is_positive())
        .collect();
    ordered.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let refundable: Money = ordered.iter().map(|p| p.refundable()).sum();
    if amount > refundable {
        return Err(DomainError::RefundExceedsPaid { refundable });
    }
    let mut left = amount;
    let mut plan = Vec::new();
    for p in ordered {
        if !left.is_positive() {
            break;
        }
        let part = p.refundable().min(left);
        plan.push((p.id, part));
        left = left - part;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::now;
    use chrono::Duration;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    fn payment(id: i64, amount: &str, status: PaymentStatus) -> Payment {
        let mut p = Payment::from_new(
            PaymentId(id),
            NewPayment {
                booking_id: BookingId(1),
                amount: m(amount),
                payment_method: "CARD".into(),
                gateway: "sandbox".into(),
                gateway_key: None,
                created_at: now() + Duration::seconds(id),
            },
        );
        p.status = status;
        p
    }

    #[test]
    fn initiated_completes_or_fails() {
        let mut p = payment(1, "100", PaymentStatus::Initiated);
        assert_eq!(p.complete(now()).unwrap().to, PaymentStatus::Completed);
        let mut q = payment(2, "100", PaymentStatus::Initiated);
        assert_eq!(
            q.fail("card declined", now()).unwrap().to,
            PaymentStatus::Failed
        );
        assert_eq!(q.failure_reason.as_deref(), Some("card declined"));
    }

    #[test]
    fn settled_payments_cannot_complete_or_fail_again() {
        for status in [
            PaymentStatus::Completed,
            PaymentStatus::Failed,
            PaymentStatus::Refunded,
        ] {
            let mut p = payment(1, "100", status);
            assert_eq!(p.complete(now()).unwrap_err().code(), "INVALID_TRANSITION");
            assert_eq!(p.fail("x", now()).unwrap_err().code(), "INVALID_TRANSITION");
        }
    }

    #[test]
    fn partial_refunds_accumulate_up_to_the_amount() {
        let mut p = payment(1, "100", PaymentStatus::Completed);
        assert_eq!(
            p.refund(m("30"), now()).unwrap().to,
            PaymentStatus::PartialRefund
        );
        assert_eq!(
            p.refund(m("50"), now()).unwrap().to,
            PaymentStatus::PartialRefund
        );
        assert_eq!(p.refundable(), m("20"));
        assert_eq!(
            p.refund(m("20.01"), now()).unwrap_err(),
            DomainError::RefundExceedsPaid {
                refundable: m("20")
            }
        );
        assert_eq!(
            p.refund(m("20"), now()).unwrap().to,
            PaymentStatus::Refunded
        );
        assert_eq!(p.refund_amount, m("100"));
        assert_eq!(
            p.refund(m("0.01"), now()).unwrap_err().code(),
            "INVALID_TRANSITION"
        );
    }

    #[test]
    fn a_failed_refund_is_reverted_and_refundable_again() {
        let mut p = payment(1, "100", PaymentStatus::Completed);
        let _ = p.refund(m("30"), now()).unwrap();
        let _ = p.refund(m("70"), now()).unwrap();
        assert_eq!(
            p.revert_refund(m("70"), now()).unwrap().to,
            PaymentStatus::PartialRefund
        );
        assert_eq!((p.refund_amount, p.refundable()), (m("30"), m("70")));
        assert_eq!(
            p.revert_refund(m("30.01"), now()).unwrap_err().code(),
            "VALIDATION_FAILED"
        );
        assert_eq!(
            p.revert_refund(m("30"), now()).unwrap().to,
            PaymentStatus::Completed
        );
        assert_eq!(p.refund_amount, Money::ZERO);
        assert_eq!(
            p.revert_refund(m("1"), now()).unwrap_err().code(),
            "INVALID_TRANSITION"
        );
    }

    #[test]
    fn initiated_and_failed_cannot_be_refunded() {
        for status in [PaymentStatus::Initiated, PaymentStatus::Failed] {
            let mut p = payment(1, "100", status);
            assert_eq!(
                p.refund(m("1"), now()).unwrap_err().code(),
                "INVALID_TRANSITION"
            );
        }
        let mut p = payment(1, "100", PaymentStatus::Completed);
        assert_eq!(
            p.refund(Money::ZERO, now()).unwrap_err().code(),
            "VALIDATION_FAILED"
        );
    }

    #[test]
    fn coverage_counts_paid_and_pending() {
        let payments = [
            payment(1, "400", PaymentStatus::Completed),
            payment(2, "100", PaymentStatus::Initiated),
            payment(3, "999", PaymentStatus::Failed),
        ];
        let c = PaymentCoverage::of(m("1000"), &payments);
        assert_eq!(
            (c.paid, c.pending, c.outstanding()),
            (m("400"), m("100"), m("500"))
        );
        assert!(!c.is_fully_paid());
        let done = PaymentCoverage::of(m("500"), &payments[..1]);
        assert!(!done.is_fully_paid());
        let done = PaymentCoverage::of(m("400"), &payments[..1]);
        assert!(done.is_fully_paid());
    }

    #[test]
    fn new_payment_defaults_to_outstanding_and_refuses_overpayment() {
        let c = PaymentCoverage::of(m("1000"), &[payment(1, "400", PaymentStatus::Completed)]);
        let full = NewPayment::new(BookingId(1), None, &c, "card", "sandbox", now()).unwrap();
        assert_eq!(
            (full.amount, full.payment_method.as_str()),
            (m("600"), "CARD")
        );
        let part =
            NewPayment::new(BookingId(1), Some(m("250")), &c, "CARD", "sandbox", now()).unwrap();
        assert_eq!(part.amount, m("250"));
        let over = NewPayment::new(
            BookingId(1),
            Some(m("600.01")),
            &c,
            "CARD",
            "sandbox",
            now(),
        );
        assert_eq!(over.unwrap_err().code(), "PAYMENT_EXCEEDS_OUTSTANDING");
        assert!(
            NewPayment::new(BookingId(1), Some(m("-5")), &c, "CARD", "sandbox", now()).is_err()
        );
        assert!(NewPayment::new(BookingId(1), None, &c, "<script>", "sandbox", now()).is_err());
        let paid = PaymentCoverage::of(m("400"), &[payment(1, "400", PaymentStatus::Completed)]);
        let nothing_owed = NewPayment::new(BookingId(1), None, &paid, "CARD", "sandbox", now());
        assert_eq!(
            nothing_owed.unwrap_err().code(),
            "PAYMENT_EXCEEDS_OUTSTANDING"
        );
    }

    #[test]
    fn refund_is_allocated_newest_payment_first() {
        let payments = [
            payment(1, "300", PaymentStatus::Completed),
            payment(2, "200", PaymentStatus::Completed),
        ];
        let plan = allocate_refund(&payments, m("350")).unwrap();
        assert_eq!(
            plan,
            vec![(PaymentId(2), m("200")), (PaymentId(1), m("150"))]
        );
        assert_eq!(
            allocate_refund(&payments, m("500.01")).unwrap_err().code(),
            "REFUND_EXCEEDS_PAID"
        );
        assert!(allocate_refund(&payments, Money::ZERO).unwrap().is_empty());
    }
}
