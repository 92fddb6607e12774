//! The `payment` health component: the state of each configured gateway, as its
//! [`PaymentGateway::probe`] says (the sandbox is in process and always up; a gateway reached
//! over HTTP is up while its circuit breaker is closed and a connection to it opens). The
//! component's status is the default gateway's (the others are listed in the detail). Not
//! critical: bookings, reads and refunds already recorded keep working while payments cannot
//! be taken.

use std::time::Instant;

use async_trait::async_trait;
use ports::payment_gateway::{PaymentGateway, PaymentGateways};
use ports::{ComponentHealth, HealthIndicator};

/// The configured gateways, as the health page sees them.
#[derive(Debug, Clone)]
pub struct PaymentHealth {
    gateways: PaymentGateways,
}

impl PaymentHealth {
    #[must_use]
    pub const fn new(gateways: PaymentGateways) -> Self {
        Self { gateways }
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
        let default = self.gateways.default_gateway();
        let mut up = false;
        let mut parts = Vec::new();
        for name in self.gateways.names() {
            let Ok(gateway) = self.gateways.get(name) else {
                continue;
            };
            let probe: Result<(), String> = PaymentGateway::probe(gateway.as_ref()).await;
            match probe {
                Ok(()) => {
                    up |= name == default.name();
                    parts.push(format!("{name}: UP"));
                }
                Err(why) => parts.push(format!("{name}: DOWN ({why})")),
            }
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
    use std::sync::Arc;

    use super::*;
    use crate::http::{HttpGatewayConfig, HttpPaymentGateway};
    use crate::sandbox::{SandboxConfig, SandboxGateway};

    fn sandbox() -> Arc<dyn PaymentGateway> {
        Arc::new(SandboxGateway::new(SandboxConfig {
            public_base_url: "http://localhost".to_owned(),
            webhook_secret: "secret-123".to_owned(),
        }))
    }

    fn http(address: String) -> Arc<dyn PaymentGateway> {
        Arc::new(HttpPaymentGateway::new(HttpGatewayConfig::new(address, "secret")).unwrap())
    }

    fn closed_port_gateway() -> Arc<dyn PaymentGateway> {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        http(format!("http://127.0.0.1:{port}"))
    }

    #[tokio::test]
    async fn the_status_is_the_default_gateways() {
        // the sandbox is the default: up, the unreachable http gateway named in the detail
        let gateways = PaymentGateways::new(sandbox()).register(closed_port_gateway());
        let health = PaymentHealth::new(gateways).check().await;
        assert!(health.up);
        let detail = health.detail.unwrap();
        assert!(
            detail.contains("sandbox: UP") && detail.contains("http: DOWN"),
            "{detail}"
        );
        // the http gateway is the default: down
        let gateways = PaymentGateways::new(closed_port_gateway()).register(sandbox());
        let health = PaymentHealth::new(gateways).check().await;
        assert!(!health.up, "{:?}", health.detail);

        // a listening socket accepts connections (the kernel's backlog) without a server loop
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let reachable = http(format!("http://{}", server.local_addr().unwrap()));
        let health = PaymentHealth::new(PaymentGateways::new(reachable))
            .check()
            .await;
        assert!(health.up, "{:?}", health.detail);
    }
}
