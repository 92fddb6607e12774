//! `OutboxStore` on `outbox`: the transactional outbox the relay publishes from.
//!
//! Rows are written by `enqueue` with `next_attempt_at = occurred_at` and `created_at =
//! occurred_at` (the time of the change, from the use case's clock, so the relay's lag is
//! measured from the change itself).
//!
//! # Claiming, and per-aggregate order
//!
//! `claim_batch` answers the unsent rows due at `now`, in id order, and never a row while an
//! earlier unsent row of the same aggregate (`aggregate_type`, `aggregate_id`) cannot be
//! claimed — because its retry time has not come, or because another relay holds it. It works
//! in two steps:
//!
//! 1. Candidates: `sent_at IS NULL AND next_attempt_at <= now AND NOT EXISTS (an earlier
//!    unsent row of the same aggregate with next_attempt_at > now)`, ordered by id, limited,
//!    and locked with `FOR UPDATE SKIP LOCKED` on PostgreSQL so concurrent relays claim
//!    disjoint rows.
//! 2. Rows locked by another relay cannot be seen in SQL, so after claiming, one more query
//!    looks, for every aggregate in the batch, for the first unsent row of that aggregate that
//!    is *not* in the batch and comes before the batch's last row of it. Every claimed row
//!    after such a blocker is dropped from the answer (later rows of that aggregate included).
//!    The dropped rows stay locked by this transaction until it ends, which only delays them
//!    for other relays, and they are claimed again in order once the blocker is sent.
//!
//! The answer may therefore be shorter than `limit` even when more rows are due. On SQLite
//! (one connection, no row locks) step 2 finds nothing that step 1 did not already exclude.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use domain::Timestamp;
use ports::AppError;
use ports::outbox::{DomainEventType, OutboxMessage, OutboxRecord};
use ports::{OutboxStats, OutboxStore};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::convert;
use crate::entities::outbox as row;
use crate::error::{corrupt, db_err};
use crate::tx::SeaTx;

fn event_type(text: &str) -> Result<DomainEventType, AppError> {
    DomainEventType::ALL
        .iter()
        .copied()
        .find(|t| t.as_str() == text)
        .ok_or_else(|| corrupt(format!("outbox.event_type = '{text}'")))
}

fn to_record(m: row::Model) -> Result<OutboxRecord, AppError> {
    Ok(OutboxRecord {
        id: m.id,
        message: OutboxMessage {
            event_type: event_type(&m.event_type)?,
            aggregate_type: m.aggregate_type,
            aggregate_id: m.aggregate_id,
            aggregate_version: m.aggregate_version,
            payload: m.payload,
            occurred_at: m.occurred_at,
        },
        attempts: convert::count(m.attempts, "outbox.attempts")?,
        created_at: m.created_at,
        traceparent: m.traceparent,
    })
}

/// Step 1 of `claim_batch`: due rows with no earlier unsent row of their aggregate held back
/// by its retry time, locked and skipped on PostgreSQL.
async fn candidates(tx: &SeaTx, now: Timestamp, limit: u32) -> Result<Vec<row::Model>, AppError> {
    const EARLIER: &str = "earlier";
    let held_back_earlier = Query::select()
        .expr(Expr::val(1))
        .from_as(row::Entity, EARLIER)
        .and_where(
            Expr::col((EARLIER, row::Column::AggregateType))
                .equals((row::Entity, row::Column::AggregateType)),
        )
        .and_where(
            Expr::col((EARLIER, row::Column::AggregateId))
                .equals((row::Entity, row::Column::AggregateId)),
        )
        .and_where(Expr::col((EARLIER, row::Column::SentAt)).is_null())
        .and_where(
            Expr::col((EARLIER, row::Column::Id)).lt(Expr::col((row::Entity, row::Column::Id))),
        )
        .and_where(Expr::col((EARLIER, row::Column::NextAttemptAt)).gt(now))
        .to_owned();
    let query = row::Entity::find()
        .filter(row::Column::SentAt.is_null())
        .filter(row::Column::NextAttemptAt.lte(now))
        .filter(Expr::not_exists(held_back_earlier))
        .order_by_asc(row::Column::Id)
        .limit(u64::from(limit));
    convert::skip_locked(query, tx.backend())
        .all(tx.conn())
        .await
        .map_err(db_err)
}

