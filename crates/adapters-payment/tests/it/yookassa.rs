//! The `yookassa` gateway against a wiremock stand-in of the YooKassa API v3: the conformance
//! kit, then the details of the protocol.

use std::sync::Arc;

use adapters_payment::conformance::{
    self, FakeLedger, Harness, LedgerRefund, LedgerState, Outage, Settlement, Webhook,
};
use adapters_payment::registry::ResilienceSettings;
use adapters_payment::yookassa::{YooKassaGateway, YooKassaSettings};
use async_trait::async_trait;
use domain::{BookingId, Money, PaymentId};
use ports::payment_gateway::{
    GatewayError, GatewayPaymentStatus, PaymentGateway, PaymentSessionRequest,
};
use serde_json::json;
use wiremock::matchers::{basic_auth, body_partial_json, header as has_header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::conformance::{Outages, amount, header, json_body};

fn settings(server: &MockServer) -> YooKassaSettings {
    serde_json::from_value(json!({
        "url": server.uri(),
        "shop_id": "shop-1",
        "secret_key": "test_key",
        "resilience": {"timeout_ms": 300, "max_retries": 1, "breaker_threshold": 0},
    }))
    .unwrap()
}

fn payment_object(id: &str, status: &str, value: Money) -> serde_json::Value {
    json!({
        "id": id,
        "status": status,
        "paid": status == "succeeded",
        "amount": {"value": value, "currency": "RUB"},
        "confirmation": {"type": "redirect", "confirmation_url": format!("https://yoomoney.example/checkout?orderId={id}")},
        "created_at": "2026-01-01T00:00:00.000Z",
    })
}

/// YooKassa's v3 payments and refunds over a ledger.
struct YooKassa(Arc<FakeLedger>);

impl Respond for YooKassa {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if header(request, "Authorization").is_empty() {
            return ResponseTemplate::new(401);
        }
        let not_found =
            ResponseTemplate::new(404).set_body_json(json!({"type": "error", "code": "not_found"}));
        let refused = |why: String| {
            ResponseTemplate::new(400).set_body_json(
                json!({"type": "error", "code": "invalid_request", "description": why}),
            )
        };
        let segments: Vec<&str> = request.url.path_segments().unwrap().collect();
        let body = json_body(request);
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["v3", "payments"]) => {
                let key = header(request, "Idempotence-Key");
                let Some(value) = amount(&body["amount"]["value"]).filter(|_| !key.is_empty())
                else {
                    return refused("amount and Idempotence-Key are required".to_owned());
                };
                let id = self.0.create(&key, value);
                ResponseTemplate::new(200).set_body_json(payment_object(&id, "pending", value))
            }
            ("GET", ["v3", "payments", id]) => {
                match self.0.get(id) {
                    None => not_found,
                    Some((value, LedgerState::Pending)) => ResponseTemplate::new(200)
                        .set_body_json(payment_object(id, "pending", value)),
                    Some((_, LedgerState::Paid(taken))) => ResponseTemplate::new(200)
                        .set_body_json(payment_object(id, "succeeded", taken)),
                    Some((value, LedgerState::Declined)) => {
                        let mut object = payment_object(id, "canceled", value);
                        object["cancellation_details"] =
                            json!({"party": "yoo_money", "reason": "card_expired"});
                        ResponseTemplate::new(200).set_body_json(object)
                    }
                }
            }
            ("POST", ["v3", "refunds"]) => {
                let (Some(payment), Some(value)) = (
                    body["payment_id"].as_str(),
                    amount(&body["amount"]["value"]),
                ) else {
                    return refused("payment_id and amount are required".to_owned());
                };
                match self
                    .0
                    .refund(payment, value, &header(request, "Idempotence-Key"))
                {
                    LedgerRefund::Done(id) => ResponseTemplate::new(200).set_body_json(json!({
                        "id": id, "payment_id": payment, "status": "succeeded",
                        "amount": {"value": value, "currency": "RUB"},
                    })),
                    LedgerRefund::Unknown => not_found,
                    LedgerRefund::Refused(why) => refused(why),
                }
            }
            _ => not_found,
        }
    }
}

struct YooKassaHarness {
    ledger: Arc<FakeLedger>,
    outages: Outages,
}

fn notification(event: &str, object: serde_json::Value) -> Vec<u8> {
    json!({"type": "notification", "event": event, "object": object})
        .to_string()
        .into_bytes()
}

#[async_trait]
impl Harness for YooKassaHarness {
    async fn settle(&self, reference: &str, settlement: Settlement) -> bool {
        self.ledger.settle(reference, settlement)
    }

    /// YooKassa's notices have no id of their own: a different notice is a different event
    /// (here the kit's `event_id` picks one).
    fn webhook(&self, reference: &str, event_id: &str) -> Webhook {
        let event = if event_id.ends_with("evt") {
            "payment.succeeded"
        } else {
            "payment.waiting_for_capture"
        };
        let value = Money::parse("1.00").unwrap();
        (
            vec![("Content-Type".to_owned(), "application/json".to_owned())],
            notification(event, payment_object(reference, "succeeded", value)),
        )
    }

    fn forged_webhook(&self, _reference: &str) -> Option<Webhook> {
        None
    }

