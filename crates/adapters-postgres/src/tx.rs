//! The unit of work over one sea-orm transaction.
//!
//! `SeaTx` implements every repository port of the ports crate, each in its own module
//! (`repositories::*`), over the same `DatabaseTransaction`; dropping it without `commit`
//! rolls back (sea-orm rolls back an uncommitted transaction on drop).

use std::sync::Arc;

use domain::Timestamp;
use sea_orm::{DatabaseBackend, DatabaseConnection, DatabaseTransaction, TransactionTrait};

use ::ports::AppError;
use ::ports::clock::{Clock, SystemClock};

use crate::appends::Appends;
use crate::error::db_err;
use crate::observability::Noted;

/// Opens transactions on the pool.
#[derive(Clone)]
pub struct SeaUnitOfWork {
    db: DatabaseConnection,
    /// Where the timestamps the repositories write themselves (`created_at`, `updated_at` of
    /// rows no use case stamps) come from: the application's clock, so a manual clock in a test
    /// governs every stored instant.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SeaUnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaUnitOfWork")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl SeaUnitOfWork {
    /// A unit of work on the wall clock.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same, stamping rows with `clock`'s time.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    #[must_use]
    pub const fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Begins a transaction (the concrete type; the `UnitOfWork` port boxes it).
    pub async fn begin_tx(&self) -> Result<SeaTx, AppError> {
        let backend = self.db.get_database_backend();
        let started = std::time::Instant::now();
        let tx = self.db.begin().await.map_err(db_err)?;
        metrics::histogram!(crate::observability::DB_BEGIN_SECONDS)
            .record(started.elapsed().as_secs_f64());
        Ok(SeaTx {
            tx,
            backend,
            clock: Arc::clone(&self.clock),
            appends: Appends::default(),
            noted: Noted::default(),
        })
    }
}

/// One open transaction.
pub struct SeaTx {
    pub(crate) tx: DatabaseTransaction,
    pub(crate) backend: DatabaseBackend,
    clock: Arc<dyn Clock>,
    /// Booking log, audit and outbox rows written at commit ([`crate::appends`]).
    pub(crate) appends: Appends,
    /// Business facts of the outbox rows written here, counted once the commit succeeded.
    pub(crate) noted: Noted,
}

impl std::fmt::Debug for SeaTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaTx")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl SeaTx {
    /// The time rows written by the repositories themselves are stamped with.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Commits everything done through this transaction: first the appended rows that wait in
    /// memory ([`crate::appends`]), then `COMMIT`.
    pub async fn commit_tx(self) -> Result<(), AppError> {
        self.appends.flush(&self.tx).await?;
        self.tx.commit().await.map_err(db_err)?;
        self.noted.count_committed();
        Ok(())
    }

    /// Writes the appended rows that wait for the commit; reads of those tables call it first.
    pub(crate) async fn flush_appends(&self) -> Result<(), AppError> {
        self.appends.flush(&self.tx).await
    }

    /// Rolls back now. Dropping a `SeaTx` rolls back too, but only once the connection goes
    /// back to the pool, a moment later; until then its row and advisory locks are held.
    pub async fn rollback_tx(self) -> Result<(), AppError> {
        self.tx.rollback().await.map_err(db_err)
    }

    /// The backend this transaction runs on (some statements differ).
    #[must_use]
    pub const fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    pub(crate) const fn conn(&self) -> &DatabaseTransaction {
        &self.tx
    }

    /// The raw transaction, for test fixtures that insert rows no port writes directly.
    #[doc(hidden)]
    #[must_use]
    pub const fn conn_for_tests(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

mod port_impls {
    use async_trait::async_trait;
    use ports::AppError;
    use ports::{
        AuditLog, BookingRepository, CategoryRepository, ConsistencyStore,
        CrewAssignmentRepository, EventRepository, FavoriteRepository, IdempotencyStore,
        JobRunStore, LoyaltyLedger, OutboxStore, PaymentRepository, PromoCodeRepository,
        ReviewRepository, Tx, UnitOfWork, WaitlistRepository,
    };

    use super::{SeaTx, SeaUnitOfWork};

    #[async_trait]
    impl UnitOfWork for SeaUnitOfWork {
        async fn begin(&self) -> Result<Box<dyn Tx>, AppError> {
            Ok(Box::new(self.begin_tx().await?))
        }
    }

    /// Every repository is this transaction itself, seen through one port.
    #[async_trait]
    impl Tx for SeaTx {
        fn events(&self) -> &dyn EventRepository {
            self
        }
        fn categories(&self) -> &dyn CategoryRepository {
            self
        }
        fn bookings(&self) -> &dyn BookingRepository {
            self
        }
        fn payments(&self) -> &dyn PaymentRepository {
            self
        }
        fn waitlist(&self) -> &dyn WaitlistRepository {
            self
        }
        fn reviews(&self) -> &dyn ReviewRepository {
            self
        }
        fn favorites(&self) -> &dyn FavoriteRepository {
            self
        }
        fn promo_codes(&self) -> &dyn PromoCodeRepository {
            self
        }
        fn loyalty(&self) -> &dyn LoyaltyLedger {
            self
        }
        fn audit(&self) -> &dyn AuditLog {
            self
        }
        fn outbox(&self) -> &dyn OutboxStore {
            self
        }
        fn idempotency(&self) -> &dyn IdempotencyStore {
            self
        }
        fn job_runs(&self) -> &dyn JobRunStore {
            self
        }
        fn crew_assignments(&self) -> &dyn CrewAssignmentRepository {
            self
        }
        fn consistency(&self) -> &dyn ConsistencyStore {
            self
        }

        async fn commit(self: Box<Self>) -> Result<(), AppError> {
            self.commit_tx().await
        }
    }
}
