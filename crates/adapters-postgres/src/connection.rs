//! Opening the database: PostgreSQL (schema `event` via `search_path`) or SQLite (WAL, busy
//! timeout, foreign keys), pool sizes and timeouts from configuration, and running migrations.
//!
//! On PostgreSQL every schema change (creating the schema, `migrate up`, `migrate down`) runs in
//! one transaction that first takes the transaction-level advisory lock [`MIGRATION_LOCK_KEY`]:
//! instances starting together on one database take turns, and the second finds the work done.
//! The lock lives on the transaction's one connection and ends with it (commit, rollback, or
//! the connection dropping with a crashed process), so it can never stay behind in the pool.
//! A SQLite file belongs to one instance (the process holds its only writer), so it needs none.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::migration::Migrator;

/// Database settings (`database.*` in the service configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `postgres://…` or `sqlite://path?mode=rwc`.
    pub url: String,
    /// PostgreSQL schema holding the tables (created when missing).
    pub schema: String,
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout: Duration,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
    /// SQLite: how long a writer waits for the lock before giving up.
    pub sqlite_busy_timeout: Duration,
}

impl DatabaseConfig {
    /// Defaults for `url`.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: "event".to_owned(),
            max_connections: 20,
            min_connections: 1,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }

    #[must_use]
    pub fn is_sqlite(&self) -> bool {
        self.url.starts_with("sqlite:")
    }
}

/// Whether a schema name is safe to splice into DDL (it cannot be a bind parameter).
fn valid_schema_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// Opens the pool. On PostgreSQL the schema is created if missing and every connection uses it.
pub async fn connect(config: &DatabaseConfig) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(config.url.clone());
    options
        .max_connections(config.max_connections)
        .min_connections(config.min_connections.max(1))
        .connect_timeout(config.connect_timeout)
        .acquire_timeout(config.acquire_timeout)
        .idle_timeout(config.idle_timeout)
        // A connection is pinged before use only after 30 s idle: a busy pool does not pay one
        // round trip per transaction, and one left over from a database restart is still caught.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        // Every statement is logged at DEBUG under the target `sqlx::query`, which the default
        // filter leaves off: `POST /actuator/loggers/sqlx::query {"level":"debug"}` turns it
        // on in a running process (a disabled level costs one cached check per statement).
        .sqlx_logging(true)
        .sqlx_logging_level(log::LevelFilter::Debug);
    if config.is_sqlite() {
        // One connection: SQLite has one writer at a time anyway, and a single connection makes
        // every transaction wait its turn in the pool instead of failing with "database is
        // locked" when two deferred transactions both try to write.
        options.max_connections(1).min_connections(1);
        let busy = config.sqlite_busy_timeout;
        options.map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(busy)
                .foreign_keys(true)
                .create_if_missing(true)
        });
        return Database::connect(options).await;
    }
    if !valid_schema_name(&config.schema) {
        return Err(DbErr::Custom(format!(
            "database.schema '{}' must be lower-case letters, digits and '_'",
            config.schema
        )));
    }
    options.set_schema_search_path(config.schema.clone());
    let db = Database::connect(options).await?;
    let txn = locked_for_schema_changes(&db).await?;
    txn.execute_unprepared(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{}\"",
        config.schema
    ))
    .await?;
    txn.commit().await?;
    Ok(db)
}

/// The key of the PostgreSQL advisory lock that serialises schema changes (`hashtext` of
/// `'backend-event migrations'`, computed by the server).
pub const MIGRATION_LOCK_KEY: &str = "hashtext('backend-event migrations')";

/// How often the wait for the lock is logged.
const LOCK_WAIT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A PostgreSQL transaction holding the migration lock, taken once another instance's schema
/// change is over (the wait is logged).
async fn locked_for_schema_changes(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    let try_lock = format!("SELECT pg_try_advisory_xact_lock({MIGRATION_LOCK_KEY}) AS locked");
    let started = std::time::Instant::now();
    let mut logged: Option<std::time::Instant> = None;
    loop {
        let row = txn
            .query_one_raw(sea_orm::Statement::from_string(
                DatabaseBackend::Postgres,
                try_lock.clone(),
            ))
            .await?;
        let locked: bool = match row {
            Some(row) => row.try_get("", "locked")?,
            None => false,
        };
        let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if locked {
            if logged.is_some() {
                tracing::info!(waited_ms, "migration lock taken");
            }
            return Ok(txn);
        }
        if logged.is_none_or(|at| at.elapsed() >= LOCK_WAIT_LOG_INTERVAL) {
            tracing::info!(
                waited_ms,
                "waiting for the migration lock: another instance is changing the schema"
            );
            logged = Some(std::time::Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `migrate up`: applies every pending migration (on PostgreSQL all of them in one
/// transaction under the migration lock).
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), DbErr> {
    if backend(db) != DatabaseBackend::Postgres {
        return Migrator::up(db, None).await;
    }
    let txn = locked_for_schema_changes(db).await?;
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// `migrate down [n]`: rolls back the last `n` migrations (all when `None`); on PostgreSQL in
/// one transaction under the migration lock.
pub async fn migrate_down(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
    if backend(db) != DatabaseBackend::Postgres {
        return Migrator::down(db, steps).await;
    }
    let txn = locked_for_schema_changes(db).await?;
    Migrator::down(&txn, steps).await?;
    txn.commit().await
}

/// `backup --to FILE` on SQLite: an online, consistent copy of the database into a new file
/// (`VACUUM INTO`; the service may keep running). PostgreSQL is backed up with `pg_dump`.
pub async fn backup_sqlite(db: &DatabaseConnection, to: &std::path::Path) -> Result<(), DbErr> {
    if backend(db) != DatabaseBackend::Sqlite {
        return Err(DbErr::Custom(
            "backup --to is for SQLite; back PostgreSQL up with scripts/backup.sh (pg_dump)"
                .to_owned(),
        ));
    }
    if to.exists() {
        return Err(DbErr::Custom(format!("{} already exists", to.display())));
    }
    let target = to.display().to_string().replace('\'', "''");
    db.execute_unprepared(&format!("VACUUM INTO '{target}'"))
        .await
        .map(|_| ())
}

/// One line of `migrate status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub name: String,
    pub applied: bool,
}

/// `migrate status`: every migration and whether it is applied.
pub async fn migration_status(db: &DatabaseConnection) -> Result<Vec<MigrationState>, DbErr> {
    let migrations = Migrator::get_migration_with_status(db).await?;
    Ok(migrations
        .iter()
        .map(|m| MigrationState {
            name: m.name().to_owned(),
            applied: matches!(m.status(), sea_orm_migration::MigrationStatus::Applied),
        })
        .collect())
}

/// Which database the pool talks to.
#[must_use]
pub fn backend(db: &DatabaseConnection) -> DatabaseBackend {
    db.get_database_backend()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked_before_they_reach_ddl() {
        assert!(valid_schema_name("event"));
        assert!(valid_schema_name("t_1a2b"));
        for bad in ["", "Event", "ev\"; drop", "1abc", &"a".repeat(64)] {
            assert!(!valid_schema_name(bad), "{bad}");
        }
    }
}
