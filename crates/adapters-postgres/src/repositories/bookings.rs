//! `BookingRepository` on `bookings`, `booking_logs`, `booking_reminders` and the archive
//! tables.
//!
//! `place` writes a whole batch of bookings of one event with a fixed number of statements: one
//! multi-row `INSERT … RETURNING`, then one conditional `UPDATE` for the batch's seats, one per
//! price option for its stock and one per promo code for its uses (never read, check, write), so
//! concurrent placements — on one instance or many — cannot oversell. The use case decided
//! which items to place under the event's row lock; should the database disagree (a condition
//! fails, a user already holds a booking), the call fails and the caller's transaction is rolled
//! back whole: nothing of the batch is written.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use domain::booking::{Booking, BookingStatus, NewBooking};
use domain::event::EventStatus;
use domain::pricing::PriceBreakdown;
use domain::ticket::TicketCode;
use domain::waitlist::WaitlistStatus;
use domain::{
    BookingId, EventId, PriceOptionId, PromoCodeId, Quantity, Timestamp, UserId, WaitlistEntryId,
};
use ports::{AppError, ErrorCode};
use ports::{
    BookingLog, BookingQuery, BookingRepository, PlacementRejection, ReminderKind, SeatHolding,
};
use ports::{Page, PageRequest};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, IdenStatic, Iterable,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::{fetch_one, fetch_page, newest_first};
use crate::convert::{
    self, count, for_update, int, minor, missed_update, money, parse, skip_locked,
};
use crate::entities::bookings as row;
use crate::entities::{
    booking_logs, booking_reminders, bookings_archive, events, payment_refunds,
    payment_refunds_archive, payments, payments_archive, price_options, promo_codes, waitlist,
};
use crate::error::{corrupt, db_err, is_fk_violation, is_unique_violation};
use crate::repositories::events::take_event_seats;
use crate::tx::SeaTx;

/// The stored texts of the booking statuses the domain predicate selects, so the queries
/// follow the domain's definitions of "active" and "holds seats".
pub(crate) fn statuses_where(pred: fn(BookingStatus) -> bool) -> Vec<&'static str> {
    BookingStatus::ALL
        .iter()
        .copied()
        .filter(|s| pred(*s))
        .map(BookingStatus::as_str)
        .collect()
}

/// PENDING_PAYMENT, CONFIRMED: one per user per event, may still change.
fn active() -> Vec<&'static str> {
    statuses_where(BookingStatus::is_active)
}

/// CANCELED, EXPIRED, COMPLETED: statuses a booking never leaves (archive candidates).
fn finished() -> Vec<&'static str> {
    statuses_where(|s| !s.is_active())
}
/// Rows per archive statement: keeps the bound parameters far below both backends' limits.
const ARCHIVE_CHUNK: usize = 500;

