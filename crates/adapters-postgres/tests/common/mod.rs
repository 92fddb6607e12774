//! Test databases: a fresh PostgreSQL schema or a fresh SQLite file per test, migrated up.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (default: the local server). When it does not
//! answer, a test prints `SKIPPED (no postgres at …)` and returns, unless
//! `EVENT_TEST_REQUIRE_SERVICES=1` makes that a failure (CI sets it).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::path::PathBuf;

use adapters_postgres::connection::{DatabaseConfig, connect, migrate_up};
use sea_orm::{ConnectionTrait, DatabaseConnection};

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A migrated, private database for one test. Dropped with the value (schema or file removed).
pub struct TestDb {
    pub db: DatabaseConnection,
    pub backend: Backend,
    pub config: DatabaseConfig,
    cleanup: Cleanup,
}

enum Cleanup {
    Schema { url: String, schema: String },
    File(PathBuf),
}

fn unique_name() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

fn require_services() -> bool {
    std::env::var("EVENT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

impl TestDb {
    /// An empty (not migrated) database.
    pub async fn empty(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{}.db", unique_name()));
                let mut config =
                    DatabaseConfig::new(format!("sqlite://{}?mode=rwc", path.display()));
                config.max_connections = 8;
                let db = connect(&config).await.expect("sqlite opens");
                Some(Self {
                    db,
                    backend,
                    config,
                    cleanup: Cleanup::File(path),
                })
            }
            Backend::Postgres => {
                let url =
                    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.to_owned());
                let mut config = DatabaseConfig::new(url.clone());
                config.schema = unique_name();
                config.max_connections = 30;
                match connect(&config).await {
                    Ok(db) => Some(Self {
                        db,
                        backend,
                        cleanup: Cleanup::Schema {
                            url,
                            schema: config.schema.clone(),
                        },
                        config,
                    }),
                    Err(e) if !require_services() => {
                        eprintln!("SKIPPED (no postgres at {url}): {e}");
                        None
                    }
                    Err(e) => {
                        panic!("postgres at {url} is required (EVENT_TEST_REQUIRE_SERVICES=1): {e}")
                    }
                }
            }
        }
    }

    /// A database with every migration applied.
    pub async fn migrated(backend: Backend) -> Option<Self> {
        let t = Self::empty(backend).await?;
        migrate_up(&t.db).await.expect("migrations apply");
        Some(t)
    }

    /// Lists the tables the test's schema (or file) holds, sorted.
    pub async fn tables(&self) -> Vec<String> {
        let sql = match self.backend {
            Backend::Postgres => format!(
                "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = '{}' ORDER BY 1",
                self.config.schema
            ),
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1".to_owned()
            }
        };
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                sql,
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get::<String>("", "name").unwrap())
            .collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Schema { url, schema } => {
                // Drop runs outside async; a short-lived runtime on its own thread does the DDL.
                let (url, schema) = (url.clone(), schema.clone());
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async move {
                        if let Ok(db) = sea_orm::Database::connect(url).await {
                            let _ = db
                                .execute_unprepared(&format!(
                                    "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                                ))
                                .await;
                            let _ = db.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Runs `body` against both backends (PostgreSQL skipped when absent and not required).
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, |$t:ident| $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some($t) = common::TestDb::migrated(common::Backend::Postgres).await {
                    $body
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some($t) = common::TestDb::migrated(common::Backend::Sqlite).await {
                    $body
                }
            }
        }
    };
}
