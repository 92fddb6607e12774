//! Mapping sea-orm errors to `AppError`. Connection trouble is `Unavailable` (the caller may
//! retry); constraint violations are recognised where a repository expects them; anything
//! else is `Internal` with the detail kept for the log.

use ports::AppError;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// The general mapping.
pub(crate) fn db_err(err: DbErr) -> AppError {
    let (kind, mapped) = match &err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
            ("connection", AppError::database_unavailable())
        }
        _ if is_connection_lost(&err) => ("connection", AppError::database_unavailable()),
        _ if is_busy(&err) => (
            "busy",
            AppError::Unavailable {
                dependency: "database",
            },
        ),
        _ => ("other", AppError::internal(format!("database: {err}"))),
    };
    metrics::counter!(crate::observability::DB_ERRORS, "kind" => kind).increment(1);
    mapped
}

/// A statement failed because its connection did (the server went away mid-query, the
/// socket was reset, the pool was closed): the database does not answer, the statement is
/// not wrong.
fn is_connection_lost(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as E;
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => matches!(
            e.as_ref(),
            E::Io(_)
                | E::Tls(_)
                | E::Protocol(_)
                | E::PoolTimedOut
                | E::PoolClosed
                | E::WorkerCrashed
        ),
        _ => false,
    }
}

/// A unique index said no.
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// A foreign key said no (a referenced row does not exist).
pub(crate) fn is_fk_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}

/// SQLite's "database is locked" / PostgreSQL serialization or deadlock failures: transient.
fn is_busy(err: &DbErr) -> bool {
    let text = match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            e.to_string()
        }
        _ => return false,
    };
    text.contains("database is locked")
        || text.contains("deadlock detected")
        || text.contains("could not serialize")
}

/// A stored value the domain refuses: the database holds something no code path writes.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("stored data is invalid: {what}"))
}
