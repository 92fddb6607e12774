//! WaitlistRepository on PostgreSQL and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::rows;
use test_db::on_both_backends;

use crate::engagement_fixtures::{at, event, user};
use adapters_postgres::SeaUnitOfWork;
use adapters_postgres::entities::{waitlist, waitlist_audit};
use chrono::Duration;
use domain::waitlist::{WaitlistEntry, WaitlistStatus};
use domain::{EventId, Quantity, UserId, WaitlistEntryId};
use ports::PageRequest;
use ports::WaitlistRepository;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

fn qty(n: i64) -> Quantity {
    Quantity::new(n, 10).unwrap()
}

fn window() -> Duration {
    Duration::minutes(30)
}

fn users(entries: &[WaitlistEntry]) -> Vec<UserId> {
    entries.iter().map(|e| e.user_id).collect()
}

/// Joins users 1..=n (quantity = user number) one after another, committed.
async fn queue(uow: &SeaUnitOfWork, event_id: EventId, n: u128) -> Vec<WaitlistEntry> {
    let tx = uow.begin_tx().await.unwrap();
    let mut joined = Vec::new();
    for u in 1..=n {
        let q = qty(i64::try_from(u).unwrap());
        let minute = i64::try_from(u).unwrap();
        joined.push(tx.join(event_id, user(u), q, at(minute)).await.unwrap());
    }
    tx.commit_tx().await.unwrap();
    joined
}

/// Notifies the entry at `now` and stores it.
async fn notify(uow: &SeaUnitOfWork, entry: &WaitlistEntry, now: chrono::DateTime<chrono::Utc>) {
    let tx = uow.begin_tx().await.unwrap();
    let mut e = entry.clone();
    let _ = e.notify(now, window()).unwrap();
    tx.update(&e).await.unwrap();
    tx.commit_tx().await.unwrap();
}

on_both_backends!(join_find_position_and_list, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Canyoning").await;
    let other = event(&t.db, "Elsewhere").await;
    let joined = queue(&uow, ev, 3).await;

    let first = &joined[0];
    assert_eq!(first.status, WaitlistStatus::Waiting);
    assert_eq!(first.held_seats, 0);
    assert_eq!((first.notified_at, first.hold_expires_at), (None, None));
    assert_eq!((first.created_at, first.updated_at), (at(1), at(1)));
    assert_eq!(first.quantity.get(), 1);
    for e in &joined {
        assert_eq!(e.priority, e.id.0, "priority is the row's own id");
    }
    assert!(joined.windows(2).all(|w| w[0].priority < w[1].priority));

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(
        tx.find(joined[1].id).await.unwrap().as_ref(),
        Some(&joined[1])
    );
    assert!(tx.find(WaitlistEntryId(9_999)).await.unwrap().is_none());
    for (i, e) in joined.iter().enumerate() {
        assert_eq!(tx.position(e).await.unwrap(), u64::try_from(i + 1).unwrap());
    }

    let all = tx.list(ev, vec![], PageRequest::default()).await.unwrap();
    assert_eq!(all.total_elements, 3);
    assert_eq!(users(&all.items), [user(1), user(2), user(3)]);
    let second_page = tx
        .list(ev, vec![], PageRequest::new(Some(1), Some(2)).unwrap())
        .await
        .unwrap();
    assert_eq!((second_page.total_elements, second_page.page), (3, 1));
    assert_eq!(users(&second_page.items), [user(3)]);
    let waiting = tx
        .list(ev, vec![WaitlistStatus::Waiting], PageRequest::default())
        .await
        .unwrap();
    assert_eq!(waiting.total_elements, 3);
    let notified = tx
        .list(ev, vec![WaitlistStatus::Notified], PageRequest::default())
        .await
        .unwrap();
    assert_eq!((notified.total_elements, notified.items.len()), (0, 0));
    let empty = tx
        .list(other, vec![], PageRequest::default())
        .await
        .unwrap();
    assert_eq!(empty.total_elements, 0);
});

