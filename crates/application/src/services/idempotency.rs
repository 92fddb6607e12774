//! `Idempotency-Key` handling (PRODUCT.md §3): the same key with the same body answers the
//! first response; the same key with another body is refused (422); a key whose first request
//! is still running is refused (409) instead of running twice.
//!
//! The key is reserved in its own transaction before the work starts, so two concurrent
//! requests with one key can never both run. The final response is stored afterwards; a
//! failure worth retrying (5xx) releases the key instead. A record past its `expires_at` is
//! never replayed (the key starts afresh), and a reservation left IN_PROGRESS longer than
//! [`in_progress_lease`] (its request crashed) is taken over.

use std::sync::Arc;

use chrono::Duration;
use domain::UserId;
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::ports::{IDEMPOTENCY_IN_PROGRESS, IdempotencyRecord, UnitOfWork};
use crate::{AppError, ErrorCode};

/// How long a reservation may stay IN_PROGRESS before another request with the key may take
/// it over (longer than any request runs: the HTTP shutdown timeout and the gateway timeouts
/// are well below it).
#[must_use]
pub fn in_progress_lease() -> Duration {
    Duration::seconds(60)
}

/// The longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// A reserved key: the caller runs the request and then calls [`IdempotencyService::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    key: String,
    user_id: Option<UserId>,
    operation: String,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyStart {
    /// First time: run it.
    Run(Reservation),
    /// Seen before with the same body: answer this.
    Replay { status: u16, body: Vec<u8> },
}

#[derive(Clone)]
pub struct IdempotencyService {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
}

impl std::fmt::Debug for IdempotencyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyService")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// The hash a stored key is compared with: the operation's canonical request.
#[must_use]
pub fn request_hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

impl IdempotencyService {
    /// Keys are kept `ttl` (at least a day).
    #[must_use]
    pub fn new(uow: Arc<dyn UnitOfWork>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self { uow, clock, ttl }
    }

    /// Validates the key and reserves it, or finds the stored answer.
    #[tracing::instrument(name = "IdempotencyService.begin", skip_all)]
    pub async fn begin(
        &self,
        key: &str,
        user_id: Option<UserId>,
        operation: &str,
        request_hash: &str,
    ) -> Result<IdempotencyStart, AppError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AppError::invalid(
                "Idempotency-Key",
                format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            ));
        }
        let tx = self.uow.begin().await?;
        let now = self.clock.now();
        if let Some(found) = tx.idempotency().find(key, user_id, operation).await? {
            let expired = found.expires_at <= now;
            // A request that crashed (or a process that died) leaves its key IN_PROGRESS: after
            // the lease anyone may take it over instead of being refused forever.
            let abandoned = found.response_status == IDEMPOTENCY_IN_PROGRESS
                && found.created_at + in_progress_lease() <= now;
            if !expired && !abandoned {
                return Self::answer(&found, request_hash);
            }
            tx.idempotency().release(key, user_id, operation).await?;
        }
        let reserved = tx
            .idempotency()
            .save(IdempotencyRecord {
                key: key.to_owned(),
                user_id,
                operation: operation.to_owned(),
                request_hash: request_hash.to_owned(),
                response_status: IDEMPOTENCY_IN_PROGRESS,
                response_body: Vec::new(),
                created_at: now,
                expires_at: now + self.ttl,
            })
            .await;
        match reserved {
            Ok(()) => {
                tx.commit().await?;
                Ok(IdempotencyStart::Run(Reservation {
                    key: key.to_owned(),
                    user_id,
                    operation: operation.to_owned(),
                }))
            }
            Err(AppError::Conflict { .. }) => {
                // Someone reserved it between our read and our insert: read theirs.
                drop(tx);
                let tx = self.uow.begin().await?;
                match tx.idempotency().find(key, user_id, operation).await? {
                    Some(found) => Self::answer(&found, request_hash),
                    None => Err(in_use()),
                }
            }
            Err(other) => Err(other),
        }
    }

    fn answer(found: &IdempotencyRecord, request_hash: &str) -> Result<IdempotencyStart, AppError> {
        if found.request_hash != request_hash {
            return Err(AppError::conflict(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request",
            ));
        }
        if found.response_status == IDEMPOTENCY_IN_PROGRESS {
            return Err(in_use());
        }
        Ok(IdempotencyStart::Replay {
            status: found.response_status,
            body: found.response_body.clone(),
        })
    }

    /// Stores the response (2xx–4xx) or releases the key (5xx: the client may retry).
    #[tracing::instrument(name = "IdempotencyService.finish", skip_all)]
    pub async fn finish(
        &self,
        reservation: Reservation,
        status: u16,
        body: Vec<u8>,
    ) -> Result<(), AppError> {
        let tx = self.uow.begin().await?;
        let Reservation {
            key,
            user_id,
            operation,
        } = reservation;
        if status >= 500 {
            tx.idempotency().release(&key, user_id, &operation).await?;
        } else {
            tx.idempotency()
                .complete(&key, user_id, &operation, status, body)
                .await?;
        }
        tx.commit().await
    }
}

