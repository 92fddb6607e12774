//! PostgreSQL (production) and embedded SQLite persistence: sea-orm entities, repositories,
//! unit of work and migrations.

pub mod connection;
pub mod migration;
