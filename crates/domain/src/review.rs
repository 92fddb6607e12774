//! Reviews, organizer replies and helpful votes (PRODUCT.md §8).
//!
//! Only people who attended may review: a COMPLETED booking, or a CONFIRMED one for an event
//! that has ended. One review per user per event (a store constraint). New and edited reviews
//! wait for moderation: `PENDING → ACTIVE | REJECTED`, an admin may reverse either decision,
//! and an author's edit sends the review back to PENDING.

use crate::booking::{Booking, BookingStatus};
use crate::event::Event;
use crate::text::sanitize_user_content;
use crate::{DomainError, EventId, ReviewId, ReviewReplyId, Timestamp, Transition, UserId};

text_enum! {
    /// Moderation state of a review.
    ReviewStatus {
        Pending => "PENDING",
        Active => "ACTIVE",
        Rejected => "REJECTED",
    }
}

/// Longest review or reply, in characters, after sanitizing.
pub const CONTENT_MAX: usize = 5_000;

/// A star rating, 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rating(u8);

impl Rating {
    pub fn new(value: i64) -> Result<Self, DomainError> {
        match u8::try_from(value) {
            Ok(v @ 1..=5) => Ok(Self(v)),
            _ => Err(DomainError::validation("rating", "must be between 1 and 5")),
        }
    }

    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// Sanitized review/reply text: HTML removed, at most [`CONTENT_MAX`] characters.
fn content(
    field: &'static str,
    raw: Option<&str>,
    required: bool,
) -> Result<Option<String>, DomainError> {
    let cleaned = raw.map(sanitize_user_content).filter(|c| !c.is_empty());
    match cleaned {
        None if required => Err(DomainError::validation(field, "must not be blank")),
        Some(c) if c.chars().count() > CONTENT_MAX => Err(DomainError::validation(
            field,
            format!("must be at most {CONTENT_MAX} characters"),
        )),
        other => Ok(other),
    }
}

/// Whether `user` may review `event` given their booking for it.
pub fn check_can_review(
    event: &Event,
    booking: Option<&Booking>,
    now: Timestamp,
) -> Result<(), DomainError> {
    let Some(booking) = booking else {
        return Err(DomainError::ReviewNotAllowed {
            reason: "no booking for this event",
        });
    };
    if booking.event_id != event.id {
        return Err(DomainError::ReviewNotAllowed {
            reason: "the booking is for another event",
        });
    }
    match booking.status {
        BookingStatus::Completed => Ok(()),
        BookingStatus::Confirmed if event.has_ended(now) => Ok(()),
        BookingStatus::Confirmed => Err(DomainError::ReviewNotAllowed {
            reason: "the event has not ended yet",
        }),
        _ => Err(DomainError::ReviewNotAllowed {
            reason: "the booking was not attended",
        }),
    }
}

/// A validated review about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReview {
    pub event_id: EventId,
    pub user_id: UserId,
    pub rating: Rating,
    pub content: Option<String>,
    pub created_at: Timestamp,
}

impl NewReview {
    pub fn new(
        event_id: EventId,
        user_id: UserId,
        rating: i64,
        content_raw: Option<&str>,
        now: Timestamp,
    ) -> Result<Self, DomainError> {
        Ok(Self {
            event_id,
            user_id,
            rating: Rating::new(rating)?,
            content: content("content", content_raw, false)?,
            created_at: now,
        })
    }
}

