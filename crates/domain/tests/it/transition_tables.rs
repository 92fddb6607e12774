//! Every state machine, every status × every action: the legal moves succeed and land in the
//! documented status, every other combination is refused with `INVALID_TRANSITION` (or a
//! time-rule error for time-guarded moves) and leaves the entity unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test crate: failing loudly is the point

use chrono::{Duration, TimeZone, Utc};
use domain::booking::{Booking, BookingStatus, NewBooking};
use domain::event::{Event, EventDetailsInput, EventStatus, NewEvent, NewEventInput};
use domain::payment::{NewPayment, Payment, PaymentStatus};
use domain::pricing::{PriceRequest, PricingRules, price};
use domain::review::{NewReview, Review, ReviewStatus};
use domain::ticket::TicketCode;
use domain::waitlist::{WaitlistEntry, WaitlistStatus};
use domain::{
    BookingId, EventId, Money, PaymentId, Quantity, ReviewId, Timestamp, UserId, WaitlistEntryId,
};

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 0).unwrap()
}

fn user() -> UserId {
    UserId(uuid::Uuid::from_u128(1))
}

/// A named action and the `(from, to)` moves where it is legal.
type Action<'a, E, S> = (
    &'a str,
    &'a dyn Fn(&mut E) -> Result<(), domain::DomainError>,
    &'a [(S, S)],
);

