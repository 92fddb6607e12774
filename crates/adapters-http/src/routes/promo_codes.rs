//! `/promo-codes`: CRUD for organizers (codes on their own events) and admins, and
//! `/promo-codes/{code}/validate` for signed-in callers.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, put, web};
use application::AppError;
use application::services::{
    CreatePromoCodeCommand, PromoCodeFilter, PromoTermsInput, PromoValidation,
    UpdatePromoCodeCommand, ValidatePromoCodeCommand,
};
use chrono::{DateTime, Utc};
use domain::pricing::PromoDiscount;
use domain::promo_code::PromoCode;
use domain::{EventId, Percent, PriceOptionId, PromoCodeId, UserId};
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::auth::Caller;
use crate::dto::{MoneyInput, PageInfo, PageParams, PriceBreakdownResponse};
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;
use crate::validation;

/// `POST /promo-codes`. Exactly one of `discount_percentage` and `discount_amount`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "one_discount_of_create"))]
pub struct CreatePromoCodeRequest {
    /// 3–50 characters of A-Z, 0-9, `_`, `-`; stored upper case.
    #[schema(pattern = r"^[A-Za-z0-9_-]{3,50}$")]
    pub code: String,
    /// Whole percent, 1 to 100.
    #[schema(minimum = 1, maximum = 100)]
    #[validate(range(min = 1, max = 100))]
    pub discount_percentage: Option<i64>,
    /// A fixed amount off the booking.
    pub discount_amount: Option<MoneyInput>,
    /// Start of validity (default: now).
    pub start_date: Option<DateTime<Utc>>,
    /// End of validity (inclusive); absent = no end.
    pub end_date: Option<DateTime<Utc>>,
    /// Absent = unlimited.
    pub max_uses: Option<i64>,
    /// The only event the code applies to. Organizers must give one of their events.
    pub event_id: Option<i64>,
    #[serde(default = "yes")]
    pub is_active: bool,
}

/// `PUT /promo-codes/{id}`: the new terms, replacing the old ones (absent optional fields are
/// cleared; `start_date` absent keeps the current one).
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "one_discount_of_update"))]
pub struct UpdatePromoCodeRequest {
    /// The version the change is based on; a newer stored version answers 409.
    pub version: Option<i64>,
    #[schema(minimum = 1, maximum = 100)]
    #[validate(range(min = 1, max = 100))]
    pub discount_percentage: Option<i64>,
    pub discount_amount: Option<MoneyInput>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub max_uses: Option<i64>,
    pub event_id: Option<i64>,
    #[serde(default = "yes")]
    pub is_active: bool,
}

const fn yes() -> bool {
    true
}

/// `POST /promo-codes/{code}/validate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidatePromoCodeRequest {
    pub event_id: i64,
    #[schema(minimum = 1, maximum = 10)]
    pub quantity: i64,
    pub price_option_id: Option<i64>,
}

/// A promo code.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PromoCodeResponse {
    pub id: i64,
    pub code: String,
    pub discount_percentage: Option<u32>,
    #[schema(value_type = Option<String>, example = "100.00")]
    pub discount_amount: Option<String>,
    pub start_date: DateTime<Utc>,
    pub end_date: Option<DateTime<Utc>>,
    pub max_uses: Option<u32>,
    pub current_uses: u32,
    pub event_id: Option<i64>,
    pub is_active: bool,
    pub created_by: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn discount_fields(discount: PromoDiscount) -> (Option<u32>, Option<String>) {
    match discount {
        PromoDiscount::Percent(p) => (p.value().trunc().to_u32(), None),
        PromoDiscount::FixedAmount(m) => (None, Some(m.to_string())),
    }
}

