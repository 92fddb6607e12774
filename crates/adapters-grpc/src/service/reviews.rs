//! Review rpcs: create, update, list, reply. Moderation and helpful votes are REST only (not
//! in the contract).

use application::AppError;
use application::services::{CreateReviewCommand, ListReviewsQuery, UpdateReviewCommand};
use domain::review::ReviewStatus;
use domain::{EventId, ReviewId, UserId};
use tonic::{Request, Response, Status};
use validator::ValidationError;

use super::EventGrpc;
use crate::auth::{Access, Least};
use crate::convert::{id, nonzero, text};
use crate::messages;
use crate::pb;
use crate::status::OrStatus;
use crate::validation;

type Reply<T> = Result<Response<T>, Status>;

/// `UpdateReviewRequest` needs a new rating or a new content: `rating = 0` and `content = ""`
/// mean "keep" (proto3 has no absent scalars), so the content cannot be cleared over gRPC.
pub(crate) fn rating_or_content(r: &pb::UpdateReviewRequest) -> Result<(), ValidationError> {
    if r.rating == 0 && text(r.content.clone()).is_none() {
        return Err(validation::violation(
            "rating",
            "give a new rating (1 to 5) or a new content",
        ));
    }
    Ok(())
}

pub(super) async fn create(
    svc: &EventGrpc,
    request: Request<pb::CreateReviewRequest>,
) -> Reply<pb::ReviewResponse> {
    let ctx = svc.caller(&request, Access::Write, Least::User).await?;
    let r = request.into_inner();
    // proto3 cannot send "no rating", and a review needs one: 0 is refused like any value
    // outside 1..=5 (the message's rules), before any use case runs.
    validation::validate(&r).or_status()?;
    let cmd = CreateReviewCommand {
        event_id: EventId(id("event_id", r.event_id).or_status()?),
        rating: i64::from(r.rating),
        content: text(r.content),
    };
    let view = svc.use_cases.reviews.create(&ctx, cmd).await.or_status()?;
    Ok(Response::new(messages::review(&view)))
}

/// The command of a valid request (see `rating_or_content`).
fn update_command(r: &pb::UpdateReviewRequest) -> Result<UpdateReviewCommand, AppError> {
    validation::validate(r)?;
    Ok(UpdateReviewCommand {
        rating: nonzero(r.rating).map(i64::from),
        content: text(r.content.clone()),
        expected_version: None,
    })
}

pub(super) async fn update(
    svc: &EventGrpc,
    request: Request<pb::UpdateReviewRequest>,
) -> Reply<pb::ReviewResponse> {
    let ctx = svc.caller(&request, Access::Write, Least::User).await?;
    let r = request.into_inner();
    let review_id = id("id", r.id).or_status()?;
    let cmd = update_command(&r).or_status()?;
    let view = svc
        .use_cases
        .reviews
        .update(&ctx, ReviewId(review_id), cmd)
        .await
        .or_status()?;
    Ok(Response::new(messages::review(&view)))
}

fn list_query(r: pb::ListReviewsRequest) -> Result<ListReviewsQuery, AppError> {
    let event_id = nonzero(r.event_id)
        .map(|e| id("event_id", e).map(EventId))
        .transpose()?;
    let user_id = text(r.user_id)
        .map(|u| {
            uuid::Uuid::parse_str(u.trim())
                .map(UserId)
                .map_err(|_| AppError::invalid("user_id", "must be a UUID"))
        })
        .transpose()?;
    Ok(ListReviewsQuery {
        event_id,
        user_id,
        statuses: ReviewStatus::parse_list("status", &r.status)?,
        min_rating: None,
        sort: application::ports::ReviewSort::default(),
        page: messages::page_request(r.page, r.size)?,
    })
}

