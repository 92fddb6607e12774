//! The use cases of backend-event: what the service does when asked.
//!
//! * [`services`] — the inbound ports: use cases as plain structs holding `Arc<dyn Port>`.
//! * The outbound ports, `AppError`, `Actor`, `Page`, the outbox types and the `Clock` live in
//!   the `ports` crate, which outbound adapters depend on; they are re-exported here under their
//!   old paths (`application::ports::…`, `application::AppError`, …) for the inbound adapters,
//!   bootstrap and the use cases themselves.

pub mod services;
pub mod validation;

pub use ports::{self, actor, clock, error, outbox, pagination};
pub use ports::{
    Actor, AppError, ErrorCode, ErrorKind, FieldError, Page, PageRequest, RequestContext, Role,
};
