//! `AppError`: the error of every use case and port. Inbound adapters map it with one table
//! each (HTTP → problem+json, gRPC → `tonic::Status`).

use std::time::Duration;

use domain::DomainError;

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The object does not exist, or exists but belongs to someone else (ownership failures
    /// answer 404 so that ids of other users' objects cannot be probed).
    #[error("{entity} not found")]
    NotFound { entity: &'static str },

    /// The caller is known but their role does not allow the operation.
    #[error("forbidden: {reason}")]
    Forbidden { reason: &'static str },

    /// No valid credentials.
    #[error("authentication required")]
    Unauthenticated,

    /// The state of the world does not allow it (sold out, wrong status, version mismatch…).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },

    /// The input is malformed.
    #[error("validation failed")]
    Validation { fields: Vec<FieldError> },

    /// Too many requests; try again after `retry_after`.
    #[error("rate limit exceeded")]
    RateLimited { retry_after: Duration },

    /// A dependency (database, broker, gateway, crew service) is down or timed out.
    #[error("{dependency} is unavailable")]
    Unavailable { dependency: &'static str },

    /// A bug or an unexpected failure. `detail` is logged, never shown to callers.
    #[error("internal error")]
    Internal { detail: String },
}

impl AppError {
    /// The stable machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "NOT_FOUND",
            Self::Forbidden { .. } => "FORBIDDEN",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Conflict { code, .. } => code,
            Self::Validation { .. } => "VALIDATION_FAILED",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Unavailable { .. } => "SERVICE_UNAVAILABLE",
            Self::Internal { .. } => "INTERNAL_ERROR",
        }
    }

    #[must_use]
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// An optimistic-lock update found another version than the one it read.
    #[must_use]
    pub fn version_conflict(entity: &'static str) -> Self {
        Self::conflict(
            "VERSION_CONFLICT",
            format!("the {entity} was changed by someone else; reload and retry"),
        )
    }

    #[must_use]
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            fields: vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }

    #[must_use]
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::Internal {
            detail: detail.into(),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Validation { field, message } => Self::invalid(field, message),
            e if e.is_invariant_violation() => Self::internal(e.to_string()),
            e => Self::Conflict {
                code: e.code(),
                message: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_validation_becomes_a_field_error() {
        let app: AppError = DomainError::Validation {
            field: "quantity",
            message: "too many".into(),
        }
        .into();
        match app {
            AppError::Validation { fields } => assert_eq!(fields[0].field, "quantity"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn business_refusals_become_conflicts_with_the_domain_code() {
        let app: AppError = DomainError::SoldOut {
            requested: 2,
            available: 0,
        }
        .into();
        assert_eq!(app.code(), "SOLD_OUT");
        assert!(app.to_string().contains("waitlist"));
    }

    #[test]
    fn broken_invariants_become_internal_errors() {
        let app: AppError = DomainError::SeatAccounting {
            released: 1,
            capacity: 1,
        }
        .into();
        assert_eq!(app.code(), "INTERNAL_ERROR");
        assert_eq!(app.to_string(), "internal error", "details are not shown");
    }
}
