//! Fixture rows for the booking and payment tests, written straight through the entities.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::rows;
use adapters_postgres::entities::{events, price_options, promo_codes, waitlist};
use chrono::{Duration, TimeZone, Utc};
use domain::booking::NewBooking;
use domain::pricing::PriceBreakdown;
use domain::{
    EventId, Money, PriceOptionId, PromoCodeId, Quantity, Timestamp, UserId, WaitlistEntryId,
};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};

/// A fixed instant (whole seconds: round-trips exactly on both backends).
pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2030, 6, 1, 12, 0, 0).unwrap()
}

pub fn at(hours: i64) -> Timestamp {
    t0() + Duration::hours(hours)
}

pub fn user(n: u128) -> UserId {
    UserId(uuid::Uuid::from_u128(n))
}

pub async fn event_with(
    db: &DatabaseConnection,
    seats: i32,
    status: &str,
    creator: UserId,
    start: Timestamp,
) -> EventId {
    let model = events::ActiveModel {
        max_participants: Set(seats.max(1)),
        available_seats: Set(seats),
        status: Set(status.to_owned()),
        ..rows::event("Rafting on the Soča", creator, start, t0())
    };
    EventId(model.insert(db).await.unwrap().id)
}

/// A PUBLISHED event starting in ten days, created by user 999.
pub async fn event(db: &DatabaseConnection, seats: i32) -> EventId {
    event_with(db, seats, "PUBLISHED", user(999), at(240)).await
}

pub async fn event_row(db: &DatabaseConnection, id: EventId) -> events::Model {
    events::Entity::find_by_id(id.0)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

pub async fn seats(db: &DatabaseConnection, id: EventId) -> i32 {
    event_row(db, id).await.available_seats
}

pub async fn price_option(
    db: &DatabaseConnection,
    event: EventId,
    stock: Option<i32>,
    active: bool,
) -> PriceOptionId {
    let model = price_options::ActiveModel {
        event_id: Set(event.0),
        name: Set("Early bird".to_owned()),
        price_minor: Set(800),
        description: Set(None),
        quantity_available: Set(stock),
        is_active: Set(active),
        created_at: Set(t0()),
        ..Default::default()
    };
    PriceOptionId(model.insert(db).await.unwrap().id)
}

pub async fn price_option_stock(db: &DatabaseConnection, id: PriceOptionId) -> Option<i32> {
    price_options::Entity::find_by_id(id.0)
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .quantity_available
}

pub async fn promo(db: &DatabaseConnection, code: &str, max_uses: Option<i32>) -> PromoCodeId {
    let model = promo_codes::ActiveModel {
        code: Set(code.to_owned()),
        discount_percent_bp: Set(Some(1_000)),
        discount_amount_minor: Set(None),
        valid_from: Set(t0()),
        valid_until: Set(None),
        max_uses: Set(max_uses),
        current_uses: Set(0),
        event_id: Set(None),
        is_active: Set(true),
        created_by: Set(user(999).0),
        version: Set(0),
        created_at: Set(t0()),
        updated_at: Set(t0()),
        ..Default::default()
    };
    PromoCodeId(model.insert(db).await.unwrap().id)
}

pub async fn promo_uses(db: &DatabaseConnection, id: PromoCodeId) -> i32 {
    promo_codes::Entity::find_by_id(id.0)
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .current_uses
}

pub async fn waitlist_entry(
    db: &DatabaseConnection,
    event: EventId,
    who: UserId,
    status: &str,
) -> WaitlistEntryId {
    let model = waitlist::ActiveModel {
        event_id: Set(event.0),
        user_id: Set(who.0),
        priority: Set(1),
        quantity: Set(1),
        status: Set(status.to_owned()),
        held_seats: Set(0),
        notified_at: Set(None),
        hold_expires_at: Set(None),
        created_at: Set(t0()),
        updated_at: Set(t0()),
        ..Default::default()
    };
    WaitlistEntryId(model.insert(db).await.unwrap().id)
}

/// 10.00 a seat, no adjustments.
pub fn price(quantity: u32) -> PriceBreakdown {
    let unit = Money::from_minor_units(1_000);
    let base = unit.times(quantity);
    PriceBreakdown {
        unit_price: unit,
        quantity,
        base,
        dynamic_adjustment: Money::ZERO,
        group_discount: Money::ZERO,
        promo_discount: Money::ZERO,
        loyalty_discount: Money::ZERO,
        loyalty_points_used: 0,
        total: base,
    }
}

pub fn new_booking(event: EventId, who: UserId, quantity: u32) -> NewBooking {
    NewBooking {
        event_id: event,
        user_id: who,
        quantity: Quantity::new(i64::from(quantity), 100).unwrap(),
        price_option_id: None,
        promo_code_id: None,
        waitlist_entry_id: None,
        price: price(quantity),
        payment_deadline: at(1),
        created_at: t0(),
    }
}
