//! Event use cases (PRODUCT.md §2), one module per use case: [`editing`] (create, update,
//! reschedule), [`catalog`] (details, the catalog, stats), [`publication`] (publish now or
//! scheduled, and the scheduled-publication pass) and [`price_options`]. Every write checks the
//! caller, validates through the domain and changes state in one transaction together with its
//! audit and outbox rows. What they share — the service itself, the permission checks and the
//! summaries written to the outbox and the audit log — is here.

mod catalog;
mod editing;
mod price_options;
mod publication;
mod views;

use std::sync::Arc;

use domain::event::{
    CrewStatus, Event, EventDetails as DescriptiveFields, EventDetailsInput, EventStatus, NewEvent,
    NewEventInput,
};
use domain::price_option::{NewPriceOption, PriceOption, PriceOptionInput};
use domain::pricing::PricingRules;
use domain::refund_policy::RefundPolicy;
use domain::review::RatingSummary;
use domain::{DomainError, EventId, Money, PriceOptionId, Timestamp, UserId, text};
use serde_json::{Value, json};

use crate::actor::{RequestContext, Role};
use crate::clock::Clock;
use crate::outbox::DomainEventType;
use crate::ports::{
    AuditEntry, CrewAssignmentRecord, EventListing, EventQuery, EventSort, EventStats, Tx,
    UnitOfWork,
};
use crate::services::recording::Recorder;
use crate::services::waitlist::{WaitlistSettings, offer_freed_seats};
use crate::{AppError, Page, PageRequest};

pub use catalog::{EventDetails, ListEventsQuery, SEARCH_MAX};
pub use editing::{CreateEventCommand, EventWithOptions, RescheduleTo, UpdateEventCommand};
pub use publication::PublishEventCommand;
pub use views::ViewCounter;

/// The event use cases.
#[derive(Clone)]
pub struct EventService {
    pub(super) uow: Arc<dyn UnitOfWork>,
    pub(super) clock: Arc<dyn Clock>,
    waitlist: WaitlistSettings,
    views: ViewCounter,
}

impl std::fmt::Debug for EventService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventService").finish_non_exhaustive()
    }
}

/// The part of an event other services care about: the outbox payload and the audit summary.
#[must_use]
pub fn event_summary(event: &Event) -> Value {
    json!({
        "event_id": event.id.value(),
        "name": event.details.name,
        "status": event.status.as_str(),
        "creator_id": event.creator_id.to_string(),
        "start_date": event.schedule.start_date.to_rfc3339(),
        "end_date": event.schedule.end_date.map(|d| d.to_rfc3339()),
        "max_participants": event.seats.capacity(),
        "available_seats": event.seats.available(),
        "price": event.price.to_string(),
        "category": event.details.category,
        "publish_at": event.publish_at.map(|d| d.to_rfc3339()),
    })
}

/// Every editable field of an event: the before/after of an edit's audit row.
fn event_snapshot(event: &Event) -> Value {
    let mut value = event_summary(event);
    if let Value::Object(map) = &mut value {
        let d = &event.details;
        let extra = json!({
            "version": event.version,
            "description": d.description,
            "short_description": d.short_description,
            "location": d.location,
            "coordinates": d.coordinates.map(|c| json!([c.latitude, c.longitude])),
            "image_url": d.image_url,
            "booking_deadline_hours": event.booking_deadline_hours,
            "max_seats_per_user": event.max_seats_per_user,
            "is_featured": event.is_featured,
            "refund_policy": serde_json::to_value(&event.refund_policy).unwrap_or(Value::Null),
            "pricing_rules": serde_json::to_value(&event.pricing_rules).unwrap_or(Value::Null),
        });
        if let Value::Object(extra) = extra {
            map.extend(extra);
        }
    }
    value
}

/// The caller may manage events at all (guest → 401, USER → 403). Checked before any
/// transaction; ownership is checked once the event is loaded.
fn require_manager_role(ctx: &RequestContext) -> Result<UserId, AppError> {
    ctx.actor.require_role(
        &[Role::Organizer, Role::Admin],
        "only organizers and admins manage events",
    )
}

