//! The `http` gateway against a wiremock stand-in of backend-payment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use adapters_payment::{HttpGatewayConfig, HttpPaymentGateway};
use domain::{BookingId, Money, PaymentId};
use hmac::{Hmac, Mac};
use ports::payment_gateway::{
    GatewayError, GatewayPaymentStatus, GatewaySession, PaymentGateway, PaymentSessionRequest,
    SimulatedOutcome, WebhookNotice,
};
use serde_json::json;
use sha2::Sha256;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "payment-secret";

fn config(server: &MockServer) -> HttpGatewayConfig {
    HttpGatewayConfig {
        name: "http".to_owned(),
        base_url: server.uri(),
        timeout: Duration::from_secs(2),
        max_retries: 2,
        webhook_secret: SECRET.to_owned(),
        breaker_threshold: 5,
        breaker_cooldown: Duration::from_secs(30),
    }
}

fn gateway(server: &MockServer) -> HttpPaymentGateway {
    HttpPaymentGateway::new(config(server)).unwrap()
}

fn money(text: &str) -> Money {
    Money::parse(text).unwrap()
}

fn session_request() -> PaymentSessionRequest {
    PaymentSessionRequest {
        payment_id: PaymentId(41),
        booking_id: BookingId(7),
        amount: money("12.5"),
        payment_method: "card".to_owned(),
        return_url: Some("https://app.example/bookings/7".to_owned()),
        idempotency_key: "payment-41".to_owned(),
    }
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[test]
fn is_named_http() {
    let gw = HttpPaymentGateway::new(HttpGatewayConfig::new("http://localhost:1", SECRET)).unwrap();
    assert_eq!(gw.name(), "http");
}

#[test]
fn config_defaults_follow_the_spec() {
    let config = HttpGatewayConfig::default();
    assert_eq!(config.timeout, Duration::from_secs(5));
    assert_eq!(config.max_retries, 2);
    assert_eq!(config.breaker_threshold, 5);
    assert_eq!(config.breaker_cooldown, Duration::from_secs(30));
}

#[tokio::test]
async fn initiate_posts_the_payment_with_its_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/payments"))
        .and(header("Idempotency-Key", "payment-41"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "payment_id": 41,
            "booking_id": 7,
            "amount": "12.50",
            "method": "card",
            "return_url": "https://app.example/bookings/7"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "reference": "pay_123",
            "payment_url": "https://pay.example/checkout/pay_123"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let session = gateway(&server).initiate(&session_request()).await.unwrap();
    assert_eq!(
        session,
        GatewaySession {
            reference: "pay_123".to_owned(),
            payment_url: "https://pay.example/checkout/pay_123".to_owned()
        }
    );
}

#[tokio::test]
async fn initiate_sends_a_null_return_url_when_there_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/payments"))
        .and(body_json(json!({
            "payment_id": 41,
            "booking_id": 7,
            "amount": "12.50",
            "method": "card",
            "return_url": null
        })))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"reference": "r", "payment_url": "https://p/r"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let request = PaymentSessionRequest {
        return_url: None,
        ..session_request()
    };
    assert!(gateway(&server).initiate(&request).await.is_ok());
}

#[tokio::test]
async fn status_reads_pending_paid_and_failed() {
    let server = MockServer::start().await;
    for (reference, answer) in [
        ("p1", json!({"status": "PENDING"})),
        ("p2", json!({"status": "PAID", "amount": "12.50"})),
        (
            "p3",
            json!({"status": "FAILED", "reason": "insufficient funds"}),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/api/v1/payments/{reference}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .expect(1)
            .mount(&server)
            .await;
    }
    let gw = gateway(&server);
    assert_eq!(gw.status("p1").await, Ok(GatewayPaymentStatus::Pending));
    assert_eq!(
        gw.status("p2").await,
        Ok(GatewayPaymentStatus::Paid {
            amount: money("12.50")
        })
    );
    assert_eq!(
        gw.status("p3").await,
        Ok(GatewayPaymentStatus::Failed {
            reason: "insufficient funds".to_owned()
        })
    );
}

#[tokio::test]
async fn status_of_an_unknown_reference_is_unknown_reference() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/payments/nope"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        gateway(&server).status("nope").await,
        Err(GatewayError::UnknownReference)
    );
}

#[tokio::test]
async fn a_reference_is_percent_encoded_in_the_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/payments/a%2Fb"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "PENDING"})))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        gateway(&server).status("a/b").await,
        Ok(GatewayPaymentStatus::Pending)
    );
}

