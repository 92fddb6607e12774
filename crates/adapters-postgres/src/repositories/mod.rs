//! The repository ports of the application crate, each implemented for `SeaTx` in its own
//! module.

mod advisory;
mod audit;
mod bookings;
mod categories;
mod consistency;
mod crew_assignments;
mod events;
mod favorites;
mod idempotency;
mod job_runs;
mod loyalty;
mod outbox;
mod payments;
mod promo_codes;
mod reviews;
mod waitlist;

use ports::{AppError, PageRequest};
use sea_orm::{DatabaseTransaction, EntityTrait, PaginatorTrait, QueryOrder, QuerySelect, Select};

use crate::error::db_err;

/// Counts the rows `select` matches, then reads the one page of them that `order` sorts. The
/// order must end on a unique column, or pages could overlap or skip a row.
async fn fetch_page<E>(
    conn: &DatabaseTransaction,
    select: Select<E>,
    order: impl FnOnce(Select<E>) -> Select<E>,
    page: PageRequest,
) -> Result<(Vec<E::Model>, u64), AppError>
where
    E: EntityTrait,
    E::Model: Sync,
{
    let total = select.clone().count(conn).await.map_err(db_err)?;
    let rows = order(select)
        .offset(page.offset())
        .limit(u64::from(page.size()))
        .all(conn)
        .await
        .map_err(db_err)?;
    Ok((rows, total))
}

/// Newest first, the id breaking ties between rows created in the same instant.
fn newest_first<E: EntityTrait>(
    created_at: E::Column,
    id: E::Column,
) -> impl FnOnce(Select<E>) -> Select<E> {
    move |select| select.order_by_desc(created_at).order_by_desc(id)
}

/// The row `select` finds, if any, as the value `convert` makes of it.
async fn fetch_one<E, T>(
    conn: &DatabaseTransaction,
    select: Select<E>,
    convert: impl FnOnce(E::Model) -> Result<T, AppError>,
) -> Result<Option<T>, AppError>
where
    E: EntityTrait,
{
    select
        .one(conn)
        .await
        .map_err(db_err)?
        .map(convert)
        .transpose()
}
