//! Property: no sequence of booking, cancellation, expiry, waitlist and capacity moves leaves
//! the seats of an event negative, above capacity, or out of balance
//! (`available + booked + held = capacity`, PRODUCT.md §3).
//!
//! The test drives the domain objects the way the use cases do: seats are taken when a booking
//! is placed, released when one ends, and freed seats go to the head of the waitlist as holds.

#![allow(clippy::unwrap_used, clippy::panic)] // a test crate: failing loudly is the point

use chrono::{Duration, TimeZone, Utc};
use domain::booking::{Booking, NewBooking};
use domain::booking_rules::{check_can_book, payment_deadline};
use domain::event::{Event, EventDetailsInput, NewEvent, NewEventInput};
use domain::pricing::{PriceRequest, PricingRules, price};
use domain::seats::SeatLedger;
use domain::ticket::TicketCode;
use domain::waitlist::{WaitlistEntry, WaitlistStatus};
use domain::{BookingId, DomainError, Money, Quantity, Timestamp, UserId, WaitlistEntryId};
use proptest::prelude::*;

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 0).unwrap()
}

fn grace() -> Duration {
    Duration::minutes(5)
}

fn window() -> Duration {
    Duration::minutes(30)
}

#[derive(Debug, Clone)]
enum Op {
    Book(u32),
    Confirm(usize),
    Cancel(usize),
    Expire(usize),
    Complete(usize),
    JoinWaitlist(u32),
    LeaveWaitlist(usize),
    ConvertOffer(usize),
    LetOfferExpire(usize),
    Resize(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u32..=4).prop_map(Op::Book),
        2 => any::<usize>().prop_map(Op::Confirm),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => any::<usize>().prop_map(Op::Expire),
        1 => any::<usize>().prop_map(Op::Complete),
        2 => (1u32..=3).prop_map(Op::JoinWaitlist),
        1 => any::<usize>().prop_map(Op::LeaveWaitlist),
        2 => any::<usize>().prop_map(Op::ConvertOffer),
        1 => any::<usize>().prop_map(Op::LetOfferExpire),
        1 => (1u32..=30).prop_map(Op::Resize),
    ]
}

struct World {
    event: Event,
    bookings: Vec<Booking>,
    waitlist: Vec<WaitlistEntry>,
}

impl World {
    fn new(capacity: u32) -> Self {
        let input = NewEventInput {
            details: EventDetailsInput {
                name: "Kayak sprint".into(),
                ..Default::default()
            },
            start_date: now() + Duration::days(30),
            end_date: None,
            max_participants: i64::from(capacity),
            price: Money::parse("50").unwrap(),
            booking_deadline_hours: None,
            max_seats_per_user: None,
            publish_at: None,
            is_featured: false,
            refund_policy: None,
            pricing_rules: PricingRules::default(),
        };
        let mut event = Event::from_new(
            domain::EventId(1),
            NewEvent::new(UserId(uuid::Uuid::nil()), input, now()).unwrap(),
        );
        let _ = event.publish(now()).unwrap();
        Self {
            event,
            bookings: Vec::new(),
            waitlist: Vec::new(),
        }
    }

    fn ledger(&self) -> SeatLedger {
        SeatLedger {
            capacity: self.event.seats.capacity(),
            available: self.event.seats.available(),
            booked: self
                .bookings
                .iter()
                .map(|b| u64::from(b.seats_held()))
                .sum(),
            held: self.waitlist.iter().map(|w| u64::from(w.held_seats)).sum(),
        }
    }

    fn place(&mut self, quantity: u32, waitlist_entry: Option<WaitlistEntryId>) {
        let q = Quantity::new(i64::from(quantity), 10).unwrap();
        let rules = PricingRules::default();
        let breakdown = price(&PriceRequest {
            unit_price: self.event.price,
            quantity: q,
            seats_taken: self.event.seats.taken(),
            capacity: self.event.seats.capacity(),
            rules: &rules,
            promo: None,
            loyalty: None,
        });
        let id = BookingId(i64::try_from(self.bookings.len()).unwrap() + 1);
        self.bookings.push(Booking::from_new(
            id,
            NewBooking {
                event_id: self.event.id,
                user_id: UserId(uuid::Uuid::from_u128(u128::from(id.0.unsigned_abs()))),
                quantity: q,
                price_option_id: None,
                promo_code_id: None,
                waitlist_entry_id: waitlist_entry,
                price: breakdown,
                payment_deadline: payment_deadline(
                    now(),
                    Duration::minutes(30),
                    self.event.booking_cutoff(),
                ),
                created_at: now(),
            },
        ));
    }

    /// Freed seats go to waiting entries in priority order, as holds, while they fit.
    fn advance_waitlist(&mut self) {
        for entry in self
            .waitlist
            .iter_mut()
            .filter(|w| w.status == WaitlistStatus::Waiting)
        {
            let wanted = entry.quantity.get();
            if self.event.seats.available() < wanted {
                break;
            }
            self.event.seats.take(wanted).unwrap();
            let _ = entry.notify(now(), window()).unwrap();
        }
    }

