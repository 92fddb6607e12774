//! `/loyalty`: the caller's points balance and ledger (an admin may read anyone's).

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use domain::UserId;
use domain::loyalty::LoyaltyEntry;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::dto::{PageInfo, PageParams};
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

/// One ledger line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoyaltyEntryResponse {
    pub id: i64,
    /// Positive when earned or given back, negative when spent or taken back.
    pub points: i64,
    /// BOOKING_EARNED, REVIEW_EARNED, REDEEMED, REDEMPTION_REVERSED or EARNING_REVERSED.
    pub kind: String,
    pub booking_id: Option<i64>,
    pub review_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<&LoyaltyEntry> for LoyaltyEntryResponse {
    fn from(e: &LoyaltyEntry) -> Self {
        Self {
            id: e.id.value(),
            points: e.points,
            kind: e.kind.as_str().to_owned(),
            booking_id: e.booking_id.map(|b| b.value()),
            review_id: e.review_id.map(|r| r.value()),
            created_at: e.created_at,
        }
    }
}

/// The account: balance, what a point is worth, and a page of the ledger (newest first).
#[derive(Debug, Serialize, ToSchema)]
pub struct LoyaltyResponse {
    pub user_id: String,
    pub balance: u64,
    /// What one point takes off a booking.
    #[schema(value_type = String, example = "1.00")]
    pub point_value: String,
    /// At most this share (percent) of a booking's price may be paid with points.
    #[schema(value_type = String, example = "20")]
    pub max_redeem_share_percent: String,
    /// Points earned per currency unit paid.
    #[schema(value_type = String, example = "0.01")]
    pub points_per_currency_unit: String,
    pub history: Vec<LoyaltyEntryResponse>,
    #[serde(flatten)]
    pub page: PageInfo,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyParams {
    /// Page number, from 0 (at most 10000).
    #[param(minimum = 0, maximum = 10000)]
    pub page: Option<i64>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
    /// ADMIN: whose account.
    pub user_id: Option<uuid::Uuid>,
}

/// The caller's loyalty account.
#[utoipa::path(
    get, path = "/api/v1/loyalty", tag = "loyalty",
    params(LoyaltyParams),
    responses(
        (status = 200, body = LoyaltyResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another user's account, not an admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/loyalty")]
pub async fn get_loyalty(
    state: web::Data<ApiState>,
    caller: Caller,
    params: web::Query<LoyaltyParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let page = PageParams {
        page: p.page,
        size: p.size,
    }
    .request()?;
    let account = state
        .loyalty
        .account(&caller.0, p.user_id.map(UserId), page)
        .await?;
    Ok(HttpResponse::Ok().json(LoyaltyResponse {
        user_id: account.user_id.to_string(),
        balance: account.balance,
        point_value: account.program.point_value.to_string(),
        max_redeem_share_percent: account
            .program
            .max_redeem_share
            .value()
            .normalize()
            .to_string(),
        points_per_currency_unit: account
            .program
            .points_per_currency_unit
            .normalize()
            .to_string(),
        page: PageInfo::of(&account.history),
        history: account
            .history
            .items
            .iter()
            .map(LoyaltyEntryResponse::from)
            .collect(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_loyalty);
}
