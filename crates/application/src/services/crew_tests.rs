//! Use-case tests of `CrewService` with mocked ports and a manual clock.

use crate::outbox::OutboxMessage;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{Duration, TimeZone, Utc};
use domain::crew::{CrewAssignmentStatus, CrewRetryPolicy};
use domain::event::{CrewStatus, Event, EventDetailsInput, NewEvent, NewEventInput};
use domain::pricing::PricingRules;
use domain::{CrewId, EventId, Money, Timestamp, UserId};

use super::*;
use crate::clock::ManualClock;
use crate::ports::crew::MockCrewDirectory;
use crate::services::test_support::{FakeTx, uow_with};
use crate::{Actor, ErrorCode};

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 4, 1, 8, 0, 0).unwrap()
}

const POLICY: CrewRetryPolicy = CrewRetryPolicy {
    max_attempts: 3,
    first_delay: Duration::minutes(1),
    max_delay: Duration::hours(1),
};

fn caller(n: u128, role: Role) -> RequestContext {
    RequestContext {
        actor: Actor::authenticated(UserId(uuid::Uuid::from_u128(n)), [role]),
        request_id: Some("req-1".into()),
        client_ip: None,
    }
}

fn creator() -> RequestContext {
    caller(5, Role::Organizer)
}

fn published() -> Event {
    let new = NewEvent::new(
        UserId(uuid::Uuid::from_u128(5)),
        NewEventInput {
            details: EventDetailsInput {
                name: "Rafting".into(),
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
    let mut e = Event::from_new(EventId(7), new);
    let _ = e.publish(now()).unwrap();
    e
}

fn pending(event: &Event, attempts: u32) -> (Event, CrewAssignmentRecord) {
    let mut e = event.clone();
    let _ = e.request_crew(now()).unwrap();
    let _ = e.crew_retry_pending(now()).unwrap();
    let row = CrewAssignmentRecord {
        id: 40,
        event_id: e.id,
        crew_id: None,
        crew_name: None,
        skills: vec!["rafting".into()],
        status: CrewAssignmentStatus::PendingRetry,
        attempts,
        next_attempt_at: Some(now()),
        last_error: Some("timed out".into()),
        created_at: now(),
        updated_at: now(),
    };
    (e, row)
}

type Sink<T> = Arc<Mutex<Vec<T>>>;

fn tx() -> (FakeTx, Arc<AtomicBool>) {
    let committed = Arc::new(AtomicBool::new(false));
    (FakeTx::new(Arc::clone(&committed)), committed)
}

fn record_outbox(tx: &mut FakeTx) -> Sink<OutboxMessage> {
    let sink: Sink<OutboxMessage> = Arc::default();
    let s = Arc::clone(&sink);
    tx.outbox.expect_enqueue().returning(move |m| {
        s.lock().unwrap().push(m);
        Ok(())
    });
    sink
}

fn record_audit(tx: &mut FakeTx) -> Sink<AuditEntry> {
    let sink: Sink<AuditEntry> = Arc::default();
    let s = Arc::clone(&sink);
    tx.audit.expect_record().returning(move |a| {
        s.lock().unwrap().push(a);
        Ok(())
    });
    sink
}

fn record_updates(tx: &mut FakeTx) -> Sink<CrewAssignmentRecord> {
    let sink: Sink<CrewAssignmentRecord> = Arc::default();
    let s = Arc::clone(&sink);
    tx.crew_assignments.expect_update().returning(move |r| {
        s.lock().unwrap().push(r.clone());
        Ok(())
    });
    sink
}

fn record_inserts(tx: &mut FakeTx) -> Sink<CrewAssignmentRecord> {
    let sink: Sink<CrewAssignmentRecord> = Arc::default();
    let s = Arc::clone(&sink);
    tx.crew_assignments.expect_insert().returning(move |n| {
        let row = CrewAssignmentRecord {
            id: 41,
            event_id: n.event_id,
            crew_id: n.crew_id,
            crew_name: n.crew_name,
            skills: n.skills,
            status: n.status,
            attempts: n.attempts,
            next_attempt_at: n.next_attempt_at,
            last_error: n.last_error,
            created_at: n.created_at,
            updated_at: n.created_at,
        };
        s.lock().unwrap().push(row.clone());
        Ok(row)
    });
    sink
}

fn bumping_event_update(tx: &mut FakeTx) -> Sink<Event> {
    let sink: Sink<Event> = Arc::default();
    let s = Arc::clone(&sink);
    tx.events.expect_update().returning(move |e| {
        let stored = Event {
            version: e.version + 1,
            ..e.clone()
        };
        s.lock().unwrap().push(stored.clone());
        Ok(stored)
    });
    sink
}

fn service(txs: Vec<FakeTx>, directory: MockCrewDirectory) -> CrewService {
    CrewService::new(
        Arc::new(uow_with(txs)),
        Arc::new(ManualClock::new(now())),
        Arc::new(directory),
        POLICY,
    )
}

fn read_tx(event: Event) -> FakeTx {
    let (mut t, _) = tx();
    t.events
        .expect_find()
        .times(1)
        .returning(move |_| Ok(Some(event.clone())));
    t
}

fn by_skills() -> AssignCrewCommand {
    AssignCrewCommand {
        crew_id: None,
        skills: vec![" rafting ".into(), "rafting".into(), "first aid".into()],
    }
}

fn types(sink: &Sink<OutboxMessage>) -> Vec<DomainEventType> {
    sink.lock().unwrap().iter().map(|m| m.event_type).collect()
}

// --- assign -------------------------------------------------------------------------------

#[tokio::test]
async fn an_answering_crew_service_assigns_the_crew() {
    let mut directory = MockCrewDirectory::new();
    directory
        .expect_assign()
        .withf(|r| {
            r.event_id == EventId(7)
                && r.crew_id.is_none()
                && r.skills == ["rafting", "first aid"]
                && r.starts_at == now() + Duration::days(10)
        })
        .times(1)
        .returning(|_| {
            Ok(CrewAssignment {
                crew_id: CrewId(12),
                crew_name: Some("River team".into()),
            })
        });
    let (mut write, committed) = tx();
    write
        .events
        .expect_find_for_update()
        .times(1)
        .returning(|_| Ok(Some(published())));
    let events = bumping_event_update(&mut write);
    let inserts = record_inserts(&mut write);
    write
        .crew_assignments
        .expect_active_for_event()
        .returning(|_| Ok(vec![]));
    let outbox = record_outbox(&mut write);
    let audit = record_audit(&mut write);

    let outcome = service(vec![read_tx(published()), write], directory)
        .assign_crew(&creator(), EventId(7), by_skills())
        .await
        .unwrap();

    assert_eq!(outcome.event.crew_status, CrewStatus::Assigned);
    assert_eq!(outcome.event.crew_id, Some(CrewId(12)));
    assert_eq!(outcome.message(), "crew assigned");
    assert_eq!(events.lock().unwrap()[0].crew_id, Some(CrewId(12)));
    let row = &inserts.lock().unwrap()[0];
    assert_eq!(row.status, CrewAssignmentStatus::Assigned);
    assert_eq!(row.crew_name.as_deref(), Some("River team"));
    assert_eq!(types(&outbox), [DomainEventType::CrewAssigned]);
    assert_eq!(outbox.lock().unwrap()[0].payload["crew_id"], 12);
    assert_eq!(audit.lock().unwrap()[0].action, "event.crew.assign");
    assert!(committed.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_down_crew_service_leaves_the_event_pending_retry() {
    let mut directory = MockCrewDirectory::new();
    directory
        .expect_assign()
        .times(1)
        .returning(|_| Err(AppError::Unavailable { dependency: "crew" }));
    let (mut write, committed) = tx();
    write
        .events
        .expect_find_for_update()
        .times(1)
        .returning(|_| Ok(Some(published())));
    let events = bumping_event_update(&mut write);
    let inserts = record_inserts(&mut write);
    write
        .crew_assignments
        .expect_active_for_event()
        .returning(|_| Ok(vec![]));
    let outbox = record_outbox(&mut write);
    let _audit = record_audit(&mut write);

    let outcome = service(vec![read_tx(published()), write], directory)
        .assign_crew(
            &creator(),
            EventId(7),
            AssignCrewCommand {
                crew_id: Some(3),
                skills: vec![],
            },
        )
        .await
        .unwrap();

    assert_eq!(outcome.event.crew_status, CrewStatus::PendingRetry);
    assert!(outcome.message().contains("assigned later"));
    assert_eq!(
        events.lock().unwrap()[0].crew_status,
        CrewStatus::PendingRetry
    );
    let row = &inserts.lock().unwrap()[0];
    assert_eq!(row.status, CrewAssignmentStatus::PendingRetry);
    assert_eq!(row.crew_id, Some(CrewId(3)));
    assert_eq!(row.attempts, 1);
    assert_eq!(row.next_attempt_at, Some(now() + Duration::minutes(1)));
    assert!(types(&outbox).is_empty(), "nothing is published yet");
    assert!(committed.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_refusal_is_returned_and_nothing_is_written() {
    let mut directory = MockCrewDirectory::new();
    directory.expect_assign().returning(|_| {
        Err(AppError::conflict(
            ErrorCode::NoCrewAvailable,
            "no crew fits",
        ))
    });
    let err = service(vec![read_tx(published())], directory)
        .assign_crew(&creator(), EventId(7), by_skills())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NO_CREW_AVAILABLE");
}

#[tokio::test]
async fn users_are_forbidden_and_other_organizers_see_no_event() {
    let err = service(vec![], MockCrewDirectory::new())
        .assign_crew(&caller(1, Role::User), EventId(7), by_skills())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");

    let err = service(vec![read_tx(published())], MockCrewDirectory::new())
        .assign_crew(&caller(6, Role::Organizer), EventId(7), by_skills())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::NotFound { entity: "event" }),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_touched() {
    for (cmd, field) in [
        (AssignCrewCommand::default(), "skills"),
        (
            AssignCrewCommand {
                crew_id: Some(0),
                skills: vec![],
            },
            "crew_id",
        ),
        (
            AssignCrewCommand {
                crew_id: None,
                skills: vec!["ok".into(), "  ".into()],
            },
            "skills[1]",
        ),
        (
            AssignCrewCommand {
                crew_id: None,
                skills: vec!["x".repeat(SKILL_MAX + 1)],
            },
            "skills[0]",
        ),
        (
            AssignCrewCommand {
                crew_id: None,
                skills: (0..=MAX_SKILLS).map(|i| format!("s{i}")).collect(),
            },
            "skills",
        ),
    ] {
        let err = service(vec![], MockCrewDirectory::new())
            .assign_crew(&creator(), EventId(7), cmd)
            .await
            .unwrap_err();
        match err {
            AppError::Validation { fields } => assert_eq!(fields[0].field, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_canceled_event_gets_no_crew() {
    let mut e = published();
    let _ = e.cancel("storm", now()).unwrap();
    let err = service(vec![read_tx(e)], MockCrewDirectory::new())
        .assign_crew(&creator(), EventId(7), by_skills())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_TRANSITION");
}

// --- retry --------------------------------------------------------------------------------

/// The claim transaction: `row` is due and its event waits for it.
fn claim_tx(event: Event, row: CrewAssignmentRecord) -> (FakeTx, Sink<CrewAssignmentRecord>) {
    let (mut t, _) = tx();
    t.crew_assignments
        .expect_claim_due_retries()
        .times(1)
        .returning(move |_, _| Ok(vec![row.clone()]));
    t.events
        .expect_find()
        .returning(move |_| Ok(Some(event.clone())));
    let updates = record_updates(&mut t);
    (t, updates)
}

fn no_releases() -> FakeTx {
    let (mut t, _) = tx();
    t.crew_assignments
        .expect_claim_due_releases()
        .times(1)
        .returning(|_, _| Ok(vec![]));
    t
}

fn outcome_tx(event: Event, row: CrewAssignmentRecord) -> FakeTx {
    let (mut t, _) = tx();
    t.events
        .expect_find_for_update()
        .times(1)
        .returning(move |_| Ok(Some(event.clone())));
    t.crew_assignments
        .expect_find_for_update()
        .times(1)
        .returning(move |_| Ok(Some(row.clone())));
    t
}

#[tokio::test]
async fn a_retry_that_gets_an_answer_assigns_the_crew() {
    let (event, row) = pending(&published(), 1);
    let (claim, leased) = claim_tx(event.clone(), row.clone());
    let mut outcome = outcome_tx(event, row);
    let _events = bumping_event_update(&mut outcome);
    let updates = record_updates(&mut outcome);
    outcome
        .crew_assignments
        .expect_active_for_event()
        .returning(|_| Ok(vec![]));
    let outbox = record_outbox(&mut outcome);
    let audit = record_audit(&mut outcome);
    let mut directory = MockCrewDirectory::new();
    directory
        .expect_assign()
        .withf(|r| r.skills == ["rafting"])
        .times(1)
        .returning(|_| {
            Ok(CrewAssignment {
                crew_id: CrewId(8),
                crew_name: None,
            })
        });

    let processed = service(vec![claim, outcome, no_releases()], directory)
        .retry_crew(10)
        .await
        .unwrap();

    assert_eq!(processed, 1);
    assert_eq!(
        leased.lock().unwrap()[0].next_attempt_at,
        Some(now() + Duration::minutes(CLAIM_LEASE_MINUTES)),
        "claimed rows are leased"
    );
    let stored = updates.lock().unwrap()[0].clone();
    assert_eq!(stored.status, CrewAssignmentStatus::Assigned);
    assert_eq!((stored.crew_id, stored.attempts), (Some(CrewId(8)), 2));
    assert_eq!(types(&outbox), [DomainEventType::CrewAssigned]);
    assert_eq!(audit.lock().unwrap()[0].action, "event.crew.assign");
}

#[tokio::test]
async fn a_failed_retry_waits_longer() {
    let (event, row) = pending(&published(), 1);
    let (claim, _) = claim_tx(event.clone(), row.clone());
    let mut outcome = outcome_tx(event, row);
    let updates = record_updates(&mut outcome);
    let mut directory = MockCrewDirectory::new();
    directory
        .expect_assign()
        .returning(|_| Err(AppError::Unavailable { dependency: "crew" }));

    service(vec![claim, outcome, no_releases()], directory)
        .retry_crew(10)
        .await
        .unwrap();

    let stored = updates.lock().unwrap()[0].clone();
    assert_eq!(stored.status, CrewAssignmentStatus::PendingRetry);
    assert_eq!(stored.attempts, 2);
    assert_eq!(
        stored.next_attempt_at,
        Some(now() + Duration::minutes(2)),
        "the second failure doubles the wait"
    );
}

#[tokio::test]
async fn the_last_failed_attempt_fails_the_crew_and_alerts_admins() {
    let (event, row) = pending(&published(), POLICY.max_attempts - 1);
    let (claim, _) = claim_tx(event.clone(), row.clone());
    let mut outcome = outcome_tx(event, row);
    let events = bumping_event_update(&mut outcome);
    let updates = record_updates(&mut outcome);
    let outbox = record_outbox(&mut outcome);
    let audit = record_audit(&mut outcome);
    let mut directory = MockCrewDirectory::new();
    directory
        .expect_assign()
        .returning(|_| Err(AppError::Unavailable { dependency: "crew" }));

    service(vec![claim, outcome, no_releases()], directory)
        .retry_crew(10)
        .await
        .unwrap();

    assert_eq!(events.lock().unwrap()[0].crew_status, CrewStatus::Failed);
    let stored = updates.lock().unwrap()[0].clone();
    assert_eq!(stored.status, CrewAssignmentStatus::Failed);
    assert_eq!(stored.attempts, POLICY.max_attempts);
    assert_eq!(stored.next_attempt_at, None);
    assert_eq!(
        types(&outbox),
        [DomainEventType::CrewFailed, DomainEventType::AdminAlert]
    );
    assert_eq!(
        outbox.lock().unwrap()[1].payload["alert"],
        "crew_assignment_failed"
    );
    assert_eq!(audit.lock().unwrap()[0].action, "event.crew.fail");
}

#[tokio::test]
async fn a_request_whose_event_was_canceled_is_closed_without_calling() {
    let (event, row) = pending(&published(), 1);
    let mut canceled = event;
    let _ = canceled.cancel("storm", now()).unwrap();
    let _ = canceled.release_crew(now());
    let (claim, updates) = claim_tx(canceled, row);
    let processed = service(vec![claim, no_releases()], MockCrewDirectory::new())
        .retry_crew(10)
        .await
        .unwrap();
    assert_eq!(processed, 0);
    let stored = updates.lock().unwrap()[0].clone();
    assert_eq!(stored.status, CrewAssignmentStatus::Released);
    assert_eq!(stored.next_attempt_at, None);
}

// --- release ------------------------------------------------------------------------------

fn assigned_row() -> CrewAssignmentRecord {
    CrewAssignmentRecord {
        id: 50,
        event_id: EventId(7),
        crew_id: Some(CrewId(12)),
        crew_name: Some("River team".into()),
        skills: vec![],
        status: CrewAssignmentStatus::Assigned,
        attempts: 1,
        next_attempt_at: None,
        last_error: None,
        created_at: now(),
        updated_at: now(),
    }
}

/// The release claim transaction, handing out `row`.
fn release_claim(row: CrewAssignmentRecord) -> (FakeTx, Sink<CrewAssignmentRecord>) {
    let (mut r, _) = tx();
    r.crew_assignments
        .expect_claim_due_releases()
        .times(1)
        .returning(move |_, _| Ok(vec![row.clone()]));
    let leased = record_updates(&mut r);
    (r, leased)
}

#[tokio::test]
async fn the_crew_of_a_canceled_event_is_released() {
    let (mut retry_claim, _) = tx();
    retry_claim
        .crew_assignments
        .expect_claim_due_retries()
        .times(1)
        .returning(|_, _| Ok(vec![]));
    let (claim, leased) = release_claim(assigned_row());
    let (mut done, committed) = tx();
    let mut released_row = assigned_row();
    released_row.status = CrewAssignmentStatus::Released;
    released_row.attempts = 0;
    done.crew_assignments
        .expect_find_for_update()
        .times(1)
        .returning(move |_| Ok(Some(released_row.clone())));
    let updates = record_updates(&mut done);
    let audit = record_audit(&mut done);
    let mut directory = MockCrewDirectory::new();
    directory
        .expect_release()
        .withf(|event, crew| *event == EventId(7) && *crew == CrewId(12))
        .times(1)
        .returning(|_, _| Ok(()));

    let processed = service(vec![retry_claim, claim, done], directory)
        .retry_crew(10)
        .await
        .unwrap();

    assert_eq!(processed, 1);
    assert_eq!(
        leased.lock().unwrap()[0].status,
        CrewAssignmentStatus::Released
    );
    let stored = updates.lock().unwrap()[0].clone();
    assert_eq!(stored.next_attempt_at, None, "nothing left to give back");
    assert_eq!(audit.lock().unwrap()[0].action, "event.crew.release");
    assert!(committed.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_release_while_the_crew_service_is_down_is_retried_later() {
    let (mut retry_claim, _) = tx();
    retry_claim
        .crew_assignments
        .expect_claim_due_retries()
        .times(1)
        .returning(|_, _| Ok(vec![]));
    let (claim, _) = release_claim(assigned_row());
    let (mut done, _) = tx();
    let mut released_row = assigned_row();
    released_row.status = CrewAssignmentStatus::Released;
    released_row.attempts = 0;
    done.crew_assignments
        .expect_find_for_update()
        .returning(move |_| Ok(Some(released_row.clone())));
    let updates = record_updates(&mut done);
    let mut directory = MockCrewDirectory::new();
    directory
        .expect_release()
        .returning(|_, _| Err(AppError::Unavailable { dependency: "crew" }));

    service(vec![retry_claim, claim, done], directory)
        .retry_crew(10)
        .await
        .unwrap();

    let stored = updates.lock().unwrap()[0].clone();
    assert_eq!(stored.status, CrewAssignmentStatus::Released);
    assert_eq!(stored.attempts, 1);
    assert_eq!(stored.next_attempt_at, Some(now() + Duration::minutes(1)));
}
