use super::*;
use crate::Actor;
use crate::clock::ManualClock;
use crate::services::test_support::{FakeTx, uow_with};
use chrono::{Duration, TimeZone, Utc};
use std::sync::atomic::{AtomicBool, Ordering};

const CREATOR: u128 = 5;

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 4, 1, 8, 0, 0).unwrap()
}

fn ctx(n: u128, role: Role) -> RequestContext {
    RequestContext::new(Actor::authenticated(
        UserId(uuid::Uuid::from_u128(n)),
        [role],
    ))
}

fn creator() -> RequestContext {
    ctx(CREATOR, Role::Organizer)
}

fn guest() -> RequestContext {
    RequestContext::new(Actor::guest())
}

fn draft() -> Event {
    let input = NewEventInput {
        details: EventDetailsInput {
            name: "Canyoning".into(),
            description: Some("Wet and fun".into()),
            ..Default::default()
        },
        start_date: now() + Duration::days(10),
        end_date: Some(now() + Duration::days(10) + Duration::hours(5)),
        max_participants: 10,
        price: Money::parse("3000").unwrap(),
        booking_deadline_hours: None,
        max_seats_per_user: None,
        publish_at: None,
        is_featured: false,
        refund_policy: None,
        pricing_rules: PricingRules::default(),
    };
    let new = NewEvent::new(UserId(uuid::Uuid::from_u128(CREATOR)), input, now()).unwrap();
    Event::from_new(EventId(7), new)
}

fn published() -> Event {
    let mut e = draft();
    let _ = e.publish(now()).unwrap();
    e.version = 1;
    e
}

fn service(txs: Vec<FakeTx>) -> EventService {
    EventService::new(Arc::new(uow_with(txs)), Arc::new(ManualClock::new(now())))
}

fn tx() -> (FakeTx, Arc<AtomicBool>) {
    let committed = Arc::new(AtomicBool::new(false));
    (FakeTx::new(Arc::clone(&committed)), committed)
}

fn option(id: i64, active: bool) -> PriceOption {
    PriceOption {
        id: PriceOptionId(id),
        event_id: EventId(7),
        name: format!("Tier {id}"),
        price: Money::parse("100").unwrap(),
        description: None,
        quantity_available: None,
        is_active: active,
    }
}

fn with_event(tx: &mut FakeTx, event: Event) {
    tx.events
        .expect_find_for_update()
        .times(1)
        .returning(move |_| Ok(Some(event.clone())));
}

fn with_listing(tx: &mut FakeTx, event: Event) {
    tx.events.expect_listing().times(1).returning(move |_| {
        Ok(Some(EventListing {
            event: event.clone(),
            rating: RatingSummary {
                rating_sum: 9,
                count: 2,
            },
        }))
    });
}

fn bumping_update(tx: &mut FakeTx) {
    tx.events.expect_update().times(1).returning(|e| {
        Ok(Event {
            version: e.version + 1,
            ..e.clone()
        })
    });
}

// --- get ------------------------------------------------------------------------------

