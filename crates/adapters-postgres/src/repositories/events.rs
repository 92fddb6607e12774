//! `EventRepository` on `events` and `price_options`, with ratings from `reviews` and stats
//! from `bookings`/`payments`.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use domain::event::{CrewStatus, Event, EventDetails, EventStatus, GeoPoint, NewEvent, Schedule};
use domain::price_option::{NewPriceOption, PriceOption};
use domain::pricing::PricingRules;
use domain::refund_policy::RefundPolicy;
use domain::review::RatingSummary;
use domain::seats::Seats;
use domain::{CrewId, EventId, Money, PriceOptionId, Timestamp};
use ports::{AppError, Page};
use ports::{EventListing, EventPopularity, EventQuery, EventRepository, EventSort, EventStats};
use sea_orm::sea_query::{Expr, ExprTrait, Order};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseBackend, EntityTrait, FromQueryResult,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::fetch_one;
use crate::convert::{
    count, for_update, int, minor, missed_update, money, parse, skip_locked, user,
};
use crate::entities::{bookings, events as row, payments, price_options, reviews};
use crate::error::{corrupt, db_err};
use crate::migration::SEARCH_VECTOR;
use crate::tx::SeaTx;

/// Statuses of bookings that count as confirmed in stats (they were paid).
const PAID_BOOKING: [&str; 2] = ["CONFIRMED", "COMPLETED"];
/// Statuses of payments that brought money in.
const PAID_PAYMENT: [&str; 3] = ["COMPLETED", "PARTIAL_REFUND", "REFUNDED"];

