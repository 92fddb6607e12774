//! `/events`: catalog, details, create, update (optimistic locking), publish, cancel, stats.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use application::ports::EventSort;
use application::services::CancelEventCommand;
use application::services::View;
use application::services::events::{
    CreateEventCommand, EventDetails, EventWithOptions, ListEventsQuery, PublishEventCommand,
    UpdateEventCommand,
};
use application::{AppError, ErrorCode};
use chrono::{DateTime, NaiveDate, Utc};
use domain::event::{EventDetailsInput, EventStatus, NewEventInput};
use domain::price_option::PriceOptionInput;
use domain::pricing::{DynamicPricingRule, GroupDiscountRule, PricingRules};
use domain::refund_policy::{RefundPolicy, RefundTier};
use domain::{DomainError, EventId, Percent, UserId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::cached::{self, Served};
use crate::dto::{
    CrewInfo, EventResponse, LocationPoint, MoneyInput, PageInfo, PageParams, PriceOptionRequest,
    RefundTierDto,
};
use crate::extract::OptionalJson;
use crate::idempotency::{self, JsonReply};
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

const fn yes() -> bool {
    true
}

/// Dynamic pricing and group discounts on input (the shape of `pricing_rules` in responses).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PricingRulesDto {
    /// From `min_fill_ratio` (0..=1) of seats taken before a booking, the unit price is
    /// multiplied by `multiplier` (> 0); the highest matching threshold wins.
    #[serde(default)]
    pub dynamic: Vec<DynamicRuleDto>,
    /// From `min_quantity` (≥ 2) seats in one booking, `percent` (0..=100) off.
    #[serde(default)]
    pub group: Vec<GroupRuleDto>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DynamicRuleDto {
    #[schema(value_type = String, example = "0.5")]
    pub min_fill_ratio: Decimal,
    #[schema(value_type = String, example = "1.10")]
    pub multiplier: Decimal,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRuleDto {
    #[schema(minimum = 2)]
    pub min_quantity: u32,
    #[schema(value_type = String, example = "10")]
    pub percent: Decimal,
}

/// A domain validation error reported on `field` (an indexed path such as
/// `pricing_rules.dynamic[1]`).
fn invalid_at(field: String, err: DomainError) -> AppError {
    match err {
        DomainError::Validation { message, .. } => AppError::invalid(field, message),
        other => other.into(),
    }
}

/// Validates the rules through the domain, one rule at a time first so that a bad rule is
/// reported with its index, then together (distinct thresholds, count).
fn rules_in(dto: PricingRulesDto) -> Result<PricingRules, AppError> {
    let mut dynamic = Vec::with_capacity(dto.dynamic.len());
    for (i, r) in dto.dynamic.into_iter().enumerate() {
        let rule = DynamicPricingRule {
            min_fill_ratio: r.min_fill_ratio,
            multiplier: r.multiplier,
        };
        PricingRules::new(vec![rule], Vec::new())
            .map_err(|e| invalid_at(format!("pricing_rules.dynamic[{i}]"), e))?;
        dynamic.push(rule);
    }
    let mut group = Vec::with_capacity(dto.group.len());
    for (i, r) in dto.group.into_iter().enumerate() {
        let percent = Percent::new(r.percent)
            .map_err(|e| invalid_at(format!("pricing_rules.group[{i}].percent"), e))?;
        let rule = GroupDiscountRule {
            min_quantity: r.min_quantity,
            percent,
        };
        PricingRules::new(Vec::new(), vec![rule])
            .map_err(|e| invalid_at(format!("pricing_rules.group[{i}]"), e))?;
        group.push(rule);
    }
    Ok(PricingRules::new(dynamic, group)?)
}

/// `POST /events` (`CreateEventRequest`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEventRequest {
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    #[schema(
        max_length = 20000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub description: Option<String>,
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub short_description: Option<String>,
    pub start_date: DateTime<Utc>,
    pub end_date: Option<DateTime<Utc>>,
    pub location: Option<String>,
    pub location_coordinates: Option<LocationPoint>,
    pub max_participants: i64,
    pub price: MoneyInput,
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub category: Option<String>,
    pub image_url: Option<String>,
    /// Bookings close this many hours before the start (default 0).
    pub booking_deadline_hours: Option<i64>,
    /// Most seats one user may hold in this event over its active bookings (409
    /// `SEAT_LIMIT_PER_USER` past it); absent = the instance-wide default.
    #[schema(minimum = 1, maximum = 100_000)]
    pub max_seats_per_user: Option<i64>,
    #[serde(default)]
    pub auto_publish: bool,
    /// Publish automatically at this time (the event stays DRAFT until then).
    pub publish_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub is_featured: bool,
    #[serde(default)]
    pub price_options: Vec<PriceOptionRequest>,
    /// Per-event refund tiers; absent = the standard policy.
    #[schema(min_items = 1, max_items = 16)]
    pub refund_policy: Option<Vec<RefundTierDto>>,
    /// Dynamic pricing and group discounts.
    pub pricing_rules: Option<PricingRulesDto>,
}

/// `PUT /events/{id}`: every field optional; `version` (or `If-Match`) guards against lost
/// updates.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEventRequest {
    /// The version the change is based on; a newer stored version answers 409.
    pub version: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub short_description: Option<String>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub location: Option<String>,
    pub location_coordinates: Option<LocationPoint>,
    pub max_participants: Option<i64>,
    pub price: Option<MoneyInput>,
    pub category: Option<String>,
    pub image_url: Option<String>,
    pub booking_deadline_hours: Option<i64>,
    /// The event's own limit on the seats one user holds; once set it can be changed, not
    /// removed.
    #[schema(minimum = 1, maximum = 100_000)]
    pub max_seats_per_user: Option<i64>,
    pub is_featured: Option<bool>,
    #[schema(min_items = 1, max_items = 16)]
    pub refund_policy: Option<Vec<RefundTierDto>>,
    pub pricing_rules: Option<PricingRulesDto>,
}

