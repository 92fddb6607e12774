//! `CrewDirectory` implementations: the HTTP client of backend-crew (timeout, retries, circuit
//! breaker) and the directory used when no crew service is configured. The HTTP contract is
//! documented in `docs/crew-integration.md`.

pub mod health;
pub mod http;
pub mod unconfigured;

pub use health::CrewHealth;
pub use http::{HttpCrewConfig, HttpCrewDirectory, InvalidCrewConfig};
pub use unconfigured::UnconfiguredCrewDirectory;
