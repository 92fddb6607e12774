//! `CrewAssignmentRepository` on `crew_assignments`: one row per request to backend-crew,
//! with its retry state. Due retries use the partial index `idx_crew_assignments_retry`.

use async_trait::async_trait;
use domain::crew::CrewAssignmentStatus;
use domain::event::EventStatus;
use domain::{CrewId, EventId, Timestamp};
use ports::AppError;
use ports::{CrewAssignmentRecord, CrewAssignmentRepository, NewCrewAssignment};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use super::fetch_one;
use crate::convert::{for_update, int, parse, skip_locked};
use crate::entities::{crew_assignments as row, events};
use crate::error::{corrupt, db_err};
use crate::tx::SeaTx;

fn to_record(m: row::Model) -> Result<CrewAssignmentRecord, AppError> {
    let skills = serde_json::from_value::<Vec<String>>(m.skills)
        .map_err(|e| corrupt(format!("crew_assignments.skills: {e}")))?;
    let attempts = u32::try_from(m.attempts)
        .map_err(|_| corrupt(format!("crew_assignments.attempts = {}", m.attempts)))?;
    Ok(CrewAssignmentRecord {
        id: m.id,
        event_id: EventId(m.event_id),
        crew_id: m.crew_id.map(CrewId),
        crew_name: m.crew_name,
        skills,
        status: parse::<CrewAssignmentStatus>(&m.status, "crew_assignments.status")?,
        attempts,
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn records(rows: Vec<row::Model>) -> Result<Vec<CrewAssignmentRecord>, AppError> {
    rows.into_iter().map(to_record).collect()
}

#[async_trait]
impl CrewAssignmentRepository for SeaTx {
    async fn insert(&self, new: NewCrewAssignment) -> Result<CrewAssignmentRecord, AppError> {
        let model = row::ActiveModel {
            event_id: Set(new.event_id.0),
            crew_id: Set(new.crew_id.map(|c| c.0)),
            crew_name: Set(new.crew_name),
            skills: Set(serde_json::json!(new.skills)),
            status: Set(new.status.as_str().to_owned()),
            attempts: Set(int(new.attempts)),
            next_attempt_at: Set(new.next_attempt_at),
            last_error: Set(new.last_error),
            created_at: Set(new.created_at),
            updated_at: Set(new.created_at),
            ..Default::default()
        };
        to_record(model.insert(self.conn()).await.map_err(db_err)?)
    }

    async fn update(&self, record: &CrewAssignmentRecord) -> Result<(), AppError> {
        let result = row::Entity::update_many()
            .col_expr(
                row::Column::CrewId,
                Expr::value(record.crew_id.map(|c| c.0)),
            )
            .col_expr(row::Column::CrewName, Expr::value(record.crew_name.clone()))
            .col_expr(row::Column::Status, Expr::value(record.status.as_str()))
            .col_expr(row::Column::Attempts, Expr::value(int(record.attempts)))
            .col_expr(
                row::Column::NextAttemptAt,
                Expr::value(record.next_attempt_at),
            )
            .col_expr(
                row::Column::LastError,
                Expr::value(record.last_error.clone()),
            )
            .col_expr(row::Column::UpdatedAt, Expr::value(record.updated_at))
            .filter(row::Column::Id.eq(record.id))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        if result.rows_affected == 0 {
            return Err(AppError::NotFound {
                entity: "crew assignment",
            });
        }
        Ok(())
    }

    async fn find_for_update(&self, id: i64) -> Result<Option<CrewAssignmentRecord>, AppError> {
        fetch_one(
            self.conn(),
            for_update(row::Entity::find_by_id(id), self.backend()),
            to_record,
        )
        .await
    }

    async fn active_for_event(
        &self,
        event_id: EventId,
    ) -> Result<Vec<CrewAssignmentRecord>, AppError> {
        let rows = row::Entity::find()
            .filter(row::Column::EventId.eq(event_id.0))
            .filter(row::Column::Status.ne(CrewAssignmentStatus::Released.as_str()))
            .order_by_desc(row::Column::Id)
            .all(self.conn())
            .await
            .map_err(db_err)?;
        records(rows)
    }

    async fn claim_due_retries(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<CrewAssignmentRecord>, AppError> {
        let q = row::Entity::find()
            .filter(row::Column::Status.eq(CrewAssignmentStatus::PendingRetry.as_str()))
            .filter(row::Column::NextAttemptAt.lte(now))
            .order_by_asc(row::Column::NextAttemptAt)
            .order_by_asc(row::Column::Id)
            .limit(u64::from(limit));
        records(
            skip_locked(q, self.backend())
                .all(self.conn())
                .await
                .map_err(db_err)?,
        )
    }

    async fn claim_due_releases(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<CrewAssignmentRecord>, AppError> {
        let canceled_events = Query::select()
            .column(events::Column::Id)
            .from(events::Entity)
            .and_where(Expr::col(events::Column::Status).eq(EventStatus::Canceled.as_str()))
            .to_owned();
        let assigned_to_canceled = Condition::all()
            .add(row::Column::Status.eq(CrewAssignmentStatus::Assigned.as_str()))
            .add(row::Column::EventId.in_subquery(canceled_events));
        let release_due = Condition::all()
            .add(row::Column::Status.eq(CrewAssignmentStatus::Released.as_str()))
            .add(row::Column::NextAttemptAt.lte(now));
        let q = row::Entity::find()
            .filter(Condition::any().add(assigned_to_canceled).add(release_due))
            .order_by_asc(row::Column::Id)
            .limit(u64::from(limit));
        records(
            skip_locked(q, self.backend())
                .all(self.conn())
                .await
                .map_err(db_err)?,
        )
    }
}
