//! The `complete-events` job's use case: events that are over become COMPLETED, their
//! confirmed bookings with them, and their waitlist is closed.

use domain::booking::BookingStatus;
use serde_json::json;

use super::commerce::booking_summary;
use super::events::{EventService, emit_with, event_summary};
use crate::outbox::DomainEventType;
use crate::ports::{AuditEntry, BookingLog};
use crate::services::recording::Recorder;
use crate::{AppError, RequestContext};

impl EventService {
    /// Completes up to `limit` PUBLISHED events whose end (or start, without an end) has
    /// passed, in one transaction, as the system: CONFIRMED bookings → COMPLETED (log +
    /// `booking.completed`), open waitlist entries → CANCELED (waitlist audit, held seats
    /// released), `event.completed` with the counts, one audit line per event. Pending
    /// bookings are left to the expiry job. Answers how many events were completed.
    #[tracing::instrument(name = "EventService.complete_due", skip_all)]
    pub async fn complete_due(&self, limit: u32) -> Result<u64, AppError> {
        if limit == 0 {
            return Ok(0);
        }
        let ctx = RequestContext::system("complete-events");
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let due = tx.events().claim_due_for_completion(now, limit).await?;
        let mut completed = 0;
        for mut event in due {
            let before = event_summary(&event);
            let _ = event.complete(now)?;
            let event = tx.events().update(&event).await?;

            let mut bookings_completed = 0u32;
            for mut booking in tx.bookings().confirmed_for_event(event.id).await? {
                let transition = booking.complete(now)?;
                let booking = tx.bookings().update(&booking).await?;
                tx.bookings()
                    .append_log(BookingLog {
                        booking_id: booking.id,
                        old_status: Some(transition.from),
                        new_status: BookingStatus::Completed,
                        actor_id: None,
                        details: json!({"reason": "event_completed"}),
                        created_at: now,
                    })
                    .await?;
                Recorder::new(tx.as_ref(), now)
                    .emit_payload(
                        &booking,
                        DomainEventType::BookingCompleted,
                        booking_summary(&booking),
                    )
                    .await?;
                bookings_completed += 1;
            }

            let mut waitlist_closed = 0u32;
            for mut entry in tx.waitlist().open_for_event(event.id).await? {
                let old = entry.status;
                let hold = entry.cancel(now)?;
                if hold.seats > 0 {
                    tx.events().release_seats(event.id, hold.seats).await?;
                }
                let stored = tx.waitlist().update(&entry).await?;
                tx.waitlist()
                    .append_audit(&stored, Some(old), None, now)
                    .await?;
                waitlist_closed += 1;
            }

            let mut payload = event_summary(&event);
            payload["bookings_completed"] = json!(bookings_completed);
            payload["waitlist_closed"] = json!(waitlist_closed);
            emit_with(
                tx.as_ref(),
                &event,
                DomainEventType::EventCompleted,
                payload,
            )
            .await?;
            tx.audit()
                .record(
                    AuditEntry::by(&ctx, "event.complete", "event", event.id, now)
                        .with_change(Some(before), Some(event_summary(&event))),
                )
                .await?;
            completed += 1;
        }
        tx.commit().await?;
        Ok(completed)
    }
}
