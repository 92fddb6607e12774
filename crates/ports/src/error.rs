//! `AppError`: the error of every use case and port, and `ErrorCode`: the stable code every
//! error carries. Inbound adapters map the code with one exhaustive table each (HTTP → status
//! of a problem+json, gRPC → `tonic::Code`); both tables are tested against
//! [`ErrorCode::kind`], the transport-neutral class that keeps the two edges in agreement.

use std::time::Duration;

use domain::DomainError;

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// What kind of refusal a code is, independent of the transport. Each edge maps a kind to one
/// status family (`docs/architecture.md`, "Errors"): an edge may pick a finer status inside the
/// family (HTTP 400 or 422, gRPC `FAILED_PRECONDITION` or `ABORTED`), never leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request itself is wrong: fixing the request fixes it (HTTP 400/422, `INVALID_ARGUMENT`).
    InvalidInput,
    /// No valid credentials (HTTP 401, `UNAUTHENTICATED`).
    Unauthenticated,
    /// Known caller, not allowed (HTTP 403, `PERMISSION_DENIED`).
    Forbidden,
    /// No such object, or not the caller's (HTTP 404, `NOT_FOUND`).
    NotFound,
    /// The state of the world refuses a valid request (HTTP 409, `FAILED_PRECONDITION`,
    /// `ABORTED` for lost races, `ALREADY_EXISTS` for duplicates).
    Conflict,
    /// Too many requests (HTTP 429, `RESOURCE_EXHAUSTED`).
    RateLimited,
    /// A dependency is down (HTTP 503, `UNAVAILABLE`).
    Unavailable,
    /// A bug (HTTP 500, `INTERNAL`).
    Internal,
}

/// Declares [`ErrorCode`] from one list: variant, wire code, kind.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $kind:ident;)+) => {
        /// The stable machine-readable code of an error: the `code` of a problem+json body, the
        /// `x-error-code` metadata and `ErrorInfo.reason` of a gRPC status. Clients switch on
        /// the text ([`ErrorCode::as_str`]); it never changes once released.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, for tests that check a mapping table is complete and consistent.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire form (`SOLD_OUT`).
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code),+ }
            }

            /// The transport-neutral class both edges map from.
            #[must_use]
            pub const fn kind(self) -> ErrorKind {
                match self { $(Self::$variant => ErrorKind::$kind),+ }
            }
        }
    };
}

