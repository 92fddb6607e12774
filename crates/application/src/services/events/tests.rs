use super::*;
use crate::Actor;
use crate::clock::ManualClock;
use crate::services::test_support::{FakeTx, uow_with};
use chrono::{Duration, TimeZone, Utc};
use domain::event::{EventDetailsInput, EventStatus};
use domain::pricing::PricingRules;
use domain::{EventId, Money, PriceOptionId, Timestamp, UserId};
use mockall::Sequence;
use std::sync::atomic::{AtomicBool, Ordering};

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 4, 1, 8, 0, 0).unwrap()
}

fn organizer() -> RequestContext {
    RequestContext {
        actor: Actor::authenticated(UserId(uuid::Uuid::from_u128(5)), [Role::Organizer]),
        request_id: Some("req-1".into()),
        client_ip: Some("127.0.0.1".into()),
    }
}

fn command() -> CreateEventCommand {
    CreateEventCommand {
        event: NewEventInput {
            details: EventDetailsInput {
                name: "Sea kayaking".into(),
                ..Default::default()
            },
            start_date: now() + Duration::days(10),
            end_date: None,
            max_participants: 12,
            price: Money::parse("2500").unwrap(),
            booking_deadline_hours: Some(48),
            max_seats_per_user: None,
            publish_at: None,
            is_featured: false,
            refund_policy: None,
            pricing_rules: PricingRules::default(),
        },
        price_options: vec![PriceOptionInput {
            name: "Student".into(),
            price: Money::parse("1800").unwrap(),
            description: None,
            quantity_available: Some(4),
            is_active: true,
        }],
        auto_publish: false,
    }
}

fn service(tx: Option<FakeTx>) -> EventService {
    let uow = uow_with(tx.into_iter().collect());
    EventService::new(Arc::new(uow), Arc::new(ManualClock::new(now())))
}

fn expect_insert(tx: &mut FakeTx) {
    tx.events
        .expect_insert()
        .times(1)
        .returning(|new, options| {
            let stored = options
                .into_iter()
                .enumerate()
                .map(|(i, o)| PriceOption {
                    id: PriceOptionId(i64::try_from(i).unwrap() + 1),
                    event_id: EventId(7),
                    name: o.name,
                    price: o.price,
                    description: o.description,
                    quantity_available: o.quantity_available,
                    is_active: o.is_active,
                })
                .collect();
            Ok((Event::from_new(EventId(7), new), stored))
        });
}

#[tokio::test]
async fn organizer_creates_a_draft_with_its_outbox_and_audit_rows_in_one_transaction() {
    let committed = Arc::new(AtomicBool::new(false));
    let mut tx = FakeTx::new(Arc::clone(&committed));
    expect_insert(&mut tx);
    tx.outbox
        .expect_enqueue()
        .times(1)
        .withf(|m| {
            m.event_type == DomainEventType::EventCreated
                && m.aggregate_id == "7"
                && m.payload["status"] == "DRAFT"
        })
        .returning(|_| Ok(()));
    tx.audit
        .expect_record()
        .times(1)
        .withf(|a| {
            a.action == "event.create"
                && a.entity_id == "7"
                && a.actor_role == Role::Organizer
                && a.request_id.as_deref() == Some("req-1")
                && a.after
                    .as_ref()
                    .is_some_and(|v| v["name"] == "Sea kayaking")
        })
        .returning(|_| Ok(()));

    let created = service(Some(tx))
        .create_event(&organizer(), command())
        .await
        .unwrap();

    assert!(committed.load(Ordering::SeqCst));
    assert_eq!(created.event.status, EventStatus::Draft);
    assert_eq!(
        created.event.creator_id,
        organizer().actor.user_id().unwrap()
    );
    assert_eq!(created.event.booking_deadline_hours, 48);
    assert_eq!(created.price_options.len(), 1);
    assert_eq!(created.price_options[0].quantity_available, Some(4));
}

#[tokio::test]
async fn auto_publish_publishes_in_the_same_transaction_and_emits_both_events_in_order() {
    let committed = Arc::new(AtomicBool::new(false));
    let mut tx = FakeTx::new(Arc::clone(&committed));
    expect_insert(&mut tx);
    tx.events
        .expect_update()
        .times(1)
        .withf(|e| e.status == EventStatus::Published && e.published_at == Some(now()))
        .returning(|e| {
            Ok(Event {
                version: e.version + 1,
                ..e.clone()
            })
        });
    let mut seq = Sequence::new();
    for kind in [
        DomainEventType::EventCreated,
        DomainEventType::EventPublished,
    ] {
        tx.outbox
            .expect_enqueue()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |m| m.event_type == kind)
            .returning(|_| Ok(()));
    }
    tx.audit.expect_record().times(1).returning(|_| Ok(()));
    let mut cmd = command();
    cmd.auto_publish = true;

    let created = service(Some(tx))
        .create_event(&organizer(), cmd)
        .await
        .unwrap();

    assert_eq!(created.event.status, EventStatus::Published);
    assert_eq!(created.event.version, 1);
    assert!(committed.load(Ordering::SeqCst));
}

#[tokio::test]
async fn users_are_forbidden_and_guests_unauthenticated_before_any_transaction() {
    let user = RequestContext::new(Actor::authenticated(
        UserId(uuid::Uuid::from_u128(1)),
        [Role::User],
    ));
    let err = service(None)
        .create_event(&user, command())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");
    let err = service(None)
        .create_event(&RequestContext::new(Actor::guest()), command())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unauthenticated), "{err:?}");
}

#[tokio::test]
async fn invalid_input_is_a_validation_error_before_any_transaction() {
    let mut past = command();
    past.event.start_date = now() - Duration::hours(1);
    let mut bad_option = command();
    bad_option.price_options[0].name = " ".into();
    let mut both = command();
    both.auto_publish = true;
    both.event.publish_at = Some(now() + Duration::days(1));
    for (cmd, field) in [
        (past, "start_date"),
        (bad_option, "price_options.name"),
        (both, "publish_at"),
    ] {
        match service(None)
            .create_event(&organizer(), cmd)
            .await
            .unwrap_err()
        {
            AppError::Validation { fields } => assert_eq!(fields[0].field, field),
            other => panic!("expected a validation error on {field}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_failing_outbox_write_aborts_the_whole_transaction() {
    let committed = Arc::new(AtomicBool::new(false));
    let mut tx = FakeTx::new(Arc::clone(&committed));
    expect_insert(&mut tx);
    tx.outbox.expect_enqueue().times(1).returning(|_| {
        Err(AppError::Unavailable {
            dependency: "database",
        })
    });
    tx.audit.expect_record().never();

    let err = service(Some(tx))
        .create_event(&organizer(), command())
        .await
        .unwrap_err();

    assert_eq!(err.code(), "DATABASE_UNAVAILABLE");
    assert!(
        !committed.load(Ordering::SeqCst),
        "nothing is committed: the dropped Tx rolls back"
    );
}
