//! Observability end to end: `/actuator/prometheus` after a booking flow (business counters
//! moved by the right amounts, HTTP histogram by route template, seats of the events in sale),
//! the Grafana dashboard against the exported names, the Kubernetes probes with PostgreSQL cut
//! off, problem+json carrying the request and trace ids, runtime log levels, and the alert
//! rules through `promtool` when it is installed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::support::*;

/// One sample of a Prometheus text: name, labels, value.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = text;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim_start_matches(',').trim().to_owned();
        let after = &rest[eq + 2..];
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.push((key, value));
        rest = &after[end..];
    }
    labels
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, parse_labels(labels.trim_end_matches('}'))),
                None => (series, Vec::new()),
            };
            Some(Sample {
                name: name.to_owned(),
                labels,
                value,
            })
        })
        .collect()
}

/// The sum of the samples of `name` carrying every label of `labels`.
pub(crate) fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .map(|s| s.value)
        .sum()
}

pub(crate) async fn scrape(app: &TestApp) -> Vec<Sample> {
    let response = app
        .req(reqwest::Method::GET, "/actuator/prometheus", Some(admin()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
    );
    parse(&response.text().await.unwrap())
}

const BUSINESS: &[&str] = &[
    "aquastream_bookings_created_total",
    "aquastream_bookings_confirmed_total",
    "aquastream_bookings_canceled_total",
    "aquastream_bookings_expired_total",
    "aquastream_waitlist_processed_total",
    "aquastream_events_completed_total",
];

on_both!(
    a_booking_flow_moves_the_business_counters_and_the_route_histogram,
    |app| {
        // ADMIN only on the main port
        let (status, body) = app.get("/actuator/prometheus", None).await;
        assert_eq!(status, 401, "{body}");
        let (status, body) = app.get("/actuator/prometheus", Some(user(9))).await;
        assert_eq!(status, 403, "{body}");

        let before = scrape(&app).await;
        for name in BUSINESS {
            assert!(
                before.iter().any(|s| s.name == *name),
                "{name} is not exported"
            );
        }
        let event_id = app.published_event(organizer(1), 5, "100.00", 10).await;
        let (alice, bob) = (user(1), user(2));
        app.confirmed_booking(alice, event_id, 1).await;
        let bob_booking = app.book(bob, event_id, 1).await;
        // refused and rolled back: counted nowhere
        let (status, body) = app
            .post(
                "/api/v1/bookings",
                Some(bob),
                json!({"event_id": event_id, "quantity": 1}),
            )
            .await;
        assert_eq!(status, 409, "{body}");
        app.cancel_booking(bob, bob_booking["id"].as_i64().unwrap(), json!({}))
            .await;

        let after = scrape(&app).await;
        let moved = |name: &str, labels: &[(&str, &str)]| {
            total(&after, name, labels) - total(&before, name, labels)
        };
        assert_eq!(moved("aquastream_bookings_created_total", &[]), 2.0);
        assert_eq!(moved("aquastream_bookings_confirmed_total", &[]), 1.0);
        assert_eq!(moved("aquastream_bookings_canceled_total", &[]), 1.0);
        assert_eq!(moved("aquastream_bookings_expired_total", &[]), 0.0);
        assert_eq!(
            moved("aquastream_payments_total", &[("outcome", "succeeded")]),
            1.0
        );
        assert_eq!(
            moved("aquastream_payments_total", &[("outcome", "failed")]),
            0.0
        );

        // the HTTP histogram is labelled with route templates, never raw paths
        let route_count = |route: &str, status: &str| {
            total(
                &after,
                "http_server_request_duration_seconds_count",
                &[("route", route), ("status", status)],
            )
        };
        assert!(route_count("/api/v1/bookings", "201") >= 2.0);
        assert!(route_count("/api/v1/bookings", "409") >= 1.0);
        assert!(route_count("/api/v1/bookings/{id}/cancel", "200") >= 1.0);
        assert!(
            after
                .iter()
                .filter(|s| s.name.starts_with("http_server_request_duration_seconds"))
                .all(|s| s.labels.iter().all(|(k, v)| k != "route"
                    || !v
                        .split('/')
                        .any(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit())))),
            "a raw path became a route label"
        );
        assert!(
            total(
                &after,
                "http_server_request_duration_seconds_bucket",
                &[("route", "/api/v1/bookings"), ("le", "+Inf")]
            ) >= 3.0
        );

        // seats of the events in sale: 5 − alice's confirmed seat (bob's was released)
        assert_eq!(
            total(
                &after,
                "aquastream_seats_available",
                &[("event_id", &event_id.to_string())]
            ),
            4.0
        );
        // the scrape itself is in flight while it renders
        assert!(total(&after, "http_server_active_requests", &[]) >= 1.0);
        // pool and process gauges are there
        assert!(total(&after, "aquastream_db_pool_max_connections", &[]) >= 1.0);
        assert!(total(&after, "process_resident_memory_bytes", &[]) > 0.0);
        assert_eq!(total(&after, "aquastream_build_info", &[]), 1.0);
    }
);

