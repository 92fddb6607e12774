//! The binary as a newcomer runs it: no configuration at all in an empty directory → the
//! embedded SQLite default under ./data/, the service answers (REST and gRPC), SIGTERM stops
//! both cleanly.
//! Also: bad configuration fails at start naming the key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_backend-event");

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary in `dir` with an empty environment but `PATH`: nothing of the developer's or
/// CI's environment (`DATABASE_URL`, `APP__…`, a profile) may point it at another database or
/// change its configuration.
pub(crate) fn bin(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

pub(crate) fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("be-bin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn runs_with_no_configuration_and_stops_cleanly_on_sigterm() {
    let dir = temp_dir();
    let port = free_port();
    let grpc_port = free_port();
    let mut child = bin(&dir)
        .env("APP__SERVER__PORT", port.to_string())
        .env("APP__GRPC__PORT", grpc_port.to_string())
        .env("APP__SERVER__HOST", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/actuator/health");
    let started = Instant::now();
    let health = loop {
        if let Ok(r) = client.get(&url).send().await {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the service did not answer within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap()["status"],
        "UP"
    );
    assert!(
        dir.join("data/backend-event.db").exists(),
        "the embedded default keeps its database under ./data/"
    );
    let info: serde_json::Value = client
        .get(format!("http://127.0.0.1:{port}/actuator/info"))
        .header("X-User-Id", "30000000-0000-4000-8000-000000000001")
        .header("X-User-Role", "ADMIN")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["profile"], "dev");
    assert_eq!(info["database"], "sqlite");

    // The same process serves gRPC beside REST.
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{grpc_port}"))
        .unwrap()
        .connect()
        .await
        .expect("gRPC port open");
    let health = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("gRPC health answered")
        .into_inner();
    assert_eq!(
        health.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    // The container health check: the same configuration finds the same port.
    let healthcheck = || {
        bin(&dir)
            .env("APP__SERVER__PORT", port.to_string())
            .env("APP__SERVER__HOST", "127.0.0.1")
            .arg("healthcheck")
            .output()
            .unwrap()
    };
    let out = healthcheck();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ready: 200"));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let out = healthcheck();
    assert_eq!(out.status.code(), Some(1), "nothing listens any more");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A one-shot HTTP server on a free port answering `status_line` to one request, and the
/// request it received.
fn answer_once(status_line: &'static str) -> (u16, std::thread::JoinHandle<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0_u8; 512];
        while !request.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let body = "{\"status\":\"X\"}";
        write!(
            stream,
            "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    (port, server)
}

#[test]
fn healthcheck_asks_readiness_on_the_management_port_and_fails_unless_2xx() {
    let dir = temp_dir();
    let closed = free_port();
    let run = |management: u16| {
        bin(&dir)
            .env("APP__SERVER__PORT", closed.to_string())
            .env("APP__MANAGEMENT__PORT", management.to_string())
            .arg("healthcheck")
            .output()
            .unwrap()
    };
    // The management port answers (the main port has nothing listening).
    let (port, server) = answer_once("HTTP/1.1 200 OK");
    let out = run(port);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let request = server.join().unwrap();
    assert!(
        request.starts_with("GET /actuator/health/readiness HTTP/1.1\r\n"),
        "{request}"
    );
    // Not ready (the database is down): exit 1, the status named.
    let (port, server) = answer_once("HTTP/1.1 503 Service Unavailable");
    let out = run(port);
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not ready: 503"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_configuration_fails_at_start_naming_the_key() {
    let dir = temp_dir();
    let out = bin(&dir)
        .env("APP__APP__BOOKING__TTL_MINUTES", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("app.booking.ttl_minutes"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Hole 3: prod (and stage) refuse to start, exit 78 naming the key, on the sandbox gateway,
/// a shipped or short webhook secret, or no authentication at all.
#[test]
fn hole_3_prod_refuses_sandbox_gateway_shipped_secrets_and_no_authentication() {
    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const ISSUER: &str = "https://keycloak.example/realms/a";
    let cases: &[(&[(&str, &str)], &str)] = &[
        // Out of the box prod has no webhook secret.
        (&[], "payments.gateways.http.webhook_secret"),
        (
            &[
                ("APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET", SECRET),
                ("APP__AUTH__JWT__ISSUER", ISSUER),
                ("APP__PAYMENTS__GATEWAYS__SANDBOX__ENABLED", "true"),
            ],
            "payments.gateways.sandbox.kind",
        ),
        (
            &[
                ("APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET", "too-short"),
                ("APP__AUTH__JWT__ISSUER", ISSUER),
            ],
            "payments.gateways.http.webhook_secret",
        ),
        (
            &[
                (
                    "APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET",
                    "sandbox-webhook-secret",
                ),
                ("APP__AUTH__JWT__ISSUER", ISSUER),
            ],
            "payments.gateways.http.webhook_secret",
        ),
        (
            &[("APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET", SECRET)],
            "auth.jwt",
        ),
    ];
    let dir = temp_dir();
    for (vars, key) in cases {
        let mut command = bin(&dir);
        command.env("APP_PROFILE", "prod");
        for (k, v) in *vars {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{vars:?}: {stderr}");
        assert!(
            stderr.contains(key),
            "{vars:?}: `{stderr}` does not name {key}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn migrate_status_lists_the_migrations_and_bad_commands_exit_2() {
    let dir = temp_dir();
    let up = bin(&dir).args(["migrate", "up"]).output().unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let status = bin(&dir).args(["migrate", "status"]).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("[applied] m0001_catalog"), "{text}");
    assert!(!text.contains("[pending]"), "{text}");
    let bad = bin(&dir).arg("launch").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn jobs_run_runs_one_job_and_refuses_unknown_ones() {
    let dir = temp_dir();
    let run = |args: &[&str]| bin(&dir).args(args).output().unwrap();
    let out = run(&["jobs", "run", "publish-scheduled-events"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("publish-scheduled-events SUCCEEDED processed=0"),
        "{stdout}"
    );

    let out = run(&["jobs", "run", "launch-rockets"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown job `launch-rockets`"), "{stderr}");
    assert!(stderr.contains("complete-events"), "{stderr}");

    let out = run(&["jobs", "list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("complete-events\tcron 0 0 * * * *"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 9, "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Hole 8: a whole booking flow against the binary (dev profile, debug logs, the logging broker
/// sink) never writes the ticket code or the payment reference to the log output.
#[tokio::test]
async fn hole_8_no_ticket_code_or_reference_in_the_logs_of_a_booking_flow() {
    let dir = temp_dir();
    let port = free_port();
    let log_path = dir.join("out.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = bin(&dir)
        .env("APP__SERVER__PORT", port.to_string())
        .env("APP__GRPC__PORT", free_port().to_string())
        .env("APP__SERVER__HOST", "127.0.0.1")
        .env("LOG_LEVEL", "debug")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client
        .get(format!("{base}/actuator/health"))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no answer in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let as_who = |r: reqwest::RequestBuilder, id: &str, role: &str| {
        r.header("X-User-Id", id).header("X-User-Role", role)
    };
    let organizer = "20000000-0000-4000-8000-000000000001";
    let buyer = "10000000-0000-4000-8000-000000000001";
    let json = |r: reqwest::Response| async move {
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(status.is_success(), "{status}: {body}");
        body
    };
    let start = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let event = json(
        as_who(
            client.post(format!("{base}/api/v1/events")),
            organizer,
            "ORGANIZER",
        )
        .json(&serde_json::json!({
            "name": "Log scan", "start_date": start, "max_participants": 5,
            "price": "20.00", "auto_publish": true,
        }))
        .send()
        .await
        .unwrap(),
    )
    .await;
    let booking = json(
        as_who(
            client.post(format!("{base}/api/v1/bookings")),
            buyer,
            "USER",
        )
        .json(&serde_json::json!({"event_id": event["id"], "quantity": 1}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    let payment = json(
        as_who(
            client.post(format!("{base}/api/v1/payments")),
            buyer,
            "USER",
        )
        .json(&serde_json::json!({"booking_id": booking["id"], "payment_method": "CARD"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    let reference = payment["gateway_reference"].as_str().unwrap().to_owned();
    json(
        client
            .post(format!("{base}/sandbox/payments/{reference}"))
            .json(&serde_json::json!({"outcome": "success"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let confirmed = json(
        as_who(
            client.get(format!("{base}/api/v1/bookings/{}", booking["id"])),
            buyer,
            "USER",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    let ticket = confirmed["ticket_code"].as_str().unwrap().to_owned();
    // The relay hands booking.confirmed to the logging sink within its poll interval.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log_path)
        .unwrap()
        .contains("booking.confirmed")
    {
        assert!(Instant::now() < deadline, "booking.confirmed never logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("request finished"), "the logs were captured");
    assert!(
        !logs.contains(&ticket),
        "ticket code {ticket} in the logs:\n{logs}"
    );
    assert!(
        !logs.contains(&reference),
        "reference {reference} in the logs:\n{logs}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
