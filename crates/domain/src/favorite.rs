//! Favorites: events a user keeps an eye on. Adding twice is the same as adding once (the store
//! keeps one row per user and event).

use crate::{EventId, FavoriteId, Timestamp, UserId};

/// A stored favorite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Favorite {
    pub id: FavoriteId,
    pub event_id: EventId,
    pub user_id: UserId,
    pub created_at: Timestamp,
}
