//! The `send-reminders` job's use case: `event.reminder` for every CONFIRMED booking 24 h and
//! 1 h before its event starts, exactly once per booking and kind (PRODUCT.md §10).

use std::sync::Arc;

use serde_json::json;

use crate::AppError;
use crate::clock::Clock;
use crate::outbox::DomainEventType;
use crate::ports::{ReminderKind, UnitOfWork};
use crate::services::recording::Recorder;

#[derive(Clone)]
pub struct ReminderService {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ReminderService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReminderService").finish_non_exhaustive()
    }
}

impl ReminderService {
    #[must_use]
    pub fn new(uow: Arc<dyn UnitOfWork>, clock: Arc<dyn Clock>) -> Self {
        Self { uow, clock }
    }

    /// Emits the reminders that are due, up to `limit` per kind, in one transaction. The
    /// `booking_reminders` row written by `mark_reminder_sent` and the outbox row commit
    /// together, so a reminder is neither lost nor sent twice, whatever runs concurrently.
    /// Answers how many reminders were emitted.
    #[tracing::instrument(name = "ReminderService.send_due", skip_all)]
    pub async fn send_due(&self, limit: u32) -> Result<u64, AppError> {
        if limit == 0 {
            return Ok(0);
        }
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut sent = 0;
        for kind in [ReminderKind::DayBefore, ReminderKind::HourBefore] {
            let due = tx
                .bookings()
                .claim_reminders_due(kind, now, now + kind.lead(), limit)
                .await?;
            for booking in due {
                if !tx
                    .bookings()
                    .mark_reminder_sent(booking.id, kind, now)
                    .await?
                {
                    continue;
                }
                let payload = json!({
                    "booking_id": booking.id.value(),
                    "event_id": booking.event_id.value(),
                    "user_id": booking.user_id.0.to_string(),
                    "kind": kind.as_str(),
                    "quantity": booking.quantity.get(),
                    "ticket_code": booking.ticket_code.as_ref().map(ToString::to_string),
                });
                Recorder::new(tx.as_ref(), now)
                    .emit_payload(&booking, DomainEventType::EventReminder, payload)
                    .await?;
                sent += 1;
            }
        }
        tx.commit().await?;
        Ok(sent)
    }
}
