//! FavoriteRepository on PostgreSQL and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::rows;
use test_db::on_both_backends;

use std::time::{Duration, Instant};

use crate::engagement_fixtures::{at, event, user};
use adapters_postgres::SeaUnitOfWork;
use adapters_postgres::entities::favorites;
use domain::EventId;
use domain::favorite::Favorite;
use ports::FavoriteRepository;
use ports::PageRequest;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, Set, Statement};

fn events_of(page: &[Favorite]) -> Vec<EventId> {
    page.iter().map(|f| f.event_id).collect()
}

on_both_backends!(adding_is_idempotent_and_removing_reports, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Rafting").await;

    let tx = uow.begin_tx().await.unwrap();
    let (fav, created) = tx.add(ev, user(1), at(1)).await.unwrap();
    assert!(created);
    assert_eq!(
        (fav.event_id, fav.user_id, fav.created_at),
        (ev, user(1), at(1))
    );
    assert_eq!(
        tx.add(ev, user(1), at(2)).await.unwrap(),
        (fav.clone(), false)
    );
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    let (again, created) = tx.add(ev, user(1), at(5)).await.unwrap();
    assert!(!created);
    assert_eq!(again, fav, "the first favorite, with its own date");
    let (theirs, created) = tx.add(ev, user(2), at(6)).await.unwrap();
    assert!(created);
    assert_ne!(theirs.id, fav.id);

    assert!(tx.remove(ev, user(1)).await.unwrap());
    assert!(
        !tx.remove(ev, user(1)).await.unwrap(),
        "nothing left to remove"
    );
    assert!(!tx.remove(EventId(4_242), user(2)).await.unwrap());
    let (back, created) = tx.add(ev, user(1), at(7)).await.unwrap();
    assert!(created);
    assert_ne!(back.id, fav.id);
    tx.commit_tx().await.unwrap();
    assert_eq!(favorites::Entity::find().count(&t.db).await.unwrap(), 2);
});

on_both_backends!(list_is_the_users_newest_first, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let (a, b, c) = (
        event(&t.db, "A").await,
        event(&t.db, "B").await,
        event(&t.db, "C").await,
    );

    let tx = uow.begin_tx().await.unwrap();
    tx.add(b, user(1), at(10)).await.unwrap();
    tx.add(a, user(1), at(30)).await.unwrap();
    tx.add(c, user(1), at(20)).await.unwrap();
    tx.add(a, user(2), at(40)).await.unwrap();
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    let mine = tx.list(user(1), PageRequest::default()).await.unwrap();
    assert_eq!(events_of(&mine.items), [a, c, b]);
    assert_eq!(mine.total_elements, 3);
    assert!(mine.items.iter().all(|f| f.user_id == user(1)));
    let second = tx
        .list(user(1), PageRequest::new(Some(1), Some(2)).unwrap())
        .await
        .unwrap();
    assert_eq!(
        (events_of(&second.items), second.total_elements, second.page),
        (vec![b], 3, 1)
    );
    let nobody = tx.list(user(3), PageRequest::default()).await.unwrap();
    assert_eq!((nobody.items.len(), nobody.total_elements), (0, 0));
});

on_both_backends!(an_unknown_event_cannot_be_a_favorite, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let err = tx.add(EventId(4_242), user(1), at(1)).await.unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
});

on_both_backends!(the_database_keeps_one_row_per_user_and_event, |t| {
    let ev = event(&t.db, "Sailing").await;
    let row = || favorites::ActiveModel {
        event_id: Set(ev.0),
        user_id: Set(user(1).0),
        created_at: Set(at(1)),
        ..Default::default()
    };
    row().insert(&t.db).await.unwrap();
    let err = row().insert(&t.db).await.unwrap_err();
    rows::assert_unique_violation(&err);
});

/// Whether a session of this database (the test's own: nobody else's insert counts) is blocked
/// on a lock while inserting a favorite.
async fn favorite_insert_is_waiting(db: &sea_orm::DatabaseConnection) -> bool {
    let sql = "SELECT COUNT(*) AS n FROM pg_stat_activity \
               WHERE datname = current_database() AND wait_event_type = 'Lock' \
               AND query LIKE 'INSERT INTO \"favorites\"%'";
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap() > 0
}

on_both_backends!(a_concurrent_duplicate_add_answers_the_existing_row, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Kayak").await;
    if t.backend != test_db::Backend::Postgres {
        // One writer at a time: the second add simply finds the first.
        let tx = uow.begin_tx().await.unwrap();
        let (first, _) = tx.add(ev, user(1), at(1)).await.unwrap();
        tx.commit_tx().await.unwrap();
        let tx = uow.begin_tx().await.unwrap();
        assert_eq!(tx.add(ev, user(1), at(2)).await.unwrap(), (first, false));
        return;
    }

    let first_tx = uow.begin_tx().await.unwrap();
    let (first, created) = first_tx.add(ev, user(1), at(1)).await.unwrap();
    assert!(created);

    // The second instance checks, finds nothing (the first is not committed) and inserts:
    // its insert waits on the unique index for the first transaction.
    let second_uow = uow.clone();
    let second = tokio::spawn(async move {
        let tx = second_uow.begin_tx().await.unwrap();
        let added = tx.add(ev, user(1), at(2)).await.unwrap();
        // The transaction survived the refused insert.
        let listed = tx.list(user(1), PageRequest::default()).await.unwrap();
        tx.commit_tx().await.unwrap();
        (added, listed.items)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !favorite_insert_is_waiting(&t.db).await {
        assert!(Instant::now() < deadline, "the second insert never blocked");
        tokio::task::yield_now().await;
    }
    first_tx.commit_tx().await.unwrap();

    let ((found, created), listed) = second.await.unwrap();
    assert!(!created, "the unique index caught the duplicate");
    assert_eq!(found, first);
    assert_eq!(listed, [first]);
    assert_eq!(favorites::Entity::find().count(&t.db).await.unwrap(), 1);
});
