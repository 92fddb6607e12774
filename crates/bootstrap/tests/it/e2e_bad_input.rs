//! Malformed requests against the real app, on SQLite and PostgreSQL: every one answers the
//! exact 4xx expected, as `application/problem+json` with `code`, `status`, `title` and
//! `detail` (and `errors[]` for `VALIDATION_FAILED`), never 5xx — and nothing is half-written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::support::{TestApp, Who, admin, organizer, user};

/// The body of a case.
enum Body {
    None,
    Json(Value),
    /// `(content type, bytes)`; `None` sends no Content-Type.
    Raw(Option<&'static str>, Vec<u8>),
}

struct Case {
    name: String,
    method: Method,
    path: String,
    who: Option<Who>,
    headers: Vec<(&'static str, HeaderValue)>,
    body: Body,
    status: u16,
    code: &'static str,
    /// A response header that must be present with this value.
    answer_header: Option<(&'static str, &'static str)>,
}

fn case(name: &str, method: Method, path: &str, who: Option<Who>, body: Body) -> Case {
    Case {
        name: name.to_owned(),
        method,
        path: path.to_owned(),
        who,
        headers: Vec::new(),
        body,
        status: 0,
        code: "",
        answer_header: None,
    }
}

impl Case {
    fn expect(mut self, status: u16, code: &'static str) -> Self {
        self.status = status;
        self.code = code;
        self
    }

    fn answers_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.answer_header = Some((name, value));
        self
    }

