//! `bookings` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bookings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub event_id: i64,
    pub user_id: Uuid,
    pub quantity: i32,
    pub price_option_id: Option<i64>,
    pub promo_code_id: Option<i64>,
    pub waitlist_entry_id: Option<i64>,
    pub status: String,
    pub payment_deadline: DateTimeUtc,
    pub ticket_code: Option<String>,
    pub unit_price_minor: i64,
    pub base_minor: i64,
    pub dynamic_adjustment_minor: i64,
    pub group_discount_minor: i64,
    pub promo_discount_minor: i64,
    pub loyalty_discount_minor: i64,
    pub loyalty_points_used: i64,
    pub total_price_minor: i64,
    pub canceled_reason: Option<String>,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
