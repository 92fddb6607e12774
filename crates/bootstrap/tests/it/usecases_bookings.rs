//! The booking and payment use cases against a real database (SQLite, and PostgreSQL when
//! available), with a manual clock, an in-test payment gateway and ticket generator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use adapters_postgres::SeaUnitOfWork;
use application::clock::{Clock, ManualClock};
use application::outbox::DomainEventType;
use application::ports::payment_gateway::MockPaymentGateway;
use application::ports::{
    AuditQuery, GatewayError, GatewayPaymentStatus, GatewaySession, PaymentGateways,
    SimulatedOutcome, TicketCodeGenerator, UnitOfWork, WebhookNotice,
};
use application::services::{
    BookingFilter, BookingService, CancelEventCommand, CreateBookingCommand, CreateEventCommand,
    EventService, InitiatePaymentCommand, PaymentService, PaymentView, RefundCommand,
};
use application::{Actor, AppError, PageRequest, RequestContext, Role};
use chrono::{Duration, TimeZone, Utc};
use domain::booking::{Booking, BookingStatus};
use domain::booking_rules::BookingSettings;
use domain::event::{EventDetailsInput, EventStatus, NewEventInput};
use domain::loyalty::{LoyaltyProgram, NewLoyaltyEntry};
use domain::payment::PaymentStatus;
use domain::pricing::{PricingRules, PromoDiscount};
use domain::promo_code::{PromoCodeText, PromoTerms};
use domain::ticket::TicketCode;
use domain::waitlist::WaitlistStatus;
use domain::{BookingId, EventId, Money, Percent, Quantity, Timestamp, UserId};
use test_db::on_both_backends;

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 5, 1, 10, 0, 0).unwrap()
}

fn m(s: &str) -> Money {
    Money::parse(s).unwrap()
}

fn uid(n: u128) -> UserId {
    UserId(uuid::Uuid::from_u128(n))
}

fn as_user(n: u128) -> RequestContext {
    RequestContext::new(Actor::authenticated(uid(n), [Role::User]))
}

fn as_organizer(n: u128) -> RequestContext {
    RequestContext::new(Actor::authenticated(uid(n), [Role::Organizer]))
}

fn as_admin() -> RequestContext {
    RequestContext::new(Actor::authenticated(uid(999), [Role::Admin]))
}

const ORGANIZER: u128 = 500;

// --- fakes -----------------------------------------------------------------------------

/// What the in-test gateway knows: references start Pending; tests (or `simulate`) decide
/// the outcome. The port is served by a mockall mock delegating to this state.
#[derive(Default)]
struct GatewayState {
    payments: Mutex<HashMap<String, (Money, GatewayPaymentStatus)>>,
    refunds: Mutex<Vec<(String, Money, String)>>,
}

impl GatewayState {
    fn set(&self, reference: &str, status: GatewayPaymentStatus) {
        let mut state = self.payments.lock().unwrap();
        state.get_mut(reference).expect("known reference").1 = status;
    }

    fn pay(&self, reference: &str) {
        let amount = self.payments.lock().unwrap()[reference].0;
        self.set(reference, GatewayPaymentStatus::Paid { amount });
    }

    fn fail(&self, reference: &str) {
        self.set(
            reference,
            GatewayPaymentStatus::Failed {
                reason: "card declined".into(),
            },
        );
    }

    fn refunds(&self) -> Vec<(String, Money, String)> {
        self.refunds.lock().unwrap().clone()
    }

    fn refunded_total(&self) -> Money {
        self.refunds().iter().map(|r| r.1).sum()
    }
}

fn fake_gateway(state: &Arc<GatewayState>) -> MockPaymentGateway {
    let mut g = MockPaymentGateway::new();
    g.expect_name().return_const("fake".to_owned());
    let s = Arc::clone(state);
    g.expect_initiate().returning(move |req| {
        let reference = format!("fk_{}", req.payment_id);
        s.payments.lock().unwrap().insert(
            reference.clone(),
            (req.amount, GatewayPaymentStatus::Pending),
        );
        Ok(GatewaySession {
            payment_url: format!("https://pay.test/{reference}"),
            reference,
        })
    });
    let s = Arc::clone(state);
    g.expect_status().returning(move |reference| {
        s.payments
            .lock()
            .unwrap()
            .get(reference)
            .map(|p| p.1.clone())
            .ok_or(GatewayError::UnknownReference)
    });
    let s = Arc::clone(state);
    g.expect_refund().returning(move |reference, amount, key| {
        let mut refunds = s.refunds.lock().unwrap();
        refunds.push((reference.to_owned(), amount, key.to_owned()));
        Ok(format!("rf_{}", refunds.len()))
    });
    g.expect_verify_webhook().returning(|headers, body| {
        let signed = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-signature") && v == "good");
        if !signed {
            return Err(GatewayError::InvalidSignature);
        }
        // The body is "<event id> <signed at> <reference>".
        let text = String::from_utf8(body.to_vec()).unwrap();
        let mut parts = text.splitn(3, ' ');
        let (event_id, signed_at, reference) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        Ok(WebhookNotice {
            reference: reference.to_owned(),
            event_id: event_id.to_owned(),
            signed_at: signed_at.parse().unwrap(),
        })
    });
    let s = Arc::clone(state);
    g.expect_simulate().returning(move |reference, outcome| {
        match outcome {
            SimulatedOutcome::Success => s.pay(reference),
            SimulatedOutcome::Failure => s.fail(reference),
        }
        Ok(())
    });
    g
}

