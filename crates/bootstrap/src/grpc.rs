//! The gRPC server beside the HTTP one: same process, same use cases, same authenticator,
//! same health indicators; stopped together with it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use adapters_grpc::{EventGrpc, GrpcError, HealthSettings, ServerLimits, UseCases};
use anyhow::Context;
use application::ports::{Authenticate, HealthIndicator, TrustedProxies};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;

/// A running gRPC server. Dropping it (or [`GrpcServer::stop`]) stops it.
pub struct GrpcServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), GrpcError>>,
}

impl std::fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Binds `server.host:grpc.port` (0 picks a free port) and serves in a task of the current
/// runtime.
pub(crate) async fn start(
    config: &Config,
    use_cases: UseCases,
    authenticator: Arc<dyn Authenticate>,
    trusted_proxies: TrustedProxies,
    indicators: Vec<Arc<dyn HealthIndicator>>,
    rate_limits: application::services::RateLimits,
) -> anyhow::Result<GrpcServer> {
    let listener = tokio::net::TcpListener::bind((config.server.host.as_str(), config.grpc.port))
        .await
        .with_context(|| {
            format!(
                "grpc.port: cannot listen on {}:{}",
                config.server.host, config.grpc.port
            )
        })?;
    let addr = listener.local_addr()?;
    let service = EventGrpc::new(use_cases, authenticator)
        .with_trusted_proxies(trusted_proxies)
        .with_rate_limits(rate_limits);
    let health = HealthSettings {
        indicators,
        interval: Duration::from_secs(config.grpc.health_interval_seconds),
    };
    let (shutdown, stopped) = oneshot::channel::<()>();
    let limits = ServerLimits {
        max_message_bytes: config.server.max_body_bytes,
        request_timeout: Duration::from_secs(config.grpc.request_timeout_seconds),
        concurrency_per_connection: config.grpc.max_concurrent_calls_per_connection,
        reflection: config.grpc.reflection,
    };
    let task = tokio::spawn(adapters_grpc::serve(
        listener,
        service,
        health,
        limits,
        async {
            // A dropped sender stops the server too.
            let _ = stopped.await;
        },
    ));
    Ok(GrpcServer {
        addr,
        shutdown: Some(shutdown),
        task,
    })
}

impl GrpcServer {
    /// Stops accepting calls and waits up to `grace` for the calls in flight.
    ///
    /// # Errors
    /// When the server had failed, or did not stop in time (it is then aborted).
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(joined) => Ok(joined.context("gRPC server task")??),
            Err(_) => {
                self.task.abort();
                anyhow::bail!("gRPC calls still running after {grace:?}: aborted")
            }
        }
    }
}
