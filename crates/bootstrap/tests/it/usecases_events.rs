//! Event and category use cases against a real database: SQLite always, PostgreSQL when it
//! answers (a private database per test, see the `test-db` crate; `SKIPPED` when absent, a
//! failure when `EVENT_TEST_REQUIRE_SERVICES=1`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::sync::Arc;

use adapters_postgres::SeaUnitOfWork;
use application::clock::ManualClock;
use application::outbox::{DomainEventType, OutboxRecord};
use application::ports::{AuditQuery, AuditRecord, EventSort, UnitOfWork};
use application::services::events::{
    CreateEventCommand, ListEventsQuery, PublishEventCommand, UpdateEventCommand,
};
use application::services::{CategoryService, EventService};
use application::{Actor, AppError, PageRequest, RequestContext, Role};
use chrono::{Duration, TimeZone, Utc};
use domain::category::CategoryInput;
use domain::event::{Event, EventDetailsInput, EventStatus, NewEventInput};
use domain::price_option::PriceOptionInput;
use domain::pricing::PricingRules;
use domain::{CategoryId, EventId, Money, Timestamp, UserId};

const ORG_A: u128 = 0xA;
const ORG_B: u128 = 0xB;
const USER: u128 = 0x1;
const ADMIN: u128 = 0x9;

fn start() -> Timestamp {
    Utc.with_ymd_and_hms(2030, 6, 1, 10, 0, 0).unwrap()
}

/// One test's database and services.
struct Env {
    uow: Arc<SeaUnitOfWork>,
    clock: Arc<ManualClock>,
    events: EventService,
    categories: CategoryService,
    /// Removes the database when the test ends.
    _db: test_db::TestDb,
}

impl Env {
    async fn on(backend: test_db::Backend) -> Option<Self> {
        let db = test_db::TestDb::migrated(backend).await?;
        let uow = Arc::new(db.uow());
        let clock = Arc::new(ManualClock::new(start()));
        Some(Self {
            events: EventService::new(uow.clone(), clock.clone()),
            categories: CategoryService::new(uow.clone(), clock.clone()),
            uow,
            clock,
            _db: db,
        })
    }

    fn now(&self) -> Timestamp {
        application::clock::Clock::now(self.clock.as_ref())
    }

    /// Every unsent outbox row, oldest first (read in a transaction that is rolled back).
    async fn outbox(&self) -> Vec<OutboxRecord> {
        let tx = self.uow.begin().await.unwrap();
        tx.outbox()
            .claim_batch(self.now() + Duration::days(3650), 1000)
            .await
            .unwrap()
    }

    async fn outbox_of(&self, id: EventId) -> Vec<DomainEventType> {
        self.outbox()
            .await
            .into_iter()
            .filter(|r| {
                r.message.aggregate_type == "event" && r.message.aggregate_id == id.to_string()
            })
            .map(|r| r.message.event_type)
            .collect()
    }

    async fn audits(&self, action: &str, entity_id: impl ToString) -> Vec<AuditRecord> {
        let tx = self.uow.begin().await.unwrap();
        let query = AuditQuery {
            action: Some(action.to_owned()),
            entity_id: Some(entity_id.to_string()),
            ..Default::default()
        };
        let page = tx.audit().search(&query).await.unwrap();
        page.items
    }

    /// Changes an event directly through the repository (what other use cases would do).
    async fn alter(&self, id: EventId, change: impl FnOnce(&mut Event, Timestamp)) {
        let tx = self.uow.begin().await.unwrap();
        let mut event = tx.events().find_for_update(id).await.unwrap().unwrap();
        change(&mut event, self.now());
        tx.events().update(&event).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn create(&self, who: &RequestContext, cmd: CreateEventCommand) -> Event {
        self.events.create_event(who, cmd).await.unwrap().event
    }

    async fn create_published(&self, who: &RequestContext, cmd: CreateEventCommand) -> Event {
        self.create(
            who,
            CreateEventCommand {
                auto_publish: true,
                ..cmd
            },
        )
        .await
    }
}

macro_rules! on_both {
    ($name:ident, |$env:ident| $body:block) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $env = Env::on(test_db::Backend::Sqlite).await.unwrap();
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some($env) = Env::on(test_db::Backend::Postgres).await {
                    $body
                }
            }
        }
    };
}

fn ctx(n: u128, role: Role) -> RequestContext {
    RequestContext::new(Actor::authenticated(
        UserId(uuid::Uuid::from_u128(n)),
        [role],
    ))
}

