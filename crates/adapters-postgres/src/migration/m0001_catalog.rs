//! Categories, events, price options, promo codes.

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
                    .table("categories")
                    .col(big_pk_auto("id"))
                    .col(varchar("name", 100).unique_key())
                    .col(string_len_null("description", 255))
                    .col(big_integer_null("parent_id"))
                    .col(string_len_null("icon_url", 255))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut fk(
                        "categories",
                        "parent_id",
                        "categories",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("events")
                    .col(big_pk_auto("id"))
                    .col(varchar("name", 255))
                    .col(text_null("description"))
                    .col(string_len_null("short_description", 500))
                    .col(timestamp_with_time_zone("start_date"))
                    .col(timestamp_with_time_zone_null("end_date"))
                    .col(string_len_null("location", 255))
                    .col(double_null("latitude"))
                    .col(double_null("longitude"))
                    .col(integer("max_participants"))
                    .col(integer("available_seats"))
                    .col(big_integer("price_minor"))
                    .col(varchar("status", 20))
                    .col(uuid("creator_id"))
                    .col(string_len_null("category", 100))
                    .col(string_len_null("image_url", 500))
                    .col(integer("booking_deadline_hours").default(24))
                    .col(timestamp_with_time_zone_null("publish_at"))
                    .col(timestamp_with_time_zone_null("published_at"))
                    .col(string_len_null("canceled_reason", 1000))
                    .col(boolean("is_featured").default(false))
                    .col(json_binary_null("refund_policy"))
                    .col(json_binary("pricing_rules"))
                    .col(varchar("crew_status", 20).default("NONE"))
                    .col(big_integer_null("crew_id"))
                    .col(big_integer("views").default(0))
                    .col(big_integer("version").default(0))
                    .col(created_at())
                    .col(updated_at())
                    .check(status_check(
                        "status",
                        &["DRAFT", "PUBLISHED", "COMPLETED", "CANCELED"],
                    ))
                    .check(status_check(
                        "crew_status",
                        &["NONE", "REQUESTED", "ASSIGNED", "PENDING_RETRY", "FAILED"],
                    ))
                    .check(check("max_participants > 0"))
                    .check(check(
                        "available_seats >= 0 AND available_seats <= max_participants",
                    ))
                    .check(check("price_minor >= 0"))
                    .check(check("booking_deadline_hours >= 0"))
                    .check(check("end_date IS NULL OR end_date >= start_date"))
                    .check(check("latitude IS NULL OR (latitude BETWEEN -90 AND 90)"))
                    .check(check(
                        "longitude IS NULL OR (longitude BETWEEN -180 AND 180)",
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("price_options")
                    .col(big_pk_auto("id"))
                    .col(big_integer("event_id"))
                    .col(varchar("name", 100))
                    .col(big_integer("price_minor"))
                    .col(string_len_null("description", 255))
                    .col(integer_null("quantity_available"))
                    .col(boolean("is_active").default(true))
                    .col(created_at())
                    .foreign_key(&mut fk(
                        "price_options",
                        "event_id",
                        "events",
                        ForeignKeyAction::Cascade,
                    ))
                    .check(check("price_minor >= 0"))
                    .check(check(
                        "quantity_available IS NULL OR quantity_available >= 0",
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("promo_codes")
                    .col(big_pk_auto("id"))
                    .col(varchar("code", 50).unique_key())
                    .col(integer_null("discount_percent_bp"))
                    .col(big_integer_null("discount_amount_minor"))
                    .col(timestamp_with_time_zone("valid_from"))
                    .col(timestamp_with_time_zone_null("valid_until"))
                    .col(integer_null("max_uses"))
                    .col(integer("current_uses").default(0))
                    .col(big_integer_null("event_id"))
                    .col(boolean("is_active").default(true))
                    .col(uuid("created_by"))
                    .col(big_integer("version").default(0))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut fk(
                        "promo_codes",
                        "event_id",
                        "events",
                        ForeignKeyAction::Cascade,
                    ))
                    .check(check(
                        "(discount_percent_bp IS NULL) <> (discount_amount_minor IS NULL)",
                    ))
                    .check(check(
                        "discount_percent_bp IS NULL OR discount_percent_bp BETWEEN 1 AND 10000",
                    ))
                    .check(check(
                        "discount_amount_minor IS NULL OR discount_amount_minor > 0",
                    ))
                    .check(check("max_uses IS NULL OR max_uses >= 1"))
                    .check(check(
                        "current_uses >= 0 AND (max_uses IS NULL OR current_uses <= max_uses)",
                    ))
                    .check(check("valid_until IS NULL OR valid_until > valid_from"))
                    .to_owned(),
            )
            .await?;

        run_sql(
            manager,
            &[
                "CREATE INDEX idx_events_status_start ON events (status, start_date)",
                "CREATE INDEX idx_events_start_date ON events (start_date)",
                "CREATE INDEX idx_events_category ON events (category)",
                "CREATE INDEX idx_events_creator ON events (creator_id, created_at)",
                "CREATE INDEX idx_events_publish_due ON events (publish_at) WHERE status = 'DRAFT' AND publish_at IS NOT NULL",
                "CREATE INDEX idx_events_featured ON events (start_date) WHERE is_featured",
                "CREATE INDEX idx_events_crew_retry ON events (id) WHERE crew_status = 'PENDING_RETRY'",
                "CREATE INDEX idx_price_options_event ON price_options (event_id)",
                "CREATE INDEX idx_categories_parent ON categories (parent_id)",
                "CREATE INDEX idx_promo_codes_event ON promo_codes (event_id)",
                "CREATE INDEX idx_promo_codes_creator ON promo_codes (created_by)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["promo_codes", "price_options", "events", "categories"],
        )
        .await
    }
}
