//! sea-orm entities: one module per table, logic-free. Repositories map them to domain types.

pub mod audit_log;
pub mod booking_logs;
pub mod booking_reminders;
pub mod bookings;
pub mod bookings_archive;
pub mod categories;
pub mod crew_assignments;
pub mod events;
pub mod favorites;
pub mod idempotency_keys;
pub mod job_runs;
pub mod loyalty_ledger;
pub mod outbox;
pub mod payment_refunds;
pub mod payment_refunds_archive;
pub mod payments;
pub mod payments_archive;
pub mod price_options;
pub mod promo_code_redemptions;
pub mod promo_codes;
pub mod review_helpful_votes;
pub mod review_replies;
pub mod reviews;
pub mod waitlist;
pub mod waitlist_audit;
pub mod webhook_events;
