//! The integration tests of adapters-postgres: every repository on both backends, against a private
//! database per test (see the `test-db` crate).
//!
//! One test binary per crate: each file that used to be its own binary is a module here, so
//! the crate's dependencies are linked once. Add a test file as `mod name;` below.

// A test binary: failing loudly is the point, and a skipped test says so on stderr.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod booking_fixtures;
mod engagement_fixtures;
mod rows;

mod audit;
mod bookings;
mod categories;
mod crew_assignments;
mod events;
mod favorites;
mod idempotency;
mod job_runs;
mod loyalty;
mod migrations;
mod outbox;
mod payments;
mod promo_codes;
mod query_plans;
mod reviews;
mod unit_of_work;
mod waitlist;
