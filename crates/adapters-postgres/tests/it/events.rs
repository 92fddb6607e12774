//! EventRepository on PostgreSQL and SQLite: storage, optimistic locking, seat updates, the
//! catalog query, claims and stats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::rows;
use test_db::on_both_backends;

use adapters_postgres::entities::{bookings, payments, reviews};
use adapters_postgres::{SeaTx, SeaUnitOfWork};
use chrono::{Duration, TimeZone, Utc};
use domain::event::{CrewStatus, Event, EventDetailsInput, EventStatus, NewEvent, NewEventInput};
use domain::price_option::{NewPriceOption, PriceOptionInput};
use domain::pricing::{DynamicPricingRule, PricingRules};
use domain::refund_policy::{RefundPolicy, RefundTier};
use domain::{EventId, Money, Percent, PriceOptionId, Timestamp, UserId};
use ports::PageRequest;
use ports::{EventQuery, EventRepository, EventSort};
use sea_orm::{ActiveModelTrait, Set};

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 5, 1, 9, 0, 0).unwrap()
}

fn organizer(n: u128) -> UserId {
    UserId(uuid::Uuid::from_u128(n))
}

struct Spec<'a> {
    name: &'a str,
    description: &'a str,
    category: &'a str,
    days: i64,
    price: &'a str,
    seats: i64,
    featured: bool,
    creator: u128,
}

fn spec(name: &str) -> Spec<'_> {
    Spec {
        name,
        description: "",
        category: "rafting",
        days: 10,
        price: "100",
        seats: 10,
        featured: false,
        creator: 1,
    }
}

fn new_event(s: &Spec<'_>) -> NewEvent {
    NewEvent::new(
        organizer(s.creator),
        NewEventInput {
            details: EventDetailsInput {
                name: s.name.into(),
                description: Some(s.description.into()),
                category: Some(s.category.into()),
                coordinates: Some((59.93, 30.31)),
                ..Default::default()
            },
            start_date: now() + Duration::days(s.days),
            end_date: Some(now() + Duration::days(s.days) + Duration::hours(3)),
            max_participants: s.seats,
            price: Money::parse(s.price).unwrap(),
            booking_deadline_hours: Some(12),
            max_seats_per_user: None,
            publish_at: None,
            is_featured: s.featured,
            refund_policy: None,
            pricing_rules: PricingRules::default(),
        },
        now(),
    )
    .unwrap()
}

async fn store(tx: &SeaTx, s: &Spec<'_>, status: EventStatus) -> Event {
    let (mut e, _) = tx.insert(new_event(s), vec![]).await.unwrap();
    if status != EventStatus::Draft {
        e.status = status;
        e = tx.update(&e).await.unwrap();
    }
    e
}

fn option(name: &str, price: &str, stock: Option<i64>) -> NewPriceOption {
    NewPriceOption::new(PriceOptionInput {
        name: name.into(),
        price: Money::parse(price).unwrap(),
        description: None,
        quantity_available: stock,
        is_active: true,
    })
    .unwrap()
}

async fn booking_row(
    tx: &SeaTx,
    event: EventId,
    user: u128,
    status: &str,
    at: Timestamp,
    quantity: i32,
) -> i64 {
    let m = bookings::ActiveModel {
        quantity: Set(quantity),
        ticket_code: Set(matches!(status, "CONFIRMED" | "COMPLETED")
            .then(|| format!("AQ-TEST-{user:04}-{}", event.0))),
        ..rows::booking(
            event,
            UserId(uuid::Uuid::from_u128(user)),
            status,
            10_000,
            at,
            at + Duration::minutes(30),
        )
    };
    m.insert(tx.conn_for_tests()).await.unwrap().id
}