/// Runs `action` on a copy of `entity` in every status and compares with `legal`.
fn check_table<E: Clone + PartialEq + std::fmt::Debug, S: Copy + PartialEq + std::fmt::Debug>(
    machine: &str,
    statuses: &[S],
    make: impl Fn(S) -> E,
    status_of: impl Fn(&E) -> S,
    actions: &[Action<'_, E, S>],
) {
    for (name, action, legal) in actions {
        for &from in statuses {
            let mut entity = make(from);
            let before = entity.clone();
            let result = action(&mut entity);
            match legal.iter().find(|(f, _)| *f == from) {
                Some(&(_, to)) => {
                    assert!(
                        result.is_ok(),
                        "{machine}: {name} from {from:?} should succeed: {result:?}"
                    );
                    assert_eq!(status_of(&entity), to, "{machine}: {name} from {from:?}");
                }
                None => {
                    let err = result.expect_err(&format!(
                        "{machine}: {name} from {from:?} should be refused"
                    ));
                    assert_eq!(
                        err.code(),
                        "INVALID_TRANSITION",
                        "{machine}: {name} from {from:?}"
                    );
                    assert_eq!(
                        entity, before,
                        "{machine}: a refused {name} from {from:?} changed the entity"
                    );
                }
            }
        }
    }
}

fn event(status: EventStatus) -> Event {
    let input = NewEventInput {
        details: EventDetailsInput {
            name: "Canyoning".into(),
            ..Default::default()
        },
        start_date: now() + Duration::days(20),
        end_date: None,
        max_participants: 8,
        price: Money::parse("100").unwrap(),
        booking_deadline_hours: None,
        max_seats_per_user: None,
        publish_at: None,
        is_featured: false,
        refund_policy: None,
        pricing_rules: PricingRules::default(),
    };
    let mut e = Event::from_new(EventId(1), NewEvent::new(user(), input, now()).unwrap());
    e.status = status;
    e
}

#[test]
fn event_state_machine() {
    use EventStatus::{Canceled, Completed, Draft, Published};
    let after_end = now() + Duration::days(21);
    check_table(
        "event",
        EventStatus::ALL,
        event,
        |e| e.status,
        &[
            (
                "publish",
                &|e| e.publish(now()).map(drop),
                &[(Draft, Published)],
            ),
            (
                "complete",
                &|e| e.complete(after_end).map(drop),
                &[(Published, Completed)],
            ),
            (
                "cancel",
                &|e| e.cancel("flood", now()).map(drop),
                &[(Draft, Canceled), (Published, Canceled)],
            ),
            (
                "edit",
                &|e| e.update_details(e.details.clone(), now()),
                &[(Draft, Draft), (Published, Published)],
            ),
            (
                "resize",
                &|e| e.change_capacity(9, now()).map(drop),
                &[(Draft, Draft), (Published, Published)],
            ),
            (
                "schedule publication",
                &|e| e.schedule_publication(now() + Duration::days(1), now()),
                &[(Draft, Draft)],
            ),
        ],
    );
}

fn booking(status: BookingStatus) -> Booking {
    let rules = PricingRules::default();
    let quantity = Quantity::new(2, 10).unwrap();
    let breakdown = price(&PriceRequest {
        unit_price: Money::parse("100").unwrap(),
        quantity,
        seats_taken: 0,
        capacity: 8,
        rules: &rules,
        promo: None,
        loyalty: None,
    });
    let mut b = Booking::from_new(
        BookingId(1),
        NewBooking {
            event_id: EventId(1),
            user_id: user(),
            quantity,
            price_option_id: None,
            promo_code_id: None,
            waitlist_entry_id: None,
            price: breakdown,
            payment_deadline: now() + Duration::minutes(30),
            created_at: now(),
        },
    );
    b.status = status;
    b
}

#[test]
fn booking_state_machine() {
    use BookingStatus::{Canceled, Completed, Confirmed, Expired, PendingPayment};
    let grace = Duration::minutes(5);
    let past_grace = now() + Duration::minutes(36);
    check_table(
        "booking",
        BookingStatus::ALL,
        booking,
        |b| b.status,
        &[
            (
                "confirm",
                &|b| {
                    b.confirm(TicketCode::new("AQ-TABLE-TEST-0001").unwrap(), now(), grace)
                        .map(drop)
                },
                &[(PendingPayment, Confirmed)],
            ),
            (
                "complete",
                &|b| b.complete(now()).map(drop),
                &[(Confirmed, Completed)],
            ),
            (
                "cancel",
                &|b| b.cancel(None, now()).map(drop),
                &[(PendingPayment, Canceled), (Confirmed, Canceled)],
            ),
            (
                "expire",
                &|b| b.expire(past_grace, grace).map(drop),
                &[(PendingPayment, Expired)],
            ),
        ],
    );
}

fn payment(status: PaymentStatus) -> Payment {
    let mut p = Payment::from_new(
        PaymentId(1),
        NewPayment {
            booking_id: BookingId(1),
            amount: Money::parse("200").unwrap(),
            payment_method: "CARD".into(),
            gateway: "sandbox".into(),
            gateway_key: None,
            created_at: now(),
        },
    );
    p.status = status;
    if status == PaymentStatus::PartialRefund {
        p.refund_amount = Money::parse("50").unwrap();
    }
    if status == PaymentStatus::Refunded {
        p.refund_amount = p.amount;
    }
    p
}

#[test]
fn payment_state_machine() {
    use PaymentStatus::{Completed, Failed, Initiated, PartialRefund, Refunded};
    check_table(
        "payment",
        PaymentStatus::ALL,
        payment,
        |p| p.status,
        &[
            (
                "complete",
                &|p| p.complete(now()).map(drop),
                &[(Initiated, Completed)],
            ),
            (
                "fail",
                &|p| p.fail("declined", now()).map(drop),
                &[(Initiated, Failed)],
            ),
            (
                "refund part",
                &|p| p.refund(Money::parse("10").unwrap(), now()).map(drop),
                &[(Completed, PartialRefund), (PartialRefund, PartialRefund)],
            ),
            (
                "refund the rest",
                &|p| p.refund(p.refundable(), now()).map(drop),
                &[(Completed, Refunded), (PartialRefund, Refunded)],
            ),
        ],
    );
}

fn entry(status: WaitlistStatus) -> WaitlistEntry {
    let notified = status == WaitlistStatus::Notified;
    WaitlistEntry {
        id: WaitlistEntryId(1),
        event_id: EventId(1),
        user_id: user(),
        priority: 1,
        quantity: Quantity::ONE,
        status,
        held_seats: u32::from(notified),
        notified_at: notified.then(now),
        hold_expires_at: notified.then(|| now() + Duration::minutes(30)),
        created_at: now(),
        updated_at: now(),
    }
}

#[test]
fn waitlist_state_machine() {
    use WaitlistStatus::{Canceled, Converted, Expired, Left, Notified, Waiting};
    let after_window = now() + Duration::minutes(31);
    check_table(
        "waitlist",
        WaitlistStatus::ALL,
        entry,
        |w| w.status,
        &[
            (
                "notify",
                &|w| w.notify(now(), Duration::minutes(30)).map(drop),
                &[(Waiting, Notified)],
            ),
            (
                "convert",
                &|w| w.convert(now()).map(drop),
                &[(Notified, Converted)],
            ),
            (
                "expire",
                &|w| w.expire(after_window).map(drop),
                &[(Notified, Expired)],
            ),
            (
                "leave",
                &|w| w.leave(now()).map(drop),
                &[(Waiting, Left), (Notified, Left)],
            ),
            (
                "cancel",
                &|w| w.cancel(now()).map(drop),
                &[(Waiting, Canceled), (Notified, Canceled)],
            ),
        ],
    );
}

fn review(status: ReviewStatus) -> Review {
    let mut r = Review::from_new(
        ReviewId(1),
        NewReview::new(EventId(1), user(), 4, Some("Lovely"), now()).unwrap(),
    );
    r.status = status;
    r
}

#[test]
fn review_state_machine() {
    use ReviewStatus::{Active, Pending, Rejected};
    check_table(
        "review",
        ReviewStatus::ALL,
        review,
        |r| r.status,
        &[
            (
                "approve",
                &|r| r.approve(now()).map(drop),
                &[(Pending, Active), (Rejected, Active)],
            ),
            (
                "reject",
                &|r| r.reject(Some("off-topic"), now()).map(drop),
                &[(Pending, Rejected), (Active, Rejected)],
            ),
            (
                "edit",
                &|r| r.edit(3, Some("ok"), now()).map(drop),
                &[(Pending, Pending), (Active, Pending), (Rejected, Pending)],
            ),
        ],
    );
}
