//! Conversions between column values and domain values.

use std::str::FromStr;

use domain::{Money, UserId};
use ports::AppError;
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    DatabaseBackend, DatabaseTransaction, EntityTrait, PaginatorTrait, PrimaryKeyTrait, QuerySelect,
};

use crate::error::{corrupt, db_err};

pub(crate) fn money(minor: i64) -> Money {
    Money::from_minor_units(minor)
}

pub(crate) fn minor(money: Money) -> i64 {
    money.to_minor_units()
}

pub(crate) const fn user(id: uuid::Uuid) -> UserId {
    UserId(id)
}

/// A non-negative integer column into `u32`.
pub(crate) fn count(value: i32, column: &str) -> Result<u32, AppError> {
    u32::try_from(value).map_err(|_| corrupt(format!("{column} = {value}")))
}

/// `u32` into an INTEGER column (values are bounded by the domain far below `i32::MAX`).
pub(crate) fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A text column holding an enum's stable text.
pub(crate) fn parse<T: FromStr>(value: &str, column: &str) -> Result<T, AppError> {
    value
        .parse()
        .map_err(|_| corrupt(format!("{column} = '{value}'")))
}

/// `SELECT … FOR UPDATE` on PostgreSQL. SQLite has one writer at a time (the pool hands out a
/// single connection), so the lock is not needed there.
pub(crate) fn for_update<Q: QuerySelect>(query: Q, backend: DatabaseBackend) -> Q {
    if backend == DatabaseBackend::Postgres {
        query.lock(LockType::Update)
    } else {
        query
    }
}

/// `FOR UPDATE SKIP LOCKED` on PostgreSQL: several instances claim disjoint rows.
pub(crate) fn skip_locked<Q: QuerySelect>(query: Q, backend: DatabaseBackend) -> Q {
    if backend == DatabaseBackend::Postgres {
        query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
    } else {
        query
    }
}

/// An optimistic `UPDATE … WHERE id = ? AND version = ?` matched no row: the row was changed by
/// someone else (`VERSION_CONFLICT`) or does not exist (`NOT_FOUND`).
pub(crate) async fn missed_update<E>(
    conn: &DatabaseTransaction,
    id: i64,
    entity: &'static str,
) -> AppError
where
    E: EntityTrait,
    E::Model: Sync,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
{
    match E::find_by_id(id).count(conn).await {
        Ok(0) => AppError::NotFound { entity },
        Ok(_) => AppError::version_conflict(entity),
        Err(e) => db_err(e),
    }
}