on_both_backends!(a_user_queues_once_per_event, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Rafting").await;
    let other = event(&t.db, "Hiking").await;
    let joined = queue(&uow, ev, 1).await;

    let tx = uow.begin_tx().await.unwrap();
    let err = tx.join(ev, user(1), qty(2), at(5)).await.unwrap_err();
    assert_eq!(err.code(), "ALREADY_ON_WAITLIST");
    drop(tx);

    // Another event is another queue; an unknown event is not found.
    let tx = uow.begin_tx().await.unwrap();
    tx.join(other, user(1), qty(1), at(5)).await.unwrap();
    tx.commit_tx().await.unwrap();
    let tx = uow.begin_tx().await.unwrap();
    let err = tx
        .join(EventId(4_242), user(1), qty(1), at(5))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    drop(tx);

    // Once the entry is closed the user may queue again, behind everyone.
    let tx = uow.begin_tx().await.unwrap();
    let mut left = joined[0].clone();
    let _ = left.leave(at(6)).unwrap();
    tx.update(&left).await.unwrap();
    let again = tx.join(ev, user(1), qty(1), at(7)).await.unwrap();
    assert!(again.priority > joined[0].priority);
    assert_eq!(tx.position(&again).await.unwrap(), 1);
    tx.commit_tx().await.unwrap();
});

on_both_backends!(the_database_refuses_a_second_open_entry, |t| {
    let ev = event(&t.db, "Via ferrata").await;
    let row = |status: WaitlistStatus, priority: i64| waitlist::ActiveModel {
        event_id: Set(ev.0),
        user_id: Set(user(1).0),
        priority: Set(priority),
        quantity: Set(1),
        status: Set(status.as_str().to_owned()),
        held_seats: Set(0),
        notified_at: Set(None),
        hold_expires_at: Set(None),
        created_at: Set(at(0)),
        updated_at: Set(at(0)),
        ..Default::default()
    };
    row(WaitlistStatus::Waiting, 1).insert(&t.db).await.unwrap();
    // Closed entries do not count against the open-entry index.
    row(WaitlistStatus::Expired, 2).insert(&t.db).await.unwrap();
    let err = row(WaitlistStatus::Notified, 3)
        .insert(&t.db)
        .await
        .unwrap_err();
    rows::assert_unique_violation(&err);
    assert_eq!(waitlist::Entity::find().all(&t.db).await.unwrap().len(), 2);
});

on_both_backends!(next_waiting_is_fifo_and_holds_are_counted, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Kayak").await;
    let joined = queue(&uow, ev, 4).await;
    notify(&uow, &joined[0], at(10)).await;

    let tx = uow.begin_tx().await.unwrap();
    let next = tx.next_waiting(ev, 2).await.unwrap();
    assert_eq!(
        users(&next),
        [user(2), user(3)],
        "first WAITING by join order"
    );
    assert_eq!(users(&tx.next_waiting(ev, 10).await.unwrap()).len(), 3);
    assert_eq!(tx.held_seats(ev).await.unwrap(), 1);

    let offered = tx.find_open(ev, user(1)).await.unwrap().unwrap();
    assert_eq!(offered.status, WaitlistStatus::Notified);
    assert_eq!(offered.held_seats, 1);
    assert_eq!(offered.notified_at, Some(at(10)));
    assert_eq!(offered.hold_expires_at, Some(at(10) + window()));
    assert_eq!(offered.updated_at, at(10));
    assert_eq!(offered.created_at, joined[0].created_at);
    assert_eq!(
        tx.position(&next[0]).await.unwrap(),
        2,
        "the NOTIFIED entry is ahead"
    );
    assert_eq!(users(&tx.open_for_event(ev).await.unwrap()).len(), 4);
    assert!(tx.find_open(ev, user(77)).await.unwrap().is_none());
    assert_eq!(
        tx.peek_open(ev, user(1)).await.unwrap(),
        Some(offered.clone()),
        "the unlocked read sees the same entry"
    );
    assert!(tx.peek_open(ev, user(77)).await.unwrap().is_none());
    drop(tx);

    notify(&uow, &joined[1], at(11)).await;
    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(tx.held_seats(ev).await.unwrap(), 1 + 2);
    let mut leaving = tx.find_open(ev, user(1)).await.unwrap().unwrap();
    let end = leaving.leave(at(12)).unwrap();
    assert_eq!(end.seats, 1);
    let stored = tx.update(&leaving).await.unwrap();
    assert_eq!(stored, leaving);
    assert!(tx.find_open(ev, user(1)).await.unwrap().is_none());
    assert!(
        tx.peek_open(ev, user(1)).await.unwrap().is_none(),
        "a LEFT entry is not open"
    );
    assert_eq!(tx.held_seats(ev).await.unwrap(), 2);
    assert_eq!(tx.position(&joined[2]).await.unwrap(), 2);
    assert_eq!(
        users(&tx.open_for_event(ev).await.unwrap()),
        [user(2), user(3), user(4)]
    );
    let left = tx
        .list(ev, vec![WaitlistStatus::Left], PageRequest::default())
        .await
        .unwrap();
    assert_eq!(users(&left.items), [user(1)]);
    let open = tx
        .list(
            ev,
            vec![WaitlistStatus::Waiting, WaitlistStatus::Notified],
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(open.total_elements, 3);
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(tx.held_seats(EventId(4_242)).await.unwrap(), 0);
    let mut ghost = joined[3].clone();
    ghost.id = WaitlistEntryId(9_999);
    assert_eq!(tx.update(&ghost).await.unwrap_err().code(), "NOT_FOUND");
});

