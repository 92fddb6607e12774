//! The job runner on a real database: two instances (two `JobService`s, as two processes
//! would have) running one job at once — one runs, the other is skipped by the PostgreSQL
//! advisory lock; on SQLite (single instance) the in-process guard does the same. The run is
//! recorded in `job_runs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use application::clock::ManualClock;
use application::ports::{JobOutcome, UnitOfWork};
use application::services::{JobLocking, JobSchedule, JobService};
use application::{Actor, RequestContext, Role};
use chrono::{TimeZone, Utc};
use domain::UserId;
use test_db::on_both_backends;
use tokio::sync::Notify;

/// A job that signals when it starts and finishes only when released.
struct Gate {
    started: Notify,
    release: Notify,
    runs: AtomicU64,
}

fn instance(
    uow: Arc<dyn UnitOfWork>,
    name: &str,
    locking: JobLocking,
    gate: &Arc<Gate>,
) -> JobService {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
    ));
    let gate = Arc::clone(gate);
    JobService::registry(uow, clock, name, locking)
        .register("slow", JobSchedule::Manual, move |_| {
            let gate = Arc::clone(&gate);
            async move {
                gate.runs.fetch_add(1, Ordering::SeqCst);
                gate.started.notify_one();
                gate.release.notified().await;
                Ok(3)
            }
        })
        .build()
}

on_both_backends!(two_concurrent_runs_of_one_job_give_one_skipped, |db| {
    let uow: Arc<dyn UnitOfWork> = Arc::new(db.uow());
    let gate = Arc::new(Gate {
        started: Notify::new(),
        release: Notify::new(),
        runs: AtomicU64::new(0),
    });
    let (locking, a, b) = match db.backend {
        test_db::Backend::Postgres => {
            let a = instance(Arc::clone(&uow), "node-a", JobLocking::Database, &gate);
            let b = instance(Arc::clone(&uow), "node-b", JobLocking::Database, &gate);
            (JobLocking::Database, a, b)
        }
        test_db::Backend::Sqlite => {
            let a = instance(Arc::clone(&uow), "node-a", JobLocking::InProcess, &gate);
            (JobLocking::InProcess, a.clone(), a)
        }
    };

    let first = tokio::spawn({
        let a = a.clone();
        async move { a.run_scheduled("slow").await }
    });
    gate.started.notified().await;
    let second = b.run_scheduled("slow").await.unwrap();
    assert_eq!(second.outcome, JobOutcome::Skipped, "{locking:?}");
    gate.release.notify_one();
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.outcome, JobOutcome::Succeeded { processed: 3 });
    assert_eq!(gate.runs.load(Ordering::SeqCst), 1);

    // the lock went with the first run's transaction: the other instance runs now
    let again = tokio::spawn({
        let b = b.clone();
        async move { b.run_scheduled("slow").await }
    });
    gate.started.notified().await;
    gate.release.notify_one();
    let again = again.await.unwrap().unwrap();
    assert_eq!(again.outcome, JobOutcome::Succeeded { processed: 3 });

    let admin = RequestContext::new(Actor::authenticated(
        UserId(uuid::Uuid::from_u128(9)),
        [Role::Admin],
    ));
    let tasks = a.scheduled_tasks(&admin).await.unwrap();
    let last = tasks[0].last_run.as_ref().expect("recorded");
    assert_eq!(tasks[0].name, "slow");
    assert_eq!(last.processed, 3);
    let expected_instance = if locking == JobLocking::Database {
        "node-b"
    } else {
        "node-a"
    };
    assert_eq!(last.instance, expected_instance);
});

on_both_backends!(retention_removes_only_what_is_past_its_date, |db| {
    use application::clock::Clock;
    use application::ports::{AuditEntry, AuditQuery, IdempotencyRecord};
    use application::services::{RetentionService, RetentionSettings};

    let uow: Arc<dyn UnitOfWork> = Arc::new(db.uow());
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2030, 6, 1, 0, 0, 0).unwrap(),
    ));
    let now = clock.now();
    let system = RequestContext::system("test");
    let tx = uow.begin().await.unwrap();
    for (id, age_days) in [(1, 120), (2, 91), (3, 89), (4, 1)] {
        tx.audit()
            .record(AuditEntry::by(
                &system,
                "x.test",
                "thing",
                id,
                now - chrono::Duration::days(age_days),
            ))
            .await
            .unwrap();
    }
    for (key, expires_in_hours) in [("old", -1), ("live", 1)] {
        tx.idempotency()
            .save(IdempotencyRecord {
                key: key.to_owned(),
                user_id: None,
                operation: "POST /test".to_owned(),
                request_hash: "h".to_owned(),
                response_status: 200,
                response_body: b"{}".to_vec(),
                created_at: now - chrono::Duration::days(1),
                expires_at: now + chrono::Duration::hours(expires_in_hours),
            })
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let retention = RetentionService::new(
        Arc::clone(&uow),
        clock.clone(),
        RetentionSettings {
            audit: chrono::Duration::days(90),
            bookings: chrono::Duration::days(365),
            sent_outbox: chrono::Duration::days(7),
            // one row per batch: the loop over batches is exercised too
            batch: 1,
            max_batches: 10,
        },
    );
    let report = retention.run().await.unwrap();
    assert_eq!(report.audit_purged, 2, "{report:?}");
    assert_eq!(report.idempotency_keys_purged, 1, "{report:?}");
    assert_eq!(report.total(), 3, "{report:?}");

    let tx = uow.begin().await.unwrap();
    let left = tx.audit().search(&AuditQuery::default()).await.unwrap();
    let mut ids: Vec<String> = left
        .items
        .iter()
        .map(|r| r.entry.entity_id.clone())
        .collect();
    ids.sort();
    assert_eq!(ids, ["3", "4"]);
    assert!(
        tx.idempotency()
            .find("live", None, "POST /test")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        tx.idempotency()
            .find("old", None, "POST /test")
            .await
            .unwrap()
            .is_none()
    );
    drop(tx);
    assert_eq!(
        retention.run().await.unwrap().total(),
        0,
        "nothing left to remove"
    );
});
