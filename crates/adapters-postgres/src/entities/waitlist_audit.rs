//! `waitlist_audit` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "waitlist_audit")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub waitlist_entry_id: i64,
    pub event_id: i64,
    pub user_id: Uuid,
    pub old_status: Option<String>,
    pub new_status: String,
    pub held_seats: i32,
    pub actor_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
