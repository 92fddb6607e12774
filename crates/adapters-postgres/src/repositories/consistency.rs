//! `ConsistencyStore`: the consistency check's aggregate queries. Plain SQL that reads the
//! same on PostgreSQL and SQLite; the only values spliced in are status names from the domain
//! and integer ids.

use async_trait::async_trait;
use domain::booking::BookingStatus;
use domain::payment::PaymentStatus;
use domain::waitlist::WaitlistStatus;
use domain::{EventId, Timestamp};
use ports::{
    AppError, ConsistencyStore, ForeignPriceOption, PromoUseDrift, SeatDrift, SeatRepair,
    StaleOutbox, UnderpaidBooking,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QueryResult,
    QuerySelect, Statement,
};

use super::bookings::statuses_where;
use crate::convert::for_update;
use crate::entities::{events, outbox};
use crate::error::db_err;
use crate::tx::SeaTx;

/// `'A', 'B'` for an `IN (…)` list.
fn sql_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every event's seat counts (one event's when `event` is given) whose sum is off.
fn seat_sql(event: Option<i64>) -> String {
    let holding = sql_list(&statuses_where(BookingStatus::holds_seats));
    let notified = WaitlistStatus::Notified.as_str();
    let only = event.map_or_else(String::new, |id| format!("WHERE e.id = {id}"));
    format!(
        "SELECT * FROM (SELECT e.id AS event_id, \
           CAST(e.max_participants AS BIGINT) AS capacity, \
           CAST(e.available_seats AS BIGINT) AS available, \
           CAST(COALESCE((SELECT SUM(b.quantity) FROM bookings b \
              WHERE b.event_id = e.id AND b.status IN ({holding})), 0) \
            + COALESCE((SELECT SUM(a.quantity) FROM bookings_archive a \
              WHERE a.event_id = e.id AND a.status IN ({holding})), 0) AS BIGINT) AS booked, \
           CAST(COALESCE((SELECT SUM(w.held_seats) FROM waitlist w \
              WHERE w.event_id = e.id AND w.status = '{notified}'), 0) AS BIGINT) AS held \
         FROM events e {only}) s \
         WHERE s.available + s.booked + s.held <> s.capacity ORDER BY s.event_id"
    )
}

fn seat_drift(row: &QueryResult) -> Result<SeatDrift, DbErr> {
    Ok(SeatDrift {
        event_id: EventId(row.try_get("", "event_id")?),
        capacity: row.try_get("", "capacity")?,
        available: row.try_get("", "available")?,
        booked: row.try_get("", "booked")?,
        held: row.try_get("", "held")?,
    })
}

impl SeaTx {
    /// The rows of `sql`, each read by `read`.
    async fn rows_as<T>(
        &self,
        sql: String,
        read: fn(&QueryResult) -> Result<T, DbErr>,
    ) -> Result<Vec<T>, AppError> {
        let rows = self
            .conn()
            .query_all_raw(Statement::from_string(self.backend(), sql))
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(read)
            .collect::<Result<_, _>>()
            .map_err(db_err)
    }
}

#[async_trait]
impl ConsistencyStore for SeaTx {
    async fn seat_drifts(&self) -> Result<Vec<SeatDrift>, AppError> {
        self.rows_as(seat_sql(None), seat_drift).await
    }

    async fn promo_use_drifts(&self) -> Result<Vec<PromoUseDrift>, AppError> {
        let sql = "SELECT * FROM (SELECT p.id AS promo_code_id, p.code AS code, \
              CAST(p.current_uses AS BIGINT) AS current_uses, \
              CAST((SELECT COUNT(*) FROM bookings b WHERE b.promo_code_id = p.id) \
               + (SELECT COUNT(*) FROM bookings_archive a WHERE a.promo_code_id = p.id) \
               AS BIGINT) AS used \
            FROM promo_codes p) s WHERE s.current_uses <> s.used ORDER BY s.promo_code_id";
        self.rows_as(sql.to_owned(), |r| {
            Ok(PromoUseDrift {
                promo_code_id: r.try_get("", "promo_code_id")?,
                code: r.try_get("", "code")?,
                current_uses: r.try_get("", "current_uses")?,
                bookings: r.try_get("", "used")?,
            })
        })
        .await
    }