#[derive(Default)]
struct FakeTickets(AtomicU64);

impl TicketCodeGenerator for FakeTickets {
    fn generate(&self) -> TicketCode {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        TicketCode::new(format!("TKT-TEST-{n:06}")).unwrap()
    }
}

// --- the world ---------------------------------------------------------------------------

struct World {
    uow: SeaUnitOfWork,
    clock: Arc<ManualClock>,
    gateway: Arc<GatewayState>,
    bookings: BookingService,
    payments: PaymentService,
    events: EventService,
}

fn loyalty_program() -> LoyaltyProgram {
    LoyaltyProgram {
        // one point per 100.00 paid
        points_per_currency_unit: Percent::from_whole(1).unwrap().as_fraction(),
        review_points: 50,
        point_value: m("1"),
        max_redeem_share: Percent::from_whole(20).unwrap(),
    }
}

fn settings() -> BookingSettings {
    BookingSettings {
        ttl: Duration::minutes(30),
        grace: Duration::minutes(5),
        max_quantity: 10,
    }
}

impl World {
    fn new(t: &test_db::TestDb) -> Self {
        let uow = t.uow();
        let clock = Arc::new(ManualClock::new(t0()));
        let gateway = Arc::new(GatewayState::default());
        let gateways = PaymentGateways::new(Arc::new(fake_gateway(&gateway)));
        let tickets: Arc<dyn TicketCodeGenerator> = Arc::new(FakeTickets::default());
        let shared_uow: Arc<dyn UnitOfWork> = Arc::new(uow.clone());
        let shared_clock: Arc<dyn Clock> = clock.clone();
        Self {
            bookings: BookingService::new(
                Arc::clone(&shared_uow),
                Arc::clone(&shared_clock),
                gateways.clone(),
                Arc::clone(&tickets),
                settings(),
                loyalty_program(),
            ),
            payments: PaymentService::new(
                Arc::clone(&shared_uow),
                Arc::clone(&shared_clock),
                gateways,
                tickets,
                settings(),
                loyalty_program(),
            )
            .with_allowed_return_origins(vec!["https://app.test".to_owned()]),
            events: EventService::new(shared_uow, shared_clock),
            uow,
            clock,
            gateway,
        }
    }

    /// A published event of `capacity` seats at 1000.00 starting 30 days after t0.
    async fn event(&self, capacity: i64) -> EventId {
        self.event_at(capacity, "1000", t0() + Duration::days(30))
            .await
    }

    async fn event_at(&self, capacity: i64, price: &str, start: Timestamp) -> EventId {
        let cmd = CreateEventCommand {
            event: NewEventInput {
                details: EventDetailsInput {
                    name: "Rafting".into(),
                    ..Default::default()
                },
                start_date: start,
                end_date: None,
                max_participants: capacity,
                price: m(price),
                booking_deadline_hours: Some(1),
                max_seats_per_user: None,
                publish_at: None,
                is_featured: false,
                refund_policy: None,
                pricing_rules: PricingRules::default(),
            },
            price_options: vec![],
            auto_publish: true,
        };
        self.events
            .create_event(&as_organizer(ORGANIZER), cmd)
            .await
            .unwrap()
            .event
            .id
    }

    async fn book(&self, who: u128, event: EventId, quantity: i64) -> Result<Booking, AppError> {
        self.bookings
            .create(&as_user(who), booking_cmd(event, quantity))
            .await
    }

    async fn initiate(
        &self,
        who: u128,
        booking: BookingId,
        amount: Option<&str>,
    ) -> Result<PaymentView, AppError> {
        self.payments
            .initiate(
                &as_user(who),
                InitiatePaymentCommand {
                    booking_id: booking,
                    payment_method: "card".into(),
                    return_url: Some("https://app.test/done".into()),
                    amount: amount.map(m),
                    idempotency_key: None,
                },
            )
            .await
    }

    /// Books, pays in full and confirms: a CONFIRMED booking.
    async fn confirmed(&self, who: u128, event: EventId, quantity: i64) -> Booking {
        let booking = self.book(who, event, quantity).await.unwrap();
        let view = self.initiate(who, booking.id, None).await.unwrap();
        let reference = view.payment.gateway_reference.clone().unwrap();
        self.gateway.pay(&reference);
        let done = self
            .payments
            .confirm(&as_user(who), &reference)
            .await
            .unwrap();
        assert_eq!(done.booking.status, BookingStatus::Confirmed);
        done.booking
    }

    async fn booking(&self, id: BookingId) -> Booking {
        let tx = self.uow.begin().await.unwrap();
        tx.bookings().find(id).await.unwrap().unwrap()
    }

    /// The process-refunds job: sends the refunds the use cases recorded PENDING (they never
    /// call the gateway inside their transaction).
    async fn send_refunds(&self) -> u64 {
        self.payments.process_refunds(1000).await.unwrap()
    }

    async fn available(&self, event: EventId) -> u32 {
        let tx = self.uow.begin().await.unwrap();
        tx.events()
            .find(event)
            .await
            .unwrap()
            .unwrap()
            .seats
            .available()
    }

    /// `available + Σ seats of bookings holding them + seats held for waitlist = capacity`.
    async fn assert_seat_invariant(&self, event: EventId) {
        let tx = self.uow.begin().await.unwrap();
        let e = tx.events().find(event).await.unwrap().unwrap();
        let held = tx.bookings().seats_held(event).await.unwrap();
        let waitlist = tx.waitlist().held_seats(event).await.unwrap();
        assert_eq!(
            u64::from(e.seats.available()) + held + waitlist,
            u64::from(e.seats.capacity()),
            "seat invariant of event {event}: available {} + booked {held} + held {waitlist}",
            e.seats.available()
        );
    }

