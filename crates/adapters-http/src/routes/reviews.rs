//! `/reviews` (the seed's table): write, edit, read, list, reply, vote helpful, moderate; and
//! `/events/{id}/reviews` to write or list from an event page. The moderation queue for
//! admins is `/admin/reviews/moderation`. Rules: `application::services::reviews`.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, put, web};
use application::AppError;
use application::ports::ReviewSort;
use application::services::{
    CreateReviewCommand, ListReviewsQuery, ModerateReviewCommand, ReviewList, ReviewView,
    UpdateReviewCommand,
};
use chrono::{DateTime, Utc};
use domain::review::{ReviewReply, ReviewStatus};
use domain::{EventId, ReviewId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::dto::{PageInfo, PageParams};
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

/// `CreateReviewRequest`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReviewRequest {
    pub event_id: i64,
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub rating: i64,
    /// At most 5,000 characters; HTML is removed.
    #[schema(max_length = 5000)]
    pub content: Option<String>,
}

/// `POST /events/{id}/reviews`: the event comes from the path.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventReviewRequest {
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub rating: i64,
    /// At most 5,000 characters; HTML is removed.
    #[schema(max_length = 5000)]
    pub content: Option<String>,
}

/// `UpdateReviewRequest`: absent fields keep their value; `content: ""` clears it. The edited
/// review waits for moderation again.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateReviewRequest {
    #[schema(minimum = 1, maximum = 5)]
    pub rating: Option<i64>,
    #[schema(max_length = 5000)]
    pub content: Option<String>,
    /// The version being edited (409 `VERSION_CONFLICT` if it changed meanwhile).
    pub expected_version: Option<i64>,
}

/// `ReplyToReviewRequest`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// At most 5,000 characters; HTML is removed; must not be blank.
    #[schema(min_length = 1, max_length = 5000, pattern = r"\S")]
    pub content: String,
}

/// An admin's decision.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModerateReviewRequest {
    /// ACTIVE (approve) or REJECTED.
    #[schema(pattern = r"^(ACTIVE|REJECTED)$")]
    pub status: String,
    /// Told to the author on rejection.
    pub reason: Option<String>,
    pub expected_version: Option<i64>,
}

/// `ReviewReplyResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewReplyResponse {
    pub id: i64,
    pub review_id: i64,
    pub author_id: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&ReviewReply> for ReviewReplyResponse {
    fn from(r: &ReviewReply) -> Self {
        Self {
            id: r.id.value(),
            review_id: r.review_id.value(),
            author_id: r.author_id.to_string(),
            content: r.content.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// `ReviewResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewResponse {
    pub id: i64,
    pub event_id: i64,
    pub user_id: String,
    pub rating: u8,
    pub content: Option<String>,
    /// PENDING, ACTIVE or REJECTED.
    pub status: String,
    /// Why it was rejected.
    pub moderation_note: Option<String>,
    pub helpful_count: u32,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub replies: Vec<ReviewReplyResponse>,
}

impl From<&ReviewView> for ReviewResponse {
    fn from(v: &ReviewView) -> Self {
        let r = &v.review;
        Self {
            id: r.id.value(),
            event_id: r.event_id.value(),
            user_id: r.user_id.to_string(),
            rating: r.rating.get(),
            content: r.content.clone(),
            status: r.status.as_str().to_owned(),
            moderation_note: r.moderation_note.clone(),
            helpful_count: r.helpful_count,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            replies: v.replies.iter().map(ReviewReplyResponse::from).collect(),
        }
    }
}

/// `ListReviewsResponse`: the page, and the rating over the ACTIVE reviews of the requested
/// event (and/or author), whatever the other filters.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewListResponse {
    pub reviews: Vec<ReviewResponse>,
    #[schema(value_type = String, example = "4.50")]
    pub avg_rating: String,
    pub review_count: u64,
    #[serde(flatten)]
    pub page: PageInfo,
}

impl From<&ReviewList> for ReviewListResponse {
    fn from(list: &ReviewList) -> Self {
        Self {
            reviews: list.page.items.iter().map(ReviewResponse::from).collect(),
            avg_rating: list.rating.average().to_string(),
            review_count: list.rating.count,
            page: PageInfo::of(&list.page),
        }
    }
}

/// The moderation queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModerationQueueResponse {
    pub reviews: Vec<ReviewResponse>,
    #[serde(flatten)]
    pub page: PageInfo,
}

/// The review after a moderation, and the loyalty points it earned its author now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModeratedReviewResponse {
    #[serde(flatten)]
    pub review: ReviewResponse,
    /// 0 on rejection and when the review had been credited before.
    pub points_credited: u32,
}

/// The outcome of a helpful vote.
#[derive(Debug, Serialize, ToSchema)]
pub struct HelpfulVoteResponse {
    pub review_id: i64,
    pub helpful_count: u32,
    /// False when the caller had voted before (nothing changed).
    pub counted: bool,
}

