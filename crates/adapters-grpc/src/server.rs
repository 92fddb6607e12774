//! The gRPC server: `EventService`, `grpc.health.v1.Health` and server reflection (v1 and
//! v1alpha, describing the event and health protos) on one listener, until shutdown.

use std::future::Future;

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

/// Serves on `listener` until `shutdown` resolves, then lets in-flight calls finish.
///
/// # Errors
/// When the reflection descriptors cannot be loaded or the transport fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: EventGrpc,
    health: HealthSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), GrpcError> {
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let (reporter, health_service) = tonic_health::server::health_reporter();
    health::refresh(&reporter, &health.indicators).await;

    let server = Server::builder()
        .layer(crate::metrics::MetricsLayer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(EventServiceServer::new(service))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown);
    tokio::select! {
        served = server => Ok(served?),
        () = health::watch(reporter, health) => Ok(()),
    }
}
