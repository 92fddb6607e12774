//! Review use cases (PRODUCT.md §8, §12): write, edit, list, reply, vote, moderate.
//!
//! Rules, in one place:
//! * **Who may review**: a signed-in caller who attended — a COMPLETED booking, or a CONFIRMED
//!   one for an event that has ended by the [`Clock`] (`end_date`, or `start_date` without
//!   one). Otherwise 409 `REVIEW_NOT_ALLOWED`. One review per user and event (409
//!   `ALREADY_REVIEWED`).
//! * **Content** goes through `domain::text::sanitize_user_content`: every tag is removed (and
//!   the bodies of `script`/`style`), so no markup is stored or echoed. Rating 1..=5 and at
//!   most 5,000 characters after sanitizing, else 400 on `rating` / `content`.
//! * **Moderation**: new reviews start `PENDING`. The seed's table defaults to ACTIVE, but it
//!   predates moderation; PRODUCT.md has ADMIN moderation, so nothing is public before an
//!   admin approved it. An edit by the author sends the review back to `PENDING` (an edited
//!   text has not been moderated). Only ACTIVE reviews are listed publicly and counted in
//!   `avg_rating`/`review_count`.
//! * **Edits**: the author only; everybody else (admins included: they moderate, they do not
//!   rewrite) gets 404.
//! * **Replies**: the organizer who created the review's event, or an admin. USER → 403;
//!   another organizer → 404 (someone else's object). Organizers reply to public (ACTIVE)
//!   reviews only; one that is not public is 404 for them.
//! * **Helpful votes**: once per user; a second vote is a success that counts nothing
//!   (`counted = false`), so retries are harmless. Voting for one's own review is 409
//!   `SELF_VOTE`; a review that is not public is 404 for everybody but its author and admins
//!   (for whom it is 409 `INVALID_TRANSITION`).
//! * **Approval credits loyalty points** (`review_points` of the programme) to the author
//!   exactly once per review: re-approving after a rejection or an edit credits nothing more.
//!
//! Every write records an audit row in its transaction; creation and replies also write their
//! outbox message (`review.created`, `review.replied`).

use std::collections::HashMap;
use std::sync::Arc;

use domain::booking::BookingStatus;
use domain::loyalty::{LoyaltyProgram, NewLoyaltyEntry};
use domain::review::{
    NewReview, NewReviewReply, RatingSummary, Review, ReviewReply, ReviewStatus, check_can_review,
};
use domain::{EventId, ReviewId, UserId};
use serde_json::{Value, json};

use crate::actor::{RequestContext, Role};
use crate::clock::Clock;
use crate::outbox::DomainEventType;
use crate::ports::{AuditEntry, BookingQuery, ReviewQuery, ReviewSort, Tx, UnitOfWork};
use crate::services::events::visible_to;
use crate::services::recording::Recorder;
use crate::{AppError, Page, PageRequest};

/// `CreateReviewRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateReviewCommand {
    pub event_id: EventId,
    /// 1 to 5.
    pub rating: i64,
    pub content: Option<String>,
}

/// `UpdateReviewRequest`: absent fields keep their value; a blank `content` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateReviewCommand {
    pub rating: Option<i64>,
    pub content: Option<String>,
    /// Optimistic locking: the version the author edited.
    pub expected_version: Option<i64>,
}

impl UpdateReviewCommand {
    fn is_empty(&self) -> bool {
        self.rating.is_none() && self.content.is_none()
    }
}

/// `ListReviewsRequest`, as it arrives from an adapter (not scoped yet).
///
/// Scoping: without `statuses` only ACTIVE reviews are listed. Other statuses are for admins,
/// and for authors listing their own reviews (`user_id` = the caller); anybody else asking
/// for them is refused (guest → 401, signed-in → 403), not silently filtered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListReviewsQuery {
    pub event_id: Option<EventId>,
    pub user_id: Option<UserId>,
    pub statuses: Vec<ReviewStatus>,
    /// 1 to 5: only reviews rated at least this.
    pub min_rating: Option<i64>,
    pub sort: ReviewSort,
    pub page: PageRequest,
}

/// An admin's decision (`POST /reviews/{id}/moderate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModerateReviewCommand {
    /// ACTIVE (approve) or REJECTED.
    pub status: ReviewStatus,
    /// Told to the author on rejection; ignored on approval.
    pub reason: Option<String>,
    pub expected_version: Option<i64>,
}

