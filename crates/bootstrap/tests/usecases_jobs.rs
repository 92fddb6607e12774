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

mod common_db;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use application::clock::ManualClock;
use application::ports::{JobOutcome, UnitOfWork};
use application::services::{JobLocking, JobSchedule, JobService};
use application::{Actor, RequestContext, Role};
use chrono::{TimeZone, Utc};
use domain::UserId;
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
    let uow: Arc<dyn UnitOfWork> = Arc::new(db.uow.clone());
    let gate = Arc::new(Gate {
        started: Notify::new(),
        release: Notify::new(),
        runs: AtomicU64::new(0),
    });
    let (locking, a, b) = match db.backend {
        common_db::Backend::Postgres => {
            let a = instance(Arc::clone(&uow), "node-a", JobLocking::Database, &gate);
            let b = instance(Arc::clone(&uow), "node-b", JobLocking::Database, &gate);
            (JobLocking::Database, a, b)
        }
        common_db::Backend::Sqlite => {
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
