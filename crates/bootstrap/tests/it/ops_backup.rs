//! `scripts/backup.sh` and `scripts/restore.sh` on a database with a paid booking: the backups
//! carry a checksum and only the newest `--keep` stay; a tampered backup is refused; the
//! restore into a fresh database passes `migrate status` and the consistency check, and the
//! service started on it answers the same booking — on SQLite and PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use test_db::{Backend, FreshDatabase};

use crate::binary::{BIN, free_port, temp_dir};
use crate::ops_migrations::{await_ready, serve, stop};
use crate::support::{TestApp, organizer, user};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(name)
}

/// Runs a script with the service binary at hand; answers (exit code, stdout, stderr).
fn run(name: &str, args: &[&str], database_url: Option<&str>) -> (Option<i32>, String, String) {
    let mut command = Command::new("bash");
    command
        .arg(script(name))
        .args(args)
        .env("BACKEND_EVENT_BIN", BIN);
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    let out = command.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether the PostgreSQL client tools are installed (a skipped test says so, unless the
/// services are required).
fn pg_tools() -> bool {
    let found = ["pg_dump", "pg_restore", "psql"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !found {
        assert!(
            !test_db::require_services(),
            "pg_dump, pg_restore and psql are required (EVENT_TEST_REQUIRE_SERVICES=1)"
        );
        eprintln!("SKIPPED (no pg_dump/pg_restore/psql)");
    }
    found
}

async fn booking_as_seen_by(base: &str, booking: i64) -> Value {
    let who = user(1);
    let response = reqwest::Client::new()
        .get(format!("{base}/api/v1/bookings/{booking}"))
        .header("X-User-Id", who.id.to_string())
        .header("X-User-Role", who.role)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

on_both!(
    a_backup_restores_into_a_fresh_database_serving_the_same_bookings,
    |app| {
        backup_and_restore(&app).await;
    }
);

async fn backup_and_restore(app: &TestApp) {
    if app.backend == Backend::Postgres && !pg_tools() {
        return;
    }
    let event = app.published_event(organizer(1), 10, "20.00", 30).await;
    let (booking, _) = app.confirmed_booking(user(1), event, 2).await;
    let original = booking_as_seen_by(&app.base, booking).await;
    assert_eq!(original["status"], "CONFIRMED", "{original}");

    let dir = temp_dir();
    let backups = dir.join("backups");
    let backups_arg = backups.display().to_string();
    let files: Vec<PathBuf> = (0..3)
        .map(|_| {
            let (code, out, err) = run(
                "backup.sh",
                &["--dir", &backups_arg, "--keep", "2"],
                Some(app.database_url()),
            );
            assert_eq!(code, Some(0), "{out}{err}");
            PathBuf::from(out.trim())
        })
        .collect();
    assert!(!files[0].exists(), "--keep 2 removed the oldest");
    for file in &files[1..] {
        let checksum = PathBuf::from(format!("{}.sha256", file.display()));
        assert!(file.exists() && checksum.exists(), "{}", file.display());
    }
    assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 4);

    // A backup that no longer matches its checksum is refused.
    let tampered = &files[1];
    let mut bytes = std::fs::read(tampered).unwrap();
    bytes.push(0);
    std::fs::write(tampered, bytes).unwrap();
    let scratch = dir.join("never.db");
    let never = format!("sqlite://{}", scratch.display());
    let (code, _, err) = run(
        "restore.sh",
        &[&tampered.display().to_string(), &never],
        None,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(!scratch.exists());

    // The newest backup, into a fresh database.
    let (target, _fresh) = match app.backend {
        Backend::Sqlite => (
            format!("sqlite://{}?mode=rwc", dir.join("restored.db").display()),
            None,
        ),
        Backend::Postgres => {
            let fresh = FreshDatabase::empty(Backend::Postgres).await.unwrap();
            (fresh.config.url.clone(), Some(fresh))
        }
    };
    let (code, out, err) = run(
        "restore.sh",
        &[&files[2].display().to_string(), &target],
        None,
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("checksum ok"), "{err}");
    assert!(
        out.contains("[applied] m0001_catalog") && !out.contains("[pending]"),
        "{out}"
    );
    // Restoring over it again is refused: a restore goes into a fresh database.
    let (code, _, err) = run(
        "restore.sh",
        &[&files[2].display().to_string(), &target],
        None,
    );
    assert_eq!(code, Some(1), "{err}");

    let check = Command::new(BIN)
        .env("DATABASE_URL", &target)
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let (port, log) = (free_port(), dir.join("restored.log"));
    let mut child = serve(&dir, &target, port, &log);
    await_ready(&mut child, port, &log).await;
    let restored = booking_as_seen_by(&format!("http://127.0.0.1:{port}"), booking).await;
    stop(&mut child);
    for field in [
        "id",
        "status",
        "ticket_code",
        "quantity",
        "total_price",
        "event_id",
    ] {
        assert_eq!(restored[field], original[field], "{field}: {restored}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
