//! Favorite use cases (PRODUCT.md §8): a signed-in caller keeps a list of events.
//!
//! * `add` is idempotent: adding an event twice keeps one favorite and answers whether it was
//!   created now (201 vs 200 at the edge). Only events the caller may see can be added (a
//!   DRAFT of somebody else is 404, as on `GET /events/{id}`).
//! * `remove` is idempotent too: removing something that is not (or no longer) a favorite
//!   succeeds without a change, so a retried DELETE never fails.
//! * `list` shows the caller's own favorites, newest first, each with the event's summary and
//!   public rating. There is no way to read somebody else's list.
//!
//! Writes that change something record an audit row; favorites publish no domain event
//! (nobody downstream consumes one; the outbox catalogue has none).

use std::sync::Arc;

use domain::EventId;
use domain::favorite::Favorite;
use serde_json::{Value, json};

use crate::actor::RequestContext;
use crate::clock::Clock;
use crate::ports::{AuditEntry, EventListing, UnitOfWork};
use crate::services::events::visible_to;
use crate::{AppError, Page, PageRequest};

/// A favorite with the event it points at (`FavoriteResponse`).
#[derive(Debug, Clone, PartialEq)]
pub struct FavoriteView {
    pub favorite: Favorite,
    /// The event and its rating; `None` only if the caller may no longer see it.
    pub event: Option<EventListing>,
}

/// What `add` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct AddedFavorite {
    pub view: FavoriteView,
    /// `false` when the event already was a favorite (nothing changed).
    pub created: bool,
}

/// The favorite use cases.
#[derive(Clone)]
pub struct FavoriteService {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for FavoriteService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FavoriteService").finish_non_exhaustive()
    }
}

fn summary(favorite: &Favorite) -> Value {
    json!({
        "favorite_id": favorite.id.value(),
        "event_id": favorite.event_id.value(),
        "user_id": favorite.user_id.to_string(),
    })
}

impl FavoriteService {
    #[must_use]
    pub fn new(uow: Arc<dyn UnitOfWork>, clock: Arc<dyn Clock>) -> Self {
        Self { uow, clock }
    }

    /// `POST /api/v1/favorites {event_id}`, `AddFavorite`: any signed-in caller (guest → 401).
    /// An event the caller cannot see is 404.
    #[tracing::instrument(name = "FavoriteService.add", skip_all)]
    pub async fn add(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
    ) -> Result<AddedFavorite, AppError> {
        let user = ctx.actor.require_authenticated()?;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let listing = tx
            .events()
            .listing(event_id)
            .await?
            .filter(|l| visible_to(ctx, &l.event))
            .ok_or(AppError::NotFound { entity: "event" })?;
        let (favorite, created) = tx.favorites().add(event_id, user, now).await?;
        if created {
            tx.audit()
                .record(
                    AuditEntry::by(ctx, "favorite.add", "favorite", favorite.id, now)
                        .with_change(None, Some(summary(&favorite))),
                )
                .await?;
        }
        tx.commit().await?;
        Ok(AddedFavorite {
            view: FavoriteView {
                favorite,
                event: Some(listing),
            },
            created,
        })
    }

