//! The repository ports of the application crate, each implemented for `SeaTx` in its own
//! module.

mod advisory;
mod audit;
mod categories;
mod idempotency;
mod job_runs;
mod loyalty;
mod outbox;
mod promo_codes;
mod static_text;
