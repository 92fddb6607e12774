//! Payment rpcs: initiate, confirm (re-checked with the gateway), refund.

use application::services::{InitiatePaymentCommand, RefundCommand};
use domain::{BookingId, PaymentId};
use tonic::{Request, Response, Status};

use super::EventGrpc;
use crate::auth::{Access, Least};
use crate::convert::money::money_in;
use crate::convert::text;
use crate::messages;
use crate::pb;
use crate::status::OrStatus;

type Reply<T> = Result<Response<T>, Status>;

/// Passed to the gateway so that a retried initiation does not open a second payment there.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

pub(super) async fn initiate(
    svc: &EventGrpc,
    request: Request<pb::InitiatePaymentRequest>,
) -> Reply<pb::PaymentResponse> {
    let ctx = svc.caller(&request, Access::Write, Least::User).await?;
    let idempotency_key = request
        .metadata()
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let r = request.into_inner();
    let cmd = InitiatePaymentCommand {
        booking_id: BookingId(r.booking_id),
        payment_method: r.payment_method,
        return_url: text(r.return_url),
        amount: None,
        idempotency_key,
    };
    let view = svc
        .use_cases
        .payments
        .initiate(&ctx, cmd)
        .await
        .or_status()?;
    Ok(Response::new(messages::payment_view(&view)))
}

pub(super) async fn confirm(
    svc: &EventGrpc,
    request: Request<pb::ConfirmPaymentRequest>,
) -> Reply<pb::PaymentResponse> {
    let ctx = svc.caller(&request, Access::Write, Least::User).await?;
    let reference = request.into_inner().gateway_reference;
    let view = svc
        .use_cases
        .payments
        .confirm(&ctx, &reference)
        .await
        .or_status()?;
    Ok(Response::new(messages::payment_view(&view)))
}

pub(super) async fn refund(
    svc: &EventGrpc,
    request: Request<pb::RefundPaymentRequest>,
) -> Reply<pb::PaymentResponse> {
    let ctx = svc.caller(&request, Access::Write, Least::User).await?;
    let r = request.into_inner();
    // 0 is proto3's "not given": everything refundable (ADMIN) or what the policy gives.
    let amount = (r.amount != 0.0)
        .then(|| money_in("amount", r.amount))
        .transpose()
        .or_status()?;
    let cmd = RefundCommand {
        amount,
        reason: r.reason,
    };
    let view = svc
        .use_cases
        .payments
        .refund(&ctx, PaymentId(r.payment_id), cmd)
        .await
        .or_status()?;
    Ok(Response::new(messages::payment_view(&view)))
}
