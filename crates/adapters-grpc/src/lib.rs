//! tonic adapter serving the `EventService` of `proto/event.proto` from the application use
//! cases, with `grpc.health.v1` and server reflection.
//!
//! * [`service`] — the rpcs: caller from the metadata (the REST authenticator, through the
//!   `Authenticate` port), proto → command, use case, result → proto.
//! * [`status`] — the one `AppError` → `tonic::Status` table.
//! * [`convert`] — money doubles (exact, or refused) and timestamps (validated).
//! * [`health`], [`server`] — health from the actuator's indicators; the server itself.

mod auth;
pub mod convert;
pub mod health;
mod messages;
pub mod metrics;
pub mod server;
pub mod service;
pub mod status;
mod validation;

pub use health::HealthSettings;
pub use server::{GrpcError, ServerLimits, serve};
pub use service::{CREW_MESSAGE_METADATA, CREW_STATUS_METADATA, EventGrpc, UseCases};

/// The code generated from `proto/event.proto` (messages, server and client).
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations,
    unreachable_pub,
    reason = "generated code"
)]
pub mod pb {
    tonic::include_proto!("org.aquastream.event");

    /// The encoded descriptor set of `proto/event.proto`, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/event_descriptor.bin"));
}
