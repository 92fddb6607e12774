//! Private, migrated databases for integration tests (a dev-dependency only).
//!
//! **PostgreSQL** (`TEST_DATABASE_URL`, default the local server): the migrations run once into
//! a template database named after a fingerprint of the migration sources
//! (`evtest_tmpl_<fingerprint>`); every test then gets its own database with
//! `CREATE DATABASE evtest_<time>_<uuid> TEMPLATE evtest_tmpl_<fingerprint>`, dropped
//! `WITH (FORCE)` when its handle drops. nextest runs every test in its own process, so "once"
//! is arranged across processes: a missing template is built under a PostgreSQL advisory lock
//! (under a temporary name, renamed when complete, so nobody copies a half-migrated one).
//! Databases left behind by killed test processes are dropped by later runs after two hours;
//! templates of other migration versions after a day.
//!
//! **SQLite**: the same idea with files — one migrated file per fingerprint in the temp
//! directory, copied for each test and removed with its handle.
//!
//! Only an unreachable PostgreSQL server makes a test print `SKIPPED` and return, and not even
//! that when `EVENT_TEST_REQUIRE_SERVICES=1` (CI): any other failure (creating the database,
//! migrating it) fails the test.

#![allow(clippy::panic, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adapters_postgres::{DatabaseConfig, SeaUnitOfWork, backup_sqlite, connect, migrate_up};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};

/// The PostgreSQL server of the tests when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Test databases (and templates) are named with this prefix, so the clean-up of stale ones
/// touches nothing else on the server.
const PREFIX: &str = "evtest_";

/// A test database older than this was left behind by a killed test process.
const STALE_DATABASE: Duration = Duration::from_secs(2 * 3600);

/// A template of another migration version older than this is no longer used by any run.
const STALE_TEMPLATE: Duration = Duration::from_secs(24 * 3600);

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Whether a missing service fails the test instead of skipping it (`EVENT_TEST_REQUIRE_SERVICES=1`).
#[must_use]
pub fn require_services() -> bool {
    std::env::var("EVENT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The PostgreSQL server of the tests (`TEST_DATABASE_URL`, default [`DEFAULT_PG`]).
#[must_use]
pub fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.to_owned())
}

/// Whether a TCP connection to the host and port of `url` (`scheme://[user@]host[:port]/…`)
/// opens within two seconds. A URL this cannot read counts as reachable: connecting to it
/// then fails the test with the real error instead of skipping it.
#[must_use]
pub fn reachable(url: &str, default_port: u16) -> bool {
    use std::net::ToSocketAddrs;
    let Some((host, port)) = host_and_port(url, default_port) else {
        return true;
    };
    let Ok(addrs) = (host.as_str(), port).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

fn host_and_port(url: &str, default_port: u16) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() || host_port.starts_with('[') {
        return None;
    }
    match host_port.split_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((host_port.to_owned(), default_port)),
    }
}

/// `true` when `service` at `url` can be used. When its port does not answer: prints
/// `SKIPPED` and answers `false`, or panics when services are required.
#[must_use]
pub fn service_available(service: &str, url: &str, default_port: u16) -> bool {
    if reachable(url, default_port) {
        return true;
    }
    if require_services() {
        panic!(
            "{service} at {url} is required (EVENT_TEST_REQUIRE_SERVICES=1) but does not answer"
        );
    }
    eprintln!("SKIPPED (no {service} at {url})");
    false
}

/// A private database that exists but that nobody is connected to yet: what a test hands to
/// code that opens its own pool (the whole app of the end-to-end tests). Removed on drop.
#[derive(Debug)]
pub struct FreshDatabase {
    pub backend: Backend,
    /// The settings that open it (on PostgreSQL the URL names the test's own database; the
    /// schema is the service's normal one).
    pub config: DatabaseConfig,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    File(PathBuf),
    Database { server: String, name: String },
}

impl FreshDatabase {
    /// A copy of the migrated template; `None` when PostgreSQL does not answer and is not
    /// required.
    pub async fn migrated(backend: Backend) -> Option<Self> {
        Self::create(backend, true).await
    }

    /// An empty database (no migration applied).
    pub async fn empty(backend: Backend) -> Option<Self> {
        Self::create(backend, false).await
    }

