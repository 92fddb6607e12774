//! actix-web REST adapter: routes, DTOs, the `Caller` extractor (over the `Authenticate` port),
//! problem+json errors, actuator endpoints and OpenAPI.

pub mod access;
pub mod actuator;
pub mod auth;
pub mod cached;
pub mod dto;
pub mod extract;
pub mod idempotency;
pub mod observe;
pub mod openapi;
pub mod problem;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod security_headers;
pub mod state;
pub mod validation;

use std::sync::Arc;

use actix_web::web;
use application::ports::Authenticate;
use utoipa_swagger_ui::SwaggerUi;

pub use auth::Caller;
pub use state::{ApiState, HttpSettings, LogLevels, MetricsSource, Observability};

/// The whole HTTP surface for one app instance: `/api/v1` (and the `/api` alias), actuator,
/// OpenAPI and docs when enabled, the sandbox page when enabled, problem+json for everything else.
pub fn configure(
    state: ApiState,
    authenticator: Arc<dyn Authenticate>,
) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    // Built once here, not in `extract`, which would otherwise import the route modules
    // through the document while they import it.
    let route_table = web::Data::new(extract::RouteTable::of(&openapi::document()));
    move |cfg: &mut web::ServiceConfig| {
        let settings = state.settings.clone();
        extract::configure(cfg, settings.max_body_bytes, route_table);
        cfg.app_data(web::Data::new(settings.trusted_proxies.clone()))
            .app_data(web::Data::new(security_headers::SecurityHeaders {
                hsts: settings.hsts,
            }))
            .app_data(web::Data::new(state.rate_limits.clone()))
            .app_data(web::Data::new(state))
            .app_data(web::Data::from(authenticator));
        for prefix in ["/api/v1", "/api"] {
            cfg.service(web::scope(prefix).configure(api));
        }
        cfg.configure(actuator::configure)
            .configure(routes::jobs::configure);
        if settings.sandbox_enabled {
            cfg.configure(routes::sandbox::configure);
        }
        if settings.api_docs {
            cfg.service(
                SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", openapi::document()),
            )
            .service(web::redirect("/docs", "/docs/"));
        }
    }
}

/// The management port's surface (`management.port`): the actuator only, answering without
/// credentials (see `actuator`).
pub fn configure_management(
    state: ApiState,
    authenticator: Arc<dyn Authenticate>,
) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state))
            .app_data(web::Data::from(authenticator))
            .app_data(web::Data::new(actuator::ManagementPort))
            .configure(actuator::configure)
            .configure(routes::jobs::configure);
    }
}

fn api(cfg: &mut web::ServiceConfig) {
    routes::events::configure(cfg);
    routes::crew::configure(cfg);
    routes::categories::configure(cfg);
    routes::bookings::configure(cfg);
    routes::payments::configure(cfg);
    routes::price_options::configure(cfg);
    routes::promo_codes::configure(cfg);
    routes::loyalty::configure(cfg);
    routes::admin::configure(cfg);
    routes::waitlist::configure(cfg);
    routes::favorites::configure(cfg);
    routes::reviews::configure(cfg);
}
