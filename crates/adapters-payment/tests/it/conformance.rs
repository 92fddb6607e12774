//! The conformance kit run against the built-in gateways: the sandbox in process, the `http`
//! gateway against a wiremock stand-in of backend-payment keeping its books in a `FakeLedger`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapters_payment::conformance::{
    self, FakeLedger, Harness, LedgerRefund, LedgerState, Outage, Settlement, Webhook,
};
use adapters_payment::http::PAYMENT_SIGNATURE_HEADER;
use adapters_payment::sandbox::SANDBOX_SIGNATURE_HEADER;
use adapters_payment::{
    HttpGatewayConfig, HttpPaymentGateway, SandboxConfig, SandboxGateway, webhook_signature,
};
use async_trait::async_trait;
use domain::Money;
use ports::payment_gateway::{PaymentGateway, SimulatedOutcome};
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A provider double that can be broken on demand: while an outage is on, every request is
/// answered late (past the gateway's timeout) or with 503 instead of by the double.
#[derive(Clone, Default)]
pub struct Outages(Arc<Mutex<Option<Outage>>>);

impl Outages {
    pub fn start(&self, outage: Outage) {
        *self.0.lock().unwrap() = Some(outage);
    }

    pub fn stop(&self) {
        self.0.lock().unwrap().take();
    }

    /// Mounts `double` on `server`, behind this switch.
    pub async fn mount(&self, server: &MockServer, double: impl Respond + 'static) {
        Mock::given(any())
            .respond_with(Breakable {
                outages: self.clone(),
                double,
            })
            .mount(server)
            .await;
    }
}

struct Breakable<R> {
    outages: Outages,
    double: R,
}

impl<R: Respond> Respond for Breakable<R> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match *self.outages.0.lock().unwrap() {
            Some(Outage::Timeout) => ResponseTemplate::new(200).set_delay(Duration::from_secs(2)),
            Some(Outage::ServerError) => ResponseTemplate::new(503),
            None => self.double.respond(request),
        }
    }
}

/// The JSON body of a request, or `Null`.
pub fn json_body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

