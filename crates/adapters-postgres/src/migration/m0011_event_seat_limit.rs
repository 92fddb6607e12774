//! A per-event limit on the seats one user holds (issue 12, hole 6): `NULL` keeps the
//! instance-wide default (`app.booking.max_seats_per_user_per_event`). The domain keeps it in
//! 1..=100 000; the check repeats that for writers that bypass the service.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::integer_null;

use super::helpers::run_sql;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("events")
                    .add_column(
                        integer_null("max_seats_per_user")
                            .check(Expr::cust("max_seats_per_user BETWEEN 1 AND 100000")),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_sql(
            manager,
            &["ALTER TABLE events DROP COLUMN max_seats_per_user"],
        )
        .await
    }
}