    /// Every outbox row written so far, as (type, aggregate id).
    async fn outbox(&self) -> Vec<(DomainEventType, String)> {
        // claim_batch locks (SKIP LOCKED on PostgreSQL): commit at once so that the next read
        // does not skip rows whose rollback is still under way.
        let tx = self.uow.begin().await.unwrap();
        let rows = tx
            .outbox()
            .claim_batch(t0() + Duration::days(3650), 1000)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        rows.into_iter()
            .map(|r| (r.message.event_type, r.message.aggregate_id))
            .collect()
    }

    async fn outbox_count(&self, kind: DomainEventType, aggregate: impl ToString) -> usize {
        let id = aggregate.to_string();
        self.outbox()
            .await
            .iter()
            .filter(|(k, a)| *k == kind && *a == id)
            .count()
    }

    async fn log_statuses(&self, id: BookingId) -> Vec<(Option<BookingStatus>, BookingStatus)> {
        let tx = self.uow.begin().await.unwrap();
        tx.bookings()
            .logs(id)
            .await
            .unwrap()
            .into_iter()
            .map(|l| (l.old_status, l.new_status))
            .collect()
    }

    async fn audit_count(&self, action: &str, entity_id: impl ToString) -> u64 {
        let tx = self.uow.begin().await.unwrap();
        tx.audit()
            .search(&AuditQuery {
                action: Some(action.to_owned()),
                entity_id: Some(entity_id.to_string()),
                ..Default::default()
            })
            .await
            .unwrap()
            .total_elements
    }

    async fn points(&self, who: u128) -> u64 {
        let tx = self.uow.begin().await.unwrap();
        tx.loyalty().balance(uid(who)).await.unwrap()
    }
}

fn booking_cmd(event: EventId, quantity: i64) -> CreateBookingCommand {
    CreateBookingCommand {
        event_id: event,
        quantity,
        price_option_id: None,
        promo_code: None,
        use_loyalty_points: None,
    }
}

fn reference(view: &PaymentView) -> String {
    view.payment.gateway_reference.clone().unwrap()
}

// --- tests -----------------------------------------------------------------------------

on_both_backends!(create_pay_confirm_gives_a_ticket_and_is_idempotent, |t| {
    let w = World::new(&t);
    let event = w.event(10).await;

    let booking = w.book(1, event, 2).await.unwrap();
    assert_eq!(booking.status, BookingStatus::PendingPayment);
    assert_eq!(booking.total_price(), m("2000"));
    assert_eq!(booking.payment_deadline, t0() + Duration::minutes(30));
    assert_eq!(w.available(event).await, 8);
    w.assert_seat_invariant(event).await;

    let view = w.initiate(1, booking.id, None).await.unwrap();
    assert_eq!(view.payment.status, PaymentStatus::Initiated);
    assert_eq!(view.payment.amount, m("2000"));
    assert_eq!(view.payment.gateway, "fake");
    let r = reference(&view);
    assert_eq!(
        view.payment_url.as_deref(),
        Some(format!("https://pay.test/{r}").as_str())
    );

    // The gateway has not seen the money yet: nothing changes.
    let pending = w.payments.confirm(&as_user(1), &r).await.unwrap();
    assert_eq!(pending.payment.status, PaymentStatus::Initiated);
    assert_eq!(pending.booking.status, BookingStatus::PendingPayment);

    w.gateway.pay(&r);
    let done = w.payments.confirm(&as_user(1), &r).await.unwrap();
    assert_eq!(done.payment.status, PaymentStatus::Completed);
    assert_eq!(done.booking.status, BookingStatus::Confirmed);
    assert_eq!(
        done.booking.ticket_code.as_ref().map(TicketCode::as_str),
        Some("TKT-TEST-000001")
    );

    // A second confirmation changes nothing and answers the same.
    let again = w.payments.confirm(&as_user(1), &r).await.unwrap();
    assert_eq!(again.payment, done.payment);
    assert_eq!(again.booking, done.booking);
    assert_eq!(
        w.outbox_count(DomainEventType::PaymentCompleted, done.payment.id)
            .await,
        1
    );
    assert_eq!(
        w.outbox_count(DomainEventType::BookingConfirmed, booking.id)
            .await,
        1
    );
    assert_eq!(
        w.outbox_count(DomainEventType::BookingCreated, booking.id)
            .await,
        1
    );
    assert_eq!(
        w.outbox_count(DomainEventType::PaymentInitiated, done.payment.id)
            .await,
        1
    );
    assert_eq!(
        w.log_statuses(booking.id).await,
        [
            (None, BookingStatus::PendingPayment),
            (
                Some(BookingStatus::PendingPayment),
                BookingStatus::Confirmed
            )
        ]
    );
    assert_eq!(w.audit_count("booking.create", booking.id).await, 1);
    assert_eq!(w.audit_count("payment.complete", done.payment.id).await, 1);
    assert_eq!(w.points(1).await, 20, "1 point per 100.00 paid");
    assert_eq!(w.available(event).await, 8);
    w.assert_seat_invariant(event).await;

    // get shows the booking with its payment
    let details = w.bookings.get(&as_user(1), booking.id).await.unwrap();
    assert_eq!(details.payments, vec![done.payment.clone()]);
    // a confirmed booking takes no more payments
    let err = w.initiate(1, booking.id, None).await.unwrap_err();
    assert_eq!(err.code(), "BOOKING_NOT_PAYABLE");
});

