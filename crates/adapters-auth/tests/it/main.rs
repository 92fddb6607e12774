//! Integration tests of adapters-auth: one binary, one module per subject.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bearer_tokens;
mod discovery;
mod shared_keys;
