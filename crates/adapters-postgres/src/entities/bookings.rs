//! `bookings` table.

/// The table and `bookings_archive` have the same columns (the archive keeps the live id and
/// adds `archived_at`), so both entities are written from this one list of them.
macro_rules! model {
    ($table:tt, [$($pk:tt)*], $($archive_only:tt)*) => {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = $table)]
        pub struct Model {
            #[sea_orm($($pk)*)]
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
            $($archive_only)*
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}
pub(crate) use model;

model!("bookings", [primary_key],);
