//! JobRunStore on PostgreSQL and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use test_db::on_both_backends;

use adapters_postgres::SeaUnitOfWork;
use chrono::{Duration, TimeZone, Utc};
use domain::Timestamp;
use ports::{JobOutcome, JobRunStore, JobRunSummary};

fn at(minutes: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2027, 5, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

on_both_backends!(record_and_latest_run_per_job, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    assert!(tx.latest().await.unwrap().is_empty());
    let runs = [
        (
            "outbox-relay",
            "node-a",
            0,
            JobOutcome::Succeeded { processed: 5 },
        ),
        (
            "outbox-relay",
            "node-b",
            10,
            JobOutcome::Failed {
                processed: 2,
                error: "broker unavailable".into(),
            },
        ),
        ("expire-bookings", "node-a", 20, JobOutcome::Skipped),
        // recorded later, but started before node-b's relay run
        (
            "outbox-relay",
            "node-c",
            5,
            JobOutcome::Succeeded { processed: 9 },
        ),
        (
            "expire-bookings",
            "node-b",
            3,
            JobOutcome::Succeeded { processed: 1 },
        ),
    ];
    for (job, instance, start, outcome) in &runs {
        tx.record(job, instance, at(*start), at(*start + 1), outcome)
            .await
            .unwrap();
    }
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(
        tx.latest().await.unwrap(),
        [
            JobRunSummary {
                job: "expire-bookings".into(),
                started_at: at(20),
                finished_at: Some(at(21)),
                processed: 0,
                error: None,
                instance: "node-a".into(),
            },
            JobRunSummary {
                job: "outbox-relay".into(),
                started_at: at(10),
                finished_at: Some(at(11)),
                processed: 2,
                error: Some("broker unavailable".into()),
                instance: "node-b".into(),
            },
        ]
    );

    // two runs starting at the same instant: the one recorded last is the latest
    tx.record(
        "expire-bookings",
        "node-c",
        at(20),
        at(25),
        &JobOutcome::Succeeded { processed: 4 },
    )
    .await
    .unwrap();
    let latest = tx.latest().await.unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!(
        (
            latest[0].instance.as_str(),
            latest[0].processed,
            latest[0].finished_at
        ),
        ("node-c", 4, Some(at(25)))
    );
});

on_both_backends!(try_lock_is_granted_to_a_lone_instance, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    assert!(tx.try_lock("outbox-relay").await.unwrap());
    // the same transaction may ask again
    assert!(tx.try_lock("outbox-relay").await.unwrap());
    assert!(tx.try_lock("expire-bookings").await.unwrap());
    tx.commit_tx().await.unwrap();
    let tx = uow.begin_tx().await.unwrap();
    assert!(tx.try_lock("outbox-relay").await.unwrap());
});

/// PostgreSQL: the job lock is exclusive between open transactions and released at commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_lock_is_exclusive_between_transactions_on_postgres() {
    let Some(t) = test_db::TestDb::migrated(test_db::Backend::Postgres).await else {
        return;
    };
    // a job name of its own, though advisory locks are per database and the database is the
    // test's own
    let job = format!("job-{}", uuid::Uuid::new_v4());
    let uow = SeaUnitOfWork::new(t.db.clone());
    let first = uow.begin_tx().await.unwrap();
    let second = uow.begin_tx().await.unwrap();
    assert!(first.try_lock(&job).await.unwrap());
    assert!(!second.try_lock(&job).await.unwrap(), "held by the first");
    let other_job = format!("{job}-other");
    assert!(
        second.try_lock(&other_job).await.unwrap(),
        "another job is free"
    );
    assert!(!first.try_lock(&other_job).await.unwrap());
    first.commit_tx().await.unwrap();
    assert!(
        second.try_lock(&job).await.unwrap(),
        "free again after commit"
    );
    second.rollback_tx().await.unwrap(); // rollback releases too
    let third = uow.begin_tx().await.unwrap();
    assert!(third.try_lock(&job).await.unwrap());
    assert!(third.try_lock(&other_job).await.unwrap());
}
