//! The `backend-event` service: configuration, wiring, CLI commands and shutdown. The binary
//! (`main.rs`) is a thin shell over this library so that end-to-end tests start the very same
//! application on a random port.

pub mod app;
pub mod background;
pub mod build;
pub mod cli;
pub mod config;
pub mod disk_space;
pub mod grpc;
pub mod healthcheck;
pub mod jobs;
pub mod observability;
pub mod seed;
pub mod telemetry;
pub mod tickets;

pub use app::{Overrides, Running, Services, start};
pub use config::Config;
pub use grpc::GrpcServer;
