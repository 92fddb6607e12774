//! `payment_refunds` table.

/// The table and `payment_refunds_archive` have the same columns (the archive keeps the live id and
/// adds `archived_at`), so both entities are written from this one list of them.
macro_rules! model {
    ($table:tt, [$($pk:tt)*], $($archive_only:tt)*) => {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = $table)]
        pub struct Model {
            #[sea_orm($($pk)*)]
            pub id: i64,
            pub payment_id: i64,
            pub amount_minor: i64,
            pub reason: String,
            pub gateway_reference: Option<String>,
            pub actor_id: Option<Uuid>,
            pub created_at: DateTimeUtc,
            pub status: String,
            pub idempotency_key: Option<String>,
            pub attempts: i32,
            pub next_attempt_at: Option<DateTimeUtc>,
            pub last_error: Option<String>,
            pub completed_at: Option<DateTimeUtc>,
            $($archive_only)*
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}
pub(crate) use model;

model!("payment_refunds", [primary_key],);
