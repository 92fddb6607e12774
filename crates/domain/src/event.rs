//! Events (trips, races, workshops) and their state machine (PRODUCT.md §2).
//!
//! `DRAFT → PUBLISHED → COMPLETED`, `DRAFT | PUBLISHED → CANCELED`; a DRAFT with `publish_at`
//! becomes PUBLISHED when due. Descriptive fields stay editable while the event is live;
//! capacity never drops below the seats already taken.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::pricing::PricingRules;
use crate::refund_policy::RefundPolicy;
use crate::seats::Seats;
use crate::{CrewId, DomainError, EventId, Money, Timestamp, Transition, UserId, text};

text_enum! {
    /// Lifecycle of an event.
    EventStatus {
        Draft => "DRAFT",
        Published => "PUBLISHED",
        Completed => "COMPLETED",
        Canceled => "CANCELED",
    }
}

text_enum! {
    /// Where the crew assignment through backend-crew stands.
    CrewStatus {
        None => "NONE",
        Requested => "REQUESTED",
        Assigned => "ASSIGNED",
        PendingRetry => "PENDING_RETRY",
        Failed => "FAILED",
    }
}

/// A point on the map (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

impl GeoPoint {
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, DomainError> {
        if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
            return Err(DomainError::validation(
                "location_coordinates.latitude",
                "must be in -90..90",
            ));
        }
        if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
            return Err(DomainError::validation(
                "location_coordinates.longitude",
                "must be in -180..180",
            ));
        }
        Ok(Self {
            latitude,
            longitude,
        })
    }
}

/// The descriptive part of an event: editable while the event is DRAFT or PUBLISHED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDetails {
    pub name: String,
    pub description: Option<String>,
    pub short_description: Option<String>,
    pub location: Option<String>,
    pub coordinates: Option<GeoPoint>,
    pub category: Option<String>,
    pub image_url: Option<String>,
}

/// Unvalidated descriptive fields as they arrive from an adapter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventDetailsInput {
    pub name: String,
    pub description: Option<String>,
    pub short_description: Option<String>,
    pub location: Option<String>,
    pub coordinates: Option<(f64, f64)>,
    pub category: Option<String>,
    pub image_url: Option<String>,
}

impl EventDetails {
    pub const NAME_MAX: usize = 255;
    pub const DESCRIPTION_MAX: usize = 20_000;
    pub const SHORT_DESCRIPTION_MAX: usize = 500;
    pub const LOCATION_MAX: usize = 255;
    pub const CATEGORY_MAX: usize = 100;
    pub const IMAGE_URL_MAX: usize = 500;

    pub fn new(input: &EventDetailsInput) -> Result<Self, DomainError> {
        Ok(Self {
            name: text::required("name", &input.name, Self::NAME_MAX)?,
            description: text::optional(
                "description",
                input.description.as_deref(),
                Self::DESCRIPTION_MAX,
            )?,
            short_description: text::optional(
                "short_description",
                input.short_description.as_deref(),
                Self::SHORT_DESCRIPTION_MAX,
            )?,
            location: text::optional("location", input.location.as_deref(), Self::LOCATION_MAX)?,
            coordinates: input
                .coordinates
                .map(|(lat, lon)| GeoPoint::new(lat, lon))
                .transpose()?,
            category: text::optional("category", input.category.as_deref(), Self::CATEGORY_MAX)?,
            image_url: text::optional_url(
                "image_url",
                input.image_url.as_deref(),
                Self::IMAGE_URL_MAX,
            )?,
        })
    }
}

/// When the event takes place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub start_date: Timestamp,
    pub end_date: Option<Timestamp>,
}

