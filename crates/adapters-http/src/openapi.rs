//! The OpenAPI document (generated from the handlers' annotations), served at
//! `/api-docs/openapi.json`, with Swagger UI at `/docs`.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Required, Response};
use utoipa::{Modify, OpenApi};

use crate::access::{self, Access};

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

/// What every operation can answer besides what its handler documents, derived from what the
/// edge enforces on every route, so that the document stays a valid OpenAPI 3.1 document (every
/// response has a description) and names every status a route can answer:
/// - 400 when the operation takes a path id, query, header or body (`extract` refuses an
///   unparsable id, an unknown query parameter, malformed JSON, a value breaking a constraint);
/// - 401 when it reads credentials (invalid credentials are refused even on public routes), and
///   403 when its least role is above any signed-in caller (`access::ROUTES`);
/// - 409 and 422 with an `Idempotency-Key` (the key's first request is running; the key was
///   first sent with another request);
/// - 413 with a body (`server.max_body_bytes`), 415 with a JSON body that is required;
/// - an optional body is `required: false` with the body's schema, not `oneOf [X, null]`
///   (generated clients would otherwise send an unset value).
struct Conformance;

impl Modify for Conformance {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            // "no field to update" (VALIDATION_FAILED on `body`).
            for name in ["UpdateEventRequest", "UpdateReviewRequest"] {
                if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(name) {
                    o.min_properties = Some(1);
                }
            }
            // MoneyInput: digits with at most two decimals, below one trillion.
            if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut("MoneyInput") {
                o.pattern = Some(r"^[0-9]{1,12}(\.[0-9]{1,2})?$".to_owned());
            }
            // "give exactly one of …" and "a crew_id or at least one skill".
            let percent_or_amount = [
                ("discount_percentage", Type::Integer),
                ("discount_amount", Type::String),
            ];
            for name in ["CreatePromoCodeRequest", "UpdatePromoCodeRequest"] {
                one_of_fields(&mut components.schemas, name, &percent_or_amount, true);
            }
            one_of_fields(
                &mut components.schemas,
                "BulkRescheduleRequest",
                &[
                    ("shift_minutes", Type::Integer),
                    ("new_start_date", Type::String),
                ],
                true,
            );
            one_of_fields(
                &mut components.schemas,
                "AssignCrewRequest",
                &[("crew_id", Type::Integer), ("skills", Type::Array)],
                false,
            );
        }
        for (path, item) in &mut openapi.paths.paths {
            for (method, operation) in [
                ("GET", item.get.as_mut()),
                ("POST", item.post.as_mut()),
                ("PUT", item.put.as_mut()),
                ("PATCH", item.patch.as_mut()),
                ("DELETE", item.delete.as_mut()),
            ] {
                if let Some(operation) = operation {
                    let access = access::ROUTES
                        .iter()
                        .find(|(m, p, _)| *m == method && p == path)
                        .map_or(Access::Public, |(_, _, a)| *a);
                    conform(operation, access);
                }
            }
        }
    }
}

fn problem(description: &str) -> RefOr<Response> {
    let mut response = Response::new(description);
    response.content.insert(
        problem::PROBLEM_JSON.to_owned(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
    );
    RefOr::T(response)
}

/// The description of a status an operation documents without one.
fn default_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "Done; no content",
        "400" => {
            "The request is invalid: VALIDATION_FAILED (with `errors[]`), MALFORMED_JSON or BAD_REQUEST"
        }
        "401" => "UNAUTHENTICATED: no valid credentials",
        "403" => "FORBIDDEN: the caller's role or relation to the resource does not allow this",
        "404" => "NOT_FOUND",
        "409" => "The current state does not allow this; `code` says why",
        "413" => "PAYLOAD_TOO_LARGE: the body is larger than the configured limit",
        "415" => "UNSUPPORTED_MEDIA_TYPE: the body must be application/json",
        "422" => "IDEMPOTENCY_KEY_REUSED: the Idempotency-Key was first sent with another request",
        "503" => {
            "SERVICE_UNAVAILABLE or DATABASE_UNAVAILABLE: a dependency does not answer; retry after `Retry-After` seconds"
        }
        _ => "See the problem `code`",
    }
}

