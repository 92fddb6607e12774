//! PromoCodeRepository on PostgreSQL and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::rows;
use test_db::on_both_backends;

use adapters_postgres::SeaUnitOfWork;
use adapters_postgres::entities::{events, promo_code_redemptions, promo_codes};
use chrono::{Duration, TimeZone, Utc};
use domain::pricing::PromoDiscount;
use domain::promo_code::{PromoCodeText, PromoTerms};
use domain::{BookingId, EventId, Money, Percent, PromoCodeId, Timestamp, UserId};
use ports::PageRequest;
use ports::{PromoCodeQuery, PromoCodeRepository};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

fn at(hours: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2027, 5, 1, 9, 0, 0).unwrap() + Duration::hours(hours)
}

fn user(n: u128) -> UserId {
    UserId(uuid::Uuid::from_u128(n))
}

fn code(text: &str) -> PromoCodeText {
    PromoCodeText::new(text).unwrap()
}

fn percent(p: &str) -> PromoDiscount {
    PromoDiscount::Percent(Percent::new(p.parse::<Decimal>().unwrap()).unwrap())
}

fn terms(discount: PromoDiscount, event: Option<EventId>, active: bool) -> PromoTerms {
    PromoTerms::new(discount, at(0), Some(at(240)), Some(10), event, active).unwrap()
}

/// Fixtures go through the pool while no transaction is open (SQLite has one connection).
async fn event(db: &sea_orm::DatabaseConnection) -> EventId {
    let model = events::ActiveModel {
        max_participants: Set(10),
        available_seats: Set(10),
        price_minor: Set(10_000),
        ..rows::event("River trip", user(1), at(500), at(0))
    };
    EventId(model.insert(db).await.unwrap().id)
}

async fn booking(db: &sea_orm::DatabaseConnection, event: EventId, who: UserId) -> BookingId {
    let model = rows::booking(event, who, "PENDING_PAYMENT", 10_000, at(0), at(1));
    BookingId(model.insert(db).await.unwrap().id)
}

on_both_backends!(insert_find_and_find_by_code, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let river = event(&t.db).await;
    let tx = uow.begin_tx().await.unwrap();
    let pct = tx
        .insert(
            code("summer-15"),
            terms(percent("15.5"), Some(river), true),
            user(7),
            at(1),
        )
        .await
        .unwrap();
    assert_eq!(pct.code.as_str(), "SUMMER-15");
    assert_eq!(pct.terms.discount, percent("15.5"));
    assert_eq!(pct.terms.event_id, Some(river));
    assert_eq!(pct.terms.max_uses, Some(10));
    assert_eq!(pct.terms.valid_until, Some(at(240)));
    assert_eq!((pct.current_uses, pct.version), (0, 0));
    assert_eq!(pct.created_by, user(7));
    assert_eq!((pct.created_at, pct.updated_at), (at(1), at(1)));
    let fixed_terms = PromoTerms::new(
        PromoDiscount::FixedAmount(Money::parse("500.25").unwrap()),
        at(0),
        None,
        None,
        None,
        false,
    )
    .unwrap();
    let fixed = tx
        .insert(code("FLAT500"), fixed_terms.clone(), user(7), at(2))
        .await
        .unwrap();
    tx.commit_tx().await.unwrap();

    // the percent is stored as basis points, the amount as minor units
    let stored = promo_codes::Entity::find_by_id(pct.id.0)
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.discount_percent_bp, stored.discount_amount_minor),
        (Some(1_550), None)
    );
    let stored = promo_codes::Entity::find_by_id(fixed.id.0)
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.discount_percent_bp, stored.discount_amount_minor),
        (None, Some(50_025))
    );

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(tx.find(pct.id).await.unwrap().unwrap(), pct);
    assert_eq!(tx.find(fixed.id).await.unwrap().unwrap().terms, fixed_terms);
    assert!(tx.find(PromoCodeId(9_999)).await.unwrap().is_none());
    assert_eq!(
        tx.find_by_code(&code("Summer-15")).await.unwrap().unwrap(),
        pct
    );
    assert!(tx.find_by_code(&code("WINTER")).await.unwrap().is_none());
});

on_both_backends!(duplicate_codes_and_unknown_events_are_refused, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    tx.insert(
        code("ONCE"),
        terms(percent("10"), None, true),
        user(1),
        at(0),
    )
    .await
    .unwrap();
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    let err = tx
        .insert(
            code("once"),
            terms(percent("20"), None, true),
            user(2),
            at(1),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PROMO_CODE_EXISTS");
    drop(tx);

    let tx = uow.begin_tx().await.unwrap();
    let err = tx
        .insert(
            code("GHOST"),
            terms(percent("20"), Some(EventId(4_242)), true),
            user(2),
            at(1),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_FAILED");
});

on_both_backends!(update_is_optimistic_by_version, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let river = event(&t.db).await;
    let tx = uow.begin_tx().await.unwrap();
    let original = tx
        .insert(
            code("SPRING"),
            terms(percent("10"), None, true),
            user(1),
            at(0),
        )
        .await
        .unwrap();
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    let mut changed = original.clone();
    let new_terms = PromoTerms::new(
        PromoDiscount::FixedAmount(Money::parse("25").unwrap()),
        at(1),
        Some(at(48)),
        Some(3),
        Some(river),
        false,
    )
    .unwrap();
    changed.update_terms(new_terms.clone(), at(5)).unwrap();
    let updated = tx.update(&changed).await.unwrap();
    assert_eq!(updated.version, 1);
    assert_eq!(updated.terms, new_terms);
    assert_eq!(updated.updated_at, at(5));
    assert_eq!(updated.created_at, original.created_at);
    assert_eq!(updated.code, original.code);

    // the old version is stale now
    let err = tx.update(&changed).await.unwrap_err();
    assert_eq!(err.code(), "VERSION_CONFLICT");
    // an id that does not exist
    let mut ghost = updated.clone();
    ghost.id = PromoCodeId(9_999);
    let err = tx.update(&ghost).await.unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    // the transaction is still usable and the next update bumps again
    let again = tx.update(&updated).await.unwrap();
    assert_eq!(again.version, 2);
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(tx.find(original.id).await.unwrap().unwrap(), again);
});

