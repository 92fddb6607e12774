//! `PromoCodeRepository` on `promo_codes` and `promo_code_redemptions`.
//!
//! A percent discount is stored as basis points (`discount_percent_bp` = percent × 100), a
//! fixed one as minor units; exactly one of the two columns is set. `current_uses` is the
//! store's counter (incremented by booking placement), so `update` writes the terms only and
//! answers the row as it is after the update. `search` with `active_only` keeps codes whose
//! `is_active` flag is set (the validity window is checked by the domain when a code is used).

use async_trait::async_trait;
use domain::pricing::PromoDiscount;
use domain::promo_code::{PromoCode, PromoCodeText, PromoTerms};
use domain::{BookingId, EventId, Percent, PromoCodeId, Timestamp, UserId};
use ports::{AppError, ErrorCode, Page};
use ports::{PromoCodeQuery, PromoCodeRepository};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::{fetch_one, fetch_page, newest_first};
use crate::convert;
use crate::entities::{promo_code_redemptions as redemption, promo_codes as row};
use crate::error::{corrupt, db_err, is_fk_violation, is_unique_violation};
use crate::tx::SeaTx;

fn discount_columns(discount: PromoDiscount) -> Result<(Option<i32>, Option<i64>), AppError> {
    match discount {
        PromoDiscount::Percent(p) => {
            let bp = (p.value() * Decimal::ONE_HUNDRED)
                .to_i32()
                .ok_or_else(|| AppError::internal(format!("percent {p} out of range")))?;
            Ok((Some(bp), None))
        }
        PromoDiscount::FixedAmount(m) => Ok((None, Some(convert::minor(m)))),
    }
}

fn discount(m: &row::Model) -> Result<PromoDiscount, AppError> {
    match (m.discount_percent_bp, m.discount_amount_minor) {
        (Some(bp), None) => Percent::new(Decimal::new(i64::from(bp), 2))
            .map(PromoDiscount::Percent)
            .map_err(|_| corrupt(format!("promo_codes.discount_percent_bp = {bp}"))),
        (None, Some(minor)) => Ok(PromoDiscount::FixedAmount(convert::money(minor))),
        (bp, minor) => Err(corrupt(format!(
            "promo_codes {}: discount_percent_bp = {bp:?}, discount_amount_minor = {minor:?}",
            m.id
        ))),
    }
}

