//! Promo code use cases (PRODUCT.md §7): create, read, list, replace the terms, deactivate,
//! and "what would this code give me" (`validate`).
//!
//! Choices made here:
//! * ORGANIZERs manage codes they created, and may only create codes scoped to an event they
//!   created (another organizer's event is 404). Codes valid for every event are a platform
//!   decision: ADMIN only (an organizer asking gets 403). ADMINs manage every code.
//! * Another organizer's code is 404, a USER asking for any code management is 403.
//! * `validate` is for signed-in callers (it answers the price they would pay); every code
//!   that cannot be used here — unknown, inactive, not yet or no longer valid, used up, for
//!   another event — answers the same 409 `PROMO_CODE_INVALID` with the same detail, so that
//!   codes cannot be probed; the reason is written to the audit log (`promo_code.refused`).
//! * The code text is normalized by the domain (`PromoCodeText`: trimmed, upper case).
//! * Promo codes have no domain event of their own; every write is audited.

use std::sync::Arc;

use domain::event::Event;
use domain::pricing::{PriceBreakdown, PriceRequest, PromoDiscount, price};
use domain::promo_code::{PromoCode, PromoCodeText, PromoTerms};
use domain::{DomainError, EventId, PriceOptionId, PromoCodeId, Quantity, Timestamp, UserId};
use serde_json::{Value, json};

use crate::actor::{RequestContext, Role};
use crate::clock::Clock;
use crate::ports::{AuditEntry, PromoCodeQuery, Tx, UnitOfWork};
use crate::{AppError, ErrorCode, Page, PageRequest};

/// The terms of a code as the caller gives them (create and replace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoTermsInput {
    pub discount: PromoDiscount,
    /// Default: now.
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub max_uses: Option<i64>,
    pub event_id: Option<EventId>,
    pub is_active: bool,
}

/// `POST /api/v1/promo-codes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePromoCodeCommand {
    pub code: String,
    pub terms: PromoTermsInput,
}

/// `PUT /api/v1/promo-codes/{id}`: new terms (the code text never changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePromoCodeCommand {
    /// The version the caller read; a mismatch is 409 `VERSION_CONFLICT`.
    pub expected_version: Option<i64>,
    pub terms: PromoTermsInput,
}

/// `GET /api/v1/promo-codes` filters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PromoCodeFilter {
    pub event_id: Option<EventId>,
    /// ADMIN only: codes created by this user.
    pub created_by: Option<UserId>,
    pub active_only: bool,
    pub page: PageRequest,
}

/// `POST /api/v1/promo-codes/{code}/validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatePromoCodeCommand {
    pub event_id: EventId,
    pub quantity: i64,
    pub price_option_id: Option<PriceOptionId>,
}

/// What a code would give for a booking: the code and the full price breakdown, computed
/// by the same pricing pipeline as a booking (without loyalty points).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoValidation {
    pub code: PromoCode,
    pub event_id: EventId,
    pub breakdown: PriceBreakdown,
}

/// The promo code use cases.
#[derive(Clone)]
pub struct PromoCodeService {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
    max_quantity: u32,
}

impl std::fmt::Debug for PromoCodeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromoCodeService")
            .field("max_quantity", &self.max_quantity)
            .finish_non_exhaustive()
    }
}

/// The code as the audit log sees it.
#[must_use]
pub fn promo_code_summary(c: &PromoCode) -> Value {
    let (kind, value) = match c.terms.discount {
        PromoDiscount::Percent(p) => ("PERCENT", p.value().normalize().to_string()),
        PromoDiscount::FixedAmount(m) => ("FIXED_AMOUNT", m.to_string()),
    };
    json!({
        "promo_code_id": c.id.value(),
        "code": c.code.as_str(),
        "discount_kind": kind,
        "discount": value,
        "start_date": c.terms.valid_from.to_rfc3339(),
        "end_date": c.terms.valid_until.map(|d| d.to_rfc3339()),
        "max_uses": c.terms.max_uses,
        "current_uses": c.current_uses,
        "event_id": c.terms.event_id.map(|e| e.value()),
        "is_active": c.terms.is_active,
        "version": c.version,
    })
}