async fn payment_row(tx: &SeaTx, booking: i64, amount: i64, refunded: i64, status: &str) {
    payments::ActiveModel {
        booking_id: Set(booking),
        amount_minor: Set(amount),
        status: Set(status.into()),
        gateway: Set("sandbox".into()),
        gateway_reference: Set(Some(format!("ref-{booking}-{amount}"))),
        payment_method: Set("CARD".into()),
        refund_amount_minor: Set(refunded),
        version: Set(0),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
    .insert(tx.conn_for_tests())
    .await
    .unwrap();
}

async fn review_row(tx: &SeaTx, event: EventId, user: u128, rating: i16, status: &str) {
    reviews::ActiveModel {
        event_id: Set(event.0),
        user_id: Set(uuid::Uuid::from_u128(user)),
        rating: Set(rating),
        status: Set(status.into()),
        helpful_count: Set(0),
        version: Set(0),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
    .insert(tx.conn_for_tests())
    .await
    .unwrap();
}

fn query() -> EventQuery {
    EventQuery {
        page: PageRequest::new(Some(0), Some(50)).unwrap(),
        ..Default::default()
    }
}

on_both_backends!(insert_and_read_back_every_field, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let mut new = new_event(&spec("Ladoga kayak"));
    new.refund_policy = Some(
        RefundPolicy::new(vec![
            RefundTier {
                min_hours_before: 72,
                percent: Percent::from_whole(90).unwrap(),
            },
            RefundTier {
                min_hours_before: 0,
                percent: Percent::from_whole(10).unwrap(),
            },
        ])
        .unwrap(),
    );
    new.pricing_rules = PricingRules::new(
        vec![DynamicPricingRule {
            min_fill_ratio: "0.5".parse().unwrap(),
            multiplier: "1.1".parse().unwrap(),
        }],
        vec![],
    )
    .unwrap();
    let (event, options) = tx
        .insert(
            new.clone(),
            vec![
                option("Early bird", "80.50", Some(3)),
                option("VIP", "300", None),
            ],
        )
        .await
        .unwrap();
    tx.commit_tx().await.unwrap();

    assert_eq!(options.len(), 2);
    assert_eq!(options[0].price, Money::parse("80.50").unwrap());
    let tx = uow.begin_tx().await.unwrap();
    let found = tx.find(event.id).await.unwrap().unwrap();
    assert_eq!(found, event);
    assert_eq!(found.status, EventStatus::Draft);
    assert_eq!(found.version, 0);
    assert_eq!(found.details.coordinates.unwrap().latitude, 59.93);
    assert_eq!(found.refund_policy, new.refund_policy);
    assert_eq!(found.pricing_rules, new.pricing_rules);
    assert_eq!(found.schedule, new.schedule);
    assert_eq!(tx.find_for_update(event.id).await.unwrap().unwrap(), found);
    assert!(tx.find(EventId(987_654)).await.unwrap().is_none());
    assert_eq!(tx.price_options(event.id).await.unwrap(), options);
});

on_both_backends!(update_is_optimistic, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let mut event = store(&tx, &spec("Regatta"), EventStatus::Draft).await;
    let stale = event.clone();
    let _ = event.publish(now()).unwrap();
    let saved = tx.update(&event).await.unwrap();
    assert_eq!((saved.version, saved.status), (1, EventStatus::Published));
    let err = tx.update(&stale).await.unwrap_err();
    assert_eq!(err.code(), "VERSION_CONFLICT");
    let mut ghost = saved.clone();
    ghost.id = EventId(424_242);
    assert_eq!(tx.update(&ghost).await.unwrap_err().code(), "NOT_FOUND");
    assert_eq!(
        tx.find(event.id).await.unwrap().unwrap().published_at,
        Some(now())
    );
});

on_both_backends!(seats_are_taken_and_released_conditionally, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let draft = store(&tx, &spec("Draft trip"), EventStatus::Draft).await;
    let live = store(
        &tx,
        &Spec {
            seats: 5,
            ..spec("Live trip")
        },
        EventStatus::Published,
    )
    .await;
    assert_eq!(
        tx.take_seats(draft.id, 1).await.unwrap(),
        None,
        "only published events sell seats"
    );
    assert_eq!(tx.take_seats(live.id, 3).await.unwrap(), Some(2));
    assert_eq!(
        tx.take_seats(live.id, 3).await.unwrap(),
        None,
        "not enough left"
    );
    assert_eq!(tx.take_seats(live.id, 2).await.unwrap(), Some(0));
    assert_eq!(tx.release_seats(live.id, 4).await.unwrap(), 4);
    let err = tx.release_seats(live.id, 2).await.unwrap_err();
    assert_eq!(
        err.code(),
        "INTERNAL_ERROR",
        "releasing past capacity is a bug, refused"
    );
    assert_eq!(
        tx.find(live.id).await.unwrap().unwrap().seats.available(),
        4
    );
});

on_both_backends!(price_options_are_saved_per_event, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let a = store(&tx, &spec("A"), EventStatus::Draft).await;
    let b = store(&tx, &spec("B"), EventStatus::Draft).await;
    let created = tx
        .save_price_option(a.id, None, option("Student", "50", Some(10)))
        .await
        .unwrap();
    let updated = tx
        .save_price_option(a.id, Some(created.id), option("Student", "45", Some(8)))
        .await
        .unwrap();
    assert_eq!(
        (updated.id, updated.price, updated.quantity_available),
        (created.id, Money::parse("45").unwrap(), Some(8))
    );
    let err = tx
        .save_price_option(b.id, Some(created.id), option("Hijack", "1", None))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "NOT_FOUND",
        "an option is only changed through its own event"
    );
    assert!(
        tx.save_price_option(a.id, Some(PriceOptionId(99_999)), option("X", "1", None))
            .await
            .is_err()
    );
    assert_eq!(tx.price_options(a.id).await.unwrap(), vec![updated]);
    assert!(tx.price_options(b.id).await.unwrap().is_empty());
});

