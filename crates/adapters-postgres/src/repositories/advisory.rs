//! PostgreSQL transaction-level advisory locks, keyed by a stable 64-bit hash.
//!
//! A key is FNV-1a 64 over `namespace`, a zero byte and the subject's bytes, read as `i64`.
//! FNV is written out here because std's `DefaultHasher` may change between Rust releases,
//! and two instances built by different compilers must agree on the key. The namespace keeps
//! the job locks and the per-user loyalty locks apart. The locks are released at commit or
//! rollback (`*_xact_*`), so nothing can leak one.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

/// FNV-1a, 64 bits.
fn fnv1a_64<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.into_iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

/// The lock key of `subject` in `namespace`.
pub(super) fn key(namespace: &str, subject: &[u8]) -> i64 {
    let hash = fnv1a_64(namespace.as_bytes().iter().chain(&[0]).chain(subject));
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Waits for the lock (PostgreSQL only; the caller checks the backend).
pub(super) async fn lock(conn: &impl ConnectionTrait, key: i64) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [key.into()],
    ))
    .await
    .map(|_| ())
}

/// Takes the lock if it is free (PostgreSQL only; the caller checks the backend).
pub(super) async fn try_lock(conn: &impl ConnectionTrait, key: i64) -> Result<bool, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1) AS locked",
            [key.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("pg_try_advisory_xact_lock answered no row".to_owned()))?;
    row.try_get::<bool>("", "locked")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn keys_are_stable_and_namespaced() {
        assert_eq!(key("job", b"outbox-relay"), key("job", b"outbox-relay"));
        assert_ne!(key("job", b"outbox-relay"), key("job", b"outbox-purge"));
        assert_ne!(key("job", b"x"), key("loyalty", b"x"));
        // the namespace separator keeps ("ab", "c") and ("a", "bc") apart
        assert_ne!(key("ab", b"c"), key("a", b"bc"));
    }
}
