//! `payments_archive` table.

super::payments::model!(
    "payments_archive",
    [primary_key, auto_increment = false],
    pub archived_at: DateTimeUtc,
);
