//! IdempotencyStore on PostgreSQL and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use test_db::on_both_backends;

use adapters_postgres::SeaUnitOfWork;
use adapters_postgres::entities::idempotency_keys;
use chrono::{Duration, TimeZone, Utc};
use domain::{Timestamp, UserId};
use ports::{IdempotencyRecord, IdempotencyStore};
use sea_orm::{EntityTrait, PaginatorTrait};

const BOOKINGS: &str = "POST /api/v1/bookings";

fn at(minutes: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2027, 5, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn user(n: u128) -> UserId {
    UserId(uuid::Uuid::from_u128(n))
}

fn record(key: &str, user_id: Option<UserId>, operation: &str, expires: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.into(),
        user_id,
        operation: operation.into(),
        request_hash: format!("sha256:{key}"),
        response_status: 201,
        response_body: br#"{"id":17}"#.to_vec(),
        created_at: at(0),
        expires_at: at(expires),
    }
}

on_both_backends!(save_and_find_are_scoped_by_user_and_operation, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let anonymous = record("k-1", None, BOOKINGS, 60);
    let ann = record("k-1", Some(user(1)), BOOKINGS, 60);
    let other_operation = IdempotencyRecord {
        response_status: 409,
        response_body: Vec::new(),
        ..record("k-1", Some(user(1)), "POST /api/v1/payments", 60)
    };
    for r in [&anonymous, &ann, &other_operation] {
        tx.save(r.clone()).await.unwrap();
    }
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(
        tx.find("k-1", None, BOOKINGS).await.unwrap().unwrap(),
        anonymous
    );
    assert_eq!(
        tx.find("k-1", Some(user(1)), BOOKINGS)
            .await
            .unwrap()
            .unwrap(),
        ann
    );
    assert_eq!(
        tx.find("k-1", Some(user(1)), "POST /api/v1/payments")
            .await
            .unwrap()
            .unwrap(),
        other_operation
    );
    assert!(
        tx.find("k-1", Some(user(2)), BOOKINGS)
            .await
            .unwrap()
            .is_none()
    );
    assert!(tx.find("k-2", None, BOOKINGS).await.unwrap().is_none());
});

on_both_backends!(
    a_duplicate_key_conflicts_and_the_transaction_stays_usable,
    |t| {
        let uow = SeaUnitOfWork::new(t.db.clone());
        let tx = uow.begin_tx().await.unwrap();
        let first = record("k-1", Some(user(1)), BOOKINGS, 60);
        tx.save(first.clone()).await.unwrap();
        let second_body = IdempotencyRecord {
            request_hash: "sha256:other".into(),
            ..first.clone()
        };
        let err = tx.save(second_body).await.unwrap_err();
        assert_eq!(err.code(), "IDEMPOTENCY_KEY_IN_USE");
        // the failed insert rolled back to its savepoint: the transaction goes on
        assert_eq!(
            tx.find("k-1", Some(user(1)), BOOKINGS)
                .await
                .unwrap()
                .unwrap(),
            first
        );
        tx.save(record("k-2", Some(user(1)), BOOKINGS, 60))
            .await
            .unwrap();
        tx.commit_tx().await.unwrap();

        let tx = uow.begin_tx().await.unwrap();
        assert!(
            tx.find("k-2", Some(user(1)), BOOKINGS)
                .await
                .unwrap()
                .is_some()
        );
        // a committed key conflicts from another transaction too
        let err = tx.save(first.clone()).await.unwrap_err();
        assert_eq!(err.code(), "IDEMPOTENCY_KEY_IN_USE");
        tx.commit_tx().await.unwrap();
        assert_eq!(
            idempotency_keys::Entity::find().count(&t.db).await.unwrap(),
            2
        );
    }
);

on_both_backends!(purge_removes_expired_keys_in_batches, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    for (i, expires) in [10, 20, 30, 40].into_iter().enumerate() {
        tx.save(record(&format!("k-{i}"), None, BOOKINGS, expires))
            .await
            .unwrap();
    }
    tx.save(record("k-user", Some(user(1)), BOOKINGS, 15))
        .await
        .unwrap();
    assert_eq!(tx.purge_expired(at(5), 10).await.unwrap(), 0);
    assert_eq!(tx.purge_expired(at(30), 0).await.unwrap(), 0);
    // expired at 30: k-0 (10), k-user (15), k-1 (20), k-2 (30, expiring at this instant)
    assert_eq!(tx.purge_expired(at(30), 2).await.unwrap(), 2);
    assert!(tx.find("k-0", None, BOOKINGS).await.unwrap().is_none());
    assert!(
        tx.find("k-user", Some(user(1)), BOOKINGS)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        tx.find("k-1", None, BOOKINGS).await.unwrap().is_some(),
        "the oldest go first"
    );
    assert_eq!(tx.purge_expired(at(30), 10).await.unwrap(), 2);
    tx.commit_tx().await.unwrap();
    let left = idempotency_keys::Entity::find().all(&t.db).await.unwrap();
    assert_eq!(
        left.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(),
        ["k-3"]
    );
});