    async fn break_provider(&self, outage: Outage) -> bool {
        self.outages.start(outage);
        true
    }

    async fn heal(&self) {
        self.outages.stop();
    }
}

async fn fake_yookassa() -> (MockServer, YooKassaHarness) {
    let server = MockServer::start().await;
    let ledger = Arc::new(FakeLedger::default());
    let outages = Outages::default();
    outages.mount(&server, YooKassa(Arc::clone(&ledger))).await;
    (server, YooKassaHarness { ledger, outages })
}

#[tokio::test]
async fn the_yookassa_gateway_conforms() {
    let (server, harness) = fake_yookassa().await;
    let gateway = YooKassaGateway::new("yookassa", settings(&server)).unwrap();
    conformance::run(&gateway, &harness, "yk").await;
}

fn request(key: &str) -> PaymentSessionRequest {
    PaymentSessionRequest {
        payment_id: PaymentId(41),
        booking_id: BookingId(7),
        amount: Money::parse("1500.00").unwrap(),
        payment_method: "card".to_owned(),
        return_url: Some("https://app.example/bookings/7".to_owned()),
        idempotency_key: key.to_owned(),
    }
}

#[tokio::test]
async fn initiate_sends_the_v3_payment_with_credentials_and_the_idempotence_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/payments"))
        .and(basic_auth("shop-1", "test_key"))
        .and(has_header("Idempotence-Key", "pay_k1"))
        .and(body_partial_json(json!({
            "amount": {"value": "1500.00", "currency": "RUB"},
            "capture": true,
            "confirmation": {"type": "redirect", "return_url": "https://app.example/bookings/7"},
            "metadata": {"payment_id": "41", "booking_id": "7"},
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_object(
            "2f1a-yk",
            "pending",
            Money::parse("1500.00").unwrap(),
        )))
        .expect(1)
        .mount(&server)
        .await;
    let gateway = YooKassaGateway::new("yookassa", settings(&server)).unwrap();
    let session = gateway.initiate(&request("pay_k1")).await.unwrap();
    assert_eq!(session.reference, "2f1a-yk");
    assert_eq!(
        session.payment_url,
        "https://yoomoney.example/checkout?orderId=2f1a-yk"
    );
}

#[tokio::test]
async fn answers_outside_the_api_are_unavailable_and_errors_carry_the_description() {
    let server = MockServer::start().await;
    let gateway = YooKassaGateway::new("yookassa", settings(&server)).unwrap();
    let dollars = json!({"id": "p1", "status": "succeeded",
                         "amount": {"value": "10.00", "currency": "USD"}});
    Mock::given(path("/v3/payments/p1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(dollars))
        .mount(&server)
        .await;
    Mock::given(path("/v3/payments/p2"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"retry_after": 1800})))
        .mount(&server)
        .await;
    Mock::given(path("/v3/refunds"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "type": "error", "code": "invalid_request",
            "description": "Refund amount exceeds the payment amount"})))
        .mount(&server)
        .await;
    for reference in ["p1", "p2"] {
        let status = gateway.status(reference).await;
        assert!(
            matches!(status, Err(GatewayError::Unavailable(_))),
            "{reference}: {status:?}"
        );
    }
    assert_eq!(
        gateway
            .refund("p1", Money::parse("1.00").unwrap(), "rfd_1")
            .await,
        Err(GatewayError::Refused(
            "Refund amount exceeds the payment amount".to_owned()
        ))
    );
}

#[tokio::test]
async fn a_canceled_payment_fails_with_yookassas_reason() {
    let (server, harness) = fake_yookassa().await;
    let gateway = YooKassaGateway::new("yookassa", settings(&server)).unwrap();
    let session = gateway.initiate(&request("pay_k2")).await.unwrap();
    assert!(
        harness
            .settle(&session.reference, Settlement::Declined)
            .await
    );
    assert_eq!(
        gateway.status(&session.reference).await,
        Ok(GatewayPaymentStatus::Failed {
            reason: "card_expired".to_owned()
        })
    );
}

#[test]
fn notifications_name_the_payment_even_for_refunds() {
    let server_uri = "http://127.0.0.1:1";
    let gateway = YooKassaGateway::new(
        "yookassa",
        YooKassaSettings {
            url: server_uri.to_owned(),
            shop_id: "shop-1".to_owned(),
            secret_key: "k".to_owned(),
            resilience: ResilienceSettings::default(),
        },
    )
    .unwrap();
    let refund = notification(
        "refund.succeeded",
        json!({"id": "rf-1", "payment_id": "p-9", "status": "succeeded",
               "amount": {"value": "5.00", "currency": "RUB"}}),
    );
    let notice = gateway.verify_webhook(&[], &refund).unwrap();
    assert_eq!(notice.reference, "p-9");
    assert_eq!(notice.event_id, "refund.succeeded:rf-1");
    let canceled = notification(
        "payment.canceled",
        json!({"id": "p-9", "status": "canceled"}),
    );
    assert_eq!(
        gateway.verify_webhook(&[], &canceled).unwrap().event_id,
        "payment.canceled:p-9"
    );
    assert_eq!(
        gateway.verify_webhook(&[], b"{\"hello\": 1}"),
        Err(GatewayError::InvalidSignature)
    );
}