impl Schedule {
    /// A schedule for the future: starts after `now`, ends no earlier than it starts.
    pub fn new(
        start_date: Timestamp,
        end_date: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Self, DomainError> {
        if start_date <= now {
            return Err(DomainError::validation(
                "start_date",
                "must be in the future",
            ));
        }
        if end_date.is_some_and(|end| end < start_date) {
            return Err(DomainError::validation(
                "end_date",
                "must not be before start_date",
            ));
        }
        Ok(Self {
            start_date,
            end_date,
        })
    }

    /// When the event is over: its end, or its start when it has no end.
    #[must_use]
    pub fn ends_at(&self) -> Timestamp {
        self.end_date.unwrap_or(self.start_date)
    }
}

/// Hours before the start when booking closes.
pub const MAX_BOOKING_DEADLINE_HOURS: u32 = 24 * 365;
/// The seed's default `booking_deadline_hours`.
pub const DEFAULT_BOOKING_DEADLINE_HOURS: u32 = 24;

fn check_deadline_hours(hours: u32) -> Result<u32, DomainError> {
    if hours > MAX_BOOKING_DEADLINE_HOURS {
        return Err(DomainError::validation(
            "booking_deadline_hours",
            format!("must be between 0 and {MAX_BOOKING_DEADLINE_HOURS}"),
        ));
    }
    Ok(hours)
}

/// The largest per-event limit on the seats one user holds (`max_seats_per_user`).
pub const MAX_SEATS_PER_USER: u32 = 100_000;

/// A per-event seat limit: `None` keeps the instance-wide default
/// (`app.booking.max_seats_per_user_per_event`).
fn check_seats_per_user(limit: Option<i64>) -> Result<Option<u32>, DomainError> {
    limit
        .map(|n| {
            u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_SEATS_PER_USER).contains(n))
                .ok_or_else(|| {
                    DomainError::validation(
                        "max_seats_per_user",
                        format!("must be between 1 and {MAX_SEATS_PER_USER}"),
                    )
                })
        })
        .transpose()
}

/// Input of "create event".
#[derive(Debug, Clone, PartialEq)]
pub struct NewEventInput {
    pub details: EventDetailsInput,
    pub start_date: Timestamp,
    pub end_date: Option<Timestamp>,
    pub max_participants: i64,
    pub price: Money,
    pub booking_deadline_hours: Option<i64>,
    /// Most seats one user may hold in this event; `None` = the instance-wide default.
    pub max_seats_per_user: Option<i64>,
    pub publish_at: Option<Timestamp>,
    pub is_featured: bool,
    pub refund_policy: Option<RefundPolicy>,
    pub pricing_rules: PricingRules,
}

/// A validated event that has not been stored yet (the store gives it its id).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub creator_id: UserId,
    pub details: EventDetails,
    pub schedule: Schedule,
    pub seats: Seats,
    pub price: Money,
    pub booking_deadline_hours: u32,
    /// Most seats one user may hold in this event over its active bookings; `None` = the
    /// instance-wide default (`app.booking.max_seats_per_user_per_event`).
    pub max_seats_per_user: Option<u32>,
    pub publish_at: Option<Timestamp>,
    pub is_featured: bool,
    pub refund_policy: Option<RefundPolicy>,
    pub pricing_rules: PricingRules,
    pub created_at: Timestamp,
}

impl NewEvent {
    pub fn new(
        creator_id: UserId,
        input: NewEventInput,
        now: Timestamp,
    ) -> Result<Self, DomainError> {
        let schedule = Schedule::new(input.start_date, input.end_date, now)?;
        let capacity = u32::try_from(input.max_participants)
            .map_err(|_| DomainError::validation("max_participants", "must be positive"))?;
        let hours = input
            .booking_deadline_hours
            .unwrap_or(i64::from(DEFAULT_BOOKING_DEADLINE_HOURS));
        let hours = u32::try_from(hours)
            .map_err(|_| DomainError::validation("booking_deadline_hours", "must not be negative"))
            .and_then(check_deadline_hours)?;
        if let Some(at) = input.publish_at {
            check_publish_at(at, &schedule, now)?;
        }
        Ok(Self {
            creator_id,
            details: EventDetails::new(&input.details)?,
            schedule,
            seats: Seats::new(capacity)?,
            price: input.price.non_negative("price")?,
            booking_deadline_hours: hours,
            max_seats_per_user: check_seats_per_user(input.max_seats_per_user)?,
            publish_at: input.publish_at,
            is_featured: input.is_featured,
            refund_policy: input.refund_policy,
            pricing_rules: input.pricing_rules,
            created_at: now,
        })
    }
}