fn require_code_manager_role(ctx: &RequestContext) -> Result<UserId, AppError> {
    ctx.actor.require_role(
        &[Role::Organizer, Role::Admin],
        "only organizers and admins manage promo codes",
    )
}

/// The caller created the code, or is an admin; otherwise the code "does not exist".
fn require_code_owner(ctx: &RequestContext, code: &PromoCode) -> Result<(), AppError> {
    if ctx.actor.is_admin() || ctx.actor.user_id() == Some(code.created_by) {
        Ok(())
    } else {
        Err(AppError::NotFound {
            entity: "promo code",
        })
    }
}

/// The event scope an organizer may give a code: one of their own events. Unscoped codes are
/// for admins only.
async fn check_scope(
    tx: &dyn Tx,
    ctx: &RequestContext,
    event_id: Option<EventId>,
) -> Result<(), AppError> {
    match event_id {
        Some(id) => {
            let event = tx
                .events()
                .find(id)
                .await?
                .ok_or(AppError::NotFound { entity: "event" })?;
            ctx.actor.require_event_manager(event.creator_id)?;
            Ok(())
        }
        None if ctx.actor.is_admin() => Ok(()),
        None => Err(AppError::Forbidden {
            reason: "codes valid for every event are created by admins; organizers give an event_id",
        }),
    }
}

fn terms_of(input: PromoTermsInput, now: Timestamp) -> Result<PromoTerms, AppError> {
    Ok(PromoTerms::new(
        input.discount,
        input.valid_from.unwrap_or(now),
        input.valid_until,
        input.max_uses,
        input.event_id,
        input.is_active,
    )?)
}

impl PromoCodeService {
    #[must_use]
    pub fn new(uow: Arc<dyn UnitOfWork>, clock: Arc<dyn Clock>, max_quantity: u32) -> Self {
        Self {
            uow,
            clock,
            max_quantity,
        }
    }

