//! actix-web REST adapter: routes, DTOs, auth extractor, problem+json errors, actuator endpoints and OpenAPI.
