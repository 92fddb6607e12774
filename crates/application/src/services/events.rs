//! Event use cases (PRODUCT.md §2): create, read (details and catalog), edit, publish (now or
//! scheduled), stats, and the scheduled-publication pass. Every write checks the caller,
//! validates through the domain and changes state in one transaction together with its audit
//! and outbox rows.

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
use crate::outbox::{DomainEventType, OutboxMessage};
use crate::ports::{
    AuditEntry, CrewAssignmentRecord, EventListing, EventQuery, EventSort, EventStats, Tx,
    UnitOfWork,
};
use crate::services::waitlist::{WaitlistSettings, offer_freed_seats};
use crate::{AppError, Page, PageRequest};

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

/// `GET /api/v1/events/{id}`: the event, its price options and its public rating.
///
/// Callers who do not manage the event see only active price options.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDetails {
    pub event: Event,
    pub price_options: Vec<PriceOption>,
    pub rating: RatingSummary,
    /// The current crew request (assigned crew, or where its retries stand); `None` while the
    /// event has no crew (`crew_status` NONE).
    pub crew: Option<CrewAssignmentRecord>,
}

/// `ListEventsRequest`, as it arrives from an adapter (not scoped yet).
///
/// Scoping, by caller:
/// * `mine = true`: ORGANIZER or ADMIN only (guest → 401, USER → 403); the caller's own events
///   in the requested statuses (empty = every status).
/// * ADMIN without `mine`: every event in the requested statuses (empty = every status).
/// * everybody else (guests, USERs, ORGANIZERs browsing the catalog): PUBLISHED and COMPLETED
///   only; empty = PUBLISHED. Asking for another status (DRAFT, CANCELED) is refused, not
///   silently filtered: guest → 401, signed-in → 403.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListEventsQuery {
    pub statuses: Vec<EventStatus>,
    pub category: Option<String>,
    pub start_from: Option<Timestamp>,
    pub start_to: Option<Timestamp>,
    /// Full-text search over name and description; at most [`SEARCH_MAX`] characters.
    pub search: Option<String>,
    pub only_featured: bool,
    pub mine: bool,
    pub sort: EventSort,
    pub descending: bool,
    pub page: PageRequest,
}

/// The longest catalog search text.
pub const SEARCH_MAX: usize = 200;

/// Statuses anyone may list in the catalog.
const CATALOG_STATUSES: [EventStatus; 2] = [EventStatus::Published, EventStatus::Completed];

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
            && self.is_featured.is_none()
            && self.refund_policy.is_none()
            && self.pricing_rules.is_none()
    }
}

/// `POST /api/v1/events/{id}/publish` (`PublishEventRequest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishEventCommand {
    /// A future instant schedules the publication (the event stays DRAFT until then); absent
    /// or not in the future publishes now.
    pub publish_at: Option<Timestamp>,
    pub expected_version: Option<i64>,
}

/// Where a reschedule moves an event's start (the end moves by the same amount).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RescheduleTo {
    ShiftBy(chrono::Duration),
    StartAt(Timestamp),
}

