//! `/favorites` (the seed's table): add, remove, list one's own favorites with event summaries.
//! `/events/{id}/favorite` does the same for clients that start from an event page.
//!
//! Adding answers 201 with a `Location` when the favorite is new and 200 when it already was
//! one; removing answers 204 whether or not there was something to remove (a retried DELETE
//! never fails).

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, web};
use application::services::{AddedFavorite, FavoriteView};
use chrono::{DateTime, Utc};
use domain::EventId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::dto::{EventResponse, PageInfo, PageParams};
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

/// `AddFavoriteRequest`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddFavoriteRequest {
    pub event_id: i64,
}

/// `FavoriteResponse`: the favorite and the event's summary with its rating.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FavoriteResponse {
    pub id: i64,
    pub event_id: i64,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    /// Null only when the event is no longer visible to the caller.
    pub event: Option<EventResponse>,
}

impl FavoriteResponse {
    #[must_use]
    pub fn of(view: &FavoriteView) -> Self {
        let f = &view.favorite;
        Self {
            id: f.id.value(),
            event_id: f.event_id.value(),
            user_id: f.user_id.to_string(),
            created_at: f.created_at,
            event: view
                .event
                .as_ref()
                .map(|l| EventResponse::of(&l.event).with_rating(&l.rating)),
        }
    }
}

/// `ListFavoritesResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FavoriteListResponse {
    pub favorites: Vec<FavoriteResponse>,
    #[serde(flatten)]
    pub page: PageInfo,
}

fn added(result: &AddedFavorite) -> HttpResponse {
    let body = FavoriteResponse::of(&result.view);
    if result.created {
        HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/api/v1/favorites/{}", body.event_id),
            ))
            .json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

/// Adds an event to the caller's favorites (idempotent).
#[utoipa::path(
    post, path = "/api/v1/favorites", tag = "favorites",
    request_body = AddFavoriteRequest,
    responses(
        (status = 201, description = "added", body = FavoriteResponse, headers(("Location" = String))),
        (status = 200, description = "already a favorite", body = FavoriteResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/favorites")]
pub async fn add_favorite(
    state: web::Data<ApiState>,
    caller: Caller,
    body: web::Json<AddFavoriteRequest>,
) -> Result<HttpResponse, ApiError> {
    let result = state
        .favorites
        .add(&caller.0, EventId(body.into_inner().event_id))
        .await?;
    Ok(added(&result))
}

/// Adds this event to the caller's favorites (idempotent); same as `POST /favorites`.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/favorite", tag = "favorites",
    params(("id" = i64, Path)),
    responses(
        (status = 201, description = "added", body = FavoriteResponse, headers(("Location" = String))),
        (status = 200, description = "already a favorite", body = FavoriteResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/events/{id}/favorite")]
pub async fn add_event_favorite(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let result = state
        .favorites
        .add(&caller.0, EventId(id.into_inner()))
        .await?;
    Ok(added(&result))
}

/// Removes an event from the caller's favorites; 204 whether or not it was one.
#[utoipa::path(
    delete, path = "/api/v1/favorites/{id}", tag = "favorites",
    params(("id" = i64, Path, description = "the event's id (as in the seed's /favorites/{eventId})")),
    responses(
        (status = 204, description = "not (or no longer) a favorite"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[delete("/favorites/{id}")]
pub async fn remove_favorite(
    state: web::Data<ApiState>,
    caller: Caller,
    event_id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let _removed = state
        .favorites
        .remove(&caller.0, EventId(event_id.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes this event from the caller's favorites; same as `DELETE /favorites/{id}`.
#[utoipa::path(
    delete, path = "/api/v1/events/{id}/favorite", tag = "favorites",
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "not (or no longer) a favorite"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[delete("/events/{id}/favorite")]
pub async fn remove_event_favorite(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let _removed = state
        .favorites
        .remove(&caller.0, EventId(id.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's favorites, newest first, with event summaries.
#[utoipa::path(
    get, path = "/api/v1/favorites", tag = "favorites",
    params(PageParams),
    responses(
        (status = 200, body = FavoriteListResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/favorites")]
pub async fn list_favorites(
    state: web::Data<ApiState>,
    caller: Caller,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .favorites
        .list(&caller.0, params.into_inner().request()?)
        .await?;
    Ok(HttpResponse::Ok().json(FavoriteListResponse {
        page: PageInfo::of(&page),
        favorites: page.items.iter().map(FavoriteResponse::of).collect(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(add_favorite)
        .service(add_event_favorite)
        .service(remove_favorite)
        .service(remove_event_favorite)
        .service(list_favorites);
}
