//! The one mapping table from [`AppError`] to `tonic::Status` (the gRPC twin of the HTTP
//! adapter's problem+json table).
//!
//! Every status carries the stable error code twice: in the `x-error-code` metadata (cheap to
//! read from any client) and as a `google.rpc.ErrorInfo` detail (`reason` = code). Validation
//! errors add a `google.rpc.BadRequest` with one field violation per invalid field, rate limits
//! a `google.rpc.RetryInfo`.

use std::collections::HashMap;

use application::AppError;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The metadata key holding the stable error code (`SOLD_OUT`, `VALIDATION_FAILED`, …).
pub const ERROR_CODE_METADATA: &str = "x-error-code";
/// The `domain` of the `ErrorInfo` detail.
pub const ERROR_DOMAIN: &str = "event.aquastream.org";

/// The gRPC status of a use-case error. Internal errors are logged here and answered without
/// their detail.
#[must_use]
pub fn status_of(err: &AppError) -> Status {
    let code = err.code();
    let mut details = ErrorDetails::new();
    let (grpc_code, message) = match err {
        AppError::NotFound { .. } => (Code::NotFound, err.to_string()),
        AppError::Forbidden { reason } => (Code::PermissionDenied, (*reason).to_owned()),
        AppError::Unauthenticated => (Code::Unauthenticated, err.to_string()),
        // A lost optimistic-lock race: the client should re-read and retry the whole exchange.
        AppError::Conflict {
            code: "VERSION_CONFLICT",
            message,
        } => (Code::Aborted, message.clone()),
        AppError::Conflict { message, .. } => (Code::FailedPrecondition, message.clone()),
        AppError::Validation { fields } => {
            for f in fields {
                details.add_bad_request_violation(f.field.clone(), f.message.clone());
            }
            let summary = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ");
            (
                Code::InvalidArgument,
                format!("validation failed: {summary}"),
            )
        }
        AppError::RateLimited { retry_after } => {
            details.set_retry_info(Some(*retry_after));
            (Code::ResourceExhausted, err.to_string())
        }
        AppError::Unavailable { .. } => (Code::Unavailable, err.to_string()),
        AppError::Internal { detail } => {
            tracing::error!(detail = %detail, "internal error in a gRPC call");
            (Code::Internal, err.to_string())
        }
    };
    details.set_error_info(code, ERROR_DOMAIN, HashMap::new());
    let mut status = Status::with_error_details(grpc_code, message, details);
    status
        .metadata_mut()
        .insert(ERROR_CODE_METADATA, MetadataValue::from_static(code));
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

    use tonic_types::StatusExt;

    use super::*;

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
                AppError::conflict("SOLD_OUT", "no seats left"),
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