/// `POST /events/{id}/publish`: now, or at `publish_at`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishEventRequest {
    pub publish_at: Option<DateTime<Utc>>,
    pub version: Option<i64>,
}

/// `POST /events/{id}/cancel`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelEventRequest {
    pub reason: Option<String>,
    #[serde(default = "yes")]
    pub notify_participants: bool,
    /// ADMIN only: refund everyone in full whatever the policy.
    #[serde(default)]
    pub force_majeure: bool,
    pub version: Option<i64>,
}

/// No body: participants are notified, as with a body that does not say otherwise.
impl Default for CancelEventRequest {
    fn default() -> Self {
        Self {
            reason: None,
            notify_participants: true,
            force_majeure: false,
            version: None,
        }
    }
}

fn tiers_in(tiers: Vec<RefundTierDto>) -> Result<RefundPolicy, AppError> {
    let tiers = tiers
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            Percent::from_whole(t.percent)
                .map(|percent| RefundTier {
                    min_hours_before: t.min_hours_before,
                    percent,
                })
                .map_err(|_| {
                    AppError::invalid(format!("refund_policy[{i}].percent"), "must be 0 to 100")
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RefundPolicy::new(tiers)?)
}

/// `ListEventsResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventListResponse {
    pub events: Vec<EventResponse>,
    #[serde(flatten)]
    pub page: PageInfo,
}

