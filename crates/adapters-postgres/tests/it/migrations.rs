//! Migrations: up from empty, down to empty, up again — on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use adapters_postgres::connection::{migrate_down, migrate_up, migration_status};
use test_db::{Backend, TestDb};

const TABLES: &[&str] = &[
    "audit_log",
    "booking_logs",
    "booking_reminders",
    "bookings",
    "bookings_archive",
    "categories",
    "crew_assignments",
    "events",
    "favorites",
    "idempotency_keys",
    "job_runs",
    "loyalty_ledger",
    "outbox",
    "payment_refunds",
    "payment_refunds_archive",
    "payments",
    "payments_archive",
    "price_options",
    "promo_code_redemptions",
    "promo_codes",
    "review_helpful_votes",
    "review_replies",
    "reviews",
    "waitlist",
    "waitlist_audit",
    "webhook_events",
];

async fn up_down_up(backend: Backend) {
    let Some(t) = TestDb::empty(backend).await else {
        return;
    };
    let status = migration_status(&t.db).await.unwrap();
    assert!(
        status.len() >= 6 && status.iter().all(|m| !m.applied),
        "{status:?}"
    );

    migrate_up(&t.db).await.unwrap();
    let tables: Vec<String> = t
        .tables()
        .await
        .into_iter()
        .filter(|n| n != "seaql_migrations")
        .collect();
    assert_eq!(tables, TABLES, "{backend:?}");
    assert!(
        migration_status(&t.db)
            .await
            .unwrap()
            .iter()
            .all(|m| m.applied)
    );

    migrate_down(&t.db, Some(1)).await.unwrap();
    let status = migration_status(&t.db).await.unwrap();
    assert_eq!(
        status.iter().filter(|m| !m.applied).count(),
        1,
        "one step back"
    );

    migrate_down(&t.db, None).await.unwrap();
    let left: Vec<String> = t
        .tables()
        .await
        .into_iter()
        .filter(|n| n != "seaql_migrations")
        .collect();
    assert!(left.is_empty(), "{backend:?}: left after down: {left:?}");

    migrate_up(&t.db).await.unwrap();
    let again: Vec<String> = t
        .tables()
        .await
        .into_iter()
        .filter(|n| n != "seaql_migrations")
        .collect();
    assert_eq!(again, TABLES);
    migrate_up(&t.db).await.unwrap(); // idempotent
}

#[tokio::test]
async fn postgres_up_down_up() {
    up_down_up(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite_up_down_up() {
    up_down_up(Backend::Sqlite).await;
}