    fn header(mut self, name: &'static str, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

fn get(name: &str, path: &str, who: Option<Who>) -> Case {
    case(name, Method::GET, path, who, Body::None)
}

fn post(name: &str, path: &str, who: Option<Who>, body: Value) -> Case {
    case(name, Method::POST, path, who, Body::Json(body))
}

fn raw(
    name: &str,
    method: Method,
    path: &str,
    who: Option<Who>,
    ct: Option<&'static str>,
    bytes: &[u8],
) -> Case {
    case(name, method, path, who, Body::Raw(ct, bytes.to_vec()))
}

/// A valid event body, to break one field at a time.
fn event_body(app: &TestApp) -> Value {
    let start = app.clock_now() + chrono::Duration::days(30);
    json!({
        "name": "Rafting",
        "start_date": start.to_rfc3339(),
        "max_participants": 10,
        "price": "1000.00",
    })
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

async fn run(app: &TestApp, c: Case) -> Result<(), String> {
    let mut r = app.req(c.method.clone(), &c.path, c.who);
    for (name, value) in &c.headers {
        r = r.header(HeaderName::from_static(name), value.clone());
    }
    r = match c.body {
        Body::None => r,
        Body::Json(v) => r.json(&v),
        Body::Raw(ct, bytes) => {
            let r = match ct {
                Some(ct) => r.header("Content-Type", ct),
                None => r,
            };
            r.body(bytes)
        }
    };
    let response = r
        .send()
        .await
        .map_err(|e| format!("{}: not sent: {e}", c.name))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let expected_header = c.answer_header.map(|(name, value)| {
        (
            name,
            value,
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        )
    });
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let what = format!(
        "{} {} {} → {status} {content_type} {text}",
        c.name, c.method, c.path
    );
    if status >= 500 {
        return Err(format!("5xx! {what}"));
    }
    if status != c.status {
        return Err(format!("expected {} {}: {what}", c.status, c.code));
    }
    if !content_type.starts_with("application/problem+json") {
        return Err(format!("not problem+json: {what}"));
    }
    if body["code"] != c.code {
        return Err(format!("expected code {}: {what}", c.code));
    }
    if body["status"] != status
        || body["title"].as_str().is_none_or(str::is_empty)
        || body["detail"].as_str().is_none_or(str::is_empty)
    {
        return Err(format!("incomplete problem: {what}"));
    }
    if let Some((name, value, got)) = expected_header
        && got.as_deref() != Some(value)
    {
        return Err(format!(
            "expected header {name}: {value}, got {got:?}: {what}"
        ));
    }
    if c.code == "VALIDATION_FAILED" {
        let errors = body["errors"].as_array().cloned().unwrap_or_default();
        if errors.is_empty()
            || !errors.iter().all(|e| {
                e["field"].as_str().is_some_and(|f| !f.is_empty()) && e["message"].is_string()
            })
        {
            return Err(format!("VALIDATION_FAILED without errors[]: {what}"));
        }
    }
    Ok(())
}

on_both!(
    malformed_requests_are_4xx_problems_and_write_nothing,
    |app| {
        let org = organizer(1);
        let probe = user(1);
        let payer = user(2);

        // Setup: two published events with price options, one draft, one pending booking.
        let start = app.clock_now() + chrono::Duration::days(30);
        let (status, e) = app
            .post(
                "/api/v1/events",
                Some(org),
                json!({
                    "name": "Event A", "start_date": start.to_rfc3339(), "max_participants": 10,
                    "price": "1000.00", "auto_publish": true,
                    "price_options": [{"name": "Adult", "price": "1000.00"}],
                }),
            )
            .await;
        assert_eq!(status, 201, "{e}");
        let event_a = e["id"].as_i64().unwrap();
        let (status, f) = app
            .post(
                "/api/v1/events",
                Some(org),
                json!({
                    "name": "Event B", "start_date": start.to_rfc3339(), "max_participants": 10,
                    "price": "500.00", "auto_publish": true,
                    "price_options": [{"name": "Child", "price": "300.00"}],
                }),
            )
            .await;
        assert_eq!(status, 201, "{f}");
        let option_b = f["price_options"][0]["id"].as_i64().unwrap();
        let (status, d) = app
            .post("/api/v1/events", Some(org), event_body(&app))
            .await;
        assert_eq!(status, 201, "{d}");
        assert_eq!(d["status"], "DRAFT");
        let draft = d["id"].as_i64().unwrap();
        let b = app.book(payer, event_a, 1).await;
        let booking = b["id"].as_i64().unwrap();

        let ev = event_body(&app);
        let past = (app.clock_now() - chrono::Duration::days(1)).to_rfc3339();
        let end_before = (app.clock_now() + chrono::Duration::days(29)).to_rfc3339();
        let book = |q: Value| json!({"event_id": event_a, "quantity": q});
        let oversize = {
            let mut s = br#"{"name":""#.to_vec();
            s.extend(std::iter::repeat_n(b'a', 70 * 1024));
            s.extend(br#"","start_date":"2030-01-01T00:00:00Z","max_participants":1,"price":"1"}"#);
            s
        };
        let long_key = HeaderValue::from_str(&"k".repeat(256)).unwrap();
        let search_201 = "s".repeat(201);
        let v = "VALIDATION_FAILED";

        let cases = vec![
        // Bodies that are not the JSON expected.
        raw("invalid JSON syntax", Method::POST, "/api/v1/events", Some(org), Some("application/json"), br#"{"name": "x","#)
            .expect(400, "MALFORMED_JSON"),
        raw("trailing garbage", Method::POST, "/api/v1/bookings", Some(probe), Some("application/json"), br#"{"event_id": 1, "quantity": 1} xx"#)
            .expect(400, "MALFORMED_JSON"),
        raw("malformed optional body on event cancel", Method::POST, &format!("/api/v1/events/{event_a}/cancel"), Some(org), Some("application/json"), br#"{"reason": "x","#)
            .expect(400, "MALFORMED_JSON"),
        post("unknown field on booking cancel", "/api/v1/bookings/1/cancel", Some(probe), json!({"reasn": "typo"}))
            .expect(400, v),
        raw("malformed optional body on publish", Method::POST, &format!("/api/v1/events/{event_a}/publish"), Some(org), Some("application/json"), b"{oops")
            .expect(400, "MALFORMED_JSON"),
        post("JSON array instead of object", "/api/v1/bookings", Some(probe), json!([{"event_id": event_a, "quantity": 1}]))
            .expect(400, v),
        post("quantity is a string", "/api/v1/bookings", Some(probe), book(json!("x"))).expect(400, v),
        post("event_id is a string", "/api/v1/bookings", Some(probe), json!({"event_id": "abc", "quantity": 1}))
            .expect(400, v),
        post("price is a boolean", "/api/v1/events", Some(org), with(ev.clone(), "price", json!(true))).expect(400, v),
        post("unknown field", "/api/v1/bookings", Some(probe), json!({"event_id": event_a, "quantity": 1, "seats": 2}))
            .expect(400, v),
        post("unknown field on event", "/api/v1/events", Some(org), with(ev.clone(), "colour", json!("red")))
            .expect(400, v),
        post("missing quantity", "/api/v1/bookings", Some(probe), json!({"event_id": event_a})).expect(400, v),
        post("missing name", "/api/v1/events", Some(org), without(ev.clone(), "name")).expect(400, v),
        post("missing start_date", "/api/v1/events", Some(org), without(ev.clone(), "start_date")).expect(400, v),
        post("negative quantity", "/api/v1/bookings", Some(probe), book(json!(-1))).expect(400, v),
        post("zero quantity", "/api/v1/bookings", Some(probe), book(json!(0))).expect(400, v),
        post("quantity above the maximum", "/api/v1/bookings", Some(probe), book(json!(11))).expect(400, v),
        post("quantity beyond i64", "/api/v1/bookings", Some(probe), book(json!(1e30))).expect(400, v),
        post("fractional quantity", "/api/v1/bookings", Some(probe), book(json!(1.5))).expect(400, v),
        post("price with 3 decimals", "/api/v1/events", Some(org), with(ev.clone(), "price", json!("10.001"))).expect(400, v),
        post("negative price", "/api/v1/events", Some(org), with(ev.clone(), "price", json!("-5.00"))).expect(400, v),
        post("price NaN", "/api/v1/events", Some(org), with(ev.clone(), "price", json!("NaN"))).expect(400, v),
        post("price Infinity", "/api/v1/events", Some(org), with(ev.clone(), "price", json!("Infinity"))).expect(400, v),
        raw("bare NaN literal", Method::POST, "/api/v1/events", Some(org), Some("application/json"), br#"{"name":"x","start_date":"2030-01-01T00:00:00Z","max_participants":1,"price":NaN}"#)
            .expect(400, "MALFORMED_JSON"),
        raw("number out of range (1e999)", Method::POST, "/api/v1/events", Some(org), Some("application/json"), br#"{"name":"x","start_date":"2030-01-01T00:00:00Z","max_participants":1,"price":1e999}"#)
            .expect(400, "MALFORMED_JSON"),
        post("latitude out of range", "/api/v1/events", Some(org), with(ev.clone(), "location_coordinates", json!({"latitude": 91.0, "longitude": 0.0})))
            .expect(400, v),
        post("max_participants 0", "/api/v1/events", Some(org), with(ev.clone(), "max_participants", json!(0))).expect(400, v),
        post("max_participants negative", "/api/v1/events", Some(org), with(ev.clone(), "max_participants", json!(-3))).expect(400, v),
        post("start_date in the past", "/api/v1/events", Some(org), with(ev.clone(), "start_date", json!(past))).expect(400, v),
        post("end before start", "/api/v1/events", Some(org), with(ev.clone(), "end_date", json!(end_before))).expect(400, v),
        post("invalid RFC3339 date", "/api/v1/events", Some(org), with(ev.clone(), "start_date", json!("2030-13-45T25:00:00Z"))).expect(400, v),
        post("date without time zone", "/api/v1/events", Some(org), with(ev.clone(), "start_date", json!("2030-01-01T10:00:00"))).expect(400, v),
        // Query strings.
        get("unknown event status", "/api/v1/events?status=FOO", None).expect(400, v),
        get("unknown sort_by", "/api/v1/events?sort_by=bogus", None).expect(400, v),
        get("unknown query parameter", "/api/v1/events?colour=red", None).expect(400, v),
        get("page -1", "/api/v1/events?page=-1", None).expect(400, v),
        get("page 10001", "/api/v1/events?page=10001", None).expect(400, v),
        get("page not a number", "/api/v1/events?page=abc", None).expect(400, v),
        get("size 0", "/api/v1/events?size=0", None).expect(400, v),
        get("size 101", "/api/v1/events?size=101", None).expect(400, v),
        get("search_query of 201 chars", &format!("/api/v1/events?search_query={search_201}"), None).expect(400, v),
        get("start_date_from not a date", "/api/v1/events?start_date_from=yesterday", None).expect(400, v),
        get("unknown booking status", "/api/v1/bookings?status=NOPE", Some(probe)).expect(400, v),
        get("booking user_id not a uuid", "/api/v1/bookings?user_id=42", Some(admin())).expect(400, v),
        // Path ids.
        get("non-numeric event id", "/api/v1/events/abc", None).expect(400, v),
        get("event id 0", "/api/v1/events/0", None).expect(404, "NOT_FOUND"),
        get("event id -1", "/api/v1/events/-1", None).expect(404, "NOT_FOUND"),
        get("event id beyond i64", "/api/v1/events/99999999999999999999999", None).expect(400, v),
        get("booking id not numeric", "/api/v1/bookings/1.5", Some(probe)).expect(400, v),
        get("unknown event", "/api/v1/events/987654321", None).expect(404, "NOT_FOUND"),
        // Transport.
        raw("oversize body", Method::POST, "/api/v1/events", Some(org), Some("application/json"), &oversize)
            .expect(413, "PAYLOAD_TOO_LARGE"),
        raw("text/plain body", Method::POST, "/api/v1/bookings", Some(probe), Some("text/plain"), br#"{"event_id": 1, "quantity": 1}"#)
            .expect(415, "UNSUPPORTED_MEDIA_TYPE"),
        raw("no content type", Method::POST, "/api/v1/bookings", Some(probe), None, br#"{"event_id": 1, "quantity": 1}"#)
            .expect(415, "UNSUPPORTED_MEDIA_TYPE"),
        raw("empty JSON body on POST /bookings", Method::POST, "/api/v1/bookings", Some(probe), Some("application/json"), b"")
            .expect(400, "MALFORMED_JSON"),
        get("unknown route", "/api/v1/nowhere", None).expect(404, "ROUTE_NOT_FOUND"),
        get("unknown version", "/api/v2/events", None).expect(404, "ROUTE_NOT_FOUND"),
        case("DELETE on an event", Method::DELETE, &format!("/api/v1/events/{event_a}"), Some(org), Body::None)
            .expect(405, "METHOD_NOT_ALLOWED")
            .answers_header("allow", "GET, PUT"),
        case("PATCH on bookings", Method::PATCH, "/api/v1/bookings", Some(probe), Body::Json(book(json!(1))))
            .expect(405, "METHOD_NOT_ALLOWED")
            .answers_header("allow", "GET, POST"),
        case("DELETE on the /api alias", Method::DELETE, "/api/bookings/1", Some(probe), Body::None)
            .expect(405, "METHOD_NOT_ALLOWED")
            .answers_header("allow", "GET"),
        case("GET on a POST-only route", Method::GET, &format!("/api/v1/events/{event_a}/publish"), Some(org), Body::None)
            .expect(405, "METHOD_NOT_ALLOWED")
            .answers_header("allow", "POST"),
        case("PUT on the actuator", Method::PUT, "/actuator/health", None, Body::Json(json!({})))
            .expect(405, "METHOD_NOT_ALLOWED")
            .answers_header("allow", "GET"),
        // Headers.
        post("Idempotency-Key of 256 chars", "/api/v1/bookings", Some(probe), book(json!(1)))
            .header("idempotency-key", long_key)
            .expect(400, v),
        post("Idempotency-Key with spaces", "/api/v1/bookings", Some(probe), book(json!(1)))
            .header("idempotency-key", HeaderValue::from_static("my key"))
            .expect(400, v),
        post("Idempotency-Key not ASCII", "/api/v1/bookings", Some(probe), book(json!(1)))
            .header("idempotency-key", HeaderValue::from_bytes("ключ".as_bytes()).unwrap())
            .expect(400, v),
        case("If-Match garbage", Method::PUT, &format!("/api/v1/events/{draft}"), Some(org), Body::Json(json!({"name": "New"})))
            .header("if-match", HeaderValue::from_static("\"banana\""))
            .expect(400, v),
        get("X-User-Id not a uuid", "/api/v1/bookings", None)
            .header("x-user-id", HeaderValue::from_static("not-a-uuid"))
            .header("x-user-role", HeaderValue::from_static("USER"))
            .expect(401, "UNAUTHENTICATED"),
        get("X-User-Role unknown", "/api/v1/bookings", None)
            .header("x-user-id", HeaderValue::from_static("10000000-0000-4000-8000-000000000009"))
            .header("x-user-role", HeaderValue::from_static("ROOT"))
            .expect(401, "UNAUTHENTICATED"),
        post("guest books", "/api/v1/bookings", None, book(json!(1))).expect(401, "UNAUTHENTICATED"),
        // Payments.
        post("payment_method with spaces", "/api/v1/payments", Some(payer), json!({"booking_id": booking, "payment_method": "CA RD"}))
            .expect(400, v),
        post("amount 1e5 as a string", "/api/v1/payments", Some(payer), json!({"booking_id": booking, "payment_method": "CARD", "amount": "1e5"}))
            .expect(400, v),
        post("amount negative", "/api/v1/payments", Some(payer), json!({"booking_id": booking, "payment_method": "CARD", "amount": "-1"}))
            .expect(400, v),
        post("payment on someone else's booking", "/api/v1/payments", Some(probe), json!({"booking_id": booking, "payment_method": "CARD"}))
            .expect(404, "NOT_FOUND"),
        // Business references that do not fit.
        post("promo code that does not exist", "/api/v1/bookings", Some(probe), json!({"event_id": event_a, "quantity": 1, "promo_code": "NOSUCHCODE"}))
            .expect(409, "PROMO_CODE_INVALID"),
        post("price option of another event", "/api/v1/bookings", Some(probe), json!({"event_id": event_a, "quantity": 1, "price_option_id": option_b}))
            .expect(409, "PRICE_OPTION_UNAVAILABLE"),
        post("booking a DRAFT event", "/api/v1/bookings", Some(probe), json!({"event_id": draft, "quantity": 1}))
            .expect(404, "NOT_FOUND"),
        post("booking an unknown event", "/api/v1/bookings", Some(probe), json!({"event_id": 987_654_321, "quantity": 1}))
            .expect(404, "NOT_FOUND"),
        post("booking event id 0", "/api/v1/bookings", Some(probe), json!({"event_id": 0, "quantity": 1}))
            .expect(404, "NOT_FOUND"),
        get("DRAFT event seen by a guest", &format!("/api/v1/events/{draft}"), None).expect(404, "NOT_FOUND"),
    ];
        assert!(cases.len() >= 30, "{} cases", cases.len());

        let total = cases.len();
        let mut failures = Vec::new();
        for c in cases {
            if let Err(e) = run(&app, c).await {
                failures.push(e);
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {total} cases failed:\n{}",
            failures.len(),
            failures.join("\n")
        );

        // Nothing was half-written: the catalog holds exactly the three setup events…
        let (status, all) = app
            .get(
                "/api/v1/events?status=DRAFT,PUBLISHED,COMPLETED,CANCELED&size=100",
                Some(admin()),
            )
            .await;
        assert_eq!(status, 200, "{all}");
        assert_eq!(all["total_elements"], 3, "{all}");
        // …the probing user has no booking, the only booking is the setup one, untouched and unpaid…
        let (status, mine) = app.get("/api/v1/bookings", Some(probe)).await;
        assert_eq!(status, 200, "{mine}");
        assert_eq!(mine["total_elements"], 0, "{mine}");
        let (status, every) = app.get("/api/v1/bookings?size=100", Some(admin())).await;
        assert_eq!(status, 200, "{every}");
        assert_eq!(every["total_elements"], 1, "{every}");
        let (status, setup) = app
            .get(&format!("/api/v1/bookings/{booking}"), Some(payer))
            .await;
        assert_eq!(status, 200, "{setup}");
        assert_eq!(setup["status"], "PENDING_PAYMENT", "{setup}");
        assert_eq!(setup["payments"], json!([]), "{setup}");
        // …and the seats: one taken on A, none elsewhere; the draft kept its name.
        let (_, a) = app.get(&format!("/api/v1/events/{event_a}"), None).await;
        assert_eq!(a["available_seats"], 9, "{a}");
        let (_, d) = app.get(&format!("/api/v1/events/{draft}"), Some(org)).await;
        assert_eq!(d["name"], "Rafting", "{d}");
    }
);