/// Catalog filters (`ListEventsRequest`).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListEventsParams {
    /// Page number, from 0 (at most 10000).
    #[param(minimum = 0, maximum = 10000)]
    pub page: Option<i64>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
    /// Comma-separated statuses. Guests and users see PUBLISHED (and COMPLETED when asked).
    #[param(
        pattern = r"^((DRAFT|PUBLISHED|COMPLETED|CANCELED)(,(DRAFT|PUBLISHED|COMPLETED|CANCELED))*)?$"
    )]
    pub status: Option<String>,
    #[param(
        max_length = 100,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub category: Option<String>,
    pub start_date_from: Option<DateTime<Utc>>,
    pub start_date_to: Option<DateTime<Utc>>,
    /// Full-text search over name and description.
    #[param(
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub search_query: Option<String>,
    /// start_date (default), price, created_at or popularity.
    #[param(pattern = r"^(start_date|price|created_at|popularity)?$")]
    pub sort_by: Option<String>,
    #[serde(default)]
    pub sort_desc: bool,
    #[serde(default)]
    pub only_featured: bool,
    /// Organizers: only my events, in any status.
    #[serde(default)]
    pub mine: bool,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// `EventStatsResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventStatsResponse {
    pub event_id: i64,
    pub total_bookings: u64,
    pub confirmed_bookings: u64,
    pub canceled_bookings: u64,
    #[schema(value_type = String, example = "15000.00")]
    pub total_revenue: String,
    #[schema(value_type = String, example = "4.50")]
    pub avg_rating: String,
    pub review_count: u64,
    /// Bookings created per day (`YYYY-MM-DD` → count).
    pub bookings_by_day: std::collections::BTreeMap<NaiveDate, u64>,
}

/// The version a write is based on: `If-Match: "3"` (or `3`), else the body's `version`.
fn expected_version(req: &HttpRequest, body: Option<i64>) -> Result<Option<i64>, AppError> {
    let Some(raw) = req.headers().get(header::IF_MATCH) else {
        return Ok(body);
    };
    let text = raw
        .to_str()
        .map_err(|_| AppError::invalid("If-Match", "must be an ETag such as \"3\""))?
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"');
    // The details' ETag is `<version>-<hash>`: the version is what a write is based on.
    let text = text.split_once('-').map_or(text, |(version, _)| version);
    let version = text
        .parse::<i64>()
        .map_err(|_| AppError::invalid("If-Match", "must be an ETag such as \"3\""))?;
    if body.is_some_and(|b| b != version) {
        return Err(AppError::invalid(
            "version",
            "differs from the If-Match header",
        ));
    }
    Ok(Some(version))
}

fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

fn with_options(found: &EventWithOptions) -> EventResponse {
    EventResponse::of(&found.event).with_options(&found.price_options)
}

fn details_input(
    name: String,
    description: Option<String>,
    short_description: Option<String>,
    location: Option<String>,
    coordinates: Option<LocationPoint>,
    category: Option<String>,
    image_url: Option<String>,
) -> EventDetailsInput {
    EventDetailsInput {
        name,
        description,
        short_description,
        location,
        coordinates: coordinates.map(|p| (p.latitude, p.longitude)),
        category,
        image_url,
    }
}

