//! CategoryRepository on PostgreSQL and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use test_db::on_both_backends;

use adapters_postgres::SeaUnitOfWork;
use domain::CategoryId;
use domain::category::{CategoryFields, CategoryInput};
use ports::CategoryRepository;

fn fields(name: &str, parent: Option<CategoryId>) -> CategoryFields {
    CategoryFields::new(&CategoryInput {
        name: name.into(),
        parent_id: parent,
        ..Default::default()
    })
    .unwrap()
}

on_both_backends!(insert_find_list_update, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let water = tx.insert(fields("Water", None)).await.unwrap();
    let rafting = tx.insert(fields("Rafting", Some(water.id))).await.unwrap();
    assert_eq!(rafting.parent_id, Some(water.id));
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(tx.find(rafting.id).await.unwrap().unwrap().name, "Rafting");
    assert!(tx.find(CategoryId(9_999)).await.unwrap().is_none());
    let names: Vec<_> = tx
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Rafting", "Water"]);
    let renamed = tx
        .update(rafting.id, fields("White water", Some(water.id)))
        .await
        .unwrap();
    assert_eq!(renamed.name, "White water");
    let missing = tx
        .update(CategoryId(9_999), fields("Ghost", None))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), "NOT_FOUND");
});

on_both_backends!(duplicate_names_conflict_and_a_dropped_tx_rolls_back, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    tx.insert(fields("Hiking", None)).await.unwrap();
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    let err = tx.insert(fields("Hiking", None)).await.unwrap_err();
    assert_eq!(err.code(), "CATEGORY_EXISTS");
    drop(tx);

    let tx = uow.begin_tx().await.unwrap();
    tx.insert(fields("Sailing", None)).await.unwrap();
    drop(tx); // no commit: rolled back
    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(tx.list().await.unwrap().len(), 1);
});

on_both_backends!(parent_must_exist, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let err = tx
        .insert(fields("Orphan", Some(CategoryId(4_242))))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "VALIDATION_FAILED",
        "the foreign key refuses an unknown parent"
    );
});
