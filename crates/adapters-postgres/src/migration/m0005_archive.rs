//! Archive tables for bookings, payments and refunds older than a year (retention job). Same
//! columns, plain ids (no autoincrement, no foreign keys: the archived rows outlive their
//! references).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::helpers::{drop_tables, run_sql};
use super::m0002_bookings::{booking_columns, payment_columns};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut bookings = Table::create();
        bookings
            .table("bookings_archive")
            .col(big_integer("id").primary_key());
        booking_columns(&mut bookings).col(timestamp_with_time_zone("archived_at"));
        manager.create_table(bookings.to_owned()).await?;

        let mut payments = Table::create();
        payments
            .table("payments_archive")
            .col(big_integer("id").primary_key());
        payment_columns(&mut payments).col(timestamp_with_time_zone("archived_at"));
        manager.create_table(payments.to_owned()).await?;

        manager
            .create_table(
                Table::create()
                    .table("payment_refunds_archive")
                    .col(big_integer("id").primary_key())
                    .col(big_integer("payment_id"))
                    .col(big_integer("amount_minor"))
                    .col(string_len("reason", 500))
                    .col(string_len_null("gateway_reference", 100))
                    .col(uuid_null("actor_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("archived_at"))
                    .to_owned(),
            )
            .await?;

        run_sql(
            manager,
            &[
                "CREATE INDEX idx_bookings_archive_user ON bookings_archive (user_id, created_at)",
                "CREATE INDEX idx_payments_archive_booking ON payments_archive (booking_id)",
                "CREATE INDEX idx_payment_refunds_archive_payment ON payment_refunds_archive (payment_id)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "payment_refunds_archive",
                "payments_archive",
                "bookings_archive",
            ],
        )
        .await
    }
}