    async fn create(backend: Backend, migrated: bool) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{PREFIX}{}.sqlite", uuid()));
                if migrated {
                    let template = sqlite_template().await;
                    if let Err(e) = std::fs::copy(&template, &path) {
                        panic!("copying {} to {}: {e}", template.display(), path.display());
                    }
                }
                Some(Self {
                    backend,
                    config: DatabaseConfig::new(sqlite_url(&path)),
                    cleanup: Cleanup::File(path),
                })
            }
            Backend::Postgres => {
                let server = postgres_url();
                if !service_available("postgres", &server, 5432) {
                    return None;
                }
                let name = format!("{PREFIX}{}_{}", unix_seconds(SystemTime::now()), uuid());
                create_postgres_database(&server, &name, migrated).await;
                let mut config = DatabaseConfig::new(with_database(&server, &name));
                config.max_connections = 30;
                Some(Self {
                    backend,
                    config,
                    cleanup: Cleanup::Database { server, name },
                })
            }
        }
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Database { server, name } => {
                // Drop runs outside async (and maybe inside a runtime that is shutting down):
                // a short-lived runtime on its own thread does the DDL. A failure leaves a
                // database that a later run drops as stale.
                let (server, name) = (server.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async move {
                        if let Ok(admin) = admin_connection(&server).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                                ))
                                .await;
                            let _ = admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// A migrated (or empty), connected, private database for one test.
#[derive(Debug)]
pub struct TestDb {
    pub db: DatabaseConnection,
    pub backend: Backend,
    pub config: DatabaseConfig,
    /// Declared last: the pool above is dropped before the database is.
    _database: FreshDatabase,
}

impl TestDb {
    /// A database with every migration applied; `None` when PostgreSQL does not answer and is
    /// not required.
    pub async fn migrated(backend: Backend) -> Option<Self> {
        Self::open(FreshDatabase::migrated(backend).await?).await
    }

    /// An empty (not migrated) database.
    pub async fn empty(backend: Backend) -> Option<Self> {
        Self::open(FreshDatabase::empty(backend).await?).await
    }

    async fn open(database: FreshDatabase) -> Option<Self> {
        let db = match connect(&database.config).await {
            Ok(db) => db,
            Err(e) => panic!("opening the test database {}: {e}", database.config.url),
        };
        Some(Self {
            db,
            backend: database.backend,
            config: database.config.clone(),
            _database: database,
        })
    }

    /// The unit of work over this database.
    #[must_use]
    pub fn uow(&self) -> SeaUnitOfWork {
        SeaUnitOfWork::new(self.db.clone())
    }

    /// The tables of the test's schema (or file), sorted.
    pub async fn tables(&self) -> Vec<String> {
        let sql = match self.backend {
            Backend::Postgres => format!(
                "SELECT table_name AS name FROM information_schema.tables \
                 WHERE table_schema = '{}' ORDER BY 1",
                self.config.schema
            ),
            Backend::Sqlite => "SELECT name FROM sqlite_master \
                 WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
                .to_owned(),
        };
        let rows = match self
            .db
            .query_all_raw(Statement::from_string(self.db.get_database_backend(), sql))
            .await
        {
            Ok(rows) => rows,
            Err(e) => panic!("listing tables: {e}"),
        };
        rows.iter()
            .map(|r| match r.try_get::<String>("", "name") {
                Ok(name) => name,
                Err(e) => panic!("a table name: {e}"),
            })
            .collect()
    }
}

/// Runs `body` against both backends, as two tests `postgres` and `sqlite` in a module
/// `$name` (PostgreSQL skipped when it does not answer and is not required).
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, |$t:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some($t) = $crate::TestDb::migrated($crate::Backend::Postgres).await {
                    $body
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some($t) = $crate::TestDb::migrated($crate::Backend::Sqlite).await {
                    $body
                }
            }
        }
    };
}

// --- names and URLs --------------------------------------------------------------------------

/// The fingerprint of the migration sources (see `build.rs`).
const FINGERPRINT: &str = env!("MIGRATIONS_FINGERPRINT");

