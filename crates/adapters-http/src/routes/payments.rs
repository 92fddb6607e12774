//! `/payments`: initiate on the default gateway, confirm by gateway reference (re-checked with
//! the gateway), the gateway webhook (signature checked), status, refunds.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use application::services::{InitiatePaymentCommand, RefundCommand};
use domain::{BookingId, PaymentId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::dto::{MoneyInput, PaymentResponse};
use crate::idempotency::{self, JsonReply};
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

/// `POST /payments` (`InitiatePaymentRequest`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitiatePaymentRequest {
    pub booking_id: i64,
    /// CARD, SBP, … (letters, digits, `_`, `-`).
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,50}$")]
    pub payment_method: String,
    /// Where the payment page sends the customer back: an http(s) URL whose origin is in
    /// `payments.allowed_return_origins`.
    #[schema(max_length = 2048, pattern = r"^https?://[^\s]+$")]
    pub return_url: Option<String>,
    /// Part of the outstanding amount (partial payment); default: all of it.
    #[serde(default)]
    pub amount: Option<MoneyInput>,
}

/// `POST /payments/confirm` (`ConfirmPaymentRequest`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmPaymentRequest {
    #[schema(min_length = 1, pattern = r"\S")]
    pub gateway_reference: String,
}

/// `POST /payments/{id}/refund` (`RefundPaymentRequest`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundPaymentRequest {
    /// ADMIN: any amount up to what is refundable (default all). Others: at most what the
    /// refund policy gives; the booking is canceled.
    #[serde(default)]
    pub amount: Option<MoneyInput>,
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub reason: String,
}

/// Starts a payment on the booking; answers the page where the customer pays.
#[utoipa::path(
    post, path = "/api/v1/payments", tag = "payments",
    params(("Idempotency-Key" = Option<String>, Header)),
    request_body = InitiatePaymentRequest,
    responses(
        (status = 201, body = PaymentResponse, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Booking not payable, amount above what is owed, PAYMENT_KEY_REUSED (the Idempotency-Key already started another payment)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Payment gateway unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/payments")]
pub async fn initiate_payment(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<InitiatePaymentRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let key = req
        .headers()
        .get(idempotency::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    idempotency::run(&state, &req, &caller.0, &b, || async {
        let cmd = InitiatePaymentCommand {
            booking_id: BookingId(b.booking_id),
            payment_method: b.payment_method.clone(),
            return_url: b.return_url.clone(),
            amount: b.amount.map(|m| m.0),
            idempotency_key: key,
        };
        let view = state.payments.initiate(&caller.0, cmd).await?;
        JsonReply::created(
            format!("/api/v1/payments/{}", view.payment.id.value()),
            &PaymentResponse::view(&view),
        )
    })
    .await
}

/// Asks the gateway about a reference and applies what it says (never the caller's word).
#[utoipa::path(
    post, path = "/api/v1/payments/confirm", tag = "payments",
    request_body = ConfirmPaymentRequest,
    responses(
        (status = 200, body = PaymentResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/payments/confirm")]
pub async fn confirm_payment(
    state: web::Data<ApiState>,
    caller: Caller,
    body: web::Json<ConfirmPaymentRequest>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .payments
        .confirm(&caller.0, &body.gateway_reference)
        .await?;
    Ok(HttpResponse::Ok().json(PaymentResponse::view(&view)))
}

/// The gateway's notification, signed with the shared secret.
#[utoipa::path(
    post, path = "/api/v1/payments/webhook/{gateway}", tag = "payments",
    params(("gateway" = String, Path, description = "Gateway name: sandbox, http, …")),
    request_body(content = String, description = "The gateway's signed JSON body", content_type = "application/json"),
    responses(
        (status = 200, description = "Applied"),
        (status = 400, description = "WEBHOOK_TIMESTAMP_OUT_OF_RANGE: the signed timestamp is further than payments.webhook_tolerance_seconds from now", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Bad signature", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown gateway or reference", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "WEBHOOK_REPLAYED: this gateway already sent this event id", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/payments/webhook/{gateway}")]
pub async fn payment_webhook(
    state: web::Data<ApiState>,
    req: HttpRequest,
    gateway: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    state.payments.webhook(&gateway, &headers, &body).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "accepted"})))
}

/// A payment's state with its refunds (the booking's owner, the event's organizer, or ADMIN).
#[utoipa::path(
    get, path = "/api/v1/payments/{id}", tag = "payments",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = PaymentResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/payments/{id}")]
pub async fn get_payment(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .payments
        .get(&caller.0, PaymentId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(PaymentResponse::view(&view)))
}

/// Refunds a payment: ADMIN any amount up to what is refundable; the booking's owner only
/// what the refund policy gives (the booking is canceled). The refund is answered PENDING in
/// `refunds` and sent to the gateway after the commit (process-refunds job).
#[utoipa::path(
    post, path = "/api/v1/payments/{id}/refund", tag = "payments",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = RefundPaymentRequest,
    responses(
        (status = 200, body = PaymentResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/payments/{id}/refund")]
pub async fn refund_payment(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    body: web::Json<RefundPaymentRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let id = PaymentId(id.into_inner());
    idempotency::run(&state, &req, &caller.0, &b, || async {
        let cmd = RefundCommand {
            amount: b.amount.map(|m| m.0),
            reason: b.reason.clone(),
        };
        let view = state.payments.refund(&caller.0, id, cmd).await?;
        JsonReply::ok(&PaymentResponse::view(&view))
    })
    .await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(initiate_payment)
        .service(confirm_payment)
        .service(payment_webhook)
        .service(get_payment)
        .service(refund_payment);
}
