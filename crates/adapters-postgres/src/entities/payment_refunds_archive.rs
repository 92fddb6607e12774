//! `payment_refunds_archive` table.

super::payment_refunds::model!(
    "payment_refunds_archive",
    [primary_key, auto_increment = false],
    pub archived_at: DateTimeUtc,
);