/// The catalog.
#[utoipa::path(
    get, path = "/api/v1/events", tag = "events",
    params(ListEventsParams),
    responses(
        (status = 200, body = EventListResponse, headers(
            ("ETag" = String, description = "A strong validator of the body"),
            ("Cache-Status" = String, description = "`backend-event; hit`, `…; fwd=miss`, `…; fwd=bypass` (personal), or `…; hit; detail=stale`: served from the cache while the database does not answer"),
        )),
        (status = 304, description = "If-None-Match named the current ETag"),
        (status = 400, description = "Invalid filter", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Status not visible to this role", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "DATABASE_UNAVAILABLE and no cached copy", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("gateway" = []))
)]
#[get("/events")]
pub async fn list_events(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    params: web::Query<ListEventsParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let mut query = ListEventsQuery {
        statuses: EventStatus::parse_list("status", p.status.as_deref().unwrap_or_default())?,
        category: p.category,
        start_from: p.start_date_from,
        start_to: p.start_date_to,
        search: p.search_query,
        only_featured: p.only_featured,
        mine: p.mine,
        sort: EventSort::parse_field("sort_by", p.sort_by.as_deref().unwrap_or_default())?,
        descending: p.sort_desc,
        page: PageParams {
            page: p.page,
            size: p.size,
        }
        .request()?,
    };
    // The public catalog is the same for every caller who is not an admin and does not ask
    // for their own events: it is shared, per normalized filter set.
    query.statuses.sort_by_key(|s| s.as_str());
    query.statuses.dedup();
    let shared =
        (!query.mine && !caller.0.actor.is_admin()).then(|| View::Catalog(format!("{query:?}")));
    let lookup = match &shared {
        Some(view) => Some(state.read_cache.get(view).await),
        None => None,
    };
    if let Some(hit) = lookup.as_ref().and_then(|l| l.hit.as_ref()) {
        return Ok(cached::respond(&req, hit, Served::Hit));
    }
    let page = match state.events.list(&caller.0, query).await {
        Ok(page) => page,
        Err(e) => return stale_or(&state, &req, shared.as_ref(), None, e).await,
    };
    let built = cached::view_of(
        &EventListResponse {
            page: PageInfo::of(&page),
            events: page
                .items
                .iter()
                .map(|l| EventResponse::of(&l.event).with_rating(&l.rating))
                .collect(),
        },
        None,
    )?;
    Ok(match (&shared, &lookup) {
        (Some(view), Some(lookup)) => {
            state.read_cache.put(view, lookup, &built).await;
            cached::respond(&req, &built, Served::Miss)
        }
        _ => cached::respond(&req, &built, Served::Bypass),
    })
}

/// While the database does not answer, the last stored view of `view` (marked stale) instead
/// of `err`, unless the caller manages it (`creator`); otherwise `err`.
async fn stale_or(
    state: &ApiState,
    req: &HttpRequest,
    view: Option<&View>,
    caller: Option<UserId>,
    err: AppError,
) -> Result<HttpResponse, ApiError> {
    if err.code() == ErrorCode::DatabaseUnavailable
        && let Some(view) = view
        && let Some(stale) = state.read_cache.stale(view).await
        && (caller.is_none() || stale.creator != caller)
    {
        if stale.counts_view
            && let View::Details(id) = view
        {
            state.events.count_view(*id);
        }
        return Ok(cached::respond(req, &stale, Served::Stale));
    }
    Err(err.into())
}

/// Details with available seats, rating and price options.
#[utoipa::path(
    get, path = "/api/v1/events/{id}", tag = "events",
    params(("id" = i64, Path, description = "Event id")),
    responses(
        (status = 200, body = EventResponse, headers(
            ("ETag" = String, description = "`\"<version>-<hash>\"`: a strong validator of the body; If-Match of a write takes it (or just the version)"),
            ("Cache-Status" = String, description = "`backend-event; hit`, `…; fwd=miss`, `…; fwd=bypass` (personal), or `…; hit; detail=stale`: served from the cache while the database does not answer"),
        )),
        (status = 304, description = "If-None-Match named the current ETag"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "DATABASE_UNAVAILABLE and no cached copy", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("gateway" = []))
)]
#[get("/events/{id}")]
pub async fn get_event(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = EventId(id.into_inner());
    let ctx = &caller.0;
    // Admins manage every event: they never share the public view.
    let view = (!ctx.actor.is_admin()).then_some(View::Details(id));
    let lookup = match &view {
        Some(view) => Some(state.read_cache.get(view).await),
        None => None,
    };
    let me = ctx.actor.user_id();
    if let Some(hit) = lookup.as_ref().and_then(|l| l.hit.as_ref())
        && (me.is_none() || hit.creator != me)
    {
        if hit.counts_view {
            state.events.count_view(id);
        }
        return Ok(cached::respond(&req, hit, Served::Hit));
    }
    let EventDetails {
        event,
        price_options,
        rating,
        crew,
    } = match state.events.get(ctx, id).await {
        Ok(details) => details,
        Err(e) => return stale_or(&state, &req, view.as_ref(), me, e).await,
    };
    let mut built = cached::view_of(
        &EventResponse {
            crew: crew.as_ref().map(CrewInfo::from),
            ..EventResponse::of(&event)
        }
        .with_rating(&rating)
        .with_options(&price_options),
        Some(event.version),
    )?;
    built.creator = Some(event.creator_id);
    built.counts_view = event.status == EventStatus::Published;
    // Drafts and the creator's own view (inactive price options) are never shared.
    let personal =
        ctx.actor.is_admin() || me == Some(event.creator_id) || event.status == EventStatus::Draft;
    Ok(match (&view, &lookup) {
        (Some(view), Some(lookup)) if !personal => {
            state.read_cache.put(view, lookup, &built).await;
            cached::respond(&req, &built, Served::Miss)
        }
        _ => cached::respond(&req, &built, Served::Bypass),
    })
}