/// Public: ACTIVE reviews for anyone; other statuses for admins and for authors listing
/// their own (`user_id` = the caller). `avg_rating` is over the ACTIVE reviews of the scope.
pub(super) async fn list(
    svc: &EventGrpc,
    request: Request<pb::ListReviewsRequest>,
) -> Reply<pb::ListReviewsResponse> {
    let ctx = svc.caller(&request, Access::Read, Least::Anyone).await?;
    let query = list_query(request.into_inner()).or_status()?;
    let found = svc.use_cases.reviews.list(&ctx, query).await.or_status()?;
    let (total_pages, total_elements, number) = messages::page_info(&found.page);
    Ok(Response::new(pb::ListReviewsResponse {
        reviews: found.page.items.iter().map(messages::review).collect(),
        total_pages,
        total_elements,
        page: number,
        avg_rating: messages::average(&found.rating),
    }))
}

/// The event's organizer or an admin (USER: `PERMISSION_DENIED`; another organizer:
/// `NOT_FOUND`).
pub(super) async fn reply(
    svc: &EventGrpc,
    request: Request<pb::ReplyToReviewRequest>,
) -> Reply<pb::ReviewReplyResponse> {
    let ctx = svc
        .caller(&request, Access::Write, Least::Organizer)
        .await?;
    let r = request.into_inner();
    let review_id = id("review_id", r.review_id).or_status()?;
    let reply = svc
        .use_cases
        .reviews
        .reply(&ctx, ReviewId(review_id), &r.content)
        .await
        .or_status()?;
    Ok(Response::new(messages::review_reply(&reply)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(err: &AppError) -> Vec<String> {
        match err {
            AppError::Validation { fields } => fields.iter().map(|f| f.field.clone()).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn ratings_outside_one_to_five_are_refused() {
        for bad in [0, -1, 6, i32::MAX] {
            let request = pb::CreateReviewRequest {
                event_id: 1,
                rating: bad,
                content: String::new(),
            };
            let err = validation::validate(&request).unwrap_err();
            assert_eq!(fields(&err), ["rating"], "{bad}");
        }
        let five = pb::CreateReviewRequest {
            event_id: 1,
            rating: 5,
            content: String::new(),
        };
        assert!(validation::validate(&five).is_ok());
    }

    #[test]
    fn an_update_keeps_what_is_not_given_and_needs_something() {
        let only_content = update_command(&pb::UpdateReviewRequest {
            id: 1,
            rating: 0,
            content: "better".to_owned(),
        })
        .unwrap();
        assert_eq!(only_content.rating, None);
        assert_eq!(only_content.content.as_deref(), Some("better"));
        let nothing = pb::UpdateReviewRequest {
            id: 1,
            ..Default::default()
        };
        assert_eq!(fields(&update_command(&nothing).unwrap_err()), ["rating"]);
        let bad = pb::UpdateReviewRequest {
            id: 1,
            rating: 9,
            content: String::new(),
        };
        assert_eq!(fields(&update_command(&bad).unwrap_err()), ["rating"]);
    }

    #[test]
    fn list_filters_are_checked() {
        let q = list_query(pb::ListReviewsRequest {
            status: "active, pending".to_owned(),
            event_id: 4,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(q.statuses, [ReviewStatus::Active, ReviewStatus::Pending]);
        assert_eq!(q.event_id, Some(EventId(4)));
        for (bad, field) in [
            (
                pb::ListReviewsRequest {
                    status: "LIVE".to_owned(),
                    ..Default::default()
                },
                "status",
            ),
            (
                pb::ListReviewsRequest {
                    user_id: "nobody".to_owned(),
                    ..Default::default()
                },
                "user_id",
            ),
            (
                pb::ListReviewsRequest {
                    event_id: -3,
                    ..Default::default()
                },
                "event_id",
            ),
            (
                pb::ListReviewsRequest {
                    size: 101,
                    ..Default::default()
                },
                "size",
            ),
        ] {
            assert_eq!(fields(&list_query(bad).unwrap_err()), [field]);
        }
    }
}
