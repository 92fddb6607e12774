//! The gRPC server: `EventService`, `grpc.health.v1.Health` and, when enabled, server
//! reflection (v1 and v1alpha, describing the event and health protos) on one listener, until
//! shutdown, within [`ServerLimits`].

use std::future::Future;
use std::time::Duration;

use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::health::{self, HealthSettings};
use crate::pb;
use crate::pb::event_service_server::EventServiceServer;
use crate::service::EventGrpc;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Reflection over the event and health protos (grpcurl and Postman ask v1, older tools
/// v1alpha).
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// What one caller may ask of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// The largest request message decoded (the HTTP body limit, so both edges accept the
    /// same); larger ones are refused (OUT_OF_RANGE) before they are parsed.
    pub max_message_bytes: usize,
    /// A call still running after this is cancelled (DEADLINE_EXCEEDED).
    pub request_timeout: Duration,
    /// Calls served at once on one connection; more wait.
    pub concurrency_per_connection: usize,
    /// Serve server reflection (lists every rpc and message: dev tooling, off in prod).
    pub reflection: bool,
}

/// Serves on `listener` until `shutdown` resolves, then lets in-flight calls finish.
///
/// # Errors
/// When the reflection descriptors cannot be loaded or the transport fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: EventGrpc,
    health: HealthSettings,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), GrpcError> {
    let (reflection_v1, reflection_v1alpha) = if limits.reflection {
        (
            Some(reflection().build_v1()?),
            Some(reflection().build_v1alpha()?),
        )
    } else {
        (None, None)
    };

    let (reporter, health_service) = tonic_health::server::health_reporter();
    health::refresh(&reporter, &health.indicators).await;

    let server = Server::builder()
        .timeout(limits.request_timeout)
        .concurrency_limit_per_connection(limits.concurrency_per_connection)
        .layer(crate::metrics::MetricsLayer)
        .add_service(health_service)
        .add_optional_service(reflection_v1)
        .add_optional_service(reflection_v1alpha)
        .add_service(
            EventServiceServer::new(service).max_decoding_message_size(limits.max_message_bytes),
        )
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown);
    tokio::select! {
        served = server => Ok(served?),
        () = health::watch(reporter, health) => Ok(()),
    }
}
