//! The integration tests of bootstrap: the dependency rule, the binary, the use cases against real
//! databases and the whole service end to end (REST, gRPC, broker).
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

// `on_both!` (textual scope: declared before the modules that use it)
#[macro_use]
mod support;

mod binary;
mod dependency_rule;
mod e2e_actuator;
mod e2e_bad_input;
mod e2e_batched_placement;
mod e2e_broker;
mod e2e_commerce;
mod e2e_crew;
mod e2e_engagement;
mod e2e_flash_sale;
mod e2e_flows;
mod e2e_gateway_outside_tx;
mod e2e_jobs;
mod e2e_observability;
mod e2e_openapi;
mod e2e_permissions;
mod e2e_rate_limits;
mod e2e_read_cache;
mod e2e_security;
mod e2e_waitlist;
mod grpc;
mod ops_backup;
mod ops_consistency;
mod ops_migrations;
mod usecases_bookings;
mod usecases_events;
mod usecases_jobs;
