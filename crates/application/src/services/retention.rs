//! The `retention` job's use case: deletes and archives what is past its keep-by date, in
//! small batches (one transaction each) so a large backlog never holds long locks.

use std::sync::Arc;

use domain::Timestamp;

use crate::AppError;
use crate::clock::Clock;
use crate::ports::Tx;
use crate::ports::UnitOfWork;

/// How long things are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Audit lines (`app.audit.retain_days`, 90 days).
    pub audit: chrono::Duration,
    /// Finished bookings and their payments move to the archive tables after this (1 year).
    pub bookings: chrono::Duration,
    /// Sent outbox rows (`outbox.retain_sent_days`).
    pub sent_outbox: chrono::Duration,
    /// Rows per transaction.
    pub batch: u32,
    /// Batches per step and run: bounds one run; the next run goes on.
    pub max_batches: u32,
}

#[derive(Clone)]
pub struct RetentionService {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
    settings: RetentionSettings,
}

impl std::fmt::Debug for RetentionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetentionService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What one retention run removed or moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    pub audit_purged: u64,
    pub bookings_archived: u64,
    pub idempotency_keys_purged: u64,
    pub outbox_purged: u64,
}

impl RetentionReport {
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.audit_purged
            + self.bookings_archived
            + self.idempotency_keys_purged
            + self.outbox_purged
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Audit,
    Bookings,
    IdempotencyKeys,
    Outbox,
}

impl RetentionService {
    #[must_use]
    pub fn new(
        uow: Arc<dyn UnitOfWork>,
        clock: Arc<dyn Clock>,
        settings: RetentionSettings,
    ) -> Self {
        Self {
            uow,
            clock,
            settings,
        }
    }

    #[tracing::instrument(name = "RetentionService.run", skip_all)]
    pub async fn run(&self) -> Result<RetentionReport, AppError> {
        let now = self.clock.now();
        let s = &self.settings;
        Ok(RetentionReport {
            audit_purged: self.batches(Step::Audit, now - s.audit).await?,
            bookings_archived: self.batches(Step::Bookings, now - s.bookings).await?,
            idempotency_keys_purged: self.batches(Step::IdempotencyKeys, now).await?,
            outbox_purged: self.batches(Step::Outbox, now - s.sent_outbox).await?,
        })
    }

    async fn batches(&self, step: Step, before: Timestamp) -> Result<u64, AppError> {
        let limit = self.settings.batch;
        let mut total = 0;
        for _ in 0..self.settings.max_batches {
            let tx = self.uow.begin().await?;
            let done = Self::step(tx.as_ref(), step, before, limit).await?;
            tx.commit().await?;
            total += done;
            if done < u64::from(limit) {
                break;
            }
        }
        Ok(total)
    }

    async fn step(tx: &dyn Tx, step: Step, before: Timestamp, limit: u32) -> Result<u64, AppError> {
        match step {
            Step::Audit => tx.audit().purge_before(before, limit).await,
            Step::Bookings => tx.bookings().archive_before(before, limit).await,
            Step::IdempotencyKeys => tx.idempotency().purge_expired(before, limit).await,
            Step::Outbox => tx.outbox().purge_sent_before(before, limit).await,
        }
    }
}
