//! Setting up and reading back through the service's own REST API (nothing touches its
//! database): create and publish events as an organizer, list the catalog, read one event.
//! Authentication is the trusted-gateway headers `X-User-Id` / `X-User-Role`, which the dev
//! profile accepts.

use bytes::Bytes;
use chrono::{Duration as Days, Utc};
use hyper::Method;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::client::{Connection, Reply};

pub const USER_ID: HeaderName = HeaderName::from_static("x-user-id");
pub const USER_ROLE: HeaderName = HeaderName::from_static("x-user-role");

/// The gateway headers of `id` with `role`.
#[must_use]
pub fn gateway_headers(id: Uuid, role: &'static str) -> [(HeaderName, HeaderValue); 2] {
    let mut buffer = Uuid::encode_buffer();
    let text = id.hyphenated().encode_lower(&mut buffer);
    [
        (
            USER_ID,
            // A hyphenated UUID is always a valid header value.
            HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("")),
        ),
        (USER_ROLE, HeaderValue::from_static(role)),
    ]
}

/// An event as the details endpoint answers it (the fields the checks need).
#[derive(Debug, Clone, Deserialize)]
pub struct EventView {
    pub id: i64,
    pub max_participants: i64,
    pub available_seats: i64,
    pub status: String,
}

#[derive(Debug, Deserialize)]
struct EventPage {
    events: Vec<EventView>,
    total_pages: i64,
}

/// The setup and read-back client: one connection, acting as `organizer`.
#[derive(Debug)]
pub struct Api {
    conn: Connection,
    organizer: [(HeaderName, HeaderValue); 2],
}

fn describe(what: &str, reply: &Reply) -> String {
    let body = String::from_utf8_lossy(&reply.body);
    format!(
        "{what}: HTTP {} {}",
        reply.status,
        body.chars().take(400).collect::<String>()
    )
}

impl Api {
    #[must_use]
    pub fn new(conn: Connection, organizer: Uuid) -> Self {
        Self {
            conn,
            organizer: gateway_headers(organizer, "ORGANIZER"),
        }
    }

    async fn call(
        &mut self,
        method: Method,
        path: &str,
        as_organizer: bool,
        body: Option<Bytes>,
    ) -> Result<Reply, String> {
        let headers: &[(HeaderName, HeaderValue)] =
            if as_organizer { &self.organizer } else { &[] };
        let request = self.conn.target().request(method, path, headers, body)?;
        self.conn
            .send(request)
            .await
            .map_err(|f| format!("{path}: {}", f.key()))
    }

    /// Fails with a readable message when the service does not answer its health endpoint.
    ///
    /// # Errors
    /// No answer, or an answer other than `200`.
    pub async fn wait_until_up(&mut self) -> Result<(), String> {
        let reply = self
            .call(Method::GET, "/actuator/health", false, None)
            .await
            .map_err(|e| format!("the service does not answer ({e})"))?;
        if reply.status == 200 {
            Ok(())
        } else {
            Err(describe("the service is not healthy", &reply))
        }
    }

    /// Creates an event `days_ahead` days from now and publishes it in the same request
    /// (`auto_publish`); answers its id.
    ///
    /// # Errors
    /// Any answer but a `201` with a PUBLISHED event.
    pub async fn create_published_event(
        &mut self,
        name: &str,
        seats: u32,
        price: &str,
        days_ahead: i64,
    ) -> Result<i64, String> {
        let body = json!({
            "name": name,
            "description": "Created by the load generator (crates/loadtest).",
            "start_date": (Utc::now() + Days::days(days_ahead)).to_rfc3339(),
            "max_participants": seats,
            "price": price,
            "booking_deadline_hours": 0,
            "auto_publish": true,
        });
        let reply = self
            .call(
                Method::POST,
                "/api/v1/events",
                true,
                Some(Bytes::from(body.to_string())),
            )
            .await?;
        if reply.status != 201 {
            return Err(describe("creating an event", &reply));
        }
        let event: EventView = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("creating an event: unreadable answer ({e})"))?;
        if event.status != "PUBLISHED" {
            return Err(format!(
                "creating an event: event {} is {}, not PUBLISHED",
                event.id, event.status
            ));
        }
        Ok(event.id)
    }

    /// One event's details, read as a guest.
    ///
    /// # Errors
    /// Any answer but a readable `200`.
    pub async fn event(&mut self, id: i64) -> Result<EventView, String> {
        let path = format!("/api/v1/events/{id}");
        let reply = self.call(Method::GET, &path, false, None).await?;
        if reply.status != 200 {
            return Err(describe(&format!("reading event {id}"), &reply));
        }
        serde_json::from_slice(&reply.body)
            .map_err(|e| format!("reading event {id}: unreadable answer ({e})"))
    }

    /// Up to `limit` ids of published events from the catalog, as a guest sees it.
    ///
    /// # Errors
    /// Any answer but a readable `200`.
    pub async fn published_events(&mut self, limit: usize) -> Result<Vec<i64>, String> {
        let mut ids = Vec::new();
        let mut page = 0;
        loop {
            let path = format!("/api/v1/events?page={page}&size=100");
            let reply = self.call(Method::GET, &path, false, None).await?;
            if reply.status != 200 {
                return Err(describe("listing the catalog", &reply));
            }
            let found: EventPage = serde_json::from_slice(&reply.body)
                .map_err(|e| format!("listing the catalog: unreadable answer ({e})"))?;
            ids.extend(
                found
                    .events
                    .iter()
                    .filter(|e| e.status == "PUBLISHED")
                    .map(|e| e.id),
            );
            page += 1;
            if ids.len() >= limit || page >= found.total_pages || found.events.is_empty() {
                break;
            }
        }
        ids.truncate(limit);
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_headers_carry_the_hyphenated_id_and_the_role() {
        let id = Uuid::from_u128(0x6c6f_6164_7465_4000_8000_0000_0000_0001);
        let [(n1, v1), (n2, v2)] = gateway_headers(id, "ORGANIZER");
        assert_eq!(n1, "x-user-id");
        assert_eq!(v1, "6c6f6164-7465-4000-8000-000000000001");
        assert_eq!(n2, "x-user-role");
        assert_eq!(v2, "ORGANIZER");
    }
}