fn check_publish_at(at: Timestamp, schedule: &Schedule, now: Timestamp) -> Result<(), DomainError> {
    if at <= now {
        return Err(DomainError::validation(
            "publish_at",
            "must be in the future",
        ));
    }
    if at >= schedule.start_date {
        return Err(DomainError::validation(
            "publish_at",
            "must be before start_date",
        ));
    }
    Ok(())
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub creator_id: UserId,
    pub details: EventDetails,
    pub schedule: Schedule,
    pub seats: Seats,
    pub price: Money,
    pub booking_deadline_hours: u32,
    /// Most seats one user may hold in this event; `None` = the instance-wide default.
    pub max_seats_per_user: Option<u32>,
    pub status: EventStatus,
    pub is_featured: bool,
    pub publish_at: Option<Timestamp>,
    pub published_at: Option<Timestamp>,
    pub canceled_reason: Option<String>,
    pub refund_policy: Option<RefundPolicy>,
    pub pricing_rules: PricingRules,
    pub crew_status: CrewStatus,
    pub crew_id: Option<CrewId>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a capacity change did to the seat counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityChange {
    /// Seats that became free (negative when capacity shrank).
    pub freed: i64,
}

impl Event {
    /// The event as the store returns it right after inserting `new`.
    #[must_use]
    pub fn from_new(id: EventId, new: NewEvent) -> Self {
        Self {
            id,
            creator_id: new.creator_id,
            details: new.details,
            schedule: new.schedule,
            seats: new.seats,
            price: new.price,
            booking_deadline_hours: new.booking_deadline_hours,
            max_seats_per_user: new.max_seats_per_user,
            status: EventStatus::Draft,
            is_featured: new.is_featured,
            publish_at: new.publish_at,
            published_at: None,
            canceled_reason: None,
            refund_policy: new.refund_policy,
            pricing_rules: new.pricing_rules,
            crew_status: CrewStatus::None,
            crew_id: None,
            version: 0,
            created_at: new.created_at,
            updated_at: new.created_at,
        }
    }

    fn refuse(&self, action: &'static str) -> DomainError {
        DomainError::invalid_transition("event", self.status.as_str(), action)
    }

    fn move_to(&mut self, to: EventStatus, now: Timestamp) -> Transition<EventStatus> {
        let from = self.status;
        self.status = to;
        self.updated_at = now;
        Transition::new(from, to)
    }

    fn require_live(&self, action: &'static str) -> Result<(), DomainError> {
        match self.status {
            EventStatus::Draft | EventStatus::Published => Ok(()),
            EventStatus::Completed | EventStatus::Canceled => Err(self.refuse(action)),
        }
    }

    /// Whether guests may see it in the catalog.
    #[must_use]
    pub const fn is_public(&self) -> bool {
        matches!(self.status, EventStatus::Published | EventStatus::Completed)
    }

    #[must_use]
    pub fn has_started(&self, now: Timestamp) -> bool {
        now >= self.schedule.start_date
    }

    #[must_use]
    pub fn has_ended(&self, now: Timestamp) -> bool {
        now >= self.schedule.ends_at()
    }

    /// `start_date − booking_deadline_hours`: the last instant a booking is accepted.
    #[must_use]
    pub fn booking_cutoff(&self) -> Timestamp {
        self.schedule.start_date - Duration::hours(i64::from(self.booking_deadline_hours))
    }

    /// The refund policy in force: the event's override or the platform default.
    #[must_use]
    pub fn effective_refund_policy(&self) -> RefundPolicy {
        self.refund_policy.clone().unwrap_or_default()
    }

    /// DRAFT → PUBLISHED now.
    pub fn publish(&mut self, now: Timestamp) -> Result<Transition<EventStatus>, DomainError> {
        if self.status != EventStatus::Draft {
            return Err(self.refuse("publish"));
        }
        if self.has_started(now) {
            return Err(DomainError::EventAlreadyStarted);
        }
        self.publish_at = None;
        self.published_at = Some(now);
        Ok(self.move_to(EventStatus::Published, now))
    }

    /// Plans the publication of a DRAFT at `at` (the publish-scheduled job calls
    /// [`Event::publish_if_due`]).
    pub fn schedule_publication(
        &mut self,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        if self.status != EventStatus::Draft {
            return Err(self.refuse("schedule the publication of"));
        }
        check_publish_at(at, &self.schedule, now)?;
        self.publish_at = Some(at);
        self.updated_at = now;
        Ok(())
    }

    /// Whether the publish-scheduled job should publish it now.
    #[must_use]
    pub fn is_publication_due(&self, now: Timestamp) -> bool {
        self.status == EventStatus::Draft && self.publish_at.is_some_and(|at| at <= now)
    }

    /// Publishes a DRAFT whose `publish_at` has come; `None` when nothing is due.
    pub fn publish_if_due(
        &mut self,
        now: Timestamp,
    ) -> Result<Option<Transition<EventStatus>>, DomainError> {
        if !self.is_publication_due(now) {
            return Ok(None);
        }
        self.publish(now).map(Some)
    }

    /// PUBLISHED → COMPLETED once the event is over.
    pub fn complete(&mut self, now: Timestamp) -> Result<Transition<EventStatus>, DomainError> {
        if self.status != EventStatus::Published {
            return Err(self.refuse("complete"));
        }
        if !self.has_ended(now) {
            return Err(DomainError::EventNotFinished);
        }
        Ok(self.move_to(EventStatus::Completed, now))
    }

    /// DRAFT | PUBLISHED → CANCELED with a reason. The use case then cancels pending bookings,
    /// refunds confirmed ones at 100%, clears the waitlist and releases the crew.
    pub fn cancel(
        &mut self,
        reason: &str,
        now: Timestamp,
    ) -> Result<Transition<EventStatus>, DomainError> {
        self.require_live("cancel")?;
        let reason = text::required("reason", reason, 1000)?;
        self.canceled_reason = Some(reason);
        self.publish_at = None;
        Ok(self.move_to(EventStatus::Canceled, now))
    }

    /// Replaces the descriptive fields.
    pub fn update_details(
        &mut self,
        details: EventDetails,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        self.require_live("edit")?;
        self.details = details;
        self.updated_at = now;
        Ok(())
    }

    /// Moves the event in time. Answers whether the start changed, which is when participants
    /// must be told.
    pub fn reschedule(
        &mut self,
        start_date: Timestamp,
        end_date: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool, DomainError> {
        self.require_live("reschedule")?;
        let schedule = Schedule::new(start_date, end_date, now)?;
        if let Some(at) = self.publish_at {
            check_publish_at(at, &schedule, now)?;
        }
        let moved = schedule.start_date != self.schedule.start_date;
        self.schedule = schedule;
        self.updated_at = now;
        Ok(moved)
    }

    /// Changes `max_participants`; refuses to go below the seats already taken.
    pub fn change_capacity(
        &mut self,
        max_participants: i64,
        now: Timestamp,
    ) -> Result<CapacityChange, DomainError> {
        self.require_live("change the capacity of")?;
        let capacity = u32::try_from(max_participants)
            .map_err(|_| DomainError::validation("max_participants", "must be positive"))?;
        let freed = self.seats.resize(capacity)?;
        self.updated_at = now;
        Ok(CapacityChange { freed })
    }

    /// Changes the base price (new bookings only; existing ones keep their price).
    pub fn change_price(&mut self, price: Money, now: Timestamp) -> Result<(), DomainError> {
        self.require_live("change the price of")?;
        self.price = price.non_negative("price")?;
        self.updated_at = now;
        Ok(())
    }

    /// Sets the per-event limit on the seats one user holds (1..=[`MAX_SEATS_PER_USER`]);
    /// bookings already made are kept, later ones are checked against it.
    pub fn change_max_seats_per_user(
        &mut self,
        limit: i64,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        self.require_live("change the seat limit of")?;
        self.max_seats_per_user = check_seats_per_user(Some(limit))?;
        self.updated_at = now;
        Ok(())
    }

    pub fn change_booking_deadline_hours(
        &mut self,
        hours: i64,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        self.require_live("change the booking deadline of")?;
        let hours = u32::try_from(hours).map_err(|_| {
            DomainError::validation("booking_deadline_hours", "must not be negative")
        })?;
        self.booking_deadline_hours = check_deadline_hours(hours)?;
        self.updated_at = now;
        Ok(())
    }

    pub fn set_refund_policy(
        &mut self,
        policy: Option<RefundPolicy>,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        self.require_live("change the refund policy of")?;
        self.refund_policy = policy;
        self.updated_at = now;
        Ok(())
    }

    pub fn set_pricing_rules(
        &mut self,
        rules: PricingRules,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        self.require_live("change the pricing of")?;
        self.pricing_rules = rules;
        self.updated_at = now;
        Ok(())
    }

    /// Checks that a booking may be made now: PUBLISHED and before the cutoff (inclusive).
    pub fn check_bookable(&self, now: Timestamp) -> Result<(), DomainError> {
        if self.status != EventStatus::Published {
            return Err(DomainError::EventNotBookable {
                status: self.status.as_str(),
            });
        }
        let cutoff = self.booking_cutoff();
        if now > cutoff {
            return Err(DomainError::BookingClosed { cutoff });
        }
        Ok(())
    }

    // --- crew (PRODUCT.md §9) -------------------------------------------------------------

    fn crew_move(
        &mut self,
        to: CrewStatus,
        allowed: &[CrewStatus],
        action: &'static str,
        now: Timestamp,
    ) -> Result<Transition<CrewStatus>, DomainError> {
        self.require_live(action)?;
        if !allowed.contains(&self.crew_status) {
            return Err(DomainError::invalid_transition(
                "crew assignment",
                self.crew_status.as_str(),
                action,
            ));
        }
        let from = self.crew_status;
        self.crew_status = to;
        self.updated_at = now;
        Ok(Transition::new(from, to))
    }

    /// A crew was asked for and the answer is pending. A new request may replace an assigned
    /// crew (reassignment) or a request still waiting for its retry; only a request already in
    /// flight is refused.
    pub fn request_crew(&mut self, now: Timestamp) -> Result<Transition<CrewStatus>, DomainError> {
        use CrewStatus as C;
        self.crew_move(
            C::Requested,
            &[C::None, C::Failed, C::Assigned, C::PendingRetry],
            "request a crew for",
            now,
        )
    }

    /// backend-crew assigned `crew_id` (also a direct assignment, or a reassignment).
    pub fn assign_crew(
        &mut self,
        crew_id: CrewId,
        now: Timestamp,
    ) -> Result<Transition<CrewStatus>, DomainError> {
        use CrewStatus as C;
        let t = self.crew_move(C::Assigned, C::ALL, "assign a crew to", now)?;
        self.crew_id = Some(crew_id);
        Ok(t)
    }

    /// backend-crew did not answer: keep the event, retry later ("crew will be assigned later").
    pub fn crew_retry_pending(
        &mut self,
        now: Timestamp,
    ) -> Result<Transition<CrewStatus>, DomainError> {
        use CrewStatus as C;
        self.crew_move(
            C::PendingRetry,
            &[C::Requested, C::PendingRetry],
            "retry the crew of",
            now,
        )
    }

    /// Retries exhausted: an admin alert follows.
    pub fn crew_failed(&mut self, now: Timestamp) -> Result<Transition<CrewStatus>, DomainError> {
        use CrewStatus as C;
        self.crew_move(
            C::Failed,
            &[C::Requested, C::PendingRetry],
            "fail the crew of",
            now,
        )
    }

    /// The crew is released (event canceled, or the organizer drops it). Allowed on a canceled
    /// event, since cancellation is what releases it.
    pub fn release_crew(&mut self, now: Timestamp) -> Option<CrewId> {
        let released = self.crew_id.take();
        if self.crew_status != CrewStatus::None {
            self.crew_status = CrewStatus::None;
            self.updated_at = now;
        }
        released
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono::Utc;

    pub(crate) fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 0).unwrap()
    }

    pub(crate) fn input() -> NewEventInput {
        NewEventInput {
            details: EventDetailsInput {
                name: "White-water rafting".into(),
                ..Default::default()
            },
            start_date: now() + Duration::days(30),
            end_date: Some(now() + Duration::days(30) + Duration::hours(6)),
            max_participants: 10,
            price: Money::parse("1500").unwrap(),
            booking_deadline_hours: None,
            max_seats_per_user: None,
            publish_at: None,
            is_featured: false,
            refund_policy: None,
            pricing_rules: PricingRules::default(),
        }
    }

    pub(crate) fn draft() -> Event {
        let new = NewEvent::new(UserId(uuid::Uuid::nil()), input(), now()).unwrap();
        Event::from_new(EventId(1), new)
    }

    pub(crate) fn published() -> Event {
        let mut e = draft();
        let _ = e.publish(now()).unwrap();
        e
    }

    #[test]
    fn new_event_is_a_draft_with_all_seats_free_and_the_default_deadline() {
        let e = draft();
        assert_eq!(e.status, EventStatus::Draft);
        assert_eq!(e.seats.available(), 10);
        assert_eq!(e.booking_deadline_hours, 24);
        assert_eq!(e.effective_refund_policy(), RefundPolicy::standard());
    }

    #[test]
    fn create_validation() {
        type Mutation = Box<dyn Fn(&mut NewEventInput)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("start_date", Box::new(|i| i.start_date = now())),
            (
                "end_date",
                Box::new(|i| i.end_date = Some(i.start_date - Duration::seconds(1))),
            ),
            ("max_participants", Box::new(|i| i.max_participants = 0)),
            ("max_participants", Box::new(|i| i.max_participants = -5)),
            (
                "max_participants",
                Box::new(|i| i.max_participants = 1_000_000),
            ),
            ("price", Box::new(|i| i.price = Money::parse("-1").unwrap())),
            (
                "max_seats_per_user",
                Box::new(|i| i.max_seats_per_user = Some(0)),
            ),
            (
                "max_seats_per_user",
                Box::new(|i| i.max_seats_per_user = Some(i64::from(MAX_SEATS_PER_USER) + 1)),
            ),
            (
                "booking_deadline_hours",
                Box::new(|i| i.booking_deadline_hours = Some(-1)),
            ),
            (
                "booking_deadline_hours",
                Box::new(|i| i.booking_deadline_hours = Some(100_000)),
            ),
            (
                "publish_at",
                Box::new(|i| i.publish_at = Some(now() - Duration::minutes(1))),
            ),
            (
                "publish_at",
                Box::new(|i| i.publish_at = Some(i.start_date)),
            ),
            ("name", Box::new(|i| i.details.name = "  ".into())),
            (
                "image_url",
                Box::new(|i| i.details.image_url = Some("javascript:x".into())),
            ),
            (
                "location_coordinates.latitude",
                Box::new(|i| i.details.coordinates = Some((91.0, 0.0))),
            ),
            (
                "location_coordinates.longitude",
                Box::new(|i| i.details.coordinates = Some((0.0, f64::NAN))),
            ),
        ];
        for (field, mutate) in cases {
            let mut i = input();
            mutate(&mut i);
            match NewEvent::new(UserId(uuid::Uuid::nil()), i, now()) {
                Err(DomainError::Validation { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected a validation error, got {other:?}"),
            }
        }
    }

    #[test]
    fn draft_publishes() {
        let mut e = draft();
        let t = e.publish(now()).unwrap();
        assert_eq!((t.from, t.to), (EventStatus::Draft, EventStatus::Published));
        assert_eq!(e.published_at, Some(now()));
    }

    #[test]
    fn published_cannot_publish_again() {
        let mut e = published();
        assert_eq!(e.publish(now()).unwrap_err().code(), "INVALID_TRANSITION");
    }

    #[test]
    fn canceled_and_completed_cannot_publish() {
        let mut e = draft();
        let _ = e.cancel("weather", now()).unwrap();
        assert_eq!(e.publish(now()).unwrap_err().code(), "INVALID_TRANSITION");
        let mut e = published();
        let _ = e.complete(e.schedule.ends_at()).unwrap();
        assert_eq!(e.publish(now()).unwrap_err().code(), "INVALID_TRANSITION");
    }

    #[test]
    fn cannot_publish_after_the_start() {
        let mut e = draft();
        let late = e.schedule.start_date;
        assert_eq!(
            e.publish(late).unwrap_err(),
            DomainError::EventAlreadyStarted
        );
    }

    #[test]
    fn scheduled_publication_happens_when_due_and_not_before() {
        let mut e = draft();
        let at = now() + Duration::days(1);
        e.schedule_publication(at, now()).unwrap();
        assert!(
            e.publish_if_due(at - Duration::seconds(1))
                .unwrap()
                .is_none()
        );
        let t = e.publish_if_due(at).unwrap().unwrap();
        assert_eq!(t.to, EventStatus::Published);
        assert_eq!(e.publish_at, None);
        assert!(
            e.publish_if_due(at).unwrap().is_none(),
            "published events are not due again"
        );
    }

    #[test]
    fn publication_cannot_be_scheduled_for_a_published_event_or_after_the_start() {
        let mut e = draft();
        assert!(
            e.schedule_publication(e.schedule.start_date, now())
                .is_err()
        );
        let mut e = published();
        assert_eq!(
            e.schedule_publication(now() + Duration::days(1), now())
                .unwrap_err()
                .code(),
            "INVALID_TRANSITION"
        );
    }

    #[test]
    fn published_completes_only_after_it_ended() {
        let mut e = published();
        let end = e.schedule.ends_at();
        assert_eq!(
            e.complete(end - Duration::seconds(1)).unwrap_err(),
            DomainError::EventNotFinished
        );
        let t = e.complete(end).unwrap();
        assert_eq!(t.to, EventStatus::Completed);
    }

    #[test]
    fn draft_cannot_complete() {
        let mut e = draft();
        assert_eq!(
            e.complete(e.schedule.ends_at()).unwrap_err().code(),
            "INVALID_TRANSITION"
        );
    }

    #[test]
    fn draft_and_published_cancel_with_a_reason() {
        for mut e in [draft(), published()] {
            assert!(e.cancel("  ", now()).is_err(), "a reason is required");
            let t = e.cancel("river too high", now()).unwrap();
            assert_eq!(t.to, EventStatus::Canceled);
            assert_eq!(e.canceled_reason.as_deref(), Some("river too high"));
        }
    }

    #[test]
    fn completed_and_canceled_cannot_cancel_or_be_edited() {
        let mut done = published();
        let _ = done.complete(done.schedule.ends_at()).unwrap();
        let mut gone = draft();
        let _ = gone.cancel("x", now()).unwrap();
        for mut e in [done, gone] {
            assert_eq!(
                e.cancel("again", now()).unwrap_err().code(),
                "INVALID_TRANSITION"
            );
            let details = e.details.clone();
            assert_eq!(
                e.update_details(details, now()).unwrap_err().code(),
                "INVALID_TRANSITION"
            );
            assert!(e.change_capacity(20, now()).is_err());
            assert!(
                e.reschedule(now() + Duration::days(40), None, now())
                    .is_err()
            );
        }
    }

    #[test]
    fn capacity_below_taken_seats_is_a_conflict() {
        let mut e = published();
        e.seats.take(7).unwrap();
        assert_eq!(
            e.change_capacity(6, now()).unwrap_err().code(),
            "CAPACITY_BELOW_BOOKED"
        );
        assert_eq!(
            e.change_capacity(12, now()).unwrap(),
            CapacityChange { freed: 2 }
        );
        assert_eq!(e.seats.available(), 5);
    }

    #[test]
    fn reschedule_reports_a_moved_start() {
        let mut e = published();
        let start = e.schedule.start_date;
        assert!(
            !e.reschedule(start, Some(start + Duration::hours(8)), now())
                .unwrap()
        );
        assert!(
            e.reschedule(start + Duration::days(1), None, now())
                .unwrap()
        );
        assert!(
            e.reschedule(now() - Duration::days(1), None, now())
                .is_err()
        );
    }

    #[test]
    fn booking_window_is_open_until_the_cutoff_inclusive() {
        let e = published();
        let cutoff = e.booking_cutoff();
        assert_eq!(cutoff, e.schedule.start_date - Duration::hours(24));
        assert!(e.check_bookable(cutoff).is_ok());
        assert_eq!(
            e.check_bookable(cutoff + Duration::seconds(1))
                .unwrap_err()
                .code(),
            "BOOKING_CLOSED"
        );
        assert_eq!(
            draft().check_bookable(now()).unwrap_err().code(),
            "EVENT_NOT_BOOKABLE"
        );
    }

    #[test]
    fn guests_see_published_and_completed_only() {
        assert!(!draft().is_public());
        assert!(published().is_public());
    }

    #[test]
    fn crew_state_machine() {
        let mut e = published();
        let _ = e.request_crew(now()).unwrap();
        assert!(e.request_crew(now()).is_err(), "already requested");
        let _ = e.crew_retry_pending(now()).unwrap();
        let _ = e.crew_retry_pending(now()).unwrap();
        let _ = e.crew_failed(now()).unwrap();
        assert!(
            e.crew_retry_pending(now()).is_err(),
            "failed is final until a new request"
        );
        let _ = e.request_crew(now()).unwrap();
        let _ = e.assign_crew(CrewId(4), now()).unwrap();
        assert_eq!(
            (e.crew_status, e.crew_id),
            (CrewStatus::Assigned, Some(CrewId(4)))
        );
        assert!(e.crew_failed(now()).is_err());
        let _ = e.request_crew(now()).unwrap();
        assert_eq!(
            (e.crew_status, e.crew_id),
            (CrewStatus::Requested, Some(CrewId(4))),
            "a reassignment keeps the crew until the new one is assigned"
        );
        let _ = e.assign_crew(CrewId(4), now()).unwrap();
        let _ = e.cancel("storm", now()).unwrap();
        assert_eq!(e.release_crew(now()), Some(CrewId(4)));
        assert_eq!(e.crew_status, CrewStatus::None);
        assert!(
            e.assign_crew(CrewId(5), now()).is_err(),
            "no crew for a canceled event"
        );
    }

    #[test]
    fn statuses_parse_from_their_text() {
        for s in EventStatus::ALL {
            assert_eq!(s.as_str().parse::<EventStatus>().unwrap(), *s);
        }
        assert_eq!(
            "published".parse::<EventStatus>().unwrap_err().code(),
            "VALIDATION_FAILED"
        );
    }
}