fn guest() -> RequestContext {
    RequestContext::new(Actor::guest())
}

fn org_a() -> RequestContext {
    ctx(ORG_A, Role::Organizer)
}

fn org_b() -> RequestContext {
    ctx(ORG_B, Role::Organizer)
}

fn user() -> RequestContext {
    ctx(USER, Role::User)
}

fn admin() -> RequestContext {
    ctx(ADMIN, Role::Admin)
}

fn event(name: &str) -> CreateEventCommand {
    CreateEventCommand {
        event: NewEventInput {
            details: EventDetailsInput {
                name: name.into(),
                description: Some("A day on the water".into()),
                ..Default::default()
            },
            start_date: start() + Duration::days(10),
            end_date: Some(start() + Duration::days(10) + Duration::hours(6)),
            max_participants: 10,
            price: Money::parse("1000").unwrap(),
            booking_deadline_hours: None,
            max_seats_per_user: None,
            publish_at: None,
            is_featured: false,
            refund_policy: None,
            pricing_rules: PricingRules::default(),
        },
        price_options: vec![],
        auto_publish: false,
    }
}

fn priced(name: &str, price: &str, category: &str, days: i64) -> CreateEventCommand {
    let mut cmd = event(name);
    cmd.event.price = Money::parse(price).unwrap();
    cmd.event.details.category = Some(category.into());
    cmd.event.start_date = start() + Duration::days(days);
    cmd.event.end_date = None;
    cmd
}

fn is_not_found(err: &AppError) -> bool {
    matches!(err, AppError::NotFound { entity: "event" })
}