pub(crate) fn to_domain(m: row::Model) -> Result<Booking, AppError> {
    let quantity = Quantity::new(i64::from(m.quantity), u32::MAX)
        .map_err(|_| corrupt(format!("bookings.quantity = {}", m.quantity)))?;
    let ticket_code = m
        .ticket_code
        .map(|c| {
            TicketCode::new(c.clone()).map_err(|_| corrupt(format!("bookings.ticket_code = '{c}'")))
        })
        .transpose()?;
    let loyalty_points_used = u64::try_from(m.loyalty_points_used).map_err(|_| {
        corrupt(format!(
            "bookings.loyalty_points_used = {}",
            m.loyalty_points_used
        ))
    })?;
    Ok(Booking {
        id: BookingId(m.id),
        event_id: EventId(m.event_id),
        user_id: convert::user(m.user_id),
        quantity,
        price_option_id: m.price_option_id.map(PriceOptionId),
        promo_code_id: m.promo_code_id.map(PromoCodeId),
        waitlist_entry_id: m.waitlist_entry_id.map(WaitlistEntryId),
        price: PriceBreakdown {
            unit_price: money(m.unit_price_minor),
            quantity: quantity.get(),
            base: money(m.base_minor),
            dynamic_adjustment: money(m.dynamic_adjustment_minor),
            group_discount: money(m.group_discount_minor),
            promo_discount: money(m.promo_discount_minor),
            loyalty_discount: money(m.loyalty_discount_minor),
            loyalty_points_used,
            total: money(m.total_price_minor),
        },
        status: parse(&m.status, "bookings.status")?,
        payment_deadline: m.payment_deadline,
        ticket_code,
        canceled_reason: m.canceled_reason,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn all_to_domain(rows: Vec<row::Model>) -> Result<Vec<Booking>, AppError> {
    rows.into_iter().map(to_domain).collect()
}

fn points(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The price columns of a breakdown, shared by insert and update.
fn with_price(mut model: row::ActiveModel, price: &PriceBreakdown) -> row::ActiveModel {
    model.unit_price_minor = Set(minor(price.unit_price));
    model.base_minor = Set(minor(price.base));
    model.dynamic_adjustment_minor = Set(minor(price.dynamic_adjustment));
    model.group_discount_minor = Set(minor(price.group_discount));
    model.promo_discount_minor = Set(minor(price.promo_discount));
    model.loyalty_discount_minor = Set(minor(price.loyalty_discount));
    model.loyalty_points_used = Set(points(price.loyalty_points_used));
    model.total_price_minor = Set(minor(price.total));
    model
}

fn new_row(new: &NewBooking) -> row::ActiveModel {
    let model = row::ActiveModel {
        event_id: Set(new.event_id.0),
        user_id: Set(new.user_id.0),
        quantity: Set(int(new.quantity.get())),
        price_option_id: Set(new.price_option_id.map(|p| p.0)),
        promo_code_id: Set(new.promo_code_id.map(|p| p.0)),
        waitlist_entry_id: Set(new.waitlist_entry_id.map(|w| w.0)),
        status: Set(BookingStatus::PendingPayment.as_str().to_owned()),
        payment_deadline: Set(new.payment_deadline),
        ticket_code: Set(None),
        canceled_reason: Set(None),
        version: Set(0),
        created_at: Set(new.created_at),
        updated_at: Set(new.created_at),
        ..Default::default()
    };
    with_price(model, &new.price)
}

/// Every column an update may change (all but the id, the version and `created_at`).
fn changed_row(b: &Booking) -> row::ActiveModel {
    let model = row::ActiveModel {
        event_id: Set(b.event_id.0),
        user_id: Set(b.user_id.0),
        quantity: Set(int(b.quantity.get())),
        price_option_id: Set(b.price_option_id.map(|p| p.0)),
        promo_code_id: Set(b.promo_code_id.map(|p| p.0)),
        waitlist_entry_id: Set(b.waitlist_entry_id.map(|w| w.0)),
        status: Set(b.status.as_str().to_owned()),
        payment_deadline: Set(b.payment_deadline),
        ticket_code: Set(b.ticket_code.as_ref().map(|c| c.as_str().to_owned())),
        canceled_reason: Set(b.canceled_reason.clone()),
        updated_at: Set(b.updated_at),
        ..Default::default()
    };
    with_price(model, &b.price)
}

fn statuses(list: &[BookingStatus]) -> Vec<&'static str> {
    list.iter().map(|s| s.as_str()).collect()
}

/// Takes `quantity` seats of the event ([`take_event_seats`]), or fails with how many are left.
async fn take_seats(
    conn: &DatabaseTransaction,
    event_id: EventId,
    quantity: i32,
    now: Timestamp,
) -> Result<(), AppError> {
    if take_event_seats(conn, event_id, quantity, now).await? {
        return Ok(());
    }
    let current: Option<(i32, String)> = events::Entity::find_by_id(event_id.0)
        .select_only()
        .column(events::Column::AvailableSeats)
        .column(events::Column::Status)
        .into_tuple()
        .one(conn)
        .await
        .map_err(db_err)?;
    // An event that is gone or not on sale has no seats to offer.
    let available = match current {
        Some((seats, status)) if status == EventStatus::Published.as_str() => {
            count(seats, "events.available_seats")?
        }
        _ => 0,
    };
    Err(PlacementRejection::SoldOut { available }.into())
}

/// The seats of these bookings were held for waitlist entries the use case converted in this
/// transaction.
async fn check_waitlist_holds(
    conn: &DatabaseTransaction,
    event_id: EventId,
    holds: &[(WaitlistEntryId, UserId)],
) -> Result<(), AppError> {
    if holds.is_empty() {
        return Ok(());
    }
    let found: Vec<(i64, uuid::Uuid)> = waitlist::Entity::find()
        .select_only()
        .column(waitlist::Column::Id)
        .column(waitlist::Column::UserId)
        .filter(waitlist::Column::Id.is_in(holds.iter().map(|(e, _)| e.0)))
        .filter(waitlist::Column::EventId.eq(event_id.0))
        .filter(waitlist::Column::Status.eq(WaitlistStatus::Converted.as_str()))
        .into_tuple()
        .all(conn)
        .await
        .map_err(db_err)?;
    let all_held = holds
        .iter()
        .all(|(entry, user)| found.contains(&(entry.0, user.0)));
    if all_held {
        Ok(())
    } else {
        Err(PlacementRejection::WaitlistHoldGone.into())
    }
}

async fn take_price_option_stock(
    conn: &DatabaseTransaction,
    event_id: EventId,
    option: PriceOptionId,
    quantity: i32,
) -> Result<(), AppError> {
    let stock = price_options::Column::QuantityAvailable;
    let taken = price_options::Entity::update_many()
        .col_expr(stock, Expr::col(stock).sub(quantity))
        .filter(price_options::Column::Id.eq(option.0))
        .filter(price_options::Column::EventId.eq(event_id.0))
        .filter(price_options::Column::IsActive.eq(true))
        .filter(stock.is_null().or(stock.gte(quantity)))
        .exec(conn)
        .await
        .map_err(db_err)?;
    if taken.rows_affected > 0 {
        return Ok(());
    }
    let current: Option<(Option<i32>, bool, i64)> = price_options::Entity::find_by_id(option.0)
        .select_only()
        .column(stock)
        .column(price_options::Column::IsActive)
        .column(price_options::Column::EventId)
        .into_tuple()
        .one(conn)
        .await
        .map_err(db_err)?;
    let available = match current {
        Some((Some(left), true, event)) if event == event_id.0 => {
            count(left, "price_options.quantity_available")?
        }
        _ => 0,
    };
    Err(PlacementRejection::PriceOptionSoldOut { available }.into())
}

/// Counts `uses` more uses of the code, when they stay within its `max_uses`.
async fn use_promo_code(
    conn: &DatabaseTransaction,
    promo: PromoCodeId,
    uses: i32,
    now: Timestamp,
) -> Result<(), AppError> {
    let current = promo_codes::Column::CurrentUses;
    let max = promo_codes::Column::MaxUses;
    let taken = promo_codes::Entity::update_many()
        .col_expr(current, Expr::col(current).add(uses))
        .col_expr(
            promo_codes::Column::Version,
            Expr::col(promo_codes::Column::Version).add(1),
        )
        .col_expr(promo_codes::Column::UpdatedAt, Expr::value(now))
        .filter(promo_codes::Column::Id.eq(promo.0))
        .filter(promo_codes::Column::IsActive.eq(true))
        .filter(
            max.is_null()
                .or(Expr::col(current).add(uses).lte(Expr::col(max))),
        )
        .exec(conn)
        .await
        .map_err(db_err)?;
    if taken.rows_affected > 0 {
        Ok(())
    } else {
        Err(PlacementRejection::PromoCodeExhausted.into())
    }
}

/// What a batch takes from the event, its price options and promo codes.
#[derive(Default)]
struct Takes {
    seats: i32,
    options: BTreeMap<PriceOptionId, i32>,
    promos: BTreeMap<PromoCodeId, i32>,
    holds: Vec<(WaitlistEntryId, UserId)>,
    latest: Option<Timestamp>,
}

impl Takes {
    fn of(bookings: &[NewBooking]) -> Self {
        let mut takes = Self::default();
        for new in bookings {
            let quantity = int(new.quantity.get());
            match new.waitlist_entry_id {
                Some(entry) => takes.holds.push((entry, new.user_id)),
                None => takes.seats += quantity,
            }
            if let Some(option) = new.price_option_id {
                *takes.options.entry(option).or_default() += quantity;
            }
            if let Some(promo) = new.promo_code_id {
                *takes.promos.entry(promo).or_default() += 1;
            }
            takes.latest = Ord::max(takes.latest, Some(new.created_at));
        }
        takes
    }
}

fn not_found_booking(err: DbErr) -> AppError {
    if is_fk_violation(&err) {
        AppError::NotFound { entity: "booking" }
    } else {
        db_err(err)
    }
}

fn log_to_port(m: booking_logs::Model) -> Result<BookingLog, AppError> {
    Ok(BookingLog {
        booking_id: BookingId(m.booking_id),
        old_status: m
            .old_status
            .as_deref()
            .map(|s| parse(s, "booking_logs.old_status"))
            .transpose()?,
        new_status: parse(&m.new_status, "booking_logs.new_status")?,
        actor_id: m.actor_id.map(convert::user),
        details: m.details,
        created_at: m.created_at,
    })
}

/// `INSERT INTO <archive> (cols…, archived_at) SELECT cols…, now FROM <live> WHERE <key> IN ids`
/// — the archive tables have the live columns plus `archived_at`.
async fn copy_to_archive<Live, Archive>(
    conn: &DatabaseTransaction,
    key: Live::Column,
    ids: &[i64],
    now: Timestamp,
) -> Result<(), AppError>
where
    Live: EntityTrait,
    Archive: EntityTrait,
{
    let columns: Vec<&'static str> = Live::Column::iter().map(|c| c.as_str()).collect();
    let mut select = Query::select();
    select
        .columns(columns.iter().copied())
        .expr(Expr::value(now))
        .from(Live::default())
        .and_where(key.is_in(ids.iter().copied()));
    let mut insert = Query::insert();
    insert
        .into_table(Archive::default())
        .columns(columns.into_iter().chain(["archived_at"]))
        .select_from(select)
        .map_err(|e| AppError::internal(format!("archive statement: {e}")))?;
    conn.execute(&insert).await.map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl BookingRepository for SeaTx {
    async fn place(
        &self,
        event_id: EventId,
        bookings: Vec<NewBooking>,
    ) -> Result<Vec<Booking>, AppError> {
        if let Some(other) = bookings.iter().find(|b| b.event_id != event_id) {
            return Err(AppError::internal(format!(
                "placement for event {event_id} holds a booking for event {}",
                other.event_id
            )));
        }
        let takes = Takes::of(&bookings);
        let Some(now) = takes.latest else {
            return Ok(Vec::new());
        };
        let conn = self.conn();
        // Seats first: the event's row lock orders placements of one event on every instance.
        if takes.seats > 0 {
            take_seats(conn, event_id, takes.seats, now).await?;
        }
        check_waitlist_holds(conn, event_id, &takes.holds).await?;
        for (option, quantity) in &takes.options {
            take_price_option_stock(conn, event_id, *option, *quantity).await?;
        }
        for (promo, uses) in &takes.promos {
            use_promo_code(conn, *promo, *uses, now).await?;
        }
        let inserted = row::Entity::insert_many(bookings.iter().map(new_row))
            .exec_with_returning(conn)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    AppError::from(PlacementRejection::AlreadyBooked)
                } else {
                    db_err(e)
                }
            })?;
        // One active booking per user and event: the user finds each row in the input's order.
        let mut by_user: HashMap<uuid::Uuid, row::Model> =
            inserted.into_iter().map(|m| (m.user_id, m)).collect();
        bookings
            .iter()
            .map(|new| {
                by_user
                    .remove(&new.user_id.0)
                    .ok_or_else(|| AppError::internal("placement lost a booking row"))
                    .and_then(to_domain)
            })
            .collect()
    }

    async fn seat_holdings(
        &self,
        event_id: EventId,
        users: &[UserId],
    ) -> Result<Vec<SeatHolding>, AppError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        // Sums as BIGINT on both backends (PostgreSQL sums INTEGER as BIGINT). The event id is
        // an integer, written into the statement as such.
        let unpaid = format!(
            "CAST(SUM(CASE WHEN status = '{}' THEN quantity ELSE 0 END) AS BIGINT)",
            BookingStatus::PendingPayment.as_str()
        );
        let of_event = format!(
            "CAST(SUM(CASE WHEN event_id = {} THEN quantity ELSE 0 END) AS BIGINT)",
            event_id.0
        );
        // `user_id` leads `idx_bookings_user_status`, so `user_id IN (…)` is one index probe per
        // user whatever the statistics say. The statuses stay parameters on purpose: as literals
        // they would let a plan built on stale statistics pick the partial index
        // `uq_bookings_active_user_event` (`(event_id, user_id)`) and scan it whole for the
        // users — measured at 3.3 ms per batch at the start of an on-sale (docs/benchmarks.md).
        let found: Vec<(uuid::Uuid, i64, i64)> = row::Entity::find()
            .select_only()
            .column(row::Column::UserId)
            .column_as(Expr::cust(unpaid), "unpaid")
            .column_as(Expr::cust(of_event), "of_event")
            .filter(row::Column::UserId.is_in(users.iter().map(|u| u.0)))
            .filter(row::Column::Status.is_in(active()))
            .group_by(row::Column::UserId)
            .into_tuple()
            .all(self.conn())
            .await
            .map_err(db_err)?;
        Ok(found
            .into_iter()
            .map(|(user, unpaid, of_event)| SeatHolding {
                user: convert::user(user),
                unpaid_seats: u64::try_from(unpaid).unwrap_or(0),
                event_seats: u64::try_from(of_event).unwrap_or(0),
            })
            .collect())
    }

    async fn find(&self, id: BookingId) -> Result<Option<Booking>, AppError> {
        fetch_one(self.conn(), row::Entity::find_by_id(id.0), to_domain).await
    }

    async fn find_for_update(&self, id: BookingId) -> Result<Option<Booking>, AppError> {
        fetch_one(
            self.conn(),
            for_update(row::Entity::find_by_id(id.0), self.backend()),
            to_domain,
        )
        .await
    }

    async fn find_active(
        &self,
        event_id: EventId,
        user_id: UserId,
    ) -> Result<Option<Booking>, AppError> {
        let select = row::Entity::find()
            .filter(row::Column::EventId.eq(event_id.0))
            .filter(row::Column::UserId.eq(user_id.0))
            .filter(row::Column::Status.is_in(active()));
        fetch_one(self.conn(), select, to_domain).await
    }

    async fn find_latest(
        &self,
        event_id: EventId,
        user_id: UserId,
    ) -> Result<Option<Booking>, AppError> {
        let select = row::Entity::find()
            .filter(row::Column::EventId.eq(event_id.0))
            .filter(row::Column::UserId.eq(user_id.0))
            .order_by_desc(row::Column::Id);
        fetch_one(self.conn(), select, to_domain).await
    }

    async fn update(&self, booking: &Booking) -> Result<Booking, AppError> {
        let updated = row::Entity::update_many()
            .set(changed_row(booking))
            .col_expr(row::Column::Version, Expr::col(row::Column::Version).add(1))
            .filter(row::Column::Id.eq(booking.id.0))
            .filter(row::Column::Version.eq(booking.version))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        if updated.rows_affected == 0 {
            return Err(missed_update::<row::Entity>(self.conn(), booking.id.0, "booking").await);
        }
        let mut stored = booking.clone();
        stored.version += 1;
        Ok(stored)
    }

    async fn search(&self, query: &BookingQuery) -> Result<Page<Booking>, AppError> {
        let mut select = row::Entity::find();
        if let Some(user) = query.user_id {
            select = select.filter(row::Column::UserId.eq(user.0));
        }
        if let Some(event) = query.event_id {
            select = select.filter(row::Column::EventId.eq(event.0));
        }
        if let Some(creator) = query.event_creator_id {
            select = select.filter(
                row::Column::EventId.in_subquery(
                    Query::select()
                        .column(events::Column::Id)
                        .from(events::Entity)
                        .and_where(events::Column::CreatorId.eq(creator.0))
                        .to_owned(),
                ),
            );
        }
        if !query.statuses.is_empty() {
            select = select.filter(row::Column::Status.is_in(statuses(&query.statuses)));
        }
        let page: PageRequest = query.page;
        let order = newest_first(row::Column::CreatedAt, row::Column::Id);
        let (rows, total) = fetch_page(self.conn(), select, order, page).await?;
        Ok(Page::new(all_to_domain(rows)?, page, total))
    }

    async fn active_for_event(&self, event_id: EventId) -> Result<Vec<Booking>, AppError> {
        let select = row::Entity::find()
            .filter(row::Column::EventId.eq(event_id.0))
            .filter(row::Column::Status.is_in(active()))
            .order_by_asc(row::Column::Id);
        let rows = for_update(select, self.backend())
            .all(self.conn())
            .await
            .map_err(db_err)?;
        all_to_domain(rows)
    }

    async fn claim_expired(
        &self,
        deadline_before: Timestamp,
        limit: u32,
    ) -> Result<Vec<Booking>, AppError> {
        let select = row::Entity::find()
            .filter(row::Column::Status.eq(BookingStatus::PendingPayment.as_str()))
            .filter(row::Column::PaymentDeadline.lt(deadline_before))
            .order_by_asc(row::Column::PaymentDeadline)
            .order_by_asc(row::Column::Id)
            .limit(u64::from(limit));
        let rows = skip_locked(select, self.backend())
            .all(self.conn())
            .await
            .map_err(db_err)?;
        all_to_domain(rows)
    }

    async fn claim_reminders_due(
        &self,
        kind: ReminderKind,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> Result<Vec<Booking>, AppError> {
        let starting = Query::select()
            .column(events::Column::Id)
            .from(events::Entity)
            .and_where(events::Column::StartDate.gt(from))
            .and_where(events::Column::StartDate.lte(to))
            .to_owned();
        let reminded = Query::select()
            .column(booking_reminders::Column::BookingId)
            .from(booking_reminders::Entity)
            .and_where(booking_reminders::Column::Kind.eq(kind.as_str()))
            .to_owned();
        let select = row::Entity::find()
            .filter(row::Column::Status.eq(BookingStatus::Confirmed.as_str()))
            .filter(row::Column::EventId.in_subquery(starting))
            .filter(row::Column::Id.not_in_subquery(reminded))
            .order_by_asc(row::Column::Id)
            .limit(u64::from(limit));
        let rows = skip_locked(select, self.backend())
            .all(self.conn())
            .await
            .map_err(db_err)?;
        all_to_domain(rows)
    }

    async fn mark_reminder_sent(
        &self,
        booking_id: BookingId,
        kind: ReminderKind,
        at: Timestamp,
    ) -> Result<bool, AppError> {
        let model = booking_reminders::ActiveModel {
            booking_id: Set(booking_id.0),
            kind: Set(kind.as_str().to_owned()),
            sent_at: Set(at),
        };
        // A savepoint keeps the transaction usable on PostgreSQL when the row already exists.
        let sp = self.conn().begin().await.map_err(db_err)?;
        match booking_reminders::Entity::insert(model)
            .exec_without_returning(&sp)
            .await
        {
            Ok(_) => {
                sp.commit().await.map_err(db_err)?;
                Ok(true)
            }
            Err(e) => {
                sp.rollback().await.map_err(db_err)?;
                if is_unique_violation(&e) {
                    Ok(false)
                } else {
                    Err(not_found_booking(e))
                }
            }
        }
    }

    async fn confirmed_for_event(&self, event_id: EventId) -> Result<Vec<Booking>, AppError> {
        let rows = row::Entity::find()
            .filter(row::Column::EventId.eq(event_id.0))
            .filter(row::Column::Status.eq(BookingStatus::Confirmed.as_str()))
            .order_by_asc(row::Column::Id)
            .all(self.conn())
            .await
            .map_err(db_err)?;
        all_to_domain(rows)
    }

    async fn store_transitions(&self, bookings: &[Booking]) -> Result<Vec<Booking>, AppError> {
        let Some(first) = bookings.first() else {
            return Ok(Vec::new());
        };
        if bookings
            .iter()
            .any(|b| b.status != first.status || b.updated_at != first.updated_at)
        {
            return Err(AppError::internal(
                "store_transitions takes bookings moved to one status at one instant",
            ));
        }
        // One statement per version read (claimed rows are nearly all at one) and chunk.
        let mut by_version: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for b in bookings {
            by_version.entry(b.version).or_default().push(b.id.0);
        }
        let mut stored = 0;
        for (version, ids) in by_version {
            for chunk in ids.chunks(ARCHIVE_CHUNK) {
                let updated = row::Entity::update_many()
                    .col_expr(row::Column::Status, Expr::value(first.status.as_str()))
                    .col_expr(row::Column::UpdatedAt, Expr::value(first.updated_at))
                    .col_expr(row::Column::Version, Expr::col(row::Column::Version).add(1))
                    .filter(row::Column::Id.is_in(chunk.iter().copied()))
                    .filter(row::Column::Version.eq(version))
                    .exec(self.conn())
                    .await
                    .map_err(db_err)?;
                stored += updated.rows_affected;
            }
        }
        if stored != bookings.len() as u64 {
            return Err(AppError::conflict(
                ErrorCode::VersionConflict,
                "a booking changed while its batch was being stored",
            ));
        }
        Ok(bookings
            .iter()
            .map(|b| Booking {
                version: b.version + 1,
                ..b.clone()
            })
            .collect())
    }

    async fn append_log(&self, log: BookingLog) -> Result<(), AppError> {
        self.appends.log(booking_logs::ActiveModel {
            booking_id: Set(log.booking_id.0),
            old_status: Set(log.old_status.map(|s| s.as_str().to_owned())),
            new_status: Set(log.new_status.as_str().to_owned()),
            actor_id: Set(log.actor_id.map(|a| a.0)),
            details: Set(log.details),
            created_at: Set(log.created_at),
            ..Default::default()
        });
        Ok(())
    }

    async fn logs(&self, booking_id: BookingId) -> Result<Vec<BookingLog>, AppError> {
        self.flush_appends().await?;
        booking_logs::Entity::find()
            .filter(booking_logs::Column::BookingId.eq(booking_id.0))
            .order_by_asc(booking_logs::Column::CreatedAt)
            .order_by_asc(booking_logs::Column::Id)
            .all(self.conn())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(log_to_port)
            .collect()
    }

    async fn seats_held(&self, event_id: EventId) -> Result<u64, AppError> {
        let sum: Option<Option<i64>> = row::Entity::find()
            .select_only()
            .column_as(Expr::col(row::Column::Quantity).sum(), "seats")
            .filter(row::Column::EventId.eq(event_id.0))
            .filter(row::Column::Status.is_in(statuses_where(BookingStatus::holds_seats)))
            .into_tuple()
            .one(self.conn())
            .await
            .map_err(db_err)?;
        let sum = sum.flatten().unwrap_or(0);
        u64::try_from(sum).map_err(|_| corrupt(format!("Σ bookings.quantity = {sum}")))
    }

    async fn archive_before(&self, before: Timestamp, limit: u32) -> Result<u64, AppError> {
        let select = row::Entity::find()
            .select_only()
            .column(row::Column::Id)
            .filter(row::Column::Status.is_in(finished()))
            .filter(row::Column::UpdatedAt.lt(before))
            .order_by_asc(row::Column::UpdatedAt)
            .order_by_asc(row::Column::Id)
            .limit(u64::from(limit));
        let ids: Vec<i64> = skip_locked(select, self.backend())
            .into_tuple()
            .all(self.conn())
            .await
            .map_err(db_err)?;
        let now = self.now();
        for chunk in ids.chunks(ARCHIVE_CHUNK) {
            // payments → bookings is ON DELETE RESTRICT: move the payments first, after copying
            // their refunds (which the delete cascades away). Booking logs, reminders and promo
            // redemptions go with ON DELETE CASCADE.
            let payment_ids: Vec<i64> = payments::Entity::find()
                .select_only()
                .column(payments::Column::Id)
                .filter(payments::Column::BookingId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(self.conn())
                .await
                .map_err(db_err)?;
            for payments_chunk in payment_ids.chunks(ARCHIVE_CHUNK) {
                copy_to_archive::<payment_refunds::Entity, payment_refunds_archive::Entity>(
                    self.conn(),
                    payment_refunds::Column::PaymentId,
                    payments_chunk,
                    now,
                )
                .await?;
            }
            copy_to_archive::<payments::Entity, payments_archive::Entity>(
                self.conn(),
                payments::Column::BookingId,
                chunk,
                now,
            )
            .await?;
            payments::Entity::delete_many()
                .filter(payments::Column::BookingId.is_in(chunk.iter().copied()))
                .exec(self.conn())
                .await
                .map_err(db_err)?;
            copy_to_archive::<row::Entity, bookings_archive::Entity>(
                self.conn(),
                row::Column::Id,
                chunk,
                now,
            )
            .await?;
            row::Entity::delete_many()
                .filter(row::Column::Id.is_in(chunk.iter().copied()))
                .exec(self.conn())
                .await
                .map_err(db_err)?;
        }
        Ok(ids.len() as u64)
    }
}
