//! AuditLog on PostgreSQL and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::rows;
use test_db::on_both_backends;

use adapters_postgres::SeaUnitOfWork;
use adapters_postgres::entities::audit_log;
use chrono::{Duration, TimeZone, Utc};
use domain::{Timestamp, UserId};
use ports::{AuditEntry, AuditLog, AuditQuery};
use ports::{PageRequest, Role};
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder, Set};

fn at(minutes: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2027, 5, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn user(n: u128) -> UserId {
    UserId(uuid::Uuid::from_u128(n))
}

fn entry(
    actor: Option<UserId>,
    role: Role,
    action: &str,
    entity_type: &'static str,
    entity_id: &str,
    minute: i64,
) -> AuditEntry {
    AuditEntry {
        actor_id: actor,
        actor_role: role,
        action: action.into(),
        entity_type: entity_type.into(),
        entity_id: entity_id.into(),
        before: None,
        after: None,
        request_id: None,
        client_ip: None,
        created_at: at(minute),
    }
}

/// Five lines, one a minute: (actor, action, entity).
fn lines() -> Vec<AuditEntry> {
    vec![
        entry(
            Some(user(1)),
            Role::Organizer,
            "event.create",
            "event",
            "7",
            0,
        )
        .with_change(
            None,
            Some(serde_json::json!({"name": "River trip", "seats": 10})),
        ),
        entry(
            Some(user(1)),
            Role::Organizer,
            "event.update",
            "event",
            "7",
            1,
        )
        .with_change(
            Some(serde_json::json!({"seats": 10})),
            Some(serde_json::json!({"seats": 12})),
        ),
        entry(
            Some(user(2)),
            Role::User,
            "booking.create",
            "booking",
            "40",
            2,
        ),
        entry(None, Role::Guest, "booking.expire", "booking", "40", 3),
        entry(Some(user(3)), Role::Admin, "event.cancel", "event", "8", 4),
    ]
}

on_both_backends!(record_and_search_with_every_filter, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let mut written = lines();
    written[0].request_id = Some("req-1".into());
    written[0].client_ip = Some("203.0.113.9".into());
    for line in &written {
        tx.record(line.clone()).await.unwrap();
    }
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    let entries = |q: AuditQuery| {
        let tx = &tx;
        async move {
            let page = tx.search(&q).await.unwrap();
            let actions: Vec<String> = page.items.iter().map(|r| r.entry.action.clone()).collect();
            (actions, page.total_elements)
        }
    };

    // everything, newest first, read back field by field
    let all = tx.search(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.total_elements, 5);
    let read: Vec<AuditEntry> = all.items.iter().map(|r| r.entry.clone()).collect();
    let mut expected = written.clone();
    expected.reverse();
    assert_eq!(read, expected);
    assert!(all.items.windows(2).all(|w| w[0].id > w[1].id));

    let (actions, total) = entries(AuditQuery {
        actor_id: Some(user(1)),
        ..Default::default()
    })
    .await;
    assert_eq!(
        (actions, total),
        (vec!["event.update".into(), "event.create".into()], 2)
    );

    let (actions, _) = entries(AuditQuery {
        action: Some("booking.expire".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(actions, ["booking.expire"]);

    let (actions, _) = entries(AuditQuery {
        entity_type: Some("booking".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(actions, ["booking.expire", "booking.create"]);

    let (actions, _) = entries(AuditQuery {
        entity_type: Some("event".into()),
        entity_id: Some("7".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(actions, ["event.update", "event.create"]);

    // the time range is inclusive at both ends
    let (actions, total) = entries(AuditQuery {
        from: Some(at(1)),
        to: Some(at(3)),
        ..Default::default()
    })
    .await;
    assert_eq!(
        (actions, total),
        (
            vec![
                "booking.expire".into(),
                "booking.create".into(),
                "event.update".into()
            ],
            3
        )
    );
    let (actions, _) = entries(AuditQuery {
        from: Some(at(4)),
        ..Default::default()
    })
    .await;
    assert_eq!(actions, ["event.cancel"]);
    let (actions, _) = entries(AuditQuery {
        to: Some(at(0)),
        ..Default::default()
    })
    .await;
    assert_eq!(actions, ["event.create"]);

    let (actions, total) = entries(AuditQuery {
        page: PageRequest::new(Some(1), Some(2)).unwrap(),
        ..Default::default()
    })
    .await;
    assert_eq!(
        (actions, total),
        (vec!["booking.create".into(), "event.update".into()], 5)
    );
    let (actions, total) = entries(AuditQuery {
        actor_id: Some(user(9)),
        ..Default::default()
    })
    .await;
    assert_eq!((actions.len(), total), (0, 0));
});

on_both_backends!(purge_deletes_the_oldest_lines_before_the_cutoff, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    for line in lines() {
        tx.record(line).await.unwrap();
    }
    // nothing is older than the first line
    assert_eq!(tx.purge_before(at(0), 10).await.unwrap(), 0);
    assert_eq!(tx.purge_before(at(10), 0).await.unwrap(), 0);
    // four lines are older than minute 4: two per call
    assert_eq!(tx.purge_before(at(4), 2).await.unwrap(), 2);
    tx.commit_tx().await.unwrap();

    let left: Vec<_> = audit_log::Entity::find()
        .order_by_asc(audit_log::Column::CreatedAt)
        .all(&t.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.created_at)
        .collect();
    assert_eq!(left, [at(2), at(3), at(4)], "the oldest went first");

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(tx.purge_before(at(4), 2).await.unwrap(), 2);
    assert_eq!(tx.purge_before(at(4), 2).await.unwrap(), 0);
    tx.commit_tx().await.unwrap();
    assert_eq!(audit_log::Entity::find().count(&t.db).await.unwrap(), 1);
});

on_both_backends!(unknown_stored_roles_are_corrupt, |t| {
    let row = audit_log::ActiveModel {
        actor_id: Set(None),
        actor_role: Set("ROOT".into()),
        action: Set("x.y".into()),
        entity_type: Set("event".into()),
        entity_id: Set("1".into()),
        before: Set(None),
        after: Set(None),
        request_id: Set(None),
        client_ip: Set(None),
        created_at: Set(at(0)),
        ..Default::default()
    };
    let (_, tx) = rows::stored_then_begin(&t.db, row).await;
    rows::assert_corrupt(&tx.search(&AuditQuery::default()).await.unwrap_err());
});
