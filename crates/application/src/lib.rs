//! The application layer of backend-event: what the service does when asked.
//!
//! * [`ports`] — the outbound traits the use cases need (persistence through a unit of work,
//!   messaging, payment gateways, crew, cache, rate limiting, documents, clock, ticket codes).
//!   Adapters implement them; every port has a mockall mock under `cfg(test)` or the `mocks`
//!   feature.
//! * [`services`] — the inbound ports: use cases as plain structs holding `Arc<dyn Port>`.
//! * [`actor`] — who is calling and what they may do.
//! * [`error`] — `AppError`, the one error type inbound adapters map to HTTP/gRPC.

/// Declares a fieldless enum with a stable text form (`as_str`, `ALL`, `Display`).
macro_rules! text_types {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod actor;
pub mod circuit_breaker;
pub mod clock;
pub mod error;
pub mod outbox;
pub mod pagination;
pub mod ports;
pub mod services;

pub use actor::{Actor, RequestContext, Role};
pub use error::{AppError, ErrorCode, ErrorKind, FieldError};
pub use pagination::{Page, PageRequest};
