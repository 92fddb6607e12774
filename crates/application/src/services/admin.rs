//! Admin use cases (PRODUCT.md §2 bulk, §12): the audit query, bulk cancel and bulk reschedule
//! of events, and the popularity/conversion report.
//!
//! Bulk operations run every item in its own transaction through the single-event use case
//! (`BookingService::cancel_event`, `EventService::reschedule`), so one failing item never
//! undoes or stops the others; each item is reported `succeeded` or `failed` with the error.

use std::sync::Arc;

use chrono::Duration;
use domain::{EventId, Timestamp};

use crate::actor::{RequestContext, Role};
use crate::clock::Clock;
use crate::ports::{AuditQuery, AuditRecord, EventPopularity, UnitOfWork};
use crate::services::bookings::{BookingService, CancelEventCommand};
use crate::services::events::{EventService, RescheduleTo};
use crate::{AppError, Page};

/// The most events one bulk request may name.
pub const MAX_BULK_ITEMS: usize = 100;
/// The longest report a caller may ask for.
pub const MAX_REPORT_LIMIT: u32 = 100;
/// The report's default length and period.
const DEFAULT_REPORT_LIMIT: u32 = 10;
const DEFAULT_REPORT_DAYS: i64 = 30;

/// `POST /api/v1/admin/events/bulk-cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkCancelCommand {
    pub event_ids: Vec<EventId>,
    pub reason: Option<String>,
    pub notify_participants: bool,
    pub force_majeure: bool,
}

/// The outcome of one item of a bulk operation.
#[derive(Debug)]
pub struct BulkItemResult {
    pub event_id: EventId,
    /// `Ok` when the item succeeded; the error it failed with otherwise.
    pub outcome: Result<(), AppError>,
}

/// `GET /api/v1/admin/reports/popularity`: events with bookings created in `[from, to]`, most
/// confirmed first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopularityReport {
    pub from: Timestamp,
    pub to: Timestamp,
    pub events: Vec<EventPopularity>,
}

/// The admin use cases.
#[derive(Clone)]
pub struct AdminService {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
    events: EventService,
    bookings: BookingService,
}

impl std::fmt::Debug for AdminService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminService").finish_non_exhaustive()
    }
}

fn require_admin(ctx: &RequestContext) -> Result<(), AppError> {
    ctx.actor
        .require_role(&[Role::Admin], "admin operations are for admins only")
        .map(|_| ())
}

fn check_bulk(ids: &[EventId]) -> Result<(), AppError> {
    if ids.is_empty() {
        return Err(AppError::invalid(
            "event_ids",
            "must name at least one event",
        ));
    }
    if ids.len() > MAX_BULK_ITEMS {
        return Err(AppError::invalid(
            "event_ids",
            format!("at most {MAX_BULK_ITEMS} events per request"),
        ));
    }
    Ok(())
}

impl AdminService {
    #[must_use]
    pub fn new(
        uow: Arc<dyn UnitOfWork>,
        clock: Arc<dyn Clock>,
        events: EventService,
        bookings: BookingService,
    ) -> Self {
        Self {
            uow,
            clock,
            events,
            bookings,
        }
    }

    /// `GET /api/v1/admin/audit`: the audit log, newest first, filtered.
    #[tracing::instrument(name = "AdminService.audit", skip_all)]
    pub async fn audit(
        &self,
        ctx: &RequestContext,
        query: AuditQuery,
    ) -> Result<Page<AuditRecord>, AppError> {
        require_admin(ctx)?;
        if let (Some(from), Some(to)) = (query.from, query.to)
            && from > to
        {
            return Err(AppError::invalid("to", "must not be before from"));
        }
        let tx = self.uow.begin().await?;
        let page = tx.audit().search(&query).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// Cancels every named event as the organizer cancellation does (pending bookings
    /// canceled, confirmed ones refunded in full, waitlist closed), one transaction each.
    #[tracing::instrument(name = "AdminService.bulk_cancel", skip_all)]
    pub async fn bulk_cancel(
        &self,
        ctx: &RequestContext,
        cmd: BulkCancelCommand,
    ) -> Result<Vec<BulkItemResult>, AppError> {
        require_admin(ctx)?;
        check_bulk(&cmd.event_ids)?;
        let mut results = Vec::with_capacity(cmd.event_ids.len());
        for &event_id in &cmd.event_ids {
            let single = CancelEventCommand {
                reason: cmd.reason.clone(),
                notify_participants: cmd.notify_participants,
                force_majeure: cmd.force_majeure,
                expected_version: None,
            };
            let outcome = self
                .bookings
                .cancel_event(ctx, event_id, single)
                .await
                .map(|_| ());
            results.push(BulkItemResult { event_id, outcome });
        }
        Ok(results)
    }

    /// Moves every named event (by the same shift, or to the same start), keeping each one's
    /// duration, one transaction each; participants are told through `event.rescheduled`.
    #[tracing::instrument(name = "AdminService.bulk_reschedule", skip_all)]
    pub async fn bulk_reschedule(
        &self,
        ctx: &RequestContext,
        event_ids: Vec<EventId>,
        to: RescheduleTo,
    ) -> Result<Vec<BulkItemResult>, AppError> {
        require_admin(ctx)?;
        check_bulk(&event_ids)?;
        if to == RescheduleTo::ShiftBy(Duration::zero()) {
            return Err(AppError::invalid("shift_minutes", "must not be 0"));
        }
        let mut results = Vec::with_capacity(event_ids.len());
        for event_id in event_ids {
            let outcome = self.events.reschedule(ctx, event_id, to).await.map(|_| ());
            results.push(BulkItemResult { event_id, outcome });
        }
        Ok(results)
    }

    /// The popularity/conversion report over `[from, to]` (default: the last 30 days), at
    /// most `limit` events (default 10, at most 100).
    #[tracing::instrument(name = "AdminService.popularity", skip_all)]
    pub async fn popularity(
        &self,
        ctx: &RequestContext,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit: Option<i64>,
    ) -> Result<PopularityReport, AppError> {
        require_admin(ctx)?;
        let limit = match limit {
            None => DEFAULT_REPORT_LIMIT,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_REPORT_LIMIT).contains(n))
                .ok_or_else(|| {
                    AppError::invalid("limit", format!("must be between 1 and {MAX_REPORT_LIMIT}"))
                })?,
        };
        let to = to.unwrap_or_else(|| self.clock.now());
        let from = from.unwrap_or(to - Duration::days(DEFAULT_REPORT_DAYS));
        if from > to {
            return Err(AppError::invalid("to", "must not be before from"));
        }
        // This instance's views counted since the last flush are in the report too (other
        // instances flush theirs every few seconds).
        if let Err(e) = self.events.flush_views().await {
            tracing::warn!(error = %e, "pending views could not be written before the report");
        }
        let tx = self.uow.begin().await?;
        let events = tx.events().popularity(from, to, limit).await?;
        tx.commit().await?;
        Ok(PopularityReport { from, to, events })
    }
}
