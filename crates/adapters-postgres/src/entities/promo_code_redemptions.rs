//! `promo_code_redemptions` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "promo_code_redemptions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub promo_code_id: i64,
    pub booking_id: i64,
    pub user_id: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
