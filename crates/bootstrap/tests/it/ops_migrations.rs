//! Migrations across instances: two processes of the binary started at once on one empty
//! PostgreSQL database both come up (the migration lock makes them take turns), and every
//! migration is recorded once. `migrate down` on the prod profile wants `--yes`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Statement};
use test_db::{Backend, FreshDatabase};

use crate::binary::{bin, free_port, temp_dir};

/// The binary serving on `url` with the default (dev) profile, its output in `log`.
pub(crate) fn serve(dir: &std::path::Path, url: &str, port: u16, log: &std::path::Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    bin(dir)
        .env("DATABASE_URL", url)
        .env("APP__SERVER__HOST", "127.0.0.1")
        .env("APP__SERVER__PORT", port.to_string())
        .env("APP__GRPC__PORT", free_port().to_string())
        .env("APP__JOBS__SCHEDULER_ENABLED", "false")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap()
}

pub(crate) fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `GET /actuator/health/readiness` answers 200; panics with the log if the
/// process exits or 90 s pass.
pub(crate) async fn await_ready(child: &mut Child, port: u16, log: &std::path::Path) {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/actuator/health/readiness");
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(&url).send().await
            && r.status() == 200
        {
            return;
        }
        let output = || std::fs::read_to_string(log).unwrap_or_default();
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the instance exited ({status}) before it was ready:\n{}",
                output()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not ready within 90 s:\n{}",
            output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_starting_together_on_an_empty_database_both_come_up() {
    let Some(database) = FreshDatabase::empty(Backend::Postgres).await else {
        return;
    };
    let url = database.config.url.clone();
    let dir = temp_dir();
    let ports = [free_port(), free_port(), free_port()];
    let logs: Vec<_> = (0..ports.len())
        .map(|i| dir.join(format!("instance-{i}.log")))
        .collect();
    let mut children: Vec<Child> = ports
        .iter()
        .zip(&logs)
        .map(|(port, log)| serve(&dir, &url, *port, log))
        .collect();
    for ((child, port), log) in children.iter_mut().zip(ports).zip(&logs) {
        await_ready(child, port, log).await;
    }
    for child in &mut children {
        stop(child);
    }
    let db = adapters_postgres::connect(&database.config).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version, COUNT(*) AS n FROM seaql_migrations GROUP BY version",
        ))
        .await
        .unwrap();
    let status = adapters_postgres::migration_status(&db).await.unwrap();
    assert_eq!(rows.len(), status.len(), "every migration recorded");
    for row in &rows {
        let n: i64 = row.try_get("", "n").unwrap();
        assert_eq!(n, 1);
    }
    assert!(status.iter().all(|m| m.applied), "{status:?}");
    let waited = logs
        .iter()
        .map(|l| std::fs::read_to_string(l).unwrap())
        .any(|text| text.contains("waiting for the migration lock"));
    eprintln!("an instance logged its wait for the lock: {waited}");
    db.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn migrate_down_on_prod_wants_yes() {
    let dir = temp_dir();
    let out = bin(&dir)
        .env("APP_PROFILE", "prod")
        .env(
            "APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET",
            "0123456789abcdef0123456789abcdef",
        )
        .env(
            "APP__AUTH__JWT__ISSUER",
            "https://keycloak.example/realms/a",
        )
        .env("APP__PAYMENTS__GATEWAYS__SANDBOX__ENABLED", "false")
        .args(["migrate", "down"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
