//! Test databases for use-case tests: in-memory SQLite, or a private PostgreSQL schema per
//! test, migrated up.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (default: the local server). When it does not
//! answer, the test prints `SKIPPED (no postgres at …)` and returns, unless
//! `EVENT_TEST_REQUIRE_SERVICES=1` makes that a failure.
//!
//! The bootstrap crate does not depend on sea-orm, so a PostgreSQL schema is emptied with
//! `migrate_down` when the value drops (the empty schema stays behind).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use adapters_postgres::{DatabaseConfig, SeaUnitOfWork, connect, migrate_down, migrate_up};

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

fn require_services() -> bool {
    std::env::var("EVENT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

impl TestDb {
    pub async fn migrated(backend: Backend) -> Option<Self> {
        let config = match backend {
            Backend::Sqlite => DatabaseConfig::new("sqlite::memory:"),
            Backend::Postgres => {
                let url =
                    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.to_owned());
                let mut config = DatabaseConfig::new(url);
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
        if self.backend != Backend::Postgres {
            return;
        }
        // Drop runs outside async: a short-lived runtime on its own thread undoes the schema.
        let config = self.config.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(db) = connect(&config).await {
                    let _ = migrate_down(&db, None).await;
                }
            });
        })
        .join();
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
