//! `PaymentRepository` on `payments` and `payment_refunds`.

use async_trait::async_trait;
use domain::payment::{NewPayment, Payment, PaymentStatus};
use domain::{BookingId, PaymentId, RefundId};
use ports::AppError;
use ports::{NewRefund, PaymentRepository, RefundRecord};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::convert::{self, for_update, minor, missed_update, money, parse};
use crate::entities::payment_refunds as refund_row;
use crate::entities::payments as row;
use crate::error::{db_err, is_fk_violation};
use crate::tx::SeaTx;

fn to_domain(m: row::Model) -> Result<Payment, AppError> {
    Ok(Payment {
        id: PaymentId(m.id),
        booking_id: BookingId(m.booking_id),
        amount: money(m.amount_minor),
        status: parse(&m.status, "payments.status")?,
        gateway: m.gateway,
        gateway_reference: m.gateway_reference,
        payment_method: m.payment_method,
        refund_amount: money(m.refund_amount_minor),
        failure_reason: m.failure_reason,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn refund_to_port(m: refund_row::Model) -> RefundRecord {
    RefundRecord {
        id: RefundId(m.id),
        payment_id: PaymentId(m.payment_id),
        amount: money(m.amount_minor),
        reason: m.reason,
        gateway_reference: m.gateway_reference,
        actor_id: m.actor_id.map(convert::user),
        created_at: m.created_at,
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
            payment_method: Set(payment.payment_method),
            refund_amount_minor: Set(0),
            failure_reason: Set(None),
            version: Set(0),
            created_at: Set(payment.created_at),
            updated_at: Set(payment.created_at),
            ..Default::default()
        };
        let stored = model
            .insert(self.conn())
            .await
            .map_err(missing("booking"))?;
        to_domain(stored)
    }

    async fn find(&self, id: PaymentId) -> Result<Option<Payment>, AppError> {
        row::Entity::find_by_id(id.0)
            .one(self.conn())
            .await
            .map_err(db_err)?
            .map(to_domain)
            .transpose()
    }

    async fn find_by_reference_for_update(
        &self,
        gateway: &str,
        reference: &str,
    ) -> Result<Option<Payment>, AppError> {
        let select = row::Entity::find()
            .filter(row::Column::Gateway.eq(gateway))
            .filter(row::Column::GatewayReference.eq(reference));
        for_update(select, self.backend())
            .one(self.conn())
            .await
            .map_err(db_err)?
            .map(to_domain)
            .transpose()
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
            .map_err(db_err)?;
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

    async fn record_refund(&self, refund: NewRefund) -> Result<RefundRecord, AppError> {
        let model = refund_row::ActiveModel {
            payment_id: Set(refund.payment_id.0),
            amount_minor: Set(minor(refund.amount)),
            reason: Set(refund.reason),
            gateway_reference: Set(refund.gateway_reference),
            actor_id: Set(refund.actor_id.map(|a| a.0)),
            created_at: Set(refund.created_at),
            ..Default::default()
        };
        let stored = model
            .insert(self.conn())
            .await
            .map_err(missing("payment"))?;
        Ok(refund_to_port(stored))
    }

    async fn refunds(&self, payment_id: PaymentId) -> Result<Vec<RefundRecord>, AppError> {
        let rows = refund_row::Entity::find()
            .filter(refund_row::Column::PaymentId.eq(payment_id.0))
            .order_by_asc(refund_row::Column::CreatedAt)
            .order_by_asc(refund_row::Column::Id)
            .all(self.conn())
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(refund_to_port).collect())
    }
}
