//! The consistency check: a corrupted seat count is found by `backend-event check` (exit 1),
//! logged by an instance starting with `startup.consistency_check = warn`, refused by one with
//! `fail`, and repaired by `check --repair` (exit 0, one audit row), after which the check is
//! clean — on SQLite and PostgreSQL.

use std::process::Output;

use sea_orm::{ConnectionTrait, Statement};

use crate::binary::{bin, free_port, temp_dir};
use crate::ops_migrations::{await_ready, serve, stop};
use crate::support::{TestApp, assert_invariant, organizer, user};

/// `backend-event check [args]` on the app's database: the exit code and what it printed,
/// without the JSON log lines.
fn check(app: &TestApp, args: &[&str]) -> (Option<i32>, String) {
    let dir = temp_dir();
    let out: Output = bin(&dir)
        .env("DATABASE_URL", app.database_url())
        .arg("check")
        .args(args)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text: String = printed
        .lines()
        .filter(|l| !l.starts_with('{'))
        .map(|l| format!("{l}\n"))
        .collect();
    (out.status.code(), text)
}

async fn audit_rows(app: &TestApp, event: i64) -> i64 {
    let db = &app.services.db;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT COUNT(*) AS n FROM audit_log WHERE action = \
                 'consistency.repair_seats' AND entity_type = 'event' AND entity_id = '{event}'"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

on_both!(
    a_corrupted_seat_count_is_found_refused_at_start_and_repaired,
    |app| {
        let event = app.published_event(organizer(1), 10, "20.00", 30).await;
        app.book(user(1), event, 2).await;
        assert_eq!(check(&app, &[]), (Some(0), "consistent\n".to_owned()));

        // 10 seats, 2 booked: 8 available, stored as 3.
        let db = &app.services.db;
        db.execute_unprepared(&format!(
            "UPDATE events SET available_seats = 3 WHERE id = {event}"
        ))
        .await
        .unwrap();

        let (code, out) = check(&app, &[]);
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.contains(&format!(
                "event {event}: available_seats 3 + booked 2 + held 0 != max_participants 10"
            )) && out.contains("should be 8"),
            "{out}"
        );
        assert_eq!(audit_rows(&app, event).await, 0, "a check writes nothing");

        // warn: the instance starts and logs the problem
        let dir = temp_dir();
        let (port, log) = (free_port(), dir.join("warn.log"));
        let mut child = serve(&dir, app.database_url(), port, &log);
        await_ready(&mut child, port, &log).await;
        stop(&mut child);
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(
            logged.contains("consistency check") && logged.contains(&format!("event {event}:")),
            "{logged}"
        );

        // fail: the instance refuses to start
        let out = bin(&dir)
            .env("DATABASE_URL", app.database_url())
            .env("APP__SERVER__HOST", "127.0.0.1")
            .env("APP__SERVER__PORT", free_port().to_string())
            .env("APP__GRPC__PORT", free_port().to_string())
            .env("APP__STARTUP__CONSISTENCY_CHECK", "fail")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("consistency check found 1 problem"),
            "{stderr}"
        );
        let _ = std::fs::remove_dir_all(&dir);

        let (code, out) = check(&app, &["--repair"]);
        assert_eq!(code, Some(0), "{out}");
        assert!(
            out.contains(&format!("seats repaired: event {event}:"))
                && out.contains("available_seats set to 8")
                && out.contains("consistent after repairing 1 event(s)"),
            "{out}"
        );
        assert_eq!(audit_rows(&app, event).await, 1);
        assert_eq!(assert_invariant(&app, event).await, (8, 2, 0));
        assert_eq!(check(&app, &[]), (Some(0), "consistent\n".to_owned()));
    }
);