    /// `POST /api/v1/promo-codes`: see the module notes for who may create what. A code that
    /// exists already is 409 `PROMO_CODE_EXISTS`.
    #[tracing::instrument(name = "PromoCodeService.create", skip_all)]
    pub async fn create(
        &self,
        ctx: &RequestContext,
        cmd: CreatePromoCodeCommand,
    ) -> Result<PromoCode, AppError> {
        let me = require_code_manager_role(ctx)?;
        let text = PromoCodeText::new(&cmd.code)?;
        let now = self.clock.now();
        let terms = terms_of(cmd.terms, now)?;
        let tx = self.uow.begin().await?;
        check_scope(tx.as_ref(), ctx, terms.event_id).await?;
        let created = tx.promo_codes().insert(text, terms, me, now).await?;
        tx.audit()
            .record(
                AuditEntry::by(ctx, "promo_code.create", "promo_code", created.id, now)
                    .with_change(None, Some(promo_code_summary(&created))),
            )
            .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// `GET /api/v1/promo-codes/{id}`.
    #[tracing::instrument(name = "PromoCodeService.get", skip_all)]
    pub async fn get(&self, ctx: &RequestContext, id: PromoCodeId) -> Result<PromoCode, AppError> {
        require_code_manager_role(ctx)?;
        let tx = self.uow.begin().await?;
        let code = Self::load(tx.as_ref(), ctx, id).await?;
        tx.commit().await?;
        Ok(code)
    }

    /// `GET /api/v1/promo-codes`: organizers list the codes they created, admins every code
    /// (optionally those of one creator).
    #[tracing::instrument(name = "PromoCodeService.list", skip_all)]
    pub async fn list(
        &self,
        ctx: &RequestContext,
        filter: PromoCodeFilter,
    ) -> Result<Page<PromoCode>, AppError> {
        let me = require_code_manager_role(ctx)?;
        let created_by = if ctx.actor.is_admin() {
            filter.created_by
        } else {
            if filter.created_by.is_some_and(|u| u != me) {
                return Err(AppError::Forbidden {
                    reason: "organizers list only their own promo codes",
                });
            }
            Some(me)
        };
        let tx = self.uow.begin().await?;
        let page = tx
            .promo_codes()
            .search(&PromoCodeQuery {
                created_by,
                event_id: filter.event_id,
                active_only: filter.active_only,
                page: filter.page,
            })
            .await?;
        tx.commit().await?;
        Ok(page)
    }

    /// `PUT /api/v1/promo-codes/{id}`: replaces the terms (optimistic lock on `version`);
    /// `max_uses` cannot go below the uses already made.
    #[tracing::instrument(name = "PromoCodeService.update", skip_all)]
    pub async fn update(
        &self,
        ctx: &RequestContext,
        id: PromoCodeId,
        cmd: UpdatePromoCodeCommand,
    ) -> Result<PromoCode, AppError> {
        require_code_manager_role(ctx)?;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut code = Self::load(tx.as_ref(), ctx, id).await?;
        if cmd.expected_version.is_some_and(|v| v != code.version) {
            return Err(AppError::version_conflict("promo code"));
        }
        let terms = PromoTermsInput {
            // The start of validity stays where it was unless given.
            valid_from: Some(cmd.terms.valid_from.unwrap_or(code.terms.valid_from)),
            ..cmd.terms
        };
        let terms = terms_of(terms, now)?;
        if terms.event_id != code.terms.event_id {
            check_scope(tx.as_ref(), ctx, terms.event_id).await?;
        }
        let before = promo_code_summary(&code);
        code.update_terms(terms, now)?;
        let stored = tx.promo_codes().update(&code).await?;
        tx.audit()
            .record(
                AuditEntry::by(ctx, "promo_code.update", "promo_code", stored.id, now)
                    .with_change(Some(before), Some(promo_code_summary(&stored))),
            )
            .await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// `DELETE /api/v1/promo-codes/{id}`: the code stops applying (`is_active = false`); it is
    /// kept, since bookings refer to it. Deactivating an inactive code changes nothing.
    #[tracing::instrument(name = "PromoCodeService.deactivate", skip_all)]
    pub async fn deactivate(
        &self,
        ctx: &RequestContext,
        id: PromoCodeId,
    ) -> Result<PromoCode, AppError> {
        require_code_manager_role(ctx)?;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut code = Self::load(tx.as_ref(), ctx, id).await?;
        if !code.terms.is_active {
            return Ok(code);
        }
        let before = promo_code_summary(&code);
        code.terms.is_active = false;
        code.updated_at = now;
        let stored = tx.promo_codes().update(&code).await?;
        tx.audit()
            .record(
                AuditEntry::by(ctx, "promo_code.deactivate", "promo_code", stored.id, now)
                    .with_change(Some(before), Some(promo_code_summary(&stored))),
            )
            .await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// `POST /api/v1/promo-codes/{code}/validate`: the discount `code` would give on a booking
    /// of `quantity` seats (at the price option's price when given) of a visible event, with
    /// the price breakdown a booking made now would show (before loyalty points).
    #[tracing::instrument(name = "PromoCodeService.validate", skip_all)]
    pub async fn validate(
        &self,
        ctx: &RequestContext,
        code: &str,
        cmd: ValidatePromoCodeCommand,
    ) -> Result<PromoValidation, AppError> {
        ctx.actor.require_authenticated()?;
        let text = PromoCodeText::new(code)?;
        let quantity = Quantity::new(cmd.quantity, self.max_quantity)?;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let event = tx
            .events()
            .find(cmd.event_id)
            .await?
            .filter(|e| visible_to_booker(ctx, e))
            .ok_or(AppError::NotFound { entity: "event" })?;
        let unit_price = match cmd.price_option_id {
            Some(id) => {
                let option = tx
                    .events()
                    .price_options(event.id)
                    .await?
                    .into_iter()
                    .find(|o| o.id == id)
                    .ok_or(AppError::NotFound {
                        entity: "price option",
                    })?;
                option.check_available_for(event.id, quantity.get())?;
                option.price
            }
            None => event.price,
        };
        let found = tx.promo_codes().find_by_code(&text).await?;
        let refusal = match &found {
            None => Some("unknown promo code"),
            Some(promo) => match promo.check_applicable(event.id, now) {
                Ok(()) => None,
                Err(DomainError::PromoCodeNotApplicable { reason }) => Some(reason.as_str()),
                Err(other) => return Err(other.into()),
            },
        };
        if let Some(reason) = refusal {
            // The caller learns only that the code is not usable here; why goes to the audit
            // log (an unknown code has no row: its id is `unknown`).
            let id = found
                .as_ref()
                .map_or_else(|| "unknown".to_owned(), |p| p.id.to_string());
            tx.audit()
                .record(
                    AuditEntry::by(ctx, "promo_code.refused", "promo_code", id, now).with_change(
                        None,
                        Some(json!({
                            "event_id": event.id.to_string(),
                            "reason": reason,
                        })),
                    ),
                )
                .await?;
            tx.commit().await?;
            return Err(invalid_promo_code());
        }
        let Some(promo) = found else {
            return Err(invalid_promo_code());
        };
        let breakdown = price(&PriceRequest {
            unit_price,
            quantity,
            seats_taken: event.seats.taken(),
            capacity: event.seats.capacity(),
            rules: &event.pricing_rules,
            promo: Some(promo.terms.discount),
            loyalty: None,
        });
        tx.commit().await?;
        Ok(PromoValidation {
            code: promo,
            event_id: event.id,
            breakdown,
        })
    }

    async fn load(
        tx: &dyn Tx,
        ctx: &RequestContext,
        id: PromoCodeId,
    ) -> Result<PromoCode, AppError> {
        let code = tx.promo_codes().find(id).await?.ok_or(AppError::NotFound {
            entity: "promo code",
        })?;
        require_code_owner(ctx, &code)?;
        Ok(code)
    }
}

/// The one answer for a promo code that cannot be used here.
pub(crate) fn invalid_promo_code() -> AppError {
    AppError::conflict(
        ErrorCode::PromoCodeInvalid,
        "the promo code cannot be used for this booking",
    )
}

/// A DRAFT is priced only for its creator and admins, like booking it.
fn visible_to_booker(ctx: &RequestContext, event: &Event) -> bool {
    event.is_public() || ctx.actor.is_admin() || ctx.actor.user_id() == Some(event.creator_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;
    use crate::clock::ManualClock;
    use crate::services::test_support::{FakeTx, uow_with};
    use chrono::{TimeZone, Utc};
    use domain::Percent;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2027, 4, 1, 8, 0, 0).unwrap()
    }

    fn ctx(n: u128, role: Role) -> RequestContext {
        RequestContext::new(Actor::authenticated(
            UserId(uuid::Uuid::from_u128(n)),
            [role],
        ))
    }

    fn service(txs: Vec<FakeTx>) -> PromoCodeService {
        PromoCodeService::new(
            Arc::new(uow_with(txs)),
            Arc::new(ManualClock::new(now())),
            10,
        )
    }

    fn tx() -> (FakeTx, Arc<AtomicBool>) {
        let committed = Arc::new(AtomicBool::new(false));
        (FakeTx::new(Arc::clone(&committed)), committed)
    }

    fn input(event_id: Option<EventId>) -> PromoTermsInput {
        PromoTermsInput {
            discount: PromoDiscount::Percent(Percent::from_whole(10).unwrap()),
            valid_from: None,
            valid_until: None,
            max_uses: Some(5),
            event_id,
            is_active: true,
        }
    }

    fn stored(created_by: u128) -> PromoCode {
        PromoCode {
            id: PromoCodeId(3),
            code: PromoCodeText::new("SUMMER").unwrap(),
            terms: terms_of(input(None), now()).unwrap(),
            current_uses: 2,
            created_by: UserId(uuid::Uuid::from_u128(created_by)),
            version: 4,
            created_at: now(),
            updated_at: now(),
        }
    }

    #[tokio::test]
    async fn users_and_guests_are_refused_before_any_transaction() {
        let cmd = CreatePromoCodeCommand {
            code: "SUMMER".into(),
            terms: input(Some(EventId(7))),
        };
        let err = service(vec![])
            .create(&ctx(1, Role::User), cmd.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");
        let err = service(vec![])
            .create(&RequestContext::new(Actor::guest()), cmd)
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Unauthenticated), "{err:?}");
    }

    #[tokio::test]
    async fn organizers_create_only_codes_scoped_to_their_events() {
        let (mut t, committed) = tx();
        t.promo_codes.expect_insert().never();
        let err = service(vec![t])
            .create(
                &ctx(5, Role::Organizer),
                CreatePromoCodeCommand {
                    code: "EVERYWHERE".into(),
                    terms: input(None),
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");
        assert!(!committed.load(Ordering::SeqCst));

        // An admin may create it; the creator and the normalized text are stored, audited.
        let (mut t, committed) = tx();
        t.promo_codes
            .expect_insert()
            .times(1)
            .withf(|code, terms, by, _| {
                code.as_str() == "EVERYWHERE"
                    && terms.event_id.is_none()
                    && terms.valid_from == now()
                    && *by == UserId(uuid::Uuid::from_u128(9))
            })
            .returning(|code, terms, by, at| {
                Ok(PromoCode {
                    code,
                    terms,
                    created_by: by,
                    created_at: at,
                    current_uses: 0,
                    version: 0,
                    ..stored(9)
                })
            });
        t.audit
            .expect_record()
            .times(1)
            .withf(|a| a.action == "promo_code.create" && a.entity_id == "3")
            .returning(|_| Ok(()));
        let created = service(vec![t])
            .create(
                &ctx(9, Role::Admin),
                CreatePromoCodeCommand {
                    code: " everywhere ".into(),
                    terms: input(None),
                },
            )
            .await
            .unwrap();
        assert_eq!(created.code.as_str(), "EVERYWHERE");
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn another_organizers_code_does_not_exist_and_stale_versions_conflict() {
        let (mut t, _) = tx();
        t.promo_codes
            .expect_find()
            .returning(|_| Ok(Some(stored(5))));
        t.promo_codes.expect_update().never();
        let err = service(vec![t])
            .deactivate(&ctx(6, Role::Organizer), PromoCodeId(3))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::NotFound { .. }), "{err:?}");

        let (mut t, _) = tx();
        t.promo_codes
            .expect_find()
            .returning(|_| Ok(Some(stored(5))));
        t.promo_codes.expect_update().never();
        let err = service(vec![t])
            .update(
                &ctx(5, Role::Organizer),
                PromoCodeId(3),
                UpdatePromoCodeCommand {
                    expected_version: Some(3),
                    terms: input(None),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "VERSION_CONFLICT");
    }

    #[tokio::test]
    async fn max_uses_cannot_go_below_the_uses_made() {
        let (mut t, committed) = tx();
        t.promo_codes
            .expect_find()
            .returning(|_| Ok(Some(stored(9))));
        t.promo_codes.expect_update().never();
        let mut terms = input(None);
        terms.max_uses = Some(1);
        let err = service(vec![t])
            .update(
                &ctx(9, Role::Admin),
                PromoCodeId(3),
                UpdatePromoCodeCommand {
                    expected_version: Some(4),
                    terms,
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Validation { .. }), "{err:?}");
        assert!(!committed.load(Ordering::SeqCst));
    }
}