/// Filters of `GET /reviews` (`ListReviewsRequest`).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListReviewsParams {
    pub event_id: Option<i64>,
    /// Reviews by this author.
    pub user_id: Option<uuid::Uuid>,
    /// Comma-separated PENDING, ACTIVE, REJECTED (default ACTIVE; others for admins and for
    /// one's own reviews with `user_id`).
    #[param(pattern = r"^((PENDING|ACTIVE|REJECTED)(,(PENDING|ACTIVE|REJECTED))*)?$")]
    pub status: Option<String>,
    /// 1 to 5.
    #[param(minimum = 1, maximum = 5)]
    pub min_rating: Option<i64>,
    /// `newest` (default) or `helpful`.
    #[param(pattern = r"^(newest|helpful)?$")]
    pub sort: Option<String>,
    /// Page number, from 0 (at most 10000).
    #[param(minimum = 0, maximum = 10000)]
    pub page: Option<i64>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
}

/// Filters of `GET /events/{id}/reviews`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventReviewsParams {
    /// Comma-separated PENDING, ACTIVE, REJECTED (default ACTIVE; others for admins).
    #[param(pattern = r"^((PENDING|ACTIVE|REJECTED)(,(PENDING|ACTIVE|REJECTED))*)?$")]
    pub status: Option<String>,
    /// 1 to 5.
    #[param(minimum = 1, maximum = 5)]
    pub min_rating: Option<i64>,
    /// `newest` (default) or `helpful`.
    #[param(pattern = r"^(newest|helpful)?$")]
    pub sort: Option<String>,
    /// Page number, from 0 (at most 10000).
    #[param(minimum = 0, maximum = 10000)]
    pub page: Option<i64>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
}

fn created(view: &ReviewView) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/reviews/{}", view.review.id.value()),
        ))
        .json(ReviewResponse::from(view))
}