/// A review with its replies (`ReviewResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewView {
    pub review: Review,
    pub replies: Vec<ReviewReply>,
}

/// A page of reviews with the rating over the ACTIVE reviews of the same event/author scope
/// (`ListReviewsResponse.avg_rating`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewList {
    pub page: Page<ReviewView>,
    pub rating: RatingSummary,
}

/// The outcome of a helpful vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpfulVote {
    /// The review after the vote (its `helpful_count`).
    pub review: Review,
    /// `false` when the caller had voted before: nothing changed.
    pub counted: bool,
}

/// The outcome of a moderation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeratedReview {
    pub view: ReviewView,
    /// Loyalty points credited to the author now (0 when rejected or credited before).
    pub points_credited: u32,
}

/// The review use cases.
#[derive(Clone)]
pub struct ReviewService {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
    loyalty: LoyaltyProgram,
}

impl std::fmt::Debug for ReviewService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewService").finish_non_exhaustive()
    }
}

/// The audit before/after and the outbox payload of a review.
#[must_use]
pub fn review_summary(review: &Review) -> Value {
    json!({
        "review_id": review.id.value(),
        "event_id": review.event_id.value(),
        "user_id": review.user_id.to_string(),
        "rating": review.rating.get(),
        "content": review.content,
        "status": review.status.as_str(),
        "moderation_note": review.moderation_note,
        "helpful_count": review.helpful_count,
        "version": review.version,
    })
}

fn check_version(review: &Review, expected: Option<i64>) -> Result<(), AppError> {
    match expected {
        Some(v) if v != review.version => Err(AppError::version_conflict("review")),
        _ => Ok(()),
    }
}

fn not_found() -> AppError {
    AppError::NotFound { entity: "review" }
}

/// Whether the caller may see a review that is not public (its author, admins).
fn sees_unpublished(ctx: &RequestContext, review: &Review) -> bool {
    ctx.actor.is_admin() || ctx.actor.user_id() == Some(review.user_id)
}

/// Attaches the replies of the listed reviews, in reply order.
async fn with_replies(tx: &dyn Tx, reviews: Vec<Review>) -> Result<Vec<ReviewView>, AppError> {
    let ids: Vec<ReviewId> = reviews.iter().map(|r| r.id).collect();
    let mut by_review: HashMap<ReviewId, Vec<ReviewReply>> = HashMap::new();
    for reply in tx.reviews().replies(&ids).await? {
        by_review.entry(reply.review_id).or_default().push(reply);
    }
    Ok(reviews
        .into_iter()
        .map(|review| ReviewView {
            replies: by_review.remove(&review.id).unwrap_or_default(),
            review,
        })
        .collect())
}

async fn view_of(tx: &dyn Tx, review: Review) -> Result<ReviewView, AppError> {
    let mut views = with_replies(tx, vec![review]).await?;
    views
        .pop()
        .ok_or_else(|| AppError::internal("a review view went missing"))
}

/// Checks that `user` attended `event_id` (any qualifying booking is enough: one canceled
/// later does not hide an earlier completed one).
async fn check_attended(
    tx: &dyn Tx,
    event: &domain::event::Event,
    user: UserId,
    now: domain::Timestamp,
) -> Result<(), AppError> {
    let attended = tx
        .bookings()
        .search(&BookingQuery {
            user_id: Some(user),
            event_id: Some(event.id),
            statuses: vec![BookingStatus::Completed, BookingStatus::Confirmed],
            ..Default::default()
        })
        .await?;
    if attended
        .items
        .iter()
        .any(|b| check_can_review(event, Some(b), now).is_ok())
    {
        return Ok(());
    }
    // The most telling refusal: "not ended yet" for a confirmed booking, else why not.
    let latest = match attended.items.first() {
        Some(b) => Some(b.clone()),
        None => tx.bookings().find_latest(event.id, user).await?,
    };
    check_can_review(event, latest.as_ref(), now)?;
    Err(AppError::internal(
        "review eligibility disagreed with itself",
    ))
}

impl ReviewService {
    #[must_use]
    pub fn new(uow: Arc<dyn UnitOfWork>, clock: Arc<dyn Clock>, loyalty: LoyaltyProgram) -> Self {
        Self {
            uow,
            clock,
            loyalty,
        }
    }

