//! Fixture rows for the engagement repository tests (waitlist, reviews, favorites), written
//! straight through the entities.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::rows;
use adapters_postgres::entities::{events, reviews};
use chrono::{Duration, TimeZone, Utc};
use domain::review::ReviewStatus;
use domain::{EventId, ReviewId, Timestamp, UserId};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

/// A fixed instant plus `minutes` (whole seconds survive every backend exactly).
pub fn at(minutes: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2030, 6, 1, 12, 0, 0).unwrap() + Duration::minutes(minutes)
}

pub fn user(n: u128) -> UserId {
    UserId(uuid::Uuid::from_u128(n))
}

/// A published event with 100 seats.
pub async fn event(db: &impl ConnectionTrait, name: &str) -> EventId {
    let row = events::ActiveModel {
        price_minor: Set(2_500),
        published_at: Set(Some(at(0))),
        ..rows::event(name, user(999), at(60 * 24 * 30), at(0))
    };
    EventId(row.insert(db).await.unwrap().id)
}

/// A review row as the database would hold it after moderation and votes.
pub fn review_row(
    event_id: EventId,
    user_id: UserId,
    rating: i16,
    status: ReviewStatus,
    helpful_count: i32,
    created_at: Timestamp,
) -> reviews::ActiveModel {
    reviews::ActiveModel {
        event_id: Set(event_id.0),
        user_id: Set(user_id.0),
        rating: Set(rating),
        content: Set(Some(format!("{rating} stars"))),
        status: Set(status.as_str().to_owned()),
        helpful_count: Set(helpful_count),
        moderation_note: Set(None),
        version: Set(0),
        created_at: Set(created_at),
        updated_at: Set(created_at),
        ..Default::default()
    }
}

/// Inserts [`review_row`].
pub async fn review(
    db: &impl ConnectionTrait,
    event_id: EventId,
    user_id: UserId,
    rating: i16,
    status: ReviewStatus,
    helpful_count: i32,
    created_at: Timestamp,
) -> ReviewId {
    let row = review_row(event_id, user_id, rating, status, helpful_count, created_at);
    ReviewId(row.insert(db).await.unwrap().id)
}
