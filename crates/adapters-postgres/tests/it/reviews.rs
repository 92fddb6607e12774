//! ReviewRepository on PostgreSQL and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use test_db::on_both_backends;

use crate::engagement_fixtures::{at, event, review, review_row, user};
use adapters_postgres::SeaUnitOfWork;
use adapters_postgres::entities::{review_helpful_votes, reviews};
use domain::review::{NewReview, NewReviewReply, RatingSummary, Review, ReviewStatus};
use domain::{EventId, ReviewId, UserId};
use ports::PageRequest;
use ports::{ReviewQuery, ReviewRepository, ReviewSort};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait};

fn new_review(event_id: EventId, author: UserId, rating: i64, minute: i64) -> NewReview {
    NewReview::new(
        event_id,
        author,
        rating,
        Some("<p>Great guides</p>"),
        at(minute),
    )
    .unwrap()
}

fn ids(page: &[Review]) -> Vec<ReviewId> {
    page.iter().map(|r| r.id).collect()
}

on_both_backends!(insert_find_and_optimistic_update, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Rafting").await;

    let tx = uow.begin_tx().await.unwrap();
    let created = tx.insert(new_review(ev, user(1), 4, 5)).await.unwrap();
    assert_eq!(created.status, ReviewStatus::Pending);
    assert_eq!(created.rating.get(), 4);
    assert_eq!(created.content.as_deref(), Some("Great guides"));
    assert_eq!((created.helpful_count, created.version), (0, 0));
    assert_eq!((created.created_at, created.updated_at), (at(5), at(5)));
    assert_eq!(created.moderation_note, None);
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(tx.find(created.id).await.unwrap().as_ref(), Some(&created));
    assert!(tx.find(ReviewId(9_999)).await.unwrap().is_none());

    let mut rejected = created.clone();
    let _ = rejected.reject(Some("no links please"), at(6)).unwrap();
    let stored = tx.update(&rejected).await.unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.status, ReviewStatus::Rejected);
    assert_eq!(stored.moderation_note.as_deref(), Some("no links please"));
    assert_eq!(stored.updated_at, at(6));
    assert_eq!(
        stored,
        Review {
            version: 1,
            ..rejected.clone()
        }
    );

    // The author edits the review they read before the moderation: stale version.
    let mut stale = created.clone();
    let _ = stale.edit(2, Some("meh"), at(7)).unwrap();
    let err = tx.update(&stale).await.unwrap_err();
    assert_eq!(err.code(), "VERSION_CONFLICT");
    assert_eq!(tx.find(created.id).await.unwrap().unwrap(), stored);

    let mut fresh = stored.clone();
    let _ = fresh.edit(2, None, at(8)).unwrap();
    let edited = tx.update(&fresh).await.unwrap();
    assert_eq!(
        (
            edited.version,
            edited.rating.get(),
            edited.status,
            edited.content.as_deref()
        ),
        (2, 2, ReviewStatus::Pending, None)
    );

    let mut ghost = edited.clone();
    ghost.id = ReviewId(9_999);
    assert_eq!(tx.update(&ghost).await.unwrap_err().code(), "NOT_FOUND");
    tx.commit_tx().await.unwrap();
});

on_both_backends!(one_review_per_user_and_event, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Hiking").await;
    let other = event(&t.db, "Sailing").await;

    let tx = uow.begin_tx().await.unwrap();
    tx.insert(new_review(ev, user(1), 5, 1)).await.unwrap();
    tx.insert(new_review(other, user(1), 3, 1)).await.unwrap();
    tx.insert(new_review(ev, user(2), 3, 1)).await.unwrap();
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    let err = tx.insert(new_review(ev, user(1), 1, 2)).await.unwrap_err();
    assert_eq!(err.code(), "ALREADY_REVIEWED");
    drop(tx);

    let tx = uow.begin_tx().await.unwrap();
    let err = tx
        .insert(new_review(EventId(4_242), user(1), 1, 2))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    drop(tx);

    assert_eq!(reviews::Entity::find().count(&t.db).await.unwrap(), 3);
});

on_both_backends!(the_database_refuses_a_rating_of_six, |t| {
    let ev = event(&t.db, "Climbing").await;
    let six = review_row(ev, user(1), 6, ReviewStatus::Active, 0, at(0));
    assert!(
        six.insert(&t.db).await.is_err(),
        "CHECK (rating BETWEEN 1 AND 5)"
    );
    let zero = review_row(ev, user(1), 0, ReviewStatus::Active, 0, at(0));
    assert!(zero.insert(&t.db).await.is_err());
    let five = review_row(ev, user(1), 5, ReviewStatus::Active, 0, at(0));
    five.insert(&t.db).await.unwrap();
    assert_eq!(reviews::Entity::find().count(&t.db).await.unwrap(), 1);
});

