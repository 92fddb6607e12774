//! `WaitlistRepository` on `waitlist` and `waitlist_audit`.

use async_trait::async_trait;
use domain::waitlist::{WaitlistEntry, WaitlistStatus};
use domain::{EventId, Quantity, Timestamp, UserId, WaitlistEntryId};
use ports::WaitlistRepository;
use ports::{AppError, ErrorCode, Page, PageRequest};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Set,
};

use super::{fetch_one, fetch_page};
use crate::convert::{self, count, for_update, int, parse, skip_locked};
use crate::entities::{waitlist as row, waitlist_audit as audit};
use crate::error::{corrupt, db_err, is_fk_violation, is_unique_violation};
use crate::tx::SeaTx;

const OPEN: [WaitlistStatus; 2] = [WaitlistStatus::Waiting, WaitlistStatus::Notified];

fn to_domain(m: row::Model) -> Result<WaitlistEntry, AppError> {
    Ok(WaitlistEntry {
        id: WaitlistEntryId(m.id),
        event_id: EventId(m.event_id),
        user_id: convert::user(m.user_id),
        priority: m.priority,
        quantity: Quantity::new(i64::from(m.quantity), u32::MAX)
            .map_err(|_| corrupt(format!("waitlist.quantity = {}", m.quantity)))?,
        status: parse(&m.status, "waitlist.status")?,
        held_seats: count(m.held_seats, "waitlist.held_seats")?,
        notified_at: m.notified_at,
        hold_expires_at: m.hold_expires_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn all_to_domain(rows: Vec<row::Model>) -> Result<Vec<WaitlistEntry>, AppError> {
    rows.into_iter().map(to_domain).collect()
}

fn texts(statuses: &[WaitlistStatus]) -> Vec<&'static str> {
    statuses.iter().map(|s| s.as_str()).collect()
}

fn open_of_event(event_id: EventId) -> Select<row::Entity> {
    row::Entity::find()
        .filter(row::Column::EventId.eq(event_id.0))
        .filter(row::Column::Status.is_in(texts(&OPEN)))
}

fn join_err(err: sea_orm::DbErr) -> AppError {
    if is_unique_violation(&err) {
        AppError::conflict(
            ErrorCode::AlreadyOnWaitlist,
            "you are already on the waiting list of this event",
        )
    } else if is_fk_violation(&err) {
        AppError::NotFound { entity: "event" }
    } else {
        db_err(err)
    }
}

#[async_trait]
impl WaitlistRepository for SeaTx {
    async fn join(
        &self,
        event_id: EventId,
        user_id: UserId,
        quantity: Quantity,
        now: Timestamp,
    ) -> Result<WaitlistEntry, AppError> {
        let model = row::ActiveModel {
            event_id: Set(event_id.0),
            user_id: Set(user_id.0),
            priority: Set(0),
            quantity: Set(int(quantity.get())),
            status: Set(WaitlistStatus::Waiting.as_str().to_owned()),
            held_seats: Set(0),
            notified_at: Set(None),
            hold_expires_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let mut inserted = model.insert(self.conn()).await.map_err(join_err)?;
        // The row's own id is its place in the queue: ids grow with every insert, so the order
        // is the join order without a MAX(priority) read that two joiners could race on.
        row::Entity::update_many()
            .col_expr(row::Column::Priority, Expr::col(row::Column::Id))
            .filter(row::Column::Id.eq(inserted.id))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        inserted.priority = inserted.id;
        to_domain(inserted)
    }

    async fn find(&self, id: WaitlistEntryId) -> Result<Option<WaitlistEntry>, AppError> {
        fetch_one(self.conn(), row::Entity::find_by_id(id.0), to_domain).await
    }

    async fn find_open(
        &self,
        event_id: EventId,
        user_id: UserId,
    ) -> Result<Option<WaitlistEntry>, AppError> {
        let query = open_of_event(event_id).filter(row::Column::UserId.eq(user_id.0));
        fetch_one(self.conn(), for_update(query, self.backend()), to_domain).await
    }

    async fn find_offers(
        &self,
        event_id: EventId,
        users: &[UserId],
    ) -> Result<Vec<WaitlistEntry>, AppError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let query = row::Entity::find()
            .filter(row::Column::EventId.eq(event_id.0))
            .filter(row::Column::Status.eq(WaitlistStatus::Notified.as_str()))
            .filter(row::Column::UserId.is_in(users.iter().map(|u| u.0)));
        for_update(query, self.backend())
            .all(self.conn())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn peek_open(
        &self,
        event_id: EventId,
        user_id: UserId,
    ) -> Result<Option<WaitlistEntry>, AppError> {
        let select = open_of_event(event_id).filter(row::Column::UserId.eq(user_id.0));
        fetch_one(self.conn(), select, to_domain).await
    }

    async fn position(&self, entry: &WaitlistEntry) -> Result<u64, AppError> {
        open_of_event(entry.event_id)
            .filter(row::Column::Priority.lte(entry.priority))
            .count(self.conn())
            .await
            .map_err(db_err)
    }

    async fn list(
        &self,
        event_id: EventId,
        statuses: Vec<WaitlistStatus>,
        page: PageRequest,
    ) -> Result<Page<WaitlistEntry>, AppError> {
        let mut query = row::Entity::find().filter(row::Column::EventId.eq(event_id.0));
        if !statuses.is_empty() {
            query = query.filter(row::Column::Status.is_in(texts(&statuses)));
        }
        let order = |q: Select<row::Entity>| {
            q.order_by_asc(row::Column::Priority)
                .order_by_asc(row::Column::Id)
        };
        let (rows, total) = fetch_page(self.conn(), query, order, page).await?;
        Ok(Page::new(all_to_domain(rows)?, page, total))
    }

    async fn next_waiting(
        &self,
        event_id: EventId,
        limit: u32,
    ) -> Result<Vec<WaitlistEntry>, AppError> {
        let query = row::Entity::find()
            .filter(row::Column::EventId.eq(event_id.0))
            .filter(row::Column::Status.eq(WaitlistStatus::Waiting.as_str()))
            .order_by_asc(row::Column::Priority)
            .order_by_asc(row::Column::Id)
            .limit(u64::from(limit));
        let rows = skip_locked(query, self.backend())
            .all(self.conn())
            .await
            .map_err(db_err)?;
        all_to_domain(rows)
    }

    async fn update(&self, entry: &WaitlistEntry) -> Result<WaitlistEntry, AppError> {
        let model = row::ActiveModel {
            id: Set(entry.id.0),
            status: Set(entry.status.as_str().to_owned()),
            held_seats: Set(int(entry.held_seats)),
            notified_at: Set(entry.notified_at),
            hold_expires_at: Set(entry.hold_expires_at),
            updated_at: Set(entry.updated_at),
            ..Default::default()
        };
        match model.update(self.conn()).await {
            Ok(m) => to_domain(m),
            Err(sea_orm::DbErr::RecordNotUpdated) => Err(AppError::NotFound {
                entity: "waitlist entry",
            }),
            Err(e) if is_unique_violation(&e) => Err(join_err(e)),
            Err(e) => Err(db_err(e)),
        }
    }

    async fn claim_expired_offers(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<WaitlistEntry>, AppError> {
        let query = row::Entity::find()
            .filter(row::Column::Status.eq(WaitlistStatus::Notified.as_str()))
            .filter(row::Column::HoldExpiresAt.lt(now))
            .order_by_asc(row::Column::HoldExpiresAt)
            .order_by_asc(row::Column::Id)
            .limit(u64::from(limit));
        let rows = skip_locked(query, self.backend())
            .all(self.conn())
            .await
            .map_err(db_err)?;
        all_to_domain(rows)
    }

    async fn open_for_event(&self, event_id: EventId) -> Result<Vec<WaitlistEntry>, AppError> {
        let query = open_of_event(event_id)
            .order_by_asc(row::Column::Priority)
            .order_by_asc(row::Column::Id);
        let rows = for_update(query, self.backend())
            .all(self.conn())
            .await
            .map_err(db_err)?;
        all_to_domain(rows)
    }

    async fn held_seats(&self, event_id: EventId) -> Result<u64, AppError> {
        let sum: Option<Option<i64>> = row::Entity::find()
            .select_only()
            .column_as(Expr::col(row::Column::HeldSeats).sum(), "held")
            .filter(row::Column::EventId.eq(event_id.0))
            .filter(row::Column::Status.eq(WaitlistStatus::Notified.as_str()))
            .into_tuple()
            .one(self.conn())
            .await
            .map_err(db_err)?;
        let sum = sum.flatten().unwrap_or(0);
        u64::try_from(sum).map_err(|_| corrupt(format!("SUM(waitlist.held_seats) = {sum}")))
    }

    async fn append_audit(
        &self,
        entry: &WaitlistEntry,
        old_status: Option<WaitlistStatus>,
        actor_id: Option<UserId>,
        at: Timestamp,
    ) -> Result<(), AppError> {
        let line = audit::ActiveModel {
            waitlist_entry_id: Set(entry.id.0),
            event_id: Set(entry.event_id.0),
            user_id: Set(entry.user_id.0),
            old_status: Set(old_status.map(|s| s.as_str().to_owned())),
            new_status: Set(entry.status.as_str().to_owned()),
            held_seats: Set(int(entry.held_seats)),
            actor_id: Set(actor_id.map(|a| a.0)),
            created_at: Set(at),
            ..Default::default()
        };
        audit::Entity::insert(line)
            .exec(self.conn())
            .await
            .map_err(|e| {
                if is_fk_violation(&e) {
                    AppError::NotFound {
                        entity: "waitlist entry",
                    }
                } else {
                    db_err(e)
                }
            })?;
        Ok(())
    }
}
