//! The `payment` health component: the state of each configured gateway. The sandbox is in
//! process and always up; the `http` gateway (backend-payment) is up while its circuit breaker
//! is closed and a connection to it opens. The component's status is the default gateway's
//! (the others are listed in the detail). Not critical: bookings, reads and refunds already
//! recorded keep working while payments cannot be taken.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use ports::{ComponentHealth, HealthIndicator};

use crate::http::HttpPaymentGateway;

/// The configured gateways, as the health page sees them.
#[derive(Debug, Clone)]
pub struct PaymentHealth {
    http: Option<Arc<HttpPaymentGateway>>,
    sandbox: bool,
    /// Whether the default gateway is `http` (else the sandbox, when enabled).
    default_http: bool,
}

impl PaymentHealth {
    #[must_use]
    pub const fn new(
        http: Option<Arc<HttpPaymentGateway>>,
        sandbox: bool,
        default_http: bool,
    ) -> Self {
        Self {
            http,
            sandbox,
            default_http,
        }
    }
}

#[async_trait]
impl HealthIndicator for PaymentHealth {
    fn name(&self) -> &str {
        "payment"
    }

    fn critical(&self) -> bool {
        false
    }

    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        let mut parts = Vec::new();
        let mut up = self.sandbox && !self.default_http;
        if self.sandbox {
            parts.push("sandbox: UP".to_owned());
        }
        if let Some(http) = &self.http {
            match http.probe().await {
                Ok(()) => {
                    up |= self.default_http;
                    parts.push("http: UP".to_owned());
                }
                Err(why) => parts.push(format!("http: DOWN ({why})")),
            }
        }
        if parts.is_empty() {
            parts.push("no gateway configured".to_owned());
        }
        ComponentHealth {
            up,
            latency: started.elapsed(),
            detail: Some(parts.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpGatewayConfig;

    fn closed_port_gateway() -> Arc<HttpPaymentGateway> {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let config = HttpGatewayConfig::new(format!("http://127.0.0.1:{port}"), "secret");
        Arc::new(HttpPaymentGateway::new(config).unwrap())
    }

    #[tokio::test]
    async fn the_status_is_the_default_gateways() {
        let http = closed_port_gateway();
        // the sandbox is the default: up, the unreachable http gateway named in the detail
        let health = PaymentHealth::new(Some(Arc::clone(&http)), true, false)
            .check()
            .await;
        assert!(health.up);
        let detail = health.detail.unwrap();
        assert!(
            detail.contains("sandbox: UP") && detail.contains("http: DOWN"),
            "{detail}"
        );
        // the http gateway is the default: down
        let health = PaymentHealth::new(Some(http), true, true).check().await;
        assert!(!health.up, "{:?}", health.detail);

        // a listening socket accepts connections (the kernel's backlog) without a server loop
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config =
            HttpGatewayConfig::new(format!("http://{}", server.local_addr().unwrap()), "secret");
        let reachable = Arc::new(HttpPaymentGateway::new(config).unwrap());
        let health = PaymentHealth::new(Some(reachable), false, true)
            .check()
            .await;
        assert!(health.up, "{:?}", health.detail);
    }
}
