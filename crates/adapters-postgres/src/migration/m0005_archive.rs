//! Archive tables for bookings and payments older than a year (retention job). Same columns,
//! plain ids (no autoincrement, no foreign keys: the archived rows outlive their references).

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

        run_sql(
            manager,
            &[
                "CREATE INDEX idx_bookings_archive_user ON bookings_archive (user_id, created_at)",
                "CREATE INDEX idx_payments_archive_booking ON payments_archive (booking_id)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["payments_archive", "bookings_archive"]).await
    }
}
