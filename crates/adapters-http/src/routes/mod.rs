//! The REST resources. Everything here is mounted under `/api/v1` and, as the seed's alias,
//! under `/api`; the sandbox page is mounted at the root when the sandbox is enabled, and
//! the jobs' internal and actuator routes (`jobs.rs`) at the root too.

pub mod admin;
pub mod bookings;
pub mod categories;
pub mod crew;
pub mod events;
pub mod favorites;
pub mod jobs;
pub mod loyalty;
pub mod payments;
pub mod price_options;
pub mod promo_codes;
pub mod reviews;
pub mod sandbox;
pub mod waitlist;
