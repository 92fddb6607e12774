//! Records kept beside the business data: audit log, outbox, idempotency keys, job runs.

use async_trait::async_trait;
use domain::{Timestamp, UserId};

use crate::outbox::{OutboxMessage, OutboxRecord};
use crate::{AppError, Page, PageRequest, RequestContext, Role};

/// One audit line: who did what to which object, with a before/after summary.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub actor_id: Option<UserId>,
    pub actor_role: Role,
    /// `event.create`, `booking.cancel`, …
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub created_at: Timestamp,
}

impl AuditEntry {
    /// An entry for `ctx`'s caller.
    #[must_use]
    pub fn by(
        ctx: &RequestContext,
        action: impl Into<String>,
        entity_type: &str,
        entity_id: impl ToString,
        at: Timestamp,
    ) -> Self {
        Self {
            actor_id: ctx.actor.user_id(),
            actor_role: ctx.actor.role(),
            action: action.into(),
            entity_type: entity_type.to_owned(),
            entity_id: entity_id.to_string(),
            before: None,
            after: None,
            request_id: ctx.request_id.clone(),
            client_ip: ctx.client_ip.clone(),
            created_at: at,
        }
    }

    /// The snapshots before and after the change, with ticket codes, references, tokens and
    /// e-mail addresses masked ([`crate::redaction::redact_json`]).
    #[must_use]
    pub fn with_change(
        mut self,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Self {
        self.before = before;
        self.after = after;
        self.redact();
        self
    }

    /// Masks what the audit log must not hold in clear; the audit store calls it on every
    /// entry it writes, however the entry was built.
    pub fn redact(&mut self) {
        for snapshot in [&mut self.before, &mut self.after].into_iter().flatten() {
            crate::redaction::redact_json(snapshot);
        }
    }
}

/// A stored audit line.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub entry: AuditEntry,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    pub actor_id: Option<UserId>,
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub page: PageRequest,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, entry: AuditEntry) -> Result<(), AppError>;
    async fn search(&self, query: &AuditQuery) -> Result<Page<AuditRecord>, AppError>;
    /// Deletes up to `limit` lines older than `before`; answers how many.
    async fn purge_before(&self, before: Timestamp, limit: u32) -> Result<u64, AppError>;
}

/// The relay's view of the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    pub unsent: u64,
    pub oldest_unsent_at: Option<Timestamp>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Writes a domain event in the caller's transaction (it is stored no later than the
    /// commit, and read back by any later read of the outbox in the same transaction).
    async fn enqueue(&self, message: OutboxMessage) -> Result<(), AppError>;
    /// The oldest unsent rows whose retry time has come, in id order, locked and skipped by
    /// other relay instances. A row is never returned while an earlier unsent row of the same
    /// aggregate is held back, so per-aggregate order is kept.
    async fn claim_batch(&self, now: Timestamp, limit: u32) -> Result<Vec<OutboxRecord>, AppError>;
    async fn mark_sent(&self, ids: &[i64], at: Timestamp) -> Result<(), AppError>;
    /// Records a failed attempt and when to try again.
    async fn mark_failed(&self, id: i64, error: &str, retry_at: Timestamp) -> Result<(), AppError>;
    async fn stats(&self) -> Result<OutboxStats, AppError>;
    /// Deletes sent rows older than `before`.
    async fn purge_sent_before(&self, before: Timestamp, limit: u32) -> Result<u64, AppError>;
}

/// The `response_status` of a key whose first request is still running.
pub const IDEMPOTENCY_IN_PROGRESS: u16 = 102;

/// A stored response for an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The key as sent, scoped by the caller and the operation.
    pub key: String,
    pub user_id: Option<UserId>,
    /// `POST /api/v1/bookings`, …
    pub operation: String,
    /// Hash of the request body: same key with another body is refused (422).
    pub request_hash: String,
    pub response_status: u16,
    pub response_body: Vec<u8>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    async fn find(
        &self,
        key: &str,
        user_id: Option<UserId>,
        operation: &str,
    ) -> Result<Option<IdempotencyRecord>, AppError>;
    /// Stores the first response; a concurrent insert of the same key is
    /// `Conflict { code: ErrorCode::IdempotencyKeyInUse }`.
    async fn save(&self, record: IdempotencyRecord) -> Result<(), AppError>;
    /// Stores the final response of a reserved key.
    async fn complete(
        &self,
        key: &str,
        user_id: Option<UserId>,
        operation: &str,
        response_status: u16,
        response_body: Vec<u8>,
    ) -> Result<(), AppError>;
    /// Forgets a reserved key (the request failed in a way worth retrying).
    async fn release(
        &self,
        key: &str,
        user_id: Option<UserId>,
        operation: &str,
    ) -> Result<(), AppError>;
    async fn purge_expired(&self, now: Timestamp, limit: u32) -> Result<u64, AppError>;
}

/// How a job run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Succeeded {
        processed: u64,
    },
    Failed {
        processed: u64,
        error: String,
    },
    /// Another instance held the job's lock.
    Skipped,
}

/// The last run of a job, for `/actuator/scheduledtasks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRunSummary {
    pub job: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub processed: u64,
    pub error: Option<String>,
    pub instance: String,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait JobRunStore: Send + Sync {
    /// Takes the job's lock for this transaction (PostgreSQL advisory lock); `false` when
    /// another instance is running it.
    async fn try_lock(&self, job: &str) -> Result<bool, AppError>;
    async fn record(
        &self,
        job: &str,
        instance: &str,
        started_at: Timestamp,
        finished_at: Timestamp,
        outcome: &JobOutcome,
    ) -> Result<(), AppError>;
    /// The latest run of every job.
    async fn latest(&self) -> Result<Vec<JobRunSummary>, AppError>;
}
