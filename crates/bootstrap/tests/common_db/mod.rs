//! Test databases for use-case tests: in-memory SQLite, or a private PostgreSQL schema per
//! test, migrated up.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (default: the local server). When it does not
//! answer, the test prints `SKIPPED (no postgres at …)` and returns, unless
//! `EVENT_TEST_REQUIRE_SERVICES=1` makes that a failure.
//!
//! A PostgreSQL schema is dropped when the value drops. `support/mod.rs` (the end-to-end
//! `spawn_app`) shares the PostgreSQL helpers below.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use adapters_postgres::{DatabaseConfig, SeaUnitOfWork, connect, migrate_up};

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A migrated, private database for one test (the bootstrap crate cannot name sea-orm's
/// connection type, so the database is held as the unit of work over it).
pub struct TestDb {
    pub uow: SeaUnitOfWork,
    pub backend: Backend,
    config: DatabaseConfig,
}

pub fn require_services() -> bool {
    std::env::var("EVENT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The PostgreSQL server of the tests.
pub fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.to_owned())
}

/// Drops a test schema. Drop runs outside async, so a short-lived runtime on its own thread
/// does the DDL.
pub fn drop_schema(url: &str, schema: &str) {
    let (url, schema) = (url.to_owned(), schema.to_owned());
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use sea_orm::ConnectionTrait;
            if let Ok(db) = sea_orm::Database::connect(url).await {
                let _ = db
                    .execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .await;
                let _ = db.close().await;
            }
        });
    })
    .join();
}

impl TestDb {
    pub async fn migrated(backend: Backend) -> Option<Self> {
        let config = match backend {
            Backend::Sqlite => DatabaseConfig::new("sqlite::memory:"),
            Backend::Postgres => {
                let mut config = DatabaseConfig::new(postgres_url());
                config.schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                config.max_connections = 10;
                config
            }
        };
        let db = match connect(&config).await {
            Ok(db) => db,
            Err(e) if backend == Backend::Postgres && !require_services() => {
                eprintln!("SKIPPED (no postgres at {}): {e}", config.url);
                return None;
            }
            Err(e) => panic!("database at {} is required: {e}", config.url),
        };
        migrate_up(&db).await.expect("migrations apply");
        Some(Self {
            uow: SeaUnitOfWork::new(db),
            backend,
            config,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.backend == Backend::Postgres {
            drop_schema(&self.config.url, &self.config.schema);
        }
    }
}

/// Runs `body` against SQLite and PostgreSQL (skipped when absent and not required).
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, |$t:ident| $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some($t) = common_db::TestDb::migrated(common_db::Backend::Postgres).await {
                    $body
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some($t) = common_db::TestDb::migrated(common_db::Backend::Sqlite).await {
                    $body
                }
            }
        }
    };
}
