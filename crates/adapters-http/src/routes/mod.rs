//! The REST resources. Everything here is mounted under `/api/v1` and, as the seed's alias,
//! under `/api`; the sandbox page is mounted at the root when the sandbox is enabled, and
//! the jobs' internal and actuator routes (`jobs.rs`) at the root too.

pub mod bookings;
pub mod categories;
pub mod events;
pub mod jobs;
pub mod payments;
pub mod sandbox;
