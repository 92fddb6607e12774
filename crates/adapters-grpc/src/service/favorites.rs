//! Favorite rpcs: add (idempotent), remove (idempotent), list the caller's own.

use domain::EventId;
use tonic::{Request, Response, Status};

use super::EventGrpc;
use crate::auth::{Access, Least};
use crate::convert::id;
use crate::messages;
use crate::pb;
use crate::status::OrStatus;

type Reply<T> = Result<Response<T>, Status>;

/// Adding an event that already is a favorite answers the existing one: a retried call is
/// harmless (REST tells the two apart by 201/200; gRPC has one success code).
pub(super) async fn add(
    svc: &EventGrpc,
    request: Request<pb::AddFavoriteRequest>,
) -> Reply<pb::FavoriteResponse> {
    let ctx = svc.caller(&request, Access::Write, Least::User).await?;
    let event_id = id("event_id", request.into_inner().event_id).or_status()?;
    let added = svc
        .use_cases
        .favorites
        .add(&ctx, EventId(event_id))
        .await
        .or_status()?;
    Ok(Response::new(messages::favorite(&added.view)))
}

/// Removing something that is not a favorite succeeds too, like a retried REST `DELETE`.
pub(super) async fn remove(
    svc: &EventGrpc,
    request: Request<pb::RemoveFavoriteRequest>,
) -> Reply<()> {
    let ctx = svc.caller(&request, Access::Write, Least::User).await?;
    let event_id = id("event_id", request.into_inner().event_id).or_status()?;
    let _removed = svc
        .use_cases
        .favorites
        .remove(&ctx, EventId(event_id))
        .await
        .or_status()?;
    Ok(Response::new(()))
}

pub(super) async fn list(
    svc: &EventGrpc,
    request: Request<pb::ListFavoritesRequest>,
) -> Reply<pb::ListFavoritesResponse> {
    let ctx = svc.caller(&request, Access::Read, Least::User).await?;
    let r = request.into_inner();
    let page = messages::page_request(r.page, r.size).or_status()?;
    let page = svc.use_cases.favorites.list(&ctx, page).await.or_status()?;
    let (total_pages, total_elements, number) = messages::page_info(&page);
    Ok(Response::new(pb::ListFavoritesResponse {
        favorites: page.items.iter().map(messages::favorite).collect(),
        total_pages,
        total_elements,
        page: number,
    }))
}
