//! Creating and editing events: create (optionally publishing at once), update through the
//! domain, and reschedule (which tells participants).

use super::*;

/// Input of "create event" (`CreateEventRequest`).
#[derive(Debug, Clone, PartialEq)]
pub struct CreateEventCommand {
    pub event: NewEventInput,
    pub price_options: Vec<PriceOptionInput>,
    /// Publish right away instead of leaving a DRAFT.
    pub auto_publish: bool,
}

/// An event with its price options, as the API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventWithOptions {
    pub event: Event,
    pub price_options: Vec<PriceOption>,
}

/// `PUT /api/v1/events/{id}` (`UpdateEventRequest`): `None` leaves a field as it is.
///
/// Optional text fields (`description`, `short_description`, `location`, `category`,
/// `image_url`) are cleared by a blank string. The nullable non-text fields use a double
/// option: `Some(None)` clears them (`end_date`, `coordinates`, `refund_policy` — the latter
/// falls back to the platform default). When `start_date` moves and `end_date` is not given,
/// the end moves by the same amount, so the duration is kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateEventCommand {
    /// The version the client read (body `version` or `If-Match`); a mismatch is 409.
    pub expected_version: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub short_description: Option<String>,
    pub location: Option<String>,
    /// `(latitude, longitude)`.
    pub coordinates: Option<Option<(f64, f64)>>,
    pub category: Option<String>,
    pub image_url: Option<String>,
    pub start_date: Option<Timestamp>,
    pub end_date: Option<Option<Timestamp>>,
    pub max_participants: Option<i64>,
    pub price: Option<Money>,
    pub booking_deadline_hours: Option<i64>,
    /// The event's own limit on the seats one user holds (1..=100 000).
    pub max_seats_per_user: Option<i64>,
    pub is_featured: Option<bool>,
    pub refund_policy: Option<Option<RefundPolicy>>,
    pub pricing_rules: Option<PricingRules>,
}

impl UpdateEventCommand {
    fn touches_details(&self) -> bool {
        self.name.is_some()
            || self.description.is_some()
            || self.short_description.is_some()
            || self.location.is_some()
            || self.coordinates.is_some()
            || self.category.is_some()
            || self.image_url.is_some()
    }

    /// Whether the command changes nothing at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.touches_details()
            && self.start_date.is_none()
            && self.end_date.is_none()
            && self.max_participants.is_none()
            && self.price.is_none()
            && self.booking_deadline_hours.is_none()
            && self.max_seats_per_user.is_none()
            && self.is_featured.is_none()
            && self.refund_policy.is_none()
            && self.pricing_rules.is_none()
    }
}

/// Where a reschedule moves an event's start (the end moves by the same amount).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RescheduleTo {
    ShiftBy(chrono::Duration),
    StartAt(Timestamp),
}

/// Applies `cmd` to `event` through the domain; answers whether the start moved.
fn apply_update(
    event: &mut Event,
    cmd: UpdateEventCommand,
    now: Timestamp,
) -> Result<bool, AppError> {
    require_editable(event)?;
    if cmd.touches_details() {
        let d = &event.details;
        let input = EventDetailsInput {
            name: cmd.name.unwrap_or_else(|| d.name.clone()),
            description: cmd.description.or_else(|| d.description.clone()),
            short_description: cmd
                .short_description
                .or_else(|| d.short_description.clone()),
            location: cmd.location.or_else(|| d.location.clone()),
            coordinates: cmd
                .coordinates
                .unwrap_or_else(|| d.coordinates.map(|c| (c.latitude, c.longitude))),
            category: cmd.category.or_else(|| d.category.clone()),
            image_url: cmd.image_url.or_else(|| d.image_url.clone()),
        };
        event.update_details(DescriptiveFields::new(&input)?, now)?;
    }
    let mut moved = false;
    if cmd.start_date.is_some() || cmd.end_date.is_some() {
        let old = event.schedule;
        let start = cmd.start_date.unwrap_or(old.start_date);
        let end = cmd
            .end_date
            .unwrap_or_else(|| old.end_date.map(|end| end + (start - old.start_date)));
        if start != old.start_date || end != old.end_date {
            moved = event.reschedule(start, end, now)?;
        }
    }
    if let Some(max) = cmd
        .max_participants
        .filter(|max| *max != i64::from(event.seats.capacity()))
    {
        let _change = event.change_capacity(max, now)?;
    }
    if let Some(price) = cmd.price {
        event.change_price(price, now)?;
    }
    if let Some(hours) = cmd.booking_deadline_hours {
        event.change_booking_deadline_hours(hours, now)?;
    }
    if let Some(limit) = cmd.max_seats_per_user {
        event.change_max_seats_per_user(limit, now)?;
    }
    if let Some(featured) = cmd.is_featured {
        event.is_featured = featured;
        event.updated_at = now;
    }
    if let Some(policy) = cmd.refund_policy {
        event.set_refund_policy(policy, now)?;
    }
    if let Some(rules) = cmd.pricing_rules {
        event.set_pricing_rules(rules, now)?;
    }
    Ok(moved)
}

