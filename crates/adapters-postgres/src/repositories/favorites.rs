//! `FavoriteRepository` on `favorites`.

use async_trait::async_trait;
use domain::favorite::Favorite;
use domain::{EventId, FavoriteId, Timestamp, UserId};
use ports::FavoriteRepository;
use ports::{AppError, Page, PageRequest};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

use super::{fetch_page, newest_first};
use crate::convert;
use crate::entities::favorites as row;
use crate::error::{db_err, is_fk_violation, is_unique_violation};
use crate::tx::SeaTx;

fn to_domain(m: row::Model) -> Favorite {
    Favorite {
        id: FavoriteId(m.id),
        event_id: EventId(m.event_id),
        user_id: convert::user(m.user_id),
        created_at: m.created_at,
    }
}

async fn find_pair(
    tx: &SeaTx,
    event_id: EventId,
    user_id: UserId,
) -> Result<Option<Favorite>, AppError> {
    let found = row::Entity::find()
        .filter(row::Column::UserId.eq(user_id.0))
        .filter(row::Column::EventId.eq(event_id.0))
        .one(tx.conn())
        .await
        .map_err(db_err)?;
    Ok(found.map(to_domain))
}

#[async_trait]
impl FavoriteRepository for SeaTx {
    async fn add(
        &self,
        event_id: EventId,
        user_id: UserId,
        at: Timestamp,
    ) -> Result<(Favorite, bool), AppError> {
        if let Some(existing) = find_pair(self, event_id, user_id).await? {
            return Ok((existing, false));
        }
        let model = row::ActiveModel {
            event_id: Set(event_id.0),
            user_id: Set(user_id.0),
            created_at: Set(at),
            ..Default::default()
        };
        // A savepoint: a concurrent add of the same favorite wins the unique index, and the
        // failed insert must not abort the caller's PostgreSQL transaction.
        let savepoint = self.conn().begin().await.map_err(db_err)?;
        match model.insert(&savepoint).await {
            Ok(inserted) => {
                savepoint.commit().await.map_err(db_err)?;
                Ok((to_domain(inserted), true))
            }
            Err(err) => {
                savepoint.rollback().await.map_err(db_err)?;
                if is_unique_violation(&err) {
                    let existing = find_pair(self, event_id, user_id).await?;
                    existing.map(|f| (f, false)).ok_or_else(|| {
                        AppError::internal("favorite vanished after a unique violation")
                    })
                } else if is_fk_violation(&err) {
                    Err(AppError::NotFound { entity: "event" })
                } else {
                    Err(db_err(err))
                }
            }
        }
    }

    async fn remove(&self, event_id: EventId, user_id: UserId) -> Result<bool, AppError> {
        let done = row::Entity::delete_many()
            .filter(row::Column::UserId.eq(user_id.0))
            .filter(row::Column::EventId.eq(event_id.0))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected > 0)
    }

    async fn list(&self, user_id: UserId, page: PageRequest) -> Result<Page<Favorite>, AppError> {
        let query = row::Entity::find().filter(row::Column::UserId.eq(user_id.0));
        let order = newest_first(row::Column::CreatedAt, row::Column::Id);
        let (rows, total) = fetch_page(self.conn(), query, order, page).await?;
        Ok(Page::new(
            rows.into_iter().map(to_domain).collect(),
            page,
            total,
        ))
    }
}
