//! Whole entity rows with every column the tests do not care about filled in, so that a test
//! names only what it is about (`Model { status: Set(..), ..rows::event(..) }`).

use adapters_postgres::entities::{bookings, events};
use adapters_postgres::{SeaTx, SeaUnitOfWork};
use domain::{EventId, Timestamp, UserId};
use ports::AppError;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    Set, SqlErr,
};

/// A PUBLISHED event of 100 seats at 10.00 with no optional detail, created (and last
/// updated) at `created`.
pub fn event(
    name: &str,
    creator: UserId,
    start: Timestamp,
    created: Timestamp,
) -> events::ActiveModel {
    events::ActiveModel {
        name: Set(name.to_owned()),
        description: Set(None),
        short_description: Set(None),
        start_date: Set(start),
        end_date: Set(None),
        location: Set(None),
        latitude: Set(None),
        longitude: Set(None),
        max_participants: Set(100),
        available_seats: Set(100),
        price_minor: Set(1_000),
        status: Set("PUBLISHED".to_owned()),
        creator_id: Set(creator.0),
        category: Set(None),
        image_url: Set(None),
        booking_deadline_hours: Set(24),
        publish_at: Set(None),
        published_at: Set(None),
        canceled_reason: Set(None),
        is_featured: Set(false),
        refund_policy: Set(None),
        pricing_rules: Set(serde_json::json!({})),
        crew_status: Set("NONE".to_owned()),
        crew_id: Set(None),
        views: Set(0),
        version: Set(0),
        created_at: Set(created),
        updated_at: Set(created),
        ..Default::default()
    }
}

/// A booking of one seat at `price_minor` with no discount, option, code or ticket, created
/// (and last updated) at `created`.
pub fn booking(
    event: EventId,
    who: UserId,
    status: &str,
    price_minor: i64,
    created: Timestamp,
    deadline: Timestamp,
) -> bookings::ActiveModel {
    bookings::ActiveModel {
        event_id: Set(event.0),
        user_id: Set(who.0),
        quantity: Set(1),
        price_option_id: Set(None),
        promo_code_id: Set(None),
        waitlist_entry_id: Set(None),
        status: Set(status.to_owned()),
        payment_deadline: Set(deadline),
        ticket_code: Set(None),
        unit_price_minor: Set(price_minor),
        base_minor: Set(price_minor),
        dynamic_adjustment_minor: Set(0),
        group_discount_minor: Set(0),
        promo_discount_minor: Set(0),
        loyalty_discount_minor: Set(0),
        loyalty_points_used: Set(0),
        total_price_minor: Set(price_minor),
        canceled_reason: Set(None),
        version: Set(0),
        created_at: Set(created),
        updated_at: Set(created),
        ..Default::default()
    }
}

/// Stores `row` straight through the pool, past the repository that would refuse it, and opens
/// the transaction that is to read it back.
pub async fn stored_then_begin<A>(
    db: &DatabaseConnection,
    row: A,
) -> (<A::Entity as EntityTrait>::Model, SeaTx)
where
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let stored = row.insert(db).await.unwrap();
    let tx = SeaUnitOfWork::new(db.clone()).begin_tx().await.unwrap();
    (stored, tx)
}

/// A stored row the domain cannot read is an internal error, not bad input from the caller.
pub fn assert_corrupt(err: &AppError) {
    assert_eq!(err.code(), "INTERNAL_ERROR", "{err:?}");
}

/// The database itself refused a second row for the same unique key.
pub fn assert_unique_violation(err: &DbErr) {
    assert!(
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
        "{err}"
    );
}
