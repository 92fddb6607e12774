//! The one mapping table from [`AppError`] to `tonic::Status` (the gRPC twin of the HTTP
//! adapter's problem+json table).
//!
//! Every status carries the stable error code twice: in the `x-error-code` metadata (cheap to
//! read from any client) and as a `google.rpc.ErrorInfo` detail (`reason` = code). Validation
//! errors add a `google.rpc.BadRequest` with one field violation per invalid field, rate limits
//! and unavailable dependencies a `google.rpc.RetryInfo`.

use std::collections::HashMap;

use application::{AppError, ErrorCode};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The metadata key holding the stable error code (`SOLD_OUT`, `VALIDATION_FAILED`, …).
pub const ERROR_CODE_METADATA: &str = "x-error-code";
/// The `domain` of the `ErrorInfo` detail.
pub const ERROR_DOMAIN: &str = "event.aquastream.org";

/// The gRPC code of an error code: this edge's one table. Exhaustive, so a new code does not
/// compile until it has a gRPC code; `codes_stay_in_the_family_of_their_kind` checks each one
/// against the code's transport-neutral [`application::ErrorKind`].
#[must_use]
pub const fn grpc_code(code: ErrorCode) -> Code {
    use ErrorCode as C;
    match code {
        C::NotFound => Code::NotFound,
        C::Forbidden => Code::PermissionDenied,
        C::Unauthenticated => Code::Unauthenticated,
        // A request that contradicts the one first sent under its key is wrong in itself (HTTP
        // 422); a fresh key fixes it, waiting does not.
        C::ValidationFailed | C::IdempotencyKeyReused | C::WebhookTimestampOutOfRange => {
            Code::InvalidArgument
        }
        C::RateLimited => Code::ResourceExhausted,
        C::ServiceUnavailable | C::DatabaseUnavailable => Code::Unavailable,
        C::InternalError => Code::Internal,
        // A lost optimistic-lock race: the client should re-read and retry the whole exchange.
        C::VersionConflict => Code::Aborted,
        C::InvalidTransition
        | C::EventNotBookable
        | C::BookingClosed
        | C::EventAlreadyStarted
        | C::EventNotFinished
        | C::SoldOut
        | C::CapacityBelowBooked
        | C::PriceOptionUnavailable
        | C::PriceOptionSoldOut
        | C::PromoCodeNotApplicable
        | C::PromoCodeInvalid
        | C::PaymentExceedsOutstanding
        | C::RefundExceedsPaid
        | C::PaymentDeadlinePassed
        | C::DeadlineNotReached
        | C::WaitlistOfferExpired
        | C::ReviewNotAllowed
        | C::SelfVote
        | C::InsufficientPoints
        | C::CategoryCycle
        | C::AlreadyBooked
        | C::AlreadyOnWaitlist
        | C::AlreadyReviewed
        | C::CategoryExists
        | C::PromoCodeExists
        | C::PromoCodeAlreadyRedeemed
        | C::BookingNotPayable
        | C::PaymentAmountMismatch
        | C::PaymentRefused
        | C::RefundExceedsPolicy
        | C::SeatsAvailable
        | C::NoCrewAvailable
        | C::CrewRequestRefused
        | C::CrewReleaseRefused
        | C::IdempotencyKeyInUse
        | C::PaymentKeyReused
        | C::PaymentReferenceConflict
        | C::WebhookReplayed
        | C::SeatLimitPerUser
        | C::UnpaidSeatLimit => Code::FailedPrecondition,
    }
}

/// The gRPC status of a use-case error. Internal errors are logged here and answered without
/// their detail.
#[must_use]
pub fn status_of(err: &AppError) -> Status {
    let code = err.code();
    let grpc_code = grpc_code(code);
    let mut details = ErrorDetails::new();
    let message = match err {
        AppError::Forbidden { reason } => (*reason).to_owned(),
        AppError::Conflict { message, .. } => message.clone(),
        AppError::Validation { fields } => {
            for f in fields {
                details.add_bad_request_violation(f.field.clone(), f.message.clone());
            }
            let summary = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ");
            format!("validation failed: {summary}")
        }
        AppError::Internal { detail } => {
            tracing::error!(detail = %detail, "internal error in a gRPC call");
            err.to_string()
        }
        AppError::NotFound { .. }
        | AppError::Unauthenticated
        | AppError::RateLimited { .. }
        | AppError::Unavailable { .. } => err.to_string(),
    };
    if let Some(retry_after) = err.retry_after() {
        details.set_retry_info(Some(retry_after));
    }
    details.set_error_info(code.as_str(), ERROR_DOMAIN, HashMap::new());
    let mut status = Status::with_error_details(grpc_code, message, details);
    status.metadata_mut().insert(
        ERROR_CODE_METADATA,
        MetadataValue::from_static(code.as_str()),
    );
    status
}

/// `AppError` → `Status` for `?` in the handlers.
pub(crate) trait OrStatus<T> {
    fn or_status(self) -> Result<T, Status>;
}

