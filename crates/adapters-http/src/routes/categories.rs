//! `/categories`: public list; create and update for ADMIN.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, put, web};
use domain::CategoryId;
use domain::category::{Category, CategoryInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRequest {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub description: Option<String>,
    pub parent_id: Option<i64>,
    pub icon_url: Option<String>,
}

impl From<CategoryRequest> for CategoryInput {
    fn from(r: CategoryRequest) -> Self {
        Self {
            name: r.name,
            description: r.description,
            parent_id: r.parent_id.map(CategoryId),
            icon_url: r.icon_url,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategoryResponse {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<i64>,
    pub icon_url: Option<String>,
}

impl From<&Category> for CategoryResponse {
    fn from(c: &Category) -> Self {
        Self {
            id: c.id.value(),
            name: c.name.clone(),
            description: c.description.clone(),
            parent_id: c.parent_id.map(|p| p.value()),
            icon_url: c.icon_url.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryListResponse {
    pub categories: Vec<CategoryResponse>,
}

/// Every category (a tree through `parent_id`).
#[utoipa::path(
    get, path = "/api/v1/categories", tag = "categories",
    responses((status = 200, body = CategoryListResponse))
)]
#[get("/categories")]
pub async fn list_categories(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let all = state.categories.list().await?;
    Ok(HttpResponse::Ok().json(CategoryListResponse {
        categories: all.iter().map(CategoryResponse::from).collect(),
    }))
}

/// Creates a category (ADMIN).
#[utoipa::path(
    post, path = "/api/v1/categories", tag = "categories",
    request_body = CategoryRequest,
    responses(
        (status = 201, body = CategoryResponse, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "CATEGORY_EXISTS", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/categories")]
pub async fn create_category(
    state: web::Data<ApiState>,
    caller: Caller,
    body: web::Json<CategoryRequest>,
) -> Result<HttpResponse, ApiError> {
    let created = state
        .categories
        .create(&caller.0, body.into_inner().into())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/categories/{}", created.id.value()),
        ))
        .json(CategoryResponse::from(&created)))
}

/// Replaces a category's fields (ADMIN).
#[utoipa::path(
    put, path = "/api/v1/categories/{id}", tag = "categories",
    params(("id" = i64, Path)),
    request_body = CategoryRequest,
    responses(
        (status = 200, body = CategoryResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "CATEGORY_EXISTS or CATEGORY_CYCLE", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[put("/categories/{id}")]
pub async fn update_category(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<CategoryRequest>,
) -> Result<HttpResponse, ApiError> {
    let updated = state
        .categories
        .update(
            &caller.0,
            CategoryId(id.into_inner()),
            body.into_inner().into(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(CategoryResponse::from(&updated)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_categories)
        .service(create_category)
        .service(update_category);
}