error_codes! {
    /// `AppError::NotFound`.
    NotFound = "NOT_FOUND", NotFound;
    /// `AppError::Forbidden`.
    Forbidden = "FORBIDDEN", Forbidden;
    /// `AppError::Unauthenticated`.
    Unauthenticated = "UNAUTHENTICATED", Unauthenticated;
    /// `AppError::Validation`: see the field errors.
    ValidationFailed = "VALIDATION_FAILED", InvalidInput;
    /// `AppError::RateLimited`.
    RateLimited = "RATE_LIMITED", RateLimited;
    /// `AppError::Unavailable`.
    ServiceUnavailable = "SERVICE_UNAVAILABLE", Unavailable;
    /// `AppError::Unavailable` of the database: writes are refused until it answers again,
    /// cached reads are still served (marked stale).
    DatabaseUnavailable = "DATABASE_UNAVAILABLE", Unavailable;
    /// `AppError::Internal`.
    InternalError = "INTERNAL_ERROR", Internal;

    // Refusals of the domain (`DomainError::code`).
    InvalidTransition = "INVALID_TRANSITION", Conflict;
    EventNotBookable = "EVENT_NOT_BOOKABLE", Conflict;
    BookingClosed = "BOOKING_CLOSED", Conflict;
    EventAlreadyStarted = "EVENT_ALREADY_STARTED", Conflict;
    EventNotFinished = "EVENT_NOT_FINISHED", Conflict;
    SoldOut = "SOLD_OUT", Conflict;
    CapacityBelowBooked = "CAPACITY_BELOW_BOOKED", Conflict;
    PriceOptionUnavailable = "PRICE_OPTION_UNAVAILABLE", Conflict;
    PriceOptionSoldOut = "PRICE_OPTION_SOLD_OUT", Conflict;
    PromoCodeNotApplicable = "PROMO_CODE_NOT_APPLICABLE", Conflict;
    PaymentExceedsOutstanding = "PAYMENT_EXCEEDS_OUTSTANDING", Conflict;
    RefundExceedsPaid = "REFUND_EXCEEDS_PAID", Conflict;
    PaymentDeadlinePassed = "PAYMENT_DEADLINE_PASSED", Conflict;
    DeadlineNotReached = "DEADLINE_NOT_REACHED", Conflict;
    WaitlistOfferExpired = "WAITLIST_OFFER_EXPIRED", Conflict;
    ReviewNotAllowed = "REVIEW_NOT_ALLOWED", Conflict;
    SelfVote = "SELF_VOTE", Conflict;
    InsufficientPoints = "INSUFFICIENT_POINTS", Conflict;
    CategoryCycle = "CATEGORY_CYCLE", Conflict;

    // Refusals of the use cases and ports.
    /// Another writer changed the object since it was read: re-read and retry.
    VersionConflict = "VERSION_CONFLICT", Conflict;
    AlreadyBooked = "ALREADY_BOOKED", Conflict;
    AlreadyOnWaitlist = "ALREADY_ON_WAITLIST", Conflict;
    AlreadyReviewed = "ALREADY_REVIEWED", Conflict;
    CategoryExists = "CATEGORY_EXISTS", Conflict;
    PromoCodeExists = "PROMO_CODE_EXISTS", Conflict;
    PromoCodeAlreadyRedeemed = "PROMO_CODE_ALREADY_REDEEMED", Conflict;
    /// A promo code that cannot be used here, whatever the reason (unknown, inactive, expired,
    /// used up, for another event): one answer, so that codes cannot be probed; the reason is
    /// audited.
    PromoCodeInvalid = "PROMO_CODE_INVALID", Conflict;
    BookingNotPayable = "BOOKING_NOT_PAYABLE", Conflict;
    PaymentAmountMismatch = "PAYMENT_AMOUNT_MISMATCH", Conflict;
    PaymentRefused = "PAYMENT_REFUSED", Conflict;
    RefundExceedsPolicy = "REFUND_EXCEEDS_POLICY", Conflict;
    /// A waitlist join while seats are still free: book instead.
    SeatsAvailable = "SEATS_AVAILABLE", Conflict;
    NoCrewAvailable = "NO_CREW_AVAILABLE", Conflict;
    CrewRequestRefused = "CREW_REQUEST_REFUSED", Conflict;
    CrewReleaseRefused = "CREW_RELEASE_REFUSED", Conflict;
    /// A request with the same idempotency key is still being processed.
    IdempotencyKeyInUse = "IDEMPOTENCY_KEY_IN_USE", Conflict;
    /// The payment's idempotency key already started another payment (another booking or
    /// amount).
    PaymentKeyReused = "PAYMENT_KEY_REUSED", Conflict;
    /// The gateway answered a reference another payment already holds.
    PaymentReferenceConflict = "PAYMENT_REFERENCE_CONFLICT", Conflict;
    /// A webhook that was already applied (same gateway and event id): a replay.
    WebhookReplayed = "WEBHOOK_REPLAYED", Conflict;
    /// The booking would give the user more seats of the event than its per-user limit.
    SeatLimitPerUser = "SEAT_LIMIT_PER_USER", Conflict;
    /// The booking would give the user more unpaid (PENDING_PAYMENT) seats, over all events,
    /// than the limit: pay or cancel a booking first.
    UnpaidSeatLimit = "UNPAID_SEAT_LIMIT", Conflict;
    /// A webhook whose signed timestamp is outside the accepted window (too old, or in the
    /// future): the request is wrong, not the state of the world.
    WebhookTimestampOutOfRange = "WEBHOOK_TIMESTAMP_OUT_OF_RANGE", InvalidInput;
    /// The idempotency key was already used for a different request: the request is wrong
    /// (a fresh key fixes it), not the state of the world.
    IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED", InvalidInput;
}

