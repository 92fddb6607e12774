//! Publishing events: now, at a scheduled time, and the pass that publishes what is due.

use super::*;

/// `POST /api/v1/events/{id}/publish` (`PublishEventRequest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishEventCommand {
    /// A future instant schedules the publication (the event stays DRAFT until then); absent
    /// or not in the future publishes now.
    pub publish_at: Option<Timestamp>,
    pub expected_version: Option<i64>,
}

impl EventService {
    /// `POST /api/v1/events/{id}/publish`, `PublishEvent`: the creator or an admin. Without a
    /// future `publish_at` the DRAFT is PUBLISHED now (`event.published`); with one, it stays a
    /// DRAFT whose publication is scheduled (`event.updated`) and [`EventService::publish_due`]
    /// publishes it when due. Anything but a DRAFT is 409 `INVALID_TRANSITION`.
    #[tracing::instrument(name = "EventService.publish", skip_all)]
    pub async fn publish(
        &self,
        ctx: &RequestContext,
        id: EventId,
        cmd: PublishEventCommand,
    ) -> Result<EventWithOptions, AppError> {
        require_manager_role(ctx)?;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut event = Self::load_managed(tx.as_ref(), ctx, id).await?;
        check_version(&event, cmd.expected_version)?;
        let before = event_summary(&event);
        let (kind, action) = match cmd.publish_at.filter(|at| *at > now) {
            Some(at) => {
                event.schedule_publication(at, now)?;
                (DomainEventType::EventUpdated, "event.schedule_publication")
            }
            None => {
                let _published = event.publish(now)?;
                (DomainEventType::EventPublished, "event.publish")
            }
        };
        let event = tx.events().update(&event).await?;
        emit(tx.as_ref(), &event, kind).await?;
        tx.audit()
            .record(
                AuditEntry::by(ctx, action, "event", event.id, now)
                    .with_change(Some(before), Some(event_summary(&event))),
            )
            .await?;
        let price_options = tx.events().price_options(id).await?;
        tx.commit().await?;
        Ok(EventWithOptions {
            event,
            price_options,
        })
    }

    /// The scheduled-publication pass (job `publish-scheduled`): publishes up to `limit` DRAFTs
    /// whose `publish_at` has come, in one transaction, as the system. A due event that can no
    /// longer be published (its start has passed) gets its `publish_at` cleared, so it is not
    /// claimed again, and an `admin.alert` is emitted. Answers how many were published.
    #[tracing::instrument(name = "EventService.publish_due", skip_all)]
    pub async fn publish_due(&self, limit: u32) -> Result<u64, AppError> {
        if limit == 0 {
            return Ok(0);
        }
        let ctx = RequestContext::system("publish-scheduled");
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let due = tx.events().claim_due_for_publication(now, limit).await?;
        let mut published = 0;
        for mut event in due {
            let before = event_summary(&event);
            match event.publish_if_due(now) {
                Ok(None) => {}
                Ok(Some(_)) => {
                    let event = tx.events().update(&event).await?;
                    emit(tx.as_ref(), &event, DomainEventType::EventPublished).await?;
                    tx.audit()
                        .record(
                            AuditEntry::by(&ctx, "event.publish_scheduled", "event", event.id, now)
                                .with_change(Some(before), Some(event_summary(&event))),
                        )
                        .await?;
                    published += 1;
                }
                Err(refusal) => {
                    event.publish_at = None;
                    event.updated_at = now;
                    let event = tx.events().update(&event).await?;
                    let mut payload = json!({
                        "alert": "scheduled_publication_failed",
                        "code": refusal.code(),
                        "message": refusal.to_string(),
                    });
                    payload["event"] = event_summary(&event);
                    emit_with(tx.as_ref(), &event, DomainEventType::AdminAlert, payload).await?;
                    tx.audit()
                        .record(
                            AuditEntry::by(
                                &ctx,
                                "event.publish_scheduled_failed",
                                "event",
                                event.id,
                                now,
                            )
                            .with_change(Some(before), Some(event_summary(&event))),
                        )
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(published)
    }
}
