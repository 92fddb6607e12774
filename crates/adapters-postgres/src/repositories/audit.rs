//! `AuditLog` on `audit_log`.
//!
//! `search` filters on every field of `AuditQuery`; the time range is inclusive at both ends
//! (`from <= created_at <= to`). Lines come newest first. `purge_before` deletes the oldest
//! lines first, at most `limit` per call, with the portable
//! `DELETE … WHERE id IN (SELECT id … ORDER BY … LIMIT n)`.

use async_trait::async_trait;
use domain::Timestamp;
use ports::{AppError, Page, Role};
use ports::{AuditEntry, AuditLog, AuditQuery, AuditRecord};
use sea_orm::sea_query::{Order, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use super::{fetch_page, newest_first};
use crate::convert;
use crate::entities::audit_log as row;
use crate::error::{corrupt, db_err};
use crate::tx::SeaTx;

/// Every role, to read `actor_role` back (`Role::parse` reads token roles and knows no GUEST).
const ROLES: [Role; 4] = [Role::Guest, Role::User, Role::Organizer, Role::Admin];

/// Fails to compile when a role is added and `ROLES` is not updated.
const _: fn(Role) = |role| match role {
    Role::Guest | Role::User | Role::Organizer | Role::Admin => {}
};

fn role(text: &str) -> Result<Role, AppError> {
    ROLES
        .into_iter()
        .find(|r| r.as_str() == text)
        .ok_or_else(|| corrupt(format!("audit_log.actor_role = '{text}'")))
}

fn to_record(m: row::Model) -> Result<AuditRecord, AppError> {
    Ok(AuditRecord {
        id: m.id,
        entry: AuditEntry {
            actor_id: m.actor_id.map(convert::user),
            actor_role: role(&m.actor_role)?,
            action: m.action,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            before: m.before,
            after: m.after,
            request_id: m.request_id,
            client_ip: m.client_ip,
            created_at: m.created_at,
        },
    })
}

#[async_trait]
impl AuditLog for SeaTx {
    async fn record(&self, mut entry: AuditEntry) -> Result<(), AppError> {
        // Ticket codes, references, tokens and e-mail addresses are never stored in clear.
        entry.redact();
        self.appends.audit(row::ActiveModel {
            actor_id: Set(entry.actor_id.map(|u| u.0)),
            actor_role: Set(entry.actor_role.as_str().to_owned()),
            action: Set(entry.action),
            entity_type: Set(entry.entity_type.to_owned()),
            entity_id: Set(entry.entity_id),
            before: Set(entry.before),
            after: Set(entry.after),
            request_id: Set(entry.request_id),
            client_ip: Set(entry.client_ip),
            created_at: Set(entry.created_at),
            ..Default::default()
        });
        Ok(())
    }

    async fn search(&self, query: &AuditQuery) -> Result<Page<AuditRecord>, AppError> {
        self.flush_appends().await?;
        let mut select = row::Entity::find();
        if let Some(actor) = query.actor_id {
            select = select.filter(row::Column::ActorId.eq(actor.0));
        }
        if let Some(action) = &query.action {
            select = select.filter(row::Column::Action.eq(action.as_str()));
        }
        if let Some(entity_type) = &query.entity_type {
            select = select.filter(row::Column::EntityType.eq(entity_type.as_str()));
        }
        if let Some(entity_id) = &query.entity_id {
            select = select.filter(row::Column::EntityId.eq(entity_id.as_str()));
        }
        if let Some(from) = query.from {
            select = select.filter(row::Column::CreatedAt.gte(from));
        }
        if let Some(to) = query.to {
            select = select.filter(row::Column::CreatedAt.lte(to));
        }
        let order = newest_first(row::Column::CreatedAt, row::Column::Id);
        let (rows, total) = fetch_page(self.conn(), select, order, query.page).await?;
        let items = rows.into_iter().map(to_record).collect::<Result<_, _>>()?;
        Ok(Page::new(items, query.page, total))
    }

    async fn purge_before(&self, before: Timestamp, limit: u32) -> Result<u64, AppError> {
        self.flush_appends().await?;
        if limit == 0 {
            return Ok(0);
        }
        let oldest = Query::select()
            .column(row::Column::Id)
            .from(row::Entity)
            .and_where(row::Column::CreatedAt.lt(before))
            .order_by(row::Column::CreatedAt, Order::Asc)
            .order_by(row::Column::Id, Order::Asc)
            .limit(u64::from(limit))
            .to_owned();
        let deleted = row::Entity::delete_many()
            .filter(row::Column::Id.in_subquery(oldest))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_reads_back() {
        for r in ROLES {
            assert_eq!(role(r.as_str()).unwrap(), r);
        }
        assert_eq!(role("ROOT").unwrap_err().code(), "INTERNAL_ERROR");
    }
}