impl EventService {
    /// `POST /api/v1/events`, `CreateEvent`: ORGANIZER or ADMIN; the caller becomes the
    /// creator. A DRAFT unless `auto_publish`; a `publish_at` schedules the publication.
    #[tracing::instrument(name = "EventService.create_event", skip_all)]
    pub async fn create_event(
        &self,
        ctx: &RequestContext,
        cmd: CreateEventCommand,
    ) -> Result<EventWithOptions, AppError> {
        let creator = ctx.actor.require_role(
            &[Role::Organizer, Role::Admin],
            "only organizers and admins create events",
        )?;
        if cmd.auto_publish && cmd.event.publish_at.is_some() {
            return Err(AppError::invalid(
                "publish_at",
                "cannot be combined with auto_publish",
            ));
        }
        let now = self.clock.now();
        let new = NewEvent::new(creator, cmd.event, now)?;
        let options = cmd
            .price_options
            .into_iter()
            .map(NewPriceOption::new)
            .collect::<Result<Vec<_>, _>>()?;

        let tx = self.uow.begin().await?;
        let (mut event, price_options) = tx.events().insert(new, options).await?;
        emit(tx.as_ref(), &event, DomainEventType::EventCreated).await?;
        if cmd.auto_publish {
            let _published = event.publish(now)?;
            event = tx.events().update(&event).await?;
            emit(tx.as_ref(), &event, DomainEventType::EventPublished).await?;
        }
        tx.audit()
            .record(
                AuditEntry::by(ctx, "event.create", "event", event.id, now)
                    .with_change(None, Some(event_summary(&event))),
            )
            .await?;
        tx.commit().await?;
        Ok(EventWithOptions {
            event,
            price_options,
        })
    }

    /// `PUT /api/v1/events/{id}`, `UpdateEvent`: the creator or an admin. Edits go through the
    /// domain (descriptive fields, schedule, capacity never below seats taken, price, booking
    /// deadline, refund policy, pricing rules); a COMPLETED or CANCELED event cannot be edited
    /// (409 `INVALID_TRANSITION`). A moved start emits `event.rescheduled` (participants are
    /// told), any other edit `event.updated`.
    #[tracing::instrument(name = "EventService.update", skip_all)]
    pub async fn update(
        &self,
        ctx: &RequestContext,
        id: EventId,
        cmd: UpdateEventCommand,
    ) -> Result<EventWithOptions, AppError> {
        require_manager_role(ctx)?;
        if cmd.is_empty() {
            return Err(AppError::invalid("body", "no field to update"));
        }
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut event = Self::load_managed(tx.as_ref(), ctx, id).await?;
        check_version(&event, cmd.expected_version)?;
        let before = event.clone();
        let moved = apply_update(&mut event, cmd, now)?;
        let event = tx.events().update(&event).await?;
        if moved {
            emit_rescheduled(tx.as_ref(), &event, before.schedule).await?;
        } else {
            emit(tx.as_ref(), &event, DomainEventType::EventUpdated).await?;
        }
        tx.audit()
            .record(
                AuditEntry::by(ctx, "event.update", "event", event.id, now)
                    .with_change(Some(event_snapshot(&before)), Some(event_snapshot(&event))),
            )
            .await?;
        // A raised capacity frees seats: the waitlist is offered them in this transaction.
        let event = if event.seats.available() > before.seats.available() {
            offer_freed_seats(tx.as_ref(), id, now, &self.waitlist, ctx).await?;
            tx.events()
                .find(id)
                .await?
                .ok_or(AppError::NotFound { entity: "event" })?
        } else {
            event
        };
        let price_options = tx.events().price_options(id).await?;
        tx.commit().await?;
        Ok(EventWithOptions {
            event,
            price_options,
        })
    }

    /// Moves an event in time, keeping its duration (admin bulk reschedule, one event per
    /// call and transaction): the creator or an admin; a CANCELED or COMPLETED event is 409
    /// `INVALID_TRANSITION`. A moved start emits `event.rescheduled` with the old and new
    /// dates, so that participants are told; a target equal to the current start changes
    /// nothing.
    #[tracing::instrument(name = "EventService.reschedule", skip_all)]
    pub async fn reschedule(
        &self,
        ctx: &RequestContext,
        id: EventId,
        to: RescheduleTo,
    ) -> Result<Event, AppError> {
        require_manager_role(ctx)?;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut event = Self::load_managed(tx.as_ref(), ctx, id).await?;
        require_editable(&event)?;
        let old = event.schedule;
        let start = match to {
            RescheduleTo::ShiftBy(shift) => old.start_date.checked_add_signed(shift),
            RescheduleTo::StartAt(at) => Some(at),
        }
        .ok_or_else(|| AppError::invalid("shift_minutes", "moves the event out of range"))?;
        let end = old.end_date.map(|end| end + (start - old.start_date));
        if !event.reschedule(start, end, now)? {
            return Ok(event);
        }
        let event = tx.events().update(&event).await?;
        emit_rescheduled(tx.as_ref(), &event, old).await?;
        tx.audit()
            .record(
                AuditEntry::by(ctx, "event.reschedule", "event", event.id, now).with_change(
                    Some(json!({
                        "start_date": old.start_date.to_rfc3339(),
                        "end_date": old.end_date.map(|d| d.to_rfc3339()),
                    })),
                    Some(json!({
                        "start_date": event.schedule.start_date.to_rfc3339(),
                        "end_date": event.schedule.end_date.map(|d| d.to_rfc3339()),
                    })),
                ),
            )
            .await?;
        tx.commit().await?;
        Ok(event)
    }
}

/// `event.rescheduled`: the event as it is now, with the dates it moved from, so that
/// participants can be told.
async fn emit_rescheduled(
    tx: &dyn Tx,
    event: &Event,
    previous: domain::event::Schedule,
) -> Result<(), AppError> {
    let mut payload = event_summary(event);
    payload["previous_start_date"] = json!(previous.start_date.to_rfc3339());
    payload["previous_end_date"] = json!(previous.end_date.map(|d| d.to_rfc3339()));
    emit_with(tx, event, DomainEventType::EventRescheduled, payload).await
}
