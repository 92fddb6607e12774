//! The repository ports of the application crate, each implemented for `SeaTx` in its own
//! module.

mod categories;
mod favorites;
mod reviews;
mod waitlist;