fn to_domain(m: row::Model) -> Result<Event, AppError> {
    let seats_capacity = count(m.max_participants, "events.max_participants")?;
    let seats_available = count(m.available_seats, "events.available_seats")?;
    let coordinates = match (m.latitude, m.longitude) {
        (Some(lat), Some(lon)) => Some(GeoPoint::new(lat, lon).map_err(corrupt)?),
        _ => None,
    };
    let refund_policy = m
        .refund_policy
        .map(serde_json::from_value::<RefundPolicy>)
        .transpose()
        .map_err(|e| corrupt(format!("events.refund_policy: {e}")))?;
    let pricing_rules = serde_json::from_value::<PricingRules>(m.pricing_rules)
        .map_err(|e| corrupt(format!("events.pricing_rules: {e}")))?;
    Ok(Event {
        id: EventId(m.id),
        creator_id: user(m.creator_id),
        details: EventDetails {
            name: m.name,
            description: m.description,
            short_description: m.short_description,
            location: m.location,
            coordinates,
            category: m.category,
            image_url: m.image_url,
        },
        schedule: Schedule {
            start_date: m.start_date,
            end_date: m.end_date,
        },
        seats: Seats::from_parts(seats_capacity, seats_available).map_err(corrupt)?,
        price: money(m.price_minor),
        booking_deadline_hours: count(m.booking_deadline_hours, "events.booking_deadline_hours")?,
        max_seats_per_user: m
            .max_seats_per_user
            .map(|n| count(n, "events.max_seats_per_user"))
            .transpose()?,
        status: parse::<EventStatus>(&m.status, "events.status")?,
        is_featured: m.is_featured,
        publish_at: m.publish_at,
        published_at: m.published_at,
        canceled_reason: m.canceled_reason,
        refund_policy,
        pricing_rules,
        crew_status: parse::<CrewStatus>(&m.crew_status, "events.crew_status")?,
        crew_id: m.crew_id.map(CrewId),
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::internal(format!("serialize: {e}")))
}

/// Every column an update writes (all but id, creator, views and created_at).
fn changes(e: &Event) -> Result<row::ActiveModel, AppError> {
    Ok(row::ActiveModel {
        name: Set(e.details.name.clone()),
        description: Set(e.details.description.clone()),
        short_description: Set(e.details.short_description.clone()),
        start_date: Set(e.schedule.start_date),
        end_date: Set(e.schedule.end_date),
        location: Set(e.details.location.clone()),
        latitude: Set(e.details.coordinates.map(|c| c.latitude)),
        longitude: Set(e.details.coordinates.map(|c| c.longitude)),
        max_participants: Set(int(e.seats.capacity())),
        available_seats: Set(int(e.seats.available())),
        price_minor: Set(minor(e.price)),
        status: Set(e.status.as_str().to_owned()),
        category: Set(e.details.category.clone()),
        image_url: Set(e.details.image_url.clone()),
        booking_deadline_hours: Set(int(e.booking_deadline_hours)),
        max_seats_per_user: Set(e.max_seats_per_user.map(int)),
        publish_at: Set(e.publish_at),
        published_at: Set(e.published_at),
        canceled_reason: Set(e.canceled_reason.clone()),
        is_featured: Set(e.is_featured),
        refund_policy: Set(e.refund_policy.as_ref().map(json).transpose()?),
        pricing_rules: Set(json(&e.pricing_rules)?),
        crew_status: Set(e.crew_status.as_str().to_owned()),
        crew_id: Set(e.crew_id.map(|c| c.0)),
        updated_at: Set(e.updated_at),
        ..Default::default()
    })
}

fn option_to_domain(m: price_options::Model) -> Result<PriceOption, AppError> {
    Ok(PriceOption {
        id: PriceOptionId(m.id),
        event_id: EventId(m.event_id),
        name: m.name,
        price: money(m.price_minor),
        description: m.description,
        quantity_available: m
            .quantity_available
            .map(|q| count(q, "price_options.quantity_available"))
            .transpose()?,
        is_active: m.is_active,
    })
}

fn option_model(
    event_id: EventId,
    o: NewPriceOption,
    now: Timestamp,
) -> price_options::ActiveModel {
    price_options::ActiveModel {
        event_id: Set(event_id.0),
        name: Set(o.name),
        price_minor: Set(minor(o.price)),
        description: Set(o.description),
        quantity_available: Set(o.quantity_available.map(int)),
        is_active: Set(o.is_active),
        created_at: Set(now),
        ..Default::default()
    }
}

#[derive(Debug, FromQueryResult)]
struct RatingRow {
    event_id: i64,
    rating_sum: Option<i64>,
    rating_count: i64,
}

#[derive(Debug, FromQueryResult)]
struct BookingCounts {
    event_id: i64,
    total: i64,
    confirmed: i64,
}

#[derive(Debug, FromQueryResult)]
struct Revenue {
    revenue: Option<i64>,
}

fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// `LIKE` pattern for a literal substring (`\` escapes `%`, `_` and itself).
fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl SeaTx {
    async fn ratings(&self, ids: &[i64]) -> Result<HashMap<i64, RatingSummary>, AppError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = reviews::Entity::find()
            .select_only()
            .column(reviews::Column::EventId)
            .column_as(
                Expr::col(reviews::Column::Rating).sum().cast_as("BIGINT"),
                "rating_sum",
            )
            .column_as(Expr::col(reviews::Column::Id).count(), "rating_count")
            .filter(reviews::Column::EventId.is_in(ids.iter().copied()))
            .filter(reviews::Column::Status.eq("ACTIVE"))
            .group_by(reviews::Column::EventId)
            .into_model::<RatingRow>()
            .all(self.conn())
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let summary = RatingSummary {
                    rating_sum: non_negative(r.rating_sum.unwrap_or(0)),
                    count: non_negative(r.rating_count),
                };
                (r.event_id, summary)
            })
            .collect())
    }

    async fn listings(&self, models: Vec<row::Model>) -> Result<Vec<EventListing>, AppError> {
        let ids: Vec<i64> = models.iter().map(|m| m.id).collect();
        let mut ratings = self.ratings(&ids).await?;
        models
            .into_iter()
            .map(|m| {
                let rating = ratings.remove(&m.id).unwrap_or_default();
                Ok(EventListing {
                    event: to_domain(m)?,
                    rating,
                })
            })
            .collect()
    }

    fn search_condition(&self, query: &EventQuery) -> Condition {
        let mut cond = Condition::all();
        if !query.statuses.is_empty() {
            cond = cond.add(row::Column::Status.is_in(query.statuses.iter().map(|s| s.as_str())));
        }
        if let Some(category) = &query.category {
            cond = cond.add(row::Column::Category.eq(category.as_str()));
        }
        if let Some(from) = query.start_from {
            cond = cond.add(row::Column::StartDate.gte(from));
        }
        if let Some(to) = query.start_to {
            cond = cond.add(row::Column::StartDate.lte(to));
        }
        if query.only_featured {
            cond = cond.add(row::Column::IsFeatured.eq(true));
        }
        if let Some(creator) = query.creator_id {
            cond = cond.add(row::Column::CreatorId.eq(creator.0));
        }
        if let Some(text) = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            cond = cond.add(match self.backend() {
                DatabaseBackend::Postgres => Expr::cust_with_values(
                    format!("{SEARCH_VECTOR} @@ plainto_tsquery('simple', $1)"),
                    [text.to_owned()],
                ),
                _ => {
                    let pattern = like_pattern(text);
                    Expr::cust_with_values(
                        "(name LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\')",
                        [pattern.clone(), pattern],
                    )
                }
            });
        }
        cond
    }

    async fn booking_counts(
        &self,
        event_ids: Option<&[i64]>,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Vec<BookingCounts>, AppError> {
        let paid = PAID_BOOKING.map(|s| format!("'{s}'")).join(", ");
        let mut q = bookings::Entity::find()
            .select_only()
            .column(bookings::Column::EventId)
            .column_as(Expr::col(bookings::Column::Id).count(), "total")
            .column_as(
                Expr::cust(format!(
                    "SUM(CASE WHEN status IN ({paid}) THEN 1 ELSE 0 END)"
                ))
                .cast_as("BIGINT"),
                "confirmed",
            )
            .group_by(bookings::Column::EventId);
        if let Some(ids) = event_ids {
            q = q.filter(bookings::Column::EventId.is_in(ids.iter().copied()));
        }
        if let Some(from) = from {
            q = q.filter(bookings::Column::CreatedAt.gte(from));
        }
        if let Some(to) = to {
            q = q.filter(bookings::Column::CreatedAt.lte(to));
        }
        q.into_model::<BookingCounts>()
            .all(self.conn())
            .await
            .map_err(db_err)
    }

    async fn revenue(
        &self,
        event_id: i64,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Money, AppError> {
        let mut q = payments::Entity::find()
            .select_only()
            .column_as(
                Expr::cust("SUM(payments.amount_minor - payments.refund_amount_minor)")
                    .cast_as("BIGINT"),
                "revenue",
            )
            .filter(payments::Column::Status.is_in(PAID_PAYMENT))
            .filter(
                payments::Column::BookingId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(bookings::Column::Id)
                        .from(bookings::Entity)
                        .and_where(bookings::Column::EventId.eq(event_id))
                        .to_owned(),
                ),
            );
        if let Some(from) = from {
            q = q.filter(payments::Column::UpdatedAt.gte(from));
        }
        if let Some(to) = to {
            q = q.filter(payments::Column::UpdatedAt.lte(to));
        }
        let row = q
            .into_model::<Revenue>()
            .one(self.conn())
            .await
            .map_err(db_err)?;
        Ok(money(row.and_then(|r| r.revenue).unwrap_or(0)))
    }
}