on_both_backends!(search_filters_sorts_pages_and_summarizes, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Kayak").await;
    let other = event(&t.db, "Diving").await;
    let db = &t.db;
    let (active, pending, rejected) = (
        ReviewStatus::Active,
        ReviewStatus::Pending,
        ReviewStatus::Rejected,
    );
    // (event, author, rating, status, helpful, minute)
    let a = review(db, ev, user(1), 5, active, 1, at(10)).await;
    let b = review(db, ev, user(2), 3, active, 7, at(20)).await;
    let c = review(db, ev, user(3), 4, pending, 9, at(30)).await;
    let d = review(db, ev, user(4), 1, rejected, 0, at(40)).await;
    let e = review(db, ev, user(5), 4, active, 7, at(50)).await;
    let f = review(db, other, user(1), 2, active, 3, at(60)).await;

    let tx = uow.begin_tx().await.unwrap();
    let by_event = |statuses: Vec<ReviewStatus>| ReviewQuery {
        event_id: Some(ev),
        statuses,
        ..Default::default()
    };

    let (page, summary) = tx.search(&by_event(vec![])).await.unwrap();
    assert_eq!(ids(&page.items), [e, d, c, b, a], "newest first");
    assert_eq!(page.total_elements, 5);
    assert_eq!(
        summary,
        RatingSummary {
            rating_sum: 5 + 3 + 4,
            count: 3
        },
        "ACTIVE reviews of the event only"
    );

    let (page, summary_active) = tx.search(&by_event(vec![active])).await.unwrap();
    assert_eq!(ids(&page.items), [e, b, a]);
    assert_eq!(summary_active, summary);
    let (page, summary_hidden) = tx.search(&by_event(vec![pending, rejected])).await.unwrap();
    assert_eq!(ids(&page.items), [d, c]);
    assert_eq!(
        summary_hidden, summary,
        "the summary ignores the status filter"
    );

    let helpful = ReviewQuery {
        sort: ReviewSort::MostHelpful,
        ..by_event(vec![])
    };
    let (page, _) = tx.search(&helpful).await.unwrap();
    assert_eq!(ids(&page.items), [c, e, b, a, d], "ties by newest");

    let queue = ReviewQuery {
        sort: ReviewSort::Oldest,
        statuses: vec![pending, active],
        ..Default::default()
    };
    let (page, _) = tx.search(&queue).await.unwrap();
    assert_eq!(
        ids(&page.items),
        [a, b, c, e, f],
        "oldest first, across events"
    );

    let high = ReviewQuery {
        min_rating: Some(4),
        ..by_event(vec![active])
    };
    let (page, summary_high) = tx.search(&high).await.unwrap();
    assert_eq!((ids(&page.items), page.total_elements), (vec![e, a], 2));
    assert_eq!(
        summary_high, summary,
        "the summary ignores the rating filter"
    );

    let paged = ReviewQuery {
        page: PageRequest::new(Some(1), Some(2)).unwrap(),
        ..by_event(vec![])
    };
    let (page, _) = tx.search(&paged).await.unwrap();
    assert_eq!(
        (ids(&page.items), page.total_elements, page.page),
        (vec![c, b], 5, 1)
    );

    let mine = ReviewQuery {
        user_id: Some(user(1)),
        ..Default::default()
    };
    let (page, summary_mine) = tx.search(&mine).await.unwrap();
    assert_eq!(ids(&page.items), [f, a]);
    assert_eq!(
        summary_mine,
        RatingSummary {
            rating_sum: 5 + 2,
            count: 2
        }
    );
    let mine_here = ReviewQuery {
        event_id: Some(other),
        ..mine
    };
    let (page, summary_mine_here) = tx.search(&mine_here).await.unwrap();
    assert_eq!(ids(&page.items), [f]);
    assert_eq!(
        summary_mine_here,
        RatingSummary {
            rating_sum: 2,
            count: 1
        }
    );

    let (page, everything) = tx.search(&ReviewQuery::default()).await.unwrap();
    assert_eq!(page.total_elements, 6);
    assert_eq!(
        everything,
        RatingSummary {
            rating_sum: 5 + 3 + 4 + 2,
            count: 4
        }
    );
    let nothing = ReviewQuery {
        event_id: Some(EventId(4_242)),
        ..Default::default()
    };
    let (page, none) = tx.search(&nothing).await.unwrap();
    assert_eq!((page.items.len(), page.total_elements), (0, 0));
    assert_eq!(none, RatingSummary::default());
});

