//! The critical queries are index-backed: on PostgreSQL with realistic volumes (20,000 events,
//! 100,000 bookings), EXPLAIN shows the catalog, the full-text search and the pending-bookings
//! claim of the expiry job using their indexes. The statements are the ones the repositories
//! run (recorded by a metric callback on the pool, with their bound values), so a changed
//! query is the one checked. Run with `--no-capture` to see the plans (they are copied into
//! docs/persistence.md).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::sync::{Arc, Mutex};

use adapters_postgres::{SeaTx, SeaUnitOfWork};
use chrono::{Duration, Utc};
use domain::event::EventStatus;
use ports::PageRequest;
use ports::{BookingRepository, EventQuery, EventRepository, EventSort};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
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

async fn explain(t: &TestDb, statement: &Statement) -> String {
    let rows =
        t.db.query_all_raw(Statement {
            sql: format!(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {}",
                statement.sql
            ),
            values: statement.values.clone(),
            db_backend: DatabaseBackend::Postgres,
        })
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The statements a pool runs, as they run.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Statement>>>);

impl Recorder {
    /// Runs `call` in a transaction (rolled back) and answers the one statement it ran whose
    /// SQL contains every one of `marks`.
    async fn the_statement<F>(&self, uow: &SeaUnitOfWork, marks: &[&str], call: F) -> Statement
    where
        F: AsyncFnOnce(&SeaTx),
    {
        self.0.lock().unwrap().clear();
        let tx = uow.begin_tx().await.unwrap();
        call(&tx).await;
        drop(tx);
        let ran = self.0.lock().unwrap().clone();
        let matching: Vec<_> = ran
            .iter()
            .filter(|s| marks.iter().all(|m| s.sql.contains(m)))
            .collect();
        assert_eq!(matching.len(), 1, "{marks:?} in {ran:#?}");
        matching[0].clone()
    }
}

#[tokio::test]
async fn critical_queries_use_their_indexes() {
    let Some(mut t) = TestDb::migrated(Backend::Postgres).await else {
        return;
    };
    for sql in FILL {
        t.db.execute_unprepared(sql).await.unwrap();
    }
    let recorder = Recorder::default();
    let sink = recorder.clone();
    t.db.set_metric_callback(move |info| sink.0.lock().unwrap().push(info.statement.clone()));
    let uow = SeaUnitOfWork::new(t.db.clone());

    // The catalog page as guests see it: PUBLISHED, by start date.
    let guests = EventQuery {
        statuses: vec![EventStatus::Published],
        sort: EventSort::StartDate,
        page: PageRequest::default(),
        ..EventQuery::default()
    };
    let catalog = recorder
        .the_statement(&uow, &["FROM \"events\"", "LIMIT"], async |tx| {
            EventRepository::search(tx, &guests).await.unwrap();
        })
        .await;
    // Full-text search, the same expression as the GIN index.
    let text = EventQuery {
        search: Some("rafting".to_owned()),
        ..guests.clone()
    };
    let search = recorder
        .the_statement(&uow, &["FROM \"events\"", "LIMIT"], async |tx| {
            EventRepository::search(tx, &text).await.unwrap();
        })
        .await;
    // The expiry job's claim: pending bookings past their deadline, oldest first.
    let deadline_before = Utc::now() - Duration::minutes(5);
    let pending = recorder
        .the_statement(&uow, &["FROM \"bookings\"", "SKIP LOCKED"], async |tx| {
            BookingRepository::claim_expired(tx, deadline_before, 500)
                .await
                .unwrap();
        })
        .await;

    for (name, statement, index) in [
        ("catalog", &catalog, "idx_events_status_start"),
        ("full-text search", &search, "idx_events_search"),
        (
            "pending bookings past deadline",
            &pending,
            "idx_bookings_pending_deadline",
        ),
    ] {
        let plan = explain(&t, statement).await;
        println!("-- {name}\n{statement}\n{plan}\n");
        assert!(plan.contains(index), "{name} should use {index}:\n{plan}");
    }
}