on_both!(the_dashboard_uses_only_exported_metrics, |app| {
    // one of everything the dashboard charts: a booking, a job run, a gRPC call
    let event_id = app.published_event(organizer(1), 5, "100.00", 10).await;
    app.confirmed_booking(user(1), event_id, 1).await;
    let (status, body) = app
        .post("/internal/jobs/expire-bookings", Some(admin()), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", app.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic_health::pb::health_client::HealthClient::new(channel);
    grpc.check(tonic_health::pb::HealthCheckRequest {
        service: String::new(),
    })
    .await
    .unwrap();

    let (status, listed) = app.get("/actuator/metrics", Some(admin())).await;
    assert_eq!(status, 200, "{listed}");
    let exported: BTreeSet<String> = listed["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    for name in BUSINESS {
        assert!(
            exported.contains(*name),
            "{name} missing from /actuator/metrics"
        );
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/grafana/backend-event.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let used = metric_names_in_dashboard(&dashboard);
    assert!(used.len() >= 10, "{used:?}");
    let missing: Vec<&String> = used
        .iter()
        .filter(|name| {
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            !exported.contains(name.as_str()) && !exported.contains(base)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard charts unexported metrics: {missing:?}"
    );
});

/// Every metric name in the `expr` of the dashboard's targets: identifiers followed by `{`,
/// `[` or `)`, or standing alone, that are not PromQL functions or keywords.
fn metric_names_in_dashboard(dashboard: &Value) -> BTreeSet<String> {
    fn exprs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "expr" {
                        if let Some(e) = v.as_str() {
                            out.push(e.to_owned());
                        }
                    } else {
                        exprs(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| exprs(i, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    exprs(dashboard, &mut all);
    let mut names = BTreeSet::new();
    for expr in all {
        // label matchers and strings are not names
        let mut cleaned = String::new();
        let (mut in_braces, mut in_string) = (false, false);
        for c in expr.chars() {
            match c {
                '"' => in_string = !in_string,
                '{' if !in_string => in_braces = true,
                '}' if !in_string => in_braces = false,
                _ if in_braces || in_string => {}
                c => cleaned.push(c),
            }
        }
        // the label lists of `by (…)` / `without (…)` are not names either
        let mut rest = cleaned.as_str();
        let mut kept = String::new();
        while let Some(at) = ["by", "without"]
            .iter()
            .filter_map(|kw| {
                rest.match_indices(kw).find(|(i, _)| {
                    let before_ok = *i == 0
                        || !rest[..*i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
                    before_ok && rest[i + kw.len()..].trim_start().starts_with('(')
                })
            })
            .map(|(i, _)| i)
            .min()
        {
            kept.push_str(&rest[..at]);
            let close = rest[at..].find(')').map_or(rest.len(), |c| at + c + 1);
            rest = &rest[close..];
        }
        kept.push_str(rest);
        for token in kept.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
            if token.is_empty() || token.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                continue;
            }
            const PROMQL: &[&str] = &[
                "sum",
                "rate",
                "irate",
                "increase",
                "histogram_quantile",
                "max",
                "min",
                "avg",
                "count",
                "time",
                "le",
                "topk",
                "bottomk",
                "clamp_min",
                "clamp_max",
                "delta",
                "deriv",
                "abs",
                "and",
                "or",
                "unless",
                "offset",
                "vector",
                "scalar",
                "max_over_time",
                "min_over_time",
                "avg_over_time",
                "label_replace",
            ];
            if PROMQL.contains(&token) || token.starts_with('$') {
                continue;
            }
            if token.contains('_') {
                names.insert(token.to_owned());
            }
        }
    }
    names
}

on_both!(problems_carry_the_request_and_trace_ids, |app| {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = app
        .req(reqwest::Method::GET, "/api/v1/events/999999", None)
        .header("X-Request-Id", "req-42")
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], "req-42", "{body}");
    assert_eq!(body["trace_id"], trace, "{body}");
    // refused before any handler: the same ids
    let r = app
        .req(reqwest::Method::POST, "/api/v1/bookings", Some(user(1)))
        .header("X-Request-Id", "req-43")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], "req-43", "{body}");
    assert!(body.get("trace_id").is_none(), "{body}");
});

on_both!(probes_answer_and_details_stay_with_admins, |app| {
    let (status, body) = app.get("/actuator/health/liveness", None).await;
    assert_eq!((status, &body["status"]), (200, &json!("UP")));
    let (status, body) = app.get("/actuator/health/readiness", None).await;
    assert_eq!((status, &body["status"]), (200, &json!("UP")));
    assert!(body.get("components").is_none(), "{body}");
    let (_, body) = app.get("/actuator/health/readiness", Some(admin())).await;
    assert_eq!(body["components"]["db"]["status"], "UP", "{body}");
    assert_eq!(body["components"]["db"]["critical"], true, "{body}");
    assert!(
        body["components"]["outbox"]["latency_ms"].is_number(),
        "{body}"
    );
    // the test profile takes payments through the sandbox: up
    assert_eq!(body["components"]["payment"]["status"], "UP", "{body}");
    assert_eq!(body["components"]["payment"]["critical"], false, "{body}");
    // no crew service configured: no component
    assert!(body["components"].get("crew").is_none(), "{body}");
    // free space is watched for the embedded SQLite file only
    let disk = &body["components"]["diskSpace"];
    match app.backend {
        Backend::Sqlite => {
            assert_eq!(disk["status"], "UP", "{body}");
            assert!(
                disk["detail"].as_str().unwrap().contains("bytes free"),
                "{body}"
            );
        }
        Backend::Postgres => assert!(disk.is_null(), "{body}"),
    }
});

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_components_go_down_without_failing_readiness() {
    let unreachable = format!("http://127.0.0.1:{}", closed_port());
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("APP__PAYMENTS__DEFAULT_GATEWAY", "http"),
            ("APP__PAYMENTS__GATEWAYS__HTTP__URL", &unreachable),
            ("APP__SERVICES__CREW__URL", &unreachable),
            // more free megabytes than any test machine has
            ("APP__MANAGEMENT__DISK_SPACE_THRESHOLD_MB", "1000000000000"),
        ],
    )
    .await
    .unwrap();
    let (status, body) = app.get("/actuator/health/readiness", Some(admin())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "UP", "{body}");
    let components = &body["components"];
    assert_eq!(components["db"]["status"], "UP", "{body}");
    for name in ["payment", "crew", "diskSpace"] {
        assert_eq!(components[name]["status"], "DOWN", "{name}: {body}");
        assert_eq!(components[name]["critical"], false, "{name}: {body}");
    }
    assert!(
        components["payment"]["detail"]
            .as_str()
            .unwrap()
            .contains("http: DOWN"),
        "{body}"
    );
    // everyone else gets the status only
    let (status, body) = app.get("/actuator/health/readiness", None).await;
    assert_eq!((status, &body["status"]), (200, &json!("UP")));
    assert!(body.get("components").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_recording_can_be_switched_off() {
    let app = spawn_app_with(Backend::Sqlite, &[("APP__METRICS__ENABLED", "false")])
        .await
        .unwrap();
    let (status, body) = app.get("/actuator/prometheus", Some(admin())).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app.get("/actuator/metrics", Some(admin())).await;
    assert_eq!(status, 404, "{body}");
    // the service itself works as before
    let event_id = app.published_event(organizer(1), 5, "100.00", 10).await;
    app.confirmed_booking(user(1), event_id, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_levels_change_at_run_time() {
    // the subscriber is global: installed here as the binary does; when another one was
    // installed first in this process (several tests in one process), the endpoint says so
    // with 404 and there is nothing to check
    let installed = bootstrap::telemetry::init("warn", bootstrap::config::LogFormat::Json);
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (status, _) = app.get("/actuator/loggers", Some(user(1))).await;
    assert_eq!(status, 403);
    let (status, body) = app
        .post(
            "/actuator/loggers/sqlx::query",
            Some(admin()),
            json!({"level": "loud"}),
        )
        .await;
    if installed.is_none() {
        assert_eq!(status, 404, "{body}");
        return;
    }
    assert_eq!(status, 400, "{body}");
    // only an object with `level`: an array, another field or no field changes nothing
    for bad in [
        json!([null]),
        json!({"configuredLevel": "debug"}),
        json!({}),
    ] {
        let (status, body) = app
            .post("/actuator/loggers/ROOT", Some(admin()), bad.clone())
            .await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    let (_, body) = app.get("/actuator/loggers", Some(admin())).await;
    assert_eq!(body["levels"]["ROOT"], "warn", "{body}");
    let (status, body) = app
        .post(
            "/actuator/loggers/sqlx::query",
            Some(admin()),
            json!({"level": "debug"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["levels"]["sqlx::query"], "debug", "{body}");
    assert!(tracing::enabled!(target: "sqlx::query", tracing::Level::DEBUG));
    let (_, body) = app.get("/actuator/loggers", Some(admin())).await;
    assert_eq!(body["levels"]["sqlx::query"], "debug", "{body}");
    let (status, body) = app
        .post(
            "/actuator/loggers/sqlx::query",
            Some(admin()),
            json!({"level": null}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["levels"].get("sqlx::query").is_none(), "{body}");
    assert!(!tracing::enabled!(target: "sqlx::query", tracing::Level::DEBUG));
}

/// A TCP proxy (to PostgreSQL, Redis) that can be cut: while cut, it closes every connection it holds
/// and every new one at once.
pub(crate) struct CuttableProxy {
    pub(crate) addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CuttableProxy {
    pub(crate) async fn to(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (cut2, conns2) = (Arc::clone(&cut), Arc::clone(&connections));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if cut2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().unwrap().push(task);
            }
        });
        Self {
            addr,
            cut,
            connections,
        }
    }

    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub(crate) fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// The app on a fresh PostgreSQL database reached through a [`CuttableProxy`], with `env`;
/// `None` when PostgreSQL is absent (and not required).
pub(crate) async fn spawn_app_behind_proxy(
    env: &[(&str, &str)],
) -> Option<(TestApp, CuttableProxy)> {
    let target = {
        let url = test_db::postgres_url();
        let after_at = url.rsplit_once('@').map_or(url.as_str(), |(_, h)| h);
        let host_port = after_at.split('/').next().unwrap_or("127.0.0.1:5432");
        if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:5432")
        }
    };
    let proxy = CuttableProxy::to(target.clone()).await;
    let proxied = format!("127.0.0.1:{}", proxy.addr.port());
    let rewrite = move |url: &str| url.replacen(&target, &proxied, 1);
    let app = spawn_app_reaching(Backend::Postgres, env, None, &rewrite).await?;
    Some((app, proxy))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_and_liveness_holds_while_postgres_is_unreachable() {
    let Some((app, proxy)) =
        spawn_app_behind_proxy(&[("APP__DATABASE__ACQUIRE_TIMEOUT_SECONDS", "1")]).await
    else {
        return;
    };
    let (status, _) = app.get("/actuator/health/readiness", None).await;
    assert_eq!(status, 200);

    proxy.cut();
    let (status, body) = app.get("/actuator/health/readiness", Some(admin())).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["components"]["db"]["status"], "DOWN", "{body}");
    let (status, body) = app.get("/actuator/health/liveness", None).await;
    assert_eq!((status, &body["status"]), (200, &json!("UP")));

    proxy.restore();
    let mut ready = false;
    for _ in 0..50 {
        if app.get("/actuator/health/readiness", None).await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "readiness did not come back with the database");
}

#[test]
fn the_alert_rules_pass_promtool() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let rules = format!("{root}/deploy/prometheus/alerts.yml");
    let tests = format!("{root}/deploy/prometheus/alerts.test.yml");
    let Ok(check) = std::process::Command::new("promtool")
        .args(["check", "rules", &rules])
        .output()
    else {
        assert!(
            !test_db::require_services(),
            "promtool is required (Debian package `prometheus`)"
        );
        println!("SKIPPED (no promtool)");
        return;
    };
    assert!(
        check.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let test = std::process::Command::new("promtool")
        .args(["test", "rules", &tests])
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
}

on_both!(
    business_counters_move_only_when_the_transaction_commits,
    |app| {
        use application::outbox::{DomainEventType, OutboxMessage};
        let message = || {
            OutboxMessage::new(
                DomainEventType::BookingExpired,
                "booking",
                424_242,
                2,
                json!({}),
                app.clock_now(),
            )
        };
        let expired = |samples: &[Sample]| total(samples, "aquastream_bookings_expired_total", &[]);
        let before = expired(&scrape(&app).await);

        // rolled back (dropped without commit): not counted
        let tx = app.services.uow.begin().await.unwrap();
        tx.outbox().enqueue(message()).await.unwrap();
        drop(tx);
        assert_eq!(expired(&scrape(&app).await), before);

        // committed: counted once per row
        let tx = app.services.uow.begin().await.unwrap();
        tx.outbox().enqueue(message()).await.unwrap();
        tx.outbox().enqueue(message()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(expired(&scrape(&app).await), before + 2.0);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_management_port_serves_the_actuator_without_credentials() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("APP__MANAGEMENT__PORT", &port.to_string())],
    )
    .await
    .unwrap();
    let management = format!("http://127.0.0.1:{port}");
    let get = |path: &str| app.client.get(format!("{management}{path}")).send();
    let r = get("/actuator/prometheus").await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("aquastream_bookings_created_total"), "{text}");
    let r = get("/actuator/health/readiness").await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["components"]["db"]["status"], "UP", "{body}");
    // the API is not served there
    assert_eq!(get("/api/v1/events").await.unwrap().status(), 404);
    // and the main port still wants an admin
    let (status, _) = app.get("/actuator/prometheus", None).await;
    assert_eq!(status, 401);
}

/// An in-test OTLP collector: the trace service of `opentelemetry-proto`, keeping every span.
#[derive(Default, Clone)]
struct Collector {
    spans: Arc<std::sync::Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>>,
}

#[async_trait::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService
    for Collector
{
    async fn export(
        &self,
        request: tonic::Request<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
        >,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
        >,
        tonic::Status,
    > {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse {
                partial_success: None,
            },
        ))
    }
}

type OtlpSpan = opentelemetry_proto::tonic::trace::v1::Span;

/// A string or integer attribute of an exported span, as text.
fn attribute(span: &OtlpSpan, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| match v.value.as_ref()? {
            V::StringValue(s) => Some(s.clone()),
            V::IntValue(i) => Some(i.to_string()),
            V::BoolValue(b) => Some(b.to_string()),
            other => Some(format!("{other:?}")),
        })
}

impl Collector {
    /// Starts the collector on a free port; answers its OTLP/gRPC endpoint.
    async fn start() -> (Self, String) {
        use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
        let collector = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector.clone()))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        (collector, endpoint)
    }

    /// The exported spans of `trace`, once `until` holds for them (flushing meanwhile); panics
    /// after 5 s with what arrived.
    async fn trace(&self, trace: &str, until: impl Fn(&[OtlpSpan]) -> bool) -> Vec<OtlpSpan> {
        let mut spans = Vec::new();
        for _ in 0..50 {
            bootstrap::telemetry::flush_traces();
            spans = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|s| hex(&s.trace_id) == trace)
                .cloned()
                .collect();
            if until(&spans) {
                return spans;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let names: Vec<(&str, String, String)> = spans
            .iter()
            .map(|s| (s.name.as_str(), hex(&s.span_id), hex(&s.parent_span_id)))
            .collect();
        panic!("trace {trace} incomplete: {names:?}");
    }
}

