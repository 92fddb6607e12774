//! Full-text search of the catalog. PostgreSQL: a GIN index over the `simple` text-search
//! vector of name and description, matched by `plainto_tsquery`. SQLite (the embedded default)
//! searches with LIKE and has no index for it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use super::helpers::run_sql;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The expression the catalog query matches against; it must stay identical to the index.
pub const SEARCH_VECTOR: &str =
    "to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(description, ''))";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            let sql =
                format!("CREATE INDEX idx_events_search ON events USING GIN ({SEARCH_VECTOR})");
            run_sql(manager, &[&sql]).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            run_sql(manager, &["DROP INDEX IF EXISTS idx_events_search"]).await?;
        }
        Ok(())
    }
}
