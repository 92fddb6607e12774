//! The `UnitOfWork`/`Tx` ports over one transaction: a change, its audit row and its outbox
//! row commit together or not at all. Driven through `Arc<dyn UnitOfWork>`, as the use cases
//! see it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use test_db::on_both_backends;

use std::sync::Arc;

use adapters_postgres::SeaUnitOfWork;
use chrono::{Duration, Utc};
use domain::event::{EventDetailsInput, NewEvent, NewEventInput};
use domain::pricing::PricingRules;
use domain::{Money, UserId};
use ports::outbox::{DomainEventType, OutboxMessage};
use ports::{Actor, PageRequest, RequestContext, Role};
use ports::{AuditEntry, AuditQuery, UnitOfWork};

fn new_event(name: &str) -> NewEvent {
    let now = Utc::now();
    NewEvent::new(
        UserId(uuid::Uuid::from_u128(9)),
        NewEventInput {
            details: EventDetailsInput {
                name: name.into(),
                ..Default::default()
            },
            start_date: now + Duration::days(3),
            end_date: None,
            max_participants: 4,
            price: Money::parse("10").unwrap(),
            booking_deadline_hours: None,
            max_seats_per_user: None,
            publish_at: None,
            is_featured: false,
            refund_policy: None,
            pricing_rules: PricingRules::default(),
        },
        now,
    )
    .unwrap()
}

async fn create(uow: &dyn UnitOfWork, name: &str, commit: bool) {
    let tx = uow.begin().await.unwrap();
    let (event, _) = tx.events().insert(new_event(name), vec![]).await.unwrap();
    let ctx = RequestContext::new(Actor::authenticated(event.creator_id, [Role::Organizer]));
    tx.outbox()
        .enqueue(OutboxMessage::new(
            DomainEventType::EventCreated,
            "event",
            event.id,
            0,
            serde_json::json!({}),
            Utc::now(),
        ))
        .await
        .unwrap();
    tx.audit()
        .record(AuditEntry::by(
            &ctx,
            "event.create",
            "event",
            event.id,
            Utc::now(),
        ))
        .await
        .unwrap();
    if commit {
        tx.commit().await.unwrap();
    }
}

on_both_backends!(change_audit_and_outbox_commit_or_roll_back_together, |t| {
    let uow: Arc<dyn UnitOfWork> = Arc::new(SeaUnitOfWork::new(t.db.clone()));
    create(uow.as_ref(), "Kept", true).await;
    create(uow.as_ref(), "Dropped", false).await;

    let tx = uow.begin().await.unwrap();
    let stats = tx.outbox().stats().await.unwrap();
    assert_eq!(
        stats.unsent, 1,
        "only the committed change left an outbox row"
    );
    let audit = tx
        .audit()
        .search(&AuditQuery {
            page: PageRequest::default(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.total_elements, 1);
    let names: Vec<String> = tx
        .events()
        .search(&ports::EventQuery::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|l| l.event.details.name)
        .collect();
    assert_eq!(names, ["Kept"]);
});
