//! `payments` table.

/// The table and `payments_archive` have the same columns (the archive keeps the live id and
/// adds `archived_at`), so both entities are written from this one list of them.
macro_rules! model {
    ($table:tt, [$($pk:tt)*], $($archive_only:tt)*) => {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = $table)]
        pub struct Model {
            #[sea_orm($($pk)*)]
            pub id: i64,
            pub booking_id: i64,
            pub amount_minor: i64,
            pub status: String,
            pub gateway: String,
            pub gateway_reference: Option<String>,
            pub payment_method: String,
            pub refund_amount_minor: i64,
            pub failure_reason: Option<String>,
            pub version: i64,
            pub created_at: DateTimeUtc,
            pub updated_at: DateTimeUtc,
            pub gateway_key: Option<String>,
            $($archive_only)*
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}
pub(crate) use model;

model!("payments", [primary_key],);
