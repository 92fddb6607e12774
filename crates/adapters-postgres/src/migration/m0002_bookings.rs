//! Waitlist, bookings and their log, payments and refunds, promo redemptions, reminders.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::helpers::{
    check, created_at, drop_tables, fk, run_sql, status_check, updated_at, varchar,
};

pub const BOOKING_STATUSES: &[&str] = &[
    "PENDING_PAYMENT",
    "CONFIRMED",
    "COMPLETED",
    "CANCELED",
    "EXPIRED",
];
pub const PAYMENT_STATUSES: &[&str] = &[
    "INITIATED",
    "COMPLETED",
    "FAILED",
    "PARTIAL_REFUND",
    "REFUNDED",
];

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The booking columns, shared with the archive table.
pub fn booking_columns(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(big_integer("event_id"))
        .col(uuid("user_id"))
        .col(integer("quantity"))
        .col(big_integer_null("price_option_id"))
        .col(big_integer_null("promo_code_id"))
        .col(big_integer_null("waitlist_entry_id"))
        .col(varchar("status", 20))
        .col(timestamp_with_time_zone("payment_deadline"))
        .col(string_len_null("ticket_code", 64))
        .col(big_integer("unit_price_minor"))
        .col(big_integer("base_minor"))
        .col(big_integer("dynamic_adjustment_minor"))
        .col(big_integer("group_discount_minor"))
        .col(big_integer("promo_discount_minor"))
        .col(big_integer("loyalty_discount_minor"))
        .col(big_integer("loyalty_points_used"))
        .col(big_integer("total_price_minor"))
        .col(string_len_null("canceled_reason", 1000))
        .col(big_integer("version").default(0))
        .col(created_at())
        .col(updated_at())
}

