//! The event as the API shows it, with the pieces other route modules share (price options,
//! crew, refund tiers, coordinates).

use application::ports::CrewAssignmentRecord;
use chrono::{DateTime, Utc};
use domain::CrewId;
use domain::event::Event;
use domain::price_option::PriceOption;
use domain::pricing::PricingRules;
use domain::refund_policy::RefundPolicy;
use domain::review::RatingSummary;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::MoneyInput;

const fn yes() -> bool {
    true
}

/// Coordinates of the meeting point.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationPoint {
    pub latitude: f64,
    pub longitude: f64,
}

/// A price option (tier) on input.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceOptionRequest {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    pub price: MoneyInput,
    pub description: Option<String>,
    /// Seats sold at this price; absent = no limit of its own.
    #[schema(minimum = 0, maximum = 4_294_967_295_i64)]
    pub quantity_available: Option<i64>,
    #[serde(default = "yes")]
    pub is_active: bool,
}

/// One refund tier: from `min_hours_before` the start, `percent` is refunded.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundTierDto {
    pub min_hours_before: u32,
    pub percent: u32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceOptionResponse {
    pub id: i64,
    pub name: String,
    #[schema(value_type = String, example = "1500.00")]
    pub price: String,
    pub description: Option<String>,
    pub quantity_available: Option<u32>,
    pub is_active: bool,
}

impl From<&PriceOption> for PriceOptionResponse {
    fn from(o: &PriceOption) -> Self {
        Self {
            id: o.id.value(),
            name: o.name.clone(),
            price: o.price.to_string(),
            description: o.description.clone(),
            quantity_available: o.quantity_available,
            is_active: o.is_active,
        }
    }
}

/// `EventResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventResponse {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub short_description: Option<String>,
    pub start_date: DateTime<Utc>,
    pub end_date: Option<DateTime<Utc>>,
    pub location: Option<String>,
    pub location_coordinates: Option<LocationPoint>,
    pub max_participants: u32,
    pub available_seats: u32,
    #[schema(value_type = String, example = "1500.00")]
    pub price: String,
    /// DRAFT, PUBLISHED, COMPLETED or CANCELED.
    pub status: String,
    pub creator_id: String,
    pub category: Option<String>,
    pub image_url: Option<String>,
    pub booking_deadline_hours: u32,
    /// The event's own limit on the seats one user holds; null = the instance-wide default.
    pub max_seats_per_user: Option<u32>,
    pub is_featured: bool,
    pub publish_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub canceled_reason: Option<String>,
    pub crew_status: String,
    pub crew_id: Option<i64>,
    /// The current crew request (details only; null while the event has no crew).
    pub crew: Option<CrewInfo>,
    /// The per-event refund tiers, or null for the standard policy.
    pub refund_policy: Option<Vec<RefundTierDto>>,
    #[schema(value_type = Object)]
    pub pricing_rules: PricingRules,
    #[schema(value_type = Option<String>, example = "4.50")]
    pub avg_rating: Option<String>,
    pub review_count: Option<u64>,
    pub price_options: Option<Vec<PriceOptionResponse>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EventResponse {
    pub fn of(event: &Event) -> Self {
        Self {
            id: event.id.value(),
            name: event.details.name.clone(),
            description: event.details.description.clone(),
            short_description: event.details.short_description.clone(),
            start_date: event.schedule.start_date,
            end_date: event.schedule.end_date,
            location: event.details.location.clone(),
            location_coordinates: event.details.coordinates.map(|p| LocationPoint {
                latitude: p.latitude,
                longitude: p.longitude,
            }),
            max_participants: event.seats.capacity(),
            available_seats: event.seats.available(),
            price: event.price.to_string(),
            status: event.status.as_str().to_owned(),
            creator_id: event.creator_id.to_string(),
            category: event.details.category.clone(),
            image_url: event.details.image_url.clone(),
            booking_deadline_hours: event.booking_deadline_hours,
            max_seats_per_user: event.max_seats_per_user,
            is_featured: event.is_featured,
            publish_at: event.publish_at,
            published_at: event.published_at,
            canceled_reason: event.canceled_reason.clone(),
            crew_status: event.crew_status.as_str().to_owned(),
            crew_id: event.crew_id.map(|c| c.value()),
            crew: None,
            refund_policy: event.refund_policy.as_ref().map(tiers_out),
            pricing_rules: event.pricing_rules.clone(),
            avg_rating: None,
            review_count: None,
            price_options: None,
            version: event.version,
            created_at: event.created_at,
            updated_at: event.updated_at,
        }
    }

    #[must_use]
    pub fn with_rating(mut self, rating: &RatingSummary) -> Self {
        self.avg_rating = Some(rating.average().to_string());
        self.review_count = Some(rating.count);
        self
    }

    #[must_use]
    pub fn with_options(mut self, options: &[PriceOption]) -> Self {
        self.price_options = Some(options.iter().map(PriceOptionResponse::from).collect());
        self
    }
}

fn tiers_out(policy: &RefundPolicy) -> Vec<RefundTierDto> {
    policy
        .tiers()
        .iter()
        .map(|t| RefundTierDto {
            min_hours_before: t.min_hours_before,
            percent: t.percent.value().trunc().to_u32().unwrap_or(0),
        })
        .collect()
}

/// The crew of an event, as event details and the assignment answer show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CrewInfo {
    pub crew_id: Option<i64>,
    pub crew_name: Option<String>,
    pub skills: Vec<String>,
    /// ASSIGNED, PENDING_RETRY or FAILED.
    pub status: String,
    /// Calls made to the crew service for this request.
    pub attempts: u32,
    /// When the next retry is due (PENDING_RETRY only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub requested_at: DateTime<Utc>,
}

impl From<&CrewAssignmentRecord> for CrewInfo {
    fn from(r: &CrewAssignmentRecord) -> Self {
        Self {
            crew_id: r.crew_id.map(CrewId::value),
            crew_name: r.crew_name.clone(),
            skills: r.skills.clone(),
            status: r.status.as_str().to_owned(),
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error.clone(),
            requested_at: r.created_at,
        }
    }
}
