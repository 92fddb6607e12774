//! `LoyaltyLedger` on `loyalty_ledger`: append-only lines; the balance is their sum.
//!
//! `balance_for_update` serializes concurrent spending of one user: on PostgreSQL it first
//! takes a transaction-level advisory lock keyed by the user (released at commit or
//! rollback), so a second transaction spending the same user's points waits until the first
//! has appended its line and committed, then sums a ledger that includes it. SQLite runs one
//! connection, so transactions are serialized already.

use async_trait::async_trait;
use domain::loyalty::{LoyaltyEntry, LoyaltyEntryKind, NewLoyaltyEntry};
use domain::{BookingId, LoyaltyEntryId, ReviewId, UserId};
use ports::LoyaltyLedger;
use ports::{AppError, Page, PageRequest};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set,
};

use super::advisory;
use super::{fetch_page, newest_first};
use crate::convert;
use crate::entities::loyalty_ledger as row;
use crate::error::db_err;
use crate::tx::SeaTx;

/// Advisory-lock namespace of the per-user spending lock.
const LOCK_NAMESPACE: &str = "loyalty_ledger.user";

fn to_domain(m: row::Model) -> Result<LoyaltyEntry, AppError> {
    Ok(LoyaltyEntry {
        id: LoyaltyEntryId(m.id),
        user_id: convert::user(m.user_id),
        points: m.points,
        kind: convert::parse(&m.kind, "loyalty_ledger.kind")?,
        booking_id: m.booking_id.map(BookingId),
        review_id: m.review_id.map(ReviewId),
        created_at: m.created_at,
    })
}

async fn sum(tx: &SeaTx, user_id: UserId) -> Result<u64, AppError> {
    // SUM(bigint) is NUMERIC on PostgreSQL: cast back so both backends answer a BIGINT.
    let total: Option<i64> = row::Entity::find()
        .select_only()
        .expr(Expr::cust("CAST(COALESCE(SUM(points), 0) AS BIGINT)"))
        .filter(row::Column::UserId.eq(user_id.0))
        .into_tuple()
        .one(tx.conn())
        .await
        .map_err(db_err)?;
    let total = total.unwrap_or(0);
    // a ledger below zero is not corrupt (a reversal may land after a spend): report 0
    Ok(u64::try_from(total).unwrap_or(0))
}

#[async_trait]
impl LoyaltyLedger for SeaTx {
    async fn append(&self, entry: NewLoyaltyEntry) -> Result<LoyaltyEntry, AppError> {
        if entry.points == 0 {
            return Err(AppError::invalid("points", "must not be zero"));
        }
        let model = row::ActiveModel {
            user_id: Set(entry.user_id.0),
            points: Set(entry.points),
            kind: Set(entry.kind.as_str().to_owned()),
            booking_id: Set(entry.booking_id.map(|b| b.0)),
            review_id: Set(entry.review_id.map(|r| r.0)),
            created_at: Set(entry.created_at),
            ..Default::default()
        };
        let stored = model.insert(self.conn()).await.map_err(db_err)?;
        to_domain(stored)
    }

    async fn balance_for_update(&self, user_id: UserId) -> Result<u64, AppError> {
        if self.backend() == DatabaseBackend::Postgres {
            let key = advisory::key(LOCK_NAMESPACE, user_id.0.as_bytes());
            advisory::lock(self.conn(), key).await.map_err(db_err)?;
        }
        sum(self, user_id).await
    }

    async fn balance(&self, user_id: UserId) -> Result<u64, AppError> {
        sum(self, user_id).await
    }

    async fn history(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<LoyaltyEntry>, AppError> {
        let select = row::Entity::find().filter(row::Column::UserId.eq(user_id.0));
        let order = newest_first(row::Column::CreatedAt, row::Column::Id);
        let (rows, total) = fetch_page(self.conn(), select, order, page).await?;
        let items = rows.into_iter().map(to_domain).collect::<Result<_, _>>()?;
        Ok(Page::new(items, page, total))
    }

    async fn has_review_credit(
        &self,
        user_id: UserId,
        review_id: ReviewId,
    ) -> Result<bool, AppError> {
        // Filtered by user first: idx_loyalty_user narrows it to one user's few lines.
        let found = row::Entity::find()
            .filter(row::Column::UserId.eq(user_id.0))
            .filter(row::Column::ReviewId.eq(review_id.0))
            .filter(row::Column::Kind.eq(LoyaltyEntryKind::ReviewEarned.as_str()))
            .count(self.conn())
            .await
            .map_err(db_err)?;
        Ok(found > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kinds_are_corrupt() {
        let m = row::Model {
            id: 1,
            user_id: uuid::Uuid::nil(),
            points: 5,
            kind: "GIFT".into(),
            booking_id: None,
            review_id: None,
            created_at: chrono::Utc::now(),
        };
        assert_eq!(to_domain(m).unwrap_err().code(), "INTERNAL_ERROR");
    }
}