/// The event use cases.
#[derive(Clone)]
pub struct EventService {
    pub(super) uow: Arc<dyn UnitOfWork>,
    pub(super) clock: Arc<dyn Clock>,
    waitlist: WaitlistSettings,
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

fn price_option_summary(option: &PriceOption) -> Value {
    json!({
        "price_option_id": option.id.value(),
        "event_id": option.event_id.value(),
        "name": option.name,
        "price": option.price.to_string(),
        "description": option.description,
        "quantity_available": option.quantity_available,
        "is_active": option.is_active,
    })
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
    #[must_use]
    pub fn new(uow: Arc<dyn UnitOfWork>, clock: Arc<dyn Clock>) -> Self {
        Self {
            uow,
            clock,
            waitlist: WaitlistSettings::default(),
        }
    }

    /// The waitlist settings used when an edit raises the capacity (default: offers at once,
    /// 30-minute window).
    #[must_use]
    pub const fn with_waitlist(mut self, settings: WaitlistSettings) -> Self {
        self.waitlist = settings;
        self
    }

    /// `POST /api/v1/events`, `CreateEvent`: ORGANIZER or ADMIN; the caller becomes the
    /// creator. A DRAFT unless `auto_publish`; a `publish_at` schedules the publication.
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

    /// `GET /api/v1/events/{id}`, `GetEvent`: public. A DRAFT exists only for its creator and
    /// admins (404 for everybody else); PUBLISHED, COMPLETED and CANCELED events are shown to
    /// everybody. A view of a PUBLISHED event by anyone but its managers is counted.
    pub async fn get(&self, ctx: &RequestContext, id: EventId) -> Result<EventDetails, AppError> {
        let tx = self.uow.begin().await?;
        let EventListing { event, rating } = tx
            .events()
            .listing(id)
            .await?
            .filter(|l| visible_to(ctx, &l.event))
            .ok_or(AppError::NotFound { entity: "event" })?;
        let manager = manages(ctx, &event);
        let mut price_options = tx.events().price_options(id).await?;
        if !manager {
            price_options.retain(|o| o.is_active);
        }
        if event.status == EventStatus::Published && !manager {
            tx.events().record_view(id).await?;
        }
        let crew = if event.crew_status == CrewStatus::None {
            None
        } else {
            tx.crew_assignments()
                .active_for_event(id)
                .await?
                .into_iter()
                .next()
        };
        tx.commit().await?;
        Ok(EventDetails {
            event,
            price_options,
            rating,
            crew,
        })
    }

    /// `GET /api/v1/events`, `ListEvents`: the catalog, scoped to what the caller may see (see
    /// [`ListEventsQuery`]). Inputs are validated before the database is touched.
    pub async fn list(
        &self,
        ctx: &RequestContext,
        query: ListEventsQuery,
    ) -> Result<Page<EventListing>, AppError> {
        let scoped = Self::scope(ctx, query)?;
        let tx = self.uow.begin().await?;
        let page = tx.events().search(&scoped).await?;
        tx.commit().await?;
        Ok(page)
    }

    fn scope(ctx: &RequestContext, query: ListEventsQuery) -> Result<EventQuery, AppError> {
        check_period(
            query.start_from,
            query.start_to,
            "start_date_to",
            "start_date_from",
        )?;
        let search = text::optional("search_query", query.search.as_deref(), SEARCH_MAX)?;
        let category = text::optional(
            "category",
            query.category.as_deref(),
            DescriptiveFields::CATEGORY_MAX,
        )?;
        let mut statuses = query.statuses;
        statuses.sort_by_key(|s| s.as_str());
        statuses.dedup();
        let creator_id = if query.mine {
            Some(ctx.actor.require_role(
                &[Role::Organizer, Role::Admin],
                "only organizers and admins have events of their own",
            )?)
        } else {
            None
        };
        if creator_id.is_none() && !ctx.actor.is_admin() {
            if statuses.is_empty() {
                statuses.push(EventStatus::Published);
            } else if statuses.iter().any(|s| !CATALOG_STATUSES.contains(s)) {
                let _admin = ctx.actor.require_role(
                    &[Role::Admin],
                    "the catalog lists PUBLISHED and COMPLETED events; organizers list their other events with mine=true",
                )?;
            }
        }
        Ok(EventQuery {
            statuses,
            category,
            start_from: query.start_from,
            start_to: query.start_to,
            search,
            only_featured: query.only_featured,
            creator_id,
            sort: query.sort,
            descending: query.descending,
            page: query.page,
        })
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

    /// `PUT /api/v1/events/{id}`, `UpdateEvent`: the creator or an admin. Edits go through the
    /// domain (descriptive fields, schedule, capacity never below seats taken, price, booking
    /// deadline, refund policy, pricing rules); a COMPLETED or CANCELED event cannot be edited
    /// (409 `INVALID_TRANSITION`). A moved start emits `event.rescheduled` (participants are
    /// told), any other edit `event.updated`.
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
            let mut payload = event_summary(&event);
            payload["previous_start_date"] = json!(before.schedule.start_date.to_rfc3339());
            payload["previous_end_date"] = json!(before.schedule.end_date.map(|d| d.to_rfc3339()));
            emit_with(
                tx.as_ref(),
                &event,
                DomainEventType::EventRescheduled,
                payload,
            )
            .await?;
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

    /// `POST /api/v1/events/{id}/publish`, `PublishEvent`: the creator or an admin. Without a
    /// future `publish_at` the DRAFT is PUBLISHED now (`event.published`); with one, it stays a
    /// DRAFT whose publication is scheduled (`event.updated`) and [`EventService::publish_due`]
    /// publishes it when due. Anything but a DRAFT is 409 `INVALID_TRANSITION`.
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

    /// Creates (`option_id = None`) or replaces a price option of an event: the creator or an
    /// admin, while the event is DRAFT or PUBLISHED. The event's version is bumped and
    /// `event.updated` emitted, since the options are part of what bookers see.
    ///
    /// `quantity_available` is the stock still on sale at this price (bookings decrement it,
    /// cancellations give it back); the event row is locked while it is written, so a
    /// concurrent booking cannot be lost between the read and the write.
    pub async fn save_price_option(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
        option_id: Option<PriceOptionId>,
        input: PriceOptionInput,
    ) -> Result<PriceOption, AppError> {
        require_manager_role(ctx)?;
        let option = NewPriceOption::new(input)?;
        self.write_price_option(ctx, event_id, option_id, "event.price_option.save", |_| {
            Ok(option)
        })
        .await
    }

    /// `DELETE /api/v1/events/{id}/price-options/{option_id}`: the option stops being offered
    /// (`is_active = false`); it is kept, since existing bookings refer to it.
    pub async fn deactivate_price_option(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
        option_id: PriceOptionId,
    ) -> Result<PriceOption, AppError> {
        require_manager_role(ctx)?;
        self.write_price_option(
            ctx,
            event_id,
            Some(option_id),
            "event.price_option.deactivate",
            |current| {
                let current =
                    current.ok_or_else(|| AppError::internal("no option to deactivate"))?;
                Ok(NewPriceOption {
                    name: current.name.clone(),
                    price: current.price,
                    description: current.description.clone(),
                    quantity_available: current.quantity_available,
                    is_active: false,
                })
            },
        )
        .await
    }

    /// `GET /api/v1/events/{id}/price-options`: public for visible events; callers who do not
    /// manage the event see only the active options.
    pub async fn price_options(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
    ) -> Result<Vec<PriceOption>, AppError> {
        let tx = self.uow.begin().await?;
        let event = tx
            .events()
            .find(event_id)
            .await?
            .filter(|e| visible_to(ctx, e))
            .ok_or(AppError::NotFound { entity: "event" })?;
        let mut options = tx.events().price_options(event_id).await?;
        if !manages(ctx, &event) {
            options.retain(|o| o.is_active);
        }
        tx.commit().await?;
        Ok(options)
    }

    /// The write shared by saving and deactivating a price option: `build` gets the stored
    /// option (when replacing one) and answers what to store.
    async fn write_price_option(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
        option_id: Option<PriceOptionId>,
        action: &str,
        build: impl FnOnce(Option<&PriceOption>) -> Result<NewPriceOption, AppError> + Send,
    ) -> Result<PriceOption, AppError> {
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut event = Self::load_managed(tx.as_ref(), ctx, event_id).await?;
        require_editable(&event)?;
        let before = match option_id {
            Some(oid) => Some(
                tx.events()
                    .price_options(event_id)
                    .await?
                    .into_iter()
                    .find(|o| o.id == oid)
                    .ok_or(AppError::NotFound {
                        entity: "price option",
                    })?,
            ),
            None => None,
        };
        let option = build(before.as_ref())?;
        let saved = tx
            .events()
            .save_price_option(event_id, option_id, option)
            .await?;
        event.updated_at = now;
        let event = tx.events().update(&event).await?;
        emit(tx.as_ref(), &event, DomainEventType::EventUpdated).await?;
        tx.audit()
            .record(
                AuditEntry::by(ctx, action, "price_option", saved.id, now).with_change(
                    before.as_ref().map(price_option_summary),
                    Some(price_option_summary(&saved)),
                ),
            )
            .await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Moves an event in time, keeping its duration (admin bulk reschedule, one event per
    /// call and transaction): the creator or an admin; a CANCELED or COMPLETED event is 409
    /// `INVALID_TRANSITION`. A moved start emits `event.rescheduled` with the old and new
    /// dates, so that participants are told; a target equal to the current start changes
    /// nothing.
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
        let mut payload = event_summary(&event);
        payload["previous_start_date"] = json!(old.start_date.to_rfc3339());
        payload["previous_end_date"] = json!(old.end_date.map(|d| d.to_rfc3339()));
        emit_with(
            tx.as_ref(),
            &event,
            DomainEventType::EventRescheduled,
            payload,
        )
        .await?;
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

    /// `GET /api/v1/events/{id}/stats`, `GetEventStats`: the creator or an admin; bookings
    /// created in `[from, to]` (both optional).
    pub async fn stats(
        &self,
        ctx: &RequestContext,
        id: EventId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<EventStats, AppError> {
        require_manager_role(ctx)?;
        check_period(from, to, "to", "from")?;
        let tx = self.uow.begin().await?;
        let event = tx
            .events()
            .find(id)
            .await?
            .ok_or(AppError::NotFound { entity: "event" })?;
        ctx.actor.require_event_manager(event.creator_id)?;
        let stats = tx.events().stats(id, from, to).await?;
        tx.commit().await?;
        Ok(stats)
    }

    /// The scheduled-publication pass (job `publish-scheduled`): publishes up to `limit` DRAFTs
    /// whose `publish_at` has come, in one transaction, as the system. A due event that can no
    /// longer be published (its start has passed) gets its `publish_at` cleared, so it is not
    /// claimed again, and an `admin.alert` is emitted. Answers how many were published.
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

async fn emit(tx: &dyn Tx, event: &Event, kind: DomainEventType) -> Result<(), AppError> {
    emit_with(tx, event, kind, event_summary(event)).await
}

pub(super) async fn emit_with(
    tx: &dyn Tx,
    event: &Event,
    kind: DomainEventType,
    payload: Value,
) -> Result<(), AppError> {
    let message = OutboxMessage::new(
        kind,
        "event",
        event.id,
        event.version,
        payload,
        event.updated_at,
    );
    tx.outbox().enqueue(message).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;
    use crate::clock::ManualClock;
    use crate::services::test_support::{FakeTx, uow_with};
    use chrono::{Duration, TimeZone, Utc};
    use domain::event::{EventDetailsInput, EventStatus};
    use domain::pricing::PricingRules;
    use domain::{EventId, Money, PriceOptionId, Timestamp, UserId};
    use mockall::Sequence;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2027, 4, 1, 8, 0, 0).unwrap()
    }

    fn organizer() -> RequestContext {
        RequestContext {
            actor: Actor::authenticated(UserId(uuid::Uuid::from_u128(5)), [Role::Organizer]),
            request_id: Some("req-1".into()),
            client_ip: Some("127.0.0.1".into()),
        }
    }

    fn command() -> CreateEventCommand {
        CreateEventCommand {
            event: NewEventInput {
                details: EventDetailsInput {
                    name: "Sea kayaking".into(),
                    ..Default::default()
                },
                start_date: now() + Duration::days(10),
                end_date: None,
                max_participants: 12,
                price: Money::parse("2500").unwrap(),
                booking_deadline_hours: Some(48),
                publish_at: None,
                is_featured: false,
                refund_policy: None,
                pricing_rules: PricingRules::default(),
            },
            price_options: vec![PriceOptionInput {
                name: "Student".into(),
                price: Money::parse("1800").unwrap(),
                description: None,
                quantity_available: Some(4),
                is_active: true,
            }],
            auto_publish: false,
        }
    }

    fn service(tx: Option<FakeTx>) -> EventService {
        let uow = uow_with(tx.into_iter().collect());
        EventService::new(Arc::new(uow), Arc::new(ManualClock::new(now())))
    }

    fn expect_insert(tx: &mut FakeTx) {
        tx.events
            .expect_insert()
            .times(1)
            .returning(|new, options| {
                let stored = options
                    .into_iter()
                    .enumerate()
                    .map(|(i, o)| PriceOption {
                        id: PriceOptionId(i64::try_from(i).unwrap() + 1),
                        event_id: EventId(7),
                        name: o.name,
                        price: o.price,
                        description: o.description,
                        quantity_available: o.quantity_available,
                        is_active: o.is_active,
                    })
                    .collect();
                Ok((Event::from_new(EventId(7), new), stored))
            });
    }

    #[tokio::test]
    async fn organizer_creates_a_draft_with_its_outbox_and_audit_rows_in_one_transaction() {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        expect_insert(&mut tx);
        tx.outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| {
                m.event_type == DomainEventType::EventCreated
                    && m.aggregate_id == "7"
                    && m.payload["status"] == "DRAFT"
            })
            .returning(|_| Ok(1));
        tx.audit
            .expect_record()
            .times(1)
            .withf(|a| {
                a.action == "event.create"
                    && a.entity_id == "7"
                    && a.actor_role == Role::Organizer
                    && a.request_id.as_deref() == Some("req-1")
                    && a.after
                        .as_ref()
                        .is_some_and(|v| v["name"] == "Sea kayaking")
            })
            .returning(|_| Ok(()));

        let created = service(Some(tx))
            .create_event(&organizer(), command())
            .await
            .unwrap();

        assert!(committed.load(Ordering::SeqCst));
        assert_eq!(created.event.status, EventStatus::Draft);
        assert_eq!(
            created.event.creator_id,
            organizer().actor.user_id().unwrap()
        );
        assert_eq!(created.event.booking_deadline_hours, 48);
        assert_eq!(created.price_options.len(), 1);
        assert_eq!(created.price_options[0].quantity_available, Some(4));
    }

    #[tokio::test]
    async fn auto_publish_publishes_in_the_same_transaction_and_emits_both_events_in_order() {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        expect_insert(&mut tx);
        tx.events
            .expect_update()
            .times(1)
            .withf(|e| e.status == EventStatus::Published && e.published_at == Some(now()))
            .returning(|e| {
                Ok(Event {
                    version: e.version + 1,
                    ..e.clone()
                })
            });
        let mut seq = Sequence::new();
        for kind in [
            DomainEventType::EventCreated,
            DomainEventType::EventPublished,
        ] {
            tx.outbox
                .expect_enqueue()
                .times(1)
                .in_sequence(&mut seq)
                .withf(move |m| m.event_type == kind)
                .returning(|_| Ok(1));
        }
        tx.audit.expect_record().times(1).returning(|_| Ok(()));
        let mut cmd = command();
        cmd.auto_publish = true;

        let created = service(Some(tx))
            .create_event(&organizer(), cmd)
            .await
            .unwrap();

        assert_eq!(created.event.status, EventStatus::Published);
        assert_eq!(created.event.version, 1);
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn users_are_forbidden_and_guests_unauthenticated_before_any_transaction() {
        let user = RequestContext::new(Actor::authenticated(
            UserId(uuid::Uuid::from_u128(1)),
            [Role::User],
        ));
        let err = service(None)
            .create_event(&user, command())
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");
        let err = service(None)
            .create_event(&RequestContext::new(Actor::guest()), command())
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Unauthenticated), "{err:?}");
    }

    #[tokio::test]
    async fn invalid_input_is_a_validation_error_before_any_transaction() {
        let mut past = command();
        past.event.start_date = now() - Duration::hours(1);
        let mut bad_option = command();
        bad_option.price_options[0].name = " ".into();
        let mut both = command();
        both.auto_publish = true;
        both.event.publish_at = Some(now() + Duration::days(1));
        for (cmd, field) in [
            (past, "start_date"),
            (bad_option, "price_options.name"),
            (both, "publish_at"),
        ] {
            match service(None)
                .create_event(&organizer(), cmd)
                .await
                .unwrap_err()
            {
                AppError::Validation { fields } => assert_eq!(fields[0].field, field),
                other => panic!("expected a validation error on {field}, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_failing_outbox_write_aborts_the_whole_transaction() {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        expect_insert(&mut tx);
        tx.outbox.expect_enqueue().times(1).returning(|_| {
            Err(AppError::Unavailable {
                dependency: "database",
            })
        });
        tx.audit.expect_record().never();

        let err = service(Some(tx))
            .create_event(&organizer(), command())
            .await
            .unwrap_err();

        assert_eq!(err.code(), "SERVICE_UNAVAILABLE");
        assert!(
            !committed.load(Ordering::SeqCst),
            "nothing is committed: the dropped Tx rolls back"
        );
    }
}

#[cfg(test)]
mod read_and_edit_tests {
    use super::*;
    use crate::Actor;
    use crate::clock::ManualClock;
    use crate::services::test_support::{FakeTx, uow_with};
    use chrono::{Duration, TimeZone, Utc};
    use std::sync::atomic::{AtomicBool, Ordering};

    const CREATOR: u128 = 5;

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2027, 4, 1, 8, 0, 0).unwrap()
    }

    fn ctx(n: u128, role: Role) -> RequestContext {
        RequestContext::new(Actor::authenticated(
            UserId(uuid::Uuid::from_u128(n)),
            [role],
        ))
    }

    fn creator() -> RequestContext {
        ctx(CREATOR, Role::Organizer)
    }

    fn guest() -> RequestContext {
        RequestContext::new(Actor::guest())
    }

    fn draft() -> Event {
        let input = NewEventInput {
            details: EventDetailsInput {
                name: "Canyoning".into(),
                description: Some("Wet and fun".into()),
                ..Default::default()
            },
            start_date: now() + Duration::days(10),
            end_date: Some(now() + Duration::days(10) + Duration::hours(5)),
            max_participants: 10,
            price: Money::parse("3000").unwrap(),
            booking_deadline_hours: None,
            publish_at: None,
            is_featured: false,
            refund_policy: None,
            pricing_rules: PricingRules::default(),
        };
        let new = NewEvent::new(UserId(uuid::Uuid::from_u128(CREATOR)), input, now()).unwrap();
        Event::from_new(EventId(7), new)
    }

    fn published() -> Event {
        let mut e = draft();
        let _ = e.publish(now()).unwrap();
        e.version = 1;
        e
    }

    fn service(txs: Vec<FakeTx>) -> EventService {
        EventService::new(Arc::new(uow_with(txs)), Arc::new(ManualClock::new(now())))
    }

    fn tx() -> (FakeTx, Arc<AtomicBool>) {
        let committed = Arc::new(AtomicBool::new(false));
        (FakeTx::new(Arc::clone(&committed)), committed)
    }

    fn option(id: i64, active: bool) -> PriceOption {
        PriceOption {
            id: PriceOptionId(id),
            event_id: EventId(7),
            name: format!("Tier {id}"),
            price: Money::parse("100").unwrap(),
            description: None,
            quantity_available: None,
            is_active: active,
        }
    }

    fn with_event(tx: &mut FakeTx, event: Event) {
        tx.events
            .expect_find_for_update()
            .times(1)
            .returning(move |_| Ok(Some(event.clone())));
    }

    fn with_listing(tx: &mut FakeTx, event: Event) {
        tx.events.expect_listing().times(1).returning(move |_| {
            Ok(Some(EventListing {
                event: event.clone(),
                rating: RatingSummary {
                    rating_sum: 9,
                    count: 2,
                },
            }))
        });
    }

    fn bumping_update(tx: &mut FakeTx) {
        tx.events.expect_update().times(1).returning(|e| {
            Ok(Event {
                version: e.version + 1,
                ..e.clone()
            })
        });
    }

    // --- get ------------------------------------------------------------------------------

    #[tokio::test]
    async fn a_guest_sees_a_published_event_with_active_options_and_the_view_is_counted() {
        let (mut t, committed) = tx();
        with_listing(&mut t, published());
        t.events
            .expect_price_options()
            .returning(|_| Ok(vec![option(1, true), option(2, false)]));
        t.events.expect_record_view().times(1).returning(|_| Ok(()));

        let details = service(vec![t]).get(&guest(), EventId(7)).await.unwrap();

        assert_eq!(details.event.status, EventStatus::Published);
        assert_eq!(details.rating.count, 2);
        assert_eq!(
            details
                .price_options
                .iter()
                .map(|o| o.id.0)
                .collect::<Vec<_>>(),
            vec![1]
        );
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_draft_is_not_found_for_guests_users_and_other_organizers() {
        for caller in [guest(), ctx(1, Role::User), ctx(6, Role::Organizer)] {
            let (mut t, _) = tx();
            with_listing(&mut t, draft());
            t.events.expect_record_view().never();
            let err = service(vec![t]).get(&caller, EventId(7)).await.unwrap_err();
            assert!(
                matches!(err, AppError::NotFound { entity: "event" }),
                "{caller:?}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_creator_and_admins_see_a_draft_with_every_option_and_no_view_is_counted() {
        for caller in [creator(), ctx(9, Role::Admin)] {
            let (mut t, _) = tx();
            with_listing(&mut t, draft());
            t.events
                .expect_price_options()
                .returning(|_| Ok(vec![option(1, true), option(2, false)]));
            t.events.expect_record_view().never();
            let details = service(vec![t]).get(&caller, EventId(7)).await.unwrap();
            assert_eq!(details.price_options.len(), 2);
        }
    }

    #[tokio::test]
    async fn a_canceled_event_stays_visible_to_guests_without_counting_a_view() {
        let (mut t, _) = tx();
        let mut e = published();
        let _ = e.cancel("flood", now()).unwrap();
        with_listing(&mut t, e);
        t.events.expect_price_options().returning(|_| Ok(vec![]));
        t.events.expect_record_view().never();
        let details = service(vec![t]).get(&guest(), EventId(7)).await.unwrap();
        assert_eq!(details.event.status, EventStatus::Canceled);
    }

    // --- list -----------------------------------------------------------------------------

    async fn scoped(
        caller: &RequestContext,
        query: ListEventsQuery,
    ) -> Result<EventQuery, AppError> {
        let (mut t, _) = tx();
        let seen = Arc::new(std::sync::Mutex::new(None));
        let slot = Arc::clone(&seen);
        t.events.expect_search().times(1).returning(move |q| {
            *slot.lock().unwrap() = Some(q.clone());
            Ok(Page::new(vec![], q.page, 0))
        });
        service(vec![t]).list(caller, query).await?;
        let q = seen.lock().unwrap().take().unwrap();
        Ok(q)
    }

    #[tokio::test]
    async fn the_catalog_shows_guests_published_events_by_default_and_completed_on_request() {
        let q = scoped(&guest(), ListEventsQuery::default()).await.unwrap();
        assert_eq!(q.statuses, vec![EventStatus::Published]);
        assert_eq!(q.creator_id, None);
        let q = scoped(
            &ctx(1, Role::User),
            ListEventsQuery {
                statuses: vec![EventStatus::Completed, EventStatus::Published],
                search: Some("  river ".into()),
                category: Some(" ".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(q.statuses.len(), 2);
        assert_eq!(q.search.as_deref(), Some("river"));
        assert_eq!(q.category, None, "a blank filter is no filter");
    }

    #[tokio::test]
    async fn asking_the_catalog_for_drafts_is_refused_before_any_transaction() {
        let drafts = || ListEventsQuery {
            statuses: vec![EventStatus::Published, EventStatus::Draft],
            ..Default::default()
        };
        let err = service(vec![]).list(&guest(), drafts()).await.unwrap_err();
        assert!(matches!(err, AppError::Unauthenticated), "{err:?}");
        for caller in [ctx(1, Role::User), creator()] {
            let err = service(vec![]).list(&caller, drafts()).await.unwrap_err();
            assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");
        }
        let canceled = ListEventsQuery {
            statuses: vec![EventStatus::Canceled],
            ..Default::default()
        };
        let err = service(vec![])
            .list(&ctx(1, Role::User), canceled)
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn mine_is_for_organizers_and_lists_their_events_in_any_status() {
        let mine = |statuses| ListEventsQuery {
            mine: true,
            statuses,
            ..Default::default()
        };
        let err = service(vec![])
            .list(&guest(), mine(vec![]))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Unauthenticated));
        let err = service(vec![])
            .list(&ctx(1, Role::User), mine(vec![]))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden { .. }));

        let q = scoped(&creator(), mine(vec![])).await.unwrap();
        assert_eq!(q.creator_id, Some(UserId(uuid::Uuid::from_u128(CREATOR))));
        assert!(q.statuses.is_empty(), "every status of one's own events");
        let q = scoped(&creator(), mine(vec![EventStatus::Draft]))
            .await
            .unwrap();
        assert_eq!(q.statuses, vec![EventStatus::Draft]);
    }

    #[tokio::test]
    async fn admins_list_every_status() {
        let q = scoped(&ctx(9, Role::Admin), ListEventsQuery::default())
            .await
            .unwrap();
        assert!(q.statuses.is_empty());
        let q = scoped(
            &ctx(9, Role::Admin),
            ListEventsQuery {
                statuses: vec![EventStatus::Draft, EventStatus::Draft],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(q.statuses, vec![EventStatus::Draft]);
    }

    #[tokio::test]
    async fn bad_catalog_filters_are_validation_errors_before_any_transaction() {
        let cases = [
            (
                ListEventsQuery {
                    start_from: Some(now()),
                    start_to: Some(now() - Duration::seconds(1)),
                    ..Default::default()
                },
                "start_date_to",
            ),
            (
                ListEventsQuery {
                    search: Some("x".repeat(SEARCH_MAX + 1)),
                    ..Default::default()
                },
                "search_query",
            ),
            (
                ListEventsQuery {
                    category: Some("c".repeat(101)),
                    ..Default::default()
                },
                "category",
            ),
        ];
        for (query, field) in cases {
            match service(vec![]).list(&guest(), query).await.unwrap_err() {
                AppError::Validation { fields } => assert_eq!(fields[0].field, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        let q = scoped(
            &guest(),
            ListEventsQuery {
                search: Some("x".repeat(SEARCH_MAX)),
                start_from: Some(now()),
                start_to: Some(now()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(q.search.map(|s| s.len()), Some(SEARCH_MAX));
    }

    // --- update ---------------------------------------------------------------------------

    fn rename() -> UpdateEventCommand {
        UpdateEventCommand {
            name: Some("Canyoning deluxe".into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn update_permissions_guest_user_before_any_transaction_other_organizer_not_found() {
        let err = service(vec![])
            .update(&guest(), EventId(7), rename())
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Unauthenticated));
        let err = service(vec![])
            .update(&ctx(1, Role::User), EventId(7), rename())
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden { .. }));

        let (mut t, committed) = tx();
        with_event(&mut t, published());
        t.events.expect_update().never();
        let err = service(vec![t])
            .update(&ctx(6, Role::Organizer), EventId(7), rename())
            .await
            .unwrap_err();
        assert!(
            matches!(err, AppError::NotFound { entity: "event" }),
            "{err:?}"
        );
        assert!(!committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn an_empty_update_is_a_validation_error() {
        let err = service(vec![])
            .update(&creator(), EventId(7), UpdateEventCommand::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "VALIDATION_FAILED");
    }

    #[tokio::test]
    async fn a_stale_expected_version_is_a_version_conflict_and_nothing_is_written() {
        let (mut t, committed) = tx();
        with_event(&mut t, published());
        t.events.expect_update().never();
        t.outbox.expect_enqueue().never();
        t.audit.expect_record().never();
        let cmd = UpdateEventCommand {
            expected_version: Some(0),
            ..rename()
        };
        let err = service(vec![t])
            .update(&creator(), EventId(7), cmd)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "VERSION_CONFLICT");
        assert!(!committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_descriptive_edit_emits_event_updated_with_an_audit_before_and_after() {
        let (mut t, committed) = tx();
        with_event(&mut t, published());
        t.events
            .expect_update()
            .times(1)
            .withf(|e| {
                e.details.name == "Canyoning deluxe"
                    && e.details.description.is_none()
                    && e.details.location.as_deref() == Some("Sochi")
                    && e.is_featured
                    && e.version == 1
            })
            .returning(|e| {
                Ok(Event {
                    version: e.version + 1,
                    ..e.clone()
                })
            });
        t.outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| m.event_type == DomainEventType::EventUpdated && m.aggregate_version == 2)
            .returning(|_| Ok(1));
        t.audit
            .expect_record()
            .times(1)
            .withf(|a| {
                a.action == "event.update"
                    && a.before
                        .as_ref()
                        .is_some_and(|b| b["name"] == "Canyoning" && b["version"] == 1)
                    && a.after
                        .as_ref()
                        .is_some_and(|b| b["name"] == "Canyoning deluxe" && b["version"] == 2)
            })
            .returning(|_| Ok(()));
        t.events.expect_price_options().returning(|_| Ok(vec![]));
        let cmd = UpdateEventCommand {
            expected_version: Some(1),
            description: Some(String::new()),
            location: Some("Sochi".into()),
            is_featured: Some(true),
            ..rename()
        };

        let updated = service(vec![t])
            .update(&creator(), EventId(7), cmd)
            .await
            .unwrap();

        assert_eq!(updated.event.version, 2);
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn moving_the_start_emits_event_rescheduled_and_keeps_the_duration() {
        let (mut t, committed) = tx();
        let original = published();
        let old_start = original.schedule.start_date;
        let new_start = old_start + Duration::days(2);
        with_event(&mut t, original);
        t.events
            .expect_update()
            .times(1)
            .withf(move |e| {
                e.schedule.start_date == new_start
                    && e.schedule.end_date == Some(new_start + Duration::hours(5))
            })
            .returning(|e| Ok(e.clone()));
        t.outbox
            .expect_enqueue()
            .times(1)
            .withf(move |m| {
                m.event_type == DomainEventType::EventRescheduled
                    && m.payload["previous_start_date"] == old_start.to_rfc3339()
                    && m.payload["start_date"] == new_start.to_rfc3339()
            })
            .returning(|_| Ok(1));
        t.audit.expect_record().times(1).returning(|_| Ok(()));
        t.events.expect_price_options().returning(|_| Ok(vec![]));
        let cmd = UpdateEventCommand {
            start_date: Some(new_start),
            ..Default::default()
        };
        service(vec![t])
            .update(&creator(), EventId(7), cmd)
            .await
            .unwrap();
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn capacity_below_taken_seats_and_edits_of_canceled_events_are_conflicts() {
        let (mut t, committed) = tx();
        let mut busy = published();
        busy.seats.take(6).unwrap();
        with_event(&mut t, busy);
        t.events.expect_update().never();
        let cmd = UpdateEventCommand {
            max_participants: Some(5),
            ..Default::default()
        };
        let err = service(vec![t])
            .update(&creator(), EventId(7), cmd)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "CAPACITY_BELOW_BOOKED");
        assert!(!committed.load(Ordering::SeqCst));

        let (mut t, _) = tx();
        let mut gone = published();
        let _ = gone.cancel("storm", now()).unwrap();
        with_event(&mut t, gone);
        t.events.expect_update().never();
        let cmd = UpdateEventCommand {
            is_featured: Some(true),
            ..Default::default()
        };
        let err = service(vec![t])
            .update(&creator(), EventId(7), cmd)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_TRANSITION");
    }

    // --- publish --------------------------------------------------------------------------

    #[tokio::test]
    async fn publishing_now_emits_event_published() {
        let (mut t, committed) = tx();
        with_event(&mut t, draft());
        t.events
            .expect_update()
            .times(1)
            .withf(|e| e.status == EventStatus::Published)
            .returning(|e| Ok(e.clone()));
        t.outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| m.event_type == DomainEventType::EventPublished)
            .returning(|_| Ok(1));
        t.audit
            .expect_record()
            .times(1)
            .withf(|a| a.action == "event.publish")
            .returning(|_| Ok(()));
        t.events.expect_price_options().returning(|_| Ok(vec![]));
        let out = service(vec![t])
            .publish(&creator(), EventId(7), PublishEventCommand::default())
            .await
            .unwrap();
        assert_eq!(out.event.status, EventStatus::Published);
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_future_publish_at_schedules_and_the_event_stays_a_draft() {
        let at = now() + Duration::days(1);
        let (mut t, _) = tx();
        with_event(&mut t, draft());
        t.events
            .expect_update()
            .times(1)
            .withf(move |e| e.status == EventStatus::Draft && e.publish_at == Some(at))
            .returning(|e| Ok(e.clone()));
        t.outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| m.event_type == DomainEventType::EventUpdated)
            .returning(|_| Ok(1));
        t.audit
            .expect_record()
            .times(1)
            .withf(|a| a.action == "event.schedule_publication")
            .returning(|_| Ok(()));
        t.events.expect_price_options().returning(|_| Ok(vec![]));
        let cmd = PublishEventCommand {
            publish_at: Some(at),
            expected_version: Some(0),
        };
        let out = service(vec![t])
            .publish(&creator(), EventId(7), cmd)
            .await
            .unwrap();
        assert_eq!(out.event.publish_at, Some(at));
    }

    #[tokio::test]
    async fn publishing_a_published_event_is_an_invalid_transition_and_users_are_forbidden() {
        let (mut t, committed) = tx();
        with_event(&mut t, published());
        t.events.expect_update().never();
        let err = service(vec![t])
            .publish(&creator(), EventId(7), PublishEventCommand::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_TRANSITION");
        assert!(!committed.load(Ordering::SeqCst));
        let err = service(vec![])
            .publish(
                &ctx(1, Role::User),
                EventId(7),
                PublishEventCommand::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden { .. }));
    }

    // --- stats ----------------------------------------------------------------------------

    #[tokio::test]
    async fn stats_are_for_the_creator_and_admins_only() {
        let err = service(vec![])
            .stats(&ctx(1, Role::User), EventId(7), None, None)
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden { .. }));
        let err = service(vec![])
            .stats(
                &creator(),
                EventId(7),
                Some(now()),
                Some(now() - Duration::days(1)),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "VALIDATION_FAILED");

        let (mut t, _) = tx();
        t.events.expect_find().returning(|_| Ok(Some(published())));
        t.events.expect_stats().never();
        let err = service(vec![t])
            .stats(&ctx(6, Role::Organizer), EventId(7), None, None)
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::NotFound { .. }));

        // An admin (not the creator): the repository is asked for this event and this period.
        let (from, to) = (now() - Duration::days(7), now());
        let (mut t, _) = tx();
        t.events.expect_find().returning(|_| Ok(Some(published())));
        t.events
            .expect_stats()
            .times(1)
            .withf(move |id, f, u| *id == EventId(7) && *f == Some(from) && *u == Some(to))
            .returning(|id, _, _| {
                Ok(EventStats {
                    event_id: Some(id),
                    ..Default::default()
                })
            });
        service(vec![t])
            .stats(&ctx(9, Role::Admin), EventId(7), Some(from), Some(to))
            .await
            .unwrap();
    }

    // --- scheduled publication ------------------------------------------------------------

    #[tokio::test]
    async fn publish_due_publishes_what_is_due_and_unschedules_what_can_no_longer_be_published() {
        let clock = Arc::new(ManualClock::new(now()));
        let mut due = draft();
        due.schedule_publication(now() + Duration::hours(1), now())
            .unwrap();
        let mut late = draft();
        late.id = EventId(8);
        late.schedule_publication(now() + Duration::hours(2), now())
            .unwrap();
        late.schedule.start_date = now() + Duration::hours(3);
        late.schedule.end_date = None;
        clock.set(now() + Duration::hours(4));

        let (mut t, committed) = tx();
        t.events
            .expect_claim_due_for_publication()
            .times(1)
            .returning(move |_, limit| {
                assert_eq!(limit, 10);
                Ok(vec![due.clone(), late.clone()])
            });
        t.events
            .expect_update()
            .times(2)
            .withf(|e| {
                (e.id == EventId(7) && e.status == EventStatus::Published)
                    || (e.id == EventId(8)
                        && e.status == EventStatus::Draft
                        && e.publish_at.is_none())
            })
            .returning(|e| Ok(e.clone()));
        t.outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| m.event_type == DomainEventType::EventPublished && m.aggregate_id == "7")
            .returning(|_| Ok(1));
        t.outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| {
                m.event_type == DomainEventType::AdminAlert
                    && m.aggregate_id == "8"
                    && m.payload["code"] == "EVENT_ALREADY_STARTED"
            })
            .returning(|_| Ok(2));
        t.audit
            .expect_record()
            .times(2)
            .withf(|a| {
                a.actor_id.is_none() && a.request_id.as_deref() == Some("job:publish-scheduled")
            })
            .returning(|_| Ok(()));
        let svc = EventService::new(Arc::new(uow_with(vec![t])), clock);

        assert_eq!(svc.publish_due(10).await.unwrap(), 1);
        assert!(committed.load(Ordering::SeqCst));
        assert_eq!(service(vec![]).publish_due(0).await.unwrap(), 0);
    }

    // --- reschedule -----------------------------------------------------------------------

    #[tokio::test]
    async fn reschedule_keeps_the_duration_and_tells_participants() {
        let (mut t, committed) = tx();
        with_event(&mut t, published());
        let old_start = published().schedule.start_date;
        t.events
            .expect_update()
            .times(1)
            .withf(move |e| {
                e.schedule.start_date == old_start + Duration::hours(2)
                    && e.schedule.end_date == Some(old_start + Duration::hours(7))
            })
            .returning(|e| {
                Ok(Event {
                    version: e.version + 1,
                    ..e.clone()
                })
            });
        t.outbox
            .expect_enqueue()
            .times(1)
            .withf(move |m| {
                m.event_type == DomainEventType::EventRescheduled
                    && m.aggregate_version == 2
                    && m.payload["previous_start_date"] == old_start.to_rfc3339()
            })
            .returning(|_| Ok(1));
        t.audit
            .expect_record()
            .times(1)
            .withf(|a| a.action == "event.reschedule" && a.before.is_some() && a.after.is_some())
            .returning(|_| Ok(()));
        let moved = service(vec![t])
            .reschedule(
                &ctx(9, Role::Admin),
                EventId(7),
                RescheduleTo::ShiftBy(Duration::hours(2)),
            )
            .await
            .unwrap();
        assert_eq!(moved.schedule.start_date, old_start + Duration::hours(2));
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn reschedule_refuses_canceled_events_and_other_organizers_without_writing() {
        let (mut t, committed) = tx();
        let mut canceled = published();
        let _ = canceled.cancel("storm", now()).unwrap();
        with_event(&mut t, canceled);
        t.events.expect_update().never();
        let err = service(vec![t])
            .reschedule(
                &creator(),
                EventId(7),
                RescheduleTo::StartAt(now() + Duration::days(20)),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_TRANSITION");
        assert!(!committed.load(Ordering::SeqCst));

        let (mut t, _) = tx();
        with_event(&mut t, published());
        t.events.expect_update().never();
        let err = service(vec![t])
            .reschedule(
                &ctx(6, Role::Organizer),
                EventId(7),
                RescheduleTo::ShiftBy(Duration::hours(1)),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::NotFound { .. }), "{err:?}");
        let err = service(vec![])
            .reschedule(
                &ctx(1, Role::User),
                EventId(7),
                RescheduleTo::ShiftBy(Duration::hours(1)),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn deactivating_a_price_option_keeps_its_stock_and_is_audited() {
        let (mut t, committed) = tx();
        with_event(&mut t, published());
        t.events.expect_price_options().returning(|_| {
            Ok(vec![PriceOption {
                quantity_available: Some(3),
                ..option(3, true)
            }])
        });
        t.events
            .expect_save_price_option()
            .times(1)
            .withf(|_, id, o| {
                *id == Some(PriceOptionId(3)) && !o.is_active && o.quantity_available == Some(3)
            })
            .returning(|_, _, o| {
                Ok(PriceOption {
                    is_active: o.is_active,
                    quantity_available: o.quantity_available,
                    ..option(3, true)
                })
            });
        bumping_update(&mut t);
        t.outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| m.event_type == DomainEventType::EventUpdated)
            .returning(|_| Ok(1));
        t.audit
            .expect_record()
            .times(1)
            .withf(|a| a.action == "event.price_option.deactivate")
            .returning(|_| Ok(()));
        let saved = service(vec![t])
            .deactivate_price_option(&creator(), EventId(7), PriceOptionId(3))
            .await
            .unwrap();
        assert!(!saved.is_active);
        assert!(committed.load(Ordering::SeqCst));
    }

    // --- price options --------------------------------------------------------------------

    #[tokio::test]
    async fn saving_a_price_option_bumps_the_event_and_is_audited() {
        let (mut t, committed) = tx();
        with_event(&mut t, published());
        t.events
            .expect_price_options()
            .returning(|_| Ok(vec![option(3, true)]));
        t.events
            .expect_save_price_option()
            .times(1)
            .withf(|_, id, o| *id == Some(PriceOptionId(3)) && o.name == "VIP")
            .returning(|_, _, o| {
                Ok(PriceOption {
                    name: o.name,
                    ..option(3, true)
                })
            });
        bumping_update(&mut t);
        t.outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| m.event_type == DomainEventType::EventUpdated && m.aggregate_version == 2)
            .returning(|_| Ok(1));
        t.audit
            .expect_record()
            .times(1)
            .withf(|a| {
                a.action == "event.price_option.save"
                    && a.before.as_ref().is_some_and(|b| b["name"] == "Tier 3")
            })
            .returning(|_| Ok(()));
        let input = PriceOptionInput {
            name: "VIP".into(),
            price: Money::parse("5000").unwrap(),
            description: None,
            quantity_available: Some(2),
            is_active: true,
        };
        let saved = service(vec![t])
            .save_price_option(&creator(), EventId(7), Some(PriceOptionId(3)), input)
            .await
            .unwrap();
        assert_eq!(saved.name, "VIP");
        assert!(committed.load(Ordering::SeqCst));
    }
}
