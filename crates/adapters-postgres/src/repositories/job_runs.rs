//! `JobRunStore` on `job_runs`, and the per-job lock.
//!
//! `try_lock` takes `pg_try_advisory_xact_lock(key)` on PostgreSQL, with a key hashed from the
//! job name (see `advisory`), held until the transaction ends; SQLite runs one connection, so
//! a single instance runs the jobs and the lock is always granted.

use async_trait::async_trait;
use domain::Timestamp;
use ports::AppError;
use ports::{JobOutcome, JobRunStore, JobRunSummary};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ActiveModelTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, Set};

use super::advisory;
use crate::entities::job_runs as row;
use crate::error::{corrupt, db_err};
use crate::tx::SeaTx;

/// Advisory-lock namespace of the job locks.
const LOCK_NAMESPACE: &str = "job_runs.job";

const SUCCEEDED: &str = "SUCCEEDED";
const FAILED: &str = "FAILED";
const SKIPPED: &str = "SKIPPED";

fn processed_column(processed: u64) -> i64 {
    i64::try_from(processed).unwrap_or(i64::MAX)
}

/// The stored columns of an outcome: (outcome, processed, error).
fn outcome_columns(outcome: &JobOutcome) -> (&'static str, i64, Option<String>) {
    match outcome {
        JobOutcome::Succeeded { processed } => (SUCCEEDED, processed_column(*processed), None),
        JobOutcome::Failed { processed, error } => {
            (FAILED, processed_column(*processed), Some(error.clone()))
        }
        JobOutcome::Skipped => (SKIPPED, 0, None),
    }
}

fn to_summary(m: row::Model) -> Result<JobRunSummary, AppError> {
    if ![SUCCEEDED, FAILED, SKIPPED].contains(&m.outcome.as_str()) {
        return Err(corrupt(format!("job_runs.outcome = '{}'", m.outcome)));
    }
    let processed = u64::try_from(m.processed)
        .map_err(|_| corrupt(format!("job_runs.processed = {}", m.processed)))?;
    Ok(JobRunSummary {
        job: m.job,
        started_at: m.started_at,
        finished_at: Some(m.finished_at),
        processed,
        error: m.error,
        instance: m.instance,
    })
}

#[async_trait]
impl JobRunStore for SeaTx {
    async fn try_lock(&self, job: &str) -> Result<bool, AppError> {
        if self.backend() != DatabaseBackend::Postgres {
            return Ok(true);
        }
        let key = advisory::key(LOCK_NAMESPACE, job.as_bytes());
        advisory::try_lock(self.conn(), key).await.map_err(db_err)
    }

    async fn record(
        &self,
        job: &str,
        instance: &str,
        started_at: Timestamp,
        finished_at: Timestamp,
        outcome: &JobOutcome,
    ) -> Result<(), AppError> {
        let (outcome, processed, error) = outcome_columns(outcome);
        let model = row::ActiveModel {
            job: Set(job.to_owned()),
            instance: Set(instance.to_owned()),
            started_at: Set(started_at),
            finished_at: Set(finished_at),
            outcome: Set(outcome.to_owned()),
            processed: Set(processed),
            error: Set(error),
            ..Default::default()
        };
        model.insert(self.conn()).await.map_err(db_err)?;
        Ok(())
    }

    async fn latest(&self) -> Result<Vec<JobRunSummary>, AppError> {
        // the newest run per job: no run of the same job started later (ties: higher id)
        const LATER: &str = "later";
        let later_run = Query::select()
            .expr(Expr::val(1))
            .from_as(row::Entity, LATER)
            .and_where(Expr::col((LATER, row::Column::Job)).equals((row::Entity, row::Column::Job)))
            .and_where(
                Expr::col((LATER, row::Column::StartedAt))
                    .gt(Expr::col((row::Entity, row::Column::StartedAt)))
                    .or(Expr::col((LATER, row::Column::StartedAt))
                        .eq(Expr::col((row::Entity, row::Column::StartedAt)))
                        .and(
                            Expr::col((LATER, row::Column::Id))
                                .gt(Expr::col((row::Entity, row::Column::Id))),
                        )),
            )
            .to_owned();
        let rows = row::Entity::find()
            .filter(Expr::not_exists(later_run))
            .order_by_asc(row::Column::Job)
            .all(self.conn())
            .await
            .map_err(db_err)?;
        rows.into_iter().map(to_summary).collect()
    }
}