on_both_backends!(rating_summary_counts_active_reviews_of_the_event, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Canyoning").await;
    let other = event(&t.db, "Caving").await;
    let quiet = event(&t.db, "Yoga").await;
    let db = &t.db;
    review(db, ev, user(1), 5, ReviewStatus::Active, 0, at(1)).await;
    review(db, ev, user(2), 4, ReviewStatus::Active, 0, at(2)).await;
    review(db, ev, user(3), 4, ReviewStatus::Active, 0, at(3)).await;
    review(db, ev, user(4), 1, ReviewStatus::Pending, 0, at(4)).await;
    review(db, ev, user(5), 1, ReviewStatus::Rejected, 0, at(5)).await;
    review(db, other, user(1), 1, ReviewStatus::Active, 0, at(6)).await;

    let tx = uow.begin_tx().await.unwrap();
    let summary = tx.rating_summary(ev).await.unwrap();
    assert_eq!(
        summary,
        RatingSummary {
            rating_sum: 13,
            count: 3
        }
    );
    assert_eq!(summary.average().to_string(), "4.33");
    assert_eq!(
        tx.rating_summary(quiet).await.unwrap(),
        RatingSummary::default()
    );
});

on_both_backends!(replies_are_listed_oldest_first, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Surfing").await;
    let r1 = review(&t.db, ev, user(1), 5, ReviewStatus::Active, 0, at(1)).await;
    let r2 = review(&t.db, ev, user(2), 4, ReviewStatus::Active, 0, at(2)).await;
    let r3 = review(&t.db, ev, user(3), 4, ReviewStatus::Active, 0, at(3)).await;
    let organizer = user(999);
    let reply = |review_id, text: &str, minute| {
        NewReviewReply::new(review_id, organizer, text, at(minute)).unwrap()
    };

    let tx = uow.begin_tx().await.unwrap();
    let late = tx
        .add_reply(reply(r1, "See you next year", 30))
        .await
        .unwrap();
    let early = tx.add_reply(reply(r2, "<b>Thanks</b>!", 10)).await.unwrap();
    let same_time = tx
        .add_reply(reply(r1, "PS: photos are up", 10))
        .await
        .unwrap();
    tx.add_reply(reply(r3, "Not asked for", 5)).await.unwrap();
    assert_eq!(early.review_id, r2);
    assert_eq!(early.author_id, organizer);
    assert_eq!(early.content, "Thanks!");
    assert_eq!((early.created_at, early.updated_at), (at(10), at(10)));

    let listed = tx.replies(&[r1, r2]).await.unwrap();
    assert_eq!(listed, [early.clone(), same_time, late]);
    assert!(tx.replies(&[]).await.unwrap().is_empty());
    assert!(tx.replies(&[ReviewId(9_999)]).await.unwrap().is_empty());
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    let err = tx
        .add_reply(reply(ReviewId(9_999), "Hello?", 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
});

on_both_backends!(a_helpful_vote_counts_once, |t| {
    let uow = SeaUnitOfWork::new(t.db.clone());
    let ev = event(&t.db, "Skiing").await;
    let r = review(&t.db, ev, user(1), 5, ReviewStatus::Active, 0, at(1)).await;

    let tx = uow.begin_tx().await.unwrap();
    assert!(tx.add_helpful_vote(r, user(2), at(2)).await.unwrap());
    assert!(
        !tx.add_helpful_vote(r, user(2), at(3)).await.unwrap(),
        "the second vote changes nothing"
    );
    // The refused insert did not poison the transaction: it keeps working and commits.
    assert!(tx.add_helpful_vote(r, user(3), at(4)).await.unwrap());
    assert_eq!(tx.find(r).await.unwrap().unwrap().helpful_count, 2);
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    assert!(!tx.add_helpful_vote(r, user(3), at(5)).await.unwrap());
    let stored = tx.find(r).await.unwrap().unwrap();
    assert_eq!((stored.helpful_count, stored.version), (2, 0));
    tx.commit_tx().await.unwrap();
    assert_eq!(
        review_helpful_votes::Entity::find()
            .count(&t.db)
            .await
            .unwrap(),
        2
    );

    let tx = uow.begin_tx().await.unwrap();
    let err = tx
        .add_helpful_vote(ReviewId(9_999), user(2), at(6))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
});
