//! Audit log, outbox, idempotency keys, job runs, crew assignments.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::helpers::{
    check, created_at, drop_tables, fk, run_sql, status_check, updated_at, varchar,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(big_pk_auto("id"))
                    .col(uuid_null("actor_id"))
                    .col(varchar("actor_role", 20))
                    .col(varchar("action", 100))
                    .col(varchar("entity_type", 50))
                    .col(varchar("entity_id", 100))
                    .col(json_binary_null("before"))
                    .col(json_binary_null("after"))
                    .col(string_len_null("request_id", 100))
                    .col(string_len_null("client_ip", 64))
                    .col(created_at())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("outbox")
                    .col(big_pk_auto("id"))
                    .col(varchar("event_type", 64))
                    .col(varchar("aggregate_type", 32))
                    .col(varchar("aggregate_id", 64))
                    .col(big_integer("aggregate_version"))
                    .col(json_binary("payload"))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .col(created_at())
                    .col(integer("attempts").default(0))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .check(check("attempts >= 0"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(varchar("key", 255))
                    .col(varchar("user_scope", 64))
                    .col(varchar("operation", 100))
                    .col(varchar("request_hash", 128))
                    .col(integer("response_status"))
                    .col(blob("response_body"))
                    .col(created_at())
                    .col(timestamp_with_time_zone("expires_at"))
                    .primary_key(
                        Index::create()
                            .col("key")
                            .col("user_scope")
                            .col("operation"),
                    )
                    .check(check("response_status BETWEEN 100 AND 599"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("job_runs")
                    .col(big_pk_auto("id"))
                    .col(varchar("job", 64))
                    .col(varchar("instance", 128))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone("finished_at"))
                    .col(varchar("outcome", 16))
                    .col(big_integer("processed").default(0))
                    .col(text_null("error"))
                    .check(status_check("outcome", &["SUCCEEDED", "FAILED", "SKIPPED"]))
                    .check(check("finished_at >= started_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("crew_assignments")
                    .col(big_pk_auto("id"))
                    .col(big_integer("event_id"))
                    .col(big_integer_null("crew_id"))
                    .col(string_len_null("crew_name", 255))
                    .col(json_binary("skills"))
                    .col(varchar("status", 20))
                    .col(integer("attempts").default(0))
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .col(text_null("last_error"))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut fk(
                        "crew_assignments",
                        "event_id",
                        "events",
                        ForeignKeyAction::Cascade,
                    ))
                    .check(status_check(
                        "status",
                        &[
                            "REQUESTED",
                            "ASSIGNED",
                            "PENDING_RETRY",
                            "FAILED",
                            "RELEASED",
                        ],
                    ))
                    .check(check("attempts >= 0"))
                    .to_owned(),
            )
            .await?;

        run_sql(
            manager,
            &[
                "CREATE INDEX idx_audit_created ON audit_log (created_at)",
                "CREATE INDEX idx_audit_entity ON audit_log (entity_type, entity_id, created_at)",
                "CREATE INDEX idx_audit_actor ON audit_log (actor_id, created_at)",
                // the relay: unsent rows in id order
                "CREATE INDEX idx_outbox_unsent ON outbox (id) WHERE sent_at IS NULL",
                "CREATE INDEX idx_outbox_aggregate ON outbox (aggregate_type, aggregate_id, id) WHERE sent_at IS NULL",
                "CREATE INDEX idx_outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL",
                "CREATE INDEX idx_idempotency_expiry ON idempotency_keys (expires_at)",
                "CREATE INDEX idx_job_runs_job_started ON job_runs (job, started_at)",
                "CREATE INDEX idx_crew_assignments_event ON crew_assignments (event_id)",
                "CREATE INDEX idx_crew_assignments_retry ON crew_assignments (next_attempt_at) WHERE status = 'PENDING_RETRY'",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "crew_assignments",
                "job_runs",
                "idempotency_keys",
                "outbox",
                "audit_log",
            ],
        )
        .await
    }
}
