//! The integration tests of adapters-redis: the cache, the GCRA limiter and the failover
//! against a real Redis (`TEST_REDIS_URL`, default the local one). Each test uses its own key
//! prefix, so tests run in parallel without seeing each other.

// A test binary: failing loudly is the point, and a skipped test says so on stderr.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod failover;
mod redis_adapters;
mod support;
