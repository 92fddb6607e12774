//! Application results → proto responses. Optional text goes out as `""`, absent ids as `0`
//! (proto3 has no null for scalars); money as the nearest double.

use application::ports::{EventListing, EventStats};
use application::services::events::{EventDetails, EventWithOptions};
use application::services::{FavoriteView, PaymentView, ReviewView};
use application::{Page, PageRequest};
use domain::booking::Booking;
use domain::event::Event;
use domain::payment::Payment;
use domain::price_option::PriceOption;
use domain::review::{RatingSummary, ReviewReply};
use rust_decimal::prelude::ToPrimitive;

use crate::convert::money::money_out;
use crate::convert::time::time_out;
use crate::convert::{int32, int64};
use crate::pb;

pub(crate) fn event(event: &Event) -> pb::EventResponse {
    let details = &event.details;
    pb::EventResponse {
        id: event.id.value(),
        name: details.name.clone(),
        description: details.description.clone().unwrap_or_default(),
        short_description: details.short_description.clone().unwrap_or_default(),
        start_date: Some(time_out(event.schedule.start_date)),
        end_date: event.schedule.end_date.map(time_out),
        location: details.location.clone().unwrap_or_default(),
        location_coordinates: details.coordinates.map(|p| pb::LocationPoint {
            latitude: p.latitude,
            longitude: p.longitude,
        }),
        max_participants: int32(event.seats.capacity()),
        price: money_out(event.price),
        status: event.status.as_str().to_owned(),
        creator_id: event.creator_id.to_string(),
        created_at: Some(time_out(event.created_at)),
        updated_at: Some(time_out(event.updated_at)),
        category: details.category.clone().unwrap_or_default(),
        image_url: details.image_url.clone().unwrap_or_default(),
        booking_deadline_hours: int32(event.booking_deadline_hours),
        published_at: event.published_at.map(time_out),
        crew_id: event.crew_id.map_or(0, |c| c.value()),
        is_featured: event.is_featured,
        available_seats: int32(event.seats.available()),
        avg_rating: 0.0,
        review_count: 0,
        price_options: Vec::new(),
    }
}

fn with_rating(mut response: pb::EventResponse, rating: &RatingSummary) -> pb::EventResponse {
    response.avg_rating = average(rating);
    response.review_count = int32(rating.count);
    response
}

fn with_options(mut response: pb::EventResponse, options: &[PriceOption]) -> pb::EventResponse {
    response.price_options = options.iter().map(price_option).collect();
    response
}

fn price_option(o: &PriceOption) -> pb::PriceOption {
    pb::PriceOption {
        id: o.id.value(),
        name: o.name.clone(),
        price: money_out(o.price),
        description: o.description.clone().unwrap_or_default(),
        quantity_available: o.quantity_available.map_or(0, int32),
        is_active: o.is_active,
    }
}

pub(crate) fn event_with_options(found: &EventWithOptions) -> pb::EventResponse {
    with_options(event(&found.event), &found.price_options)
}

pub(crate) fn event_details(found: &EventDetails) -> pb::EventResponse {
    with_options(
        with_rating(event(&found.event), &found.rating),
        &found.price_options,
    )
}

pub(crate) fn event_listing(listing: &EventListing) -> pb::EventResponse {
    with_rating(event(&listing.event), &listing.rating)
}

/// `(total_pages, total_elements, page)` of a list answer.
pub(crate) fn page_info<T>(page: &Page<T>) -> (i32, i64, i32) {
    (
        int32(page.total_pages()),
        int64(page.total_elements),
        int32(page.page),
    )
}

/// The page a list request asks for: proto3's `size = 0` means "the default".
pub(crate) fn page_request(page: i32, size: i32) -> Result<PageRequest, application::AppError> {
    PageRequest::new(
        Some(i64::from(page)),
        (size != 0).then_some(i64::from(size)),
    )
}