    /// `POST /api/v1/reviews`, `CreateReview`: a signed-in attendee of a visible event (see the
    /// module rules). Answers the new PENDING review.
    #[tracing::instrument(name = "ReviewService.create", skip_all)]
    pub async fn create(
        &self,
        ctx: &RequestContext,
        cmd: CreateReviewCommand,
    ) -> Result<ReviewView, AppError> {
        let author = ctx.actor.require_authenticated()?;
        let now = self.clock.now();
        let new = NewReview::new(
            cmd.event_id,
            author,
            cmd.rating,
            cmd.content.as_deref(),
            now,
        )?;
        let tx = self.uow.begin().await?;
        let event = tx
            .events()
            .find(cmd.event_id)
            .await?
            .filter(|e| visible_to(ctx, e))
            .ok_or(AppError::NotFound { entity: "event" })?;
        check_attended(tx.as_ref(), &event, author, now).await?;
        let review = tx.reviews().insert(new).await?;
        let summary = review_summary(&review);
        tx.audit()
            .record(
                AuditEntry::by(ctx, "review.create", "review", review.id, now)
                    .with_change(None, Some(summary.clone())),
            )
            .await?;
        Recorder::new(tx.as_ref(), now)
            .emit_payload(&review, DomainEventType::ReviewCreated, summary)
            .await?;
        tx.commit().await?;
        Ok(ReviewView {
            review,
            replies: Vec::new(),
        })
    }

