//! The trace context of the change an outbox row records (issue 14): the W3C `traceparent` of
//! the span that wrote it, when traces are on, sent with the message as an AMQP header so that
//! a consumer continues the same trace. Nullable: rows written with traces off have none.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_len_null;

use super::helpers::run_sql;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("outbox")
                    .add_column(string_len_null("traceparent", 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Plain SQL: the same on both backends (SQLite ≥ 3.35 drops columns).
        run_sql(manager, &["ALTER TABLE outbox DROP COLUMN traceparent"]).await
    }
}