/// Creates an event (ORGANIZER, ADMIN); the caller becomes its creator.
#[utoipa::path(
    post, path = "/api/v1/events", tag = "events",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a retried request")),
    request_body = CreateEventRequest,
    responses(
        (status = 201, body = EventResponse, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/events")]
pub async fn create_event(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<CreateEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    let fingerprint = request.clone();
    idempotency::run(&state, &req, &caller.0, &fingerprint, || async {
        let b = request;
        let cmd = CreateEventCommand {
            event: NewEventInput {
                details: details_input(
                    b.name,
                    b.description,
                    b.short_description,
                    b.location,
                    b.location_coordinates,
                    b.category,
                    b.image_url,
                ),
                start_date: b.start_date,
                end_date: b.end_date,
                max_participants: b.max_participants,
                price: b.price.0,
                booking_deadline_hours: b.booking_deadline_hours,
                max_seats_per_user: b.max_seats_per_user,
                publish_at: b.publish_at,
                is_featured: b.is_featured,
                refund_policy: b.refund_policy.map(tiers_in).transpose()?,
                pricing_rules: b
                    .pricing_rules
                    .map(rules_in)
                    .transpose()?
                    .unwrap_or_default(),
            },
            price_options: b
                .price_options
                .into_iter()
                .map(|o| PriceOptionInput {
                    name: o.name,
                    price: o.price.0,
                    description: o.description,
                    quantity_available: o.quantity_available,
                    is_active: o.is_active,
                })
                .collect(),
            auto_publish: b.auto_publish,
        };
        let created = state.events.create_event(&caller.0, cmd).await?;
        JsonReply::created(
            format!("/api/v1/events/{}", created.event.id.value()),
            &with_options(&created),
        )
    })
    .await
}

/// Updates an event (its creator or ADMIN). Descriptive fields of a PUBLISHED event may
/// change; capacity below the seats taken is refused; a new start date notifies participants.
#[utoipa::path(
    put, path = "/api/v1/events/{id}", tag = "events",
    params(
        ("id" = i64, Path),
        ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]+(-[0-9a-f]+)?"?$"#, description = "The ETag of the details (or just the version) the change is based on"),
    ),
    request_body = UpdateEventRequest,
    responses(
        (status = 200, body = EventResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "VERSION_CONFLICT, capacity below seats taken, or a status that cannot be edited", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[put("/events/{id}")]
pub async fn update_event(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    body: web::Json<UpdateEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let cmd = UpdateEventCommand {
        expected_version: expected_version(&req, b.version)?,
        name: b.name,
        description: b.description,
        short_description: b.short_description,
        location: b.location,
        coordinates: b
            .location_coordinates
            .map(|p| Some((p.latitude, p.longitude))),
        category: b.category,
        image_url: b.image_url,
        start_date: b.start_date,
        end_date: b.end_date.map(Some),
        max_participants: b.max_participants,
        price: b.price.map(|m| m.0),
        booking_deadline_hours: b.booking_deadline_hours,
        max_seats_per_user: b.max_seats_per_user,
        is_featured: b.is_featured,
        refund_policy: b.refund_policy.map(|t| tiers_in(t).map(Some)).transpose()?,
        pricing_rules: b.pricing_rules.map(rules_in).transpose()?,
    };
    let updated = state
        .events
        .update(&caller.0, EventId(id.into_inner()), cmd)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(updated.event.version))
        .json(with_options(&updated)))
}

/// Publishes now, or schedules the publication at `publish_at`.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/publish", tag = "events",
    params(("id" = i64, Path)),
    request_body(content = Option<PublishEventRequest>, description = "Optional; empty publishes now"),
    responses(
        (status = 200, body = EventResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "INVALID_TRANSITION or VERSION_CONFLICT", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/events/{id}/publish")]
pub async fn publish_event(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    OptionalJson(b): OptionalJson<PublishEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let cmd = PublishEventCommand {
        publish_at: b.publish_at,
        expected_version: expected_version(&req, b.version)?,
    };
    let published = state
        .events
        .publish(&caller.0, EventId(id.into_inner()), cmd)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(published.event.version))
        .json(with_options(&published)))
}

/// The outcome of an event cancellation.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventCancellationResponse {
    pub event: EventResponse,
    pub bookings_canceled: u32,
    #[schema(value_type = String, example = "4500.00")]
    pub refunds_total: String,
}

