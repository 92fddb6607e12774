//! The schema, as sea-orm-migration migrations written with the schema builder so that the
//! same steps run on PostgreSQL (schema `event`, via `search_path`) and SQLite.
//!
//! Money is stored as integer minor units (BIGINT `*_minor` columns) on both backends; percents
//! as basis points. CHECK constraints repeat the domain's invariants so that a bug in a
//! caller cannot store an impossible row. Partial indexes are plain SQL: the syntax is the same
//! on both backends.

use sea_orm_migration::prelude::*;

mod helpers;
mod m0001_catalog;
mod m0002_bookings;
mod m0003_engagement;
mod m0004_operations;
mod m0005_archive;
mod m0006_search;
mod m0007_gateway_calls_after_commit;
mod m0009_outbox_traceparent;
mod m0010_webhook_events;
mod m0011_event_seat_limit;

pub use m0006_search::SEARCH_VECTOR;

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_catalog::Migration),
            Box::new(m0002_bookings::Migration),
            Box::new(m0003_engagement::Migration),
            Box::new(m0004_operations::Migration),
            Box::new(m0005_archive::Migration),
            Box::new(m0006_search::Migration),
            Box::new(m0007_gateway_calls_after_commit::Migration),
            Box::new(m0009_outbox_traceparent::Migration),
            Box::new(m0010_webhook_events::Migration),
            Box::new(m0011_event_seat_limit::Migration),
        ]
    }
}