on_both_backends!(catalog_filters_sorts_pages_and_counts, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let river = store(
        &tx,
        &Spec {
            description: "white water on the Vuoksi river",
            price: "300",
            days: 5,
            ..spec("River rafting")
        },
        EventStatus::Published,
    )
    .await;
    let sea = store(
        &tx,
        &Spec {
            category: "sailing",
            description: "a day on the gulf",
            price: "500",
            days: 20,
            featured: true,
            ..spec("Sea regatta")
        },
        EventStatus::Published,
    )
    .await;
    let lake = store(
        &tx,
        &Spec {
            description: "calm lake paddling",
            price: "100",
            days: 30,
            creator: 2,
            ..spec("Lake kayak")
        },
        EventStatus::Published,
    )
    .await;
    let _draft = store(
        &tx,
        &Spec {
            description: "river trip draft",
            ..spec("Draft river")
        },
        EventStatus::Draft,
    )
    .await;
    let done = store(
        &tx,
        &Spec {
            description: "old river trip",
            ..spec("Past river")
        },
        EventStatus::Completed,
    )
    .await;
    review_row(&tx, river.id, 10, 5, "ACTIVE").await;
    review_row(&tx, river.id, 11, 4, "ACTIVE").await;
    review_row(&tx, river.id, 12, 1, "PENDING").await;

    let published = EventQuery {
        statuses: vec![EventStatus::Published],
        ..query()
    };
    let page = tx.search(&published).await.unwrap();
    let names: Vec<_> = page
        .items
        .iter()
        .map(|l| l.event.details.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["River rafting", "Sea regatta", "Lake kayak"],
        "default sort: start date ascending"
    );
    assert_eq!(page.total_elements, 3);
    let river_listing = &page.items[0];
    assert_eq!(
        (river_listing.rating.rating_sum, river_listing.rating.count),
        (9, 2),
        "ACTIVE reviews only"
    );

    let by_price = tx
        .search(&EventQuery {
            sort: EventSort::Price,
            descending: true,
            ..published.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        by_price
            .items
            .iter()
            .map(|l| l.event.id)
            .collect::<Vec<_>>(),
        [sea.id, river.id, lake.id]
    );

    let category = tx
        .search(&EventQuery {
            category: Some("sailing".into()),
            ..published.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        category
            .items
            .iter()
            .map(|l| l.event.id)
            .collect::<Vec<_>>(),
        [sea.id]
    );
    let featured = tx
        .search(&EventQuery {
            only_featured: true,
            ..published.clone()
        })
        .await
        .unwrap();
    assert_eq!(featured.total_elements, 1);
    let mine = tx
        .search(&EventQuery {
            creator_id: Some(organizer(2)),
            statuses: vec![],
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(
        mine.items.iter().map(|l| l.event.id).collect::<Vec<_>>(),
        [lake.id]
    );
    let window = EventQuery {
        start_from: Some(now() + Duration::days(6)),
        start_to: Some(now() + Duration::days(25)),
        ..published.clone()
    };
    assert_eq!(
        tx.search(&window)
            .await
            .unwrap()
            .items
            .iter()
            .map(|l| l.event.id)
            .collect::<Vec<_>>(),
        [sea.id]
    );

    let text = EventQuery {
        search: Some("river".into()),
        statuses: vec![EventStatus::Published, EventStatus::Completed],
        ..query()
    };
    let found: Vec<_> = tx
        .search(&text)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|l| l.event.id)
        .collect();
    assert_eq!(
        found,
        [river.id, done.id],
        "full-text over name and description, drafts excluded"
    );
    let wildcard = EventQuery {
        search: Some("%".into()),
        ..published.clone()
    };
    assert_eq!(
        tx.search(&wildcard).await.unwrap().total_elements,
        0,
        "a % is a literal, not a wildcard"
    );

    let paged = EventQuery {
        page: PageRequest::new(Some(1), Some(2)).unwrap(),
        ..published.clone()
    };
    let second = tx.search(&paged).await.unwrap();
    assert_eq!(
        (
            second.items.len(),
            second.total_elements,
            second.total_pages()
        ),
        (1, 3, 2)
    );

    booking_row(&tx, lake.id, 20, "CONFIRMED", now(), 1).await;
    booking_row(&tx, lake.id, 21, "CONFIRMED", now(), 1).await;
    booking_row(&tx, sea.id, 22, "CONFIRMED", now(), 1).await;
    booking_row(&tx, river.id, 23, "CANCELED", now(), 1).await;
    let popular = tx
        .search(&EventQuery {
            sort: EventSort::Popularity,
            descending: true,
            ..published.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        popular.items.iter().map(|l| l.event.id).collect::<Vec<_>>(),
        [lake.id, sea.id, river.id]
    );

    let listing = tx.listing(river.id).await.unwrap().unwrap();
    assert_eq!(listing.rating.count, 2);
    assert!(tx.listing(EventId(777_777)).await.unwrap().is_none());
});

on_both_backends!(claims_find_due_work, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let mut scheduled = store(&tx, &spec("Scheduled"), EventStatus::Draft).await;
    scheduled
        .schedule_publication(now() + Duration::hours(2), now())
        .unwrap();
    let scheduled = tx.update(&scheduled).await.unwrap();
    let _later = store(&tx, &spec("Unscheduled draft"), EventStatus::Draft).await;
    let soon = store(
        &tx,
        &Spec {
            days: 1,
            ..spec("Soon")
        },
        EventStatus::Published,
    )
    .await;
    let mut crew = store(&tx, &spec("Needs crew"), EventStatus::Published).await;
    crew.crew_status = CrewStatus::PendingRetry;
    tx.update(&crew).await.unwrap();

    assert!(
        tx.claim_due_for_publication(now() + Duration::hours(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = tx
        .claim_due_for_publication(now() + Duration::hours(2), 10)
        .await
        .unwrap();
    assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), [scheduled.id]);

    let after_soon = soon.schedule.ends_at();
    assert!(
        tx.claim_due_for_completion(after_soon - Duration::seconds(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let ended = tx.claim_due_for_completion(after_soon, 10).await.unwrap();
    assert_eq!(ended.iter().map(|e| e.id).collect::<Vec<_>>(), [soon.id]);
    let retries = tx.claim_crew_retries(10).await.unwrap();
    assert_eq!(retries.iter().map(|e| e.id).collect::<Vec<_>>(), [crew.id]);
});

on_both_backends!(stats_views_and_popularity, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let event = store(&tx, &spec("Stats trip"), EventStatus::Published).await;
    let other = store(&tx, &spec("Other trip"), EventStatus::Published).await;
    let day1 = now();
    let day2 = now() + Duration::days(1);
    let b1 = booking_row(&tx, event.id, 1, "CONFIRMED", day1, 2).await;
    let b2 = booking_row(&tx, event.id, 2, "COMPLETED", day2, 1).await;
    booking_row(&tx, event.id, 3, "CANCELED", day2, 1).await;
    booking_row(&tx, event.id, 4, "PENDING_PAYMENT", day2, 1).await;
    booking_row(&tx, other.id, 5, "PENDING_PAYMENT", day1, 1).await;
    payment_row(&tx, b1, 20_000, 0, "COMPLETED").await;
    payment_row(&tx, b2, 10_000, 2_500, "PARTIAL_REFUND").await;
    payment_row(&tx, b2, 5_000, 0, "FAILED").await;
    review_row(&tx, event.id, 1, 4, "ACTIVE").await;
    tx.record_views(event.id, 2).await.unwrap();
    tx.record_views(event.id, 1).await.unwrap();

    let stats = tx.stats(event.id, None, None).await.unwrap();
    assert_eq!(
        (
            stats.total_bookings,
            stats.confirmed_bookings,
            stats.canceled_bookings
        ),
        (4, 2, 1)
    );
    assert_eq!(
        stats.total_revenue,
        Money::parse("275").unwrap(),
        "200 + (100 − 25), failed payments excluded"
    );
    assert_eq!(stats.rating.count, 1);
    assert_eq!(stats.bookings_by_day.get(&day1.date_naive()), Some(&1));
    assert_eq!(stats.bookings_by_day.get(&day2.date_naive()), Some(&3));
    let only_day2 = tx.stats(event.id, Some(day2), None).await.unwrap();
    assert_eq!(only_day2.total_bookings, 3);

    let report = tx
        .popularity(day1 - Duration::hours(1), day2 + Duration::hours(1), 10)
        .await
        .unwrap();
    assert_eq!(
        report.iter().map(|r| r.event_id).collect::<Vec<_>>(),
        [event.id, other.id]
    );
    assert_eq!(
        (report[0].views, report[0].bookings, report[0].confirmed),
        (3, 4, 2)
    );
    assert_eq!(report[0].revenue, Money::parse("275").unwrap());
    assert_eq!(tx.popularity(day1, day2, 1).await.unwrap().len(), 1);
});