#[tokio::test]
async fn a_body_outside_the_contract_is_never_read_as_an_outcome() {
    let server = MockServer::start().await;
    for (reference, answer) in [
        ("weird", json!({"status": "MAYBE"})),
        ("no-amount", json!({"status": "PAID"})),
        ("float", json!({"status": "PAID", "amount": 12.5})),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/api/v1/payments/{reference}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .expect(1)
            .mount(&server)
            .await;
    }
    let gw = gateway(&server);
    for reference in ["weird", "no-amount", "float"] {
        let result = gw.status(reference).await;
        assert!(
            matches!(result, Err(GatewayError::Unavailable(_))),
            "{reference}: {result:?}"
        );
    }
}

#[tokio::test]
async fn refund_posts_the_amount_with_its_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/payments/pay_123/refunds"))
        .and(header("Idempotency-Key", "refund-9"))
        .and(body_json(json!({"amount": "5.00"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"refund_reference": "rf_1"})))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        gateway(&server)
            .refund("pay_123", money("5"), "refund-9")
            .await,
        Ok("rf_1".to_owned())
    );
}

#[tokio::test]
async fn refused_refunds_are_refused_without_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/payments/over/refunds"))
        .respond_with(
            ResponseTemplate::new(422).set_body_json(json!({"detail": "exceeds the paid amount"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/payments/unpaid/refunds"))
        .respond_with(ResponseTemplate::new(409).set_body_string("conflict"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/payments/gone/refunds"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let gw = gateway(&server);
    assert_eq!(
        gw.refund("over", money("100"), "k1").await,
        Err(GatewayError::Refused("exceeds the paid amount".to_owned()))
    );
    assert!(matches!(
        gw.refund("unpaid", money("1"), "k2").await,
        Err(GatewayError::Refused(reason)) if reason.contains("409")
    ));
    assert_eq!(
        gw.refund("gone", money("1"), "k3").await,
        Err(GatewayError::UnknownReference)
    );
    assert_eq!(requests(&server).await, 3);
}

#[tokio::test]
async fn a_refused_initiation_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/payments"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"message": "bad method"})))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        gateway(&server).initiate(&session_request()).await,
        Err(GatewayError::Refused("bad method".to_owned()))
    );
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn a_server_error_is_retried_until_it_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/payments/p1"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/payments/p1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "PENDING"})))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        gateway(&server).status("p1").await,
        Ok(GatewayPaymentStatus::Pending)
    );
}

#[tokio::test]
async fn idempotent_writes_are_retried_with_the_same_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/payments"))
        .and(header("Idempotency-Key", "payment-41"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/payments"))
        .and(header("Idempotency-Key", "payment-41"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"reference": "pay_1", "payment_url": "https://p/1"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let session = gateway(&server).initiate(&session_request()).await.unwrap();
    assert_eq!(session.reference, "pay_1");
}

#[tokio::test]
async fn persistent_server_errors_end_unavailable_after_the_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/payments/p1/refunds"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let result = gateway(&server).refund("p1", money("1"), "k").await;
    assert!(
        matches!(result, Err(GatewayError::Unavailable(_))),
        "{result:?}"
    );
    // One attempt and max_retries = 2 retries.
    assert_eq!(requests(&server).await, 3);
}

#[tokio::test]
async fn a_slow_gateway_times_out_as_unavailable() {
    let server = MockServer::start().await;
    // An answer that would come far later than any run of this test takes.
    let answer_delay = Duration::from_secs(60);
    Mock::given(method("GET"))
        .and(path("/api/v1/payments/slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "PAID", "amount": "1.00"}))
                .set_delay(answer_delay),
        )
        .mount(&server)
        .await;
    let gw = HttpPaymentGateway::new(HttpGatewayConfig {
        timeout: Duration::from_millis(100),
        max_retries: 1,
        ..config(&server)
    })
    .unwrap();
    let started = Instant::now();
    let result = gw.status("slow").await;
    match result {
        Err(GatewayError::Unavailable(why)) => assert!(why.contains("timed out"), "{why}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Both attempts gave up instead of waiting for the answer.
    assert_eq!(
        requests(&server).await,
        2,
        "the first attempt and one retry"
    );
    assert!(started.elapsed() < answer_delay, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    // A port nobody listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = HttpPaymentGateway::new(HttpGatewayConfig {
        max_retries: 1,
        ..HttpGatewayConfig::new(format!("http://127.0.0.1:{port}"), SECRET)
    })
    .unwrap();
    let result = gw.status("p1").await;
    assert!(
        matches!(result, Err(GatewayError::Unavailable(_))),
        "{result:?}"
    );
}

fn breaker_gateway(server: &MockServer, cooldown: Duration) -> HttpPaymentGateway {
    HttpPaymentGateway::new(HttpGatewayConfig {
        max_retries: 0,
        breaker_threshold: 3,
        breaker_cooldown: cooldown,
        ..config(server)
    })
    .unwrap()
}

fn is_circuit_open(result: &Result<GatewayPaymentStatus, GatewayError>) -> bool {
    matches!(result, Err(GatewayError::Unavailable(why)) if why.contains("circuit"))
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_recovers_after_the_cooldown() {
    // Open, with a cooldown no run of this test outlasts: the breaker fails fast without
    // calling the server, even once the server is back.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let gw = breaker_gateway(&server, Duration::from_secs(3600));
    for _ in 0..3 {
        assert!(matches!(
            gw.status("p1").await,
            Err(GatewayError::Unavailable(_))
        ));
    }
    assert_eq!(requests(&server).await, 3);
    let result = gw.status("p1").await;
    assert!(
        is_circuit_open(&result),
        "expected a fast failure, got {result:?}"
    );
    assert_eq!(requests(&server).await, 3);
    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "PENDING"})))
        .mount(&server)
        .await;
    let result = gw.status("p1").await;
    assert!(is_circuit_open(&result), "still open: {result:?}");
    assert_eq!(requests(&server).await, 0);

    // Recovery, with a short cooldown: three failures open the breaker, then calls are
    // refused without reaching the server until a probe passes, which is never before the
    // cooldown has run out, and which closes the breaker.
    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(3)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "PENDING"})))
        .mount(&server)
        .await;
    let cooldown = Duration::from_millis(100);
    let gw = breaker_gateway(&server, cooldown);
    for _ in 0..2 {
        assert!(gw.status("p1").await.is_err());
    }
    let before_opening = Instant::now();
    assert!(gw.status("p1").await.is_err());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let result = gw.status("p1").await;
        if result == Ok(GatewayPaymentStatus::Pending) {
            break;
        }
        assert!(is_circuit_open(&result), "{result:?}");
        assert_eq!(requests(&server).await, 3, "a refused call reaches nobody");
        assert!(
            Instant::now() < deadline,
            "the breaker never let a probe through"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        before_opening.elapsed() >= cooldown,
        "the probe passed {:?} after the breaker opened",
        before_opening.elapsed()
    );
    assert_eq!(requests(&server).await, 4, "one probe");
    assert_eq!(gw.status("p1").await, Ok(GatewayPaymentStatus::Pending));
    assert_eq!(requests(&server).await, 5, "closed: calls flow again");
}

