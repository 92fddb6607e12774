//! The REST resources. Everything here is mounted under `/api/v1` and, as the seed's alias,
//! under `/api`; the sandbox page is mounted at the root when the sandbox is enabled.

pub mod bookings;
pub mod categories;
pub mod events;
pub mod favorites;
pub mod payments;
pub mod reviews;
pub mod sandbox;
