//! `ReviewRepository` on `reviews`, `review_replies` and `review_helpful_votes`.

use async_trait::async_trait;
use domain::review::{
    NewReview, NewReviewReply, Rating, RatingSummary, Review, ReviewReply, ReviewStatus,
};
use domain::{EventId, ReviewId, ReviewReplyId, Timestamp, UserId};
use ports::{AppError, ErrorCode, Page};
use ports::{ReviewQuery, ReviewRepository, ReviewSort};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Set, TransactionTrait,
};

use super::fetch_one;
use crate::convert::{self, count, parse};
use crate::entities::{review_helpful_votes as vote, review_replies as reply, reviews as row};
use crate::error::{corrupt, db_err, is_fk_violation, is_unique_violation};
use crate::tx::SeaTx;

fn to_domain(m: row::Model) -> Result<Review, AppError> {
    Ok(Review {
        id: ReviewId(m.id),
        event_id: EventId(m.event_id),
        user_id: convert::user(m.user_id),
        rating: Rating::new(i64::from(m.rating))
            .map_err(|_| corrupt(format!("reviews.rating = {}", m.rating)))?,
        content: m.content,
        status: parse(&m.status, "reviews.status")?,
        helpful_count: count(m.helpful_count, "reviews.helpful_count")?,
        moderation_note: m.moderation_note,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn reply_to_domain(m: reply::Model) -> ReviewReply {
    ReviewReply {
        id: ReviewReplyId(m.id),
        review_id: ReviewId(m.review_id),
        author_id: convert::user(m.author_id),
        content: m.content,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn rating_column(rating: Rating) -> i16 {
    i16::from(rating.get())
}

/// A missing parent row (`entity`) is NotFound; the rest is the general mapping.
fn missing(entity: &'static str) -> impl FnOnce(DbErr) -> AppError {
    move |err| {
        if is_fk_violation(&err) {
            AppError::NotFound { entity }
        } else {
            db_err(err)
        }
    }
}

fn insert_err(err: DbErr) -> AppError {
    if is_unique_violation(&err) {
        AppError::conflict(
            ErrorCode::AlreadyReviewed,
            "you have already reviewed this event",
        )
    } else {
        missing("event")(err)
    }
}

fn non_negative(value: i64, what: &str) -> Result<u64, AppError> {
    u64::try_from(value).map_err(|_| corrupt(format!("{what} = {value}")))
}

/// SUM(rating) and COUNT(*) of the ACTIVE reviews `query` selects.
async fn summarize(tx: &SeaTx, query: Select<row::Entity>) -> Result<RatingSummary, AppError> {
    let found: Option<(Option<i64>, i64)> = query
        .filter(row::Column::Status.eq(ReviewStatus::Active.as_str()))
        .select_only()
        .column_as(Expr::col(row::Column::Rating).sum(), "rating_sum")
        .column_as(Expr::col(Asterisk).count(), "rating_count")
        .into_tuple()
        .one(tx.conn())
        .await
        .map_err(db_err)?;
    let (sum, n) = found.unwrap_or((None, 0));
    Ok(RatingSummary {
        rating_sum: non_negative(sum.unwrap_or(0), "SUM(reviews.rating)")?,
        count: non_negative(n, "COUNT(reviews)")?,
    })
}

#[async_trait]
impl ReviewRepository for SeaTx {
    async fn insert(&self, review: NewReview) -> Result<Review, AppError> {
        let model = row::ActiveModel {
            event_id: Set(review.event_id.0),
            user_id: Set(review.user_id.0),
            rating: Set(rating_column(review.rating)),
            content: Set(review.content),
            status: Set(ReviewStatus::Pending.as_str().to_owned()),
            helpful_count: Set(0),
            moderation_note: Set(None),
            version: Set(0),
            created_at: Set(review.created_at),
            updated_at: Set(review.created_at),
            ..Default::default()
        };
        let inserted = model.insert(self.conn()).await.map_err(insert_err)?;
        to_domain(inserted)
    }

    async fn find(&self, id: ReviewId) -> Result<Option<Review>, AppError> {
        fetch_one(self.conn(), row::Entity::find_by_id(id.0), to_domain).await
    }

    async fn update(&self, review: &Review) -> Result<Review, AppError> {
        // helpful_count is not written: votes move it on their own (add_helpful_vote).
        let changes = row::ActiveModel {
            rating: Set(rating_column(review.rating)),
            content: Set(review.content.clone()),
            status: Set(review.status.as_str().to_owned()),
            moderation_note: Set(review.moderation_note.clone()),
            updated_at: Set(review.updated_at),
            ..Default::default()
        };
        let done = row::Entity::update_many()
            .set(changes)
            .col_expr(row::Column::Version, Expr::col(row::Column::Version).add(1))
            .filter(row::Column::Id.eq(review.id.0))
            .filter(row::Column::Version.eq(review.version))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        let current = row::Entity::find_by_id(review.id.0)
            .one(self.conn())
            .await
            .map_err(db_err)?;
        match (done.rows_affected, current) {
            (_, None) => Err(AppError::NotFound { entity: "review" }),
            (0, Some(_)) => Err(AppError::version_conflict("review")),
            (_, Some(m)) => to_domain(m),
        }
    }

    async fn search(&self, query: &ReviewQuery) -> Result<(Page<Review>, RatingSummary), AppError> {
        let mut scope = row::Entity::find();
        if let Some(event_id) = query.event_id {
            scope = scope.filter(row::Column::EventId.eq(event_id.0));
        }
        if let Some(user_id) = query.user_id {
            scope = scope.filter(row::Column::UserId.eq(user_id.0));
        }
        let summary = summarize(self, scope.clone()).await?;

        let mut matching = scope;
        if !query.statuses.is_empty() {
            let statuses: Vec<&str> = query.statuses.iter().map(|s| s.as_str()).collect();
            matching = matching.filter(row::Column::Status.is_in(statuses));
        }
        if let Some(min) = query.min_rating {
            matching = matching.filter(row::Column::Rating.gte(i16::from(min)));
        }
        let total = matching.clone().count(self.conn()).await.map_err(db_err)?;
        let ordered = match query.sort {
            ReviewSort::Newest => matching
                .order_by_desc(row::Column::CreatedAt)
                .order_by_desc(row::Column::Id),
            ReviewSort::MostHelpful => matching
                .order_by_desc(row::Column::HelpfulCount)
                .order_by_desc(row::Column::CreatedAt)
                .order_by_desc(row::Column::Id),
            ReviewSort::Oldest => matching
                .order_by_asc(row::Column::CreatedAt)
                .order_by_asc(row::Column::Id),
        };
        let rows = ordered
            .offset(query.page.offset())
            .limit(u64::from(query.page.size()))
            .all(self.conn())
            .await
            .map_err(db_err)?;
        let items = rows
            .into_iter()
            .map(to_domain)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((Page::new(items, query.page, total), summary))
    }

    async fn add_reply(&self, new: NewReviewReply) -> Result<ReviewReply, AppError> {
        let model = reply::ActiveModel {
            review_id: Set(new.review_id.0),
            author_id: Set(new.author_id.0),
            content: Set(new.content),
            created_at: Set(new.created_at),
            updated_at: Set(new.created_at),
            ..Default::default()
        };
        model
            .insert(self.conn())
            .await
            .map(reply_to_domain)
            .map_err(missing("review"))
    }

    async fn replies(&self, review_ids: &[ReviewId]) -> Result<Vec<ReviewReply>, AppError> {
        if review_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = reply::Entity::find()
            .filter(reply::Column::ReviewId.is_in(review_ids.iter().map(|id| id.0)))
            .order_by_asc(reply::Column::CreatedAt)
            .order_by_asc(reply::Column::Id)
            .all(self.conn())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(reply_to_domain).collect())
    }

    async fn add_helpful_vote(
        &self,
        review_id: ReviewId,
        user_id: UserId,
        at: Timestamp,
    ) -> Result<bool, AppError> {
        let ballot = vote::ActiveModel {
            review_id: Set(review_id.0),
            user_id: Set(user_id.0),
            created_at: Set(at),
        };
        // A savepoint: on PostgreSQL a failed statement aborts the whole transaction, and a
        // second vote is an expected outcome, not a failure of the caller's unit of work.
        let savepoint = self.conn().begin().await.map_err(db_err)?;
        match vote::Entity::insert(ballot).exec(&savepoint).await {
            Ok(_) => savepoint.commit().await.map_err(db_err)?,
            Err(err) => {
                savepoint.rollback().await.map_err(db_err)?;
                return if is_unique_violation(&err) {
                    Ok(false)
                } else {
                    Err(missing("review")(err))
                };
            }
        }
        row::Entity::update_many()
            .col_expr(
                row::Column::HelpfulCount,
                Expr::col(row::Column::HelpfulCount).add(1),
            )
            .filter(row::Column::Id.eq(review_id.0))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        Ok(true)
    }

    async fn rating_summary(&self, event_id: EventId) -> Result<RatingSummary, AppError> {
        summarize(
            self,
            row::Entity::find().filter(row::Column::EventId.eq(event_id.0)),
        )
        .await
    }
}
