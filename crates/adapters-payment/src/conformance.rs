//! The conformance kit (feature `conformance`): what the use cases rely on from every
//! [`PaymentGateway`], checked against a gateway wired to its provider's test double.
//!
//! A gateway's tests call [`run`] with the gateway and a [`Harness`] that drives the double:
//! settles payments as the customer would, produces the webhooks the provider would send and
//! breaks the provider on demand. The kit checks: initiation idempotent by key; status of
//! pending, paid (full and partial) and declined payments; unknown references; full and partial
//! refunds, idempotent by key, capped at the paid amount; webhooks accepted, forgeries rejected,
//! a replay carrying the same event id; and timeouts and provider errors reported as
//! `Unavailable` (after the gateway's retries), the gateway working again once the provider is.
//!
//! [`FakeLedger`] is the provider-side bookkeeping a double needs (payments by reference,
//! refunds by key), so an HTTP double is only the translation of its protocol.

// A test suite: a broken promise fails loudly, naming what was expected.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use domain::{BookingId, Money, PaymentId};
use ports::payment_gateway::{
    GatewayError, GatewayPaymentStatus, PaymentGateway, PaymentSessionRequest,
};

/// How the customer settles a payment on the provider's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Paid the amount requested.
    PaidInFull,
    /// Paid only this part of the amount requested.
    PaidPart(Money),
    Declined,
}

/// How the provider fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Answers later than the gateway's timeout.
    Timeout,
    /// Answers 5xx (or the protocol's "try later").
    ServerError,
}

/// A webhook as it reaches the service: headers and raw body.
pub type Webhook = (Vec<(String, String)>, Vec<u8>);

/// Drives the provider's test double.
#[async_trait]
pub trait Harness: Send + Sync {
    /// Settles `reference` as the customer would; `false` when the double cannot (a sandbox
    /// takes the full amount only, so `PaidPart` is unsupported there).
    async fn settle(&self, reference: &str, settlement: Settlement) -> bool;
    /// The webhook the provider sends when `reference` changes, with its id `event_id`.
    fn webhook(&self, reference: &str, event_id: &str) -> Webhook;
    /// A webhook about `reference` that the provider did not send (a bad signature), or
    /// `None` for a gateway whose webhooks carry no signature (it checks by querying back).
    fn forged_webhook(&self, reference: &str) -> Option<Webhook>;
    /// Makes the provider fail this way until [`Harness::heal`]; `false` for an in-process
    /// provider that cannot fail.
    async fn break_provider(&self, outage: Outage) -> bool;
    async fn heal(&self);
}

fn money(text: &str) -> Money {
    Money::parse(text).unwrap()
}

fn request(key: &str, amount: &str) -> PaymentSessionRequest {
    PaymentSessionRequest {
        payment_id: PaymentId(41),
        booking_id: BookingId(7),
        amount: money(amount),
        payment_method: "card".to_owned(),
        return_url: None,
        idempotency_key: key.to_owned(),
    }
}

