//! `spawn_app()`: the real service (same wiring as the binary) on a random port, against a
//! private database (a copy of the migrated template, see the `test-db` crate), with a manual
//! clock, driven over HTTP.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (default: the local server). When it does not
//! answer, the test prints `SKIPPED (no postgres at …)` and returns, unless
//! `EVENT_TEST_REQUIRE_SERVICES=1` (CI) makes that a failure.

use std::net::SocketAddr;
use std::sync::Arc;

use application::clock::ManualClock;
use bootstrap::config::MapEnv;
use bootstrap::{Config, Overrides};
use chrono::{TimeZone, Utc};
use domain::Timestamp;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use test_db::FreshDatabase;

pub use test_db::Backend;

/// A fixed "now" for tests: 2027-03-01 10:00 UTC.
pub fn start_time() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 3, 1, 10, 0, 0).unwrap()
}

/// A running app. Dropping it stops the server and removes its database.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub services: bootstrap::Services,
    pub backend: Backend,
    /// Where the gRPC server of the same app listens.
    pub grpc_addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    /// The relay loop and the scheduler; they stop when this drops (or on `stop_background`).
    background: Option<bootstrap::background::Background>,
    /// Keeps the gRPC server running: it stops when the app is dropped.
    _grpc: bootstrap::GrpcServer,
    /// Declared last: removed after everything above has let go of it.
    /// Owns (and drops) the test database; `None` for a second instance on another's.
    _database: Option<FreshDatabase>,
    database_url: String,
}

/// A caller: the trusted gateway headers of the test profile.
#[derive(Debug, Clone, Copy)]
pub struct Who {
    pub id: uuid::Uuid,
    pub role: &'static str,
}

pub fn user(n: u128) -> Who {
    Who {
        id: uuid::Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 + n),
        role: "USER",
    }
}

pub fn organizer(n: u128) -> Who {
    Who {
        id: uuid::Uuid::from_u128(0x2000_0000_0000_4000_8000_0000_0000_0000 + n),
        role: "ORGANIZER",
    }
}

pub fn admin() -> Who {
    Who {
        id: uuid::Uuid::from_u128(0x3000_0000_0000_4000_8000_0000_0000_0001),
        role: "ADMIN",
    }
}

/// Starts the app on `backend`; `None` when PostgreSQL is absent and not required.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, &[]).await
}

/// Starts the app with extra `APP__…` settings.
pub async fn spawn_app_with(backend: Backend, env: &[(&str, &str)]) -> Option<TestApp> {
    spawn_app_publishing(backend, env, None).await
}

/// Starts the app with extra settings and, when given, this broker publisher instead of the
/// one `broker.url` selects.
pub async fn spawn_app_publishing(
    backend: Backend,
    env: &[(&str, &str)],
    publisher: Option<Arc<dyn application::ports::MessagePublisher>>,
) -> Option<TestApp> {
    spawn_app_reaching(backend, env, publisher, &|url| url.to_owned()).await
}

/// Starts the app with its database URL rewritten by `database_url` (fault tests put a proxy
/// between the app and PostgreSQL).
pub async fn spawn_app_reaching(
    backend: Backend,
    env: &[(&str, &str)],
    publisher: Option<Arc<dyn application::ports::MessagePublisher>>,
    database_url: &(dyn Fn(&str) -> String + Sync),
) -> Option<TestApp> {
    let database = FreshDatabase::migrated(backend).await?;
    let url = database_url(&database.config.url);
    Some(start_on(backend, Some(database), url, env, publisher).await)
}

/// A second instance of the app on `first`'s database (as two pods share one).
pub async fn spawn_app_on(first: &TestApp, env: &[(&str, &str)]) -> TestApp {
    start_on(first.backend, None, first.database_url.clone(), env, None).await
}

async fn start_on(
    backend: Backend,
    database: Option<FreshDatabase>,
    url: String,
    env: &[(&str, &str)],
    publisher: Option<Arc<dyn application::ports::MessagePublisher>>,
) -> TestApp {
    let mut vars: Vec<(String, String)> = vec![
        ("APP_PROFILE".into(), "test".into()),
        ("APP__DATABASE__URL".into(), url.clone()),
    ];
    if backend == Backend::Postgres {
        vars.push(("APP__DATABASE__MAX_CONNECTIONS".into(), "30".into()));
    }
    for (k, v) in env {
        vars.push(((*k).to_owned(), (*v).to_owned()));
    }
    let mut config = Config::load_from(&MapEnv(vars), None).expect("test configuration");
    config.server.host = "127.0.0.1".to_owned();
    config.server.port = 0;
    config.grpc.port = 0;
    config.server.workers = 2;
    let clock = Arc::new(ManualClock::new(start_time()));
    let running = bootstrap::start(
        &config,
        Overrides {
            clock: Some(clock.clone()),
            publisher,
        },
    )
    .await
    .expect("the app starts");
    let addr = running.http_addr;
    let handle = running.handle();
    let services = running.services.clone();
    let background = running.background;
    let grpc_addr = running.grpc.addr;
    let grpc = running.grpc;
    tokio::spawn(running.server);
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap(),
        clock,
        services,
        backend,
        grpc_addr,
        handle,
        background: Some(background),
        _grpc: grpc,
        _database: database,
        database_url: url,
    }
}

