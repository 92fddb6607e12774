//! `PaymentRepository` on `payments` and `payment_refunds`.

use async_trait::async_trait;
use domain::payment::{NewPayment, Payment, PaymentStatus, RefundStatus};
use domain::{BookingId, PaymentId, RefundId, Timestamp};
use ports::{AppError, ErrorCode};
use ports::{NewRefund, PaymentRepository, RefundRecord};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TryInsertResult,
};

use super::fetch_one;
use crate::convert::{self, for_update, minor, missed_update, money, parse, skip_locked};
use crate::entities::payment_refunds as refund_row;
use crate::entities::payments as row;
use crate::entities::webhook_events as webhook_row;
use crate::error::{db_err, is_fk_violation, is_unique_violation};
use crate::tx::SeaTx;

fn to_domain(m: row::Model) -> Result<Payment, AppError> {
    Ok(Payment {
        id: PaymentId(m.id),
        booking_id: BookingId(m.booking_id),
        amount: money(m.amount_minor),
        status: parse(&m.status, "payments.status")?,
        gateway: m.gateway,
        gateway_reference: m.gateway_reference,
        gateway_key: m.gateway_key,
        payment_method: m.payment_method,
        refund_amount: money(m.refund_amount_minor),
        failure_reason: m.failure_reason,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn refund_to_port(m: refund_row::Model) -> Result<RefundRecord, AppError> {
    Ok(RefundRecord {
        id: RefundId(m.id),
        payment_id: PaymentId(m.payment_id),
        amount: money(m.amount_minor),
        reason: m.reason,
        status: parse(&m.status, "payment_refunds.status")?,
        gateway_reference: m.gateway_reference,
        idempotency_key: m.idempotency_key,
        attempts: u32::try_from(m.attempts).unwrap_or(0),
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
        actor_id: m.actor_id.map(convert::user),
        created_at: m.created_at,
        completed_at: m.completed_at,
    })
}

/// A unique index refused the write: `code` names what clashed (never a 500).
fn clash(code: ErrorCode, detail: &'static str) -> impl Fn(DbErr) -> AppError {
    move |err| {
        if is_unique_violation(&err) {
            AppError::conflict(code, detail)
        } else if is_fk_violation(&err) {
            AppError::NotFound { entity: "booking" }
        } else {
            db_err(err)
        }
    }
}

/// A foreign key refusal means the parent row is missing.
fn missing(entity: &'static str) -> impl Fn(DbErr) -> AppError {
    move |err| {
        if is_fk_violation(&err) {
            AppError::NotFound { entity }
        } else {
            db_err(err)
        }
    }
}

#[async_trait]
impl PaymentRepository for SeaTx {
    async fn insert(&self, payment: NewPayment) -> Result<Payment, AppError> {
        let model = row::ActiveModel {
            booking_id: Set(payment.booking_id.0),
            amount_minor: Set(minor(payment.amount)),
            status: Set(PaymentStatus::Initiated.as_str().to_owned()),
            gateway: Set(payment.gateway),
            gateway_reference: Set(None),
            gateway_key: Set(payment.gateway_key),
            payment_method: Set(payment.payment_method),
            refund_amount_minor: Set(0),
            failure_reason: Set(None),
            version: Set(0),
            created_at: Set(payment.created_at),
            updated_at: Set(payment.created_at),
            ..Default::default()
        };
        let stored = model.insert(self.conn()).await.map_err(clash(
            ErrorCode::PaymentKeyReused,
            "this Idempotency-Key already started another payment; use a new key",
        ))?;
        to_domain(stored)
    }

    async fn find(&self, id: PaymentId) -> Result<Option<Payment>, AppError> {
        fetch_one(self.conn(), row::Entity::find_by_id(id.0), to_domain).await
    }

    async fn find_by_reference(
        &self,
        gateway: &str,
        reference: &str,
    ) -> Result<Option<Payment>, AppError> {
        let select = row::Entity::find()
            .filter(row::Column::Gateway.eq(gateway))
            .filter(row::Column::GatewayReference.eq(reference));
        fetch_one(self.conn(), select, to_domain).await
    }

    async fn find_by_reference_for_update(
        &self,
        gateway: &str,
        reference: &str,
    ) -> Result<Option<Payment>, AppError> {
        let select = row::Entity::find()
            .filter(row::Column::Gateway.eq(gateway))
            .filter(row::Column::GatewayReference.eq(reference));
        fetch_one(self.conn(), for_update(select, self.backend()), to_domain).await
    }

    async fn update(&self, payment: &Payment) -> Result<Payment, AppError> {
        let changes = row::ActiveModel {
            gateway_reference: Set(payment.gateway_reference.clone()),
            status: Set(payment.status.as_str().to_owned()),
            refund_amount_minor: Set(minor(payment.refund_amount)),
            failure_reason: Set(payment.failure_reason.clone()),
            updated_at: Set(payment.updated_at),
            ..Default::default()
        };
        let updated = row::Entity::update_many()
            .set(changes)
            .col_expr(row::Column::Version, Expr::col(row::Column::Version).add(1))
            .filter(row::Column::Id.eq(payment.id.0))
            .filter(row::Column::Version.eq(payment.version))
            .exec(self.conn())
            .await
            .map_err(clash(
                ErrorCode::PaymentReferenceConflict,
                "the gateway answered a reference another payment already has",
            ))?;
        if updated.rows_affected == 0 {
            return Err(missed_update::<row::Entity>(self.conn(), payment.id.0, "payment").await);
        }
        let mut stored = payment.clone();
        stored.version += 1;
        Ok(stored)
    }

    async fn for_booking(&self, booking_id: BookingId) -> Result<Vec<Payment>, AppError> {
        row::Entity::find()
            .filter(row::Column::BookingId.eq(booking_id.0))
            .order_by_asc(row::Column::Id)
            .all(self.conn())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn for_bookings(&self, bookings: &[BookingId]) -> Result<Vec<Payment>, AppError> {
        let mut found = Vec::new();
        for chunk in bookings.chunks(1000) {
            found.extend(
                row::Entity::find()
                    .filter(row::Column::BookingId.is_in(chunk.iter().map(|b| b.0)))
                    .order_by_asc(row::Column::Id)
                    .all(self.conn())
                    .await
                    .map_err(db_err)?,
            );
        }
        found.sort_by_key(|m| m.id);
        found.into_iter().map(to_domain).collect()
    }

    async fn find_by_gateway_key(
        &self,
        gateway: &str,
        key: &str,
    ) -> Result<Option<Payment>, AppError> {
        let select = row::Entity::find()
            .filter(row::Column::Gateway.eq(gateway))
            .filter(row::Column::GatewayKey.eq(key));
        fetch_one(self.conn(), select, to_domain).await
    }

    async fn unreferenced_before(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<Payment>, AppError> {
        row::Entity::find()
            .filter(row::Column::Status.eq(PaymentStatus::Initiated.as_str()))
            .filter(row::Column::GatewayReference.is_null())
            .filter(row::Column::GatewayKey.is_not_null())
            .filter(row::Column::CreatedAt.lt(before))
            .order_by_asc(row::Column::CreatedAt)
            .order_by_asc(row::Column::Id)
            .limit(u64::from(limit))
            .all(self.conn())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn record_refund(&self, refund: NewRefund) -> Result<RefundRecord, AppError> {
        let model = refund_row::ActiveModel {
            payment_id: Set(refund.payment_id.0),
            amount_minor: Set(minor(refund.amount)),
            reason: Set(refund.reason),
            gateway_reference: Set(None),
            actor_id: Set(refund.actor_id.map(|a| a.0)),
            created_at: Set(refund.created_at),
            status: Set(RefundStatus::Pending.as_str().to_owned()),
            idempotency_key: Set(Some(refund.idempotency_key)),
            attempts: Set(0),
            next_attempt_at: Set(Some(refund.created_at)),
            last_error: Set(None),
            completed_at: Set(None),
            ..Default::default()
        };
        let stored = model
            .insert(self.conn())
            .await
            .map_err(missing("payment"))?;
        refund_to_port(stored)
    }

    async fn refunds(&self, payment_id: PaymentId) -> Result<Vec<RefundRecord>, AppError> {
        let rows = refund_row::Entity::find()
            .filter(refund_row::Column::PaymentId.eq(payment_id.0))
            .order_by_asc(refund_row::Column::CreatedAt)
            .order_by_asc(refund_row::Column::Id)
            .all(self.conn())
            .await
            .map_err(db_err)?;
        rows.into_iter().map(refund_to_port).collect()
    }

    async fn claim_due_refunds(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<RefundRecord>, AppError> {
        let select = refund_row::Entity::find()
            .filter(refund_row::Column::Status.eq(RefundStatus::Pending.as_str()))
            .filter(refund_row::Column::NextAttemptAt.lte(now))
            .order_by_asc(refund_row::Column::NextAttemptAt)
            .order_by_asc(refund_row::Column::Id)
            .limit(u64::from(limit));
        let due = skip_locked(select, self.backend())
            .all(self.conn())
            .await
            .map_err(db_err)?;
        let mut claimed = Vec::with_capacity(due.len());
        for mut model in due {
            // Conditional on the row still being due: on SQLite (no row locks) a second
            // worker's claim of the same row matches nothing.
            let updated = refund_row::Entity::update_many()
                .col_expr(
                    refund_row::Column::Attempts,
                    Expr::col(refund_row::Column::Attempts).add(1),
                )
                .col_expr(refund_row::Column::NextAttemptAt, Expr::value(lease_until))
                .filter(refund_row::Column::Id.eq(model.id))
                .filter(refund_row::Column::Status.eq(RefundStatus::Pending.as_str()))
                .filter(refund_row::Column::NextAttemptAt.lte(now))
                .exec(self.conn())
                .await
                .map_err(db_err)?;
            if updated.rows_affected == 1 {
                model.attempts += 1;
                model.next_attempt_at = Some(lease_until);
                claimed.push(refund_to_port(model)?);
            }
        }
        Ok(claimed)
    }

    async fn find_refund_for_update(&self, id: RefundId) -> Result<Option<RefundRecord>, AppError> {
        let select = refund_row::Entity::find_by_id(id.0);
        fetch_one(
            self.conn(),
            for_update(select, self.backend()),
            refund_to_port,
        )
        .await
    }

    async fn update_refund(&self, refund: &RefundRecord) -> Result<(), AppError> {
        let changes = refund_row::ActiveModel {
            status: Set(refund.status.as_str().to_owned()),
            gateway_reference: Set(refund.gateway_reference.clone()),
            attempts: Set(i32::try_from(refund.attempts).unwrap_or(i32::MAX)),
            next_attempt_at: Set(refund.next_attempt_at),
            last_error: Set(refund.last_error.clone()),
            completed_at: Set(refund.completed_at),
            ..Default::default()
        };
        let updated = refund_row::Entity::update_many()
            .set(changes)
            .filter(refund_row::Column::Id.eq(refund.id.0))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        if updated.rows_affected == 0 {
            return Err(AppError::NotFound { entity: "refund" });
        }
        Ok(())
    }

    async fn record_webhook_event(
        &self,
        gateway: &str,
        event_id: &str,
        received_at: Timestamp,
        forget_before: Timestamp,
    ) -> Result<bool, AppError> {
        webhook_row::Entity::delete_many()
            .filter(webhook_row::Column::ReceivedAt.lt(forget_before))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        let inserted = webhook_row::Entity::insert(webhook_row::ActiveModel {
            gateway: Set(gateway.to_owned()),
            event_id: Set(event_id.to_owned()),
            received_at: Set(received_at),
        })
        .on_conflict_do_nothing()
        .exec_without_returning(self.conn())
        .await
        .map_err(db_err)?;
        Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
    }

    async fn forget_webhook_event(&self, gateway: &str, event_id: &str) -> Result<(), AppError> {
        webhook_row::Entity::delete_many()
            .filter(webhook_row::Column::Gateway.eq(gateway))
            .filter(webhook_row::Column::EventId.eq(event_id))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
