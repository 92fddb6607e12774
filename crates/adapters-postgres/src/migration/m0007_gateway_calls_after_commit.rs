//! Gateway calls happen after commit (issue 15): a payment remembers the idempotency key its
//! gateway knows it by (so an intent left without a reference is resolved by asking again with
//! it), and a refund row carries its own state — PENDING until the gateway answered, then
//! SUCCEEDED or FAILED — with its idempotency key, attempts, next attempt and last error.
//!
//! Columns are only added (one per ALTER, which SQLite requires); rows refunded before this
//! migration were refunded synchronously, so they default to SUCCEEDED. The archive tables
//! get the same columns (the retention job copies every live column).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, string_len, string_len_null, timestamp_with_time_zone_null,
};

use super::helpers::{run_sql, status_check};

#[derive(DeriveMigrationName)]
pub struct Migration;

pub const REFUND_STATUSES: &[&str] = &["PENDING", "SUCCEEDED", "FAILED"];

fn payment_columns() -> Vec<ColumnDef> {
    vec![string_len_null("gateway_key", 100)]
}

fn refund_columns() -> Vec<ColumnDef> {
    vec![
        string_len("status", 20)
            .default("SUCCEEDED")
            .check(status_check("status", REFUND_STATUSES))
            .to_owned(),
        string_len_null("idempotency_key", 100),
        integer("attempts").default(0).to_owned(),
        timestamp_with_time_zone_null("next_attempt_at"),
        string_len_null("last_error", 500),
        timestamp_with_time_zone_null("completed_at"),
    ]
}

async fn add_columns(
    manager: &SchemaManager<'_>,
    table: &'static str,
    columns: Vec<ColumnDef>,
) -> Result<(), DbErr> {
    for mut column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

async fn drop_columns(
    manager: &SchemaManager<'_>,
    table: &str,
    columns: &[&str],
) -> Result<(), DbErr> {
    for column in columns {
        // Plain SQL: the same on both backends (SQLite ≥ 3.35 drops columns).
        run_sql(
            manager,
            &[&format!("ALTER TABLE {table} DROP COLUMN {column}")],
        )
        .await?;
    }
    Ok(())
}

const REFUND_COLUMNS: &[&str] = &[
    "status",
    "idempotency_key",
    "attempts",
    "next_attempt_at",
    "last_error",
    "completed_at",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_columns(manager, "payments", payment_columns()).await?;
        add_columns(manager, "payments_archive", payment_columns()).await?;
        add_columns(manager, "payment_refunds", refund_columns()).await?;
        add_columns(manager, "payment_refunds_archive", refund_columns()).await?;
        run_sql(
            manager,
            &[
                // Two payments can never share a key at one gateway: a reused client key is a
                // 409, never a second charge.
                "CREATE UNIQUE INDEX uq_payments_gateway_key ON payments (gateway, gateway_key)",
                // What the process-refunds job claims.
                "CREATE INDEX idx_payment_refunds_due ON payment_refunds (next_attempt_at) \
                 WHERE status = 'PENDING'",
                // Intents left without a reference (reconciliation).
                "CREATE INDEX idx_payments_unreferenced ON payments (created_at) \
                 WHERE status = 'INITIATED' AND gateway_reference IS NULL",
                "CREATE UNIQUE INDEX uq_payment_refunds_key ON payment_refunds (idempotency_key)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_sql(
            manager,
            &[
                "DROP INDEX IF EXISTS uq_payment_refunds_key",
                "DROP INDEX IF EXISTS idx_payments_unreferenced",
                "DROP INDEX IF EXISTS idx_payment_refunds_due",
                "DROP INDEX IF EXISTS uq_payments_gateway_key",
            ],
        )
        .await?;
        drop_columns(manager, "payment_refunds_archive", REFUND_COLUMNS).await?;
        drop_columns(manager, "payment_refunds", REFUND_COLUMNS).await?;
        drop_columns(manager, "payments_archive", &["gateway_key"]).await?;
        drop_columns(manager, "payments", &["gateway_key"]).await
    }
}