/// The one statement that takes seats (bookings and waitlist holds alike):
/// `UPDATE events SET available_seats = available_seats - q, version = version + 1,
/// updated_at = now WHERE id = ? AND available_seats >= q AND status = 'PUBLISHED'`.
/// The condition keeps the seat count exact under any concurrency, on one instance or many.
/// Returns whether the seats were taken.
pub(crate) async fn take_event_seats(
    conn: &sea_orm::DatabaseTransaction,
    id: EventId,
    quantity: i32,
    now: Timestamp,
) -> Result<bool, AppError> {
    let result = row::Entity::update_many()
        .col_expr(
            row::Column::AvailableSeats,
            Expr::col(row::Column::AvailableSeats).sub(quantity),
        )
        .col_expr(row::Column::Version, Expr::col(row::Column::Version).add(1))
        .col_expr(row::Column::UpdatedAt, Expr::value(now))
        .filter(row::Column::Id.eq(id.0))
        .filter(row::Column::AvailableSeats.gte(quantity))
        .filter(row::Column::Status.eq(EventStatus::Published.as_str()))
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(result.rows_affected > 0)
}

#[async_trait]
impl EventRepository for SeaTx {
    async fn insert(
        &self,
        event: NewEvent,
        price_options: Vec<NewPriceOption>,
    ) -> Result<(Event, Vec<PriceOption>), AppError> {
        let now = event.created_at;
        let model = row::ActiveModel {
            creator_id: Set(event.creator_id.0),
            views: Set(0),
            version: Set(0),
            created_at: Set(now),
            ..changes(&Event::from_new(EventId(0), event))?
        };
        let stored = model.insert(self.conn()).await.map_err(db_err)?;
        let id = EventId(stored.id);
        let mut options = Vec::with_capacity(price_options.len());
        for option in price_options {
            let saved = option_model(id, option, now)
                .insert(self.conn())
                .await
                .map_err(db_err)?;
            options.push(option_to_domain(saved)?);
        }
        Ok((to_domain(stored)?, options))
    }

    async fn find(&self, id: EventId) -> Result<Option<Event>, AppError> {
        fetch_one(self.conn(), row::Entity::find_by_id(id.0), to_domain).await
    }

    async fn find_for_update(&self, id: EventId) -> Result<Option<Event>, AppError> {
        fetch_one(
            self.conn(),
            for_update(row::Entity::find_by_id(id.0), self.backend()),
            to_domain,
        )
        .await
    }