on_both_backends!(partial_payments_confirm_once_the_total_is_covered, |t| {
    let w = World::new(&t);
    let event = w.event(10).await;
    let booking = w.book(1, event, 1).await.unwrap();

    let first = w.initiate(1, booking.id, Some("300")).await.unwrap();
    let second = w.initiate(1, booking.id, None).await.unwrap();
    assert_eq!(
        second.payment.amount,
        m("700"),
        "the rest of the outstanding"
    );
    let err = w.initiate(1, booking.id, Some("0.01")).await.unwrap_err();
    assert_eq!(err.code(), "PAYMENT_EXCEEDS_OUTSTANDING");

    w.gateway.pay(&reference(&first));
    let view = w
        .payments
        .confirm(&as_user(1), &reference(&first))
        .await
        .unwrap();
    assert_eq!(view.payment.status, PaymentStatus::Completed);
    assert_eq!(
        view.booking.status,
        BookingStatus::PendingPayment,
        "300 of 1000 paid"
    );

    // The second arrives by webhook: a bad signature is refused, a good one applied.
    w.gateway.pay(&reference(&second));
    let body = format!("evt_1 {} {}", w.clock.now().timestamp(), reference(&second)).into_bytes();
    let bad = vec![("X-Signature".to_owned(), "forged".to_owned())];
    let err = w.payments.webhook("fake", &bad, &body).await.unwrap_err();
    assert!(matches!(err, AppError::Unauthenticated), "{err:?}");
    assert_eq!(
        w.booking(booking.id).await.status,
        BookingStatus::PendingPayment
    );
    let good = vec![("X-Signature".to_owned(), "good".to_owned())];
    w.payments.webhook("fake", &good, &body).await.unwrap();
    let b = w.booking(booking.id).await;
    assert_eq!(b.status, BookingStatus::Confirmed);
    assert!(b.ticket_code.is_some());
    // webhooks for unknown gateways are 404
    let err = w
        .payments
        .webhook("paypal", &good, &body)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    // the system actor is recorded on the booking log
    let tx = w.uow.begin().await.unwrap();
    let logs = tx.bookings().logs(booking.id).await.unwrap();
    assert_eq!(logs.last().unwrap().actor_id, None);
});

on_both_backends!(failed_and_simulated_payments, |t| {
    let w = World::new(&t);
    let event = w.event(10).await;
    let booking = w.book(1, event, 1).await.unwrap();
    let view = w.initiate(1, booking.id, None).await.unwrap();
    w.gateway.fail(&reference(&view));
    let failed = w
        .payments
        .confirm(&as_user(1), &reference(&view))
        .await
        .unwrap();
    assert_eq!(failed.payment.status, PaymentStatus::Failed);
    assert_eq!(
        failed.payment.failure_reason.as_deref(),
        Some("card declined")
    );
    assert_eq!(failed.booking.status, BookingStatus::PendingPayment);
    assert_eq!(
        w.outbox_count(DomainEventType::PaymentFailed, view.payment.id)
            .await,
        1
    );

    // A failed payment does not count: the whole amount can be paid again, here through the
    // sandbox page simulation.
    let retry = w.initiate(1, booking.id, None).await.unwrap();
    assert_eq!(retry.payment.amount, m("1000"));
    let done = w
        .payments
        .simulate("fake", &reference(&retry), SimulatedOutcome::Success)
        .await
        .unwrap();
    assert_eq!(done.payment.status, PaymentStatus::Completed);
    assert_eq!(done.booking.status, BookingStatus::Confirmed);
});

