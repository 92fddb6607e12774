//! The one error type of the domain. Every variant has a stable machine-readable `code`
//! that the inbound adapters put into problem+json bodies and gRPC status details.

use crate::Money;

/// Why a promo code cannot be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromoRejection {
    Inactive,
    NotYetValid,
    Expired,
    Exhausted,
    OtherEvent,
}

impl PromoRejection {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inactive => "the promo code is not active",
            Self::NotYetValid => "the promo code is not valid yet",
            Self::Expired => "the promo code has expired",
            Self::Exhausted => "the promo code has been used up",
            Self::OtherEvent => "the promo code is for another event",
        }
    }
}

/// A business rule said no.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// An input value breaks a rule of its own (length, range, format).
    #[error("{field}: {message}")]
    Validation {
        field: &'static str,
        message: String,
    },

    /// A state machine was asked for a move it does not allow.
    #[error("cannot {action} a {entity} that is {from}")]
    InvalidTransition {
        entity: &'static str,
        from: &'static str,
        action: &'static str,
    },

    /// The event is not PUBLISHED, so nobody can book it.
    #[error("the event is not open for booking (it is {status})")]
    EventNotBookable { status: &'static str },

    /// The booking cutoff (`start_date - booking_deadline_hours`) has passed.
    #[error("booking for this event closed at {cutoff}")]
    BookingClosed { cutoff: crate::Timestamp },

    /// The event has already started; it can no longer be published or rescheduled into the past.
    #[error("the event has already started")]
    EventAlreadyStarted,

    /// The event has not ended yet, so it cannot be completed.
    #[error("the event has not ended yet")]
    EventNotFinished,

    /// Not enough free seats for the requested quantity.
    #[error("sold out: {requested} seat(s) requested, {available} available; the waitlist is open")]
    SoldOut { requested: u32, available: u32 },

    /// The capacity cannot go below the seats already taken.
    #[error("capacity {requested} is below the {taken} seat(s) already taken")]
    CapacityBelowTaken { requested: u32, taken: u32 },

    /// Seats were released that were never taken: a bug in the caller, never user input.
    #[error("seat accounting error: releasing {released} seat(s) would exceed capacity {capacity}")]
    SeatAccounting { released: u32, capacity: u32 },

    /// The chosen price option is inactive or belongs to another event.
    #[error("the price option is not available for this event")]
    PriceOptionUnavailable,

    /// The chosen price option has no stock left for the requested quantity.
    #[error("the price option is sold out: {requested} requested, {available} left")]
    PriceOptionSoldOut { requested: u32, available: u32 },

    /// The promo code cannot be applied.
    #[error("{}", reason.as_str())]
    PromoCodeNotApplicable { reason: PromoRejection },

    /// A payment larger than what is still owed on the booking.
    #[error("the amount exceeds the outstanding {outstanding}")]
    PaymentExceedsOutstanding { outstanding: Money },

    /// A refund larger than what is still refundable on the payment.
    #[error("the refund exceeds the refundable {refundable}")]
    RefundExceedsPaid { refundable: Money },

    /// The payment deadline (plus grace) of a pending booking has passed.
    #[error("the payment deadline has passed")]
    PaymentDeadlinePassed,

    /// A deadline-driven transition (expiry) was asked before its deadline.
    #[error("the deadline has not been reached yet")]
    DeadlineNotReached,

    /// The waitlist offer's hold window is over.
    #[error("the waitlist offer has expired")]
    WaitlistOfferExpired,

    /// Reviews are only for people who attended.
    #[error("cannot review this event: {reason}")]
    ReviewNotAllowed { reason: &'static str },

    /// Authors cannot vote for their own review.
    #[error("authors cannot mark their own review as helpful")]
    SelfVote,

    /// The user does not have the loyalty points they asked to redeem.
    #[error("not enough loyalty points: {requested} requested, {available} available")]
    InsufficientPoints { requested: u64, available: u64 },

    /// The category hierarchy would contain a cycle.
    #[error("the category hierarchy would contain a cycle")]
    CategoryCycle,
}

impl DomainError {
    /// The stable code clients can switch on.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "VALIDATION_FAILED",
            Self::InvalidTransition { .. } => "INVALID_TRANSITION",
            Self::EventNotBookable { .. } => "EVENT_NOT_BOOKABLE",
            Self::BookingClosed { .. } => "BOOKING_CLOSED",
            Self::EventAlreadyStarted => "EVENT_ALREADY_STARTED",
            Self::EventNotFinished => "EVENT_NOT_FINISHED",
            Self::SoldOut { .. } => "SOLD_OUT",
            Self::CapacityBelowTaken { .. } => "CAPACITY_BELOW_BOOKED",
            Self::SeatAccounting { .. } => "SEAT_ACCOUNTING",
            Self::PriceOptionUnavailable => "PRICE_OPTION_UNAVAILABLE",
            Self::PriceOptionSoldOut { .. } => "PRICE_OPTION_SOLD_OUT",
            Self::PromoCodeNotApplicable { .. } => "PROMO_CODE_NOT_APPLICABLE",
            Self::PaymentExceedsOutstanding { .. } => "PAYMENT_EXCEEDS_OUTSTANDING",
            Self::RefundExceedsPaid { .. } => "REFUND_EXCEEDS_PAID",
            Self::PaymentDeadlinePassed => "PAYMENT_DEADLINE_PASSED",
            Self::DeadlineNotReached => "DEADLINE_NOT_REACHED",
            Self::WaitlistOfferExpired => "WAITLIST_OFFER_EXPIRED",
            Self::ReviewNotAllowed { .. } => "REVIEW_NOT_ALLOWED",
            Self::SelfVote => "SELF_VOTE",
            Self::InsufficientPoints { .. } => "INSUFFICIENT_POINTS",
            Self::CategoryCycle => "CATEGORY_CYCLE",
        }
    }

    /// Whether the error is about the shape of the input (→ 400/422 with field errors) rather
    /// than about the state of the world (→ 409).
    #[must_use]
    pub const fn is_validation(&self) -> bool {
        matches!(self, Self::Validation { .. })
    }

    /// Whether the error reveals a bug (an invariant broken by the caller), not a user mistake.
    #[must_use]
    pub const fn is_invariant_violation(&self) -> bool {
        matches!(self, Self::SeatAccounting { .. })
    }

    pub(crate) fn validation(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation {
            field,
            message: message.into(),
        }
    }

    /// A text value that is not one of `expected` (the `FromStr` error of every text enum).
    #[must_use]
    pub fn unknown_value(kind: &'static str, value: &str, expected: &[&str]) -> Self {
        // Echo at most a short prefix of the rejected value: it is attacker-controlled.
        let shown: String = value.chars().take(40).collect();
        Self::Validation {
            field: kind,
            message: format!(
                "unknown value '{shown}', expected one of {}",
                expected.join(", ")
            ),
        }
    }

    /// An unknown value of a request input: the wording both inbound adapters answer with.
    pub fn unknown_input(field: &'static str, value: &str, expected: &[&str]) -> Self {
        // Echo at most a short prefix of the rejected value: it is attacker-controlled.
        let shown: String = value.chars().take(40).collect();
        Self::Validation {
            field,
            message: format!(
                "unknown value `{shown}`; expected one of {}",
                expected.join(", ")
            ),
        }
    }

    pub(crate) const fn invalid_transition(
        entity: &'static str,
        from: &'static str,
        action: &'static str,
    ) -> Self {
        Self::InvalidTransition {
            entity,
            from,
            action,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_distinct() {
        let samples = [
            DomainError::validation("f", "m"),
            DomainError::invalid_transition("booking", "CANCELED", "confirm"),
            DomainError::EventNotBookable { status: "DRAFT" },
            DomainError::BookingClosed {
                cutoff: chrono::DateTime::UNIX_EPOCH,
            },
            DomainError::EventAlreadyStarted,
            DomainError::EventNotFinished,
            DomainError::SoldOut {
                requested: 2,
                available: 1,
            },
            DomainError::CapacityBelowTaken {
                requested: 1,
                taken: 2,
            },
            DomainError::SeatAccounting {
                released: 1,
                capacity: 1,
            },
            DomainError::PriceOptionUnavailable,
            DomainError::PriceOptionSoldOut {
                requested: 1,
                available: 0,
            },
            DomainError::PromoCodeNotApplicable {
                reason: PromoRejection::Expired,
            },
            DomainError::PaymentExceedsOutstanding {
                outstanding: Money::ZERO,
            },
            DomainError::RefundExceedsPaid {
                refundable: Money::ZERO,
            },
            DomainError::PaymentDeadlinePassed,
            DomainError::DeadlineNotReached,
            DomainError::WaitlistOfferExpired,
            DomainError::ReviewNotAllowed { reason: "x" },
            DomainError::SelfVote,
            DomainError::InsufficientPoints {
                requested: 2,
                available: 1,
            },
            DomainError::CategoryCycle,
        ];
        let mut codes: Vec<_> = samples.iter().map(DomainError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), samples.len());
        assert_eq!(samples[6].code(), "SOLD_OUT");
        assert!(samples[6].to_string().contains("waitlist"));
    }

    #[test]
    fn unknown_values_are_echoed_truncated() {
        let long = "X".repeat(500);
        let DomainError::Validation { message, .. } =
            DomainError::unknown_value("Status", &long, &["A"])
        else {
            panic!("expected a validation error");
        };
        assert!(message.len() < 120, "{message}");
    }
}