/// Cancels the event: pending bookings canceled, confirmed ones refunded in full, waitlist
/// closed, participants notified when asked.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/cancel", tag = "events",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = Option<CancelEventRequest>),
    responses(
        (status = 200, body = EventCancellationResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/events/{id}/cancel")]
pub async fn cancel_event(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    OptionalJson(b): OptionalJson<CancelEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = EventId(id.into_inner());
    idempotency::run(&state, &req, &caller.0, &b, || async {
        let cmd = CancelEventCommand {
            reason: b.reason.clone(),
            notify_participants: b.notify_participants,
            force_majeure: b.force_majeure,
            expected_version: expected_version(&req, b.version)?,
        };
        let done = state.bookings.cancel_event(&caller.0, id, cmd).await?;
        JsonReply::ok(&EventCancellationResponse {
            event: EventResponse::of(&done.event),
            bookings_canceled: done.bookings_canceled,
            refunds_total: done.refunds_total.to_string(),
        })
    })
    .await
}

/// Bookings, revenue and rating of one event (its creator or ADMIN).
#[utoipa::path(
    get, path = "/api/v1/events/{id}/stats", tag = "events",
    params(("id" = i64, Path), StatsParams),
    responses(
        (status = 200, body = EventStatsResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/events/{id}/stats")]
pub async fn event_stats(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
    params: web::Query<StatsParams>,
) -> Result<HttpResponse, ApiError> {
    let id = EventId(id.into_inner());
    let p = params.into_inner();
    let stats = state.events.stats(&caller.0, id, p.from, p.to).await?;
    // Always two decimals, like money: "0.00", "4.50".
    let mut avg_rating = stats.rating.average();
    avg_rating.rescale(2);
    Ok(HttpResponse::Ok().json(EventStatsResponse {
        event_id: id.value(),
        total_bookings: stats.total_bookings,
        confirmed_bookings: stats.confirmed_bookings,
        canceled_bookings: stats.canceled_bookings,
        total_revenue: stats.total_revenue.to_string(),
        avg_rating: avg_rating.to_string(),
        review_count: stats.rating.count,
        bookings_by_day: stats.bookings_by_day,
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_events)
        .service(create_event)
        .service(get_event)
        .service(update_event)
        .service(publish_event)
        .service(cancel_event)
        .service(event_stats);
}
