//! The integration tests of adapters-payment: the HTTP gateway against a wiremock stand-in.
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

mod conformance;
mod http_gateway;
mod yookassa;