fn uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// [`PREFIX`] as a `LIKE` pattern (its `_` taken literally).
fn like_prefix() -> String {
    PREFIX.replace('_', "\\_")
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// `url` with its database (the path) replaced by `name`, query parameters kept.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

// --- PostgreSQL ------------------------------------------------------------------------------

/// One connection to the server's maintenance database (the one `TEST_DATABASE_URL` names),
/// for the DDL on databases.
async fn admin_connection(server: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(server.to_owned());
    options
        .max_connections(1)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(options).await
}

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), sea_orm::DbErr> {
    db.execute_unprepared(sql).await.map(|_| ())
}

async fn exists(db: &DatabaseConnection, name: &str) -> Result<bool, sea_orm::DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await?;
    Ok(row.is_some())
}

/// The databases whose name is `LIKE` the pattern, with their comment.
async fn names(
    db: &DatabaseConnection,
    like: &str,
) -> Result<Vec<(String, String)>, sea_orm::DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT datname, COALESCE(shobj_description(oid, 'pg_database'), '') AS note \
             FROM pg_database WHERE datname LIKE $1",
            [like.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "datname")?, r.try_get("", "note")?)))
        .collect()
}

/// Creates `name` (a copy of the template, or empty) on `server`; any failure panics.
async fn create_postgres_database(server: &str, name: &str, migrated: bool) {
    let admin = match admin_connection(server).await {
        Ok(db) => db,
        Err(e) => panic!("postgres at {server} answers but refuses a connection: {e}"),
    };
    // DDL of test databases need not wait for the WAL to reach the disk.
    let _ = exec(&admin, "SET synchronous_commit = off").await;
    drop_stale_databases(&admin).await;
    let template = format!("{PREFIX}tmpl_{FINGERPRINT}");
    if !migrated {
        if let Err(e) = exec(
            &admin,
            &format!("CREATE DATABASE \"{name}\" TEMPLATE template0"),
        )
        .await
        {
            panic!("CREATE DATABASE {name}: {e}");
        }
        fast_commits(&admin, name).await;
        let _ = admin.close().await;
        return;
    }
    // A template of another migration version may be dropped by another run between the
    // check and the copy: then the check runs again (and builds it).
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Err(e) = ensure_template(server, &admin, &template).await {
            panic!("building the migrated template {template}: {e}");
        }
        match exec(
            &admin,
            &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
        )
        .await
        {
            Ok(()) => break,
            Err(e) if attempt < 3 && e.to_string().contains("does not exist") => {}
            Err(e) => panic!("CREATE DATABASE {name} TEMPLATE {template}: {e}"),
        }
    }
    fast_commits(&admin, name).await;
    let _ = admin.close().await;
}

/// Every session of the test database commits without waiting for the WAL to reach the disk
/// (`synchronous_commit = off`): what a test checks is unchanged (a commit is visible to
/// other sessions at once; only a server crash could lose it), and on a busy shared server
/// waiting for fsync at every commit is much of a test's time. A database-level setting is
/// not copied from the template, so each test database gets it.
async fn fast_commits(admin: &DatabaseConnection, name: &str) {
    let sql = format!("ALTER DATABASE \"{name}\" SET synchronous_commit = off");
    if let Err(e) = exec(admin, &sql).await {
        panic!("ALTER DATABASE {name}: {e}");
    }
}

/// Builds the template unless it exists. A template only ever exists complete: it is built
/// under another name and renamed at the end.
async fn ensure_template(
    server: &str,
    admin: &DatabaseConnection,
    template: &str,
) -> Result<(), sea_orm::DbErr> {
    if exists(admin, template).await? {
        return Ok(());
    }
    // Session-level advisory lock (one connection in this pool): released by the unlock
    // below, or by the server when a crashed process's connection goes away.
    let lock = "SELECT pg_advisory_lock(hashtext('backend-event test template'))";
    let unlock = "SELECT pg_advisory_unlock(hashtext('backend-event test template'))";
    exec(admin, lock).await?;
    let built = build_template(server, admin, template).await;
    exec(admin, unlock).await?;
    built
}

