//! The OpenAPI document (generated from the handlers' annotations), served at
//! `/api-docs/openapi.json`, with Swagger UI at `/docs`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    admin, bookings, categories, crew, events, favorites, jobs, loyalty, payments, price_options,
    promo_codes, reviews, sandbox, waitlist,
};
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
        crew::assign_crew,
        categories::list_categories, categories::create_category, categories::update_category,
        bookings::create_booking, bookings::get_booking, bookings::list_bookings, bookings::cancel_booking,
        payments::initiate_payment, payments::confirm_payment, payments::payment_webhook,
        payments::get_payment, payments::refund_payment,
        price_options::list_price_options, price_options::create_price_option,
        price_options::update_price_option, price_options::deactivate_price_option,
        promo_codes::create_promo_code, promo_codes::list_promo_codes, promo_codes::get_promo_code,
        promo_codes::update_promo_code, promo_codes::deactivate_promo_code,
        promo_codes::validate_promo_code,
        loyalty::get_loyalty,
        admin::audit_log, admin::bulk_cancel, admin::bulk_reschedule, admin::popularity_report,
        waitlist::join_waitlist, waitlist::leave_waitlist, waitlist::get_waitlist,
        waitlist::process_waitlist,
        favorites::add_favorite, favorites::add_event_favorite, favorites::remove_favorite,
        favorites::remove_event_favorite, favorites::list_favorites,
        reviews::create_review, reviews::create_event_review, reviews::list_reviews,
        reviews::list_event_reviews, reviews::get_review, reviews::update_review,
        reviews::reply_to_review, reviews::vote_helpful, reviews::moderate_review,
        reviews::moderation_queue,
        sandbox::sandbox_page, sandbox::sandbox_pay,
        actuator::health, actuator::liveness, actuator::readiness, actuator::info,
        actuator::prometheus, actuator::metric_names, actuator::loggers, actuator::set_logger,
        jobs::run_job, jobs::scheduled_tasks,
    ),
    components(schemas(problem::Problem, problem::ProblemField, dto::PageInfo)),
    modifiers(&Security),
    tags(
        (name = "events", description = "Catalog and event management"),
        (name = "categories"),
        (name = "bookings"),
        (name = "payments"),
        (name = "promo-codes", description = "Promo codes and what they would give"),
        (name = "loyalty", description = "Loyalty points balance and ledger"),
        (name = "admin", description = "Audit log, bulk operations and reports (ADMIN)"),
        (name = "waitlist", description = "Waiting lists of full events"),
        (name = "favorites", description = "The caller's favorite events"),
        (name = "reviews", description = "Reviews of attended events, replies, helpful votes, moderation"),
        (name = "sandbox", description = "The test gateway's payment page (dev and test profiles)"),
        (name = "actuator", description = "Health probes, information, metrics and log levels"),
        (name = "jobs", description = "Scheduled jobs: run one now, list schedules and last runs (ADMIN)"),
    )
)]
pub struct ApiDoc;

/// The document.
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