impl TestApp {
    /// Stops the relay loop and the scheduler and waits until they have stopped: nothing
    /// publishes after this returns.
    pub async fn stop_background(&mut self) {
        if let Some(background) = self.background.take() {
            background.shutdown().await;
        }
    }

    /// A request to `path` (absolute, e.g. `/api/v1/events`) as `who` (None = guest).
    pub fn req(&self, method: Method, path: &str, who: Option<Who>) -> RequestBuilder {
        let mut r = self.client.request(method, format!("{}{path}", self.base));
        if let Some(w) = who {
            r = r
                .header("X-User-Id", w.id.to_string())
                .header("X-User-Role", w.role);
        }
        r
    }

    /// Sends and answers (status, JSON body or Null).
    pub async fn send(&self, r: RequestBuilder) -> (u16, Value) {
        let response = r.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, who: Option<Who>) -> (u16, Value) {
        self.send(self.req(Method::GET, path, who)).await
    }

    pub async fn post(&self, path: &str, who: Option<Who>, body: Value) -> (u16, Value) {
        self.send(self.req(Method::POST, path, who).json(&body))
            .await
    }

    pub async fn put(&self, path: &str, who: Option<Who>, body: Value) -> (u16, Value) {
        self.send(self.req(Method::PUT, path, who).json(&body))
            .await
    }

    /// Creates and publishes an event as `who`, `days` ahead of the clock; answers its id.
    pub async fn published_event(&self, who: Who, seats: u32, price: &str, days: i64) -> i64 {
        let start = self.clock_now() + chrono::Duration::days(days);
        let (status, body) = self
            .post(
                "/api/v1/events",
                Some(who),
                serde_json::json!({
                    "name": "E2E event",
                    "start_date": start.to_rfc3339(),
                    "max_participants": seats,
                    "price": price,
                    "booking_deadline_hours": 0,
                    "auto_publish": true,
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().unwrap()
    }

    pub fn clock_now(&self) -> Timestamp {
        use application::clock::Clock;
        self.clock.now()
    }

    /// Books `quantity` seats as `who`, which must be accepted (201); answers the booking.
    pub async fn book(&self, who: Who, event_id: i64, quantity: u32) -> Value {
        let (status, booking) = self
            .post(
                "/api/v1/bookings",
                Some(who),
                serde_json::json!({"event_id": event_id, "quantity": quantity}),
            )
            .await;
        assert_eq!(status, 201, "{booking}");
        booking
    }

    /// Cancels booking `id` as `who` with `body`, which must succeed (200); answers the booking.
    pub async fn cancel_booking(&self, who: Who, id: i64, body: Value) -> Value {
        let (status, canceled) = self
            .post(&format!("/api/v1/bookings/{id}/cancel"), Some(who), body)
            .await;
        assert_eq!(status, 200, "{canceled}");
        canceled
    }

    /// Starts paying booking `booking_id` by card as `who`, which must be accepted (201);
    /// answers the payment.
    pub async fn pay(&self, who: Who, booking_id: i64) -> Value {
        let (status, payment) = self
            .post(
                "/api/v1/payments",
                Some(who),
                serde_json::json!({"booking_id": booking_id, "payment_method": "CARD"}),
            )
            .await;
        assert_eq!(status, 201, "{payment}");
        payment
    }

    /// Books and pays through the sandbox; answers (booking id, payment id).
    pub async fn confirmed_booking(&self, who: Who, event_id: i64, quantity: u32) -> (i64, i64) {
        let booking = self.book(who, event_id, quantity).await;
        let booking_id = booking["id"].as_i64().unwrap();
        let payment = self.pay(who, booking_id).await;
        let reference = payment["gateway_reference"].as_str().unwrap().to_owned();
        let (status, paid) = self
            .post(
                &format!("/sandbox/payments/{reference}"),
                None,
                serde_json::json!({"outcome": "success"}),
            )
            .await;
        assert_eq!(status, 200, "{paid}");
        assert_eq!(paid["status"], "COMPLETED", "{paid}");
        (booking_id, payment["id"].as_i64().unwrap())
    }
}

impl TestApp {
    /// The URL of the app's database (what a second process of the binary is given).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop without waiting: the runtime of the test is ending. The database goes with the
        // `_database` field.
        drop(self.handle.stop(false));
    }
}

/// Runs the body against SQLite and PostgreSQL.
macro_rules! on_both {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = $crate::support::spawn_app($crate::support::Backend::Sqlite)
                    .await
                    .unwrap();
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($app) =
                    $crate::support::spawn_app($crate::support::Backend::Postgres).await
                else {
                    return;
                };
                $body
            }
        }
    };
}

/// `available + booked + held = capacity` for the event; answers (available, booked, held).
pub async fn assert_invariant(app: &TestApp, event_id: i64) -> (u32, u64, u64) {
    let tx = app.services.uow.begin().await.unwrap();
    let event = tx
        .events()
        .find(domain::EventId(event_id))
        .await
        .unwrap()
        .expect("event exists");
    let booked = tx
        .bookings()
        .seats_held(domain::EventId(event_id))
        .await
        .unwrap();
    let held = tx
        .waitlist()
        .held_seats(domain::EventId(event_id))
        .await
        .unwrap();
    let available = event.seats.available();
    assert_eq!(
        u64::from(available) + booked + held,
        u64::from(event.seats.capacity()),
        "seat invariant of event {event_id}: available {available} + booked {booked} + held {held}"
    );
    (available, booked, held)
}