async fn build_template(
    server: &str,
    admin: &DatabaseConnection,
    template: &str,
) -> Result<(), sea_orm::DbErr> {
    if exists(admin, template).await? {
        return Ok(()); // another process built it while this one waited for the lock
    }
    let building = format!("{template}_building");
    exec(
        admin,
        &format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"),
    )
    .await?;
    exec(
        admin,
        &format!("CREATE DATABASE \"{building}\" TEMPLATE template0"),
    )
    .await?;
    let mut config = DatabaseConfig::new(with_database(server, &building));
    config.max_connections = 1;
    let db = connect(&config).await?;
    let migrated = migrate_up(&db).await;
    db.close().await?;
    migrated?;
    exec(
        admin,
        &format!(
            "COMMENT ON DATABASE \"{building}\" IS 'built {}'",
            unix_seconds(SystemTime::now())
        ),
    )
    .await?;
    exec(
        admin,
        &format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""),
    )
    .await?;
    // Templates of other migration versions that nobody has built for a day, and half-built
    // ones a crashed process left (every build holds the lock this process holds now).
    let now = unix_seconds(SystemTime::now());
    for (other, note) in names(admin, &format!("{}tmpl\\_%", like_prefix())).await? {
        let built: Option<u64> = note.strip_prefix("built ").and_then(|s| s.parse().ok());
        let stale = built.is_none_or(|b| now.saturating_sub(b) > STALE_TEMPLATE.as_secs());
        if other != template && (other.ends_with("_building") || stale) {
            let _ = exec(
                admin,
                &format!("DROP DATABASE IF EXISTS \"{other}\" WITH (FORCE)"),
            )
            .await;
        }
    }
    Ok(())
}

/// Drops test databases (`evtest_<unix seconds>_<uuid>`) older than [`STALE_DATABASE`]: what
/// killed test processes left behind. Best effort.
async fn drop_stale_databases(admin: &DatabaseConnection) {
    let Ok(all) = names(admin, &format!("{}%", like_prefix())).await else {
        return;
    };
    let now = unix_seconds(SystemTime::now());
    for (name, _) in all {
        let Some(created) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok())
        else {
            continue; // a template
        };
        if now.saturating_sub(created) > STALE_DATABASE.as_secs() {
            let _ = exec(
                admin,
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            )
            .await;
        }
    }
}

// --- SQLite ----------------------------------------------------------------------------------

/// The migrated SQLite file of this migration version, built when missing. Concurrent
/// builders each write their own file and rename it into place; the rename is atomic, so a
/// reader sees a complete file or none.
async fn sqlite_template() -> PathBuf {
    let dir = std::env::temp_dir();
    let template = dir.join(format!("{PREFIX}tmpl_{FINGERPRINT}.sqlite"));
    if template.exists() {
        return template;
    }
    let id = uuid();
    let building = dir.join(format!("{PREFIX}tmpl_{FINGERPRINT}.{id}.building"));
    let finished = dir.join(format!("{PREFIX}tmpl_{FINGERPRINT}.{id}.done"));
    let built = async {
        let db = connect(&DatabaseConfig::new(sqlite_url(&building))).await?;
        migrate_up(&db).await?;
        // One self-contained file (no -wal beside it) that a plain copy duplicates.
        backup_sqlite(&db, &finished).await?;
        db.close().await
    }
    .await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", building.display()));
    }
    if let Err(e) = built {
        let _ = std::fs::remove_file(&finished);
        panic!("building the SQLite template {}: {e}", template.display());
    }
    if let Err(e) = std::fs::rename(&finished, &template) {
        panic!("installing the SQLite template {}: {e}", template.display());
    }
    template
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_test_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "evtest_1_a"),
            "postgres://postgres@127.0.0.1:5432/evtest_1_a"
        );
        assert_eq!(
            with_database("postgres://u:p@db/x?sslmode=disable", "t"),
            "postgres://u:p@db/t?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://db:5433", "t"),
            "postgres://db:5433/t"
        );
    }

    #[test]
    fn the_probe_reads_host_and_port() {
        assert_eq!(
            host_and_port("postgres://postgres@127.0.0.1:5432/postgres", 1),
            Some(("127.0.0.1".to_owned(), 5432))
        );
        assert_eq!(
            host_and_port("amqp://guest:guest@rabbit/%2f", 5672),
            Some(("rabbit".to_owned(), 5672))
        );
        assert_eq!(host_and_port("sqlite::memory:", 1), None);
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        assert!(!reachable(
            &format!("postgres://x@127.0.0.1:{port}/db"),
            5432
        ));
    }
}
