//! OutboxStore on PostgreSQL and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::rows;
use test_db::on_both_backends;

use adapters_postgres::SeaUnitOfWork;
use adapters_postgres::entities::outbox;
use chrono::{Duration, TimeZone, Utc};
use domain::Timestamp;
use ports::outbox::{DomainEventType, OutboxMessage};
use ports::{OutboxStats, OutboxStore};
use sea_orm::{EntityTrait, PaginatorTrait, Set};

/// Enqueues `m` and answers its id: a read of the outbox writes the rows the transaction
/// appended (they wait for the commit otherwise), then the newest id is the one just written.
async fn enqueue(tx: &adapters_postgres::SeaTx, m: OutboxMessage) -> i64 {
    tx.enqueue(m).await.unwrap();
    tx.stats().await.unwrap();
    outbox::Entity::find()
        .all(tx.conn_for_tests())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .max()
        .unwrap()
}

fn at(minutes: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2027, 5, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn message(aggregate: &'static str, id: i64, version: i64, minute: i64) -> OutboxMessage {
    let kind = if aggregate == "booking" {
        DomainEventType::BookingConfirmed
    } else {
        DomainEventType::EventUpdated
    };
    OutboxMessage::new(
        kind,
        aggregate,
        id,
        version,
        serde_json::json!({"id": id, "version": version}),
        at(minute),
    )
}

fn ids(records: &[ports::outbox::OutboxRecord]) -> Vec<i64> {
    records.iter().map(|r| r.id).collect()
}

on_both_backends!(enqueue_claim_and_mark_sent, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(tx.stats().await.unwrap(), OutboxStats::default());
    let first = message("event", 7, 1, 0);
    let a = enqueue(&tx, first.clone()).await;
    let b = enqueue(&tx, message("booking", 40, 1, 1)).await;
    let c = enqueue(&tx, message("event", 8, 3, 5)).await;
    assert!(a < b && b < c, "ids grow in write order");
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(
        tx.stats().await.unwrap(),
        OutboxStats {
            unsent: 3,
            oldest_unsent_at: Some(at(0)),
        }
    );
    // only what is due at `now`, in id order
    let due = tx.claim_batch(at(1), 10).await.unwrap();
    assert_eq!(ids(&due), [a, b]);
    assert_eq!(due[0].message, first);
    assert_eq!((due[0].attempts, due[0].created_at), (0, at(0)));
    assert_eq!(due[1].message.aggregate_type, "booking");
    assert_eq!(due[1].message.event_type, DomainEventType::BookingConfirmed);
    assert_eq!(
        ids(&tx.claim_batch(at(9), 2).await.unwrap()),
        [a, b],
        "limit"
    );
    assert!(tx.claim_batch(at(9), 0).await.unwrap().is_empty());
    tx.mark_sent(&[a, b], at(10)).await.unwrap();
    tx.mark_sent(&[], at(10)).await.unwrap();
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(ids(&tx.claim_batch(at(9), 10).await.unwrap()), [c]);
    assert_eq!(
        tx.stats().await.unwrap(),
        OutboxStats {
            unsent: 1,
            oldest_unsent_at: Some(at(5)),
        }
    );
    // marking again does not move the first sent_at
    tx.mark_sent(&[a], at(50)).await.unwrap();
    tx.commit_tx().await.unwrap();
    // (fixtures and checks use the pool only between transactions: SQLite has one connection)
    let row = outbox::Entity::find_by_id(a)
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.sent_at, Some(at(10)));
});

on_both_backends!(
    failures_are_retried_later_and_keep_the_aggregate_in_order,
    |t| {
        let uow = SeaUnitOfWork::new(t.db.clone());
        let tx = uow.begin_tx().await.unwrap();
        let a1 = enqueue(&tx, message("booking", 1, 1, 0)).await;
        let b1 = enqueue(&tx, message("booking", 2, 1, 0)).await;
        let a2 = enqueue(&tx, message("booking", 1, 2, 1)).await;
        // same id, another aggregate type: another aggregate
        let e1 = enqueue(&tx, message("event", 1, 1, 1)).await;
        let b2 = enqueue(&tx, message("booking", 2, 2, 2)).await;
        let a3 = enqueue(&tx, message("booking", 1, 3, 2)).await;
        tx.commit_tx().await.unwrap();

        let tx = uow.begin_tx().await.unwrap();
        let batch = tx.claim_batch(at(5), 10).await.unwrap();
        assert_eq!(ids(&batch), [a1, b1, a2, e1, b2, a3]);
        tx.mark_failed(a1, "broker said no", at(60)).await.unwrap();
        tx.mark_sent(&[b1, e1], at(5)).await.unwrap();
        let err = tx.mark_failed(9_999, "x", at(60)).await.unwrap_err();
        assert_eq!(err.code(), "NOT_FOUND");
        tx.commit_tx().await.unwrap();

        let row = outbox::Entity::find_by_id(a1)
            .one(&t.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.attempts, 1);
        assert_eq!(row.last_error.as_deref(), Some("broker said no"));
        assert_eq!(row.next_attempt_at, at(60));

        let tx = uow.begin_tx().await.unwrap();
        // booking 1 waits for a1's retry time; booking 2 proceeds
        assert_eq!(ids(&tx.claim_batch(at(6), 10).await.unwrap()), [b2]);
        assert_eq!(
            tx.stats().await.unwrap(),
            OutboxStats {
                unsent: 4,
                oldest_unsent_at: Some(at(0)),
            }
        );
        // a second failure counts again
        tx.mark_failed(a1, "still down", at(120)).await.unwrap();
        assert!(
            tx.claim_batch(at(60), 10)
                .await
                .unwrap()
                .iter()
                .all(|r| r.id == b2)
        );
        let due = tx.claim_batch(at(120), 10).await.unwrap();
        assert_eq!(ids(&due), [a1, a2, b2, a3]);
        assert_eq!(due[0].attempts, 2);
    }
);