impl ErrorCode {
    /// The code of a domain refusal. Exhaustive, so a new `DomainError` variant needs a code
    /// here before it compiles; the test below keeps the text equal to `DomainError::code`.
    #[must_use]
    pub const fn of_domain(err: &DomainError) -> Self {
        match err {
            DomainError::Validation { .. } => Self::ValidationFailed,
            DomainError::InvalidTransition { .. } => Self::InvalidTransition,
            DomainError::EventNotBookable { .. } => Self::EventNotBookable,
            DomainError::BookingClosed { .. } => Self::BookingClosed,
            DomainError::EventAlreadyStarted => Self::EventAlreadyStarted,
            DomainError::EventNotFinished => Self::EventNotFinished,
            DomainError::SoldOut { .. } => Self::SoldOut,
            DomainError::CapacityBelowTaken { .. } => Self::CapacityBelowBooked,
            // A broken invariant is a bug, never shown to callers as such.
            DomainError::SeatAccounting { .. } => Self::InternalError,
            DomainError::PriceOptionUnavailable => Self::PriceOptionUnavailable,
            DomainError::PriceOptionSoldOut { .. } => Self::PriceOptionSoldOut,
            DomainError::PromoCodeNotApplicable { .. } => Self::PromoCodeNotApplicable,
            DomainError::PaymentExceedsOutstanding { .. } => Self::PaymentExceedsOutstanding,
            DomainError::RefundExceedsPaid { .. } => Self::RefundExceedsPaid,
            DomainError::PaymentDeadlinePassed => Self::PaymentDeadlinePassed,
            DomainError::DeadlineNotReached => Self::DeadlineNotReached,
            DomainError::WaitlistOfferExpired => Self::WaitlistOfferExpired,
            DomainError::ReviewNotAllowed { .. } => Self::ReviewNotAllowed,
            DomainError::SelfVote => Self::SelfVote,
            DomainError::InsufficientPoints { .. } => Self::InsufficientPoints,
            DomainError::CategoryCycle => Self::CategoryCycle,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the wire form, as a client would (`assert_eq!(err.code(), "SOLD_OUT")`).
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, thiserror::Error)]
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
    Conflict { code: ErrorCode, message: String },

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

/// The `Retry-After` of an unavailable dependency: long enough for a pool to reconnect or a
/// circuit to close, short enough that a client does not give up.
pub const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// The `dependency` the database adapter names (`const`: [`AppError::code`] is).
const fn is_database(dependency: &str) -> bool {
    let (a, b) = (dependency.as_bytes(), b"database");
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl AppError {
    /// The database did not answer (connection refused or lost, pool exhausted).
    #[must_use]
    pub const fn database_unavailable() -> Self {
        Self::Unavailable {
            dependency: "database",
        }
    }

    /// When the caller may try again (`Retry-After`, gRPC `RetryInfo`): the limiter's answer
    /// when rate-limited, [`UNAVAILABLE_RETRY_AFTER`] while a dependency is down.
    #[must_use]
    pub const fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            Self::Unavailable { .. } => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        }
    }

    /// The stable machine-readable code.
    #[must_use]
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Forbidden { .. } => ErrorCode::Forbidden,
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::Conflict { code, .. } => *code,
            Self::Validation { .. } => ErrorCode::ValidationFailed,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable { dependency } if is_database(dependency) => {
                ErrorCode::DatabaseUnavailable
            }
            Self::Unavailable { .. } => ErrorCode::ServiceUnavailable,
            Self::Internal { .. } => ErrorCode::InternalError,
        }
    }

    #[must_use]
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// An optimistic-lock update found another version than the one it read.
    #[must_use]
    pub fn version_conflict(entity: &'static str) -> Self {
        Self::conflict(
            ErrorCode::VersionConflict,
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
                code: ErrorCode::of_domain(&e),
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

    #[test]
    fn codes_are_distinct_screaming_snake_case() {
        let mut texts: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert!(
            texts
                .iter()
                .all(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_uppercase() || c == '_')),
            "{texts:?}"
        );
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), ErrorCode::ALL.len(), "duplicate code text");
    }

    #[test]
    fn domain_codes_keep_their_domain_text() {
        let samples = [
            DomainError::Validation {
                field: "x",
                message: String::new(),
            },
            DomainError::InvalidTransition {
                entity: "booking",
                from: "CANCELLED",
                action: "confirm",
            },
            DomainError::EventNotBookable { status: "DRAFT" },
            DomainError::BookingClosed {
                cutoff: chrono::DateTime::UNIX_EPOCH,
            },
            DomainError::EventAlreadyStarted,
            DomainError::EventNotFinished,
            DomainError::SoldOut {
                requested: 1,
                available: 0,
            },
            DomainError::CapacityBelowTaken {
                requested: 1,
                taken: 2,
            },
            DomainError::PriceOptionUnavailable,
            DomainError::PriceOptionSoldOut {
                requested: 1,
                available: 0,
            },
            DomainError::PromoCodeNotApplicable {
                reason: domain::error::PromoRejection::Expired,
            },
            DomainError::PaymentExceedsOutstanding {
                outstanding: domain::Money::ZERO,
            },
            DomainError::RefundExceedsPaid {
                refundable: domain::Money::ZERO,
            },
            DomainError::PaymentDeadlinePassed,
            DomainError::DeadlineNotReached,
            DomainError::WaitlistOfferExpired,
            DomainError::ReviewNotAllowed { reason: "absent" },
            DomainError::SelfVote,
            DomainError::InsufficientPoints {
                requested: 2,
                available: 1,
            },
            DomainError::CategoryCycle,
        ];
        for e in &samples {
            assert_eq!(ErrorCode::of_domain(e), e.code(), "{e:?}");
        }
        let invariant = DomainError::SeatAccounting {
            released: 1,
            capacity: 1,
        };
        assert_eq!(ErrorCode::of_domain(&invariant), ErrorCode::InternalError);
    }
}
