//! `/events/{id}/price-options`: the ticket tiers of an event (list, create, replace,
//! deactivate). Managed by the event's creator or an admin; listed publicly for visible
//! events (inactive tiers only for those who manage the event).

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, put, web};
use domain::price_option::PriceOptionInput;
use domain::{EventId, PriceOptionId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::dto::{PriceOptionRequest, PriceOptionResponse};
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

/// The tiers of an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceOptionListResponse {
    pub price_options: Vec<PriceOptionResponse>,
}

fn input_of(r: PriceOptionRequest) -> PriceOptionInput {
    PriceOptionInput {
        name: r.name,
        price: r.price.0,
        description: r.description,
        quantity_available: r.quantity_available,
        is_active: r.is_active,
    }
}

/// The tiers of an event.
#[utoipa::path(
    get, path = "/api/v1/events/{id}/price-options", tag = "events",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = PriceOptionListResponse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("gateway" = []))
)]
#[get("/events/{id}/price-options")]
pub async fn list_price_options(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let options = state
        .events
        .price_options(&caller.0, EventId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(PriceOptionListResponse {
        price_options: options.iter().map(PriceOptionResponse::from).collect(),
    }))
}

/// Adds a tier (the event's creator or ADMIN; DRAFT or PUBLISHED events).
#[utoipa::path(
    post, path = "/api/v1/events/{id}/price-options", tag = "events",
    params(("id" = i64, Path)),
    request_body = PriceOptionRequest,
    responses(
        (status = 201, body = PriceOptionResponse, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The event is CANCELED or COMPLETED", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/events/{id}/price-options")]
pub async fn create_price_option(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<PriceOptionRequest>,
) -> Result<HttpResponse, ApiError> {
    let event_id = EventId(id.into_inner());
    let saved = state
        .events
        .save_price_option(&caller.0, event_id, None, input_of(body.into_inner()))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!(
                "/api/v1/events/{}/price-options/{}",
                event_id.value(),
                saved.id.value()
            ),
        ))
        .json(PriceOptionResponse::from(&saved)))
}

/// Replaces a tier. `quantity_available` is the stock still on sale at this price.
#[utoipa::path(
    put, path = "/api/v1/events/{id}/price-options/{option_id}", tag = "events",
    params(("id" = i64, Path), ("option_id" = i64, Path)),
    request_body = PriceOptionRequest,
    responses(
        (status = 200, body = PriceOptionResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[put("/events/{id}/price-options/{option_id}")]
pub async fn update_price_option(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
    body: web::Json<PriceOptionRequest>,
) -> Result<HttpResponse, ApiError> {
    let (event_id, option_id) = path.into_inner();
    let saved = state
        .events
        .save_price_option(
            &caller.0,
            EventId(event_id),
            Some(PriceOptionId(option_id)),
            input_of(body.into_inner()),
        )
        .await?;
    Ok(HttpResponse::Ok().json(PriceOptionResponse::from(&saved)))
}

/// Stops offering a tier (`is_active = false`); it is kept for the bookings that used it.
#[utoipa::path(
    delete, path = "/api/v1/events/{id}/price-options/{option_id}", tag = "events",
    params(("id" = i64, Path), ("option_id" = i64, Path)),
    responses(
        (status = 200, body = PriceOptionResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[delete("/events/{id}/price-options/{option_id}")]
pub async fn deactivate_price_option(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (event_id, option_id) = path.into_inner();
    let saved = state
        .events
        .deactivate_price_option(&caller.0, EventId(event_id), PriceOptionId(option_id))
        .await?;
    Ok(HttpResponse::Ok().json(PriceOptionResponse::from(&saved)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_price_options)
        .service(create_price_option)
        .service(update_price_option)
        .service(deactivate_price_option);
}
