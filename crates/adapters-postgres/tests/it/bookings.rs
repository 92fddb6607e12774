//! BookingRepository on PostgreSQL and SQLite, plus the flash-sale concurrency test on
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::rows;
use test_db::on_both_backends;

use std::time::{Duration, Instant};

use crate::booking_fixtures::*;
use adapters_postgres::connection::connect;
use adapters_postgres::entities::{
    booking_logs, booking_reminders, bookings, bookings_archive, payment_refunds,
    payment_refunds_archive, payments, payments_archive,
};
use adapters_postgres::{SeaTx, SeaUnitOfWork};
use domain::booking::{Booking, BookingStatus, NewBooking};
use domain::payment::NewPayment;
use domain::ticket::TicketCode;
use domain::{BookingId, EventId, Money, UserId};
use ports::PageRequest;
use ports::{
    BookingLog, BookingQuery, BookingRepository, NewRefund, PaymentRepository, PlacementRejection,
    ReminderKind,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

/// Places one booking; a refusal comes back as the message of the conflict it is.
async fn place1(tx: &SeaTx, new: NewBooking) -> Result<Booking, String> {
    tx.place(new.event_id, vec![new])
        .await
        .map(|mut placed| {
            assert_eq!(placed.len(), 1);
            placed.pop().unwrap()
        })
        .map_err(|e| refusal_text(&e))
}

/// A placement refusal as the conflict the repository answers (code and message).
fn refusal_text(e: &ports::AppError) -> String {
    format!("{}: {e}", e.code())
}

fn refused(r: PlacementRejection) -> String {
    refusal_text(&ports::AppError::from(r))
}

async fn booking_count(db: &DatabaseConnection, event: EventId) -> u64 {
    bookings::Entity::find()
        .filter(bookings::Column::EventId.eq(event.0))
        .count(db)
        .await
        .unwrap()
}

fn ticket(b: &Booking) -> TicketCode {
    TicketCode::new(format!("TICKET-{:08}", b.id.0)).unwrap()
}

/// Moves a placed booking to `status` through the domain and stores it.
async fn move_to(
    tx: &SeaTx,
    mut b: Booking,
    status: BookingStatus,
    now: domain::Timestamp,
) -> Booking {
    let grace = chrono::Duration::zero();
    match status {
        BookingStatus::PendingPayment => {}
        BookingStatus::Confirmed => {
            let _ = b.confirm(ticket(&b), t0(), grace).unwrap();
            b.updated_at = now;
        }
        BookingStatus::Completed => {
            let _ = b.confirm(ticket(&b), t0(), grace).unwrap();
            let _ = b.complete(now).unwrap();
        }
        BookingStatus::Canceled => {
            let _ = b.cancel(Some("changed plans"), now).unwrap();
        }
        BookingStatus::Expired => {
            let _ = b
                .expire(b.payment_deadline + chrono::Duration::seconds(1), grace)
                .unwrap();
            b.updated_at = now;
        }
    }
    BookingRepository::update(tx, &b).await.unwrap()
}

/// A stored booking row as the tests insert it directly (bypassing the repository).
fn raw_booking(event: EventId, who: UserId, status: &str) -> bookings::ActiveModel {
    rows::booking(event, who, status, 1_000, t0(), at(1))
}

on_both_backends!(place_stores_a_pending_booking_and_takes_its_seats, |t| {
    let event = event(&t.db, 10).await;
    let before = event_row(&t.db, event).await;
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let mut new = new_booking(event, user(1), 3);
    new.price.loyalty_points_used = 40;
    new.price.loyalty_discount = Money::from_minor_units(400);
    new.price.total = Money::from_minor_units(2_600);
    let booking = place1(&tx, new.clone()).await.unwrap();
    assert_eq!(booking, Booking::from_new(booking.id, new));
    assert_eq!(booking.status, BookingStatus::PendingPayment);
    assert_eq!(booking.version, 0);
    tx.commit_tx().await.unwrap();

    let after = event_row(&t.db, event).await;
    assert_eq!(after.available_seats, 7);
    assert_eq!(after.version, before.version + 1);

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(
        BookingRepository::find(&tx, booking.id).await.unwrap(),
        Some(booking.clone())
    );
    assert_eq!(
        tx.find_for_update(booking.id).await.unwrap(),
        Some(booking.clone())
    );
    assert_eq!(
        tx.find_active(event, user(1)).await.unwrap(),
        Some(booking.clone())
    );
    assert_eq!(
        tx.find_latest(event, user(1)).await.unwrap(),
        Some(booking.clone())
    );
    assert_eq!(tx.find_active(event, user(2)).await.unwrap(), None);
    assert_eq!(tx.find_latest(event, user(2)).await.unwrap(), None);
    assert_eq!(
        BookingRepository::find(&tx, BookingId(9_999))
            .await
            .unwrap(),
        None
    );
    assert_eq!(tx.find_for_update(BookingId(9_999)).await.unwrap(), None);
});

on_both_backends!(sold_out_leaves_seats_and_bookings_untouched, |t| {
    let event = event(&t.db, 2).await;
    let draft = event_with(&t.db, 5, "DRAFT", user(999), at(240)).await;
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(
        place1(&tx, new_booking(event, user(1), 3))
            .await
            .unwrap_err(),
        refused(PlacementRejection::SoldOut { available: 2 })
    );
    assert_eq!(
        place1(&tx, new_booking(draft, user(1), 1))
            .await
            .unwrap_err(),
        refused(PlacementRejection::SoldOut { available: 0 }),
        "an event that is not on sale offers no seats"
    );
    assert_eq!(
        place1(&tx, new_booking(EventId(9_999), user(1), 1))
            .await
            .unwrap_err(),
        refused(PlacementRejection::SoldOut { available: 0 })
    );
    // the seat update is conditional: a refusal fails no statement, the transaction goes on
    place1(&tx, new_booking(event, user(1), 2)).await.unwrap();
    assert_eq!(
        place1(&tx, new_booking(event, user(2), 1))
            .await
            .unwrap_err(),
        refused(PlacementRejection::SoldOut { available: 0 })
    );
    tx.commit_tx().await.unwrap();
    assert_eq!(seats(&t.db, event).await, 0);
    assert_eq!(seats(&t.db, draft).await, 5);
    assert_eq!(booking_count(&t.db, event).await, 1);
});

on_both_backends!(a_batch_is_placed_whole_with_one_seat_update, |t| {
    let event = event(&t.db, 10).await;
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let batch = vec![
        new_booking(event, user(1), 2),
        new_booking(event, user(2), 3),
        new_booking(event, user(3), 1),
    ];
    let placed = tx.place(event, batch).await.unwrap();
    // the stored rows come back in the input's order
    assert_eq!(
        placed
            .iter()
            .map(|b| (b.user_id, b.quantity.get()))
            .collect::<Vec<_>>(),
        [(user(1), 2), (user(2), 3), (user(3), 1)]
    );
    assert!(placed.iter().all(|b| b.id.0 > 0));
    tx.commit_tx().await.unwrap();
    assert_eq!(seats(&t.db, event).await, 4);
    // one conditional update for the whole batch
    assert_eq!(event_row(&t.db, event).await.version, 1);
    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(tx.seats_held(event).await.unwrap(), 6);
    // user 1 twice in the input: one row per user holding anything, user 4 holds nothing
    let mut held: Vec<(UserId, u64, u64)> = tx
        .seat_holdings(event, &[user(1), user(3), user(4), user(1)])
        .await
        .unwrap()
        .into_iter()
        .map(|h| (h.user, h.unpaid_seats, h.event_seats))
        .collect();
    held.sort_by_key(|h| h.0.0);
    let mut expected = vec![(user(1), 2, 2), (user(3), 1, 1)];
    expected.sort_by_key(|h| h.0.0);
    assert_eq!(held, expected);
    assert!(tx.seat_holdings(event, &[]).await.unwrap().is_empty());
    assert!(tx.place(event, Vec::new()).await.unwrap().is_empty());
});

on_both_backends!(a_batch_the_database_refuses_writes_nothing, |t| {
    let event = event(&t.db, 10).await;
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    place1(&tx, new_booking(event, user(2), 1)).await.unwrap();
    tx.commit_tx().await.unwrap();

    // user 2 already holds a booking: the unique index refuses the whole batch
    let tx = uow.begin_tx().await.unwrap();
    let batch = vec![
        new_booking(event, user(1), 2),
        new_booking(event, user(2), 3),
        new_booking(event, user(3), 1),
    ];
    let err = tx.place(event, batch).await.unwrap_err();
    assert_eq!(
        refusal_text(&err),
        refused(PlacementRejection::AlreadyBooked)
    );
    tx.rollback_tx().await.unwrap();
    // more seats than there are: refused before anything is inserted
    let tx = uow.begin_tx().await.unwrap();
    let err = tx
        .place(
            event,
            vec![
                new_booking(event, user(4), 5),
                new_booking(event, user(5), 5),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(
        refusal_text(&err),
        refused(PlacementRejection::SoldOut { available: 9 })
    );
    tx.rollback_tx().await.unwrap();

    assert_eq!(seats(&t.db, event).await, 9);
    assert_eq!(booking_count(&t.db, event).await, 1);

    // a batch must be for the event it names
    let tx = uow.begin_tx().await.unwrap();
    let err = tx
        .place(EventId(9_999), vec![new_booking(event, user(4), 1)])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INTERNAL_ERROR");
});

on_both_backends!(price_option_stock_is_enforced, |t| {
    let other = event(&t.db, 20).await;
    let event = event(&t.db, 20).await;
    let limited = price_option(&t.db, event, Some(3), true).await;
    let unlimited = price_option(&t.db, event, None, true).await;
    let inactive = price_option(&t.db, event, Some(10), false).await;
    let foreign = price_option(&t.db, other, Some(10), true).await;
    let with = |who, quantity, option| {
        let mut b = new_booking(event, user(who), quantity);
        b.price_option_id = Some(option);
        b
    };
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let placed = tx
        .place(
            event,
            vec![
                with(1, 2, limited),
                with(3, 5, unlimited),
                with(6, 1, limited),
            ],
        )
        .await
        .unwrap();
    assert_eq!(placed[0].price_option_id, Some(limited));
    tx.commit_tx().await.unwrap();
    for (booking, refusal) in [
        (
            with(2, 1, limited),
            PlacementRejection::PriceOptionSoldOut { available: 0 },
        ),
        (
            with(4, 1, inactive),
            PlacementRejection::PriceOptionSoldOut { available: 0 },
        ),
        // a price option of another event is refused
        (
            with(5, 1, foreign),
            PlacementRejection::PriceOptionSoldOut { available: 0 },
        ),
    ] {
        let tx = uow.begin_tx().await.unwrap();
        assert_eq!(place1(&tx, booking).await.unwrap_err(), refused(refusal));
        tx.rollback_tx().await.unwrap();
    }

    assert_eq!(price_option_stock(&t.db, limited).await, Some(0));
    assert_eq!(price_option_stock(&t.db, unlimited).await, None);
    assert_eq!(price_option_stock(&t.db, inactive).await, Some(10));
    assert_eq!(price_option_stock(&t.db, foreign).await, Some(10));
    // only the placed bookings took seats: 2 + 5 + 1
    assert_eq!(seats(&t.db, event).await, 12);
    assert_eq!(booking_count(&t.db, event).await, 3);
});

on_both_backends!(promo_code_max_uses_is_enforced, |t| {
    let event = event(&t.db, 20).await;
    let once = promo(&t.db, "ONCE", Some(1)).await;
    let twice = promo(&t.db, "TWICE", Some(2)).await;
    let open = promo(&t.db, "OPEN", None).await;
    let with = |who, code| {
        let mut b = new_booking(event, user(who), 1);
        b.promo_code_id = Some(code);
        b
    };
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let placed = tx
        .place(
            event,
            vec![with(1, once), with(3, open), with(4, open), with(5, twice)],
        )
        .await
        .unwrap();
    assert_eq!(placed[0].promo_code_id, Some(once));
    tx.commit_tx().await.unwrap();
    // uses are counted per batch: two more of TWICE exceed it although one is left
    for batch in [vec![with(2, once)], vec![with(6, twice), with(7, twice)]] {
        let tx = uow.begin_tx().await.unwrap();
        let err = tx.place(event, batch).await.unwrap_err();
        assert_eq!(
            refusal_text(&err),
            refused(PlacementRejection::PromoCodeExhausted)
        );
        tx.rollback_tx().await.unwrap();
    }
    assert_eq!(promo_uses(&t.db, once).await, 1);
    assert_eq!(promo_uses(&t.db, twice).await, 1);
    assert_eq!(promo_uses(&t.db, open).await, 2);
    assert_eq!(seats(&t.db, event).await, 16);
});

on_both_backends!(a_waitlist_held_booking_does_not_take_seats, |t| {
    // every seat is taken: the held one was set aside for the waitlist entry
    let event = event(&t.db, 0).await;
    let converted = waitlist_entry(&t.db, event, user(1), "CONVERTED").await;
    let notified = waitlist_entry(&t.db, event, user(2), "NOTIFIED").await;
    let with = |who, entry| {
        let mut b = new_booking(event, user(who), 1);
        b.waitlist_entry_id = Some(entry);
        b
    };
    let uow = SeaUnitOfWork::new(t.db.clone());
    for booking in [
        with(3, converted), // someone else's entry
        with(2, notified),  // not converted (the hold expired or was never used)
    ] {
        let tx = uow.begin_tx().await.unwrap();
        assert_eq!(
            place1(&tx, booking).await.unwrap_err(),
            refused(PlacementRejection::WaitlistHoldGone)
        );
        tx.rollback_tx().await.unwrap();
    }
    let tx = uow.begin_tx().await.unwrap();
    let held = place1(&tx, with(1, converted)).await.unwrap();
    assert_eq!(held.waitlist_entry_id, Some(converted));
    tx.commit_tx().await.unwrap();
    assert_eq!(seats(&t.db, event).await, 0);
    assert_eq!(event_row(&t.db, event).await.version, 0);
    assert_eq!(booking_count(&t.db, event).await, 1);
});

on_both_backends!(
    the_database_allows_one_active_booking_per_user_and_event,
    |t| {
        let event = event(&t.db, 10).await;
        raw_booking(event, user(1), "PENDING_PAYMENT")
            .insert(&t.db)
            .await
            .unwrap();
        let err = raw_booking(event, user(1), "PENDING_PAYMENT")
            .insert(&t.db)
            .await
            .unwrap_err();
        rows::assert_unique_violation(&err);
        let mut confirmed = raw_booking(event, user(1), "CONFIRMED");
        confirmed.ticket_code = Set(Some("TICKET-CONFIRMED".to_owned()));
        assert!(
            confirmed.insert(&t.db).await.is_err(),
            "CONFIRMED is active too"
        );

        // finished bookings do not count: canceled ones and a new active one live side by side
        raw_booking(event, user(2), "CANCELED")
            .insert(&t.db)
            .await
            .unwrap();
        raw_booking(event, user(2), "CANCELED")
            .insert(&t.db)
            .await
            .unwrap();
        raw_booking(event, user(2), "EXPIRED")
            .insert(&t.db)
            .await
            .unwrap();
        raw_booking(event, user(2), "PENDING_PAYMENT")
            .insert(&t.db)
            .await
            .unwrap();
        assert_eq!(booking_count(&t.db, event).await, 5);
    }
);

on_both_backends!(update_is_optimistic_and_bumps_the_version, |t| {
    let event = event(&t.db, 10).await;
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let placed = place1(&tx, new_booking(event, user(1), 2)).await.unwrap();

    let mut confirmed = placed.clone();
    let _ = confirmed
        .confirm(ticket(&placed), at(0), chrono::Duration::zero())
        .unwrap();
    let stored = BookingRepository::update(&tx, &confirmed).await.unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(
        BookingRepository::find(&tx, placed.id).await.unwrap(),
        Some(stored.clone())
    );

    // the placed copy is stale now
    let mut stale = placed.clone();
    let _ = stale.cancel(None, at(0)).unwrap();
    let err = BookingRepository::update(&tx, &stale).await.unwrap_err();
    assert_eq!(err.code(), "VERSION_CONFLICT");
    let found = BookingRepository::find(&tx, placed.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, BookingStatus::Confirmed);
    assert_eq!(found.ticket_code, Some(ticket(&placed)));

    let mut canceled = stored.clone();
    let _ = canceled.cancel(Some("weather"), at(1)).unwrap();
    let canceled = BookingRepository::update(&tx, &canceled).await.unwrap();
    assert_eq!(canceled.version, 2);
    let found = BookingRepository::find(&tx, placed.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, canceled);
    assert_eq!(found.canceled_reason.as_deref(), Some("weather"));
    assert_eq!(found.updated_at, at(1));

    let mut ghost = canceled.clone();
    ghost.id = BookingId(9_999);
    let err = BookingRepository::update(&tx, &ghost).await.unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
});

on_both_backends!(search_filters_orders_and_pages, |t| {
    let alice_event = event_with(&t.db, 50, "PUBLISHED", user(100), at(240)).await;
    let bob_event = event_with(&t.db, 50, "PUBLISHED", user(200), at(240)).await;
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    // five bookings, created an hour apart: ids and created_at both ascend
    let mut all = Vec::new();
    for (i, (event, who)) in [
        (alice_event, 1),
        (alice_event, 2),
        (bob_event, 1),
        (bob_event, 3),
        (alice_event, 3),
    ]
    .into_iter()
    .enumerate()
    {
        let mut new = new_booking(event, user(who), 1);
        new.created_at = at(i64::try_from(i).unwrap());
        all.push(place1(&tx, new).await.unwrap());
    }
    let canceled = move_to(&tx, all[1].clone(), BookingStatus::Canceled, at(10)).await;
    all[1] = canceled;
    let ids = |page: &ports::Page<Booking>| page.items.iter().map(|b| b.id).collect::<Vec<_>>();
    let id = |i: usize| all[i].id;

    let everything = tx.search(&BookingQuery::default()).await.unwrap();
    assert_eq!(ids(&everything), [id(4), id(3), id(2), id(1), id(0)]);
    assert_eq!(everything.total_elements, 5);

    let mine = tx
        .search(&BookingQuery {
            user_id: Some(user(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&mine), [id(2), id(0)]);

    let of_event = tx
        .search(&BookingQuery {
            event_id: Some(bob_event),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&of_event), [id(3), id(2)]);

    let organizer = tx
        .search(&BookingQuery {
            event_creator_id: Some(user(100)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&organizer), [id(4), id(1), id(0)]);
    let nobody = tx
        .search(&BookingQuery {
            event_creator_id: Some(user(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(nobody.items.is_empty() && nobody.total_elements == 0);

    let active_of_organizer = tx
        .search(&BookingQuery {
            event_creator_id: Some(user(100)),
            statuses: vec![BookingStatus::PendingPayment, BookingStatus::Confirmed],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&active_of_organizer), [id(4), id(0)]);
    let canceled_only = tx
        .search(&BookingQuery {
            statuses: vec![BookingStatus::Canceled],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&canceled_only), [id(1)]);
    assert_eq!(canceled_only.items[0], all[1]);

    let page1 = tx
        .search(&BookingQuery {
            page: PageRequest::new(Some(1), Some(2)).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&page1), [id(2), id(1)]);
    assert_eq!((page1.page, page1.size, page1.total_elements), (1, 2, 5));
    assert_eq!(page1.total_pages(), 3);
    let beyond = tx
        .search(&BookingQuery {
            page: PageRequest::new(Some(9), Some(2)).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total_elements, 5);
});

on_both_backends!(event_listings_and_seats_held_follow_the_statuses, |t| {
    let other = event(&t.db, 50).await;
    let event = event(&t.db, 50).await;
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let mut by_status = Vec::new();
    for (who, status) in [
        (1, BookingStatus::PendingPayment),
        (2, BookingStatus::Confirmed),
        (3, BookingStatus::Completed),
        (4, BookingStatus::Canceled),
        (5, BookingStatus::Expired),
        (6, BookingStatus::Confirmed),
    ] {
        let placed = place1(&tx, new_booking(event, user(who), who.try_into().unwrap()))
            .await
            .unwrap();
        by_status.push(move_to(&tx, placed, status, at(2)).await);
    }
    place1(&tx, new_booking(other, user(1), 7)).await.unwrap();

    let ids = |list: Vec<Booking>| list.into_iter().map(|b| b.id).collect::<Vec<_>>();
    assert_eq!(
        ids(tx.active_for_event(event).await.unwrap()),
        [by_status[0].id, by_status[1].id, by_status[5].id]
    );
    assert_eq!(
        ids(tx.confirmed_for_event(event).await.unwrap()),
        [by_status[1].id, by_status[5].id]
    );
    assert_eq!(tx.confirmed_for_event(other).await.unwrap(), []);
    // pending 1 + confirmed 2 + completed 3 + confirmed 6
    assert_eq!(tx.seats_held(event).await.unwrap(), 12);
    assert_eq!(tx.seats_held(other).await.unwrap(), 7);
    assert_eq!(tx.seats_held(EventId(9_999)).await.unwrap(), 0);
    assert_eq!(tx.active_for_event(EventId(9_999)).await.unwrap(), []);
});

on_both_backends!(
    claim_expired_returns_only_pending_bookings_past_their_deadline,
    |t| {
        let event = event(&t.db, 50).await;
        let uow = SeaUnitOfWork::new(t.db.clone());
        let tx = uow.begin_tx().await.unwrap();
        let with_deadline = |who, hours| {
            let mut b = new_booking(event, user(who), 1);
            b.payment_deadline = at(hours);
            b
        };
        let placed: Vec<Booking> = tx
            .place(
                event,
                vec![
                    with_deadline(1, 3),
                    with_deadline(2, 1),
                    with_deadline(3, 2),
                    with_deadline(4, 10), // not due
                    with_deadline(5, 1),  // canceled below
                    with_deadline(6, 1),  // confirmed below
                ],
            )
            .await
            .unwrap();
        move_to(&tx, placed[4].clone(), BookingStatus::Canceled, at(0)).await;
        move_to(&tx, placed[5].clone(), BookingStatus::Confirmed, at(0)).await;

        let due = tx.claim_expired(at(5), 10).await.unwrap();
        assert_eq!(
            due.iter().map(|b| b.id).collect::<Vec<_>>(),
            [placed[1].id, placed[2].id, placed[0].id],
            "earliest deadline first"
        );
        assert_eq!(due[0], placed[1]);
        let first_two = tx.claim_expired(at(5), 2).await.unwrap();
        assert_eq!(
            first_two.iter().map(|b| b.id).collect::<Vec<_>>(),
            [placed[1].id, placed[2].id]
        );
        assert_eq!(
            tx.claim_expired(at(1), 10).await.unwrap(),
            [],
            "strictly before"
        );
    }
);

on_both_backends!(
    reminders_are_claimed_until_marked_and_marked_exactly_once,
    |t| {
        let soon = event_with(&t.db, 50, "PUBLISHED", user(999), at(20)).await;
        let later = event_with(&t.db, 50, "PUBLISHED", user(999), at(30)).await;
        let uow = SeaUnitOfWork::new(t.db.clone());
        let tx = uow.begin_tx().await.unwrap();
        let a = place1(&tx, new_booking(soon, user(1), 1)).await.unwrap();
        let a = move_to(&tx, a, BookingStatus::Confirmed, at(0)).await;
        let b = place1(&tx, new_booking(soon, user(2), 1)).await.unwrap();
        let b = move_to(&tx, b, BookingStatus::Confirmed, at(0)).await;
        // a pending booking of the same event gets no reminder
        place1(&tx, new_booking(soon, user(3), 1)).await.unwrap();
        let c = place1(&tx, new_booking(later, user(1), 1)).await.unwrap();
        let c = move_to(&tx, c, BookingStatus::Confirmed, at(0)).await;

        let ids = |list: Vec<Booking>| list.into_iter().map(|b| b.id).collect::<Vec<_>>();
        let day = ReminderKind::DayBefore;
        // (from, to] = (at(19), at(20)]: only `soon`; the pending booking gets no reminder
        assert_eq!(
            ids(tx
                .claim_reminders_due(day, at(19), at(20), 10)
                .await
                .unwrap()),
            [a.id, b.id]
        );
        assert_eq!(
            ids(tx
                .claim_reminders_due(day, at(20), at(29), 10)
                .await
                .unwrap()),
            Vec::<BookingId>::new(),
            "the lower bound is exclusive"
        );
        assert_eq!(
            ids(tx
                .claim_reminders_due(day, at(0), at(30), 10)
                .await
                .unwrap()),
            [a.id, b.id, c.id]
        );
        assert_eq!(
            ids(tx.claim_reminders_due(day, at(0), at(30), 1).await.unwrap()),
            [a.id]
        );

        assert!(tx.mark_reminder_sent(a.id, day, at(1)).await.unwrap());
        assert!(
            !tx.mark_reminder_sent(a.id, day, at(2)).await.unwrap(),
            "only once"
        );
        // the transaction is still usable after the refused insert (PostgreSQL savepoint)
        assert!(
            tx.mark_reminder_sent(a.id, ReminderKind::HourBefore, at(2))
                .await
                .unwrap()
        );
        assert_eq!(
            ids(tx
                .claim_reminders_due(day, at(0), at(30), 10)
                .await
                .unwrap()),
            [b.id, c.id]
        );
        assert_eq!(
            ids(tx
                .claim_reminders_due(ReminderKind::HourBefore, at(0), at(30), 10)
                .await
                .unwrap()),
            [b.id, c.id]
        );
        let err = tx
            .mark_reminder_sent(BookingId(9_999), day, at(1))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "NOT_FOUND");
        tx.commit_tx().await.unwrap();

        let sent = booking_reminders::Entity::find().all(&t.db).await.unwrap();
        assert_eq!(sent.len(), 2);
        let day_row = sent.iter().find(|r| r.kind == "24H").unwrap();
        assert_eq!((day_row.booking_id, day_row.sent_at), (a.id.0, at(1)));
    }
);

on_both_backends!(logs_are_appended_and_read_in_order, |t| {
    let event = event(&t.db, 10).await;
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let b = place1(&tx, new_booking(event, user(1), 1)).await.unwrap();
    let other = place1(&tx, new_booking(event, user(2), 1)).await.unwrap();
    let created = BookingLog {
        booking_id: b.id,
        old_status: None,
        new_status: BookingStatus::PendingPayment,
        actor_id: Some(user(1)),
        details: serde_json::json!({"quantity": 1, "note": "über"}),
        created_at: at(0),
    };
    let confirmed = BookingLog {
        booking_id: b.id,
        old_status: Some(BookingStatus::PendingPayment),
        new_status: BookingStatus::Confirmed,
        actor_id: None,
        details: serde_json::json!({}),
        created_at: at(1),
    };
    let same_instant = BookingLog {
        booking_id: b.id,
        old_status: Some(BookingStatus::Confirmed),
        new_status: BookingStatus::Canceled,
        actor_id: Some(user(7)),
        details: serde_json::json!({"reason": "x"}),
        created_at: at(1),
    };
    // written out of order: read back by created_at, then id
    tx.append_log(confirmed.clone()).await.unwrap();
    tx.append_log(created.clone()).await.unwrap();
    tx.append_log(same_instant.clone()).await.unwrap();
    tx.append_log(BookingLog {
        booking_id: other.id,
        ..created.clone()
    })
    .await
    .unwrap();
    assert_eq!(
        tx.logs(b.id).await.unwrap(),
        [created.clone(), confirmed, same_instant]
    );
    assert_eq!(tx.logs(BookingId(9_999)).await.unwrap(), []);
    // logs are written at the latest at the commit: a log of a missing booking fails it, and
    // nothing of the transaction stays
    tx.append_log(BookingLog {
        booking_id: BookingId(9_999),
        ..created
    })
    .await
    .unwrap();
    let err = tx.commit_tx().await.unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    assert_eq!(booking_count(&t.db, event).await, 0);
});

on_both_backends!(
    archive_moves_old_finished_bookings_and_their_payments,
    |t| {
        let event = event(&t.db, 50).await;
        let uow = SeaUnitOfWork::new(t.db.clone());
        let tx = uow.begin_tx().await.unwrap();
        let mut placed = Vec::new();
        for who in 1..=6 {
            placed.push(place1(&tx, new_booking(event, user(who), 1)).await.unwrap());
        }
        // old and finished: archived (oldest first, so the limit takes 1 and 2 of these three)
        let old_canceled = move_to(&tx, placed[0].clone(), BookingStatus::Canceled, at(-300)).await;
        let old_completed =
            move_to(&tx, placed[1].clone(), BookingStatus::Completed, at(-200)).await;
        let old_expired = move_to(&tx, placed[2].clone(), BookingStatus::Expired, at(-100)).await;
        // finished but recent, and old but active: stay
        let recent = move_to(&tx, placed[3].clone(), BookingStatus::Canceled, at(10)).await;
        let active = move_to(&tx, placed[4].clone(), BookingStatus::Confirmed, at(-500)).await;

        let payment = tx
            .insert(NewPayment {
                booking_id: old_completed.id,
                amount: Money::from_minor_units(1_000),
                payment_method: "CARD".to_owned(),
                gateway: "sandbox".to_owned(),
                gateway_key: None,
                created_at: at(-400),
            })
            .await
            .unwrap();
        tx.record_refund(NewRefund {
            payment_id: payment.id,
            amount: Money::from_minor_units(100),
            reason: "goodwill".to_owned(),
            idempotency_key: "rfd_archived".to_owned(),
            actor_id: None,
            created_at: at(-300),
        })
        .await
        .unwrap();
        tx.append_log(BookingLog {
            booking_id: old_completed.id,
            old_status: None,
            new_status: BookingStatus::PendingPayment,
            actor_id: None,
            details: serde_json::json!({}),
            created_at: at(-400),
        })
        .await
        .unwrap();
        tx.mark_reminder_sent(old_completed.id, ReminderKind::DayBefore, at(-300))
            .await
            .unwrap();
        tx.commit_tx().await.unwrap();

        let tx = uow.begin_tx().await.unwrap();
        let archiving = chrono::Utc::now() - chrono::Duration::seconds(1);
        assert_eq!(tx.archive_before(at(0), 2).await.unwrap(), 2);
        tx.commit_tx().await.unwrap();

        let live: Vec<i64> = bookings::Entity::find()
            .order_by_asc(bookings::Column::Id)
            .all(&t.db)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.id)
            .collect();
        assert_eq!(
            live,
            [old_expired.id.0, recent.id.0, active.id.0, placed[5].id.0]
        );
        let archived = bookings_archive::Entity::find()
            .order_by_asc(bookings_archive::Column::Id)
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(
            archived.iter().map(|b| b.id).collect::<Vec<_>>(),
            [old_canceled.id.0, old_completed.id.0]
        );
        let row = archived
            .iter()
            .find(|b| b.id == old_completed.id.0)
            .unwrap();
        assert_eq!(row.status, "COMPLETED");
        assert_eq!(
            row.ticket_code.as_deref(),
            Some(ticket(&old_completed).as_str())
        );
        assert_eq!(row.version, old_completed.version);
        assert_eq!(row.updated_at, at(-200));
        assert!(row.archived_at >= archiving && row.archived_at <= chrono::Utc::now());
        let archived_payments = payments_archive::Entity::find().all(&t.db).await.unwrap();
        assert_eq!(archived_payments.len(), 1);
        assert_eq!(archived_payments[0].id, payment.id.0);
        assert_eq!(archived_payments[0].booking_id, old_completed.id.0);
        assert_eq!(archived_payments[0].amount_minor, 1_000);
        assert_eq!(payments::Entity::find().count(&t.db).await.unwrap(), 0);
        assert_eq!(
            payment_refunds::Entity::find().count(&t.db).await.unwrap(),
            0
        );
        let archived_refunds = payment_refunds_archive::Entity::find()
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(
            archived_refunds.len(),
            1,
            "refund history is archived, not lost"
        );
        assert_eq!(archived_refunds[0].payment_id, payment.id.0);
        assert_eq!(archived_refunds[0].amount_minor, 100);
        assert_eq!(archived_refunds[0].reason, "goodwill");
        assert_eq!(booking_logs::Entity::find().count(&t.db).await.unwrap(), 0);
        assert_eq!(
            booking_reminders::Entity::find()
                .count(&t.db)
                .await
                .unwrap(),
            0
        );

        let tx = uow.begin_tx().await.unwrap();
        assert_eq!(
            tx.archive_before(at(0), 100).await.unwrap(),
            1,
            "the expired one is left"
        );
        assert_eq!(tx.archive_before(at(0), 100).await.unwrap(), 0);
        tx.commit_tx().await.unwrap();
        assert_eq!(
            bookings_archive::Entity::find().count(&t.db).await.unwrap(),
            3
        );
        assert_eq!(booking_count(&t.db, event).await, 3);
    }
);

/// The flash sale: 200 buyers, 50 seats, one transaction each, all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_buyers_get_exactly_fifty_seats_on_postgres() {
    let Some(t) = test_db::TestDb::migrated(test_db::Backend::Postgres).await else {
        return;
    };
    // A pool of its own: 200 waiting transactions must not trip the default 5 s acquire
    // timeout on a busy test machine (that would be a test-setup failure, not a finding).
    let mut config = t.config.clone();
    config.max_connections = 20;
    config.acquire_timeout = Duration::from_secs(120);
    let db = connect(&config).await.unwrap();
    let event = event(&db, 50).await;
    let uow = SeaUnitOfWork::new(db.clone());

    let started = Instant::now();
    let tasks: Vec<_> = (0..200u128)
        .map(|n| {
            let uow = uow.clone();
            tokio::spawn(async move {
                let tx = uow.begin_tx().await?;
                match tx
                    .place(event, vec![new_booking(event, user(1_000 + n), 1)])
                    .await
                {
                    Ok(placed) => {
                        tx.commit_tx().await?;
                        Ok::<_, ports::AppError>(Ok(placed))
                    }
                    Err(refused) => Ok(Err(refused)),
                }
            })
        })
        .collect();
    let (mut ok, mut sold_out) = (0, 0);
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Ok(placed) if placed.len() == 1 => ok += 1,
            Err(e) if refusal_text(&e) == refused(PlacementRejection::SoldOut { available: 0 }) => {
                sold_out += 1;
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    println!(
        "200 concurrent placements on 50 seats: {ok} placed, {sold_out} sold out in {elapsed:?}"
    );

    assert_eq!((ok, sold_out), (50, 150));
    assert_eq!(seats(&db, event).await, 0);
    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(tx.seats_held(event).await.unwrap(), 50);
    assert_eq!(booking_count(&db, event).await, 50);
}
