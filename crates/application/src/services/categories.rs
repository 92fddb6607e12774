//! Category use cases (PRODUCT.md §2): a public list, create and update for ADMIN. The
//! hierarchy (`parent_id`) stays a tree no deeper than `domain::category::MAX_DEPTH`.
//!
//! There is no category domain event in the outbox catalogue (nobody downstream consumes
//! one), so category writes record an audit row only.

use std::collections::HashMap;
use std::sync::Arc;

use domain::CategoryId;
use domain::category::{Category, CategoryFields, CategoryInput, check_parent};
use serde_json::{Value, json};

use crate::AppError;
use crate::actor::{RequestContext, Role};
use crate::clock::Clock;
use crate::ports::{AuditEntry, Tx, UnitOfWork};

/// The category use cases.
#[derive(Clone)]
pub struct CategoryService {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for CategoryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CategoryService").finish_non_exhaustive()
    }
}

fn summary(c: &Category) -> Value {
    json!({
        "category_id": c.id.value(),
        "name": c.name,
        "description": c.description,
        "parent_id": c.parent_id.map(CategoryId::value),
        "icon_url": c.icon_url,
    })
}

fn require_admin(ctx: &RequestContext) -> Result<(), AppError> {
    ctx.actor
        .require_role(&[Role::Admin], "only admins manage categories")
        .map(|_| ())
}

/// Checks that `fields.parent_id` exists and keeps the hierarchy a bounded tree when given to
/// `category` (`None` for a new one).
async fn check_hierarchy(
    tx: &dyn Tx,
    category: Option<CategoryId>,
    fields: &CategoryFields,
) -> Result<(), AppError> {
    let Some(parent) = fields.parent_id else {
        return Ok(());
    };
    let parents: HashMap<CategoryId, Option<CategoryId>> = tx
        .categories()
        .list()
        .await?
        .into_iter()
        .map(|c| (c.id, c.parent_id))
        .collect();
    if !parents.contains_key(&parent) {
        return Err(AppError::invalid("parent_id", "no such category"));
    }
    check_parent(category, Some(parent), |id| {
        parents.get(&id).copied().flatten()
    })?;
    Ok(())
}

impl CategoryService {
    #[must_use]
    pub fn new(uow: Arc<dyn UnitOfWork>, clock: Arc<dyn Clock>) -> Self {
        Self { uow, clock }
    }

    /// `GET /api/v1/categories`: public, sorted by name.
    #[tracing::instrument(name = "CategoryService.list", skip_all)]
    pub async fn list(&self) -> Result<Vec<Category>, AppError> {
        let tx = self.uow.begin().await?;
        let categories = tx.categories().list().await?;
        tx.commit().await?;
        Ok(categories)
    }

    /// `POST /api/v1/categories`: ADMIN. A duplicate name is 409 `CATEGORY_EXISTS`; an unknown
    /// parent is a validation error on `parent_id`; too deep a tree likewise.
    #[tracing::instrument(name = "CategoryService.create", skip_all)]
    pub async fn create(
        &self,
        ctx: &RequestContext,
        input: CategoryInput,
    ) -> Result<Category, AppError> {
        require_admin(ctx)?;
        let fields = CategoryFields::new(&input)?;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        check_hierarchy(tx.as_ref(), None, &fields).await?;
        let created = tx.categories().insert(fields).await?;
        tx.audit()
            .record(
                AuditEntry::by(ctx, "category.create", "category", created.id, now)
                    .with_change(None, Some(summary(&created))),
            )
            .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// `PUT /api/v1/categories/{id}`: ADMIN; replaces every field. Moving a category under
    /// itself or one of its descendants is 409 `CATEGORY_CYCLE`.
    #[tracing::instrument(name = "CategoryService.update", skip_all)]
    pub async fn update(
        &self,
        ctx: &RequestContext,
        id: CategoryId,
        input: CategoryInput,
    ) -> Result<Category, AppError> {
        require_admin(ctx)?;
        let fields = CategoryFields::new(&input)?;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let before = tx
            .categories()
            .find(id)
            .await?
            .ok_or(AppError::NotFound { entity: "category" })?;
        check_hierarchy(tx.as_ref(), Some(id), &fields).await?;
        let updated = tx.categories().update(id, fields).await?;
        tx.audit()
            .record(
                AuditEntry::by(ctx, "category.update", "category", id, now)
                    .with_change(Some(summary(&before)), Some(summary(&updated))),
            )
            .await?;
        tx.commit().await?;
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;
    use crate::clock::ManualClock;
    use crate::services::test_support::{FakeTx, uow_with};
    use chrono::{TimeZone, Utc};
    use domain::UserId;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn admin() -> RequestContext {
        RequestContext::new(Actor::authenticated(
            UserId(uuid::Uuid::from_u128(9)),
            [Role::Admin],
        ))
    }

    fn service(txs: Vec<FakeTx>) -> CategoryService {
        let now = Utc.with_ymd_and_hms(2027, 4, 1, 8, 0, 0).unwrap();
        CategoryService::new(Arc::new(uow_with(txs)), Arc::new(ManualClock::new(now)))
    }

    fn cat(id: i64, parent: Option<i64>) -> Category {
        Category {
            id: CategoryId(id),
            name: format!("c{id}"),
            description: None,
            parent_id: parent.map(CategoryId),
            icon_url: None,
        }
    }

    /// 1 ← 2 ← 3
    fn tree_tx() -> (FakeTx, Arc<AtomicBool>) {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        tx.categories
            .expect_list()
            .returning(|| Ok(vec![cat(1, None), cat(2, Some(1)), cat(3, Some(2))]));
        (tx, committed)
    }

    fn input(name: &str, parent: Option<i64>) -> CategoryInput {
        CategoryInput {
            name: name.into(),
            parent_id: parent.map(CategoryId),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn only_admins_write_categories_checked_before_any_transaction() {
        let user = RequestContext::new(Actor::authenticated(
            UserId(uuid::Uuid::from_u128(1)),
            [Role::Organizer],
        ));
        let err = service(vec![])
            .create(&user, input("Rafting", None))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden { .. }));
        let err = service(vec![])
            .update(
                &RequestContext::new(Actor::guest()),
                CategoryId(1),
                input("x", None),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Unauthenticated));
        let err = service(vec![])
            .create(&admin(), input("  ", None))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "VALIDATION_FAILED");
    }