/// A header of a request, or "".
pub fn header(request: &Request, name: &str) -> String {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub fn amount(value: &Value) -> Option<Money> {
    Money::parse(value.as_str()?).ok()
}

// ---- sandbox ----

struct SandboxHarness {
    gateway: Arc<SandboxGateway>,
}

#[async_trait]
impl Harness for SandboxHarness {
    async fn settle(&self, reference: &str, settlement: Settlement) -> bool {
        let outcome = match settlement {
            Settlement::PaidInFull => SimulatedOutcome::Success,
            Settlement::Declined => SimulatedOutcome::Failure,
            Settlement::PaidPart(_) => return false,
        };
        self.gateway.simulate(reference, outcome).await.is_ok()
    }

    fn webhook(&self, reference: &str, event_id: &str) -> Webhook {
        let body = json!({"event_id": event_id, "reference": reference}).to_string();
        let signature = self.gateway.sign(1_700_000_000, body.as_bytes());
        (
            vec![(SANDBOX_SIGNATURE_HEADER.to_owned(), signature)],
            body.into_bytes(),
        )
    }

    fn forged_webhook(&self, reference: &str) -> Option<Webhook> {
        let body = json!({"event_id": "forged", "reference": reference}).to_string();
        let signature = webhook_signature::sign(b"not-the-secret", 1_700_000_000, body.as_bytes());
        Some((
            vec![(SANDBOX_SIGNATURE_HEADER.to_owned(), signature)],
            body.into_bytes(),
        ))
    }

    async fn break_provider(&self, _outage: Outage) -> bool {
        false
    }

    async fn heal(&self) {}
}

#[tokio::test]
async fn the_sandbox_conforms() {
    let gateway = Arc::new(SandboxGateway::new(SandboxConfig {
        public_base_url: "http://localhost:8080".to_owned(),
        webhook_secret: "sandbox-secret".to_owned(),
    }));
    let harness = SandboxHarness {
        gateway: Arc::clone(&gateway),
    };
    conformance::run(gateway.as_ref(), &harness, "sbx").await;
}

// ---- http (backend-payment) ----

const SECRET: &str = "payment-secret";

/// backend-payment's REST contract over a ledger.
struct BackendPayment(Arc<FakeLedger>);

impl Respond for BackendPayment {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let segments: Vec<&str> = request.url.path_segments().unwrap().collect();
        let body = json_body(request);
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["api", "v1", "payments"]) => {
                let key = header(request, "Idempotency-Key");
                let Some(amount) = amount(&body["amount"]).filter(|_| !key.is_empty()) else {
                    return ResponseTemplate::new(400).set_body_json(json!({"detail": "bad"}));
                };
                let reference = self.0.create(&key, amount);
                ResponseTemplate::new(201).set_body_json(json!({
                    "reference": reference,
                    "payment_url": format!("https://pay.example/{reference}"),
                }))
            }
            ("GET", ["api", "v1", "payments", reference]) => match self.0.get(reference) {
                None => ResponseTemplate::new(404),
                Some((_, LedgerState::Pending)) => {
                    ResponseTemplate::new(200).set_body_json(json!({"status": "PENDING"}))
                }
                Some((_, LedgerState::Paid(taken))) => ResponseTemplate::new(200)
                    .set_body_json(json!({"status": "PAID", "amount": taken})),
                Some((_, LedgerState::Declined)) => ResponseTemplate::new(200)
                    .set_body_json(json!({"status": "FAILED", "reason": "declined"})),
            },
            ("POST", ["api", "v1", "payments", reference, "refunds"]) => {
                let Some(amount) = amount(&body["amount"]) else {
                    return ResponseTemplate::new(400);
                };
                match self
                    .0
                    .refund(reference, amount, &header(request, "Idempotency-Key"))
                {
                    LedgerRefund::Done(id) => {
                        ResponseTemplate::new(201).set_body_json(json!({"refund_reference": id}))
                    }
                    LedgerRefund::Unknown => ResponseTemplate::new(404),
                    LedgerRefund::Refused(why) => {
                        ResponseTemplate::new(409).set_body_json(json!({"detail": why}))
                    }
                }
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

struct HttpHarness {
    ledger: Arc<FakeLedger>,
    outages: Outages,
}

#[async_trait]
impl Harness for HttpHarness {
    async fn settle(&self, reference: &str, settlement: Settlement) -> bool {
        self.ledger.settle(reference, settlement)
    }

    fn webhook(&self, reference: &str, event_id: &str) -> Webhook {
        let body = json!({"event_id": event_id, "reference": reference}).to_string();
        let signature = webhook_signature::sign(SECRET.as_bytes(), 1_700_000_000, body.as_bytes());
        (
            vec![(PAYMENT_SIGNATURE_HEADER.to_owned(), signature)],
            body.into_bytes(),
        )
    }

    fn forged_webhook(&self, reference: &str) -> Option<Webhook> {
        let (headers, _) = self.webhook(reference, "evt");
        // A genuine signature over another body.
        let body = json!({"event_id": "evt", "reference": "someone-else"}).to_string();
        Some((headers, body.into_bytes()))
    }

    async fn break_provider(&self, outage: Outage) -> bool {
        self.outages.start(outage);
        true
    }

    async fn heal(&self) {
        self.outages.stop();
    }
}

#[tokio::test]
async fn the_http_gateway_conforms() {
    let server = MockServer::start().await;
    let ledger = Arc::new(FakeLedger::default());
    let outages = Outages::default();
    outages
        .mount(&server, BackendPayment(Arc::clone(&ledger)))
        .await;
    let gateway = HttpPaymentGateway::new(HttpGatewayConfig {
        timeout: Duration::from_millis(300),
        max_retries: 1,
        breaker_threshold: 0,
        ..HttpGatewayConfig::new(server.uri(), SECRET)
    })
    .unwrap();
    let harness = HttpHarness { ledger, outages };
    conformance::run(&gateway, &harness, "http").await;
}
