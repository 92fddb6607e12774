//! Waitlist audit, favorites, reviews (+ replies, helpful votes), loyalty ledger.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::helpers::{
    check, created_at, drop_tables, fk, run_sql, status_check, updated_at, varchar,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("waitlist_audit")
                    .col(big_pk_auto("id"))
                    .col(big_integer("waitlist_entry_id"))
                    .col(big_integer("event_id"))
                    .col(uuid("user_id"))
                    .col(string_len_null("old_status", 20))
                    .col(varchar("new_status", 20))
                    .col(integer("held_seats"))
                    .col(uuid_null("actor_id"))
                    .col(created_at())
                    .foreign_key(&mut fk(
                        "waitlist_audit",
                        "waitlist_entry_id",
                        "waitlist",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("favorites")
                    .col(big_pk_auto("id"))
                    .col(big_integer("event_id"))
                    .col(uuid("user_id"))
                    .col(created_at())
                    .foreign_key(&mut fk(
                        "favorites",
                        "event_id",
                        "events",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("reviews")
                    .col(big_pk_auto("id"))
                    .col(big_integer("event_id"))
                    .col(uuid("user_id"))
                    .col(small_integer("rating"))
                    .col(text_null("content"))
                    .col(varchar("status", 20))
                    .col(integer("helpful_count").default(0))
                    .col(text_null("moderation_note"))
                    .col(big_integer("version").default(0))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut fk(
                        "reviews",
                        "event_id",
                        "events",
                        ForeignKeyAction::Cascade,
                    ))
                    .check(status_check("status", &["PENDING", "ACTIVE", "REJECTED"]))
                    .check(check("rating BETWEEN 1 AND 5"))
                    .check(check("helpful_count >= 0"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("review_replies")
                    .col(big_pk_auto("id"))
                    .col(big_integer("review_id"))
                    .col(uuid("author_id"))
                    .col(text("content"))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut fk(
                        "review_replies",
                        "review_id",
                        "reviews",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("review_helpful_votes")
                    .col(big_integer("review_id"))
                    .col(uuid("user_id"))
                    .col(created_at())
                    .primary_key(Index::create().col("review_id").col("user_id"))
                    .foreign_key(&mut fk(
                        "review_helpful_votes",
                        "review_id",
                        "reviews",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("loyalty_ledger")
                    .col(big_pk_auto("id"))
                    .col(uuid("user_id"))
                    .col(big_integer("points"))
                    .col(varchar("kind", 32))
                    .col(big_integer_null("booking_id"))
                    .col(big_integer_null("review_id"))
                    .col(created_at())
                    .check(status_check(
                        "kind",
                        &[
                            "BOOKING_EARNED",
                            "REVIEW_EARNED",
                            "REDEEMED",
                            "REDEMPTION_REVERSED",
                            "EARNING_REVERSED",
                        ],
                    ))
                    .check(check("points <> 0"))
                    .to_owned(),
            )
            .await?;

        run_sql(
            manager,
            &[
                "CREATE INDEX idx_waitlist_audit_entry ON waitlist_audit (waitlist_entry_id, created_at)",
                "CREATE UNIQUE INDEX uq_favorites_user_event ON favorites (user_id, event_id)",
                "CREATE INDEX idx_favorites_user_created ON favorites (user_id, created_at)",
                "CREATE UNIQUE INDEX uq_reviews_event_user ON reviews (event_id, user_id)",
                "CREATE INDEX idx_reviews_event_status ON reviews (event_id, status)",
                "CREATE INDEX idx_reviews_status_created ON reviews (status, created_at)",
                "CREATE INDEX idx_review_replies_review ON review_replies (review_id)",
                "CREATE INDEX idx_loyalty_user ON loyalty_ledger (user_id, id)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "loyalty_ledger",
                "review_helpful_votes",
                "review_replies",
                "reviews",
                "favorites",
                "waitlist_audit",
            ],
        )
        .await
    }
}