/// Runs every check; panics at the first broken promise. `prefix` makes the keys unique, so a
/// suite may run several times against one provider.
pub async fn run(gateway: &dyn PaymentGateway, harness: &dyn Harness, prefix: &str) {
    let key = |name: &str| format!("{prefix}-{name}");
    let name = gateway.name().to_owned();

    // Initiation is idempotent by key; another key is another payment.
    let first = gateway
        .initiate(&request(&key("a"), "100.00"))
        .await
        .unwrap();
    let again = gateway
        .initiate(&request(&key("a"), "100.00"))
        .await
        .unwrap();
    assert_eq!(
        first, again,
        "{name}: the same key must answer the same session"
    );
    assert!(!first.payment_url.is_empty(), "{name}: a payment url");
    let other = gateway
        .initiate(&request(&key("b"), "100.00"))
        .await
        .unwrap();
    assert_ne!(
        first.reference, other.reference,
        "{name}: another key, another payment"
    );

    // Pending, then paid in full; an unknown reference is said to be.
    assert_eq!(
        gateway.status(&first.reference).await,
        Ok(GatewayPaymentStatus::Pending),
        "{name}: a new payment is pending"
    );
    assert_eq!(
        gateway.status("conformance-unknown").await,
        Err(GatewayError::UnknownReference),
        "{name}: unknown reference"
    );
    assert!(
        harness
            .settle(&first.reference, Settlement::PaidInFull)
            .await
    );
    assert_eq!(
        gateway.status(&first.reference).await,
        Ok(GatewayPaymentStatus::Paid {
            amount: money("100.00")
        }),
        "{name}: paid in full"
    );

    // Declined.
    assert!(harness.settle(&other.reference, Settlement::Declined).await);
    assert!(
        matches!(
            gateway.status(&other.reference).await,
            Ok(GatewayPaymentStatus::Failed { .. })
        ),
        "{name}: declined is Failed"
    );

    // A partial payment reports the amount taken.
    let partial = gateway
        .initiate(&request(&key("c"), "80.00"))
        .await
        .unwrap();
    if harness
        .settle(&partial.reference, Settlement::PaidPart(money("30.00")))
        .await
    {
        assert_eq!(
            gateway.status(&partial.reference).await,
            Ok(GatewayPaymentStatus::Paid {
                amount: money("30.00")
            }),
            "{name}: a partial payment reports the amount taken"
        );
    }

    // Refunds: partial, idempotent by key, the rest, then nothing more; not of a pending or
    // declined payment; not of an unknown reference.
    let r1 = gateway
        .refund(&first.reference, money("40.00"), &key("r1"))
        .await
        .unwrap();
    assert_eq!(
        gateway
            .refund(&first.reference, money("40.00"), &key("r1"))
            .await,
        Ok(r1.clone()),
        "{name}: a repeated refund key is the same refund"
    );
    let r2 = gateway
        .refund(&first.reference, money("60.00"), &key("r2"))
        .await
        .unwrap();
    assert_ne!(r1, r2, "{name}: another refund key, another refund");
    assert!(
        matches!(
            gateway
                .refund(&first.reference, money("0.01"), &key("r3"))
                .await,
            Err(GatewayError::Refused(_))
        ),
        "{name}: refunds are capped at the paid amount (the repeat above counted once)"
    );
    let pending = gateway
        .initiate(&request(&key("d"), "10.00"))
        .await
        .unwrap();
    assert!(
        matches!(
            gateway
                .refund(&pending.reference, money("10.00"), &key("r4"))
                .await,
            Err(GatewayError::Refused(_))
        ),
        "{name}: a pending payment cannot be refunded"
    );
    assert!(
        matches!(
            gateway
                .refund(&other.reference, money("1.00"), &key("r5"))
                .await,
            Err(GatewayError::Refused(_))
        ),
        "{name}: a declined payment cannot be refunded"
    );
    assert_eq!(
        gateway
            .refund("conformance-unknown", money("1.00"), &key("r6"))
            .await,
        Err(GatewayError::UnknownReference),
        "{name}: refund of an unknown reference"
    );

    // Webhooks: a genuine one names the reference; a replay carries the same event id; a
    // forgery is refused.
    let (headers, body) = harness.webhook(&first.reference, &key("evt"));
    let notice = gateway.verify_webhook(&headers, &body).unwrap();
    assert_eq!(
        notice.reference, first.reference,
        "{name}: webhook reference"
    );
    let replay = gateway.verify_webhook(&headers, &body).unwrap();
    assert_eq!(
        replay.event_id, notice.event_id,
        "{name}: a replay must carry the same event id (the service refuses it by that id)"
    );
    let (headers, body) = harness.webhook(&first.reference, &key("evt2"));
    assert_ne!(
        gateway.verify_webhook(&headers, &body).unwrap().event_id,
        notice.event_id,
        "{name}: another notice, another event id"
    );
    if let Some((headers, body)) = harness.forged_webhook(&first.reference) {
        assert_eq!(
            gateway.verify_webhook(&headers, &body),
            Err(GatewayError::InvalidSignature),
            "{name}: a forged webhook"
        );
    }

    // A provider that times out or fails is Unavailable; healed, the gateway works again.
    for outage in [Outage::Timeout, Outage::ServerError] {
        if !harness.break_provider(outage).await {
            continue;
        }
        let status = gateway.status(&first.reference).await;
        let initiate = gateway.initiate(&request(&key("e"), "5.00")).await;
        harness.heal().await;
        assert!(
            matches!(status, Err(GatewayError::Unavailable(_))),
            "{name}: {outage:?} on status: {status:?}"
        );
        assert!(
            matches!(initiate, Err(GatewayError::Unavailable(_))),
            "{name}: {outage:?} on initiate: {initiate:?}"
        );
        let healed = gateway.status(&first.reference).await;
        assert!(
            matches!(healed, Ok(GatewayPaymentStatus::Paid { .. })),
            "{name}: works again after {outage:?}: {healed:?}"
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerState {
    Pending,
    Paid(Money),
    Declined,
}

#[derive(Debug)]
struct LedgerPayment {
    amount: Money,
    state: LedgerState,
    refunds: HashMap<String, (String, Money)>,
}

/// What a refund request met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerRefund {
    Done(String),
    Unknown,
    Refused(String),
}

/// A provider's bookkeeping for test doubles: payments by reference (created once per
/// idempotency key), states, refunds by key capped at the amount taken.
#[derive(Debug, Default)]
pub struct FakeLedger {
    inner: Mutex<Ledger>,
}

#[derive(Debug, Default)]
struct Ledger {
    payments: HashMap<String, LedgerPayment>,
    by_key: HashMap<String, String>,
}

impl FakeLedger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reference of the payment created with `key` (created now if new).
    pub fn create(&self, key: &str, amount: Money) -> String {
        let mut ledger = self.lock();
        if let Some(reference) = ledger.by_key.get(key) {
            return reference.clone();
        }
        let reference = format!("fake-{}", ledger.payments.len() + 1);
        ledger.by_key.insert(key.to_owned(), reference.clone());
        ledger.payments.insert(
            reference.clone(),
            LedgerPayment {
                amount,
                state: LedgerState::Pending,
                refunds: HashMap::new(),
            },
        );
        reference
    }

    /// The requested amount and state of a reference.
    pub fn get(&self, reference: &str) -> Option<(Money, LedgerState)> {
        self.lock()
            .payments
            .get(reference)
            .map(|p| (p.amount, p.state))
    }

    /// Settles a pending payment; `false` when unknown.
    pub fn settle(&self, reference: &str, settlement: Settlement) -> bool {
        let mut ledger = self.lock();
        let Some(payment) = ledger.payments.get_mut(reference) else {
            return false;
        };
        payment.state = match settlement {
            Settlement::PaidInFull => LedgerState::Paid(payment.amount),
            Settlement::PaidPart(amount) => LedgerState::Paid(amount),
            Settlement::Declined => LedgerState::Declined,
        };
        true
    }

    /// Refunds `amount` of a paid reference, once per key.
    pub fn refund(&self, reference: &str, amount: Money, key: &str) -> LedgerRefund {
        let mut ledger = self.lock();
        let count = ledger
            .payments
            .values()
            .map(|p| p.refunds.len())
            .sum::<usize>();
        let Some(payment) = ledger.payments.get_mut(reference) else {
            return LedgerRefund::Unknown;
        };
        if let Some((id, previous)) = payment.refunds.get(key) {
            return if *previous == amount {
                LedgerRefund::Done(id.clone())
            } else {
                LedgerRefund::Refused("key reused for another amount".to_owned())
            };
        }
        let LedgerState::Paid(taken) = payment.state else {
            return LedgerRefund::Refused("not paid".to_owned());
        };
        let refunded: Money = payment.refunds.values().map(|(_, a)| *a).sum();
        if !amount.is_positive() || amount > taken - refunded {
            return LedgerRefund::Refused("above the refundable amount".to_owned());
        }
        let id = format!("fake-refund-{}", count + 1);
        payment.refunds.insert(key.to_owned(), (id.clone(), amount));
        LedgerRefund::Done(id)
    }
}
