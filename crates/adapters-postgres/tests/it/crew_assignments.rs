//! CrewAssignmentRepository on PostgreSQL and SQLite: storage, the open requests of an event,
//! due retries and due releases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use test_db::on_both_backends;

use adapters_postgres::{SeaTx, SeaUnitOfWork};
use chrono::{Duration, TimeZone, Utc};
use domain::crew::CrewAssignmentStatus;
use domain::event::{Event, EventDetailsInput, EventStatus, NewEvent, NewEventInput};
use domain::pricing::PricingRules;
use domain::{CrewId, EventId, Money, Timestamp, UserId};
use ports::{CrewAssignmentRepository, EventRepository, NewCrewAssignment};

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 5, 1, 9, 0, 0).unwrap()
}

async fn event(tx: &SeaTx, status: EventStatus) -> Event {
    let new = NewEvent::new(
        UserId(uuid::Uuid::from_u128(1)),
        NewEventInput {
            details: EventDetailsInput {
                name: "Crewed trip".into(),
                ..Default::default()
            },
            start_date: now() + Duration::days(10),
            end_date: None,
            max_participants: 10,
            price: Money::parse("100").unwrap(),
            booking_deadline_hours: None,
            max_seats_per_user: None,
            publish_at: None,
            is_featured: false,
            refund_policy: None,
            pricing_rules: PricingRules::default(),
        },
        now(),
    )
    .unwrap();
    let (mut e, _) = EventRepository::insert(tx, new, vec![]).await.unwrap();
    if status != EventStatus::Draft {
        e.status = status;
        e = EventRepository::update(tx, &e).await.unwrap();
    }
    e
}

fn request(
    event_id: EventId,
    status: CrewAssignmentStatus,
    crew: Option<i64>,
    next: Option<Timestamp>,
) -> NewCrewAssignment {
    NewCrewAssignment {
        event_id,
        crew_id: crew.map(CrewId),
        crew_name: crew.map(|c| format!("Crew {c}")),
        skills: vec!["rafting".into(), "first aid".into()],
        status,
        attempts: 1,
        next_attempt_at: next,
        last_error: None,
        created_at: now(),
    }
}

on_both_backends!(insert_update_and_active_rows, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let crews: &dyn CrewAssignmentRepository = &tx;
    let e = event(&tx, EventStatus::Published).await;
    let first = crews
        .insert(request(e.id, CrewAssignmentStatus::Assigned, Some(4), None))
        .await
        .unwrap();
    assert_eq!(first.skills, ["rafting", "first aid"]);
    assert_eq!(first.crew_name.as_deref(), Some("Crew 4"));
    let mut second = crews
        .insert(request(
            e.id,
            CrewAssignmentStatus::PendingRetry,
            None,
            Some(now() + Duration::minutes(1)),
        ))
        .await
        .unwrap();
    let active = crews.active_for_event(e.id).await.unwrap();
    assert_eq!(
        active.iter().map(|r| r.id).collect::<Vec<_>>(),
        [second.id, first.id],
        "newest first"
    );

    second.status = CrewAssignmentStatus::Assigned;
    second.crew_id = Some(CrewId(9));
    second.crew_name = Some("Night crew".into());
    second.attempts = 3;
    second.next_attempt_at = None;
    second.last_error = Some("timed out".into());
    second.updated_at = now() + Duration::minutes(5);
    crews.update(&second).await.unwrap();
    let stored = crews.find_for_update(second.id).await.unwrap().unwrap();
    assert_eq!(stored, second);

    let mut released = first.clone();
    released.status = CrewAssignmentStatus::Released;
    crews.update(&released).await.unwrap();
    let active = crews.active_for_event(e.id).await.unwrap();
    assert_eq!(active.iter().map(|r| r.id).collect::<Vec<_>>(), [second.id]);
    assert!(crews.find_for_update(i64::MAX).await.unwrap().is_none());
});

on_both_backends!(due_retries_and_releases, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let crews: &dyn CrewAssignmentRepository = &tx;
    let live = event(&tx, EventStatus::Published).await;
    let canceled = event(&tx, EventStatus::Canceled).await;
    let soon = now() + Duration::minutes(1);
    let later = now() + Duration::minutes(10);
    let retry_soon = crews
        .insert(request(
            live.id,
            CrewAssignmentStatus::PendingRetry,
            None,
            Some(soon),
        ))
        .await
        .unwrap();
    let retry_later = crews
        .insert(request(
            live.id,
            CrewAssignmentStatus::PendingRetry,
            None,
            Some(later),
        ))
        .await
        .unwrap();
    let _assigned_live = crews
        .insert(request(
            live.id,
            CrewAssignmentStatus::Assigned,
            Some(1),
            None,
        ))
        .await
        .unwrap();
    let assigned_canceled = crews
        .insert(request(
            canceled.id,
            CrewAssignmentStatus::Assigned,
            Some(2),
            None,
        ))
        .await
        .unwrap();
    let release_due = crews
        .insert(request(
            live.id,
            CrewAssignmentStatus::Released,
            Some(3),
            Some(soon),
        ))
        .await
        .unwrap();
    let _released_done = crews
        .insert(request(
            live.id,
            CrewAssignmentStatus::Released,
            Some(5),
            None,
        ))
        .await
        .unwrap();

    let ids =
        |rows: Vec<ports::CrewAssignmentRecord>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    assert!(crews.claim_due_retries(now(), 10).await.unwrap().is_empty());
    assert_eq!(
        ids(crews.claim_due_retries(soon, 10).await.unwrap()),
        [retry_soon.id]
    );
    assert_eq!(
        ids(crews.claim_due_retries(later, 10).await.unwrap()),
        [retry_soon.id, retry_later.id]
    );
    assert_eq!(
        ids(crews.claim_due_retries(later, 1).await.unwrap()),
        [retry_soon.id]
    );

    assert_eq!(
        ids(crews.claim_due_releases(now(), 10).await.unwrap()),
        [assigned_canceled.id],
        "the crew of a canceled event is due at once"
    );
    assert_eq!(
        ids(crews.claim_due_releases(soon, 10).await.unwrap()),
        [assigned_canceled.id, release_due.id]
    );
});
