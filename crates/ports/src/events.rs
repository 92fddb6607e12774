//! Persistence of events, price options and categories, and the catalog query.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use domain::category::{Category, CategoryFields};
use domain::event::{Event, EventStatus, NewEvent};
use domain::price_option::{NewPriceOption, PriceOption};
use domain::review::RatingSummary;
use domain::{CategoryId, EventId, Money, PriceOptionId, Timestamp, UserId};

use crate::{AppError, Page, PageRequest};

/// Sort keys of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventSort {
    #[default]
    StartDate,
    Price,
    CreatedAt,
    /// Confirmed bookings, then views.
    Popularity,
}

impl EventSort {
    /// The request keys (`sort_by`), the same over REST and gRPC.
    pub const KEYS: &'static [(&'static str, Self)] = &[
        ("start_date", Self::StartDate),
        ("price", Self::Price),
        ("created_at", Self::CreatedAt),
        ("popularity", Self::Popularity),
    ];

    /// Parses the request input `field`; blank is the default (`start_date`).
    pub fn parse_field(field: &'static str, raw: &str) -> Result<Self, AppError> {
        super::parse_sort_key(field, raw, Self::KEYS)
    }
}

/// The catalog query (`ListEventsRequest`), already validated and scoped to what the caller
/// may see (guests: PUBLISHED, and COMPLETED when asked).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventQuery {
    /// Allowed statuses; empty means any.
    pub statuses: Vec<EventStatus>,
    pub category: Option<String>,
    pub start_from: Option<Timestamp>,
    pub start_to: Option<Timestamp>,
    /// Full-text search over name and description.
    pub search: Option<String>,
    pub only_featured: bool,
    /// Only events created by this organizer ("my events").
    pub creator_id: Option<UserId>,
    pub sort: EventSort,
    pub descending: bool,
    pub page: PageRequest,
}

/// An event with its public rating (catalog items and details).
#[derive(Debug, Clone, PartialEq)]
pub struct EventListing {
    pub event: Event,
    pub rating: RatingSummary,
}

/// `EventStatsResponse`: totals for one event over an optional period.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventStats {
    pub event_id: Option<EventId>,
    pub total_bookings: u64,
    pub confirmed_bookings: u64,
    pub canceled_bookings: u64,
    pub total_revenue: Money,
    pub rating: RatingSummary,
    pub bookings_by_day: BTreeMap<NaiveDate, u64>,
}

/// One line of the popularity/conversion report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPopularity {
    pub event_id: EventId,
    pub name: String,
    pub views: u64,
    pub bookings: u64,
    pub confirmed: u64,
    pub revenue: Money,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventRepository: Send + Sync {
    /// Stores a new event (status DRAFT, version 0) with its price options.
    async fn insert(
        &self,
        event: NewEvent,
        price_options: Vec<NewPriceOption>,
    ) -> Result<(Event, Vec<PriceOption>), AppError>;

    async fn find(&self, id: EventId) -> Result<Option<Event>, AppError>;

    /// Reads and row-locks the event until the transaction ends (PostgreSQL `FOR UPDATE`).
    async fn find_for_update(&self, id: EventId) -> Result<Option<Event>, AppError>;

    /// Writes every field of `event` if its stored version is still `event.version`, and bumps
    /// the version. A different stored version is `AppError::Conflict { code: ErrorCode::VersionConflict }`.
    async fn update(&self, event: &Event) -> Result<Event, AppError>;

    /// The catalog: filters, full-text search, sort, page and total count, with ratings.
    async fn search(&self, query: &EventQuery) -> Result<Page<EventListing>, AppError>;

    /// Details: the event with its rating.
    async fn listing(&self, id: EventId) -> Result<Option<EventListing>, AppError>;

    /// Takes seats with one conditional update (`available_seats >= quantity` and PUBLISHED);
    /// answers the seats left, or `None` when there were not enough (nothing changed).
    async fn take_seats(&self, id: EventId, quantity: u32) -> Result<Option<u32>, AppError>;

    /// Gives seats back (never above capacity); answers the seats now available.
    async fn release_seats(&self, id: EventId, quantity: u32) -> Result<u32, AppError>;

    async fn price_options(&self, id: EventId) -> Result<Vec<PriceOption>, AppError>;

    /// Creates (`id = None`) or replaces a price option of the event.
    async fn save_price_option(
        &self,
        event_id: EventId,
        id: Option<PriceOptionId>,
        option: NewPriceOption,
    ) -> Result<PriceOption, AppError>;

    /// Adds `count` detail views (input of the popularity report); views are counted in memory
    /// and written in batches.
    async fn record_views(&self, id: EventId, count: u32) -> Result<(), AppError>;

    /// DRAFT events whose `publish_at` has come, locked and skipped by other instances.
    async fn claim_due_for_publication(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Event>, AppError>;

    /// PUBLISHED events that have ended, locked and skipped by other instances.
    async fn claim_due_for_completion(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Event>, AppError>;

    /// Events whose crew assignment waits for a retry.
    async fn claim_crew_retries(&self, limit: u32) -> Result<Vec<Event>, AppError>;

    async fn stats(
        &self,
        id: EventId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<EventStats, AppError>;

    async fn popularity(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> Result<Vec<EventPopularity>, AppError>;
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CategoryRepository: Send + Sync {
    async fn list(&self) -> Result<Vec<Category>, AppError>;
    async fn find(&self, id: CategoryId) -> Result<Option<Category>, AppError>;
    /// A duplicate name is `Conflict { code: ErrorCode::CategoryExists }`.
    async fn insert(&self, fields: CategoryFields) -> Result<Category, AppError>;
    async fn update(&self, id: CategoryId, fields: CategoryFields) -> Result<Category, AppError>;
}