on_both_backends!(purge_deletes_sent_rows_only, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let mut written = Vec::new();
    for i in 0..5 {
        written.push(enqueue(&tx, message("event", i, 1, i)).await);
    }
    tx.mark_sent(&written[..2], at(10)).await.unwrap();
    tx.mark_sent(&written[2..4], at(20)).await.unwrap();
    assert_eq!(
        tx.purge_sent_before(at(10), 10).await.unwrap(),
        0,
        "strictly before"
    );
    assert_eq!(tx.purge_sent_before(at(30), 0).await.unwrap(), 0);
    assert_eq!(tx.purge_sent_before(at(30), 3).await.unwrap(), 3);
    assert_eq!(tx.purge_sent_before(at(30), 3).await.unwrap(), 1);
    assert_eq!(
        tx.purge_sent_before(at(99), 3).await.unwrap(),
        0,
        "unsent rows stay"
    );
    tx.commit_tx().await.unwrap();
    let left = outbox::Entity::find().all(&t.db).await.unwrap();
    assert_eq!(left.iter().map(|m| m.id).collect::<Vec<_>>(), [written[4]]);
});

on_both_backends!(stored_event_types_the_code_does_not_know_are_corrupt, |t| {
    let row = outbox::ActiveModel {
        event_type: Set("event.exploded".into()),
        aggregate_type: Set("event".into()),
        aggregate_id: Set("1".into()),
        aggregate_version: Set(1),
        payload: Set(serde_json::json!({})),
        occurred_at: Set(at(0)),
        created_at: Set(at(0)),
        attempts: Set(0),
        next_attempt_at: Set(at(0)),
        last_error: Set(None),
        sent_at: Set(None),
        ..Default::default()
    };
    let (_, tx) = rows::stored_then_begin(&t.db, row).await;
    rows::assert_corrupt(&tx.claim_batch(at(1), 10).await.unwrap_err());
    drop(tx);
    assert_eq!(outbox::Entity::find().count(&t.db).await.unwrap(), 1);
});

/// PostgreSQL: two relays claiming at the same time get disjoint rows (SKIP LOCKED), and a
/// relay never takes a row whose aggregate's earlier row is held by the other relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_relays_claim_disjoint_rows_in_aggregate_order_on_postgres() {
    let Some(t) = test_db::TestDb::migrated(test_db::Backend::Postgres).await else {
        return;
    };
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let a1 = enqueue(&tx, message("event", 1, 1, 0)).await;
    let b1 = enqueue(&tx, message("event", 2, 1, 0)).await;
    let a2 = enqueue(&tx, message("event", 1, 2, 1)).await;
    let c1 = enqueue(&tx, message("event", 3, 1, 1)).await;
    let b2 = enqueue(&tx, message("event", 2, 2, 2)).await;
    let d1 = enqueue(&tx, message("event", 4, 1, 2)).await;
    tx.commit_tx().await.unwrap();

    // relay 1 holds the first two rows (events 1 and 2) while relay 2 claims
    let relay1 = uow.begin_tx().await.unwrap();
    assert_eq!(ids(&relay1.claim_batch(at(5), 2).await.unwrap()), [a1, b1]);
    let relay2 = uow.begin_tx().await.unwrap();
    let second = relay2.claim_batch(at(5), 10).await.unwrap();
    // a2 and b2 are skipped: their aggregates' earlier rows are with relay 1
    assert_eq!(ids(&second), [c1, d1]);
    relay2.mark_sent(&[c1, d1], at(6)).await.unwrap();
    relay2.commit_tx().await.unwrap();

    // relay 1 publishes a1 and fails b1: event 1 goes on, event 2 waits for b1's retry
    relay1.mark_sent(&[a1], at(6)).await.unwrap();
    relay1.mark_failed(b1, "nack", at(30)).await.unwrap();
    relay1.commit_tx().await.unwrap();

    let relay1 = uow.begin_tx().await.unwrap();
    assert_eq!(ids(&relay1.claim_batch(at(7), 10).await.unwrap()), [a2]);
    let relay2 = uow.begin_tx().await.unwrap();
    assert!(
        relay2.claim_batch(at(7), 10).await.unwrap().is_empty(),
        "a2 is locked by relay 1, b2 waits for b1"
    );
    relay2.rollback_tx().await.unwrap();
    relay1.rollback_tx().await.unwrap();

    let relay = uow.begin_tx().await.unwrap();
    assert_eq!(
        ids(&relay.claim_batch(at(30), 10).await.unwrap()),
        [b1, a2, b2]
    );
}