on_both_backends!(expired_offers_are_claimed_oldest_first, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Paragliding").await;
    let joined = queue(&uow, ev, 4).await;
    // Holds end at 40, 50 and 60 minutes; user 4 keeps waiting.
    notify(&uow, &joined[2], at(20)).await;
    notify(&uow, &joined[0], at(10)).await;
    notify(&uow, &joined[1], at(30)).await;

    let tx = uow.begin_tx().await.unwrap();
    assert!(
        tx.claim_expired_offers(at(40), 10)
            .await
            .unwrap()
            .is_empty(),
        "end is inclusive"
    );
    let expired = tx.claim_expired_offers(at(55), 10).await.unwrap();
    assert_eq!(users(&expired), [user(1), user(3)]);
    assert_eq!(
        users(&tx.claim_expired_offers(at(55), 1).await.unwrap()),
        [user(1)]
    );
    assert_eq!(tx.claim_expired_offers(at(600), 10).await.unwrap().len(), 3);

    let mut gone = expired[0].clone();
    let end = gone.expire(at(55)).unwrap();
    assert_eq!(end.seats, 1);
    tx.update(&gone).await.unwrap();
    assert_eq!(
        users(&tx.claim_expired_offers(at(55), 10).await.unwrap()),
        [user(3)]
    );
});

on_both_backends!(audit_lines_record_the_change, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Climbing").await;
    let joined = queue(&uow, ev, 1).await;
    let admin = user(500);

    let tx = uow.begin_tx().await.unwrap();
    tx.append_audit(&joined[0], None, None, at(1))
        .await
        .unwrap();
    let mut entry = joined[0].clone();
    let _ = entry.notify(at(2), window()).unwrap();
    tx.update(&entry).await.unwrap();
    tx.append_audit(&entry, Some(WaitlistStatus::Waiting), Some(admin), at(2))
        .await
        .unwrap();
    let mut ghost = entry.clone();
    ghost.id = WaitlistEntryId(9_999);
    tx.commit_tx().await.unwrap();

    let lines = waitlist_audit::Entity::find()
        .filter(waitlist_audit::Column::WaitlistEntryId.eq(entry.id.0))
        .order_by_asc(waitlist_audit::Column::Id)
        .all(&t.db)
        .await
        .unwrap();
    let seen: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                l.event_id,
                l.user_id,
                l.old_status.as_deref(),
                l.new_status.as_str(),
                l.held_seats,
                l.actor_id,
                l.created_at,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (ev.0, user(1).0, None, "WAITING", 0, None, at(1)),
            (
                ev.0,
                user(1).0,
                Some("WAITING"),
                "NOTIFIED",
                1,
                Some(admin.0),
                at(2)
            ),
        ]
    );

    let tx = uow.begin_tx().await.unwrap();
    let err = tx
        .append_audit(&ghost, None, None, at(3))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
});

on_both_backends!(concurrent_claims_take_disjoint_rows, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Diving").await;
    let joined = queue(&uow, ev, 4).await;
    notify(&uow, &joined[2], at(10)).await;
    notify(&uow, &joined[3], at(11)).await;
    if t.backend != test_db::Backend::Postgres {
        // SQLite has one writer (one pooled connection): the claims are serial by construction.
        let tx = uow.begin_tx().await.unwrap();
        assert_eq!(users(&tx.next_waiting(ev, 1).await.unwrap()), [user(1)]);
        return;
    }
    let first = uow.begin_tx().await.unwrap();
    let second = uow.begin_tx().await.unwrap();
    assert_eq!(users(&first.next_waiting(ev, 1).await.unwrap()), [user(1)]);
    assert_eq!(
        users(&second.next_waiting(ev, 1).await.unwrap()),
        [user(2)],
        "the row locked by the first instance is skipped"
    );
    assert_eq!(
        users(&first.claim_expired_offers(at(100), 1).await.unwrap()),
        [user(3)]
    );
    assert_eq!(
        users(&second.claim_expired_offers(at(100), 5).await.unwrap()),
        [user(4)]
    );
    first.commit_tx().await.unwrap();
    assert_eq!(
        users(&second.next_waiting(ev, 1).await.unwrap()),
        [user(1)],
        "released when the first transaction ends"
    );
});