/// A booking; its `event` is left out (one more read per booking; `GetEvent` has it).
pub(crate) fn booking(b: &Booking) -> pb::BookingResponse {
    pb::BookingResponse {
        id: b.id.value(),
        event_id: b.event_id.value(),
        user_id: b.user_id.to_string(),
        status: b.status.as_str().to_owned(),
        created_at: Some(time_out(b.created_at)),
        updated_at: Some(time_out(b.updated_at)),
        payment_deadline: Some(time_out(b.payment_deadline)),
        ticket_code: b
            .ticket_code
            .as_ref()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        quantity: int32(b.quantity.get()),
        total_price: money_out(b.total_price()),
        event: None,
    }
}

pub(crate) fn payment(p: &Payment, payment_url: Option<String>) -> pb::PaymentResponse {
    pb::PaymentResponse {
        id: p.id.value(),
        booking_id: p.booking_id.value(),
        amount: money_out(p.amount),
        status: p.status.as_str().to_owned(),
        gateway_reference: p.gateway_reference.clone().unwrap_or_default(),
        created_at: Some(time_out(p.created_at)),
        updated_at: Some(time_out(p.updated_at)),
        payment_method: p.payment_method.clone(),
        refund_amount: money_out(p.refund_amount),
        payment_url: payment_url.unwrap_or_default(),
    }
}

pub(crate) fn payment_view(v: &PaymentView) -> pb::PaymentResponse {
    payment(&v.payment, v.payment_url.clone())
}

pub(crate) fn stats(event_id: i64, s: &EventStats) -> pb::EventStatsResponse {
    pb::EventStatsResponse {
        event_id,
        total_bookings: int32(s.total_bookings),
        confirmed_bookings: int32(s.confirmed_bookings),
        canceled_bookings: int32(s.canceled_bookings),
        total_revenue: money_out(s.total_revenue),
        avg_rating: s.rating.average().to_f64().unwrap_or_default(),
        review_count: int32(s.rating.count),
        bookings_by_day: s
            .bookings_by_day
            .iter()
            .map(|(day, count)| (day.format("%Y-%m-%d").to_string(), int32(*count)))
            .collect(),
    }
}

pub(crate) fn favorite(v: &FavoriteView) -> pb::FavoriteResponse {
    let f = &v.favorite;
    pb::FavoriteResponse {
        id: f.id.value(),
        event_id: f.event_id.value(),
        user_id: f.user_id.to_string(),
        created_at: Some(time_out(f.created_at)),
        event: v.event.as_ref().map(event_listing),
    }
}

/// A review with its replies; `user` is left out (profiles live in the user service).
pub(crate) fn review(v: &ReviewView) -> pb::ReviewResponse {
    let r = &v.review;
    pb::ReviewResponse {
        id: r.id.value(),
        event_id: r.event_id.value(),
        user_id: r.user_id.to_string(),
        rating: i32::from(r.rating.get()),
        content: r.content.clone().unwrap_or_default(),
        status: r.status.as_str().to_owned(),
        created_at: Some(time_out(r.created_at)),
        updated_at: Some(time_out(r.updated_at)),
        helpful_count: int32(r.helpful_count),
        replies: v.replies.iter().map(review_reply).collect(),
        user: None,
    }
}

/// A reply; `author` is left out like `ReviewResponse.user`.
pub(crate) fn review_reply(r: &ReviewReply) -> pb::ReviewReplyResponse {
    pb::ReviewReplyResponse {
        id: r.id.value(),
        review_id: r.review_id.value(),
        author_id: r.author_id.to_string(),
        content: r.content.clone(),
        created_at: Some(time_out(r.created_at)),
        updated_at: Some(time_out(r.updated_at)),
        author: None,
    }
}

/// The average rating of a list answer (0 when nothing is rated).
pub(crate) fn average(rating: &RatingSummary) -> f64 {
    rating.average().to_f64().unwrap_or_default()
}