/// Step 2 of `claim_batch`: drops every claimed row that comes after an unsent row of its
/// aggregate that is not in the batch (held by another relay).
async fn keep_aggregate_order(
    tx: &SeaTx,
    claimed: Vec<row::Model>,
) -> Result<Vec<row::Model>, AppError> {
    let Some(last_id) = claimed.iter().map(|m| m.id).max() else {
        return Ok(claimed);
    };
    let claimed_ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
    let aggregate_ids: HashSet<&str> = claimed.iter().map(|m| m.aggregate_id.as_str()).collect();
    let outside: Vec<(String, String, i64)> = row::Entity::find()
        .select_only()
        .column(row::Column::AggregateType)
        .column(row::Column::AggregateId)
        .column_as(Expr::col(row::Column::Id).min(), "first_id")
        .filter(row::Column::SentAt.is_null())
        .filter(row::Column::Id.lt(last_id))
        .filter(row::Column::Id.is_not_in(claimed_ids))
        .filter(row::Column::AggregateId.is_in(aggregate_ids))
        .group_by(row::Column::AggregateType)
        .group_by(row::Column::AggregateId)
        .into_tuple()
        .all(tx.conn())
        .await
        .map_err(db_err)?;
    if outside.is_empty() {
        return Ok(claimed);
    }
    let first_outside: HashMap<(String, String), i64> = outside
        .into_iter()
        .map(|(aggregate_type, aggregate_id, id)| ((aggregate_type, aggregate_id), id))
        .collect();
    Ok(claimed
        .into_iter()
        .filter(|m| {
            first_outside
                .get(&(m.aggregate_type.clone(), m.aggregate_id.clone()))
                .is_none_or(|blocker| m.id < *blocker)
        })
        .collect())
}

#[async_trait]
impl OutboxStore for SeaTx {
    async fn enqueue(&self, message: OutboxMessage) -> Result<(), AppError> {
        let fact = crate::observability::fact_of(&message);
        self.appends.outbox(row::ActiveModel {
            event_type: Set(message.event_type.as_str().to_owned()),
            aggregate_type: Set(message.aggregate_type),
            aggregate_id: Set(message.aggregate_id),
            aggregate_version: Set(message.aggregate_version),
            payload: Set(message.payload),
            occurred_at: Set(message.occurred_at),
            created_at: Set(message.occurred_at),
            attempts: Set(0),
            next_attempt_at: Set(message.occurred_at),
            last_error: Set(None),
            sent_at: Set(None),
            traceparent: Set(crate::observability::current_traceparent()),
            ..Default::default()
        });
        // Counted once the commit (which writes the row) succeeded.
        self.noted.push(fact);
        Ok(())
    }

    async fn claim_batch(&self, now: Timestamp, limit: u32) -> Result<Vec<OutboxRecord>, AppError> {
        self.flush_appends().await?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let claimed = candidates(self, now, limit).await?;
        let kept = keep_aggregate_order(self, claimed).await?;
        kept.into_iter().map(to_record).collect()
    }

    async fn mark_sent(&self, ids: &[i64], at: Timestamp) -> Result<(), AppError> {
        self.flush_appends().await?;
        if ids.is_empty() {
            return Ok(());
        }
        row::Entity::update_many()
            .col_expr(row::Column::SentAt, Expr::val(Some(at)))
            .filter(row::Column::Id.is_in(ids.iter().copied()))
            .filter(row::Column::SentAt.is_null())
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn mark_failed(&self, id: i64, error: &str, retry_at: Timestamp) -> Result<(), AppError> {
        self.flush_appends().await?;
        let result = row::Entity::update_many()
            .col_expr(
                row::Column::Attempts,
                Expr::col(row::Column::Attempts).add(1),
            )
            .col_expr(row::Column::LastError, Expr::val(Some(error)))
            .col_expr(row::Column::NextAttemptAt, Expr::val(retry_at))
            .filter(row::Column::Id.eq(id))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        if result.rows_affected == 0 {
            return Err(AppError::NotFound {
                entity: "outbox message",
            });
        }
        Ok(())
    }

    async fn stats(&self) -> Result<OutboxStats, AppError> {
        self.flush_appends().await?;
        let unsent = row::Entity::find().filter(row::Column::SentAt.is_null());
        let count = unsent.clone().count(self.conn()).await.map_err(db_err)?;
        let oldest: Option<Timestamp> = unsent
            .select_only()
            .column(row::Column::CreatedAt)
            .order_by_asc(row::Column::CreatedAt)
            .into_tuple()
            .one(self.conn())
            .await
            .map_err(db_err)?;
        Ok(OutboxStats {
            unsent: count,
            oldest_unsent_at: oldest,
        })
    }

    async fn purge_sent_before(&self, before: Timestamp, limit: u32) -> Result<u64, AppError> {
        self.flush_appends().await?;
        if limit == 0 {
            return Ok(0);
        }
        let oldest = Query::select()
            .column(row::Column::Id)
            .from(row::Entity)
            .and_where(row::Column::SentAt.is_not_null())
            .and_where(row::Column::SentAt.lt(before))
            .order_by(row::Column::Id, Order::Asc)
            .limit(u64::from(limit))
            .to_owned();
        let deleted = row::Entity::delete_many()
            .filter(row::Column::Id.in_subquery(oldest))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_reads_back() {
        for t in DomainEventType::ALL {
            assert_eq!(event_type(t.as_str()).unwrap(), *t);
        }
        assert_eq!(
            event_type("event.exploded").unwrap_err().code(),
            "INTERNAL_ERROR"
        );
    }
}
