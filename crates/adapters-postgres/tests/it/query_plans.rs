//! The critical queries are index-backed: on PostgreSQL with realistic volumes (20,000 events,
//! 100,000 bookings), EXPLAIN shows the catalog, the full-text search and the pending-bookings
//! claim of the expiry job using their indexes. Run with `--no-capture` to see the plans
//! (they are copied into docs/persistence.md).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use adapters_postgres::entities::{bookings, events};
use adapters_postgres::migration::SEARCH_VECTOR;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement,
};
use test_db::{Backend, TestDb};

const FILL: &[&str] = &[
    "INSERT INTO events (name, description, start_date, max_participants, available_seats, price_minor, status, \
       creator_id, category, booking_deadline_hours, is_featured, pricing_rules, crew_status, views, version, created_at, updated_at) \
     SELECT 'Event ' || g, CASE WHEN g % 1000 = 0 THEN 'white water river rafting' ELSE 'a calm day outdoors' END, \
       now() + (g % 365) * interval '1 day', 20, 20, 1000 + g % 5000, \
       (ARRAY['DRAFT','PUBLISHED','PUBLISHED','PUBLISHED','COMPLETED','CANCELED'])[1 + g % 6], \
       gen_random_uuid(), (ARRAY['rafting','sailing','hiking','diving'])[1 + g % 4], 24, g % 10 = 0, '{}'::jsonb, 'NONE', 0, 0, now(), now() \
     FROM generate_series(1, 20000) g",
    "INSERT INTO bookings (event_id, user_id, quantity, status, payment_deadline, unit_price_minor, base_minor, \
       dynamic_adjustment_minor, group_discount_minor, promo_discount_minor, loyalty_discount_minor, loyalty_points_used, \
       total_price_minor, ticket_code, version, created_at, updated_at) \
     SELECT 1 + g % 20000, gen_random_uuid(), 1, \
       CASE WHEN g % 20 = 0 THEN 'PENDING_PAYMENT' WHEN g % 3 = 0 THEN 'CANCELED' ELSE 'CONFIRMED' END, \
       now() + ((g % 120) - 60) * interval '1 minute', 1000, 1000, 0, 0, 0, 0, 0, 1000, \
       CASE WHEN g % 20 = 0 OR g % 3 = 0 THEN NULL ELSE 'AQ-PLAN-' || g END, 0, now(), now() \
     FROM generate_series(1, 100000) g",
    "ANALYZE events",
    "ANALYZE bookings",
];

async fn explain(t: &TestDb, sql: &str) -> String {
    let rows =
        t.db.query_all_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            format!("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn critical_queries_use_their_indexes() {
    let Some(t) = TestDb::migrated(Backend::Postgres).await else {
        return;
    };
    for sql in FILL {
        t.db.execute_unprepared(sql).await.unwrap();
    }

    // The catalog page as EventRepository::search builds it (guests: PUBLISHED, by start date).
    let catalog = events::Entity::find()
        .filter(events::Column::Status.is_in(["PUBLISHED"]))
        .order_by_asc(events::Column::StartDate)
        .order_by_asc(events::Column::Id)
        .limit(20)
        .build(DatabaseBackend::Postgres)
        .to_string();
    // Full-text search, the same expression as the GIN index.
    let search = events::Entity::find()
        .filter(events::Column::Status.is_in(["PUBLISHED"]))
        .filter(Expr::cust(format!(
            "{SEARCH_VECTOR} @@ plainto_tsquery('simple', 'rafting')"
        )))
        .order_by_asc(events::Column::StartDate)
        .limit(20)
        .build(DatabaseBackend::Postgres)
        .to_string();
    // The expiry job's claim: pending bookings past their deadline, oldest first.
    let pending = bookings::Entity::find()
        .filter(bookings::Column::Status.eq("PENDING_PAYMENT"))
        .filter(Expr::cust(
            "payment_deadline < now() - interval '5 minutes'",
        ))
        .order_by_asc(bookings::Column::PaymentDeadline)
        .limit(500)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .build(DatabaseBackend::Postgres)
        .to_string();

    for (name, sql, index) in [
        ("catalog", &catalog, "idx_events_status_start"),
        ("full-text search", &search, "idx_events_search"),
        (
            "pending bookings past deadline",
            &pending,
            "idx_bookings_pending_deadline",
        ),
    ] {
        let plan = explain(&t, sql).await;
        println!("-- {name}\n{sql}\n{plan}\n");
        assert!(plan.contains(index), "{name} should use {index}:\n{plan}");
    }
}