on_both_backends!(search_filters_orders_and_pages, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let river = event(&t.db).await;
    let tx = uow.begin_tx().await.unwrap();
    let mut made = Vec::new();
    for (i, (creator, scoped, active)) in [
        (1, false, true),
        (1, true, true),
        (2, true, false),
        (1, false, false),
        (2, false, true),
    ]
    .into_iter()
    .enumerate()
    {
        let n = i64::try_from(i).unwrap();
        let p = tx
            .insert(
                code(&format!("CODE{i}")),
                terms(percent("5"), scoped.then_some(river), active),
                user(creator),
                at(n),
            )
            .await
            .unwrap();
        made.push(p.id);
    }
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    let ids = |page: &ports::Page<domain::promo_code::PromoCode>| {
        page.items.iter().map(|p| p.id).collect::<Vec<_>>()
    };
    let all = tx.search(&PromoCodeQuery::default()).await.unwrap();
    assert_eq!(all.total_elements, 5);
    assert_eq!(ids(&all), [made[4], made[3], made[2], made[1], made[0]]);

    let mine = tx
        .search(&PromoCodeQuery {
            created_by: Some(user(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&mine), [made[3], made[1], made[0]]);

    let scoped = tx
        .search(&PromoCodeQuery {
            event_id: Some(river),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&scoped), [made[2], made[1]]);

    let active = tx
        .search(&PromoCodeQuery {
            active_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&active), [made[4], made[1], made[0]]);

    let combined = tx
        .search(&PromoCodeQuery {
            created_by: Some(user(1)),
            event_id: Some(river),
            active_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&combined), [made[1]]);

    let second_page = tx
        .search(&PromoCodeQuery {
            page: PageRequest::new(Some(1), Some(2)).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&second_page), [made[2], made[1]]);
    assert_eq!(
        (
            second_page.page,
            second_page.size,
            second_page.total_elements
        ),
        (1, 2, 5)
    );
    let past_the_end = tx
        .search(&PromoCodeQuery {
            page: PageRequest::new(Some(3), Some(2)).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(past_the_end.items.is_empty());
    assert_eq!(past_the_end.total_elements, 5);
});

on_both_backends!(redemptions_are_recorded_once_per_booking, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let river = event(&t.db).await;
    let tx = uow.begin_tx().await.unwrap();
    let promo = tx
        .insert(
            code("USEME"),
            terms(percent("10"), None, true),
            user(1),
            at(0),
        )
        .await
        .unwrap();
    tx.commit_tx().await.unwrap();
    let first = booking(&t.db, river, user(5)).await;
    let second = booking(&t.db, river, user(6)).await;
    let unused = booking(&t.db, river, user(8)).await;

    let tx = uow.begin_tx().await.unwrap();
    tx.record_redemption(promo.id, first, user(5), at(3))
        .await
        .unwrap();
    tx.record_redemption(promo.id, second, user(6), at(4))
        .await
        .unwrap();
    tx.commit_tx().await.unwrap();

    let rows = promo_code_redemptions::Entity::find()
        .filter(promo_code_redemptions::Column::PromoCodeId.eq(promo.id.0))
        .all(&t.db)
        .await
        .unwrap();
    let mut seen: Vec<_> = rows
        .iter()
        .map(|r| (r.booking_id, r.user_id, r.created_at))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [(first.0, user(5).0, at(3)), (second.0, user(6).0, at(4))]
    );

    let tx = uow.begin_tx().await.unwrap();
    let err = tx
        .record_redemption(promo.id, first, user(5), at(5))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PROMO_CODE_ALREADY_REDEEMED");
    drop(tx);

    let tx = uow.begin_tx().await.unwrap();
    let err = tx
        .record_redemption(PromoCodeId(9_999), unused, user(8), at(5))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
});

on_both_backends!(stored_values_the_domain_refuses_are_corrupt, |t| {
    let bad = promo_codes::ActiveModel {
        code: Set("not a code".into()),
        discount_percent_bp: Set(Some(1_000)),
        discount_amount_minor: Set(None),
        valid_from: Set(at(0)),
        valid_until: Set(None),
        max_uses: Set(None),
        current_uses: Set(0),
        event_id: Set(None),
        is_active: Set(true),
        created_by: Set(user(1).0),
        version: Set(0),
        created_at: Set(at(0)),
        updated_at: Set(at(0)),
        ..Default::default()
    };
    let (bad, tx) = rows::stored_then_begin(&t.db, bad).await;
    rows::assert_corrupt(&tx.find(PromoCodeId(bad.id)).await.unwrap_err());
    rows::assert_corrupt(&tx.search(&PromoCodeQuery::default()).await.unwrap_err());
});