/// The one span named `name` in `spans`.
fn named<'a>(spans: &'a [OtlpSpan], name: &str) -> &'a OtlpSpan {
    let found: Vec<&OtlpSpan> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    found[0]
}

/// A collector, the global subscriber exporting to it, and the app (publishing to RabbitMQ
/// with a consumer bound to `booking.created`, when the broker answers); `None` when a
/// subscriber was installed before (nothing to check) or the backend is missing.
#[allow(clippy::print_stdout)] // the SKIPPED notes of the test output
async fn traced_app(
    backend: Backend,
) -> Option<(
    Collector,
    TestApp,
    Option<adapters_messaging::testing::TestConsumer>,
)> {
    let (collector, endpoint) = Collector::start().await;
    // the subscriber is global: when another one was installed first in this process there is
    // no exporter to check
    if bootstrap::telemetry::init_with_traces(
        "warn,adapters_http=info",
        bootstrap::config::LogFormat::Json,
        Some(&endpoint),
    )
    .is_none()
    {
        println!("SKIPPED (a tracing subscriber was installed before this test)");
        return None;
    }
    let url = adapters_messaging::testing::amqp_url();
    let broker = adapters_messaging::testing::broker_reachable(&url);
    assert!(
        broker || !test_db::require_services(),
        "RabbitMQ at {url} is required but does not answer"
    );
    let exchange = adapters_messaging::testing::unique_name("e2e.otel");
    let consumer = if broker {
        Some(
            adapters_messaging::testing::TestConsumer::bind(&url, &exchange, &["booking.created"])
                .await
                .unwrap(),
        )
    } else {
        println!("SKIPPED the broker part (no RabbitMQ at {url})");
        None
    };
    let env: Vec<(&str, &str)> = if broker {
        vec![
            ("APP__BROKER__URL", url.as_str()),
            ("APP__BROKER__EXCHANGE", exchange.as_str()),
            ("APP__BROKER__RELAY_ENABLED", "true"),
            ("APP__BROKER__RELAY_POLL_INTERVAL_MS", "20"),
        ]
    } else {
        Vec::new()
    };
    let app = spawn_app_with(backend, &env).await?;
    Some((collector, app, consumer))
}