fn to_domain(m: row::Model) -> Result<PromoCode, AppError> {
    let code = PromoCodeText::new(&m.code)
        .map_err(|_| corrupt(format!("promo_codes.code = '{}'", m.code)))?;
    let terms = PromoTerms::new(
        discount(&m)?,
        m.valid_from,
        m.valid_until,
        m.max_uses.map(i64::from),
        m.event_id.map(EventId),
        m.is_active,
    )
    .map_err(|e| corrupt(format!("promo_codes {}: {e}", m.id)))?;
    Ok(PromoCode {
        id: PromoCodeId(m.id),
        code,
        terms,
        current_uses: convert::count(m.current_uses, "promo_codes.current_uses")?,
        created_by: convert::user(m.created_by),
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn write_err(err: sea_orm::DbErr) -> AppError {
    if is_unique_violation(&err) {
        AppError::conflict(
            ErrorCode::PromoCodeExists,
            "a promo code with this code already exists",
        )
    } else if is_fk_violation(&err) {
        AppError::invalid("event_id", "no such event")
    } else {
        db_err(err)
    }
}

async fn find_row(tx: &SeaTx, id: PromoCodeId) -> Result<Option<row::Model>, AppError> {
    row::Entity::find_by_id(id.0)
        .one(tx.conn())
        .await
        .map_err(db_err)
}

#[async_trait]
impl PromoCodeRepository for SeaTx {
    async fn insert(
        &self,
        code: PromoCodeText,
        terms: PromoTerms,
        created_by: UserId,
        now: Timestamp,
    ) -> Result<PromoCode, AppError> {
        let (percent_bp, amount_minor) = discount_columns(terms.discount)?;
        let model = row::ActiveModel {
            code: Set(code.as_str().to_owned()),
            discount_percent_bp: Set(percent_bp),
            discount_amount_minor: Set(amount_minor),
            valid_from: Set(terms.valid_from),
            valid_until: Set(terms.valid_until),
            max_uses: Set(terms.max_uses.map(convert::int)),
            current_uses: Set(0),
            event_id: Set(terms.event_id.map(|e| e.0)),
            is_active: Set(terms.is_active),
            created_by: Set(created_by.0),
            version: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let stored = model.insert(self.conn()).await.map_err(write_err)?;
        to_domain(stored)
    }

    async fn find(&self, id: PromoCodeId) -> Result<Option<PromoCode>, AppError> {
        find_row(self, id).await?.map(to_domain).transpose()
    }

    async fn find_by_code(&self, code: &PromoCodeText) -> Result<Option<PromoCode>, AppError> {
        let select = row::Entity::find().filter(row::Column::Code.eq(code.as_str()));
        fetch_one(self.conn(), select, to_domain).await
    }

    async fn update(&self, code: &PromoCode) -> Result<PromoCode, AppError> {
        let terms = &code.terms;
        let (percent_bp, amount_minor) = discount_columns(terms.discount)?;
        let result = row::Entity::update_many()
            .col_expr(row::Column::DiscountPercentBp, Expr::val(percent_bp))
            .col_expr(row::Column::DiscountAmountMinor, Expr::val(amount_minor))
            .col_expr(row::Column::ValidFrom, Expr::val(terms.valid_from))
            .col_expr(row::Column::ValidUntil, Expr::val(terms.valid_until))
            .col_expr(
                row::Column::MaxUses,
                Expr::val(terms.max_uses.map(convert::int)),
            )
            .col_expr(row::Column::EventId, Expr::val(terms.event_id.map(|e| e.0)))
            .col_expr(row::Column::IsActive, Expr::val(terms.is_active))
            .col_expr(row::Column::UpdatedAt, Expr::val(code.updated_at))
            .col_expr(row::Column::Version, Expr::col(row::Column::Version).add(1))
            .filter(row::Column::Id.eq(code.id.0))
            .filter(row::Column::Version.eq(code.version))
            .exec(self.conn())
            .await
            .map_err(write_err)?;
        if result.rows_affected == 0 {
            return Err(match find_row(self, code.id).await? {
                Some(_) => AppError::version_conflict("promo code"),
                None => AppError::NotFound {
                    entity: "promo code",
                },
            });
        }
        let stored = find_row(self, code.id)
            .await?
            .ok_or_else(|| AppError::internal("updated promo code vanished"))?;
        to_domain(stored)
    }

    async fn search(&self, query: &PromoCodeQuery) -> Result<Page<PromoCode>, AppError> {
        let mut select = row::Entity::find();
        if let Some(user) = query.created_by {
            select = select.filter(row::Column::CreatedBy.eq(user.0));
        }
        if let Some(event) = query.event_id {
            select = select.filter(row::Column::EventId.eq(event.0));
        }
        if query.active_only {
            select = select.filter(row::Column::IsActive.eq(true));
        }
        let order = newest_first(row::Column::CreatedAt, row::Column::Id);
        let (rows, total) = fetch_page(self.conn(), select, order, query.page).await?;
        let items = rows.into_iter().map(to_domain).collect::<Result<_, _>>()?;
        Ok(Page::new(items, query.page, total))
    }

    async fn record_redemption(
        &self,
        id: PromoCodeId,
        booking_id: BookingId,
        user_id: UserId,
        at: Timestamp,
    ) -> Result<(), AppError> {
        let model = redemption::ActiveModel {
            promo_code_id: Set(id.0),
            booking_id: Set(booking_id.0),
            user_id: Set(user_id.0),
            created_at: Set(at),
            ..Default::default()
        };
        match model.insert(self.conn()).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(AppError::conflict(
                ErrorCode::PromoCodeAlreadyRedeemed,
                "a promo code redemption is already recorded for this booking",
            )),
            Err(e) if is_fk_violation(&e) => Err(AppError::NotFound {
                entity: "promo code or booking",
            }),
            Err(e) => Err(db_err(e)),
        }
    }
}