on_both_backends!(refund_tiers_follow_the_time_before_the_start, |t| {
    let w = World::new(&t);
    let start = t0() + Duration::days(30);
    let event = w.event(10).await;
    // (user, time before start, percent, refunded amount)
    let cases = [
        (1, Duration::days(8), 100, "1000", PaymentStatus::Refunded),
        (
            2,
            Duration::hours(48),
            80,
            "800",
            PaymentStatus::PartialRefund,
        ),
        (
            3,
            Duration::hours(30),
            50,
            "500",
            PaymentStatus::PartialRefund,
        ),
        (4, Duration::hours(10), 0, "0", PaymentStatus::Completed),
    ];
    let mut bookings = Vec::new();
    for (who, ..) in &cases {
        bookings.push(w.confirmed(*who, event, 1).await);
    }
    assert_eq!(w.available(event).await, 6);
    for ((who, before, percent, amount, status), booking) in cases.iter().zip(&bookings) {
        w.clock.set(start - *before);
        let refunded_before = w.gateway.refunded_total();
        let c = w
            .bookings
            .cancel(&as_user(*who), booking.id, Some("plans changed".into()))
            .await
            .unwrap();
        assert_eq!(c.booking.status, BookingStatus::Canceled);
        assert_eq!(
            c.refund_percent,
            Percent::from_whole(*percent).unwrap(),
            "user {who}"
        );
        assert_eq!(c.refund_amount, m(amount), "user {who}");
        assert_eq!(
            w.gateway.refunded_total(),
            refunded_before,
            "the cancellation itself calls no gateway"
        );
        w.send_refunds().await;
        assert_eq!(w.gateway.refunded_total() - refunded_before, m(amount));
        let details = w.bookings.get(&as_user(*who), booking.id).await.unwrap();
        assert_eq!(details.payments[0].status, *status, "user {who}");
        assert_eq!(details.payments[0].refund_amount, m(amount));
        assert_eq!(
            w.log_statuses(booking.id).await.last().unwrap(),
            &(Some(BookingStatus::Confirmed), BookingStatus::Canceled)
        );
        assert_eq!(
            w.outbox_count(DomainEventType::BookingCanceled, booking.id)
                .await,
            1
        );
        assert_eq!(
            w.outbox_count(DomainEventType::PaymentRefunded, details.payments[0].id)
                .await,
            usize::from(*percent > 0)
        );
        assert_eq!(w.audit_count("booking.cancel", booking.id).await, 1);
        w.assert_seat_invariant(event).await;
    }
    assert_eq!(w.available(event).await, 10, "every seat came back");
    // points earned on the refunded share are taken back: 10 earned, 8 and 5 returned
    assert_eq!(w.points(1).await, 0);
    assert_eq!(w.points(2).await, 2);
    assert_eq!(w.points(3).await, 5);
    assert_eq!(w.points(4).await, 10);
    // a canceled booking cannot be canceled again
    let err = w
        .bookings
        .cancel(&as_user(1), bookings[0].id, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_TRANSITION");
});

on_both_backends!(
    payments_arriving_after_expiry_or_cancellation_are_refunded,
    |t| {
        let w = World::new(&t);
        let event = w.event(10).await;

        // 1. Paid after the deadline plus grace: refunded, the booking is not confirmed.
        let late = w.book(1, event, 1).await.unwrap();
        let view = w.initiate(1, late.id, None).await.unwrap();
        w.clock.advance(Duration::minutes(36));
        w.gateway.pay(&reference(&view));
        let applied = w
            .payments
            .confirm(&as_user(1), &reference(&view))
            .await
            .unwrap();
        assert_eq!(applied.payment.status, PaymentStatus::Refunded);
        assert_eq!(applied.payment.refund_amount, m("1000"));
        assert_eq!(applied.booking.status, BookingStatus::PendingPayment);
        assert_eq!(applied.booking.ticket_code, None);
        // and the deadline is over for new payments
        assert_eq!(
            w.initiate(1, late.id, None).await.unwrap_err().code(),
            "PAYMENT_DEADLINE_PASSED"
        );

        // 2. The expiry job expired the booking (done here through the repository), then the
        //    money arrives: refunded, the booking stays EXPIRED.
        w.clock.set(t0());
        let expiring = w.book(2, event, 2).await.unwrap();
        let view2 = w.initiate(2, expiring.id, None).await.unwrap();
        w.clock.advance(Duration::minutes(40));
        {
            let tx = w.uow.begin().await.unwrap();
            let mut b = tx
                .bookings()
                .find_for_update(expiring.id)
                .await
                .unwrap()
                .unwrap();
            let release = b.expire(w.clock.now(), settings().grace).unwrap();
            tx.bookings().update(&b).await.unwrap();
            tx.events()
                .release_seats(event, release.seats_freed)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        w.gateway.pay(&reference(&view2));
        let applied = w
            .payments
            .simulate("fake", &reference(&view2), SimulatedOutcome::Success)
            .await
            .unwrap();
        assert_eq!(applied.payment.status, PaymentStatus::Refunded);
        assert_eq!(applied.booking.status, BookingStatus::Expired);
        assert_eq!(
            w.outbox_count(DomainEventType::PaymentRefunded, view2.payment.id)
                .await,
            0,
            "published once the gateway refunded"
        );
        w.send_refunds().await;
        assert_eq!(
            w.outbox_count(DomainEventType::PaymentRefunded, view2.payment.id)
                .await,
            1
        );

        // 3. Canceled while the payment was under way.
        w.clock.set(t0());
        let canceled = w.book(3, event, 1).await.unwrap();
        let view3 = w.initiate(3, canceled.id, None).await.unwrap();
        let c = w
            .bookings
            .cancel(&as_user(3), canceled.id, None)
            .await
            .unwrap();
        assert_eq!(c.refund_amount, Money::ZERO, "nothing was paid yet");
        w.gateway.pay(&reference(&view3));
        let applied = w
            .payments
            .confirm(&as_user(3), &reference(&view3))
            .await
            .unwrap();
        assert_eq!(applied.payment.status, PaymentStatus::Refunded);
        assert_eq!(applied.booking.status, BookingStatus::Canceled);

        w.send_refunds().await;
        assert_eq!(
            w.gateway.refunded_total(),
            m("4000"),
            "1000 + 2 × 1000 + 1000"
        );
        w.assert_seat_invariant(event).await;
        // booking 1 still holds its seat until the expiry job runs; 2 and 3 gave theirs back
        assert_eq!(w.available(event).await, 9);
    }
);

on_both_backends!(ownership_and_listing_rules, |t| {
    let w = World::new(&t);
    let mine = w.event(10).await;
    let b1 = w.book(1, mine, 1).await.unwrap();
    let b2 = w.book(2, mine, 1).await.unwrap();
    let view = w.initiate(1, b1.id, None).await.unwrap();

    // another user's booking and payment do not exist for me
    for err in [
        w.bookings.get(&as_user(2), b1.id).await.unwrap_err(),
        w.bookings
            .cancel(&as_user(2), b1.id, None)
            .await
            .unwrap_err(),
        w.initiate(2, b1.id, None).await.unwrap_err(),
        w.payments
            .get(&as_user(2), view.payment.id)
            .await
            .unwrap_err(),
        w.payments
            .confirm(&as_user(2), &reference(&view))
            .await
            .unwrap_err(),
        w.payments
            .refund(
                &as_user(2),
                view.payment.id,
                RefundCommand {
                    amount: None,
                    reason: "x".into(),
                },
            )
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.code(), "NOT_FOUND", "{err:?}");
    }
    let guest = RequestContext::new(Actor::guest());
    assert!(matches!(
        w.bookings
            .create(&guest, booking_cmd(mine, 1))
            .await
            .unwrap_err(),
        AppError::Unauthenticated
    ));
    assert!(matches!(
        w.bookings.get(&guest, b1.id).await.unwrap_err(),
        AppError::Unauthenticated
    ));

    // users list their own only; asking for another's is 403
    let page = w
        .bookings
        .list(&as_user(1), BookingFilter::default())
        .await
        .unwrap();
    assert_eq!(page.items.iter().map(|b| b.id).collect::<Vec<_>>(), [b1.id]);
    let err = w
        .bookings
        .list(
            &as_user(1),
            BookingFilter {
                user_id: Some(uid(2)),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");

    // the organizer of the event sees both and may read them; another organizer sees none
    let page = w
        .bookings
        .list(&as_organizer(ORGANIZER), BookingFilter::default())
        .await
        .unwrap();
    assert_eq!(page.total_elements, 2);
    assert!(
        w.bookings
            .get(&as_organizer(ORGANIZER), b2.id)
            .await
            .is_ok()
    );
    assert!(
        w.payments
            .get(&as_organizer(ORGANIZER), view.payment.id)
            .await
            .is_ok()
    );
    let page = w
        .bookings
        .list(
            &as_organizer(501),
            BookingFilter {
                event_id: Some(mine),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total_elements, 0);
    assert_eq!(
        w.bookings
            .get(&as_organizer(501), b2.id)
            .await
            .unwrap_err()
            .code(),
        "NOT_FOUND"
    );

    // admins see all, with filters
    let page = w
        .bookings
        .list(
            &as_admin(),
            BookingFilter {
                user_id: Some(uid(2)),
                status: Some(BookingStatus::PendingPayment),
                event_id: Some(mine),
                page: PageRequest::default(),
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.iter().map(|b| b.id).collect::<Vec<_>>(), [b2.id]);
    assert!(w.bookings.cancel(&as_admin(), b2.id, None).await.is_ok());
});

on_both_backends!(no_overselling_and_exact_seat_counts, |t| {
    let w = World::new(&t);
    let event = w.event(3).await;
    w.book(1, event, 2).await.unwrap();
    let err = w.book(2, event, 2).await.unwrap_err();
    assert_eq!(err.code(), "SOLD_OUT");
    assert!(err.to_string().contains("waitlist"), "{err}");
    assert_eq!(w.available(event).await, 1);
    let b = w.book(2, event, 1).await.unwrap();
    assert_eq!(w.book(3, event, 1).await.unwrap_err().code(), "SOLD_OUT");
    // a user who already holds a booking is told so before anything about seats
    assert_eq!(
        w.book(1, event, 1).await.unwrap_err().code(),
        "ALREADY_BOOKED"
    );
    assert_eq!(w.available(event).await, 0);
    w.assert_seat_invariant(event).await;

    // cancel frees the seat; the same user books again; one active booking per user
    w.bookings.cancel(&as_user(2), b.id, None).await.unwrap();
    assert_eq!(w.available(event).await, 1);
    w.book(2, event, 1).await.unwrap();
    w.assert_seat_invariant(event).await;

    // quantity limits are validation errors
    for q in [0, -1, 11] {
        assert_eq!(
            w.book(4, event, q).await.unwrap_err().code(),
            "VALIDATION_FAILED"
        );
    }
    let other = w.event(5).await;
    w.book(5, other, 1).await.unwrap();
    assert_eq!(
        w.book(5, other, 1).await.unwrap_err().code(),
        "ALREADY_BOOKED"
    );
    w.assert_seat_invariant(other).await;
    // past the cutoff booking is closed
    w.clock
        .set(t0() + Duration::days(30) - Duration::minutes(30));
    assert_eq!(
        w.book(6, other, 1).await.unwrap_err().code(),
        "BOOKING_CLOSED"
    );
});

on_both_backends!(
    event_cancellation_refunds_everyone_and_frees_every_seat,
    |t| {
        let w = World::new(&t);
        let event = w.event(10).await;
        let pending = w.book(1, event, 2).await.unwrap();
        let paid = w.confirmed(2, event, 3).await;
        // a pending booking with a partial payment gets that payment back too
        let partly = w.book(3, event, 1).await.unwrap();
        let part = w.initiate(3, partly.id, Some("400")).await.unwrap();
        w.gateway.pay(&reference(&part));
        w.payments
            .confirm(&as_user(3), &reference(&part))
            .await
            .unwrap();
        {
            let tx = w.uow.begin().await.unwrap();
            tx.waitlist()
                .join(event, uid(4), Quantity::new(2, 10).unwrap(), t0())
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        assert_eq!(w.available(event).await, 4);
        // less than the start minus 24h: a customer would get 0%, the event cancellation gives 100%
        w.clock.set(t0() + Duration::days(30) - Duration::hours(5));

        let cmd = CancelEventCommand {
            reason: Some("storm warning".into()),
            notify_participants: true,
            force_majeure: false,
            expected_version: None,
        };
        assert!(matches!(
            w.bookings
                .cancel_event(&as_user(1), event, cmd.clone())
                .await
                .unwrap_err(),
            AppError::Forbidden { .. }
        ));
        assert_eq!(
            w.bookings
                .cancel_event(&as_organizer(501), event, cmd.clone())
                .await
                .unwrap_err()
                .code(),
            "NOT_FOUND"
        );
        let fm = CancelEventCommand {
            force_majeure: true,
            ..cmd.clone()
        };
        assert!(matches!(
            w.bookings
                .cancel_event(&as_organizer(ORGANIZER), event, fm)
                .await
                .unwrap_err(),
            AppError::Forbidden { .. }
        ));
        let stale = CancelEventCommand {
            expected_version: Some(0),
            ..cmd.clone()
        };
        assert_eq!(
            w.bookings
                .cancel_event(&as_organizer(ORGANIZER), event, stale)
                .await
                .unwrap_err()
                .code(),
            "VERSION_CONFLICT"
        );

        let done = w
            .bookings
            .cancel_event(&as_organizer(ORGANIZER), event, cmd)
            .await
            .unwrap();
        assert_eq!(done.event.status, EventStatus::Canceled);
        assert_eq!(done.event.canceled_reason.as_deref(), Some("storm warning"));
        assert_eq!(done.bookings_canceled, 3);
        assert_eq!(done.refunds_total, m("3400"));
        assert_eq!(done.event.seats.available(), 10);
        assert_eq!(w.gateway.refunded_total(), Money::ZERO, "sent after commit");
        assert_eq!(
            w.send_refunds().await,
            2,
            "the paid and the partly paid booking"
        );
        assert_eq!(w.gateway.refunded_total(), m("3400"));
        for b in [&pending, &paid, &partly] {
            assert_eq!(w.booking(b.id).await.status, BookingStatus::Canceled);
            assert_eq!(
                w.outbox_count(DomainEventType::BookingCanceled, b.id).await,
                1
            );
        }
        let details = w.bookings.get(&as_user(2), paid.id).await.unwrap();
        assert_eq!(details.payments[0].status, PaymentStatus::Refunded);
        assert_eq!(
            w.outbox_count(DomainEventType::EventCanceled, event).await,
            1
        );
        {
            let tx = w.uow.begin().await.unwrap();
            let rows = tx
                .outbox()
                .claim_batch(t0() + Duration::days(3650), 1000)
                .await
                .unwrap();
            let canceled = rows
                .iter()
                .find(|r| r.message.event_type == DomainEventType::EventCanceled)
                .unwrap();
            assert_eq!(canceled.message.payload["notify_participants"], true);
            assert_eq!(canceled.message.payload["refunds_total"], "3400.00");
            let entries = tx
                .waitlist()
                .list(event, vec![], PageRequest::default())
                .await
                .unwrap();
            assert_eq!(entries.items[0].status, WaitlistStatus::Canceled);
            tx.commit().await.unwrap();
        }
        assert_eq!(w.audit_count("event.cancel", event).await, 1);
        w.assert_seat_invariant(event).await;
        // nothing more to book
        w.clock.set(t0());
        assert_eq!(w.book(9, event, 1).await.unwrap_err().code(), "NOT_FOUND");
    }
);

on_both_backends!(promo_codes_and_loyalty_points_in_the_price, |t| {
    let w = World::new(&t);
    let event = w.event(10).await;
    let promo = {
        let tx = w.uow.begin().await.unwrap();
        let free = tx
            .promo_codes()
            .insert(
                PromoCodeText::new("FREE100").unwrap(),
                PromoTerms::new(
                    PromoDiscount::Percent(Percent::FULL),
                    t0() - Duration::days(1),
                    None,
                    Some(1),
                    Some(event),
                    true,
                )
                .unwrap(),
                uid(ORGANIZER),
                t0(),
            )
            .await
            .unwrap();
        tx.loyalty()
            .append(NewLoyaltyEntry::earned_for_review(
                uid(2),
                domain::ReviewId(1),
                100,
                t0(),
            ))
            .await
            .ok();
        tx.commit().await.unwrap();
        free
    };

    // 100% promo: nothing to pay, confirmed at once with a ticket
    let mut cmd = booking_cmd(event, 1);
    cmd.promo_code = Some("free100".into());
    let free = w.bookings.create(&as_user(1), cmd.clone()).await.unwrap();
    assert_eq!(free.total_price(), Money::ZERO);
    assert_eq!(free.price.promo_discount, m("1000"));
    assert_eq!(free.status, BookingStatus::Confirmed);
    assert!(free.ticket_code.is_some());
    assert_eq!(free.promo_code_id, Some(promo.id));
    assert_eq!(
        w.log_statuses(free.id).await,
        [
            (None, BookingStatus::PendingPayment),
            (
                Some(BookingStatus::PendingPayment),
                BookingStatus::Confirmed
            )
        ]
    );
    {
        let tx = w.uow.begin().await.unwrap();
        assert_eq!(
            tx.promo_codes()
                .find(promo.id)
                .await
                .unwrap()
                .unwrap()
                .current_uses,
            1
        );
    }
    // used up, unknown, malformed
    let err = w
        .bookings
        .create(&as_user(3), cmd.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PROMO_CODE_INVALID");
    cmd.promo_code = Some("NOPE123".into());
    assert_eq!(
        w.bookings
            .create(&as_user(3), cmd.clone())
            .await
            .unwrap_err()
            .code(),
        "PROMO_CODE_INVALID"
    );
    cmd.promo_code = Some("<bad>".into());
    assert_eq!(
        w.bookings
            .create(&as_user(3), cmd)
            .await
            .unwrap_err()
            .code(),
        "VALIDATION_FAILED"
    );

    // loyalty: 100 points at 1.00 each, capped at 20% of 1000 → all 100 used
    let mut cmd = booking_cmd(event, 1);
    cmd.use_loyalty_points = Some(101);
    assert_eq!(
        w.bookings
            .create(&as_user(2), cmd.clone())
            .await
            .unwrap_err()
            .code(),
        "INSUFFICIENT_POINTS"
    );
    cmd.use_loyalty_points = Some(100);
    let with_points = w.bookings.create(&as_user(2), cmd).await.unwrap();
    assert_eq!(with_points.price.loyalty_points_used, 100);
    assert_eq!(with_points.total_price(), m("900"));
    assert_eq!(w.points(2).await, 0);
    // canceling the unpaid booking gives the points back
    w.bookings
        .cancel(&as_user(2), with_points.id, None)
        .await
        .unwrap();
    assert_eq!(w.points(2).await, 100);
    w.assert_seat_invariant(event).await;
});

on_both_backends!(refunds_by_admin_and_by_the_owner, |t| {
    let w = World::new(&t);
    let event = w.event(10).await;
    let booking = w.confirmed(1, event, 2).await;
    let payment = w
        .bookings
        .get(&as_user(1), booking.id)
        .await
        .unwrap()
        .payments[0]
        .clone();

    // admin: partial refund, booking untouched
    let view = w
        .payments
        .refund(
            &as_admin(),
            payment.id,
            RefundCommand {
                amount: Some(m("300")),
                reason: "goodwill".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(view.payment.status, PaymentStatus::PartialRefund);
    assert_eq!(view.payment.refund_amount, m("300"));
    assert_eq!(view.booking.status, BookingStatus::Confirmed);
    let err = w
        .payments
        .refund(
            &as_admin(),
            payment.id,
            RefundCommand {
                amount: Some(m("1700.01")),
                reason: "too much".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "REFUND_EXCEEDS_PAID");
    // the rest: everything is refunded, so the booking is canceled and its seats freed
    let view = w
        .payments
        .refund(
            &as_admin(),
            payment.id,
            RefundCommand {
                amount: None,
                reason: "event moved".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(view.payment.status, PaymentStatus::Refunded);
    assert_eq!(view.payment.refund_amount, m("2000"));
    assert_eq!(view.booking.status, BookingStatus::Canceled);
    w.send_refunds().await;
    assert_eq!(w.gateway.refunded_total(), m("2000"));
    assert_eq!(w.available(event).await, 10);
    w.assert_seat_invariant(event).await;

    // owner: only through the policy (80% at 3 days before)
    let mine = w.confirmed(2, event, 1).await;
    let pay = w.bookings.get(&as_user(2), mine.id).await.unwrap().payments[0].clone();
    w.clock.set(t0() + Duration::days(27));
    let err = w
        .payments
        .refund(
            &as_user(2),
            pay.id,
            RefundCommand {
                amount: Some(m("800.01")),
                reason: "ill".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "REFUND_EXCEEDS_POLICY");
    assert_eq!(
        w.booking(mine.id).await.status,
        BookingStatus::Confirmed,
        "rolled back"
    );
    let view = w
        .payments
        .refund(
            &as_user(2),
            pay.id,
            RefundCommand {
                amount: None,
                reason: "ill".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(view.payment.status, PaymentStatus::PartialRefund);
    assert_eq!(view.payment.refund_amount, m("800"));
    assert_eq!(view.booking.status, BookingStatus::Canceled);
    assert_eq!(w.available(event).await, 10);
    w.assert_seat_invariant(event).await;
});

on_both_backends!(a_waitlist_offer_is_booked_on_the_held_seats, |t| {
    let w = World::new(&t);
    let event = w.event(2).await;
    let first = w.book(1, event, 2).await.unwrap();
    assert_eq!(w.book(2, event, 1).await.unwrap_err().code(), "SOLD_OUT");
    {
        let tx = w.uow.begin().await.unwrap();
        tx.waitlist()
            .join(event, uid(2), Quantity::new(1, 10).unwrap(), t0())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    w.bookings
        .cancel(&as_user(1), first.id, None)
        .await
        .unwrap();
    // the cancellation offered one freed seat to the head of the queue and holds it
    {
        let tx = w.uow.begin().await.unwrap();
        let entry = tx
            .waitlist()
            .find_open(event, uid(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.status, WaitlistStatus::Notified);
        assert_eq!(entry.held_seats, 1);
        assert_eq!(entry.hold_expires_at, Some(t0() + Duration::minutes(30)));
        tx.commit().await.unwrap();
    }
    assert_eq!(w.available(event).await, 1);
    w.assert_seat_invariant(event).await;

    // someone else takes the free seat; the held one is not theirs to take
    w.book(3, event, 1).await.unwrap();
    assert_eq!(w.book(4, event, 1).await.unwrap_err().code(), "SOLD_OUT");
    // the waitlisted user books on the held seat
    let b = w.book(2, event, 1).await.unwrap();
    assert!(b.waitlist_entry_id.is_some());
    assert_eq!(w.available(event).await, 0);
    {
        let tx = w.uow.begin().await.unwrap();
        let entry = tx
            .waitlist()
            .find(b.waitlist_entry_id.unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.status, WaitlistStatus::Converted);
        assert_eq!(entry.held_seats, 0);
        tx.commit().await.unwrap();
    }
    assert_eq!(
        w.outbox_count(
            DomainEventType::WaitlistConverted,
            b.waitlist_entry_id.unwrap()
        )
        .await,
        1
    );
    w.assert_seat_invariant(event).await;
});