    fn release(&mut self, seats: u32) {
        self.event.seats.release(seats).unwrap();
        self.advance_waitlist();
    }

    fn apply(&mut self, op: &Op) {
        let late = now() + Duration::days(1);
        match *op {
            Op::Book(q) => {
                let quantity = Quantity::new(i64::from(q), 10).unwrap();
                match check_can_book(&self.event, quantity, None, now())
                    .and_then(|()| self.event.seats.take(q))
                {
                    Ok(()) => self.place(q, None),
                    Err(DomainError::SoldOut { .. }) => {}
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            Op::Confirm(i) => {
                if let Some(b) = pick(&mut self.bookings, i) {
                    let _ = b.confirm(
                        TicketCode::new("AQ-PROP-TEST-0001").unwrap(),
                        now(),
                        grace(),
                    );
                }
            }
            Op::Cancel(i) => {
                if let Some(r) =
                    pick(&mut self.bookings, i).and_then(|b| b.cancel(None, now()).ok())
                {
                    self.release(r.seats_freed);
                }
            }
            Op::Expire(i) => {
                if let Some(r) =
                    pick(&mut self.bookings, i).and_then(|b| b.expire(late, grace()).ok())
                {
                    self.release(r.seats_freed);
                }
            }
            Op::Complete(i) => {
                if let Some(b) = pick(&mut self.bookings, i) {
                    let _ = b.complete(now());
                }
            }
            Op::JoinWaitlist(q) => {
                let id = WaitlistEntryId(i64::try_from(self.waitlist.len()).unwrap() + 1);
                self.waitlist.push(WaitlistEntry {
                    id,
                    event_id: self.event.id,
                    user_id: UserId(uuid::Uuid::from_u128(
                        1_000 + u128::from(id.0.unsigned_abs()),
                    )),
                    priority: id.0,
                    quantity: Quantity::new(i64::from(q), 10).unwrap(),
                    status: WaitlistStatus::Waiting,
                    held_seats: 0,
                    notified_at: None,
                    hold_expires_at: None,
                    created_at: now(),
                    updated_at: now(),
                });
                self.advance_waitlist();
            }
            Op::LeaveWaitlist(i) => {
                if let Some(end) = pick(&mut self.waitlist, i).and_then(|w| w.leave(now()).ok()) {
                    self.release(end.seats);
                }
            }
            Op::ConvertOffer(i) => {
                if let Some((id, end)) = pick(&mut self.waitlist, i)
                    .and_then(|w| w.convert(now()).ok().map(|e| (w.id, e)))
                {
                    // The held seats become the booking's: no new take.
                    self.place(end.seats, Some(id));
                }
            }
            Op::LetOfferExpire(i) => {
                if let Some(end) = pick(&mut self.waitlist, i).and_then(|w| w.expire(late).ok()) {
                    self.release(end.seats);
                }
            }
            Op::Resize(n) => {
                if let Ok(change) = self.event.change_capacity(i64::from(n), now())
                    && change.freed > 0
                {
                    self.advance_waitlist();
                }
            }
        }
    }
}

fn pick<T>(items: &mut [T], i: usize) -> Option<&mut T> {
    if items.is_empty() {
        return None;
    }
    let n = items.len();
    items.get_mut(i % n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_sequence_of_moves_unbalances_the_seats(capacity in 1u32..=12, ops in prop::collection::vec(op(), 1..80)) {
        let mut world = World::new(capacity);
        for op in &ops {
            world.apply(op);
            let ledger = world.ledger();
            prop_assert!(ledger.available <= ledger.capacity, "after {op:?}: {ledger:?}");
            prop_assert!(ledger.balances(), "after {op:?}: {ledger:?}");
        }
    }
}

#[test]
fn a_sold_out_event_refuses_one_more_seat_and_the_waitlist_gets_the_freed_one() {
    let mut world = World::new(2);
    world.apply(&Op::Book(2));
    world.apply(&Op::Book(1));
    assert_eq!(world.bookings.len(), 1, "the second booking is sold out");
    world.apply(&Op::JoinWaitlist(1));
    assert_eq!(world.waitlist[0].status, WaitlistStatus::Waiting);
    world.apply(&Op::Cancel(0));
    assert_eq!(world.waitlist[0].status, WaitlistStatus::Notified);
    assert_eq!(
        world.ledger(),
        SeatLedger {
            capacity: 2,
            available: 1,
            booked: 0,
            held: 1
        }
    );
    world.apply(&Op::ConvertOffer(0));
    assert_eq!(
        world.ledger(),
        SeatLedger {
            capacity: 2,
            available: 1,
            booked: 1,
            held: 0
        }
    );
}