impl<T> OrStatus<T> for Result<T, AppError> {
    fn or_status(self) -> Result<T, Status> {
        self.map_err(|e| status_of(&e))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use application::ErrorKind;
    use tonic_types::StatusExt;

    use super::*;

    /// The rule both edges follow (`docs/architecture.md`, "Errors"): the gRPC codes each kind
    /// may take. The HTTP adapter's `problem.rs` checks its table against the same kinds.
    fn family(kind: ErrorKind) -> &'static [Code] {
        match kind {
            ErrorKind::InvalidInput => &[Code::InvalidArgument],
            ErrorKind::Unauthenticated => &[Code::Unauthenticated],
            ErrorKind::Forbidden => &[Code::PermissionDenied],
            ErrorKind::NotFound => &[Code::NotFound],
            ErrorKind::Conflict => &[Code::FailedPrecondition, Code::Aborted, Code::AlreadyExists],
            ErrorKind::RateLimited => &[Code::ResourceExhausted],
            ErrorKind::Unavailable => &[Code::Unavailable],
            ErrorKind::Internal => &[Code::Internal],
        }
    }

    #[test]
    fn codes_stay_in_the_family_of_their_kind() {
        for &code in ErrorCode::ALL {
            let grpc = grpc_code(code);
            assert!(
                family(code.kind()).contains(&grpc),
                "{code} is {grpc:?} over gRPC, outside its kind {:?}",
                code.kind()
            );
        }
    }

    #[test]
    fn a_reused_idempotency_key_is_an_invalid_argument_as_over_http() {
        let status = status_of(&AppError::conflict(
            ErrorCode::IdempotencyKeyReused,
            "another request",
        ));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(code_metadata(&status), Some("IDEMPOTENCY_KEY_REUSED"));
        assert_eq!(status.message(), "another request");
    }

    fn code_metadata(status: &Status) -> Option<&str> {
        status
            .metadata()
            .get(ERROR_CODE_METADATA)
            .and_then(|v| v.to_str().ok())
    }

    #[test]
    fn every_error_kind_has_its_grpc_code() {
        let table = [
            (
                AppError::NotFound { entity: "event" },
                Code::NotFound,
                "NOT_FOUND",
            ),
            (
                AppError::Forbidden {
                    reason: "organizers only",
                },
                Code::PermissionDenied,
                "FORBIDDEN",
            ),
            (
                AppError::Unauthenticated,
                Code::Unauthenticated,
                "UNAUTHENTICATED",
            ),
            (
                AppError::conflict(ErrorCode::SoldOut, "no seats left"),
                Code::FailedPrecondition,
                "SOLD_OUT",
            ),
            (
                AppError::version_conflict("event"),
                Code::Aborted,
                "VERSION_CONFLICT",
            ),
            (
                AppError::invalid("price", "too many decimals"),
                Code::InvalidArgument,
                "VALIDATION_FAILED",
            ),
            (
                AppError::RateLimited {
                    retry_after: Duration::from_secs(3),
                },
                Code::ResourceExhausted,
                "RATE_LIMITED",
            ),
            (
                AppError::Unavailable {
                    dependency: "database",
                },
                Code::Unavailable,
                "DATABASE_UNAVAILABLE",
            ),
            (
                AppError::Unavailable { dependency: "crew" },
                Code::Unavailable,
                "SERVICE_UNAVAILABLE",
            ),
            (AppError::internal("boom"), Code::Internal, "INTERNAL_ERROR"),
        ];
        for (err, grpc, code) in table {
            let status = status_of(&err);
            assert_eq!(status.code(), grpc, "{err:?}");
            assert_eq!(code_metadata(&status), Some(code), "{err:?}");
            let info = status.get_details_error_info().expect("ErrorInfo detail");
            assert_eq!(info.reason, code);
            assert_eq!(info.domain, ERROR_DOMAIN);
        }
    }

    #[test]
    fn validation_lists_every_field_violation() {
        let err = AppError::Validation {
            fields: vec![
                application::FieldError {
                    field: "price".into(),
                    message: "more than two decimals".into(),
                },
                application::FieldError {
                    field: "quantity".into(),
                    message: "must be at least 1".into(),
                },
            ],
        };
        let status = status_of(&err);
        let bad = status.get_details_bad_request().expect("BadRequest detail");
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|v| (v.field.as_str(), v.description.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("price", "more than two decimals"),
                ("quantity", "must be at least 1")
            ]
        );
        assert!(status.message().contains("price: more than two decimals"));
    }

    #[test]
    fn internal_details_are_not_shown() {
        let status = status_of(&AppError::internal("password=hunter2 at db.rs:12"));
        assert_eq!(status.message(), "internal error");
        assert!(!format!("{:?}", status.details()).contains("hunter2"));
    }

    #[test]
    fn rate_limits_say_when_to_retry() {
        let status = status_of(&AppError::RateLimited {
            retry_after: Duration::from_secs(7),
        });
        let retry = status.get_details_retry_info().expect("RetryInfo detail");
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(7)));
    }
}