#[tokio::test]
async fn answers_other_than_unavailable_do_not_trip_the_breaker() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let gw = HttpPaymentGateway::new(HttpGatewayConfig {
        breaker_threshold: 2,
        ..config(&server)
    })
    .unwrap();
    for _ in 0..5 {
        assert_eq!(gw.status("x").await, Err(GatewayError::UnknownReference));
    }
    assert_eq!(requests(&server).await, 5);
}

#[tokio::test]
async fn simulate_is_refused_by_a_real_gateway() {
    let server = MockServer::start().await;
    assert_eq!(
        gateway(&server)
            .simulate("p1", SimulatedOutcome::Success)
            .await,
        Err(GatewayError::Refused("not a test gateway".to_owned()))
    );
    assert_eq!(requests(&server).await, 0);
}

/// backend-payment's signature, computed here from its definition:
/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.
fn signature(secret: &str, body: &[u8]) -> String {
    let t = 1_767_225_600_i64;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn verifies_backend_payment_webhooks() {
    let server = MockServer::start().await;
    let gw = gateway(&server);
    let body = br#"{"event_id": "evt_9", "reference": "pay_123"}"#;
    let signed = vec![("x-payment-signature".to_owned(), signature(SECRET, body))];
    assert_eq!(
        gw.verify_webhook(&signed, body),
        Ok(WebhookNotice {
            reference: "pay_123".to_owned(),
            event_id: "evt_9".to_owned(),
            signed_at: 1_767_225_600,
        })
    );
    assert_eq!(
        gw.verify_webhook(&signed, br#"{"event_id": "evt_9", "reference": "pay_124"}"#),
        Err(GatewayError::InvalidSignature)
    );
    assert_eq!(
        gw.verify_webhook(&[], body),
        Err(GatewayError::InvalidSignature)
    );
    let wrong_secret = vec![("X-Payment-Signature".to_owned(), signature("other", body))];
    assert_eq!(
        gw.verify_webhook(&wrong_secret, body),
        Err(GatewayError::InvalidSignature)
    );
    // The sandbox's header is not backend-payment's.
    let wrong_header = vec![("X-Sandbox-Signature".to_owned(), signature(SECRET, body))];
    assert_eq!(
        gw.verify_webhook(&wrong_header, body),
        Err(GatewayError::InvalidSignature)
    );
}
