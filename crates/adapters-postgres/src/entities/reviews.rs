//! `reviews` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reviews")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub event_id: i64,
    pub user_id: Uuid,
    pub rating: i16,
    #[sea_orm(column_type = "Text", nullable)]
    pub content: Option<String>,
    pub status: String,
    pub helpful_count: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub moderation_note: Option<String>,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
