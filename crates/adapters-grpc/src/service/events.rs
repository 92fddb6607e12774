//! Event rpcs: create, update (wrapper fields = "given"), get, list, publish, cancel, stats.

use application::AppError;
use application::ports::EventSort;
use application::services::events::{
    CreateEventCommand, ListEventsQuery, PublishEventCommand, UpdateEventCommand,
};
use application::services::{CancelEventCommand, LimitKind};
use domain::EventId;
use domain::event::{EventDetailsInput, EventStatus, NewEventInput};
use domain::price_option::PriceOptionInput;
use tonic::{Request, Response, Status};

use super::EventGrpc;
use crate::auth::{Access, Least};
use crate::convert::money::money_in;
use crate::convert::time::{required_time_in, time_in};
use crate::convert::{nonzero, text};
use crate::messages;
use crate::pb;
use crate::status::OrStatus;

type Reply<T> = Result<Response<T>, Status>;

pub(super) async fn create(
    svc: &EventGrpc,
    request: Request<pb::CreateEventRequest>,
) -> Reply<pb::EventResponse> {
    let ctx = svc
        .caller(&request, Access::Write, Least::Organizer)
        .await?;
    let cmd = create_command(request.into_inner()).or_status()?;
    let created = svc
        .use_cases
        .events
        .create_event(&ctx, cmd)
        .await
        .or_status()?;
    Ok(Response::new(messages::event_with_options(&created)))
}

