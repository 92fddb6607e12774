//! The repository ports of the application crate, each implemented for `SeaTx` in its own
//! module.

mod advisory;
mod audit;
mod bookings;
mod categories;
mod crew_assignments;
mod events;
mod favorites;
mod idempotency;
mod job_runs;
mod loyalty;
mod outbox;
mod payments;
mod promo_codes;
mod reviews;
mod waitlist;
