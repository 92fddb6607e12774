//! The repository ports of the application crate, each implemented for `SeaTx` in its own
//! module.

mod bookings;
mod categories;
mod events;
mod favorites;
mod payments;
mod reviews;
mod waitlist;