/// Whether the caller created the event or is an admin (no error: used for visibility).
fn manages(ctx: &RequestContext, event: &Event) -> bool {
    ctx.actor.is_admin()
        || (ctx.actor.role() == Role::Organizer && ctx.actor.user_id() == Some(event.creator_id))
}

/// Who may see an event at all: CANCELED stays visible so that people who booked it learn
/// what happened; a DRAFT exists only for its creator and admins.
pub(crate) fn visible_to(ctx: &RequestContext, event: &Event) -> bool {
    event.status != EventStatus::Draft
        || ctx.actor.is_admin()
        || ctx.actor.user_id() == Some(event.creator_id)
}

fn check_version(event: &Event, expected: Option<i64>) -> Result<(), AppError> {
    match expected {
        Some(v) if v != event.version => Err(AppError::version_conflict("event")),
        _ => Ok(()),
    }
}

fn check_period(
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    to_field: &'static str,
    from_field: &'static str,
) -> Result<(), AppError> {
    match (from, to) {
        (Some(from), Some(to)) if from > to => Err(AppError::invalid(
            to_field,
            format!("must not be before {from_field}"),
        )),
        _ => Ok(()),
    }
}

/// Refuses any edit of an event that is over (COMPLETED) or CANCELED, whatever the field.
fn require_editable(event: &Event) -> Result<(), AppError> {
    match event.status {
        EventStatus::Draft | EventStatus::Published => Ok(()),
        EventStatus::Completed | EventStatus::Canceled => Err(DomainError::InvalidTransition {
            entity: "event",
            from: event.status.as_str(),
            action: "edit",
        }
        .into()),
    }
}

impl EventService {
    #[must_use]
    pub fn new(uow: Arc<dyn UnitOfWork>, clock: Arc<dyn Clock>) -> Self {
        Self {
            uow,
            clock,
            waitlist: WaitlistSettings::default(),
            views: ViewCounter::default(),
        }
    }

    /// The waitlist settings used when an edit raises the capacity (default: offers at once,
    /// 30-minute window).
    #[must_use]
    pub const fn with_waitlist(mut self, settings: WaitlistSettings) -> Self {
        self.waitlist = settings;
        self
    }

    /// One view of event `id`, counted like a read of its details by someone who does not
    /// manage it: what a details answer served from the read cache counts.
    pub fn count_view(&self, id: EventId) {
        self.views.count(id);
    }

    /// Writes the views counted since the last flush (see [`ViewCounter`]); answers how many.
    ///
    /// # Errors
    /// The database failed; the views are kept for the next flush.
    pub async fn flush_views(&self) -> Result<u64, AppError> {
        self.views.flush(self.uow.as_ref()).await
    }

    /// Loads and row-locks an event the caller manages (another organizer's event is 404).
    async fn load_managed(
        tx: &dyn Tx,
        ctx: &RequestContext,
        id: EventId,
    ) -> Result<Event, AppError> {
        let event = tx
            .events()
            .find_for_update(id)
            .await?
            .ok_or(AppError::NotFound { entity: "event" })?;
        ctx.actor.require_event_manager(event.creator_id)?;
        Ok(event)
    }
}

/// `kind` about `event`, stamped with the event's own last change.
async fn emit(tx: &dyn Tx, event: &Event, kind: DomainEventType) -> Result<(), AppError> {
    Recorder::new(tx, event.updated_at)
        .emit(event, kind, Value::Null)
        .await
}

/// `kind` about `event` with a payload of its own (summary plus what changed, or an alert).
pub(super) async fn emit_with(
    tx: &dyn Tx,
    event: &Event,
    kind: DomainEventType,
    payload: Value,
) -> Result<(), AppError> {
    Recorder::new(tx, event.updated_at)
        .emit_payload(event, kind, payload)
        .await
}

#[cfg(test)]
mod read_and_edit_tests;
#[cfg(test)]
mod tests;
