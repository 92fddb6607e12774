//! Rendering of exports: iCal for events, PDF event sheets and e-tickets.

use domain::event::Event;
use domain::ticket::TicketCode;
use domain::{Quantity, UserId};

use crate::AppError;

/// What an event export shows.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDocument {
    pub event: Event,
    /// Public URL of the event page (iCal `URL`).
    pub url: String,
}

/// What an e-ticket shows.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketDocument {
    pub event: Event,
    pub holder: UserId,
    pub quantity: Quantity,
    pub ticket_code: TicketCode,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait DocumentRenderer: Send + Sync {
    /// RFC 5545 calendar with one VEVENT.
    fn event_ical(&self, doc: &EventDocument) -> Result<String, AppError>;
    fn event_pdf(&self, doc: &EventDocument) -> Result<Vec<u8>, AppError>;
    /// PDF with a QR code of the ticket code.
    fn ticket_pdf(&self, doc: &TicketDocument) -> Result<Vec<u8>, AppError>;
}