impl From<&PromoCode> for PromoCodeResponse {
    fn from(c: &PromoCode) -> Self {
        let (discount_percentage, discount_amount) = discount_fields(c.terms.discount);
        Self {
            id: c.id.value(),
            code: c.code.as_str().to_owned(),
            discount_percentage,
            discount_amount,
            start_date: c.terms.valid_from,
            end_date: c.terms.valid_until,
            max_uses: c.terms.max_uses,
            current_uses: c.current_uses,
            event_id: c.terms.event_id.map(|e| e.value()),
            is_active: c.terms.is_active,
            created_by: c.created_by.to_string(),
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromoCodeListResponse {
    pub promo_codes: Vec<PromoCodeResponse>,
    #[serde(flatten)]
    pub page: PageInfo,
}

/// What a code would give: the discount and the full price breakdown of a booking made now
/// (before loyalty points).
#[derive(Debug, Serialize, ToSchema)]
pub struct PromoValidationResponse {
    pub valid: bool,
    pub code: String,
    pub promo_code_id: i64,
    pub event_id: i64,
    pub quantity: u32,
    pub discount_percentage: Option<u32>,
    #[schema(value_type = Option<String>)]
    pub discount_amount: Option<String>,
    /// What the code takes off this booking.
    #[schema(value_type = String, example = "297.00")]
    pub promo_discount: String,
    pub price_breakdown: PriceBreakdownResponse,
}

impl From<&PromoValidation> for PromoValidationResponse {
    fn from(v: &PromoValidation) -> Self {
        let (discount_percentage, discount_amount) = discount_fields(v.code.terms.discount);
        Self {
            valid: true,
            code: v.code.code.as_str().to_owned(),
            promo_code_id: v.code.id.value(),
            event_id: v.event_id.value(),
            quantity: v.breakdown.quantity,
            discount_percentage,
            discount_amount,
            promo_discount: v.breakdown.promo_discount.to_string(),
            price_breakdown: PriceBreakdownResponse::from(&v.breakdown),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListPromoCodesParams {
    /// Page number, from 0 (at most 10000).
    #[param(minimum = 0, maximum = 10000)]
    pub page: Option<i64>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
    pub event_id: Option<i64>,
    /// ADMIN: codes created by this user.
    pub created_by: Option<uuid::Uuid>,
    #[serde(default)]
    pub active_only: bool,
}

/// Exactly one of both (the schema's `oneOf`).
fn one_discount(percent: Option<i64>, amount: Option<MoneyInput>) -> Result<(), ValidationError> {
    if percent.is_some() == amount.is_some() {
        return Err(validation::violation(
            "discount_percentage",
            "give exactly one of discount_percentage and discount_amount",
        ));
    }
    Ok(())
}

fn one_discount_of_create(r: &CreatePromoCodeRequest) -> Result<(), ValidationError> {
    one_discount(r.discount_percentage, r.discount_amount)
}

fn one_discount_of_update(r: &UpdatePromoCodeRequest) -> Result<(), ValidationError> {
    one_discount(r.discount_percentage, r.discount_amount)
}

/// The discount of a validated request (see `one_discount`).
fn discount_of(
    percent: Option<i64>,
    amount: Option<MoneyInput>,
) -> Result<PromoDiscount, AppError> {
    match (percent, amount) {
        (Some(p), _) => {
            let whole = u32::try_from(p)
                .map_err(|_| AppError::internal("discount_percentage passed validation"))?;
            Ok(PromoDiscount::Percent(Percent::from_whole(whole)?))
        }
        (None, Some(m)) => Ok(PromoDiscount::FixedAmount(m.0)),
        (None, None) => Err(AppError::internal("the discount passed validation")),
    }
}

/// Creates a promo code (ORGANIZER for one of their events, ADMIN for any or every event).
#[utoipa::path(
    post, path = "/api/v1/promo-codes", tag = "promo-codes",
    request_body = CreatePromoCodeRequest,
    responses(
        (status = 201, body = PromoCodeResponse, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The event does not exist or is another organizer's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "PROMO_CODE_EXISTS", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/promo-codes")]
pub async fn create_promo_code(
    state: web::Data<ApiState>,
    caller: Caller,
    body: web::Json<CreatePromoCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    validation::validate(&b)?;
    let cmd = CreatePromoCodeCommand {
        code: b.code,
        terms: PromoTermsInput {
            discount: discount_of(b.discount_percentage, b.discount_amount)?,
            valid_from: b.start_date,
            valid_until: b.end_date,
            max_uses: b.max_uses,
            event_id: b.event_id.map(EventId),
            is_active: b.is_active,
        },
    };
    let created = state.promo_codes.create(&caller.0, cmd).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/promo-codes/{}", created.id.value()),
        ))
        .json(PromoCodeResponse::from(&created)))
}

/// Promo codes: an organizer's own, or every code for ADMIN.
#[utoipa::path(
    get, path = "/api/v1/promo-codes", tag = "promo-codes",
    params(ListPromoCodesParams),
    responses(
        (status = 200, body = PromoCodeListResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/promo-codes")]
pub async fn list_promo_codes(
    state: web::Data<ApiState>,
    caller: Caller,
    params: web::Query<ListPromoCodesParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let filter = PromoCodeFilter {
        event_id: p.event_id.map(EventId),
        created_by: p.created_by.map(UserId),
        active_only: p.active_only,
        page: PageParams {
            page: p.page,
            size: p.size,
        }
        .request()?,
    };
    let page = state.promo_codes.list(&caller.0, filter).await?;
    Ok(HttpResponse::Ok().json(PromoCodeListResponse {
        page: PageInfo::of(&page),
        promo_codes: page.items.iter().map(PromoCodeResponse::from).collect(),
    }))
}

/// One promo code (its creator or ADMIN).
#[utoipa::path(
    get, path = "/api/v1/promo-codes/{id}", tag = "promo-codes",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = PromoCodeResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/promo-codes/{id}")]
pub async fn get_promo_code(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let code = state
        .promo_codes
        .get(&caller.0, PromoCodeId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(PromoCodeResponse::from(&code)))
}

/// Replaces the terms of a promo code (its creator or ADMIN).
#[utoipa::path(
    put, path = "/api/v1/promo-codes/{id}", tag = "promo-codes",
    params(("id" = i64, Path)),
    request_body = UpdatePromoCodeRequest,
    responses(
        (status = 200, body = PromoCodeResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "VERSION_CONFLICT", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[put("/promo-codes/{id}")]
pub async fn update_promo_code(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<UpdatePromoCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    validation::validate(&b)?;
    let cmd = UpdatePromoCodeCommand {
        expected_version: b.version,
        terms: PromoTermsInput {
            discount: discount_of(b.discount_percentage, b.discount_amount)?,
            valid_from: b.start_date,
            valid_until: b.end_date,
            max_uses: b.max_uses,
            event_id: b.event_id.map(EventId),
            is_active: b.is_active,
        },
    };
    let updated = state
        .promo_codes
        .update(&caller.0, PromoCodeId(id.into_inner()), cmd)
        .await?;
    Ok(HttpResponse::Ok().json(PromoCodeResponse::from(&updated)))
}

/// Deactivates a promo code (kept for the bookings that used it).
#[utoipa::path(
    delete, path = "/api/v1/promo-codes/{id}", tag = "promo-codes",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = PromoCodeResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[delete("/promo-codes/{id}")]
pub async fn deactivate_promo_code(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let code = state
        .promo_codes
        .deactivate(&caller.0, PromoCodeId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(PromoCodeResponse::from(&code)))
}

/// The discount a code would give on a booking of `quantity` seats of an event, with the full
/// price breakdown. A code that cannot be used here (unknown, inactive, expired, used up, for
/// another event) is 409 `PROMO_CODE_INVALID`, the same answer whatever the reason (which is
/// audited as `promo_code.refused`), so that codes cannot be probed.
#[utoipa::path(
    post, path = "/api/v1/promo-codes/{code}/validate", tag = "promo-codes",
    params(("code" = String, Path, pattern = r"^[A-Za-z0-9_-]{3,50}$")),
    request_body = ValidatePromoCodeRequest,
    responses(
        (status = 200, body = PromoValidationResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The event or price option does not exist", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "PROMO_CODE_INVALID, PRICE_OPTION_SOLD_OUT", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/promo-codes/{code}/validate")]
pub async fn validate_promo_code(
    state: web::Data<ApiState>,
    caller: Caller,
    code: web::Path<String>,
    body: web::Json<ValidatePromoCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let cmd = ValidatePromoCodeCommand {
        event_id: EventId(b.event_id),
        quantity: b.quantity,
        price_option_id: b.price_option_id.map(PriceOptionId),
    };
    let validation = state
        .promo_codes
        .validate(&caller.0, &code.into_inner(), cmd)
        .await?;
    Ok(HttpResponse::Ok().json(PromoValidationResponse::from(&validation)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_promo_code)
        .service(list_promo_codes)
        .service(get_promo_code)
        .service(update_promo_code)
        .service(deactivate_promo_code)
        .service(validate_promo_code);
}
