//! The OpenAPI document (generated from the handlers' annotations), served at
//! `/api-docs/openapi.json`, with Swagger UI at `/docs`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{bookings, categories, events, jobs, payments, sandbox};
use crate::{actuator, dto, problem};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token of the platform's OIDC issuer (Keycloak); roles from realm_access.roles",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "gateway",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-User-Id",
                "Trusted gateway headers X-User-Id (uuid) and X-User-Role (USER, ORGANIZER, ADMIN); only when enabled by configuration",
            ))),
        );
    }
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "backend-event",
        description = "Events, catalog, bookings and payments of the AquaStream platform. Errors are application/problem+json with a stable `code`.",
    ),
    paths(
        events::list_events, events::get_event, events::create_event, events::update_event,
        events::publish_event, events::cancel_event, events::event_stats,
        categories::list_categories, categories::create_category, categories::update_category,
        bookings::create_booking, bookings::get_booking, bookings::list_bookings, bookings::cancel_booking,
        payments::initiate_payment, payments::confirm_payment, payments::payment_webhook,
        payments::get_payment, payments::refund_payment,
        sandbox::sandbox_page, sandbox::sandbox_pay,
        actuator::health, actuator::info,
        jobs::run_job, jobs::scheduled_tasks,
    ),
    components(schemas(problem::Problem, problem::ProblemField, dto::PageInfo)),
    modifiers(&Security),
    tags(
        (name = "events", description = "Catalog and event management"),
        (name = "categories"),
        (name = "bookings"),
        (name = "payments"),
        (name = "sandbox", description = "The test gateway's payment page (dev and test profiles)"),
        (name = "actuator", description = "Health and information"),
        (name = "jobs", description = "Scheduled jobs: run one now, list schedules and last runs (ADMIN)"),
    )
)]
pub struct ApiDoc;

/// The document.
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
