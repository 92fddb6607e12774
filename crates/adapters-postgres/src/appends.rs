//! Rows a transaction only appends — `booking_logs`, `audit_log`, `outbox` — are kept in memory
//! and written just before the commit, one multi-row `INSERT` per table and chunk, instead of one
//! round trip each. A booking writes one row of each, so a batch of 64 bookings costs three
//! statements here instead of 192.
//!
//! Nothing is lost or reordered by waiting: the rows are inserted in the order the use case
//! appended them (ids, and so the outbox's per-aggregate order, follow it), inside the same
//! transaction, before `COMMIT`. Any read of these tables through the same transaction writes the
//! pending rows first, so a use case always reads what it wrote. A failure to write them fails
//! the commit, and the whole transaction rolls back with them.

use std::sync::Mutex;

use ports::AppError;
use sea_orm::{DatabaseTransaction, EntityTrait};

use crate::entities::{audit_log, booking_logs, outbox};
use crate::error::{db_err, is_fk_violation};

/// Rows per statement: far below the bound-parameter limits of both backends (PostgreSQL 65,535;
/// SQLite 32,766) for the widest of the three tables (11 columns).
const CHUNK: usize = 1000;

/// The rows appended but not yet written.
#[derive(Default)]
pub(crate) struct Appends {
    rows: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    logs: Vec<booking_logs::ActiveModel>,
    audit: Vec<audit_log::ActiveModel>,
    outbox: Vec<outbox::ActiveModel>,
}

impl Pending {
    const fn is_empty(&self) -> bool {
        self.logs.is_empty() && self.audit.is_empty() && self.outbox.is_empty()
    }
}

impl Appends {
    fn with<T>(&self, f: impl FnOnce(&mut Pending) -> T) -> T {
        // A panic while the lock is held cannot leave `Pending` half-changed (every change is one
        // `push` or one `take`), so a poisoned lock is still good.
        let mut rows = self
            .rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut rows)
    }

    pub(crate) fn log(&self, row: booking_logs::ActiveModel) {
        self.with(|p| p.logs.push(row));
    }

    pub(crate) fn audit(&self, row: audit_log::ActiveModel) {
        self.with(|p| p.audit.push(row));
    }

    pub(crate) fn outbox(&self, row: outbox::ActiveModel) {
        self.with(|p| p.outbox.push(row));
    }

    /// Writes every pending row (booking logs first: they reference bookings written earlier in
    /// the transaction).
    pub(crate) async fn flush(&self, conn: &DatabaseTransaction) -> Result<(), AppError> {
        let pending = self.with(std::mem::take);
        if pending.is_empty() {
            return Ok(());
        }
        for chunk in chunks(pending.logs) {
            booking_logs::Entity::insert_many(chunk)
                .exec_without_returning(conn)
                .await
                .map_err(|e| {
                    if is_fk_violation(&e) {
                        AppError::NotFound { entity: "booking" }
                    } else {
                        db_err(e)
                    }
                })?;
        }
        for chunk in chunks(pending.audit) {
            audit_log::Entity::insert_many(chunk)
                .exec_without_returning(conn)
                .await
                .map_err(db_err)?;
        }
        for chunk in chunks(pending.outbox) {
            outbox::Entity::insert_many(chunk)
                .exec_without_returning(conn)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }
}

fn chunks<T>(mut rows: Vec<T>) -> Vec<Vec<T>> {
    let mut out = Vec::with_capacity(rows.len().div_ceil(CHUNK));
    while rows.len() > CHUNK {
        let rest = rows.split_off(CHUNK);
        out.push(std::mem::replace(&mut rows, rest));
    }
    if !rows.is_empty() {
        out.push(rows);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_order_and_size() {
        let rows: Vec<u32> = (0..2501).collect();
        let parts = chunks(rows);
        assert_eq!(
            parts.iter().map(Vec::len).collect::<Vec<_>>(),
            [1000, 1000, 501]
        );
        assert_eq!(parts.concat(), (0..2501).collect::<Vec<_>>());
        assert!(chunks(Vec::<u32>::new()).is_empty());
    }
}