/// The payment columns, shared with the archive table.
pub fn payment_columns(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(big_integer("booking_id"))
        .col(big_integer("amount_minor"))
        .col(varchar("status", 20))
        .col(varchar("gateway", 50))
        .col(string_len_null("gateway_reference", 100))
        .col(varchar("payment_method", 50))
        .col(big_integer("refund_amount_minor").default(0))
        .col(string_len_null("failure_reason", 500))
        .col(big_integer("version").default(0))
        .col(created_at())
        .col(updated_at())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("waitlist")
                    .col(big_pk_auto("id"))
                    .col(big_integer("event_id"))
                    .col(uuid("user_id"))
                    .col(big_integer("priority"))
                    .col(integer("quantity"))
                    .col(varchar("status", 20))
                    .col(integer("held_seats").default(0))
                    .col(timestamp_with_time_zone_null("notified_at"))
                    .col(timestamp_with_time_zone_null("hold_expires_at"))
                    .col(created_at())
                    .col(updated_at())
                    .foreign_key(&mut fk(
                        "waitlist",
                        "event_id",
                        "events",
                        ForeignKeyAction::Cascade,
                    ))
                    .check(status_check(
                        "status",
                        &[
                            "WAITING",
                            "NOTIFIED",
                            "CONVERTED",
                            "EXPIRED",
                            "LEFT",
                            "CANCELED",
                        ],
                    ))
                    .check(check("quantity > 0"))
                    .check(check("held_seats >= 0 AND held_seats <= quantity"))
                    .check(check("status = 'NOTIFIED' OR held_seats = 0"))
                    .to_owned(),
            )
            .await?;

        let mut bookings = Table::create();
        bookings.table("bookings").col(big_pk_auto("id"));
        booking_columns(&mut bookings)
            .foreign_key(&mut fk(
                "bookings",
                "event_id",
                "events",
                ForeignKeyAction::Restrict,
            ))
            .foreign_key(&mut fk(
                "bookings",
                "price_option_id",
                "price_options",
                ForeignKeyAction::SetNull,
            ))
            .foreign_key(&mut fk(
                "bookings",
                "promo_code_id",
                "promo_codes",
                ForeignKeyAction::SetNull,
            ))
            .foreign_key(&mut fk(
                "bookings",
                "waitlist_entry_id",
                "waitlist",
                ForeignKeyAction::SetNull,
            ))
            .check(status_check("status", BOOKING_STATUSES))
            .check(check("quantity > 0"))
            .check(check(
                "total_price_minor >= 0 AND base_minor >= 0 AND unit_price_minor >= 0",
            ))
            .check(check("loyalty_points_used >= 0"))
            .check(check(
                "status NOT IN ('CONFIRMED', 'COMPLETED') OR ticket_code IS NOT NULL",
            ));
        manager.create_table(bookings.to_owned()).await?;

        manager
            .create_table(
                Table::create()
                    .table("booking_logs")
                    .col(big_pk_auto("id"))
                    .col(big_integer("booking_id"))
                    .col(string_len_null("old_status", 20))
                    .col(varchar("new_status", 20))
                    .col(uuid_null("actor_id"))
                    .col(json_binary("details"))
                    .col(created_at())
                    .foreign_key(&mut fk(
                        "booking_logs",
                        "booking_id",
                        "bookings",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        let mut payments = Table::create();
        payments.table("payments").col(big_pk_auto("id"));
        payment_columns(&mut payments)
            .foreign_key(&mut fk(
                "payments",
                "booking_id",
                "bookings",
                ForeignKeyAction::Restrict,
            ))
            .check(status_check("status", PAYMENT_STATUSES))
            .check(check("amount_minor > 0"))
            .check(check(
                "refund_amount_minor >= 0 AND refund_amount_minor <= amount_minor",
            ));
        manager.create_table(payments.to_owned()).await?;

        manager
            .create_table(
                Table::create()
                    .table("payment_refunds")
                    .col(big_pk_auto("id"))
                    .col(big_integer("payment_id"))
                    .col(big_integer("amount_minor"))
                    .col(varchar("reason", 500))
                    .col(string_len_null("gateway_reference", 100))
                    .col(uuid_null("actor_id"))
                    .col(created_at())
                    .foreign_key(&mut fk(
                        "payment_refunds",
                        "payment_id",
                        "payments",
                        ForeignKeyAction::Cascade,
                    ))
                    .check(check("amount_minor > 0"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("promo_code_redemptions")
                    .col(big_pk_auto("id"))
                    .col(big_integer("promo_code_id"))
                    .col(big_integer("booking_id").unique_key())
                    .col(uuid("user_id"))
                    .col(created_at())
                    .foreign_key(&mut fk(
                        "promo_code_redemptions",
                        "promo_code_id",
                        "promo_codes",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "promo_code_redemptions",
                        "booking_id",
                        "bookings",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("booking_reminders")
                    .col(big_integer("booking_id"))
                    .col(varchar("kind", 8))
                    .col(timestamp_with_time_zone("sent_at"))
                    .primary_key(Index::create().col("booking_id").col("kind"))
                    .foreign_key(&mut fk(
                        "booking_reminders",
                        "booking_id",
                        "bookings",
                        ForeignKeyAction::Cascade,
                    ))
                    .check(status_check("kind", &["24H", "1H"]))
                    .to_owned(),
            )
            .await?;

        run_sql(
            manager,
            &[
                // one active booking per user per event
                "CREATE UNIQUE INDEX uq_bookings_active_user_event ON bookings (event_id, user_id) \
                 WHERE status IN ('PENDING_PAYMENT', 'CONFIRMED')",
                "CREATE UNIQUE INDEX uq_bookings_ticket_code ON bookings (ticket_code)",
                // the expiry job: pending bookings by deadline
                "CREATE INDEX idx_bookings_pending_deadline ON bookings (payment_deadline) WHERE status = 'PENDING_PAYMENT'",
                "CREATE INDEX idx_bookings_event_status ON bookings (event_id, status)",
                "CREATE INDEX idx_bookings_user_status ON bookings (user_id, status)",
                "CREATE INDEX idx_bookings_created ON bookings (created_at)",
                "CREATE INDEX idx_booking_logs_booking_created ON booking_logs (booking_id, created_at)",
                "CREATE INDEX idx_payments_booking ON payments (booking_id)",
                "CREATE UNIQUE INDEX uq_payments_gateway_reference ON payments (gateway, gateway_reference)",
                "CREATE INDEX idx_payment_refunds_payment ON payment_refunds (payment_id)",
                "CREATE INDEX idx_waitlist_event_priority ON waitlist (event_id, priority)",
                "CREATE UNIQUE INDEX uq_waitlist_open_user_event ON waitlist (event_id, user_id) \
                 WHERE status IN ('WAITING', 'NOTIFIED')",
                "CREATE INDEX idx_waitlist_hold_expiry ON waitlist (hold_expires_at) WHERE status = 'NOTIFIED'",
                "CREATE INDEX idx_promo_redemptions_code ON promo_code_redemptions (promo_code_id)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "booking_reminders",
                "promo_code_redemptions",
                "payment_refunds",
                "payments",
                "booking_logs",
                "bookings",
                "waitlist",
            ],
        )
        .await
    }
}
