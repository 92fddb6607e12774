//! PaymentGateway implementations: the in-process sandbox and the HTTP client of backend-payment.
//!
//! Each adapter implements [`ports::payment_gateway::PaymentGateway`]; bootstrap
//! registers them in the `PaymentGateways` registry by name. `docs/payment-gateways.md` says how
//! to add another one.

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod health;
pub mod http;
pub mod registry;
pub mod sandbox;
pub mod webhook_signature;
pub mod yookassa;

pub use health::PaymentHealth;
pub use http::{HttpGatewayConfig, HttpPaymentGateway, InvalidGatewayConfig};
pub use registry::{GatewayContext, GatewayKind, GatewayKinds, ResilienceSettings};
pub use sandbox::{SandboxConfig, SandboxGateway};