    async fn update(&self, event: &Event) -> Result<Event, AppError> {
        let mut model = changes(event)?;
        model.version = Set(event.version + 1);
        let result = row::Entity::update_many()
            .set(model)
            .filter(row::Column::Id.eq(event.id.0))
            .filter(row::Column::Version.eq(event.version))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        if result.rows_affected == 0 {
            return Err(missed_update::<row::Entity>(self.conn(), event.id.0, "event").await);
        }
        Ok(Event {
            version: event.version + 1,
            ..event.clone()
        })
    }

    async fn search(&self, query: &EventQuery) -> Result<Page<EventListing>, AppError> {
        let base = row::Entity::find().filter(self.search_condition(query));
        let total = base.clone().count(self.conn()).await.map_err(db_err)?;
        let order = if query.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        let sorted = match query.sort {
            EventSort::StartDate => base.order_by(row::Column::StartDate, order.clone()),
            EventSort::Price => base.order_by(row::Column::PriceMinor, order.clone()),
            EventSort::CreatedAt => base.order_by(row::Column::CreatedAt, order.clone()),
            EventSort::Popularity => base
                .order_by(
                    Expr::cust(
                        "(SELECT COUNT(*) FROM bookings b WHERE b.event_id = events.id \
                         AND b.status IN ('CONFIRMED', 'COMPLETED'))",
                    ),
                    order.clone(),
                )
                .order_by(row::Column::Views, order.clone()),
        };
        let models = sorted
            .order_by(row::Column::Id, order)
            .offset(query.page.offset())
            .limit(u64::from(query.page.size()))
            .all(self.conn())
            .await
            .map_err(db_err)?;
        Ok(Page::new(self.listings(models).await?, query.page, total))
    }

    async fn listing(&self, id: EventId) -> Result<Option<EventListing>, AppError> {
        let Some(model) = row::Entity::find_by_id(id.0)
            .one(self.conn())
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        Ok(self.listings(vec![model]).await?.pop())
    }

    async fn take_seats(&self, id: EventId, quantity: u32) -> Result<Option<u32>, AppError> {
        if quantity == 0 || !take_event_seats(self.conn(), id, int(quantity), self.now()).await? {
            return Ok(None);
        }
        let event = EventRepository::find(self, id)
            .await?
            .ok_or(AppError::NotFound { entity: "event" })?;
        Ok(Some(event.seats.available()))
    }

    async fn release_seats(&self, id: EventId, quantity: u32) -> Result<u32, AppError> {
        let q = int(quantity);
        let result = row::Entity::update_many()
            .col_expr(
                row::Column::AvailableSeats,
                Expr::col(row::Column::AvailableSeats).add(q),
            )
            .col_expr(row::Column::Version, Expr::col(row::Column::Version).add(1))
            .filter(row::Column::Id.eq(id.0))
            .filter(
                Expr::col(row::Column::AvailableSeats)
                    .add(q)
                    .lte(Expr::col(row::Column::MaxParticipants)),
            )
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        let event = EventRepository::find(self, id)
            .await?
            .ok_or(AppError::NotFound { entity: "event" })?;
        if result.rows_affected == 0 {
            return Err(AppError::internal(format!(
                "seat accounting: releasing {quantity} seat(s) of event {id} would exceed its capacity"
            )));
        }
        Ok(event.seats.available())
    }

    async fn price_options(&self, id: EventId) -> Result<Vec<PriceOption>, AppError> {
        price_options::Entity::find()
            .filter(price_options::Column::EventId.eq(id.0))
            .order_by_asc(price_options::Column::Id)
            .all(self.conn())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(option_to_domain)
            .collect()
    }

    async fn save_price_option(
        &self,
        event_id: EventId,
        id: Option<PriceOptionId>,
        option: NewPriceOption,
    ) -> Result<PriceOption, AppError> {
        let mut model = option_model(event_id, option, self.now());
        let Some(id) = id else {
            return option_to_domain(model.insert(self.conn()).await.map_err(db_err)?);
        };
        model.created_at = sea_orm::ActiveValue::NotSet;
        let result = price_options::Entity::update_many()
            .set(model)
            .filter(price_options::Column::Id.eq(id.0))
            .filter(price_options::Column::EventId.eq(event_id.0))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        if result.rows_affected == 0 {
            return Err(AppError::NotFound {
                entity: "price option",
            });
        }
        let saved = price_options::Entity::find_by_id(id.0)
            .one(self.conn())
            .await
            .map_err(db_err)?;
        option_to_domain(saved.ok_or(AppError::NotFound {
            entity: "price option",
        })?)
    }

