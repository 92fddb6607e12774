//! Payments and price breakdowns as the API shows them.

use application::ports::RefundRecord;
use application::services::PaymentView;
use chrono::{DateTime, Utc};
use domain::payment::Payment;
use domain::pricing::PriceBreakdown;
use serde::Serialize;
use utoipa::ToSchema;

/// `PaymentResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentResponse {
    pub id: i64,
    pub booking_id: i64,
    #[schema(value_type = String, example = "1500.00")]
    pub amount: String,
    /// INITIATED, COMPLETED, FAILED, REFUNDED or PARTIAL_REFUND.
    pub status: String,
    pub gateway: String,
    pub gateway_reference: Option<String>,
    pub payment_method: String,
    #[schema(value_type = String, example = "0.00")]
    pub refund_amount: String,
    pub failure_reason: Option<String>,
    /// Where the customer pays (initiation only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_url: Option<String>,
    /// The booking's status after this payment's change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_code: Option<String>,
    /// The payment's refunds (`GET /payments/{id}` and refund answers only). A refund is
    /// PENDING until the gateway confirmed it (then SUCCEEDED); FAILED means the gateway
    /// refused it for good and the amount is refundable again. `refund_amount` and `status`
    /// already count PENDING refunds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunds: Option<Vec<RefundResponse>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `RefundResponse`: one refund of a payment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundResponse {
    pub id: i64,
    #[schema(value_type = String, example = "1500.00")]
    pub amount: String,
    /// PENDING, SUCCEEDED or FAILED.
    pub status: String,
    pub reason: String,
    /// The gateway's refund reference (once it answered).
    pub gateway_reference: Option<String>,
    /// Gateway calls made so far.
    pub attempts: u32,
    /// Why the last call did not succeed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl RefundResponse {
    pub fn of(r: &RefundRecord) -> Self {
        Self {
            id: r.id.value(),
            amount: r.amount.to_string(),
            status: r.status.as_str().to_owned(),
            reason: r.reason.clone(),
            gateway_reference: r.gateway_reference.clone(),
            attempts: r.attempts,
            last_error: r.last_error.clone(),
            created_at: r.created_at,
            completed_at: r.completed_at,
        }
    }
}

impl PaymentResponse {
    pub fn of(p: &Payment, payment_url: Option<String>) -> Self {
        Self {
            id: p.id.value(),
            booking_id: p.booking_id.value(),
            amount: p.amount.to_string(),
            status: p.status.as_str().to_owned(),
            gateway: p.gateway.clone(),
            gateway_reference: p.gateway_reference.clone(),
            payment_method: p.payment_method.clone(),
            refund_amount: p.refund_amount.to_string(),
            failure_reason: p.failure_reason.clone(),
            payment_url,
            booking_status: None,
            ticket_code: None,
            refunds: None,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }

    pub fn view(v: &PaymentView) -> Self {
        let mut r = Self::of(&v.payment, v.payment_url.clone());
        r.booking_status = Some(v.booking.status.as_str().to_owned());
        r.ticket_code = v
            .booking
            .ticket_code
            .as_ref()
            .map(|t| t.as_str().to_owned());
        r.refunds = v
            .refunds
            .as_ref()
            .map(|all| all.iter().map(RefundResponse::of).collect());
        r
    }
}

/// How the total was reached (PRODUCT.md §7), all amounts as decimal strings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceBreakdownResponse {
    #[schema(value_type = String)]
    pub unit_price: String,
    pub quantity: u32,
    #[schema(value_type = String)]
    pub base: String,
    #[schema(value_type = String)]
    pub dynamic_adjustment: String,
    #[schema(value_type = String)]
    pub group_discount: String,
    #[schema(value_type = String)]
    pub promo_discount: String,
    #[schema(value_type = String)]
    pub loyalty_discount: String,
    pub loyalty_points_used: u64,
    #[schema(value_type = String)]
    pub total: String,
}

impl From<&PriceBreakdown> for PriceBreakdownResponse {
    fn from(p: &PriceBreakdown) -> Self {
        Self {
            unit_price: p.unit_price.to_string(),
            quantity: p.quantity,
            base: p.base.to_string(),
            dynamic_adjustment: p.dynamic_adjustment.to_string(),
            group_discount: p.group_discount.to_string(),
            promo_discount: p.promo_discount.to_string(),
            loyalty_discount: p.loyalty_discount.to_string(),
            loyalty_points_used: p.loyalty_points_used,
            total: p.total.to_string(),
        }
    }
}