/// A stored review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: ReviewId,
    pub event_id: EventId,
    pub user_id: UserId,
    pub rating: Rating,
    pub content: Option<String>,
    pub status: ReviewStatus,
    pub helpful_count: u32,
    pub moderation_note: Option<String>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Review {
    #[must_use]
    pub fn from_new(id: ReviewId, new: NewReview) -> Self {
        Self {
            id,
            event_id: new.event_id,
            user_id: new.user_id,
            rating: new.rating,
            content: new.content,
            status: ReviewStatus::Pending,
            helpful_count: 0,
            moderation_note: None,
            version: 0,
            created_at: new.created_at,
            updated_at: new.created_at,
        }
    }

    fn move_to(&mut self, to: ReviewStatus, now: Timestamp) -> Transition<ReviewStatus> {
        let from = self.status;
        self.status = to;
        self.updated_at = now;
        Transition::new(from, to)
    }

    /// The author edits: new rating/content, back to moderation.
    pub fn edit(
        &mut self,
        rating: i64,
        content_raw: Option<&str>,
        now: Timestamp,
    ) -> Result<Transition<ReviewStatus>, DomainError> {
        let rating = Rating::new(rating)?;
        let content = content("content", content_raw, false)?;
        self.rating = rating;
        self.content = content;
        self.moderation_note = None;
        Ok(self.move_to(ReviewStatus::Pending, now))
    }

    /// ADMIN approves: PENDING | REJECTED → ACTIVE.
    pub fn approve(&mut self, now: Timestamp) -> Result<Transition<ReviewStatus>, DomainError> {
        if self.status == ReviewStatus::Active {
            return Err(DomainError::invalid_transition(
                "review",
                self.status.as_str(),
                "approve",
            ));
        }
        self.moderation_note = None;
        Ok(self.move_to(ReviewStatus::Active, now))
    }

    /// ADMIN rejects: PENDING | ACTIVE → REJECTED, with a note for the author.
    pub fn reject(
        &mut self,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Transition<ReviewStatus>, DomainError> {
        if self.status == ReviewStatus::Rejected {
            return Err(DomainError::invalid_transition(
                "review",
                self.status.as_str(),
                "reject",
            ));
        }
        self.moderation_note = content("moderation_note", note, false)?;
        Ok(self.move_to(ReviewStatus::Rejected, now))
    }

    /// Checks a helpful vote; the store keeps one vote per user and the count consistent.
    pub fn check_helpful_vote(&self, voter: UserId) -> Result<(), DomainError> {
        if voter == self.user_id {
            return Err(DomainError::SelfVote);
        }
        if self.status != ReviewStatus::Active {
            return Err(DomainError::invalid_transition(
                "review",
                self.status.as_str(),
                "vote for",
            ));
        }
        Ok(())
    }
}

/// A validated reply by the event's organizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReviewReply {
    pub review_id: ReviewId,
    pub author_id: UserId,
    pub content: String,
    pub created_at: Timestamp,
}

impl NewReviewReply {
    pub fn new(
        review_id: ReviewId,
        author_id: UserId,
        content_raw: &str,
        now: Timestamp,
    ) -> Result<Self, DomainError> {
        let content = content("content", Some(content_raw), true)?.unwrap_or_default();
        Ok(Self {
            review_id,
            author_id,
            content,
            created_at: now,
        })
    }
}

/// A stored reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewReply {
    pub id: ReviewReplyId,
    pub review_id: ReviewId,
    pub author_id: UserId,
    pub content: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Average rating and count over ACTIVE reviews.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RatingSummary {
    /// Sum of ratings; with `count` gives the exact average.
    pub rating_sum: u64,
    pub count: u64,
}

impl RatingSummary {
    /// The average with exactly two decimals (`"4.00"`, `"4.67"`, like money amounts), 0.00
    /// when there are no reviews.
    #[must_use]
    pub fn average(&self) -> rust_decimal::Decimal {
        let mut average = if self.count == 0 {
            rust_decimal::Decimal::ZERO
        } else {
            (rust_decimal::Decimal::from(self.rating_sum) / rust_decimal::Decimal::from(self.count))
                .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven)
        };
        average.rescale(2);
        average
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::tests::{pending, ticket};
    use crate::event::tests::{now, published};
    use chrono::Duration;

    fn review() -> Review {
        let new = NewReview::new(
            EventId(1),
            UserId(uuid::Uuid::nil()),
            5,
            Some("<b>Great</b> day"),
            now(),
        )
        .unwrap();
        Review::from_new(ReviewId(1), new)
    }

    #[test]
    fn new_review_is_pending_and_sanitized() {
        let r = review();
        assert_eq!(r.status, ReviewStatus::Pending);
        assert_eq!(r.content.as_deref(), Some("Great day"));
    }

    #[test]
    fn rating_must_be_1_to_5() {
        for bad in [0, 6, -1, 256] {
            assert!(Rating::new(bad).is_err(), "{bad}");
        }
        assert_eq!(Rating::new(3).unwrap().get(), 3);
    }