    #[tokio::test]
    async fn create_under_an_existing_parent_is_audited_and_committed() {
        let (mut tx, committed) = tree_tx();
        tx.categories
            .expect_insert()
            .times(1)
            .withf(|f| f.name == "Kayaking" && f.parent_id == Some(CategoryId(3)))
            .returning(|f| {
                Ok(Category {
                    name: f.name,
                    ..cat(4, Some(3))
                })
            });
        tx.audit
            .expect_record()
            .times(1)
            .withf(|a| {
                a.action == "category.create"
                    && a.entity_id == "4"
                    && a.after.as_ref().is_some_and(|v| v["parent_id"] == 3)
            })
            .returning(|_| Ok(()));
        let created = service(vec![tx])
            .create(&admin(), input("Kayaking", Some(3)))
            .await
            .unwrap();
        assert_eq!(created.id, CategoryId(4));
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn an_unknown_parent_is_a_validation_error() {
        let (mut tx, committed) = tree_tx();
        tx.categories.expect_insert().never();
        let err = service(vec![tx])
            .create(&admin(), input("Kayaking", Some(42)))
            .await
            .unwrap_err();
        match err {
            AppError::Validation { fields } => assert_eq!(fields[0].field, "parent_id"),
            other => panic!("{other:?}"),
        }
        assert!(!committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn moving_a_category_under_its_descendant_or_itself_is_a_cycle() {
        for parent in [3, 1] {
            let (mut tx, committed) = tree_tx();
            tx.categories
                .expect_find()
                .returning(|_| Ok(Some(cat(1, None))));
            tx.categories.expect_update().never();
            let err = service(vec![tx])
                .update(&admin(), CategoryId(1), input("c1", Some(parent)))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "CATEGORY_CYCLE");
            assert!(!committed.load(Ordering::SeqCst));
        }
    }

    #[tokio::test]
    async fn update_of_a_missing_category_is_not_found_and_a_valid_move_is_audited() {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        tx.categories.expect_find().returning(|_| Ok(None));
        let err = service(vec![tx])
            .update(&admin(), CategoryId(77), input("x", None))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::NotFound { entity: "category" }));

        let (mut tx, committed) = tree_tx();
        tx.categories
            .expect_find()
            .returning(|_| Ok(Some(cat(3, Some(2)))));
        tx.categories.expect_update().times(1).returning(|id, f| {
            Ok(Category {
                id,
                name: f.name,
                description: f.description,
                parent_id: f.parent_id,
                icon_url: f.icon_url,
            })
        });
        tx.audit
            .expect_record()
            .times(1)
            .withf(|a| {
                a.action == "category.update"
                    && a.before.as_ref().is_some_and(|v| v["parent_id"] == 2)
                    && a.after.as_ref().is_some_and(|v| v["parent_id"] == 1)
            })
            .returning(|_| Ok(()));
        let moved = service(vec![tx])
            .update(&admin(), CategoryId(3), input("c3", Some(1)))
            .await
            .unwrap();
        assert_eq!(moved.parent_id, Some(CategoryId(1)));
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn anybody_lists_categories() {
        // No caller to check: the list is read in a transaction that is committed.
        let (tx, committed) = tree_tx();
        service(vec![tx]).list().await.unwrap();
        assert!(committed.load(Ordering::SeqCst));
    }
}
