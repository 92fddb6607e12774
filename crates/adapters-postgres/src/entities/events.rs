//! `events` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    pub short_description: Option<String>,
    pub start_date: DateTimeUtc,
    pub end_date: Option<DateTimeUtc>,
    pub location: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub max_participants: i32,
    pub available_seats: i32,
    pub price_minor: i64,
    pub status: String,
    pub creator_id: Uuid,
    pub category: Option<String>,
    pub image_url: Option<String>,
    pub booking_deadline_hours: i32,
    pub max_seats_per_user: Option<i32>,
    pub publish_at: Option<DateTimeUtc>,
    pub published_at: Option<DateTimeUtc>,
    pub canceled_reason: Option<String>,
    pub is_featured: bool,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub refund_policy: Option<Json>,
    #[sea_orm(column_type = "JsonBinary")]
    pub pricing_rules: Json,
    pub crew_status: String,
    pub crew_id: Option<i64>,
    pub views: i64,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