/// Requires one of `fields` to be present and not null (`exactly`: one and only one), by
/// wrapping the schema `name` in `allOf [schema, oneOf|anyOf [{required: [field]}, …]]`.
fn one_of_fields(
    schemas: &mut std::collections::BTreeMap<String, RefOr<Schema>>,
    name: &str,
    fields: &[(&str, Type)],
    exactly: bool,
) {
    let Some(schema) = schemas.remove(name) else {
        return;
    };
    let branch = |(field, ty): &(&str, Type)| {
        if *ty == Type::Array {
            let array = utoipa::openapi::schema::ArrayBuilder::new()
                .items(ObjectBuilder::new().schema_type(Type::String))
                .min_items(Some(1));
            return ObjectBuilder::new()
                .required(*field)
                .property(*field, array)
                .into();
        }
        ObjectBuilder::new()
            .required(*field)
            .property(*field, ObjectBuilder::new().schema_type(ty.clone()))
            .into()
    };
    let choice: RefOr<Schema> = if exactly {
        let mut one = utoipa::openapi::schema::OneOfBuilder::new();
        for f in fields {
            one = one.item::<RefOr<Schema>>(branch(f));
        }
        one.into()
    } else {
        let mut any = utoipa::openapi::schema::AnyOfBuilder::new();
        for f in fields {
            any = any.item::<RefOr<Schema>>(branch(f));
        }
        any.into()
    };
    let wrapped = utoipa::openapi::schema::AllOfBuilder::new()
        .item(schema)
        .item(choice)
        .into();
    schemas.insert(name.to_owned(), wrapped);
}

/// The `Idempotency-Key` header's schema: visible ASCII, no spaces.
const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]+$";

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
}

/// `oneOf [X, null]` of an optional body → `X`, `required: false`.
fn optional_body(body: &mut RequestBody) {
    if body.required == Some(Required::True) {
        return;
    }
    body.required = Some(Required::False);
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else { continue };
        if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
            let mut non_null = one_of.items.iter().filter(|s| !is_null(s));
            if let (Some(only), None) = (non_null.next(), non_null.next()) {
                content.schema = Some(only.clone());
            }
        }
    }
}

fn conform(operation: &mut Operation, access: Access) {
    let reads_credentials =
        access != Access::Public || operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_input = operation.request_body.is_some()
        || operation.parameters.as_ref().is_some_and(|params| {
            params.iter().any(|p| match p {
                RefOr::T(p) => p.parameter_in != ParameterIn::Path || is_typed(p),
                RefOr::Ref(_) => true,
            })
        });
    let mut idempotent = false;
    for param in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = param
            && p.name == "Idempotency-Key"
        {
            idempotent = true;
            // What `idempotency::run` accepts: a header value of visible ASCII.
            p.schema = Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(IDEMPOTENCY_KEY_PATTERN))
                    .into(),
            );
        }
    }
    let mut json_body_required = false;
    if let Some(RefOr::T(body)) = operation.request_body.as_mut() {
        optional_body(body);
        json_body_required = body.required == Some(Required::True)
            && body.content.iter().any(|(media, content)| {
                media == "application/json"
                    && matches!(content, RefOr::T(c) if matches!(c.schema, Some(RefOr::Ref(_))))
            });
    }
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| problem(default_description(status)));
    };
    if has_input {
        add("400");
    }
    if reads_credentials {
        add("401");
    }
    if matches!(access, Access::Organizer | Access::Admin) {
        add("403");
    }
    if idempotent {
        // IDEMPOTENCY_KEY_IN_USE (the first request is still running) and
        // IDEMPOTENCY_KEY_REUSED (another request under the same key).
        add("409");
        add("422");
    }
    if operation.request_body.is_some() {
        add("413");
    }
    if json_body_required {
        add("415");
    }
    for (status, response) in &mut operation.responses.responses {
        if let RefOr::T(response) = response
            && response.description.trim().is_empty()
        {
            default_description(status).clone_into(&mut response.description);
        }
    }
}