    /// `DELETE /api/v1/favorites/{event_id}`, `RemoveFavorite`: the caller's own favorite;
    /// answers whether there was one (both outcomes are a success).
    #[tracing::instrument(name = "FavoriteService.remove", skip_all)]
    pub async fn remove(&self, ctx: &RequestContext, event_id: EventId) -> Result<bool, AppError> {
        let user = ctx.actor.require_authenticated()?;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let removed = tx.favorites().remove(event_id, user).await?;
        if removed {
            tx.audit()
                .record(
                    AuditEntry::by(ctx, "favorite.remove", "event", event_id, now).with_change(
                        Some(json!({"event_id": event_id.value(), "user_id": user.to_string()})),
                        None,
                    ),
                )
                .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// `GET /api/v1/favorites`, `ListFavorites`: the caller's own favorites, newest first,
    /// with event summaries (one listing read per item; a page holds at most 100).
    #[tracing::instrument(name = "FavoriteService.list", skip_all)]
    pub async fn list(
        &self,
        ctx: &RequestContext,
        page: PageRequest,
    ) -> Result<Page<FavoriteView>, AppError> {
        let user = ctx.actor.require_authenticated()?;
        let tx = self.uow.begin().await?;
        let favorites = tx.favorites().list(user, page).await?;
        let mut items = Vec::with_capacity(favorites.items.len());
        for favorite in favorites.items {
            let event = tx
                .events()
                .listing(favorite.event_id)
                .await?
                .filter(|l| visible_to(ctx, &l.event));
            items.push(FavoriteView { favorite, event });
        }
        tx.commit().await?;
        Ok(Page {
            items,
            page: favorites.page,
            size: favorites.size,
            total_elements: favorites.total_elements,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;
    use crate::clock::ManualClock;
    use crate::services::bookings::tests::{event, now, user};
    use crate::services::test_support::{FakeTx, uow_with};
    use domain::event::EventStatus;
    use domain::review::RatingSummary;
    use domain::{FavoriteId, UserId};
    use std::sync::atomic::{AtomicBool, Ordering};

    fn ann() -> RequestContext {
        user(1)
    }

    fn service(txs: Vec<FakeTx>) -> FavoriteService {
        FavoriteService::new(Arc::new(uow_with(txs)), Arc::new(ManualClock::new(now())))
    }

    fn listing(status: EventStatus) -> EventListing {
        let mut event = event();
        event.status = status;
        EventListing {
            event,
            rating: RatingSummary::default(),
        }
    }

    #[tokio::test]
    async fn guests_are_refused_before_any_transaction() {
        let guest = RequestContext::new(Actor::guest());
        let svc = service(vec![]);
        assert!(matches!(
            svc.add(&guest, EventId(1)).await.unwrap_err(),
            AppError::Unauthenticated
        ));
        assert!(matches!(
            svc.remove(&guest, EventId(1)).await.unwrap_err(),
            AppError::Unauthenticated
        ));
        assert!(matches!(
            svc.list(&guest, PageRequest::default()).await.unwrap_err(),
            AppError::Unauthenticated
        ));
    }

    #[tokio::test]
    async fn somebody_elses_draft_cannot_be_added() {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        tx.events
            .expect_listing()
            .returning(|_| Ok(Some(listing(EventStatus::Draft))));
        tx.favorites.expect_add().never();
        let err = service(vec![tx]).add(&ann(), EventId(1)).await.unwrap_err();
        assert!(matches!(err, AppError::NotFound { entity: "event" }));
        assert!(!committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn adding_again_changes_nothing_and_writes_no_audit_row() {
        for created in [true, false] {
            let committed = Arc::new(AtomicBool::new(false));
            let mut tx = FakeTx::new(Arc::clone(&committed));
            tx.events
                .expect_listing()
                .returning(|_| Ok(Some(listing(EventStatus::Published))));
            tx.favorites
                .expect_add()
                .times(1)
                .returning(move |event_id, user_id, at| {
                    Ok((
                        Favorite {
                            id: FavoriteId(5),
                            event_id,
                            user_id,
                            created_at: at,
                        },
                        created,
                    ))
                });
            tx.audit
                .expect_record()
                .times(usize::from(created))
                .withf(|a| a.action == "favorite.add" && a.entity_id == "5")
                .returning(|_| Ok(()));
            let added = service(vec![tx]).add(&ann(), EventId(1)).await.unwrap();
            assert_eq!(added.created, created);
            assert_eq!(added.view.favorite.id, FavoriteId(5));
            assert!(added.view.event.is_some());
            assert!(committed.load(Ordering::SeqCst));
        }
    }

    #[tokio::test]
    async fn removing_is_audited_only_when_something_was_removed() {
        for removed in [true, false] {
            let committed = Arc::new(AtomicBool::new(false));
            let mut tx = FakeTx::new(Arc::clone(&committed));
            tx.favorites
                .expect_remove()
                .times(1)
                .withf(|e, u| *e == EventId(3) && *u == UserId(uuid::Uuid::from_u128(1)))
                .returning(move |_, _| Ok(removed));
            tx.audit
                .expect_record()
                .times(usize::from(removed))
                .withf(|a| a.action == "favorite.remove" && a.before.is_some())
                .returning(|_| Ok(()));
            assert_eq!(
                service(vec![tx]).remove(&ann(), EventId(3)).await.unwrap(),
                removed
            );
            assert!(committed.load(Ordering::SeqCst));
        }
    }
}
