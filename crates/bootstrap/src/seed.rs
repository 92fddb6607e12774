//! `seed-demo`: a few categories and published events so that a new installation's catalog is
//! not empty. Running it again adds nothing new to the categories and adds another set of
//! events only when the catalog has none.

use application::services::CreateEventCommand;
use application::services::events::ListEventsQuery;
use application::{Actor, AppError, PageRequest, RequestContext, Role};
use chrono::Duration;
use domain::category::CategoryInput;
use domain::event::{EventDetailsInput, NewEventInput};
use domain::price_option::PriceOptionInput;
use domain::pricing::PricingRules;
use domain::{Money, UserId};

use crate::app::Services;

/// The demo organizer (also usable with `X-User-Id` in the README walk-through).
pub const DEMO_ORGANIZER: uuid::Uuid = uuid::uuid!("00000000-0000-4000-8000-00000000000a");
const DEMO_ADMIN: uuid::Uuid = uuid::uuid!("00000000-0000-4000-8000-0000000000ad");

fn ctx(id: uuid::Uuid, role: Role) -> RequestContext {
    let mut ctx = RequestContext::new(Actor::authenticated(UserId(id), [role]));
    ctx.request_id = Some("seed-demo".to_owned());
    ctx
}

fn money(text: &str) -> anyhow::Result<Money> {
    Money::parse(text).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Adds the demo data; answers a one-line report.
pub async fn seed_demo(services: &Services) -> anyhow::Result<String> {
    let admin = ctx(DEMO_ADMIN, Role::Admin);
    let organizer = ctx(DEMO_ORGANIZER, Role::Organizer);
    let mut categories = 0;
    for (name, description) in [
        ("Rafting", "White-water trips for every level"),
        ("Sea kayaking", "Coastal routes and island hopping"),
        ("Workshops", "Safety, navigation and paddling technique"),
    ] {
        let input = CategoryInput {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            parent_id: None,
            icon_url: None,
        };
        match services.categories.create(&admin, input).await {
            Ok(_) => categories += 1,
            Err(AppError::Conflict { .. }) => {}
            Err(e) => return Err(anyhow::anyhow!("category {name}: {e}")),
        }
    }

    let existing = services
        .events
        .list(
            &admin,
            ListEventsQuery {
                page: PageRequest::new(Some(0), Some(1)).map_err(|e| anyhow::anyhow!("{e}"))?,
                ..ListEventsQuery::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut events = 0;
    if existing.total_elements == 0 {
        let now = services.clock.now();
        let demo = [
            (
                "Rafting on the Msta",
                "Rafting",
                21,
                12,
                "4500.00",
                "Novgorod region",
            ),
            (
                "Ladoga skerries by kayak",
                "Sea kayaking",
                35,
                8,
                "12900.00",
                "Lake Ladoga",
            ),
            (
                "Paddling safety workshop",
                "Workshops",
                9,
                20,
                "1500.00",
                "Saint Petersburg",
            ),
            (
                "Sunset kayak tour",
                "Sea kayaking",
                3,
                10,
                "2500.00",
                "Gulf of Finland",
            ),
        ];
        for (name, category, days, seats, price, location) in demo {
            let cmd = CreateEventCommand {
                event: NewEventInput {
                    details: EventDetailsInput {
                        name: name.to_owned(),
                        description: Some(format!("{name}: a demo event created by seed-demo.")),
                        short_description: Some(format!("{category} near {location}")),
                        location: Some(location.to_owned()),
                        coordinates: None,
                        category: Some(category.to_owned()),
                        image_url: None,
                    },
                    start_date: now + Duration::days(days),
                    end_date: Some(now + Duration::days(days) + Duration::hours(6)),
                    max_participants: seats,
                    price: money(price)?,
                    booking_deadline_hours: Some(24),
                    max_seats_per_user: None,
                    publish_at: None,
                    is_featured: days > 20,
                    refund_policy: None,
                    pricing_rules: PricingRules::default(),
                },
                price_options: vec![PriceOptionInput {
                    name: "Student".to_owned(),
                    price: money(price)?.scaled(rust_decimal::Decimal::new(8, 1)),
                    description: Some("With a valid student card".to_owned()),
                    quantity_available: Some(seats / 4),
                    is_active: true,
                }],
                auto_publish: true,
            };
            services
                .events
                .create_event(&organizer, cmd)
                .await
                .map_err(|e| anyhow::anyhow!("event {name}: {e}"))?;
            events += 1;
        }
    }
    Ok(format!(
        "seed-demo: {categories} categories and {events} published events added (organizer {DEMO_ORGANIZER})"
    ))
}