#[tokio::test]
async fn a_guest_sees_a_published_event_with_active_options_and_the_view_is_counted() {
    let (mut t, committed) = tx();
    with_listing(&mut t, published());
    t.events
        .expect_price_options()
        .returning(|_| Ok(vec![option(1, true), option(2, false)]));
    t.events.expect_record_views().never();

    let service = service(vec![t]);
    let details = service.get(&guest(), EventId(7)).await.unwrap();
    assert_eq!(
        service.views.pending(),
        1,
        "counted in memory, written later"
    );

    assert_eq!(details.event.status, EventStatus::Published);
    assert_eq!(details.rating.count, 2);
    assert_eq!(
        details
            .price_options
            .iter()
            .map(|o| o.id.0)
            .collect::<Vec<_>>(),
        vec![1]
    );
    assert!(committed.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_draft_is_not_found_for_guests_users_and_other_organizers() {
    for caller in [guest(), ctx(1, Role::User), ctx(6, Role::Organizer)] {
        let (mut t, _) = tx();
        with_listing(&mut t, draft());
        t.events.expect_record_views().never();
        let err = service(vec![t]).get(&caller, EventId(7)).await.unwrap_err();
        assert!(
            matches!(err, AppError::NotFound { entity: "event" }),
            "{caller:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn the_creator_and_admins_see_a_draft_with_every_option_and_no_view_is_counted() {
    for caller in [creator(), ctx(9, Role::Admin)] {
        let (mut t, _) = tx();
        with_listing(&mut t, draft());
        t.events
            .expect_price_options()
            .returning(|_| Ok(vec![option(1, true), option(2, false)]));
        t.events.expect_record_views().never();
        let details = service(vec![t]).get(&caller, EventId(7)).await.unwrap();
        assert_eq!(details.price_options.len(), 2);
    }
}

#[tokio::test]
async fn a_canceled_event_stays_visible_to_guests_without_counting_a_view() {
    let (mut t, _) = tx();
    let mut e = published();
    let _ = e.cancel("flood", now()).unwrap();
    with_listing(&mut t, e);
    t.events.expect_price_options().returning(|_| Ok(vec![]));
    t.events.expect_record_views().never();
    let details = service(vec![t]).get(&guest(), EventId(7)).await.unwrap();
    assert_eq!(details.event.status, EventStatus::Canceled);
}

// --- list -----------------------------------------------------------------------------

async fn scoped(caller: &RequestContext, query: ListEventsQuery) -> Result<EventQuery, AppError> {
    let (mut t, _) = tx();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let slot = Arc::clone(&seen);
    t.events.expect_search().times(1).returning(move |q| {
        *slot.lock().unwrap() = Some(q.clone());
        Ok(Page::new(vec![], q.page, 0))
    });
    service(vec![t]).list(caller, query).await?;
    let q = seen.lock().unwrap().take().unwrap();
    Ok(q)
}

#[tokio::test]
async fn the_catalog_shows_guests_published_events_by_default_and_completed_on_request() {
    let q = scoped(&guest(), ListEventsQuery::default()).await.unwrap();
    assert_eq!(q.statuses, vec![EventStatus::Published]);
    assert_eq!(q.creator_id, None);
    let q = scoped(
        &ctx(1, Role::User),
        ListEventsQuery {
            statuses: vec![EventStatus::Completed, EventStatus::Published],
            search: Some("  river ".into()),
            category: Some(" ".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(q.statuses.len(), 2);
    assert_eq!(q.search.as_deref(), Some("river"));
    assert_eq!(q.category, None, "a blank filter is no filter");
}

#[tokio::test]
async fn asking_the_catalog_for_drafts_is_refused_before_any_transaction() {
    let drafts = || ListEventsQuery {
        statuses: vec![EventStatus::Published, EventStatus::Draft],
        ..Default::default()
    };
    let err = service(vec![]).list(&guest(), drafts()).await.unwrap_err();
    assert!(matches!(err, AppError::Unauthenticated), "{err:?}");
    for caller in [ctx(1, Role::User), creator()] {
        let err = service(vec![]).list(&caller, drafts()).await.unwrap_err();
        assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");
    }
    let canceled = ListEventsQuery {
        statuses: vec![EventStatus::Canceled],
        ..Default::default()
    };
    let err = service(vec![])
        .list(&ctx(1, Role::User), canceled)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn mine_is_for_organizers_and_lists_their_events_in_any_status() {
    let mine = |statuses| ListEventsQuery {
        mine: true,
        statuses,
        ..Default::default()
    };
    let err = service(vec![])
        .list(&guest(), mine(vec![]))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unauthenticated));
    let err = service(vec![])
        .list(&ctx(1, Role::User), mine(vec![]))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden { .. }));

    let q = scoped(&creator(), mine(vec![])).await.unwrap();
    assert_eq!(q.creator_id, Some(UserId(uuid::Uuid::from_u128(CREATOR))));
    assert!(q.statuses.is_empty(), "every status of one's own events");
    let q = scoped(&creator(), mine(vec![EventStatus::Draft]))
        .await
        .unwrap();
    assert_eq!(q.statuses, vec![EventStatus::Draft]);
}

#[tokio::test]
async fn admins_list_every_status() {
    let q = scoped(&ctx(9, Role::Admin), ListEventsQuery::default())
        .await
        .unwrap();
    assert!(q.statuses.is_empty());
    let q = scoped(
        &ctx(9, Role::Admin),
        ListEventsQuery {
            statuses: vec![EventStatus::Draft, EventStatus::Draft],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(q.statuses, vec![EventStatus::Draft]);
}

#[tokio::test]
async fn bad_catalog_filters_are_validation_errors_before_any_transaction() {
    let cases = [
        (
            ListEventsQuery {
                start_from: Some(now()),
                start_to: Some(now() - Duration::seconds(1)),
                ..Default::default()
            },
            "start_date_to",
        ),
        (
            ListEventsQuery {
                search: Some("x".repeat(SEARCH_MAX + 1)),
                ..Default::default()
            },
            "search_query",
        ),
        (
            ListEventsQuery {
                category: Some("c".repeat(101)),
                ..Default::default()
            },
            "category",
        ),
    ];
    for (query, field) in cases {
        match service(vec![]).list(&guest(), query).await.unwrap_err() {
            AppError::Validation { fields } => assert_eq!(fields[0].field, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let q = scoped(
        &guest(),
        ListEventsQuery {
            search: Some("x".repeat(SEARCH_MAX)),
            start_from: Some(now()),
            start_to: Some(now()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(q.search.map(|s| s.len()), Some(SEARCH_MAX));
}

// --- update ---------------------------------------------------------------------------

fn rename() -> UpdateEventCommand {
    UpdateEventCommand {
        name: Some("Canyoning deluxe".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn update_permissions_guest_user_before_any_transaction_other_organizer_not_found() {
    let err = service(vec![])
        .update(&guest(), EventId(7), rename())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unauthenticated));
    let err = service(vec![])
        .update(&ctx(1, Role::User), EventId(7), rename())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden { .. }));

    let (mut t, committed) = tx();
    with_event(&mut t, published());
    t.events.expect_update().never();
    let err = service(vec![t])
        .update(&ctx(6, Role::Organizer), EventId(7), rename())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::NotFound { entity: "event" }),
        "{err:?}"
    );
    assert!(!committed.load(Ordering::SeqCst));
}

#[tokio::test]
async fn an_empty_update_is_a_validation_error() {
    let err = service(vec![])
        .update(&creator(), EventId(7), UpdateEventCommand::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_FAILED");
}

#[tokio::test]
async fn a_stale_expected_version_is_a_version_conflict_and_nothing_is_written() {
    let (mut t, committed) = tx();
    with_event(&mut t, published());
    t.events.expect_update().never();
    t.outbox.expect_enqueue().never();
    t.audit.expect_record().never();
    let cmd = UpdateEventCommand {
        expected_version: Some(0),
        ..rename()
    };
    let err = service(vec![t])
        .update(&creator(), EventId(7), cmd)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VERSION_CONFLICT");
    assert!(!committed.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_descriptive_edit_emits_event_updated_with_an_audit_before_and_after() {
    let (mut t, committed) = tx();
    with_event(&mut t, published());
    t.events
        .expect_update()
        .times(1)
        .withf(|e| {
            e.details.name == "Canyoning deluxe"
                && e.details.description.is_none()
                && e.details.location.as_deref() == Some("Sochi")
                && e.is_featured
                && e.version == 1
        })
        .returning(|e| {
            Ok(Event {
                version: e.version + 1,
                ..e.clone()
            })
        });
    t.outbox
        .expect_enqueue()
        .times(1)
        .withf(|m| m.event_type == DomainEventType::EventUpdated && m.aggregate_version == 2)
        .returning(|_| Ok(()));
    t.audit
        .expect_record()
        .times(1)
        .withf(|a| {
            a.action == "event.update"
                && a.before
                    .as_ref()
                    .is_some_and(|b| b["name"] == "Canyoning" && b["version"] == 1)
                && a.after
                    .as_ref()
                    .is_some_and(|b| b["name"] == "Canyoning deluxe" && b["version"] == 2)
        })
        .returning(|_| Ok(()));
    t.events.expect_price_options().returning(|_| Ok(vec![]));
    let cmd = UpdateEventCommand {
        expected_version: Some(1),
        description: Some(String::new()),
        location: Some("Sochi".into()),
        is_featured: Some(true),
        ..rename()
    };

    let updated = service(vec![t])
        .update(&creator(), EventId(7), cmd)
        .await
        .unwrap();

    assert_eq!(updated.event.version, 2);
    assert!(committed.load(Ordering::SeqCst));
}

#[tokio::test]
async fn moving_the_start_emits_event_rescheduled_and_keeps_the_duration() {
    let (mut t, committed) = tx();
    let original = published();
    let old_start = original.schedule.start_date;
    let new_start = old_start + Duration::days(2);
    with_event(&mut t, original);
    t.events
        .expect_update()
        .times(1)
        .withf(move |e| {
            e.schedule.start_date == new_start
                && e.schedule.end_date == Some(new_start + Duration::hours(5))
        })
        .returning(|e| Ok(e.clone()));
    t.outbox
        .expect_enqueue()
        .times(1)
        .withf(move |m| {
            m.event_type == DomainEventType::EventRescheduled
                && m.payload["previous_start_date"] == old_start.to_rfc3339()
                && m.payload["start_date"] == new_start.to_rfc3339()
        })
        .returning(|_| Ok(()));
    t.audit.expect_record().times(1).returning(|_| Ok(()));
    t.events.expect_price_options().returning(|_| Ok(vec![]));
    let cmd = UpdateEventCommand {
        start_date: Some(new_start),
        ..Default::default()
    };
    service(vec![t])
        .update(&creator(), EventId(7), cmd)
        .await
        .unwrap();
    assert!(committed.load(Ordering::SeqCst));
}

#[tokio::test]
async fn capacity_below_taken_seats_and_edits_of_canceled_events_are_conflicts() {
    let (mut t, committed) = tx();
    let mut busy = published();
    busy.seats.take(6).unwrap();
    with_event(&mut t, busy);
    t.events.expect_update().never();
    let cmd = UpdateEventCommand {
        max_participants: Some(5),
        ..Default::default()
    };
    let err = service(vec![t])
        .update(&creator(), EventId(7), cmd)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CAPACITY_BELOW_BOOKED");
    assert!(!committed.load(Ordering::SeqCst));

    let (mut t, _) = tx();
    let mut gone = published();
    let _ = gone.cancel("storm", now()).unwrap();
    with_event(&mut t, gone);
    t.events.expect_update().never();
    let cmd = UpdateEventCommand {
        is_featured: Some(true),
        ..Default::default()
    };
    let err = service(vec![t])
        .update(&creator(), EventId(7), cmd)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_TRANSITION");
}

// --- publish --------------------------------------------------------------------------

#[tokio::test]
async fn publishing_now_emits_event_published() {
    let (mut t, committed) = tx();
    with_event(&mut t, draft());
    t.events
        .expect_update()
        .times(1)
        .withf(|e| e.status == EventStatus::Published)
        .returning(|e| Ok(e.clone()));
    t.outbox
        .expect_enqueue()
        .times(1)
        .withf(|m| m.event_type == DomainEventType::EventPublished)
        .returning(|_| Ok(()));
    t.audit
        .expect_record()
        .times(1)
        .withf(|a| a.action == "event.publish")
        .returning(|_| Ok(()));
    t.events.expect_price_options().returning(|_| Ok(vec![]));
    let out = service(vec![t])
        .publish(&creator(), EventId(7), PublishEventCommand::default())
        .await
        .unwrap();
    assert_eq!(out.event.status, EventStatus::Published);
    assert!(committed.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_future_publish_at_schedules_and_the_event_stays_a_draft() {
    let at = now() + Duration::days(1);
    let (mut t, _) = tx();
    with_event(&mut t, draft());
    t.events
        .expect_update()
        .times(1)
        .withf(move |e| e.status == EventStatus::Draft && e.publish_at == Some(at))
        .returning(|e| Ok(e.clone()));
    t.outbox
        .expect_enqueue()
        .times(1)
        .withf(|m| m.event_type == DomainEventType::EventUpdated)
        .returning(|_| Ok(()));
    t.audit
        .expect_record()
        .times(1)
        .withf(|a| a.action == "event.schedule_publication")
        .returning(|_| Ok(()));
    t.events.expect_price_options().returning(|_| Ok(vec![]));
    let cmd = PublishEventCommand {
        publish_at: Some(at),
        expected_version: Some(0),
    };
    let out = service(vec![t])
        .publish(&creator(), EventId(7), cmd)
        .await
        .unwrap();
    assert_eq!(out.event.publish_at, Some(at));
}

#[tokio::test]
async fn publishing_a_published_event_is_an_invalid_transition_and_users_are_forbidden() {
    let (mut t, committed) = tx();
    with_event(&mut t, published());
    t.events.expect_update().never();
    let err = service(vec![t])
        .publish(&creator(), EventId(7), PublishEventCommand::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_TRANSITION");
    assert!(!committed.load(Ordering::SeqCst));
    let err = service(vec![])
        .publish(
            &ctx(1, Role::User),
            EventId(7),
            PublishEventCommand::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden { .. }));
}

// --- stats ----------------------------------------------------------------------------

#[tokio::test]
async fn stats_are_for_the_creator_and_admins_only() {
    let err = service(vec![])
        .stats(&ctx(1, Role::User), EventId(7), None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden { .. }));
    let err = service(vec![])
        .stats(
            &creator(),
            EventId(7),
            Some(now()),
            Some(now() - Duration::days(1)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_FAILED");

    let (mut t, _) = tx();
    t.events.expect_find().returning(|_| Ok(Some(published())));
    t.events.expect_stats().never();
    let err = service(vec![t])
        .stats(&ctx(6, Role::Organizer), EventId(7), None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound { .. }));

    // An admin (not the creator): the repository is asked for this event and this period.
    let (from, to) = (now() - Duration::days(7), now());
    let (mut t, _) = tx();
    t.events.expect_find().returning(|_| Ok(Some(published())));
    t.events
        .expect_stats()
        .times(1)
        .withf(move |id, f, u| *id == EventId(7) && *f == Some(from) && *u == Some(to))
        .returning(|id, _, _| {
            Ok(EventStats {
                event_id: Some(id),
                ..Default::default()
            })
        });
    service(vec![t])
        .stats(&ctx(9, Role::Admin), EventId(7), Some(from), Some(to))
        .await
        .unwrap();
}

// --- scheduled publication ------------------------------------------------------------

#[tokio::test]
async fn publish_due_publishes_what_is_due_and_unschedules_what_can_no_longer_be_published() {
    let clock = Arc::new(ManualClock::new(now()));
    let mut due = draft();
    due.schedule_publication(now() + Duration::hours(1), now())
        .unwrap();
    let mut late = draft();
    late.id = EventId(8);
    late.schedule_publication(now() + Duration::hours(2), now())
        .unwrap();
    late.schedule.start_date = now() + Duration::hours(3);
    late.schedule.end_date = None;
    clock.set(now() + Duration::hours(4));

    let (mut t, committed) = tx();
    t.events
        .expect_claim_due_for_publication()
        .times(1)
        .returning(move |_, limit| {
            assert_eq!(limit, 10);
            Ok(vec![due.clone(), late.clone()])
        });
    t.events
        .expect_update()
        .times(2)
        .withf(|e| {
            (e.id == EventId(7) && e.status == EventStatus::Published)
                || (e.id == EventId(8) && e.status == EventStatus::Draft && e.publish_at.is_none())
        })
        .returning(|e| Ok(e.clone()));
    t.outbox
        .expect_enqueue()
        .times(1)
        .withf(|m| m.event_type == DomainEventType::EventPublished && m.aggregate_id == "7")
        .returning(|_| Ok(()));
    t.outbox
        .expect_enqueue()
        .times(1)
        .withf(|m| {
            m.event_type == DomainEventType::AdminAlert
                && m.aggregate_id == "8"
                && m.payload["code"] == "EVENT_ALREADY_STARTED"
        })
        .returning(|_| Ok(()));
    t.audit
        .expect_record()
        .times(2)
        .withf(|a| a.actor_id.is_none() && a.request_id.as_deref() == Some("job:publish-scheduled"))
        .returning(|_| Ok(()));
    let svc = EventService::new(Arc::new(uow_with(vec![t])), clock);

    assert_eq!(svc.publish_due(10).await.unwrap(), 1);
    assert!(committed.load(Ordering::SeqCst));
    assert_eq!(service(vec![]).publish_due(0).await.unwrap(), 0);
}

// --- reschedule -----------------------------------------------------------------------

#[tokio::test]
async fn reschedule_keeps_the_duration_and_tells_participants() {
    let (mut t, committed) = tx();
    with_event(&mut t, published());
    let old_start = published().schedule.start_date;
    t.events
        .expect_update()
        .times(1)
        .withf(move |e| {
            e.schedule.start_date == old_start + Duration::hours(2)
                && e.schedule.end_date == Some(old_start + Duration::hours(7))
        })
        .returning(|e| {
            Ok(Event {
                version: e.version + 1,
                ..e.clone()
            })
        });
    t.outbox
        .expect_enqueue()
        .times(1)
        .withf(move |m| {
            m.event_type == DomainEventType::EventRescheduled
                && m.aggregate_version == 2
                && m.payload["previous_start_date"] == old_start.to_rfc3339()
        })
        .returning(|_| Ok(()));
    t.audit
        .expect_record()
        .times(1)
        .withf(|a| a.action == "event.reschedule" && a.before.is_some() && a.after.is_some())
        .returning(|_| Ok(()));
    let moved = service(vec![t])
        .reschedule(
            &ctx(9, Role::Admin),
            EventId(7),
            RescheduleTo::ShiftBy(Duration::hours(2)),
        )
        .await
        .unwrap();
    assert_eq!(moved.schedule.start_date, old_start + Duration::hours(2));
    assert!(committed.load(Ordering::SeqCst));
}

#[tokio::test]
async fn reschedule_refuses_canceled_events_and_other_organizers_without_writing() {
    let (mut t, committed) = tx();
    let mut canceled = published();
    let _ = canceled.cancel("storm", now()).unwrap();
    with_event(&mut t, canceled);
    t.events.expect_update().never();
    let err = service(vec![t])
        .reschedule(
            &creator(),
            EventId(7),
            RescheduleTo::StartAt(now() + Duration::days(20)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_TRANSITION");
    assert!(!committed.load(Ordering::SeqCst));

    let (mut t, _) = tx();
    with_event(&mut t, published());
    t.events.expect_update().never();
    let err = service(vec![t])
        .reschedule(
            &ctx(6, Role::Organizer),
            EventId(7),
            RescheduleTo::ShiftBy(Duration::hours(1)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound { .. }), "{err:?}");
    let err = service(vec![])
        .reschedule(
            &ctx(1, Role::User),
            EventId(7),
            RescheduleTo::ShiftBy(Duration::hours(1)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn deactivating_a_price_option_keeps_its_stock_and_is_audited() {
    let (mut t, committed) = tx();
    with_event(&mut t, published());
    t.events.expect_price_options().returning(|_| {
        Ok(vec![PriceOption {
            quantity_available: Some(3),
            ..option(3, true)
        }])
    });
    t.events
        .expect_save_price_option()
        .times(1)
        .withf(|_, id, o| {
            *id == Some(PriceOptionId(3)) && !o.is_active && o.quantity_available == Some(3)
        })
        .returning(|_, _, o| {
            Ok(PriceOption {
                is_active: o.is_active,
                quantity_available: o.quantity_available,
                ..option(3, true)
            })
        });
    bumping_update(&mut t);
    t.outbox
        .expect_enqueue()
        .times(1)
        .withf(|m| m.event_type == DomainEventType::EventUpdated)
        .returning(|_| Ok(()));
    t.audit
        .expect_record()
        .times(1)
        .withf(|a| a.action == "event.price_option.deactivate")
        .returning(|_| Ok(()));
    let saved = service(vec![t])
        .deactivate_price_option(&creator(), EventId(7), PriceOptionId(3))
        .await
        .unwrap();
    assert!(!saved.is_active);
    assert!(committed.load(Ordering::SeqCst));
}

// --- price options --------------------------------------------------------------------

#[tokio::test]
async fn saving_a_price_option_bumps_the_event_and_is_audited() {
    let (mut t, committed) = tx();
    with_event(&mut t, published());
    t.events
        .expect_price_options()
        .returning(|_| Ok(vec![option(3, true)]));
    t.events
        .expect_save_price_option()
        .times(1)
        .withf(|_, id, o| *id == Some(PriceOptionId(3)) && o.name == "VIP")
        .returning(|_, _, o| {
            Ok(PriceOption {
                name: o.name,
                ..option(3, true)
            })
        });
    bumping_update(&mut t);
    t.outbox
        .expect_enqueue()
        .times(1)
        .withf(|m| m.event_type == DomainEventType::EventUpdated && m.aggregate_version == 2)
        .returning(|_| Ok(()));
    t.audit
        .expect_record()
        .times(1)
        .withf(|a| {
            a.action == "event.price_option.save"
                && a.before.as_ref().is_some_and(|b| b["name"] == "Tier 3")
        })
        .returning(|_| Ok(()));
    let input = PriceOptionInput {
        name: "VIP".into(),
        price: Money::parse("5000").unwrap(),
        description: None,
        quantity_available: Some(2),
        is_active: true,
    };
    let saved = service(vec![t])
        .save_price_option(&creator(), EventId(7), Some(PriceOptionId(3)), input)
        .await
        .unwrap();
    assert_eq!(saved.name, "VIP");
    assert!(committed.load(Ordering::SeqCst));
}
