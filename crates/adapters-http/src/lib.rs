//! actix-web REST adapter: routes, DTOs, the auth extractor, problem+json errors, actuator
//! endpoints and OpenAPI.

pub mod auth;
pub mod problem;
pub mod request_id;
