//! End-to-end favorites and reviews over HTTP against the real app (SQLite and PostgreSQL):
//! idempotent private favorites with event summaries; reviews only after attending, PENDING
//! until an admin approves, sanitized, counted in the event's rating only while ACTIVE;
//! edits, organizer replies, helpful votes and sorting; loyalty points for the first approval.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::*;
use chrono::Duration;
use domain::UserId;
use reqwest::Method;
use serde_json::{Value, json};

async fn delete(app: &TestApp, path: &str, who: Option<Who>) -> u16 {
    app.send(app.req(Method::DELETE, path, who)).await.0
}

fn ids(list: &Value, key: &str) -> Vec<i64> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no `{key}` in {list}"))
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect()
}

fn field_error(body: &Value) -> &str {
    body["errors"][0]["field"].as_str().unwrap_or_default()
}

async fn balance(app: &TestApp, who: Who) -> u64 {
    let tx = app.services.uow.begin().await.unwrap();
    let points = tx.loyalty().balance(UserId(who.id)).await.unwrap();
    tx.commit().await.unwrap();
    points
}

async fn event_rating(app: &TestApp, id: i64) -> (String, u64) {
    let (status, body) = app.get(&format!("/api/v1/events/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    (
        body["avg_rating"].as_str().unwrap().to_owned(),
        body["review_count"].as_u64().unwrap(),
    )
}

async fn public_reviews(app: &TestApp, event_id: i64, query: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/events/{event_id}/reviews{query}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Writes a review as `who` and answers its id.
async fn review(app: &TestApp, who: Who, event_id: i64, rating: i64, content: &str) -> i64 {
    let (status, body) = app
        .post(
            "/api/v1/reviews",
            Some(who),
            json!({"event_id": event_id, "rating": rating, "content": content}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

async fn moderate(app: &TestApp, id: i64, status: &str) -> Value {
    let (code, body) = app
        .post(
            &format!("/api/v1/reviews/{id}/moderate"),
            Some(admin()),
            json!({"status": status, "reason": "moderated"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    body
}

async fn reply(app: &TestApp, review_id: i64, who: Option<Who>) -> (u16, Value) {
    app.post(
        &format!("/api/v1/reviews/{review_id}/replies"),
        who,
        json!({"content": "<em>Thank you!</em>"}),
    )
    .await
}

async fn vote(app: &TestApp, who: Who, review_id: i64) -> (u16, Value) {
    app.post(
        &format!("/api/v1/reviews/{review_id}/helpful"),
        Some(who),
        json!({}),
    )
    .await
}

on_both!(favorites_are_idempotent_private_and_summarized, |app| {
    let org = organizer(1);
    let rafting = app.published_event(org, 10, "1500.00", 5).await;
    let kayak = app.published_event(org, 4, "700.00", 9).await;
    let (ann, bob) = (user(1), user(2));

    let (status, _) = app
        .post("/api/v1/favorites", None, json!({"event_id": rafting}))
        .await;
    assert_eq!(status, 401);
    assert_eq!(app.get("/api/v1/favorites", None).await.0, 401);
    assert_eq!(delete(&app, "/api/v1/favorites/1", None).await, 401);

    let response = app
        .req(Method::POST, "/api/v1/favorites", Some(ann))
        .json(&json!({"event_id": rafting}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!("/api/v1/favorites/{rafting}")
    );
    let first: Value = response.json().await.unwrap();
    let (status, again) = app
        .post("/api/v1/favorites", Some(ann), json!({"event_id": rafting}))
        .await;
    assert_eq!(status, 200, "adding again changes nothing: {again}");
    assert_eq!(again["id"], first["id"]);
    let (status, via_event) = app
        .post(
            &format!("/api/v1/events/{kayak}/favorite"),
            Some(ann),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{via_event}");

    let (status, body) = app
        .post("/api/v1/favorites", Some(ann), json!({"event_id": 987_654}))
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
    let (status, draft) = app
        .post(
            "/api/v1/events",
            Some(organizer(2)),
            json!({
                "name": "Not yet",
                "start_date": (app.clock_now() + Duration::days(3)).to_rfc3339(),
                "max_participants": 5,
                "price": "10.00",
            }),
        )
        .await;
    assert_eq!(status, 201, "{draft}");
    let (status, _) = app
        .post(
            "/api/v1/favorites",
            Some(ann),
            json!({"event_id": draft["id"]}),
        )
        .await;
    assert_eq!(status, 404, "somebody else's draft is invisible");

    let (status, list) = app.get("/api/v1/favorites", Some(ann)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total_elements"], 2);
    assert_eq!(list["page"], 0);
    let newest = &list["favorites"][0];
    assert_eq!(newest["event_id"], kayak, "newest first: {list}");
    assert_eq!(newest["user_id"], ann.id.to_string());
    assert_eq!(newest["event"]["name"], "E2E event");
    assert_eq!(newest["event"]["price"], "700.00");
    assert_eq!(newest["event"]["status"], "PUBLISHED");
    assert_eq!(newest["event"]["available_seats"], 4);
    assert_eq!(newest["event"]["review_count"], 0);
    assert!(newest["event"]["start_date"].is_string());
    let (_, paged) = app.get("/api/v1/favorites?size=1&page=1", Some(ann)).await;
    assert_eq!(paged["favorites"][0]["event_id"], rafting, "{paged}");
    assert_eq!(paged["total_pages"], 2);

    let (_, bobs) = app.get("/api/favorites", Some(bob)).await;
    assert_eq!(bobs["total_elements"], 0, "another user's list is separate");
    assert_eq!(
        delete(&app, &format!("/api/v1/favorites/{rafting}"), Some(bob)).await,
        204
    );
    let (_, still) = app.get("/api/v1/favorites", Some(ann)).await;
    assert_eq!(still["total_elements"], 2, "bob removed nothing of ann's");

    for _ in 0..2 {
        assert_eq!(
            delete(&app, &format!("/api/v1/favorites/{rafting}"), Some(ann)).await,
            204
        );
    }
    let (_, list) = app.get("/api/v1/favorites", Some(ann)).await;
    assert_eq!(list["total_elements"], 1);
    assert_eq!(list["favorites"][0]["event_id"], kayak);
    assert_eq!(
        delete(&app, &format!("/api/v1/events/{kayak}/favorite"), Some(ann)).await,
        204
    );
    let (_, list) = app.get("/api/v1/favorites", Some(ann)).await;
    assert_eq!(list["total_elements"], 0);
});

on_both!(reviews_wait_for_attendance_and_moderation, |app| {
    let org = organizer(1);
    let ev = app.published_event(org, 10, "1000.00", 1).await;
    let (ann, bob) = (user(1), user(2));
    let _ = app.confirmed_booking(ann, ev, 1).await;

    let (status, body) = app
        .post(
            &format!("/api/v1/events/{ev}/reviews"),
            Some(ann),
            json!({"rating": 5, "content": "can't wait"}),
        )
        .await;
    assert_eq!(status, 409, "the event has not happened yet: {body}");
    assert_eq!(body["code"], "REVIEW_NOT_ALLOWED");

    app.clock.advance(Duration::days(2));
    let (status, body) = app
        .post(
            "/api/v1/reviews",
            Some(bob),
            json!({"event_id": ev, "rating": 5, "content": "never went"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("REVIEW_NOT_ALLOWED"))
    );
    let (status, _) = app
        .post(
            "/api/v1/reviews",
            None,
            json!({"event_id": ev, "rating": 5}),
        )
        .await;
    assert_eq!(status, 401);

    for bad in [0, 6] {
        let (status, body) = app
            .post(
                "/api/v1/reviews",
                Some(ann),
                json!({"event_id": ev, "rating": bad, "content": "x"}),
            )
            .await;
        assert_eq!((status, field_error(&body)), (400, "rating"), "{body}");
    }
    let (status, body) = app
        .post(
            "/api/v1/reviews",
            Some(ann),
            json!({"event_id": ev, "rating": 4, "content": "a".repeat(5_001)}),
        )
        .await;
    assert_eq!((status, field_error(&body)), (400, "content"), "{body}");

    let response = app
        .req(Method::POST, "/api/v1/reviews", Some(ann))
        .json(&json!({
            "event_id": ev,
            "rating": 4,
            "content": "<script>alert(1)</script><b>great</b> trip",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/reviews/{id}"));
    assert_eq!(created["status"], "PENDING");
    assert_eq!(
        created["content"], "great trip",
        "no markup stored or echoed"
    );
    assert_eq!(created["user_id"], ann.id.to_string());

    let (status, body) = app
        .post(
            "/api/v1/reviews",
            Some(ann),
            json!({"event_id": ev, "rating": 3}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("ALREADY_REVIEWED"))
    );

    // PENDING: invisible to the public, visible to its author and admins
    let list = public_reviews(&app, ev, "").await;
    assert_eq!(
        (
            list["total_elements"].as_u64(),
            list["review_count"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(event_rating(&app, ev).await, ("0.00".to_owned(), 0));
    assert_eq!(
        app.get(&format!("/api/v1/reviews/{id}"), Some(bob)).await.0,
        404
    );
    let (status, own) = app.get(&format!("/api/v1/reviews/{id}"), Some(ann)).await;
    assert_eq!((status, own["status"].as_str()), (200, Some("PENDING")));
    let mine = format!("/api/v1/reviews?user_id={}&status=PENDING", ann.id);
    let (status, body) = app.get(&mine, Some(ann)).await;
    assert_eq!(ids(&body, "reviews"), [id], "{status} {body}");
    assert_eq!(app.get(&mine, Some(bob)).await.0, 403);
    assert_eq!(app.get(&mine, None).await.0, 401);

    // moderation is for admins only
    for who in [Some(ann), Some(org)] {
        let (status, body) = app
            .post(
                &format!("/api/v1/reviews/{id}/moderate"),
                who,
                json!({"status": "ACTIVE"}),
            )
            .await;
        assert_eq!(status, 403, "{body}");
    }
    let (status, _) = app
        .post(
            &format!("/api/v1/reviews/{id}/moderate"),
            None,
            json!({"status": "ACTIVE"}),
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = app
        .post(
            &format!("/api/v1/reviews/{id}/moderate"),
            Some(admin()),
            json!({"status": "PENDING"}),
        )
        .await;
    assert_eq!((status, field_error(&body)), (400, "status"), "{body}");
    assert_eq!(
        app.get("/api/v1/admin/reviews/moderation", Some(ann))
            .await
            .0,
        403
    );
    let (status, queue) = app
        .get("/api/v1/admin/reviews/moderation", Some(admin()))
        .await;
    assert_eq!(status, 200, "{queue}");
    assert_eq!(ids(&queue, "reviews"), [id]);

    let before = balance(&app, ann).await;
    let approved = moderate(&app, id, "ACTIVE").await;
    assert_eq!(approved["status"], "ACTIVE");
    assert_eq!(approved["points_credited"], 50);
    assert_eq!(balance(&app, ann).await, before + 50);

    let list = public_reviews(&app, ev, "").await;
    assert_eq!(ids(&list, "reviews"), [id]);
    assert_eq!(list["reviews"][0]["content"], "great trip");
    assert_eq!(
        (list["avg_rating"].as_str(), list["review_count"].as_u64()),
        (Some("4.00"), Some(1))
    );
    assert_eq!(event_rating(&app, ev).await, ("4.00".to_owned(), 1));
    let (_, queue) = app
        .get("/api/v1/admin/reviews/moderation", Some(admin()))
        .await;
    assert_eq!(queue["total_elements"], 0);

    // rejected: not counted; approved again: no second credit
    let rejected = moderate(&app, id, "REJECTED").await;
    assert_eq!(
        (
            rejected["status"].as_str(),
            rejected["points_credited"].as_u64()
        ),
        (Some("REJECTED"), Some(0))
    );
    assert_eq!(rejected["moderation_note"], "moderated");
    assert_eq!(public_reviews(&app, ev, "").await["total_elements"], 0);
    assert_eq!(event_rating(&app, ev).await, ("0.00".to_owned(), 0));
    let again = moderate(&app, id, "ACTIVE").await;
    assert_eq!(again["points_credited"], 0);
    assert_eq!(
        balance(&app, ann).await,
        before + 50,
        "credited once per review"
    );
    assert_eq!(event_rating(&app, ev).await, ("4.00".to_owned(), 1));
});

on_both!(edits_replies_helpful_votes_and_sorting, |app| {
    let org = organizer(1);
    let ev = app.published_event(org, 10, "1000.00", 1).await;
    let (ann, bob, cat) = (user(1), user(2), user(3));
    for who in [ann, bob, cat] {
        let _ = app.confirmed_booking(who, ev, 1).await;
    }
    app.clock.advance(Duration::days(2));
    let mut reviews = Vec::new();
    for (who, rating) in [(ann, 5), (bob, 3), (cat, 4)] {
        let id = review(&app, who, ev, rating, "<p>fine</p>").await;
        let _ = moderate(&app, id, "ACTIVE").await;
        reviews.push(id);
        app.clock.advance(Duration::minutes(1));
    }
    let [r_ann, r_bob, r_cat] = reviews[..] else {
        panic!("three reviews")
    };

    // edits: the author only
    for who in [bob, admin()] {
        let (status, body) = app
            .put(
                &format!("/api/v1/reviews/{r_ann}"),
                Some(who),
                json!({"rating": 1}),
            )
            .await;
        assert_eq!(status, 404, "{body}");
    }

    // replies: the event's organizer or an admin
    assert_eq!(
        reply(&app, r_ann, Some(ann)).await.0,
        403,
        "a USER never replies"
    );
    assert_eq!(
        reply(&app, r_ann, Some(organizer(2))).await.0,
        404,
        "another organizer's event"
    );
    assert_eq!(reply(&app, r_ann, None).await.0, 401);
    let (status, answer) = reply(&app, r_ann, Some(org)).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["content"], "Thank you!");
    assert_eq!(answer["author_id"], org.id.to_string());
    let (status, _) = reply(&app, r_ann, Some(admin())).await;
    assert_eq!(status, 201);

    // helpful votes: once per user, never one's own
    let (status, first) = vote(&app, ann, r_bob).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (first["counted"].as_bool(), first["helpful_count"].as_u64()),
        (Some(true), Some(1))
    );
    let (status, second) = vote(&app, ann, r_bob).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        (
            second["counted"].as_bool(),
            second["helpful_count"].as_u64()
        ),
        (Some(false), Some(1))
    );
    let (status, own) = vote(&app, ann, r_ann).await;
    assert_eq!((status, own["code"].as_str()), (409, Some("SELF_VOTE")));
    assert_eq!(vote(&app, cat, r_bob).await.1["helpful_count"], 2);
    assert_eq!(vote(&app, bob, r_ann).await.1["helpful_count"], 1);
    assert_eq!(
        app.post(&format!("/api/v1/reviews/{r_bob}/helpful"), None, json!({}))
            .await
            .0,
        401
    );

    let newest = public_reviews(&app, ev, "").await;
    assert_eq!(ids(&newest, "reviews"), [r_cat, r_bob, r_ann]);
    assert_eq!(newest["avg_rating"], "4.00");
    let replies = &newest["reviews"][2]["replies"];
    assert_eq!(replies.as_array().unwrap().len(), 2, "{newest}");
    assert_eq!(replies[0]["content"], "Thank you!");
    let helpful = public_reviews(&app, ev, "?sort=helpful").await;
    assert_eq!(ids(&helpful, "reviews"), [r_bob, r_ann, r_cat]);
    let (_, seed_path) = app
        .get(
            &format!("/api/reviews?event_id={ev}&sort=helpful&min_rating=4"),
            None,
        )
        .await;
    assert_eq!(ids(&seed_path, "reviews"), [r_ann, r_cat], "{seed_path}");
    let (status, body) = app
        .get(&format!("/api/v1/events/{ev}/reviews?sort=loudest"), None)
        .await;
    assert_eq!((status, field_error(&body)), (400, "sort"));
    let (status, body) = app
        .get(&format!("/api/v1/events/{ev}/reviews?min_rating=0"), None)
        .await;
    assert_eq!((status, field_error(&body)), (400, "min_rating"));

    // an edit goes back to moderation and out of the rating
    let (status, edited) = app
        .put(
            &format!("/api/v1/reviews/{r_ann}"),
            Some(ann),
            json!({"rating": 2, "content": "<i>meh</i>", "expected_version": 0}),
        )
        .await;
    assert_eq!(
        (status, edited["code"].as_str()),
        (409, Some("VERSION_CONFLICT")),
        "{edited}"
    );
    let version = edited_version(&app, r_ann, ann).await;
    let (status, edited) = app
        .put(
            &format!("/api/v1/reviews/{r_ann}"),
            Some(ann),
            json!({"rating": 2, "content": "<i>meh</i>", "expected_version": version}),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (
            edited["status"].as_str(),
            edited["rating"].as_u64(),
            edited["content"].as_str()
        ),
        (Some("PENDING"), Some(2), Some("meh"))
    );
    let list = public_reviews(&app, ev, "").await;
    assert_eq!(ids(&list, "reviews"), [r_cat, r_bob]);
    assert_eq!(
        (list["avg_rating"].as_str(), list["review_count"].as_u64()),
        (Some("3.50"), Some(2))
    );
    assert_eq!(event_rating(&app, ev).await, ("3.50".to_owned(), 2));
});

async fn edited_version(app: &TestApp, id: i64, author: Who) -> i64 {
    let (status, body) = app
        .get(&format!("/api/v1/reviews/{id}"), Some(author))
        .await;
    assert_eq!(status, 200, "{body}");
    body["version"].as_i64().unwrap()
}