    /// `PUT /api/v1/reviews/{id}`, `UpdateReview`: the author only (anybody else → 404). The
    /// edited review waits for moderation again.
    #[tracing::instrument(name = "ReviewService.update", skip_all)]
    pub async fn update(
        &self,
        ctx: &RequestContext,
        id: ReviewId,
        cmd: UpdateReviewCommand,
    ) -> Result<ReviewView, AppError> {
        let author = ctx.actor.require_authenticated()?;
        if cmd.is_empty() {
            return Err(AppError::invalid("body", "no field to update"));
        }
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut review = tx
            .reviews()
            .find(id)
            .await?
            .filter(|r| r.user_id == author)
            .ok_or_else(not_found)?;
        check_version(&review, cmd.expected_version)?;
        let before = review_summary(&review);
        let rating = cmd.rating.unwrap_or(i64::from(review.rating.get()));
        let content = cmd.content.or_else(|| review.content.clone());
        let _moved = review.edit(rating, content.as_deref(), now)?;
        let updated = tx.reviews().update(&review).await?;
        tx.audit()
            .record(
                AuditEntry::by(ctx, "review.update", "review", id, now)
                    .with_change(Some(before), Some(review_summary(&updated))),
            )
            .await?;
        let view = view_of(tx.as_ref(), updated).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// `GET /api/v1/reviews/{id}`: a public (ACTIVE) review with its replies; one that is not
    /// public exists only for its author and admins (404 for everybody else).
    #[tracing::instrument(name = "ReviewService.get", skip_all)]
    pub async fn get(&self, ctx: &RequestContext, id: ReviewId) -> Result<ReviewView, AppError> {
        let tx = self.uow.begin().await?;
        let review = tx
            .reviews()
            .find(id)
            .await?
            .filter(|r| r.status == ReviewStatus::Active || sees_unpublished(ctx, r))
            .ok_or_else(not_found)?;
        let view = view_of(tx.as_ref(), review).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// `GET /api/v1/reviews`, `ListReviews`: public; scoped as [`ListReviewsQuery`] says. An
    /// `event_id` the caller cannot see is 404.
    #[tracing::instrument(name = "ReviewService.list", skip_all)]
    pub async fn list(
        &self,
        ctx: &RequestContext,
        query: ListReviewsQuery,
    ) -> Result<ReviewList, AppError> {
        let scoped = Self::scope(ctx, query)?;
        let tx = self.uow.begin().await?;
        if let Some(event_id) = scoped.event_id {
            let _visible = tx
                .events()
                .find(event_id)
                .await?
                .filter(|e| visible_to(ctx, e))
                .ok_or(AppError::NotFound { entity: "event" })?;
        }
        let (page, rating) = tx.reviews().search(&scoped).await?;
        let items = with_replies(tx.as_ref(), page.items).await?;
        tx.commit().await?;
        Ok(ReviewList {
            page: Page {
                items,
                page: page.page,
                size: page.size,
                total_elements: page.total_elements,
            },
            rating,
        })
    }

    fn scope(ctx: &RequestContext, query: ListReviewsQuery) -> Result<ReviewQuery, AppError> {
        let min_rating = query
            .min_rating
            .map(|m| {
                u8::try_from(m)
                    .ok()
                    .filter(|m| (1..=5).contains(m))
                    .ok_or_else(|| AppError::invalid("min_rating", "must be between 1 and 5"))
            })
            .transpose()?;
        let mut statuses = query.statuses;
        statuses.sort_by_key(|s| s.as_str());
        statuses.dedup();
        if statuses.is_empty() {
            statuses.push(ReviewStatus::Active);
        }
        let hidden = statuses.iter().any(|s| *s != ReviewStatus::Active);
        let own = query.user_id.is_some() && query.user_id == ctx.actor.user_id();
        if hidden && !own && !ctx.actor.is_admin() {
            let _admin = ctx.actor.require_role(
                &[Role::Admin],
                "only ACTIVE reviews are public; authors list their own with user_id",
            )?;
        }
        Ok(ReviewQuery {
            event_id: query.event_id,
            user_id: query.user_id,
            statuses,
            min_rating,
            sort: query.sort,
            page: query.page,
        })
    }

    /// `POST /api/v1/reviews/{id}/replies`, `ReplyToReview`: the event's organizer or an admin.
    /// Answers the stored reply.
    #[tracing::instrument(name = "ReviewService.reply", skip_all)]
    pub async fn reply(
        &self,
        ctx: &RequestContext,
        review_id: ReviewId,
        content: &str,
    ) -> Result<ReviewReply, AppError> {
        let replier = ctx.actor.require_role(
            &[Role::Organizer, Role::Admin],
            "only the event's organizer and admins reply to reviews",
        )?;
        let now = self.clock.now();
        let new = NewReviewReply::new(review_id, replier, content, now)?;
        let tx = self.uow.begin().await?;
        let review = tx.reviews().find(review_id).await?.ok_or_else(not_found)?;
        if !ctx.actor.is_admin() {
            let creator = tx
                .events()
                .find(review.event_id)
                .await?
                .map(|e| e.creator_id);
            if creator != Some(replier) || review.status != ReviewStatus::Active {
                return Err(not_found());
            }
        }
        let reply = tx.reviews().add_reply(new).await?;
        let payload = json!({
            "reply_id": reply.id.value(),
            "review_id": review.id.value(),
            "event_id": review.event_id.value(),
            "review_author_id": review.user_id.to_string(),
            "author_id": reply.author_id.to_string(),
            "content": reply.content,
        });
        tx.audit()
            .record(
                AuditEntry::by(ctx, "review.reply", "review", review.id, now)
                    .with_change(None, Some(payload.clone())),
            )
            .await?;
        Recorder::new(tx.as_ref(), now)
            .emit_payload(&review, DomainEventType::ReviewReplied, payload)
            .await?;
        tx.commit().await?;
        Ok(reply)
    }

    /// `POST /api/v1/reviews/{id}/helpful`: a signed-in caller other than the author, once.
    #[tracing::instrument(name = "ReviewService.vote_helpful", skip_all)]
    pub async fn vote_helpful(
        &self,
        ctx: &RequestContext,
        review_id: ReviewId,
    ) -> Result<HelpfulVote, AppError> {
        let voter = ctx.actor.require_authenticated()?;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let review = tx
            .reviews()
            .find(review_id)
            .await?
            .filter(|r| r.status == ReviewStatus::Active || sees_unpublished(ctx, r))
            .ok_or_else(not_found)?;
        review.check_helpful_vote(voter)?;
        let counted = tx.reviews().add_helpful_vote(review_id, voter, now).await?;
        if counted {
            tx.audit()
                .record(
                    AuditEntry::by(ctx, "review.helpful", "review", review_id, now).with_change(
                        Some(json!({"helpful_count": review.helpful_count})),
                        Some(json!({"helpful_count": review.helpful_count + 1})),
                    ),
                )
                .await?;
        }
        let review = tx.reviews().find(review_id).await?.ok_or_else(not_found)?;
        tx.commit().await?;
        Ok(HelpfulVote { review, counted })
    }

    /// `POST /api/v1/reviews/{id}/moderate`: ADMIN only (others 403). Approval credits the
    /// author's loyalty points the first time only.
    #[tracing::instrument(name = "ReviewService.moderate", skip_all)]
    pub async fn moderate(
        &self,
        ctx: &RequestContext,
        review_id: ReviewId,
        cmd: ModerateReviewCommand,
    ) -> Result<ModeratedReview, AppError> {
        let _admin = ctx
            .actor
            .require_role(&[Role::Admin], "only admins moderate reviews")?;
        if cmd.status == ReviewStatus::Pending {
            return Err(AppError::invalid("status", "must be ACTIVE or REJECTED"));
        }
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut review = tx.reviews().find(review_id).await?.ok_or_else(not_found)?;
        check_version(&review, cmd.expected_version)?;
        let before = review_summary(&review);
        let _moved = match cmd.status {
            ReviewStatus::Active => review.approve(now)?,
            _ => review.reject(cmd.reason.as_deref(), now)?,
        };
        // The versioned update first: of two concurrent moderations only one gets past it,
        // so the credit check below cannot race with another approval.
        let updated = tx.reviews().update(&review).await?;
        let mut points_credited = 0;
        if updated.status == ReviewStatus::Active
            && self.loyalty.review_points > 0
            && !tx
                .loyalty()
                .has_review_credit(updated.user_id, updated.id)
                .await?
        {
            let _line = tx
                .loyalty()
                .append(NewLoyaltyEntry::earned_for_review(
                    updated.user_id,
                    updated.id,
                    self.loyalty.review_points,
                    now,
                ))
                .await?;
            points_credited = self.loyalty.review_points;
        }
        let mut after = review_summary(&updated);
        after["points_credited"] = json!(points_credited);
        tx.audit()
            .record(
                AuditEntry::by(ctx, "review.moderate", "review", review_id, now)
                    .with_change(Some(before), Some(after)),
            )
            .await?;
        let view = view_of(tx.as_ref(), updated).await?;
        tx.commit().await?;
        Ok(ModeratedReview {
            view,
            points_credited,
        })
    }

    /// `GET /api/v1/admin/reviews/moderation`: ADMIN; PENDING reviews, oldest first.
    #[tracing::instrument(name = "ReviewService.moderation_queue", skip_all)]
    pub async fn moderation_queue(
        &self,
        ctx: &RequestContext,
        page: PageRequest,
    ) -> Result<Page<ReviewView>, AppError> {
        let _admin = ctx
            .actor
            .require_role(&[Role::Admin], "only admins moderate reviews")?;
        let tx = self.uow.begin().await?;
        let (found, _) = tx
            .reviews()
            .search(&ReviewQuery {
                statuses: vec![ReviewStatus::Pending],
                sort: ReviewSort::Oldest,
                page,
                ..Default::default()
            })
            .await?;
        let items = with_replies(tx.as_ref(), found.items).await?;
        tx.commit().await?;
        Ok(Page {
            items,
            page: found.page,
            size: found.size,
            total_elements: found.total_elements,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;
    use crate::clock::ManualClock;
    use crate::services::bookings::tests::{booking, event, now, program, uid, user};
    use crate::services::test_support::{FakeTx, uow_with};
    use chrono::Duration;
    use domain::loyalty::{LoyaltyEntry, LoyaltyEntryKind};
    use domain::review::ReviewReply;
    use domain::{LoyaltyEntryId, ReviewReplyId};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Event 7 (created by user 5) starts in 30 days; this is a day after it.
    fn after_event() -> domain::Timestamp {
        now() + Duration::days(31)
    }

    fn service_at(txs: Vec<FakeTx>, at: domain::Timestamp) -> ReviewService {
        ReviewService::new(
            Arc::new(uow_with(txs)),
            Arc::new(ManualClock::new(at)),
            program(),
        )
    }

    fn service(txs: Vec<FakeTx>) -> ReviewService {
        service_at(txs, after_event())
    }

    fn admin() -> RequestContext {
        RequestContext::new(Actor::authenticated(uid(9), [Role::Admin]))
    }

    fn organizer(n: u128) -> RequestContext {
        RequestContext::new(Actor::authenticated(uid(n), [Role::Organizer]))
    }

    /// User 1's review of event 7.
    fn review(status: ReviewStatus) -> Review {
        let new = NewReview::new(EventId(7), uid(1), 4, Some("Fine"), now()).unwrap();
        let mut r = Review::from_new(ReviewId(21), new);
        r.status = status;
        r
    }

    fn fake() -> (FakeTx, Arc<AtomicBool>) {
        let committed = Arc::new(AtomicBool::new(false));
        (FakeTx::new(Arc::clone(&committed)), committed)
    }

    fn create(rating: i64, content: &str) -> CreateReviewCommand {
        CreateReviewCommand {
            event_id: EventId(7),
            rating,
            content: Some(content.into()),
        }
    }

    fn with_bookings(tx: &mut FakeTx, status: BookingStatus) {
        tx.events.expect_find().returning(|_| Ok(Some(event())));
        tx.bookings.expect_search().returning(move |q| {
            assert_eq!((q.user_id, q.event_id), (Some(uid(1)), Some(EventId(7))));
            Ok(Page::new(vec![booking(status)], q.page, 1))
        });
    }

    #[tokio::test]
    async fn bad_input_is_refused_before_any_transaction() {
        let err = service(vec![])
            .create(&user(1), create(6, "x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "VALIDATION_FAILED");
        let long = "a".repeat(5_001);
        let err = service(vec![])
            .create(&user(1), create(5, &long))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Validation { ref fields } if fields[0].field == "content"));
        let err = service(vec![])
            .create(&RequestContext::new(Actor::guest()), create(5, "x"))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Unauthenticated));
    }

    #[tokio::test]
    async fn a_confirmed_booking_before_the_event_ended_may_not_review() {
        let (mut tx, committed) = fake();
        with_bookings(&mut tx, BookingStatus::Confirmed);
        tx.reviews.expect_insert().never();
        let err = service_at(vec![tx], now())
            .create(&user(1), create(5, "x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "REVIEW_NOT_ALLOWED");
        assert!(!committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn without_any_booking_the_latest_one_explains_the_refusal() {
        let (mut tx, _) = fake();
        tx.events.expect_find().returning(|_| Ok(Some(event())));
        tx.bookings
            .expect_search()
            .returning(|q| Ok(Page::new(vec![], q.page, 0)));
        tx.bookings
            .expect_find_latest()
            .returning(|_, _| Ok(Some(booking(BookingStatus::Canceled))));
        tx.reviews.expect_insert().never();
        let err = service(vec![tx])
            .create(&user(1), create(5, "x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "REVIEW_NOT_ALLOWED");
    }

    #[tokio::test]
    async fn an_attendee_writes_a_sanitized_pending_review_with_audit_and_outbox() {
        let (mut tx, committed) = fake();
        with_bookings(&mut tx, BookingStatus::Confirmed);
        tx.reviews
            .expect_insert()
            .times(1)
            .withf(|n| n.content.as_deref() == Some("great") && n.rating.get() == 5)
            .returning(|n| Ok(Review::from_new(ReviewId(21), n)));
        tx.audit
            .expect_record()
            .times(1)
            .withf(|a| a.action == "review.create" && a.entity_id == "21")
            .returning(|_| Ok(()));
        tx.outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| {
                m.event_type == DomainEventType::ReviewCreated
                    && m.aggregate_id == "21"
                    && m.payload["status"] == "PENDING"
            })
            .returning(|_| Ok(()));
        let created = service(vec![tx])
            .create(&user(1), create(5, "<script>alert(1)</script><b>great</b>"))
            .await
            .unwrap();
        assert_eq!(created.review.status, ReviewStatus::Pending);
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn only_the_author_edits_and_an_edit_goes_back_to_moderation() {
        let (mut tx, committed) = fake();
        tx.reviews
            .expect_find()
            .returning(|_| Ok(Some(review(ReviewStatus::Active))));
        tx.reviews.expect_update().never();
        let edit = UpdateReviewCommand {
            rating: Some(2),
            ..Default::default()
        };
        for stranger in [user(2), admin()] {
            let (mut tx, _) = fake();
            tx.reviews
                .expect_find()
                .returning(|_| Ok(Some(review(ReviewStatus::Active))));
            let err = service(vec![tx])
                .update(&stranger, ReviewId(21), edit.clone())
                .await
                .unwrap_err();
            assert!(matches!(err, AppError::NotFound { entity: "review" }));
        }
        let stale = UpdateReviewCommand {
            expected_version: Some(3),
            ..edit.clone()
        };
        let err = service(vec![tx])
            .update(&user(1), ReviewId(21), stale)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "VERSION_CONFLICT");
        assert!(!committed.load(Ordering::SeqCst));

        let (mut tx, committed) = fake();
        tx.reviews
            .expect_find()
            .returning(|_| Ok(Some(review(ReviewStatus::Active))));
        tx.reviews
            .expect_update()
            .times(1)
            .withf(|r| {
                r.status == ReviewStatus::Pending
                    && r.rating.get() == 2
                    && r.content.as_deref() == Some("Fine")
            })
            .returning(|r| Ok(r.clone()));
        tx.audit
            .expect_record()
            .withf(|a| {
                a.action == "review.update" && a.before.as_ref().unwrap()["status"] == "ACTIVE"
            })
            .returning(|_| Ok(()));
        tx.reviews.expect_replies().returning(|_| Ok(vec![]));
        let edited = service(vec![tx])
            .update(&user(1), ReviewId(21), edit)
            .await
            .unwrap();
        assert_eq!(edited.review.status, ReviewStatus::Pending);
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn only_admins_moderate() {
        let cmd = ModerateReviewCommand {
            status: ReviewStatus::Active,
            reason: None,
            expected_version: None,
        };
        for caller in [user(1), organizer(5)] {
            let err = service(vec![])
                .moderate(&caller, ReviewId(21), cmd.clone())
                .await
                .unwrap_err();
            assert!(matches!(err, AppError::Forbidden { .. }));
        }
        let pending = ModerateReviewCommand {
            status: ReviewStatus::Pending,
            ..cmd
        };
        let err = service(vec![])
            .moderate(&admin(), ReviewId(21), pending)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "VALIDATION_FAILED");
    }

    /// `credited_before`: what the ledger answers when asked for the author's review credit;
    /// `None` means it must not be asked.
    fn moderation_tx(
        status: ReviewStatus,
        credited_before: Option<bool>,
    ) -> (FakeTx, Arc<AtomicBool>) {
        let (mut tx, committed) = fake();
        tx.reviews
            .expect_find()
            .returning(move |_| Ok(Some(review(status))));
        tx.reviews.expect_update().returning(|r| {
            Ok(Review {
                version: r.version + 1,
                ..r.clone()
            })
        });
        tx.reviews.expect_replies().returning(|_| Ok(vec![]));
        match credited_before {
            Some(credited) => {
                tx.loyalty
                    .expect_has_review_credit()
                    .withf(|u, r| *u == uid(1) && *r == ReviewId(21))
                    .returning(move |_, _| Ok(credited));
            }
            None => {
                tx.loyalty.expect_has_review_credit().never();
            }
        }
        tx.audit
            .expect_record()
            .times(1)
            .withf(|a| a.action == "review.moderate")
            .returning(|_| Ok(()));
        (tx, committed)
    }

    #[tokio::test]
    async fn the_first_approval_credits_the_author_and_later_ones_do_not() {
        let approve = ModerateReviewCommand {
            status: ReviewStatus::Active,
            reason: Some("ignored".into()),
            expected_version: Some(0),
        };
        let (mut tx, committed) = moderation_tx(ReviewStatus::Pending, Some(false));
        tx.loyalty
            .expect_append()
            .times(1)
            .withf(|e| {
                e.user_id == uid(1)
                    && e.points == 50
                    && e.kind == LoyaltyEntryKind::ReviewEarned
                    && e.review_id == Some(ReviewId(21))
            })
            .returning(|e| {
                Ok(LoyaltyEntry {
                    id: LoyaltyEntryId(1),
                    user_id: e.user_id,
                    points: e.points,
                    kind: e.kind,
                    booking_id: None,
                    review_id: e.review_id,
                    created_at: e.created_at,
                })
            });
        let done = service(vec![tx])
            .moderate(&admin(), ReviewId(21), approve.clone())
            .await
            .unwrap();
        assert_eq!(done.view.review.status, ReviewStatus::Active);
        assert_eq!(done.points_credited, 50);
        assert!(committed.load(Ordering::SeqCst));

        // re-approval after a rejection: the ledger already has the line
        let (mut tx, _) = moderation_tx(ReviewStatus::Rejected, Some(true));
        tx.loyalty.expect_append().never();
        let again = service(vec![tx])
            .moderate(&admin(), ReviewId(21), approve)
            .await
            .unwrap();
        assert_eq!(again.points_credited, 0);
    }

    #[tokio::test]
    async fn a_rejection_credits_nothing_and_keeps_the_reason() {
        let (mut tx, _) = moderation_tx(ReviewStatus::Pending, None);
        tx.loyalty.expect_append().never();
        let done = service(vec![tx])
            .moderate(
                &admin(),
                ReviewId(21),
                ModerateReviewCommand {
                    status: ReviewStatus::Rejected,
                    reason: Some("<i>spam</i>".into()),
                    expected_version: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(done.view.review.status, ReviewStatus::Rejected);
        assert_eq!(done.view.review.moderation_note.as_deref(), Some("spam"));
        assert_eq!(done.points_credited, 0);
    }

    #[tokio::test]
    async fn replies_by_the_events_organizer_only() {
        let err = service(vec![])
            .reply(&user(2), ReviewId(21), "thanks")
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden { .. }), "USER: 403");

        for (caller, status) in [
            (organizer(6), ReviewStatus::Active),
            (organizer(5), ReviewStatus::Pending),
        ] {
            let (mut tx, _) = fake();
            tx.reviews
                .expect_find()
                .returning(move |_| Ok(Some(review(status))));
            tx.events.expect_find().returning(|_| Ok(Some(event())));
            tx.reviews.expect_add_reply().never();
            let err = service(vec![tx])
                .reply(&caller, ReviewId(21), "thanks")
                .await
                .unwrap_err();
            assert!(matches!(err, AppError::NotFound { entity: "review" }));
        }

        let (mut tx, committed) = fake();
        tx.reviews
            .expect_find()
            .returning(|_| Ok(Some(review(ReviewStatus::Active))));
        tx.events.expect_find().returning(|_| Ok(Some(event())));
        tx.reviews.expect_add_reply().times(1).returning(|n| {
            Ok(ReviewReply {
                id: ReviewReplyId(3),
                review_id: n.review_id,
                author_id: n.author_id,
                content: n.content,
                created_at: n.created_at,
                updated_at: n.created_at,
            })
        });
        tx.audit.expect_record().times(1).returning(|_| Ok(()));
        tx.outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| {
                m.event_type == DomainEventType::ReviewReplied
                    && m.payload["review_author_id"] == uid(1).to_string()
                    && m.payload["content"] == "Thanks!"
            })
            .returning(|_| Ok(()));
        let reply = service(vec![tx])
            .reply(&organizer(5), ReviewId(21), "<b>Thanks!</b>")
            .await
            .unwrap();
        assert_eq!(reply.content, "Thanks!");
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn helpful_votes_once_not_on_own_or_hidden_reviews() {
        let (mut tx, _) = fake();
        tx.reviews
            .expect_find()
            .returning(|_| Ok(Some(review(ReviewStatus::Active))));
        tx.reviews.expect_add_helpful_vote().never();
        let err = service(vec![tx])
            .vote_helpful(&user(1), ReviewId(21))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "SELF_VOTE");

        let (mut tx, _) = fake();
        tx.reviews
            .expect_find()
            .returning(|_| Ok(Some(review(ReviewStatus::Pending))));
        let err = service(vec![tx])
            .vote_helpful(&user(2), ReviewId(21))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::NotFound { .. }), "a hidden review");

        for counted in [true, false] {
            let (mut tx, committed) = fake();
            tx.reviews
                .expect_find()
                .returning(|_| Ok(Some(review(ReviewStatus::Active))));
            tx.reviews
                .expect_add_helpful_vote()
                .times(1)
                .returning(move |_, _, _| Ok(counted));
            tx.audit
                .expect_record()
                .times(usize::from(counted))
                .returning(|_| Ok(()));
            let vote = service(vec![tx])
                .vote_helpful(&user(2), ReviewId(21))
                .await
                .unwrap();
            assert_eq!(vote.counted, counted);
            assert!(committed.load(Ordering::SeqCst));
        }
    }

    #[test]
    fn list_scope_shows_active_reviews_unless_admin_or_own() {
        let q = |user_id: Option<UserId>, statuses: Vec<ReviewStatus>| ListReviewsQuery {
            user_id,
            statuses,
            ..Default::default()
        };
        let scoped = ReviewService::scope(&user(2), q(None, vec![])).unwrap();
        assert_eq!(scoped.statuses, [ReviewStatus::Active]);
        let guest = RequestContext::new(Actor::guest());
        assert!(matches!(
            ReviewService::scope(&guest, q(None, vec![ReviewStatus::Pending])).unwrap_err(),
            AppError::Unauthenticated
        ));
        assert!(matches!(
            ReviewService::scope(&user(2), q(Some(uid(1)), vec![ReviewStatus::Pending]))
                .unwrap_err(),
            AppError::Forbidden { .. }
        ));
        assert!(
            ReviewService::scope(&user(1), q(Some(uid(1)), vec![ReviewStatus::Pending])).is_ok()
        );
        assert!(ReviewService::scope(&admin(), q(None, vec![ReviewStatus::Rejected])).is_ok());
        for bad in [0, 6] {
            let err = ReviewService::scope(
                &user(1),
                ListReviewsQuery {
                    min_rating: Some(bad),
                    ..Default::default()
                },
            )
            .unwrap_err();
            assert_eq!(err.code(), "VALIDATION_FAILED");
        }
    }
}
