//! `booking_reminders` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "booking_reminders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub booking_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    pub sent_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
