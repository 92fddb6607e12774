//! The database health indicator: a round trip to the server, timed.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use ports::{ComponentHealth, HealthIndicator};
use sea_orm::{ConnectionTrait, DatabaseConnection};

/// Checks the database with `SELECT 1` (bounded by `timeout`).
#[derive(Debug, Clone)]
pub struct DatabaseHealth {
    db: DatabaseConnection,
    timeout: Duration,
}

impl DatabaseHealth {
    #[must_use]
    pub const fn new(db: DatabaseConnection, timeout: Duration) -> Self {
        Self { db, timeout }
    }
}

#[async_trait]
impl HealthIndicator for DatabaseHealth {
    fn name(&self) -> &str {
        "db"
    }

    fn critical(&self) -> bool {
        true
    }

    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        let backend = format!("{:?}", self.db.get_database_backend());
        let outcome =
            tokio::time::timeout(self.timeout, self.db.execute_unprepared("SELECT 1")).await;
        let latency = started.elapsed();
        match outcome {
            Ok(Ok(_)) => ComponentHealth {
                up: true,
                latency,
                detail: Some(backend),
            },
            Ok(Err(err)) => ComponentHealth {
                up: false,
                latency,
                detail: Some(format!("{backend}: {err}")),
            },
            Err(_) => ComponentHealth {
                up: false,
                latency,
                detail: Some(format!("{backend}: no answer within {:?}", self.timeout)),
            },
        }
    }
}