on_both!(create_publish_get_and_draft_visibility, |env| {
    let mut cmd = event("Rafting on the Mzymta");
    cmd.price_options = vec![
        PriceOptionInput {
            name: "Student".into(),
            price: Money::parse("700").unwrap(),
            description: None,
            quantity_available: Some(3),
            is_active: true,
        },
        PriceOptionInput {
            name: "Hidden".into(),
            price: Money::parse("1").unwrap(),
            description: None,
            quantity_available: None,
            is_active: false,
        },
    ];
    let draft = env.create(&org_a(), cmd).await;
    assert_eq!(draft.status, EventStatus::Draft);

    for caller in [guest(), user(), org_b()] {
        let err = env.events.get(&caller, draft.id).await.unwrap_err();
        assert!(is_not_found(&err), "{caller:?}: {err:?}");
    }
    for caller in [org_a(), admin()] {
        let details = env.events.get(&caller, draft.id).await.unwrap();
        assert_eq!(details.event.status, EventStatus::Draft);
        assert_eq!(details.price_options.len(), 2, "managers see every option");
    }

    let published = env
        .events
        .publish(&org_a(), draft.id, PublishEventCommand::default())
        .await
        .unwrap();
    assert_eq!(published.event.status, EventStatus::Published);
    assert_eq!(published.event.published_at, Some(env.now()));

    let seen = env.events.get(&guest(), draft.id).await.unwrap();
    assert_eq!(seen.event.status, EventStatus::Published);
    assert_eq!(seen.event.seats.available(), 10);
    assert_eq!(seen.rating.count, 0);
    assert_eq!(
        seen.price_options
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>(),
        vec!["Student"]
    );

    assert_eq!(
        env.outbox_of(draft.id).await,
        vec![
            DomainEventType::EventCreated,
            DomainEventType::EventPublished
        ]
    );
    assert_eq!(env.audits("event.publish", draft.id).await.len(), 1);

    let err = env
        .events
        .publish(&org_a(), draft.id, PublishEventCommand::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_TRANSITION");
    let err = env
        .events
        .get(&guest(), EventId(draft.id.0 + 1000))
        .await
        .unwrap_err();
    assert!(is_not_found(&err));
});

on_both!(catalog_filters_scoping_sort_and_pagination, |env| {
    let cheap = env
        .create_published(&org_a(), priced("Kayak school", "500", "kayak", 5))
        .await;
    let mid = env
        .create_published(&org_a(), priced("River rafting", "1500", "rafting", 6))
        .await;
    let mut featured = priced("Rafting marathon", "2500", "rafting", 7);
    featured.event.is_featured = true;
    let top = env.create_published(&org_b(), featured).await;
    let draft = env
        .create(&org_b(), priced("Secret rafting", "9000", "rafting", 8))
        .await;
    let done = env
        .create_published(&org_b(), priced("Past rafting", "100", "rafting", 1))
        .await;
    let gone = env
        .create_published(&org_a(), priced("Canceled rafting", "100", "rafting", 9))
        .await;
    env.alter(gone.id, |e, now| {
        let _ = e.cancel("flood", now).unwrap();
    })
    .await;
    env.clock.advance(Duration::days(2));
    env.alter(done.id, |e, now| {
        let _ = e.complete(now).unwrap();
    })
    .await;

    let ids = |page: &application::Page<application::ports::EventListing>| {
        page.items.iter().map(|l| l.event.id).collect::<Vec<_>>()
    };

    // Guests: PUBLISHED by default, COMPLETED when asked, never drafts.
    let page = env
        .events
        .list(&guest(), ListEventsQuery::default())
        .await
        .unwrap();
    assert_eq!(page.total_elements, 3);
    assert_eq!(
        ids(&page),
        vec![cheap.id, mid.id, top.id],
        "start date ascending"
    );
    let page = env
        .events
        .list(
            &user(),
            ListEventsQuery {
                statuses: vec![EventStatus::Completed],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![done.id]);
    let err = env
        .events
        .list(
            &guest(),
            ListEventsQuery {
                statuses: vec![EventStatus::Draft],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unauthenticated), "{err:?}");

    // Category, search, featured.
    let page = env
        .events
        .list(
            &guest(),
            ListEventsQuery {
                category: Some("rafting".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![mid.id, top.id]);
    let page = env
        .events
        .list(
            &guest(),
            ListEventsQuery {
                search: Some("marathon".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![top.id]);
    let page = env
        .events
        .list(
            &guest(),
            ListEventsQuery {
                only_featured: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![top.id]);

    // Date range.
    let page = env
        .events
        .list(
            &guest(),
            ListEventsQuery {
                start_from: Some(start() + Duration::days(6)),
                start_to: Some(start() + Duration::days(6)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![mid.id]);

    // Mine: an organizer's own events in every status.
    let page = env
        .events
        .list(
            &org_b(),
            ListEventsQuery {
                mine: true,
                sort: EventSort::Price,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![done.id, top.id, draft.id]);
    let page = env
        .events
        .list(
            &org_a(),
            ListEventsQuery {
                mine: true,
                statuses: vec![EventStatus::Canceled],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![gone.id]);

    // Admins see every status.
    let page = env
        .events
        .list(&admin(), ListEventsQuery::default())
        .await
        .unwrap();
    assert_eq!(page.total_elements, 6);

    // Sort by price, descending, paginated.
    let by_price = |page| ListEventsQuery {
        sort: EventSort::Price,
        descending: true,
        page: PageRequest::new(Some(page), Some(2)).unwrap(),
        ..Default::default()
    };
    let first = env.events.list(&guest(), by_price(0)).await.unwrap();
    assert_eq!(ids(&first), vec![top.id, mid.id]);
    assert_eq!((first.total_elements, first.total_pages()), (3, 2));
    let second = env.events.list(&guest(), by_price(1)).await.unwrap();
    assert_eq!(ids(&second), vec![cheap.id]);
    assert_eq!(second.page, 1);
});

on_both!(a_stale_version_is_a_conflict_and_writes_nothing, |env| {
    let e = env.create_published(&org_a(), event("Sea kayaking")).await;
    assert_eq!(e.version, 1);
    let cmd = UpdateEventCommand {
        expected_version: Some(0),
        name: Some("Renamed".into()),
        ..Default::default()
    };
    let err = env.events.update(&org_a(), e.id, cmd).await.unwrap_err();
    assert_eq!(err.code(), "VERSION_CONFLICT");

    let stored = env.events.get(&org_a(), e.id).await.unwrap().event;
    assert_eq!(
        (stored.details.name.as_str(), stored.version),
        ("Sea kayaking", 1)
    );
    assert!(env.audits("event.update", e.id).await.is_empty());
    assert!(
        !env.outbox_of(e.id)
            .await
            .contains(&DomainEventType::EventUpdated)
    );

    // With the right version it goes through, and the version moves on.
    let cmd = UpdateEventCommand {
        expected_version: Some(1),
        name: Some("Renamed".into()),
        ..Default::default()
    };
    let updated = env.events.update(&org_a(), e.id, cmd).await.unwrap();
    assert_eq!(updated.event.version, 2);
    assert_eq!(
        env.events
            .get(&guest(), e.id)
            .await
            .unwrap()
            .event
            .details
            .name,
        "Renamed"
    );

    // Another organizer and a user cannot touch it.
    let rename = || UpdateEventCommand {
        name: Some("Mine now".into()),
        ..Default::default()
    };
    assert!(is_not_found(
        &env.events
            .update(&org_b(), e.id, rename())
            .await
            .unwrap_err()
    ));
    assert!(matches!(
        env.events
            .update(&user(), e.id, rename())
            .await
            .unwrap_err(),
        AppError::Forbidden { .. }
    ));
    assert!(env.events.update(&admin(), e.id, rename()).await.is_ok());
});

on_both!(capacity_cannot_drop_below_taken_seats, |env| {
    let e = env.create_published(&org_a(), event("Diving")).await;
    let tx = env.uow.begin().await.unwrap();
    assert_eq!(tx.events().take_seats(e.id, 4).await.unwrap(), Some(6));
    tx.commit().await.unwrap();

    let shrink = |n| UpdateEventCommand {
        max_participants: Some(n),
        ..Default::default()
    };
    let err = env
        .events
        .update(&org_a(), e.id, shrink(3))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CAPACITY_BELOW_BOOKED");
    let stored = env.events.get(&org_a(), e.id).await.unwrap().event;
    assert_eq!((stored.seats.capacity(), stored.seats.available()), (10, 6));

    let ok = env.events.update(&org_a(), e.id, shrink(4)).await.unwrap();
    assert_eq!(
        (ok.event.seats.capacity(), ok.event.seats.available()),
        (4, 0)
    );
    let stored = env.events.get(&org_a(), e.id).await.unwrap().event;
    assert_eq!((stored.seats.capacity(), stored.seats.available()), (4, 0));

    // A canceled event cannot be edited at all.
    env.alter(e.id, |e, now| {
        let _ = e.cancel("storm", now).unwrap();
    })
    .await;
    let err = env
        .events
        .update(&org_a(), e.id, shrink(8))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_TRANSITION");
});

on_both!(moving_the_start_emits_event_rescheduled, |env| {
    let e = env.create_published(&org_a(), event("Canyoning")).await;
    let old_start = e.schedule.start_date;
    let new_start = old_start + Duration::days(3);

    let moved = env
        .events
        .update(
            &org_a(),
            e.id,
            UpdateEventCommand {
                start_date: Some(new_start),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.event.schedule.start_date, new_start);
    assert_eq!(
        moved.event.schedule.end_date,
        Some(new_start + Duration::hours(6)),
        "the duration is kept"
    );
    env.events
        .update(
            &org_a(),
            e.id,
            UpdateEventCommand {
                location: Some("Krasnaya Polyana".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let rows: Vec<_> = env
        .outbox()
        .await
        .into_iter()
        .filter(|r| r.message.aggregate_id == e.id.to_string())
        .collect();
    let kinds: Vec<_> = rows.iter().map(|r| r.message.event_type).collect();
    assert_eq!(
        kinds,
        vec![
            DomainEventType::EventCreated,
            DomainEventType::EventPublished,
            DomainEventType::EventRescheduled,
            DomainEventType::EventUpdated,
        ]
    );
    let rescheduled = &rows[2].message;
    assert_eq!(
        rescheduled.payload["previous_start_date"],
        old_start.to_rfc3339()
    );
    assert_eq!(rescheduled.aggregate_version, 2);

    let audits = env.audits("event.update", e.id).await;
    assert_eq!(audits.len(), 2);
    let location_edit = audits
        .iter()
        .find(|a| a.entry.after.as_ref().unwrap()["location"] == "Krasnaya Polyana")
        .expect("the location edit is audited");
    assert!(location_edit.entry.before.as_ref().unwrap()["location"].is_null());
    assert_eq!(
        location_edit.entry.actor_id,
        Some(UserId(uuid::Uuid::from_u128(ORG_A)))
    );
});

on_both!(scheduled_publication_happens_when_due, |env| {
    let e = env.create(&org_a(), event("Sunrise paddle")).await;
    let at = env.now() + Duration::hours(1);
    let scheduled = env
        .events
        .publish(
            &org_a(),
            e.id,
            PublishEventCommand {
                publish_at: Some(at),
                expected_version: Some(0),
            },
        )
        .await
        .unwrap();
    assert_eq!(scheduled.event.status, EventStatus::Draft);
    assert_eq!(scheduled.event.publish_at, Some(at));
    assert!(is_not_found(
        &env.events.get(&guest(), e.id).await.unwrap_err()
    ));

    assert_eq!(env.events.publish_due(10).await.unwrap(), 0, "not due yet");
    env.clock.advance(Duration::hours(2));
    assert_eq!(env.events.publish_due(10).await.unwrap(), 1);
    assert_eq!(
        env.events.publish_due(10).await.unwrap(),
        0,
        "published once"
    );

    let seen = env.events.get(&guest(), e.id).await.unwrap().event;
    assert_eq!(seen.status, EventStatus::Published);
    assert_eq!(seen.publish_at, None);
    assert_eq!(seen.published_at, Some(start() + Duration::hours(2)));
    assert_eq!(
        env.outbox_of(e.id).await,
        vec![
            DomainEventType::EventCreated,
            DomainEventType::EventUpdated,
            DomainEventType::EventPublished,
        ]
    );
    let audit = env.audits("event.publish_scheduled", e.id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entry.actor_id, None);
});

on_both!(stats_are_for_the_creator_and_admins, |env| {
    let e = env.create_published(&org_a(), event("Rowing")).await;
    assert!(is_not_found(
        &env.events
            .stats(&org_b(), e.id, None, None)
            .await
            .unwrap_err()
    ));
    assert!(matches!(
        env.events
            .stats(&user(), e.id, None, None)
            .await
            .unwrap_err(),
        AppError::Forbidden { .. }
    ));
    assert!(matches!(
        env.events
            .stats(&guest(), e.id, None, None)
            .await
            .unwrap_err(),
        AppError::Unauthenticated
    ));
    let stats = env.events.stats(&org_a(), e.id, None, None).await.unwrap();
    assert_eq!(stats.event_id, Some(e.id));
    assert_eq!(stats.total_bookings, 0);
    assert_eq!(stats.total_revenue, Money::ZERO);
    assert!(env.events.stats(&admin(), e.id, None, None).await.is_ok());
});

on_both!(price_options_are_edited_by_the_creator, |env| {
    let e = env.create_published(&org_a(), event("Surfing")).await;
    let input = |name: &str| PriceOptionInput {
        name: name.into(),
        price: Money::parse("800").unwrap(),
        description: None,
        quantity_available: Some(5),
        is_active: true,
    };
    let added = env
        .events
        .save_price_option(&org_a(), e.id, None, input("Early bird"))
        .await
        .unwrap();
    let renamed = env
        .events
        .save_price_option(&org_a(), e.id, Some(added.id), input("Early bird+"))
        .await
        .unwrap();
    assert_eq!(renamed.id, added.id);
    let details = env.events.get(&guest(), e.id).await.unwrap();
    assert_eq!(details.price_options.len(), 1);
    assert_eq!(details.price_options[0].name, "Early bird+");
    assert_eq!(
        details.event.version, 3,
        "each option change bumps the event"
    );
    assert!(is_not_found(
        &env.events
            .save_price_option(&org_b(), e.id, None, input("x"))
            .await
            .unwrap_err()
    ));
});

on_both!(categories_crud_duplicates_cycles_and_permissions, |env| {
    let cat = |name: &str, parent: Option<CategoryId>| CategoryInput {
        name: name.into(),
        parent_id: parent,
        ..Default::default()
    };
    let water = env
        .categories
        .create(&admin(), cat("Water", None))
        .await
        .unwrap();
    let rafting = env
        .categories
        .create(&admin(), cat("Rafting", Some(water.id)))
        .await
        .unwrap();
    assert_eq!(rafting.parent_id, Some(water.id));

    let err = env
        .categories
        .create(&admin(), cat("Water", None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CATEGORY_EXISTS");
    let err = env
        .categories
        .update(&admin(), water.id, cat("Water", Some(rafting.id)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CATEGORY_CYCLE");
    let err = env
        .categories
        .create(
            &admin(),
            cat("Orphan", Some(CategoryId(rafting.id.0 + 100))),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_FAILED");
    let err = env
        .categories
        .create(&user(), cat("Mine", None))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden { .. }));
    let err = env
        .categories
        .create(&org_a(), cat("Mine", None))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden { .. }));

    let renamed = env
        .categories
        .update(&admin(), rafting.id, cat("White water", None))
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.parent_id),
        ("White water", None)
    );
    let err = env
        .categories
        .update(&admin(), rafting.id, cat("Water", None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CATEGORY_EXISTS");

    let names: Vec<_> = env
        .categories
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["Water", "White water"]);
    assert_eq!(env.audits("category.create", water.id).await.len(), 1);
    assert_eq!(env.audits("category.update", rafting.id).await.len(), 1);
});
