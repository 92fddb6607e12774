//! PostgreSQL (production) and embedded SQLite persistence: sea-orm entities, repositories,
//! unit of work and migrations.

mod appends;
pub mod connection;
mod convert;
pub mod entities;
mod error;
pub mod health;
pub mod migration;
pub mod observability;
pub mod repositories;
mod tx;

pub use connection::{
    DatabaseConfig, backup_sqlite, connect, migrate_down, migrate_up, migration_status,
};
pub use health::DatabaseHealth;
pub use tx::{SeaTx, SeaUnitOfWork};
