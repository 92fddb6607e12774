//! `CategoryRepository` on `categories`.

use async_trait::async_trait;
use domain::CategoryId;
use domain::category::{Category, CategoryFields};
use ports::CategoryRepository;
use ports::{AppError, ErrorCode};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};

use crate::entities::categories as row;
use crate::error::{db_err, is_fk_violation, is_unique_violation};
use crate::tx::SeaTx;

fn to_domain(m: row::Model) -> Category {
    Category {
        id: CategoryId(m.id),
        name: m.name,
        description: m.description,
        parent_id: m.parent_id.map(CategoryId),
        icon_url: m.icon_url,
    }
}

fn exists(err: sea_orm::DbErr) -> AppError {
    if is_unique_violation(&err) {
        AppError::conflict(
            ErrorCode::CategoryExists,
            "a category with this name already exists",
        )
    } else if is_fk_violation(&err) {
        AppError::invalid("parent_id", "no such category")
    } else {
        db_err(err)
    }
}

#[async_trait]
impl CategoryRepository for SeaTx {
    async fn list(&self) -> Result<Vec<Category>, AppError> {
        let rows = row::Entity::find()
            .order_by_asc(row::Column::Name)
            .all(self.conn())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(to_domain).collect())
    }

    async fn find(&self, id: CategoryId) -> Result<Option<Category>, AppError> {
        let found = row::Entity::find_by_id(id.0)
            .one(self.conn())
            .await
            .map_err(db_err)?;
        Ok(found.map(to_domain))
    }

    async fn insert(&self, fields: CategoryFields) -> Result<Category, AppError> {
        let now = self.now();
        let model = row::ActiveModel {
            name: Set(fields.name),
            description: Set(fields.description),
            parent_id: Set(fields.parent_id.map(|p| p.0)),
            icon_url: Set(fields.icon_url),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        model
            .insert(self.conn())
            .await
            .map(to_domain)
            .map_err(exists)
    }

    async fn update(&self, id: CategoryId, fields: CategoryFields) -> Result<Category, AppError> {
        let model = row::ActiveModel {
            id: Set(id.0),
            name: Set(fields.name),
            description: Set(fields.description),
            parent_id: Set(fields.parent_id.map(|p| p.0)),
            icon_url: Set(fields.icon_url),
            updated_at: Set(self.now()),
            ..Default::default()
        };
        match model.update(self.conn()).await {
            Ok(m) => Ok(to_domain(m)),
            Err(sea_orm::DbErr::RecordNotUpdated) => Err(AppError::NotFound { entity: "category" }),
            Err(e) => Err(exists(e)),
        }
    }
}