fn in_use() -> AppError {
    AppError::conflict(
        ErrorCode::IdempotencyKeyInUse,
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::services::test_support::{FakeTx, uow_with};
    use chrono::{TimeZone, Utc};
    use std::sync::atomic::AtomicBool;

    fn now() -> domain::Timestamp {
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
    }

    fn service(txs: Vec<FakeTx>) -> IdempotencyService {
        IdempotencyService::new(
            Arc::new(uow_with(txs)),
            Arc::new(ManualClock::new(now())),
            Duration::hours(24),
        )
    }

    fn tx() -> FakeTx {
        FakeTx::new(Arc::new(AtomicBool::new(false)))
    }

    fn stored(hash: &str, status: u16) -> IdempotencyRecord {
        IdempotencyRecord {
            key: "k1".into(),
            user_id: None,
            operation: "op".into(),
            request_hash: hash.into(),
            response_status: status,
            response_body: b"{\"id\":1}".to_vec(),
            created_at: now(),
            expires_at: now() + Duration::hours(24),
        }
    }

    #[tokio::test]
    async fn a_new_key_is_reserved_as_in_progress_with_its_ttl() {
        let mut t = tx();
        t.idempotency.expect_find().returning(|_, _, _| Ok(None));
        t.idempotency
            .expect_save()
            .times(1)
            .withf(|r| {
                r.response_status == IDEMPOTENCY_IN_PROGRESS
                    && r.expires_at == now() + Duration::hours(24)
                    && r.request_hash == "h"
            })
            .returning(|_| Ok(()));
        let start = service(vec![t]).begin("k1", None, "op", "h").await.unwrap();
        assert!(matches!(start, IdempotencyStart::Run(_)));
    }

    #[tokio::test]
    async fn same_body_replays_and_other_body_is_refused() {
        let mut t = tx();
        t.idempotency
            .expect_find()
            .returning(|_, _, _| Ok(Some(stored("h", 201))));
        let start = service(vec![t]).begin("k1", None, "op", "h").await.unwrap();
        assert_eq!(
            start,
            IdempotencyStart::Replay {
                status: 201,
                body: b"{\"id\":1}".to_vec()
            }
        );

        let mut t = tx();
        t.idempotency
            .expect_find()
            .returning(|_, _, _| Ok(Some(stored("h", 201))));
        let err = service(vec![t])
            .begin("k1", None, "op", "other")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "IDEMPOTENCY_KEY_REUSED");
    }

    #[tokio::test]
    async fn a_running_first_request_is_reported_in_use() {
        let mut t = tx();
        t.idempotency
            .expect_find()
            .returning(|_, _, _| Ok(Some(stored("h", IDEMPOTENCY_IN_PROGRESS))));
        let err = service(vec![t])
            .begin("k1", None, "op", "h")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "IDEMPOTENCY_KEY_IN_USE");
    }

    #[tokio::test]
    async fn an_expired_record_is_not_replayed_and_an_abandoned_reservation_is_taken_over() {
        let expired = IdempotencyRecord {
            expires_at: now() - Duration::seconds(1),
            ..stored("old-body", 201)
        };
        let abandoned = IdempotencyRecord {
            created_at: now() - in_progress_lease(),
            ..stored("h", IDEMPOTENCY_IN_PROGRESS)
        };
        for found in [expired, abandoned] {
            let mut t = tx();
            let record = found.clone();
            t.idempotency
                .expect_find()
                .returning(move |_, _, _| Ok(Some(record.clone())));
            t.idempotency
                .expect_release()
                .times(1)
                .returning(|_, _, _| Ok(()));
            t.idempotency
                .expect_save()
                .times(1)
                .withf(|r| r.response_status == IDEMPOTENCY_IN_PROGRESS && r.created_at == now())
                .returning(|_| Ok(()));
            let start = service(vec![t]).begin("k1", None, "op", "h").await.unwrap();
            assert!(matches!(start, IdempotencyStart::Run(_)), "{found:?}");
        }
        // Within the lease the first request is still running.
        let mut t = tx();
        t.idempotency.expect_find().returning(|_, _, _| {
            Ok(Some(IdempotencyRecord {
                created_at: now() - in_progress_lease() + Duration::seconds(1),
                ..stored("h", IDEMPOTENCY_IN_PROGRESS)
            }))
        });
        let err = service(vec![t])
            .begin("k1", None, "op", "h")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "IDEMPOTENCY_KEY_IN_USE");
    }

    #[tokio::test]
    async fn malformed_keys_are_refused_before_any_transaction() {
        for key in ["", "has space", &"x".repeat(256), "ключ"] {
            let err = service(vec![])
                .begin(key, None, "op", "h")
                .await
                .unwrap_err();
            assert_eq!(err.code(), "VALIDATION_FAILED", "{key}");
        }
    }

    #[tokio::test]
    async fn server_errors_release_the_key_and_others_store_the_response() {
        let mut t = tx();
        t.idempotency
            .expect_release()
            .times(1)
            .returning(|_, _, _| Ok(()));
        let r = Reservation {
            key: "k".into(),
            user_id: None,
            operation: "op".into(),
        };
        service(vec![t])
            .finish(r.clone(), 503, vec![])
            .await
            .unwrap();

        let mut t = tx();
        t.idempotency
            .expect_complete()
            .times(1)
            .withf(|_, _, _, status, body| *status == 409 && body == b"x")
            .returning(|_, _, _, _, _| Ok(()));
        service(vec![t])
            .finish(r, 409, b"x".to_vec())
            .await
            .unwrap();
    }

    #[test]
    fn request_hash_separates_parts() {
        assert_ne!(request_hash(&[b"ab", b"c"]), request_hash(&[b"a", b"bc"]));
        // Stored keys compare against this value: its format may not drift. SHA-256 of the
        // length (8 bytes, big-endian) and the bytes of each part.
        assert_eq!(
            request_hash(&[b"x"]),
            "028f0df5b8596fbcd10c9720b7a4784f8e7e04f629bd5a62bfbdf139678b6624"
        );
    }
}
