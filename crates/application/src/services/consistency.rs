//! The consistency check (seed 000, recovery plan: "a data consistency check at start"):
//! reads the invariants the use cases keep transaction by transaction and reports where they
//! do not hold; with `repair`, sets what is derivable — an event's `available_seats` from its
//! bookings and waitlist holds — in the same transaction, one audit row per repaired event.
//!
//! What is checked:
//! * seats: `available_seats + Σ seats of bookings holding them (PENDING_PAYMENT, CONFIRMED,
//!   COMPLETED, archived ones too) + Σ seats held for NOTIFIED waitlist entries =
//!   max_participants` — repairable unless more seats are taken than the event has;
//! * price options: a booking priced with an option of another event (an option's remaining
//!   stock itself is what its manager last set, so it has nothing to be compared with);
//! * promo codes: `current_uses` = the bookings (archived ones too) placed with the code;
//! * payments: a CONFIRMED or COMPLETED booking with a positive total that its paid payments
//!   do not cover;
//! * outbox: rows still unsent after the sent-row retention (`broker.retain_sent_days`).

use std::sync::Arc;

use domain::Timestamp;
use serde_json::json;

use crate::AppError;
use crate::actor::RequestContext;
use crate::clock::Clock;
use crate::ports::{
    AuditEntry, ForeignPriceOption, PromoUseDrift, SeatDrift, SeatRepair, StaleOutbox,
    UnderpaidBooking, UnitOfWork,
};

/// The audit action of a seat repair.
pub const REPAIR_SEATS_ACTION: &str = "consistency.repair_seats";

#[derive(Clone)]
pub struct ConsistencyService {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
    /// Unsent outbox rows older than this are reported.
    outbox_retention: chrono::Duration,
}

impl std::fmt::Debug for ConsistencyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsistencyService")
            .field("outbox_retention", &self.outbox_retention)
            .finish_non_exhaustive()
    }
}

/// What one check found (and, with repair, fixed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyReport {
    /// Events whose seats did not add up and were not repaired.
    pub seat_drifts: Vec<SeatDrift>,
    /// Events whose `available_seats` the repair set.
    pub repaired: Vec<SeatDrift>,
    /// Events with more seats taken than their capacity.
    pub overbooked: Vec<SeatDrift>,
    pub promo_uses: Vec<PromoUseDrift>,
    pub foreign_price_options: Vec<ForeignPriceOption>,
    pub underpaid: Vec<UnderpaidBooking>,
    pub stale_outbox: StaleOutbox,
}

impl ConsistencyReport {
    /// Problems left (repaired ones do not count).
    #[must_use]
    pub fn problems(&self) -> usize {
        self.seat_drifts.len()
            + self.overbooked.len()
            + self.promo_uses.len()
            + self.foreign_price_options.len()
            + self.underpaid.len()
            + usize::from(self.stale_outbox.count > 0)
    }

    /// One human-readable line per finding, the repairs included.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        let seats = |d: &SeatDrift| {
            format!(
                "event {}: available_seats {} + booked {} + held {} != max_participants {}",
                d.event_id.0, d.available, d.booked, d.held, d.capacity
            )
        };
        let mut lines = Vec::new();
        for d in &self.seat_drifts {
            lines.push(format!(
                "seats: {} (repairable: should be {})",
                seats(d),
                d.expected_available()
            ));
        }
        for d in &self.repaired {
            lines.push(format!(
                "seats repaired: {}; available_seats set to {}",
                seats(d),
                d.expected_available()
            ));
        }
        for d in &self.overbooked {
            lines.push(format!(
                "seats: {} (not repairable: more seats taken than the event has)",
                seats(d)
            ));
        }
        for p in &self.promo_uses {
            lines.push(format!(
                "promo code {} ({}): current_uses {} but {} bookings used it",
                p.promo_code_id, p.code, p.current_uses, p.bookings
            ));
        }
        for f in &self.foreign_price_options {
            lines.push(format!(
                "price option: booking {} of event {} is priced with option {} of event {}",
                f.booking_id, f.booking_event_id, f.price_option_id, f.option_event_id
            ));
        }
        for u in &self.underpaid {
            lines.push(format!(
                "payments: booking {} is confirmed with {} of {} minor units paid",
                u.booking_id, u.paid_minor, u.total_minor
            ));
        }
        if self.stale_outbox.count > 0 {
            lines.push(format!(
                "outbox: {} rows unsent past the retention (oldest created {})",
                self.stale_outbox.count,
                self.stale_outbox
                    .oldest
                    .map_or_else(|| "?".to_owned(), |t| t.to_rfc3339())
            ));
        }
        lines
    }
}

impl ConsistencyService {
    #[must_use]
    pub fn new(
        uow: Arc<dyn UnitOfWork>,
        clock: Arc<dyn Clock>,
        outbox_retention: chrono::Duration,
    ) -> Self {
        Self {
            uow,
            clock,
            outbox_retention,
        }
    }

