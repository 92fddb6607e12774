//! Webhook replay protection (issue 12, hole 4): the (gateway, event id) pairs of the webhooks
//! applied recently. A second webhook with a pair already here is a replay and is refused.
//! Rows older than the signature window serve no purpose (a webhook that old is refused by its
//! timestamp); the use case deletes them when it records a new one, through the index on
//! `received_at`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::timestamp_with_time_zone;

use super::helpers::{drop_tables, run_sql, varchar};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhook_events")
                    .col(varchar("gateway", 50))
                    .col(varchar("event_id", 200))
                    .col(timestamp_with_time_zone("received_at"))
                    .primary_key(Index::create().col("gateway").col("event_id"))
                    .to_owned(),
            )
            .await?;
        run_sql(
            manager,
            &["CREATE INDEX ix_webhook_events_received_at ON webhook_events (received_at)"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["webhook_events"]).await
    }
}
