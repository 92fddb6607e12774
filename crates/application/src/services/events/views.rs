//! Detail views counted in memory and written in batches, so that reading an event is not a
//! write transaction. The counts of one instance are added up per event and written by
//! [`ViewCounter::flush`] — every `app.views.flush_interval_seconds` by a background task, on
//! shutdown, and before the popularity report. A crash loses at most the views counted since
//! the last flush (one interval's worth, on that instance); a failed flush keeps its counts
//! for the next one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::EventId;

use crate::AppError;
use crate::ports::UnitOfWork;

/// Views per event not written yet; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct ViewCounter {
    pending: Arc<Mutex<HashMap<EventId, u32>>>,
}

impl ViewCounter {
    /// One view of `id`.
    pub fn count(&self, id: EventId) {
        if let Ok(mut pending) = self.pending.lock() {
            let n = pending.entry(id).or_insert(0);
            *n = n.saturating_add(1);
        }
    }

    /// Views counted and not written yet.
    #[must_use]
    pub fn pending(&self) -> u64 {
        self.pending
            .lock()
            .map(|p| p.values().map(|n| u64::from(*n)).sum())
            .unwrap_or(0)
    }

    fn take(&self) -> HashMap<EventId, u32> {
        self.pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }

    fn put_back(&self, counts: HashMap<EventId, u32>) {
        if let Ok(mut pending) = self.pending.lock() {
            for (id, n) in counts {
                let slot = pending.entry(id).or_insert(0);
                *slot = slot.saturating_add(n);
            }
        }
    }

    /// Writes every pending count in one transaction (events in id order, so concurrent
    /// flushes of several instances lock rows in the same order); answers the views written.
    ///
    /// # Errors
    /// The database failed: nothing was written and the counts are kept.
    pub async fn flush(&self, uow: &dyn UnitOfWork) -> Result<u64, AppError> {
        let counts = self.take();
        if counts.is_empty() {
            return Ok(0);
        }
        let mut ordered: Vec<(EventId, u32)> = counts.iter().map(|(k, v)| (*k, *v)).collect();
        ordered.sort_unstable_by_key(|(id, _)| id.0);
        let written = async {
            let tx = uow.begin().await?;
            for (id, n) in &ordered {
                tx.events().record_views(*id, *n).await?;
            }
            tx.commit().await
        }
        .await;
        match written {
            Ok(()) => Ok(ordered.iter().map(|(_, n)| u64::from(*n)).sum()),
            Err(e) => {
                self.put_back(counts);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use mockall::Sequence;

    use super::*;
    use crate::services::test_support::{FakeTx, uow_with};

    #[tokio::test]
    async fn views_are_summed_per_event_and_written_in_one_transaction() {
        let views = ViewCounter::default();
        for id in [7, 3, 7, 7] {
            views.count(EventId(id));
        }
        assert_eq!(views.pending(), 4);

        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        let mut seq = Sequence::new();
        tx.events
            .expect_record_views()
            .withf(|id, n| *id == EventId(3) && *n == 1)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(()));
        tx.events
            .expect_record_views()
            .withf(|id, n| *id == EventId(7) && *n == 3)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(()));
        let uow = uow_with(vec![tx]);
        assert_eq!(views.flush(&uow).await.unwrap(), 4);
        assert!(committed.load(Ordering::SeqCst));
        assert_eq!(views.pending(), 0);
        // nothing pending: no transaction at all (the unit of work has none left to give)
        assert_eq!(views.flush(&uow).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_failed_flush_keeps_the_counts_for_the_next() {
        let views = ViewCounter::default();
        views.count(EventId(1));
        views.count(EventId(1));
        let mut tx = FakeTx::new(Arc::default());
        tx.events.expect_record_views().returning(|_, _| {
            Err(AppError::Unavailable {
                dependency: "database",
            })
        });
        let uow = uow_with(vec![tx]);
        assert!(views.flush(&uow).await.is_err());
        views.count(EventId(1));
        assert_eq!(views.pending(), 3);
    }
}