/// A path parameter parsed into a number (or uuid): an unparsable segment is a 400.
fn is_typed(param: &utoipa::openapi::path::Parameter) -> bool {
    match &param.schema {
        Some(RefOr::T(Schema::Object(o))) => {
            o.schema_type != SchemaType::Type(Type::String) || o.format.is_some()
        }
        _ => false,
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
    modifiers(&Security, &Conformance),
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use super::*;

    fn operations(doc: &utoipa::openapi::OpenApi) -> Vec<(String, &'static str, &Operation)> {
        let mut all = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("GET", item.get.as_ref()),
                ("POST", item.post.as_ref()),
                ("PUT", item.put.as_ref()),
                ("PATCH", item.patch.as_ref()),
                ("DELETE", item.delete.as_ref()),
            ] {
                if let Some(op) = op {
                    all.push((path.clone(), method, op));
                }
            }
        }
        all
    }

    #[test]
    fn every_response_has_a_description() {
        let doc = document();
        for (path, method, op) in operations(&doc) {
            for (status, response) in &op.responses.responses {
                if let RefOr::T(r) = response {
                    assert!(
                        !r.description.trim().is_empty(),
                        "{method} {path} {status} has no description"
                    );
                }
            }
        }
    }

    #[test]
    fn optional_bodies_are_not_required_and_not_nullable() {
        let doc = document();
        let json = serde_json::to_value(&doc).unwrap();
        let publish = &json["paths"]["/api/v1/events/{id}/publish"]["post"]["requestBody"];
        assert_eq!(publish["required"], false, "{publish}");
        assert_eq!(
            publish["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/PublishEventRequest"
        );
        for (path, method, op) in operations(&doc) {
            let Some(RefOr::T(body)) = &op.request_body else {
                continue;
            };
            for content in body.content.values() {
                let RefOr::T(c) = content else { continue };
                if let Some(RefOr::T(Schema::OneOf(one))) = &c.schema {
                    assert!(
                        !one.items.iter().any(is_null),
                        "{method} {path}: an optional body must be required: false, not oneOf [X, null]"
                    );
                }
            }
        }
    }

    #[test]
    fn statuses_the_edge_answers_on_every_route_are_documented() {
        let doc = document();
        let json = serde_json::to_value(&doc).unwrap();
        let responses = |path: &str, method: &str| {
            json["paths"][path][method]["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        };
        // An unparsable path id.
        assert!(responses("/api/v1/events/{id}", "get").contains(&"400".to_owned()));
        assert!(responses("/api/v1/favorites/{id}", "delete").contains(&"400".to_owned()));
        // A role that can never use the route, and a body of another media type or size.
        let create = responses("/api/v1/events", "post");
        for status in ["400", "401", "403", "413", "415"] {
            assert!(create.contains(&status.to_owned()), "{status}: {create:?}");
        }
        for (path, method, op) in operations(&doc) {
            let access = access::ROUTES
                .iter()
                .find(|(m, p, _)| *m == method && *p == path)
                .map(|(_, _, a)| *a)
                .unwrap();
            let has = |s: &str| op.responses.responses.contains_key(s);
            if access != Access::Public {
                assert!(has("401"), "{method} {path} does not document 401");
            }
            if matches!(access, Access::Organizer | Access::Admin) {
                assert!(has("403"), "{method} {path} does not document 403");
            }
            if op.request_body.is_some() {
                assert!(has("400") && has("413"), "{method} {path}: 400/413");
            }
        }
    }

    /// The document against the OpenAPI 3.1 schema, with the `openapi-spec-validator` Python
    /// package (`scripts/test.sh` installs it). Without it the test prints SKIPPED, unless
    /// `EVENT_TEST_REQUIRE_SERVICES=1`.
    #[test]
    fn the_document_is_valid_openapi_3_1() {
        let required = std::env::var("EVENT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let available = Command::new(&python)
            .args(["-c", "import openapi_spec_validator"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            assert!(
                !required,
                "{python} cannot import openapi_spec_validator (pip install openapi-spec-validator)"
            );
            eprintln!("SKIPPED (no openapi_spec_validator for {python})");
            return;
        }
        let script = "import json, sys\n\
            from openapi_spec_validator import OpenAPIV31SpecValidator\n\
            errors = list(OpenAPIV31SpecValidator(json.load(sys.stdin)).iter_errors())\n\
            for e in errors[:20]: print(list(e.absolute_path), e.message)\n\
            print(len(errors), 'errors')\n\
            sys.exit(1 if errors else 0)\n";
        let mut child = Command::new(&python)
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let body = serde_json::to_vec(&document()).unwrap();
        child.stdin.take().unwrap().write_all(&body).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "the OpenAPI document is not valid OpenAPI 3.1:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