/// The trace of one booking made through an edge whose server span is `edge`: the edge span
/// continues the caller's span, the use case is its child, the SQL statements (`db.system`)
/// and the outbox publish are the use case's children, and the consumer receives the same
/// trace id in the AMQP `traceparent` header.
async fn assert_the_booking_trace(
    collector: &Collector,
    consumer: Option<&mut adapters_messaging::testing::TestConsumer>,
    backend: Backend,
    (trace, caller_span): (&str, &str),
    edge: &str,
) {
    let db_system = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
    };
    let published = consumer.is_some();
    let spans = collector
        .trace(trace, |spans| {
            spans.iter().any(|s| s.name == edge)
                && spans.iter().any(|s| s.name == "BookingService.create")
                && spans
                    .iter()
                    .any(|s| attribute(s, "db.operation").as_deref() == Some("INSERT"))
                && (!published || spans.iter().any(|s| s.name == "outbox.publish"))
        })
        .await;
    let edge_span = named(&spans, edge);
    assert_eq!(hex(&edge_span.parent_span_id), caller_span);
    let use_case = named(&spans, "BookingService.create");
    assert_eq!(use_case.parent_span_id, edge_span.span_id);
    let statements: Vec<&OtlpSpan> = spans
        .iter()
        .filter(|s| attribute(s, "db.system").is_some())
        .collect();
    assert!(
        statements
            .iter()
            .all(|s| attribute(s, "db.system").as_deref() == Some(db_system)),
        "{statements:?}"
    );
    // the booking's statements run in its event's batch transaction, under the use case
    let descends_from_use_case = |span: &OtlpSpan| {
        let mut parent = span.parent_span_id.clone();
        while !parent.is_empty() {
            if parent == use_case.span_id {
                return true;
            }
            parent = spans
                .iter()
                .find(|s| s.span_id == parent)
                .map(|s| s.parent_span_id.clone())
                .unwrap_or_default();
        }
        false
    };
    assert!(
        statements.iter().any(|s| descends_from_use_case(s)
            && s.name.starts_with("sea_orm.")
            && attribute(s, "db.operation").as_deref() == Some("INSERT")),
        "no INSERT statement span under the use case: {statements:?}"
    );
    let Some(consumer) = consumer else {
        return;
    };
    let publish = named(&spans, "outbox.publish");
    assert_eq!(publish.parent_span_id, use_case.span_id);
    assert_eq!(
        attribute(publish, "messaging.system").as_deref(),
        Some("rabbitmq")
    );
    let message = consumer
        .next(std::time::Duration::from_secs(10))
        .await
        .expect("booking.created reaches the consumer");
    assert_eq!(message.routing_key, "booking.created");
    let traceparent = message
        .traceparent
        .expect("the message carries traceparent");
    assert_eq!(trace_of(&traceparent), trace, "{traceparent}");
}