/// Writes a review of an attended event (booking COMPLETED, or CONFIRMED and the event over).
/// It is PENDING until an admin approves it.
#[utoipa::path(
    post, path = "/api/v1/reviews", tag = "reviews",
    request_body = CreateReviewRequest,
    responses(
        (status = 201, body = ReviewResponse, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "REVIEW_NOT_ALLOWED or ALREADY_REVIEWED", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/reviews")]
pub async fn create_review(
    state: web::Data<ApiState>,
    caller: Caller,
    body: web::Json<CreateReviewRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let view = state
        .reviews
        .create(
            &caller.0,
            CreateReviewCommand {
                event_id: EventId(b.event_id),
                rating: b.rating,
                content: b.content,
            },
        )
        .await?;
    Ok(created(&view))
}

/// Writes a review of this event; same as `POST /reviews`.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/reviews", tag = "reviews",
    params(("id" = i64, Path)),
    request_body = EventReviewRequest,
    responses(
        (status = 201, body = ReviewResponse, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "REVIEW_NOT_ALLOWED or ALREADY_REVIEWED", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/events/{id}/reviews")]
pub async fn create_event_review(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<EventReviewRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let view = state
        .reviews
        .create(
            &caller.0,
            CreateReviewCommand {
                event_id: EventId(id.into_inner()),
                rating: b.rating,
                content: b.content,
            },
        )
        .await?;
    Ok(created(&view))
}

/// Lists reviews (public: ACTIVE ones) with their replies and the average rating.
#[utoipa::path(
    get, path = "/api/v1/reviews", tag = "reviews",
    params(ListReviewsParams),
    responses(
        (status = 200, body = ReviewListResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such (visible) event", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reviews")]
pub async fn list_reviews(
    state: web::Data<ApiState>,
    caller: Caller,
    params: web::Query<ListReviewsParams>,
) -> Result<HttpResponse, ApiError> {
    list(&state, &caller, params.into_inner()).await
}

/// Lists this event's reviews; same as `GET /reviews?event_id=`.
#[utoipa::path(
    get, path = "/api/v1/events/{id}/reviews", tag = "reviews",
    params(("id" = i64, Path), EventReviewsParams),
    responses(
        (status = 200, body = ReviewListResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/events/{id}/reviews")]
pub async fn list_event_reviews(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
    params: web::Query<EventReviewsParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let params = ListReviewsParams {
        event_id: Some(id.into_inner()),
        user_id: None,
        status: p.status,
        min_rating: p.min_rating,
        sort: p.sort,
        page: p.page,
        size: p.size,
    };
    list(&state, &caller, params).await
}

/// Both review lists: the filters as the use case takes them, then the page.
async fn list(
    state: &ApiState,
    caller: &Caller,
    p: ListReviewsParams,
) -> Result<HttpResponse, ApiError> {
    let query = ListReviewsQuery {
        event_id: p.event_id.map(EventId),
        user_id: p.user_id.map(UserId),
        statuses: ReviewStatus::parse_list("status", p.status.as_deref().unwrap_or_default())?,
        min_rating: p.min_rating,
        sort: ReviewSort::parse_field("sort", p.sort.as_deref().unwrap_or_default())?,
        page: PageParams {
            page: p.page,
            size: p.size,
        }
        .request()?,
    };
    let list = state.reviews.list(&caller.0, query).await?;
    Ok(HttpResponse::Ok().json(ReviewListResponse::from(&list)))
}

/// One review with its replies (a review that is not public: its author and admins only).
#[utoipa::path(
    get, path = "/api/v1/reviews/{id}", tag = "reviews",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = ReviewResponse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reviews/{id}")]
pub async fn get_review(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .reviews
        .get(&caller.0, ReviewId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(ReviewResponse::from(&view)))
}

/// Edits one's own review (others: 404); it goes back to PENDING.
#[utoipa::path(
    put, path = "/api/v1/reviews/{id}", tag = "reviews",
    params(("id" = i64, Path)),
    request_body = UpdateReviewRequest,
    responses(
        (status = 200, body = ReviewResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "VERSION_CONFLICT", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[put("/reviews/{id}")]
pub async fn update_review(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<UpdateReviewRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let view = state
        .reviews
        .update(
            &caller.0,
            ReviewId(id.into_inner()),
            UpdateReviewCommand {
                rating: b.rating,
                content: b.content,
                expected_version: b.expected_version,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(ReviewResponse::from(&view)))
}

/// Replies to a review: the organizer of its event (another organizer: 404) or an admin.
#[utoipa::path(
    post, path = "/api/v1/reviews/{id}/replies", tag = "reviews",
    params(("id" = i64, Path)),
    request_body = ReplyRequest,
    responses(
        (status = 201, body = ReviewReplyResponse, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/reviews/{id}/replies")]
pub async fn reply_to_review(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<ReplyRequest>,
) -> Result<HttpResponse, ApiError> {
    let reply = state
        .reviews
        .reply(&caller.0, ReviewId(id.into_inner()), &body.content)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/reviews/{}", reply.review_id.value()),
        ))
        .json(ReviewReplyResponse::from(&reply)))
}

/// Marks a review helpful: once per caller (a repeated vote answers `counted: false`), never
/// one's own (409 `SELF_VOTE`).
#[utoipa::path(
    post, path = "/api/v1/reviews/{id}/helpful", tag = "reviews",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = HelpfulVoteResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "SELF_VOTE or INVALID_TRANSITION (not public)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/reviews/{id}/helpful")]
pub async fn vote_helpful(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let vote = state
        .reviews
        .vote_helpful(&caller.0, ReviewId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(HelpfulVoteResponse {
        review_id: vote.review.id.value(),
        helpful_count: vote.review.helpful_count,
        counted: vote.counted,
    }))
}

/// Approves (ACTIVE) or rejects (REJECTED) a review (ADMIN). The first approval credits the
/// author's loyalty points.
#[utoipa::path(
    post, path = "/api/v1/reviews/{id}/moderate", tag = "reviews",
    params(("id" = i64, Path)),
    request_body = ModerateReviewRequest,
    responses(
        (status = 200, body = ModeratedReviewResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "INVALID_TRANSITION (already in that state) or VERSION_CONFLICT", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[post("/reviews/{id}/moderate")]
pub async fn moderate_review(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<ModerateReviewRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let status = match b.status.trim().to_ascii_uppercase().as_str() {
        "ACTIVE" => ReviewStatus::Active,
        "REJECTED" => ReviewStatus::Rejected,
        _ => return Err(AppError::invalid("status", "must be ACTIVE or REJECTED").into()),
    };
    let done = state
        .reviews
        .moderate(
            &caller.0,
            ReviewId(id.into_inner()),
            ModerateReviewCommand {
                status,
                reason: b.reason,
                expected_version: b.expected_version,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(ModeratedReviewResponse {
        review: ReviewResponse::from(&done.view),
        points_credited: done.points_credited,
    }))
}

/// PENDING reviews, oldest first (ADMIN).
#[utoipa::path(
    get, path = "/api/v1/admin/reviews/moderation", tag = "reviews",
    params(PageParams),
    responses(
        (status = 200, body = ModerationQueueResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("gateway" = []))
)]
#[get("/admin/reviews/moderation")]
pub async fn moderation_queue(
    state: web::Data<ApiState>,
    caller: Caller,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .reviews
        .moderation_queue(&caller.0, params.into_inner().request()?)
        .await?;
    Ok(HttpResponse::Ok().json(ModerationQueueResponse {
        page: PageInfo::of(&page),
        reviews: page.items.iter().map(ReviewResponse::from).collect(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_review)
        .service(create_event_review)
        .service(list_reviews)
        .service(list_event_reviews)
        .service(get_review)
        .service(update_review)
        .service(reply_to_review)
        .service(vote_helpful)
        .service(moderate_review)
        .service(moderation_queue);
}
