//! `IdempotencyStore` on `idempotency_keys`, keyed by (key, user scope, operation). The user
//! scope is the caller's uuid as text, or `""` for an anonymous caller.
//!
//! `save` inserts inside a savepoint: a duplicate key rolls back to it, so on PostgreSQL the
//! surrounding transaction stays usable after the `IDEMPOTENCY_KEY_IN_USE` conflict.

use async_trait::async_trait;
use domain::{Timestamp, UserId};
use ports::{AppError, ErrorCode};
use ports::{IdempotencyRecord, IdempotencyStore};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

use super::fetch_one;
use crate::entities::idempotency_keys as row;
use crate::error::{corrupt, db_err, is_unique_violation};
use crate::tx::SeaTx;

fn user_scope(user_id: Option<UserId>) -> String {
    user_id.map(|u| u.0.to_string()).unwrap_or_default()
}

fn to_record(m: row::Model) -> Result<IdempotencyRecord, AppError> {
    let user_id = if m.user_scope.is_empty() {
        None
    } else {
        let id = uuid::Uuid::parse_str(&m.user_scope)
            .map_err(|_| corrupt(format!("idempotency_keys.user_scope = '{}'", m.user_scope)))?;
        Some(UserId(id))
    };
    let response_status = u16::try_from(m.response_status).map_err(|_| {
        corrupt(format!(
            "idempotency_keys.response_status = {}",
            m.response_status
        ))
    })?;
    Ok(IdempotencyRecord {
        key: m.key,
        user_id,
        operation: m.operation,
        request_hash: m.request_hash,
        response_status,
        response_body: m.response_body,
        created_at: m.created_at,
        expires_at: m.expires_at,
    })
}

#[async_trait]
impl IdempotencyStore for SeaTx {
    async fn find(
        &self,
        key: &str,
        user_id: Option<UserId>,
        operation: &str,
    ) -> Result<Option<IdempotencyRecord>, AppError> {
        let select =
            row::Entity::find_by_id((key.to_owned(), user_scope(user_id), operation.to_owned()));
        fetch_one(self.conn(), select, to_record).await
    }

    async fn save(&self, record: IdempotencyRecord) -> Result<(), AppError> {
        let model = row::ActiveModel {
            key: Set(record.key),
            user_scope: Set(user_scope(record.user_id)),
            operation: Set(record.operation),
            request_hash: Set(record.request_hash),
            response_status: Set(i32::from(record.response_status)),
            response_body: Set(record.response_body),
            created_at: Set(record.created_at),
            expires_at: Set(record.expires_at),
        };
        let savepoint = self.conn().begin().await.map_err(db_err)?;
        match model.insert(&savepoint).await {
            Ok(_) => savepoint.commit().await.map_err(db_err),
            Err(err) => {
                savepoint.rollback().await.map_err(db_err)?;
                if is_unique_violation(&err) {
                    Err(AppError::conflict(
                        ErrorCode::IdempotencyKeyInUse,
                        "a request with this idempotency key is already stored",
                    ))
                } else {
                    Err(db_err(err))
                }
            }
        }
    }

    async fn complete(
        &self,
        key: &str,
        user_id: Option<UserId>,
        operation: &str,
        response_status: u16,
        response_body: Vec<u8>,
    ) -> Result<(), AppError> {
        let updated = row::Entity::update_many()
            .col_expr(
                row::Column::ResponseStatus,
                Expr::value(i32::from(response_status)),
            )
            .col_expr(row::Column::ResponseBody, Expr::value(response_body))
            .filter(row::Column::Key.eq(key))
            .filter(row::Column::UserScope.eq(user_scope(user_id)))
            .filter(row::Column::Operation.eq(operation))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        if updated.rows_affected == 0 {
            return Err(AppError::NotFound {
                entity: "idempotency key",
            });
        }
        Ok(())
    }

    async fn release(
        &self,
        key: &str,
        user_id: Option<UserId>,
        operation: &str,
    ) -> Result<(), AppError> {
        row::Entity::delete_many()
            .filter(row::Column::Key.eq(key))
            .filter(row::Column::UserScope.eq(user_scope(user_id)))
            .filter(row::Column::Operation.eq(operation))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn purge_expired(&self, now: Timestamp, limit: u32) -> Result<u64, AppError> {
        if limit == 0 {
            return Ok(0);
        }
        let key = Expr::tuple([
            Expr::col(row::Column::Key),
            Expr::col(row::Column::UserScope),
            Expr::col(row::Column::Operation),
        ]);
        let expired = Query::select()
            .columns([
                row::Column::Key,
                row::Column::UserScope,
                row::Column::Operation,
            ])
            .from(row::Entity)
            .and_where(row::Column::ExpiresAt.lte(now))
            .order_by(row::Column::ExpiresAt, Order::Asc)
            .limit(u64::from(limit))
            .to_owned();
        let deleted = row::Entity::delete_many()
            .filter(key.in_subquery(expired))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }
}