async fn http_traces(backend: Backend) {
    let Some((collector, app, mut consumer)) = traced_app(backend).await else {
        return;
    };
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = app
        .req(reqwest::Method::GET, "/api/v1/events/999999", None)
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["trace_id"], trace, "{body}");
    let spans = collector
        .trace(trace, |spans| {
            spans.iter().any(|s| s.name == "http_request")
        })
        .await;
    let span = named(&spans, "http_request");
    // a child of the caller's span, labelled with the route template
    assert_eq!(hex(&span.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(
        attribute(span, "http.route").as_deref(),
        Some("/api/v1/events/{id}")
    );
    let use_case = named(&spans, "EventService.get");
    assert_eq!(use_case.parent_span_id, span.span_id);

    let booking_trace = "0af7651916cd43dd8448eb211c80319c";
    let event_id = app.published_event(organizer(1), 5, "100.00", 10).await;
    let r = app
        .req(reqwest::Method::POST, "/api/v1/bookings", Some(user(1)))
        .header(
            "traceparent",
            format!("00-{booking_trace}-b7ad6b7169203331-01"),
        )
        .json(&json!({"event_id": event_id, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_the_booking_trace(
        &collector,
        consumer.as_mut(),
        backend,
        (booking_trace, "b7ad6b7169203331"),
        "http_request",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_continue_the_callers_trace_and_reach_the_otlp_collector() {
    http_traces(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_traces_link_http_use_case_sql_and_publish_on_postgres() {
    http_traces(Backend::Postgres).await;
}

async fn grpc_traces(backend: Backend) {
    use adapters_grpc::pb;
    let Some((collector, app, mut consumer)) = traced_app(backend).await else {
        return;
    };
    let event_id = app.published_event(organizer(1), 5, "100.00", 10).await;
    let trace = "5bf92f3577b34da6a3ce929d0e0e4737";
    let caller_span = "10f067aa0ba902b8";
    let mut grpc = crate::grpc::client(&app).await;
    let mut request = crate::grpc::call(
        pb::CreateBookingRequest {
            event_id,
            quantity: 1,
            ..pb::CreateBookingRequest::default()
        },
        Some(user(1)),
    );
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace}-{caller_span}-01").parse().unwrap(),
    );
    let booking = grpc.create_booking(request).await.unwrap().into_inner();
    assert_eq!(booking.status, "PENDING_PAYMENT");
    assert_the_booking_trace(
        &collector,
        consumer.as_mut(),
        backend,
        (trace, caller_span),
        "grpc_request",
    )
    .await;
    let spans = collector.trace(trace, |_| true).await;
    let call = named(&spans, "grpc_request");
    assert_eq!(attribute(call, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        attribute(call, "rpc.service").as_deref(),
        Some("org.aquastream.event.EventService")
    );
    assert_eq!(
        attribute(call, "rpc.method").as_deref(),
        Some("CreateBooking")
    );
    assert_eq!(
        attribute(call, "rpc.grpc.status_code").as_deref(),
        Some("0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_continue_the_callers_trace_through_use_case_sql_and_publish() {
    grpc_traces(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_continue_the_callers_trace_on_postgres() {
    grpc_traces(Backend::Postgres).await;
}

fn trace_of(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