    async fn foreign_price_options(&self) -> Result<Vec<ForeignPriceOption>, AppError> {
        let sql = "SELECT b.id AS booking_id, b.event_id AS booking_event_id, \
              o.id AS price_option_id, o.event_id AS option_event_id \
            FROM bookings b JOIN price_options o ON o.id = b.price_option_id \
            WHERE o.event_id <> b.event_id ORDER BY b.id";
        self.rows_as(sql.to_owned(), |r| {
            Ok(ForeignPriceOption {
                booking_id: r.try_get("", "booking_id")?,
                booking_event_id: r.try_get("", "booking_event_id")?,
                price_option_id: r.try_get("", "price_option_id")?,
                option_event_id: r.try_get("", "option_event_id")?,
            })
        })
        .await
    }

    async fn underpaid_bookings(&self) -> Result<Vec<UnderpaidBooking>, AppError> {
        let settled = sql_list(&[
            BookingStatus::Confirmed.as_str(),
            BookingStatus::Completed.as_str(),
        ]);
        let paid_statuses: Vec<&str> = PaymentStatus::ALL
            .iter()
            .filter(|s| s.is_paid())
            .map(|s| s.as_str())
            .collect();
        let paid = sql_list(&paid_statuses);
        let sql = format!(
            "SELECT * FROM (SELECT b.id AS booking_id, b.total_price_minor AS total_minor, \
               CAST(COALESCE((SELECT SUM(p.amount_minor) FROM payments p \
                 WHERE p.booking_id = b.id AND p.status IN ({paid})), 0) AS BIGINT) AS paid_minor \
             FROM bookings b WHERE b.status IN ({settled}) AND b.total_price_minor > 0) s \
             WHERE s.paid_minor < s.total_minor ORDER BY s.booking_id"
        );
        self.rows_as(sql, |r| {
            Ok(UnderpaidBooking {
                booking_id: r.try_get("", "booking_id")?,
                total_minor: r.try_get("", "total_minor")?,
                paid_minor: r.try_get("", "paid_minor")?,
            })
        })
        .await
    }

    async fn unsent_outbox_before(&self, before: Timestamp) -> Result<StaleOutbox, AppError> {
        self.flush_appends().await?;
        let unsent = || {
            outbox::Entity::find()
                .filter(outbox::Column::SentAt.is_null())
                .filter(outbox::Column::CreatedAt.lt(before))
        };
        let count = sea_orm::PaginatorTrait::count(unsent(), self.conn())
            .await
            .map_err(db_err)?;
        let oldest: Option<Timestamp> = unsent()
            .select_only()
            .column(outbox::Column::CreatedAt)
            .order_by_asc(outbox::Column::Id)
            .into_tuple()
            .one(self.conn())
            .await
            .map_err(db_err)?;
        Ok(StaleOutbox { count, oldest })
    }

    async fn repair_seats(
        &self,
        event_id: EventId,
        now: Timestamp,
    ) -> Result<SeatRepair, AppError> {
        // The event row is locked first, as booking placement writes it: no seat can be taken
        // or given back between the count and the update.
        for_update(events::Entity::find_by_id(event_id.0), self.backend())
            .one(self.conn())
            .await
            .map_err(db_err)?;
        let Some(drift) = self
            .rows_as(seat_sql(Some(event_id.0)), seat_drift)
            .await?
            .pop()
        else {
            return Ok(SeatRepair::AddsUp);
        };
        let expected = drift.expected_available();
        if expected < 0 || expected > drift.capacity {
            return Ok(SeatRepair::Overbooked(drift));
        }
        events::Entity::update_many()
            .col_expr(events::Column::AvailableSeats, Expr::value(expected))
            .col_expr(
                events::Column::Version,
                Expr::col(events::Column::Version).add(1),
            )
            .col_expr(events::Column::UpdatedAt, Expr::value(now))
            .filter(events::Column::Id.eq(event_id.0))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        Ok(SeatRepair::Repaired(drift))
    }
}
