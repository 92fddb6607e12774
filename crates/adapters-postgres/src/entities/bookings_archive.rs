//! `bookings_archive` table.

super::bookings::model!(
    "bookings_archive",
    [primary_key, auto_increment = false],
    pub archived_at: DateTimeUtc,
);
