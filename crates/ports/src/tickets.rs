//! Ticket codes.

use domain::ticket::TicketCode;

/// Generates random, unguessable ticket codes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TicketCodeGenerator: Send + Sync {
    fn generate(&self) -> TicketCode;
}