    async fn record_views(&self, id: EventId, count: u32) -> Result<(), AppError> {
        row::Entity::update_many()
            .col_expr(
                row::Column::Views,
                Expr::col(row::Column::Views).add(i64::from(count)),
            )
            .filter(row::Column::Id.eq(id.0))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn claim_due_for_publication(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Event>, AppError> {
        let q = row::Entity::find()
            .filter(row::Column::Status.eq(EventStatus::Draft.as_str()))
            .filter(row::Column::PublishAt.lte(now))
            .order_by_asc(row::Column::PublishAt)
            .limit(u64::from(limit));
        skip_locked(q, self.backend())
            .all(self.conn())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn claim_due_for_completion(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Event>, AppError> {
        let ended = Condition::any().add(row::Column::EndDate.lte(now)).add(
            Condition::all()
                .add(row::Column::EndDate.is_null())
                .add(row::Column::StartDate.lte(now)),
        );
        let q = row::Entity::find()
            .filter(row::Column::Status.eq(EventStatus::Published.as_str()))
            .filter(ended)
            .order_by_asc(row::Column::StartDate)
            .limit(u64::from(limit));
        skip_locked(q, self.backend())
            .all(self.conn())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn claim_crew_retries(&self, limit: u32) -> Result<Vec<Event>, AppError> {
        let q = row::Entity::find()
            .filter(row::Column::CrewStatus.eq(CrewStatus::PendingRetry.as_str()))
            .order_by_asc(row::Column::Id)
            .limit(u64::from(limit));
        skip_locked(q, self.backend())
            .all(self.conn())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn stats(
        &self,
        id: EventId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<EventStats, AppError> {
        let counts = self.booking_counts(Some(&[id.0]), from, to).await?;
        let (total, confirmed) = counts.first().map_or((0, 0), |c| {
            (non_negative(c.total), non_negative(c.confirmed))
        });
        let mut by_status = bookings::Entity::find()
            .filter(bookings::Column::EventId.eq(id.0))
            .filter(bookings::Column::Status.eq("CANCELED"));
        let mut created = bookings::Entity::find()
            .select_only()
            .column(bookings::Column::CreatedAt)
            .filter(bookings::Column::EventId.eq(id.0));
        if let Some(from) = from {
            by_status = by_status.filter(bookings::Column::CreatedAt.gte(from));
            created = created.filter(bookings::Column::CreatedAt.gte(from));
        }
        if let Some(to) = to {
            by_status = by_status.filter(bookings::Column::CreatedAt.lte(to));
            created = created.filter(bookings::Column::CreatedAt.lte(to));
        }
        let canceled = by_status.count(self.conn()).await.map_err(db_err)?;
        // Grouped in Rust: a calendar day of a timestamptz is written differently per backend.
        let mut bookings_by_day = BTreeMap::new();
        for at in created
            .into_tuple::<Timestamp>()
            .all(self.conn())
            .await
            .map_err(db_err)?
        {
            *bookings_by_day.entry(at.date_naive()).or_insert(0) += 1;
        }
        Ok(EventStats {
            event_id: Some(id),
            total_bookings: total,
            confirmed_bookings: confirmed,
            canceled_bookings: canceled,
            total_revenue: self.revenue(id.0, from, to).await?,
            rating: self
                .ratings(&[id.0])
                .await?
                .remove(&id.0)
                .unwrap_or_default(),
            bookings_by_day,
        })
    }

    async fn popularity(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> Result<Vec<EventPopularity>, AppError> {
        let mut counts = self.booking_counts(None, Some(from), Some(to)).await?;
        counts.sort_by(|a, b| {
            b.confirmed
                .cmp(&a.confirmed)
                .then(b.total.cmp(&a.total))
                .then(a.event_id.cmp(&b.event_id))
        });
        counts.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let ids: Vec<i64> = counts.iter().map(|c| c.event_id).collect();
        let events: HashMap<i64, row::Model> = row::Entity::find()
            .filter(row::Column::Id.is_in(ids))
            .all(self.conn())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let mut report = Vec::with_capacity(counts.len());
        for c in counts {
            let Some(event) = events.get(&c.event_id) else {
                continue;
            };
            report.push(EventPopularity {
                event_id: EventId(c.event_id),
                name: event.name.clone(),
                views: non_negative(event.views),
                bookings: non_negative(c.total),
                confirmed: non_negative(c.confirmed),
                revenue: self.revenue(c.event_id, Some(from), Some(to)).await?,
            });
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
