//! Promo codes: a percent or a fixed amount off, in a validity window, with an optional use
//! limit and event scope.

use crate::error::PromoRejection;
use crate::pricing::PromoDiscount;
use crate::{DomainError, EventId, PromoCodeId, Timestamp, UserId};

/// A normalized code: 3–50 characters of `A-Z`, `0-9`, `_`, `-`, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PromoCodeText(String);

impl PromoCodeText {
    pub fn new(raw: &str) -> Result<Self, DomainError> {
        let code = raw.trim().to_ascii_uppercase();
        let ok = (3..=50).contains(&code.len())
            && code
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
        if !ok {
            return Err(DomainError::validation(
                "code",
                "must be 3-50 characters of A-Z, 0-9, '_' or '-'",
            ));
        }
        Ok(Self(code))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Validated terms of a promo code (for create and update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoTerms {
    pub discount: PromoDiscount,
    pub valid_from: Timestamp,
    pub valid_until: Option<Timestamp>,
    pub max_uses: Option<u32>,
    pub event_id: Option<EventId>,
    pub is_active: bool,
}

impl PromoTerms {
    pub fn new(
        discount: PromoDiscount,
        valid_from: Timestamp,
        valid_until: Option<Timestamp>,
        max_uses: Option<i64>,
        event_id: Option<EventId>,
        is_active: bool,
    ) -> Result<Self, DomainError> {
        match discount {
            PromoDiscount::Percent(p) if p.value().is_zero() => {
                return Err(DomainError::validation(
                    "discount_percentage",
                    "must be between 1 and 100",
                ));
            }
            PromoDiscount::FixedAmount(m) if !m.is_positive() => {
                return Err(DomainError::validation(
                    "discount_amount",
                    "must be positive",
                ));
            }
            _ => {}
        }
        if valid_until.is_some_and(|end| end <= valid_from) {
            return Err(DomainError::validation(
                "end_date",
                "must be after start_date",
            ));
        }
        let max_uses = max_uses
            .map(|n| match u32::try_from(n) {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(DomainError::validation("max_uses", "must be at least 1")),
            })
            .transpose()?;
        Ok(Self {
            discount,
            valid_from,
            valid_until,
            max_uses,
            event_id,
            is_active,
        })
    }
}

/// A stored promo code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoCode {
    pub id: PromoCodeId,
    pub code: PromoCodeText,
    pub terms: PromoTerms,
    pub current_uses: u32,
    pub created_by: UserId,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl PromoCode {
    /// Whether the code can be applied to a booking of `event_id` at `now`.
    pub fn check_applicable(&self, event_id: EventId, now: Timestamp) -> Result<(), DomainError> {
        let reject = |reason| Err(DomainError::PromoCodeNotApplicable { reason });
        let t = &self.terms;
        if !t.is_active {
            return reject(PromoRejection::Inactive);
        }
        if now < t.valid_from {
            return reject(PromoRejection::NotYetValid);
        }
        if t.valid_until.is_some_and(|end| now > end) {
            return reject(PromoRejection::Expired);
        }
        if t.event_id.is_some_and(|scope| scope != event_id) {
            return reject(PromoRejection::OtherEvent);
        }
        if t.max_uses.is_some_and(|max| self.current_uses >= max) {
            return reject(PromoRejection::Exhausted);
        }
        Ok(())
    }

    /// Counts one use (the store does the same with a conditional update).
    pub fn redeem(&mut self, event_id: EventId, now: Timestamp) -> Result<(), DomainError> {
        self.check_applicable(event_id, now)?;
        self.current_uses += 1;
        Ok(())
    }

    /// New terms: `max_uses` cannot go below the uses already made.
    pub fn update_terms(&mut self, terms: PromoTerms, now: Timestamp) -> Result<(), DomainError> {
        if terms.max_uses.is_some_and(|max| max < self.current_uses) {
            return Err(DomainError::validation(
                "max_uses",
                "must not be below the uses already made",
            ));
        }
        self.terms = terms;
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::now;
    use crate::{Money, Percent};
    use chrono::Duration;

    fn code(max_uses: Option<i64>, event: Option<EventId>) -> PromoCode {
        PromoCode {
            id: PromoCodeId(1),
            code: PromoCodeText::new("summer-25").unwrap(),
            terms: PromoTerms::new(
                PromoDiscount::Percent(Percent::from_whole(25).unwrap()),
                now(),
                Some(now() + Duration::days(10)),
                max_uses,
                event,
                true,
            )
            .unwrap(),
            current_uses: 0,
            created_by: UserId(uuid::Uuid::nil()),
            version: 0,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn rejection(r: Result<(), DomainError>) -> PromoRejection {
        match r {
            Err(DomainError::PromoCodeNotApplicable { reason }) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn codes_are_normalized_to_upper_case() {
        assert_eq!(code(None, None).code.as_str(), "SUMMER-25");
        for bad in ["ab", "with space", "emoji😀", &"X".repeat(51)] {
            assert!(PromoCodeText::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_validity_window_is_inclusive() {
        let c = code(None, None);
        assert!(c.check_applicable(EventId(1), now()).is_ok());
        assert!(
            c.check_applicable(EventId(1), now() + Duration::days(10))
                .is_ok()
        );
        assert_eq!(
            rejection(c.check_applicable(EventId(1), now() - Duration::seconds(1))),
            PromoRejection::NotYetValid
        );
        assert_eq!(
            rejection(c.check_applicable(
                EventId(1),
                now() + Duration::days(10) + Duration::seconds(1)
            )),
            PromoRejection::Expired
        );
    }

    #[test]
    fn max_uses_is_enforced() {
        let mut c = code(Some(2), None);
        c.redeem(EventId(1), now()).unwrap();
        c.redeem(EventId(1), now()).unwrap();
        assert_eq!(
            rejection(c.redeem(EventId(1), now())),
            PromoRejection::Exhausted
        );
        assert_eq!(c.current_uses, 2);
    }

    #[test]
    fn event_scope_and_active_flag() {
        let mut c = code(None, Some(EventId(5)));
        assert_eq!(
            rejection(c.check_applicable(EventId(6), now())),
            PromoRejection::OtherEvent
        );
        assert!(c.check_applicable(EventId(5), now()).is_ok());
        c.terms.is_active = false;
        assert_eq!(
            rejection(c.check_applicable(EventId(5), now())),
            PromoRejection::Inactive
        );
    }

    #[test]
    fn terms_validation() {
        let pct = |n| PromoDiscount::Percent(Percent::from_whole(n).unwrap());
        assert!(PromoTerms::new(pct(0), now(), None, None, None, true).is_err());
        assert!(
            PromoTerms::new(
                PromoDiscount::FixedAmount(Money::ZERO),
                now(),
                None,
                None,
                None,
                true
            )
            .is_err()
        );
        assert!(PromoTerms::new(pct(10), now(), Some(now()), None, None, true).is_err());
        assert!(PromoTerms::new(pct(10), now(), None, Some(0), None, true).is_err());
        let mut c = code(Some(5), None);
        c.current_uses = 3;
        let fewer = PromoTerms::new(pct(10), now(), None, Some(2), None, true).unwrap();
        assert!(c.update_terms(fewer, now()).is_err());
    }
}