fn create_command(r: pb::CreateEventRequest) -> Result<CreateEventCommand, AppError> {
    let price_options = r
        .price_options
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            Ok(PriceOptionInput {
                name: o.name,
                price: money_in(&format!("price_options[{i}].price"), o.price)?,
                description: text(o.description),
                // 0 is proto3's "not given": no limit of its own.
                quantity_available: nonzero(i64::from(o.quantity_available)),
                is_active: o.is_active,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(CreateEventCommand {
        event: NewEventInput {
            details: EventDetailsInput {
                name: r.name,
                description: text(r.description),
                short_description: text(r.short_description),
                location: text(r.location),
                coordinates: r.location_coordinates.map(|p| (p.latitude, p.longitude)),
                category: text(r.category),
                image_url: text(r.image_url),
            },
            start_date: required_time_in("start_date", r.start_date)?,
            end_date: time_in("end_date", r.end_date)?,
            max_participants: i64::from(r.max_participants),
            price: money_in("price", r.price)?,
            booking_deadline_hours: Some(i64::from(r.booking_deadline_hours)),
            max_seats_per_user: None,
            publish_at: time_in("publish_at", r.publish_at)?,
            is_featured: false,
            refund_policy: None,
            pricing_rules: domain::pricing::PricingRules::default(),
        },
        price_options,
        auto_publish: r.auto_publish,
    })
}

pub(super) async fn update(
    svc: &EventGrpc,
    request: Request<pb::UpdateEventRequest>,
) -> Reply<pb::EventResponse> {
    let ctx = svc
        .caller(&request, Access::Write, Least::Organizer)
        .await?;
    let r = request.into_inner();
    let id = EventId(r.id);
    let cmd = update_command(r).or_status()?;
    let updated = svc
        .use_cases
        .events
        .update(&ctx, id, cmd)
        .await
        .or_status()?;
    Ok(Response::new(messages::event_with_options(&updated)))
}

/// Wrapper-typed fields (and message fields) present in the request are the ones to change;
/// a blank string clears an optional text field, as in REST.
fn update_command(r: pb::UpdateEventRequest) -> Result<UpdateEventCommand, AppError> {
    Ok(UpdateEventCommand {
        expected_version: None,
        name: r.name,
        description: r.description,
        short_description: r.short_description,
        location: r.location,
        coordinates: r
            .location_coordinates
            .map(|p| Some((p.latitude, p.longitude))),
        category: r.category,
        image_url: r.image_url,
        start_date: time_in("start_date", r.start_date)?,
        end_date: time_in("end_date", r.end_date)?.map(Some),
        max_participants: r.max_participants.map(i64::from),
        price: r.price.map(|p| money_in("price", p)).transpose()?,
        booking_deadline_hours: r.booking_deadline_hours.map(i64::from),
        ..UpdateEventCommand::default()
    })
}

pub(super) async fn get(
    svc: &EventGrpc,
    request: Request<pb::GetEventRequest>,
) -> Reply<pb::EventResponse> {
    let ctx = svc.caller(&request, Access::Read, Least::Anyone).await?;
    let id = EventId(request.into_inner().id);
    let found = svc.use_cases.events.get(&ctx, id).await.or_status()?;
    Ok(Response::new(messages::event_details(&found)))
}

pub(super) async fn list(
    svc: &EventGrpc,
    request: Request<pb::ListEventsRequest>,
) -> Reply<pb::ListEventsResponse> {
    let ctx = svc.caller(&request, Access::Read, Least::Anyone).await?;
    svc.limit(LimitKind::EventList, &ctx).await?;
    let query = list_query(request.into_inner()).or_status()?;
    let page = svc.use_cases.events.list(&ctx, query).await.or_status()?;
    let (total_pages, total_elements, number) = messages::page_info(&page);
    Ok(Response::new(pb::ListEventsResponse {
        events: page.items.iter().map(messages::event_listing).collect(),
        total_pages,
        total_elements,
        page: number,
    }))
}

fn list_query(r: pb::ListEventsRequest) -> Result<ListEventsQuery, AppError> {
    Ok(ListEventsQuery {
        // One status or a comma-separated list, as in REST.
        statuses: EventStatus::parse_list("status", &r.status)?,
        category: text(r.category),
        start_from: time_in("start_date_from", r.start_date_from)?,
        start_to: time_in("start_date_to", r.start_date_to)?,
        search: text(r.search_query),
        only_featured: r.only_featured,
        mine: false,
        sort: EventSort::parse_field("sort_by", &r.sort_by)?,
        descending: r.sort_desc,
        page: messages::page_request(r.page, r.size)?,
    })
}

pub(super) async fn publish(
    svc: &EventGrpc,
    request: Request<pb::PublishEventRequest>,
) -> Reply<pb::EventResponse> {
    let ctx = svc
        .caller(&request, Access::Write, Least::Organizer)
        .await?;
    let r = request.into_inner();
    let cmd = PublishEventCommand {
        publish_at: time_in("publish_at", r.publish_at).or_status()?,
        expected_version: None,
    };
    let published = svc
        .use_cases
        .events
        .publish(&ctx, EventId(r.id), cmd)
        .await
        .or_status()?;
    Ok(Response::new(messages::event_with_options(&published)))
}

pub(super) async fn cancel(
    svc: &EventGrpc,
    request: Request<pb::CancelEventRequest>,
) -> Reply<pb::EventResponse> {
    let ctx = svc
        .caller(&request, Access::Write, Least::Organizer)
        .await?;
    let r = request.into_inner();
    let cmd = CancelEventCommand {
        reason: text(r.reason),
        notify_participants: r.notify_participants,
        force_majeure: false,
        expected_version: None,
    };
    let done = svc
        .use_cases
        .bookings
        .cancel_event(&ctx, EventId(r.id), cmd)
        .await
        .or_status()?;
    Ok(Response::new(messages::event(&done.event)))
}

pub(super) async fn stats(
    svc: &EventGrpc,
    request: Request<pb::GetEventStatsRequest>,
) -> Reply<pb::EventStatsResponse> {
    let ctx = svc.caller(&request, Access::Read, Least::Organizer).await?;
    let r = request.into_inner();
    let from = time_in("start_date", r.start_date).or_status()?;
    let to = time_in("end_date", r.end_date).or_status()?;
    let stats = svc
        .use_cases
        .events
        .stats(&ctx, EventId(r.event_id), from, to)
        .await
        .or_status()?;
    Ok(Response::new(messages::stats(r.event_id, &stats)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_wrappers_change_nothing_and_present_ones_do() {
        let cmd = update_command(pb::UpdateEventRequest {
            id: 1,
            description: Some(String::new()),
            max_participants: Some(0),
            price: Some(12.5),
            ..pb::UpdateEventRequest::default()
        })
        .unwrap();
        assert_eq!(cmd.name, None);
        assert_eq!(
            cmd.description.as_deref(),
            Some(""),
            "a blank string clears"
        );
        assert_eq!(
            cmd.max_participants,
            Some(0),
            "zero in a wrapper is a value"
        );
        assert_eq!(cmd.price.map(|m| m.to_string()).as_deref(), Some("12.50"));
        assert!(cmd.start_date.is_none() && cmd.end_date.is_none());
        assert!(
            update_command(pb::UpdateEventRequest::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn statuses_and_sorts_are_checked() {
        let query = |status: &str, sort_by: &str| {
            list_query(pb::ListEventsRequest {
                status: status.into(),
                sort_by: sort_by.into(),
                ..Default::default()
            })
        };
        let q = query("published, completed", "").unwrap();
        assert_eq!(
            (q.statuses, q.sort),
            (
                vec![EventStatus::Published, EventStatus::Completed],
                EventSort::StartDate
            )
        );
        assert!(query("", "").unwrap().statuses.is_empty());
        for (status, sort_by, field) in [("SOLD", "", "status"), ("", "name", "sort_by")] {
            match query(status, sort_by) {
                Err(AppError::Validation { fields }) => assert_eq!(fields[0].field, field),
                other => panic!("{status}/{sort_by}: {other:?}"),
            }
        }
    }
}