    #[test]
    fn content_over_5000_chars_is_refused_and_markup_only_content_is_none() {
        let long = "a".repeat(CONTENT_MAX + 1);
        assert!(
            NewReview::new(EventId(1), UserId(uuid::Uuid::nil()), 4, Some(&long), now()).is_err()
        );
        let exact = "я".repeat(CONTENT_MAX);
        assert!(
            NewReview::new(
                EventId(1),
                UserId(uuid::Uuid::nil()),
                4,
                Some(&exact),
                now()
            )
            .is_ok()
        );
        let r = NewReview::new(
            EventId(1),
            UserId(uuid::Uuid::nil()),
            4,
            Some("<script>x</script>"),
            now(),
        )
        .unwrap();
        assert_eq!(r.content, None);
    }

    #[test]
    fn moderation_moves() {
        let mut r = review();
        assert_eq!(r.approve(now()).unwrap().to, ReviewStatus::Active);
        assert_eq!(r.approve(now()).unwrap_err().code(), "INVALID_TRANSITION");
        assert_eq!(
            r.reject(Some("spam"), now()).unwrap().to,
            ReviewStatus::Rejected
        );
        assert_eq!(r.moderation_note.as_deref(), Some("spam"));
        assert_eq!(
            r.reject(None, now()).unwrap_err().code(),
            "INVALID_TRANSITION"
        );
        assert_eq!(r.approve(now()).unwrap().from, ReviewStatus::Rejected);
    }

    #[test]
    fn editing_sends_the_review_back_to_moderation() {
        let mut r = review();
        let _ = r.approve(now()).unwrap();
        let t = r.edit(2, Some("meh"), now()).unwrap();
        assert_eq!(
            (t.from, t.to),
            (ReviewStatus::Active, ReviewStatus::Pending)
        );
        assert_eq!(r.rating.get(), 2);
        assert!(r.edit(9, None, now()).is_err());
    }

    #[test]
    fn helpful_votes_only_by_others_on_active_reviews() {
        let mut r = review();
        let other = UserId(uuid::Uuid::from_u128(7));
        assert_eq!(
            r.check_helpful_vote(other).unwrap_err().code(),
            "INVALID_TRANSITION"
        );
        let _ = r.approve(now()).unwrap();
        assert!(r.check_helpful_vote(other).is_ok());
        assert_eq!(
            r.check_helpful_vote(r.user_id).unwrap_err(),
            DomainError::SelfVote
        );
    }

    #[test]
    fn only_attendees_may_review() {
        let event = published();
        let ended = event.schedule.ends_at() + Duration::seconds(1);
        assert_eq!(
            check_can_review(&event, None, ended).unwrap_err().code(),
            "REVIEW_NOT_ALLOWED"
        );
        let unpaid = pending(1);
        assert!(check_can_review(&event, Some(&unpaid), ended).is_err());
        let mut confirmed = pending(1);
        let _ = confirmed
            .confirm(ticket(), now(), Duration::minutes(5))
            .unwrap();
        assert!(
            check_can_review(&event, Some(&confirmed), now()).is_err(),
            "not ended yet"
        );
        assert!(check_can_review(&event, Some(&confirmed), ended).is_ok());
        let mut completed = confirmed.clone();
        let _ = completed.complete(ended).unwrap();
        assert!(check_can_review(&event, Some(&completed), now()).is_ok());
    }

    #[test]
    fn replies_need_content() {
        let author = UserId(uuid::Uuid::nil());
        assert!(NewReviewReply::new(ReviewId(1), author, "  <i></i> ", now()).is_err());
        assert_eq!(
            NewReviewReply::new(ReviewId(1), author, "Thanks!", now())
                .unwrap()
                .content,
            "Thanks!"
        );
    }

    #[test]
    fn average_rating() {
        assert_eq!(
            RatingSummary::default().average(),
            rust_decimal::Decimal::ZERO
        );
        let s = RatingSummary {
            rating_sum: 14,
            count: 3,
        };
        assert_eq!(s.average().to_string(), "4.67");
        assert_eq!(RatingSummary::default().average().to_string(), "0.00");
        let whole = RatingSummary {
            rating_sum: 12,
            count: 3,
        };
        assert_eq!(whole.average().to_string(), "4.00");
    }
}