    /// Runs every check in one transaction; with `repair`, sets the seat counts that can be
    /// derived (with an audit row each) and commits. Without it nothing is written.
    #[tracing::instrument(name = "ConsistencyService.check", skip(self))]
    pub async fn check(&self, repair: bool) -> Result<ConsistencyReport, AppError> {
        let now: Timestamp = self.clock.now();
        let tx = self.uow.begin().await?;
        let store = tx.consistency();
        let mut report = ConsistencyReport {
            seat_drifts: Vec::new(),
            repaired: Vec::new(),
            overbooked: Vec::new(),
            promo_uses: store.promo_use_drifts().await?,
            foreign_price_options: store.foreign_price_options().await?,
            underpaid: store.underpaid_bookings().await?,
            stale_outbox: store
                .unsent_outbox_before(now - self.outbox_retention)
                .await?,
        };
        let ctx = RequestContext::system("consistency-check");
        for drift in store.seat_drifts().await? {
            let expected = drift.expected_available();
            if expected < 0 || expected > drift.capacity {
                report.overbooked.push(drift);
                continue;
            }
            if !repair {
                report.seat_drifts.push(drift);
                continue;
            }
            match store.repair_seats(drift.event_id, now).await? {
                SeatRepair::AddsUp => {}
                SeatRepair::Overbooked(d) => report.overbooked.push(d),
                SeatRepair::Repaired(d) => {
                    tx.audit()
                        .record(
                            AuditEntry::by(&ctx, REPAIR_SEATS_ACTION, "event", d.event_id.0, now)
                                .with_change(
                                    Some(json!({"available_seats": d.available})),
                                    Some(json!({
                                        "available_seats": d.expected_available(),
                                        "max_participants": d.capacity,
                                        "booked": d.booked,
                                        "held": d.held,
                                    })),
                                ),
                        )
                        .await?;
                    report.repaired.push(d);
                }
            }
        }
        if repair && !report.repaired.is_empty() {
            tx.commit().await?;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use domain::EventId;

    use super::*;
    use crate::clock::ManualClock;
    use crate::services::test_support::{FakeTx, uow_with};

    fn drift(event: i64, available: i64) -> SeatDrift {
        SeatDrift {
            event_id: EventId(event),
            capacity: 10,
            available,
            booked: 4,
            held: 1,
        }
    }

    fn tx_finding(drifts: Vec<SeatDrift>, committed: &Arc<AtomicBool>) -> FakeTx {
        let mut tx = FakeTx::new(Arc::clone(committed));
        tx.consistency
            .expect_promo_use_drifts()
            .returning(|| Ok(Vec::new()));
        tx.consistency
            .expect_foreign_price_options()
            .returning(|| Ok(Vec::new()));
        tx.consistency
            .expect_underpaid_bookings()
            .returning(|| Ok(Vec::new()));
        tx.consistency.expect_unsent_outbox_before().returning(|_| {
            Ok(StaleOutbox {
                count: 0,
                oldest: None,
            })
        });
        tx.consistency
            .expect_seat_drifts()
            .returning(move || Ok(drifts.clone()));
        tx
    }

    fn service(tx: FakeTx) -> ConsistencyService {
        ConsistencyService::new(
            Arc::new(uow_with(vec![tx])),
            Arc::new(ManualClock::new(chrono::Utc::now())),
            chrono::Duration::days(7),
        )
    }

    #[tokio::test]
    async fn a_check_reports_and_writes_nothing() {
        let committed = Arc::new(AtomicBool::new(false));
        let over = SeatDrift {
            booked: 11,
            ..drift(2, 0)
        };
        let mut tx = tx_finding(vec![drift(1, 2), over.clone()], &committed);
        tx.consistency.expect_repair_seats().never();
        tx.audit.expect_record().never();
        let report = service(tx).check(false).await.unwrap();
        assert_eq!(report.seat_drifts, vec![drift(1, 2)]);
        assert_eq!(report.overbooked, vec![over]);
        assert_eq!(report.problems(), 2);
        assert!(
            report.lines()[0].contains("should be 5"),
            "{:?}",
            report.lines()
        );
        assert!(!committed.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_repair_sets_the_seats_with_an_audit_row_and_commits() {
        let committed = Arc::new(AtomicBool::new(false));
        let over = SeatDrift {
            booked: 11,
            ..drift(3, 0)
        };
        let mut tx = tx_finding(vec![drift(1, 2), over.clone()], &committed);
        tx.consistency
            .expect_repair_seats()
            .times(1)
            .withf(|id, _| *id == EventId(1))
            .returning(|_, _| Ok(SeatRepair::Repaired(drift(1, 2))));
        tx.audit
            .expect_record()
            .times(1)
            .withf(|e| e.action == REPAIR_SEATS_ACTION && e.entity_id == "1")
            .returning(|_| Ok(()));
        let report = service(tx).check(true).await.unwrap();
        assert_eq!(report.repaired, vec![drift(1, 2)]);
        assert_eq!(report.overbooked, vec![over]);
        assert_eq!(report.problems(), 1, "the overbooked event is left");
        assert!(committed.load(std::sync::atomic::Ordering::SeqCst));
    }
}
