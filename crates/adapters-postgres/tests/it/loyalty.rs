//! LoyaltyLedger on PostgreSQL and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use test_db::on_both_backends;

use adapters_postgres::SeaUnitOfWork;
use adapters_postgres::connection::connect;
use adapters_postgres::entities::loyalty_ledger;
use chrono::{Duration, TimeZone, Utc};
use domain::loyalty::{LoyaltyEntryKind, NewLoyaltyEntry};
use domain::{BookingId, ReviewId, Timestamp, UserId};
use ports::LoyaltyLedger;
use ports::{AppError, PageRequest};
use sea_orm::{EntityTrait, PaginatorTrait};

fn at(minutes: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2027, 5, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn user(n: u128) -> UserId {
    UserId(uuid::Uuid::from_u128(n))
}

on_both_backends!(append_balance_and_history, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let (ann, bob) = (user(1), user(2));
    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(tx.balance(ann).await.unwrap(), 0, "no lines: zero");
    let earned = tx
        .append(NewLoyaltyEntry::earned_for_booking(
            ann,
            BookingId(10),
            30,
            at(0),
        ))
        .await
        .unwrap();
    assert_eq!(earned.user_id, ann);
    assert_eq!(earned.points, 30);
    assert_eq!(earned.kind, LoyaltyEntryKind::BookingEarned);
    assert_eq!(earned.booking_id, Some(BookingId(10)));
    assert_eq!(earned.review_id, None);
    assert_eq!(earned.created_at, at(0));
    let review = tx
        .append(NewLoyaltyEntry::earned_for_review(
            ann,
            ReviewId(3),
            50,
            at(1),
        ))
        .await
        .unwrap();
    assert_eq!(review.review_id, Some(ReviewId(3)));
    let spent = tx
        .append(NewLoyaltyEntry::redeemed(ann, BookingId(11), 60, at(2)))
        .await
        .unwrap();
    assert_eq!(spent.points, -60);
    tx.append(NewLoyaltyEntry::earned_for_booking(
        bob,
        BookingId(12),
        7,
        at(3),
    ))
    .await
    .unwrap();
    assert!(tx.has_review_credit(ann, ReviewId(3)).await.unwrap());
    assert!(
        !tx.has_review_credit(bob, ReviewId(3)).await.unwrap(),
        "another user's credit"
    );
    assert!(
        !tx.has_review_credit(ann, ReviewId(4)).await.unwrap(),
        "another review"
    );
    // 30 + 50 − 60
    assert_eq!(tx.balance(ann).await.unwrap(), 20);
    assert_eq!(tx.balance_for_update(ann).await.unwrap(), 20);
    assert_eq!(tx.balance(bob).await.unwrap(), 7);
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    let returned = tx
        .append(NewLoyaltyEntry::redemption_reversed(
            ann,
            BookingId(11),
            60,
            at(4),
        ))
        .await
        .unwrap();
    assert_eq!(tx.balance(ann).await.unwrap(), 80);

    let history = tx.history(ann, PageRequest::default()).await.unwrap();
    assert_eq!(history.total_elements, 4);
    assert_eq!(
        history.items,
        [
            returned.clone(),
            spent.clone(),
            review.clone(),
            earned.clone()
        ]
    );
    let page = tx
        .history(ann, PageRequest::new(Some(1), Some(3)).unwrap())
        .await
        .unwrap();
    assert_eq!(page.items, [earned]);
    assert_eq!((page.page, page.size, page.total_elements), (1, 3, 4));
    let bobs = tx.history(bob, PageRequest::default()).await.unwrap();
    assert_eq!(bobs.total_elements, 1);
    assert!(
        tx.history(user(3), PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
});

on_both_backends!(
    a_ledger_below_zero_reports_zero_and_lines_are_never_changed,
    |t| {
        let uow = SeaUnitOfWork::new(t.db.clone());
        let ann = user(1);
        let tx = uow.begin_tx().await.unwrap();
        tx.append(NewLoyaltyEntry::earned_for_booking(
            ann,
            BookingId(1),
            10,
            at(0),
        ))
        .await
        .unwrap();
        tx.append(NewLoyaltyEntry::redeemed(ann, BookingId(2), 10, at(1)))
            .await
            .unwrap();
        assert_eq!(tx.balance(ann).await.unwrap(), 0);
        // the refund of the earning booking lands after the points were spent
        tx.append(NewLoyaltyEntry::earning_reversed(
            ann,
            BookingId(1),
            10,
            at(2),
        ))
        .await
        .unwrap();
        assert_eq!(tx.balance(ann).await.unwrap(), 0);
        assert_eq!(tx.balance_for_update(ann).await.unwrap(), 0);
        // a zero line is refused before it reaches the table
        let mut zero = NewLoyaltyEntry::earned_for_booking(ann, BookingId(3), 0, at(3));
        zero.points = 0;
        assert_eq!(
            tx.append(zero).await.unwrap_err().code(),
            "VALIDATION_FAILED"
        );
        tx.commit_tx().await.unwrap();
        assert_eq!(
            loyalty_ledger::Entity::find().count(&t.db).await.unwrap(),
            3
        );
    }
);

/// PostgreSQL: `balance_for_update` holds a per-user lock until commit. A second pool whose
/// sessions give up on a lock after 200 ms shows it without sleeping: its attempt fails while
/// the first transaction is open, another user's lock is free, and after the commit the
/// same call succeeds and sees the line the first transaction appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_for_update_serializes_spending_of_one_user_on_postgres() {
    let Some(t) = test_db::TestDb::migrated(test_db::Backend::Postgres).await else {
        return;
    };
    // users of their own, though advisory locks are per database and the database is the
    // test's own
    let (ann, bob) = (UserId(uuid::Uuid::new_v4()), UserId(uuid::Uuid::new_v4()));
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    tx.append(NewLoyaltyEntry::earned_for_booking(
        ann,
        BookingId(1),
        100,
        at(0),
    ))
    .await
    .unwrap();
    tx.commit_tx().await.unwrap();

    let mut impatient = t.config.clone();
    let sep = if impatient.url.contains('?') {
        '&'
    } else {
        '?'
    };
    impatient.url = format!("{}{sep}options=-c%20lock_timeout%3D200", impatient.url);
    impatient.max_connections = 2;
    let other = SeaUnitOfWork::new(connect(&impatient).await.unwrap());

    let first = uow.begin_tx().await.unwrap();
    assert_eq!(first.balance_for_update(ann).await.unwrap(), 100);

    let second = other.begin_tx().await.unwrap();
    match second.balance_for_update(ann).await {
        // the impatient session gave up waiting: ann's lock is held by the first transaction
        Err(AppError::Internal { detail }) if detail.contains("lock timeout") => {}
        other => panic!("expected a lock timeout, got {other:?}"),
    }
    drop(second);
    let second = other.begin_tx().await.unwrap();
    assert_eq!(
        second.balance_for_update(bob).await.unwrap(),
        0,
        "bob's lock is free"
    );
    // a plain balance read does not wait
    assert_eq!(second.balance(ann).await.unwrap(), 100);
    drop(second);

    first
        .append(NewLoyaltyEntry::redeemed(ann, BookingId(2), 40, at(1)))
        .await
        .unwrap();
    first.commit_tx().await.unwrap();

    let second = other.begin_tx().await.unwrap();
    assert_eq!(second.balance_for_update(ann).await.unwrap(), 60);
}
