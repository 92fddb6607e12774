//! Crew assignment end to end (PRODUCT.md §9): the real app with a wiremock stand-in of
//! backend-crew, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::{Backend, TestApp, admin, organizer, spawn_app, spawn_app_with, user};
use application::clock::Clock;
use application::outbox::DomainEventType;
use chrono::Duration;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Starts backend-crew's stand-in and the app pointed at it: no immediate retries and no
/// breaker, so that every call the test makes reaches the stand-in; two attempts in all.
async fn spawn_with_crew(backend: Backend) -> Option<(TestApp, MockServer)> {
    let crew = MockServer::start().await;
    let url = crew.uri();
    let app = spawn_app_with(
        backend,
        &[
            ("APP__SERVICES__CREW__URL", url.as_str()),
            ("APP__SERVICES__CREW__MAX_RETRIES", "0"),
            ("APP__SERVICES__CREW__MAX_ATTEMPTS", "2"),
            ("APP__SERVICES__CREW__BREAKER_THRESHOLD", "0"),
        ],
    )
    .await?;
    Some((app, crew))
}

/// Runs the body against SQLite and PostgreSQL, each with its own backend-crew stand-in.
macro_rules! with_crew {
    ($name:ident, |$app:ident, $crew:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let ($app, $crew) = spawn_with_crew(Backend::Sqlite).await.unwrap();
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(($app, $crew)) = spawn_with_crew(Backend::Postgres).await else {
                    return;
                };
                $body
            }
        }
    };
}

fn crew_path(event: i64) -> String {
    format!("/api/v1/events/{event}/crew")
}

async fn answer_crew(crew: &MockServer, crew_id: i64, name: &str) {
    Mock::given(method("PUT"))
        .and(path_regex(r"^/api/v1/events/\d+/crew$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"crew_id": crew_id, "crew_name": name})),
        )
        .mount(crew)
        .await;
}

async fn crew_is_down(crew: &MockServer, times: u64) {
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(times)
        .mount(crew)
        .await;
}

async fn details(app: &TestApp, event: i64) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/events/{event}"), Some(organizer(1)))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Outbox rows of `kind` for event `event`.
async fn outbox_rows(app: &TestApp, kind: DomainEventType, event: i64) -> Vec<Value> {
    let tx = app.services.uow.begin().await.unwrap();
    let rows = tx
        .outbox()
        .claim_batch(app.clock.now() + Duration::days(3650), 1000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    rows.into_iter()
        .filter(|r| r.message.event_type == kind && r.message.aggregate_id == event.to_string())
        .map(|r| r.message.payload)
        .collect()
}

with_crew!(
    a_crew_is_assigned_by_skills_and_shown_in_details,
    |app, crew| {
        answer_crew(&crew, 12, "River team").await;
        let event = app.published_event(organizer(1), 10, "100", 10).await;

        let (status, body) = app
            .post(
                &crew_path(event),
                Some(organizer(1)),
                json!({"skills": ["rafting", "first aid"]}),
            )
            .await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body["crew_status"], "ASSIGNED");
        assert_eq!(body["crew_id"], 12);
        assert_eq!(body["crew"]["crew_name"], "River team");
        assert_eq!(body["message"], "crew assigned");
        let sent: Value = crew.received_requests().await.unwrap()[0]
            .body_json()
            .unwrap();
        assert_eq!(sent["skills"], json!(["rafting", "first aid"]));
        assert_eq!(sent["crew_id"], Value::Null);

        let shown = details(&app, event).await;
        assert_eq!(shown["crew_status"], "ASSIGNED");
        assert_eq!(shown["crew_id"], 12);
        assert_eq!(shown["crew"]["crew_name"], "River team");
        assert_eq!(shown["crew"]["skills"], json!(["rafting", "first aid"]));
        assert_eq!(
            outbox_rows(&app, DomainEventType::CrewAssigned, event)
                .await
                .len(),
            1
        );
    }
);

with_crew!(
    a_down_crew_service_means_later_then_the_retry_assigns,
    |app, crew| {
        crew_is_down(&crew, 1).await;
        answer_crew(&crew, 4, "Night crew").await;
        let event = app.published_event(organizer(1), 10, "100", 10).await;

        let (status, body) = app
            .post(&crew_path(event), Some(organizer(1)), json!({"crew_id": 4}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["crew_status"], "PENDING_RETRY");
        assert!(
            body["message"].as_str().unwrap().contains("assigned later"),
            "{body}"
        );
        assert_eq!(details(&app, event).await["crew"]["attempts"], 1);

        // Not due yet: nothing is retried.
        assert_eq!(app.services.crew.retry_crew(10).await.unwrap(), 0);
        app.clock.advance(Duration::seconds(61));
        assert_eq!(app.services.crew.retry_crew(10).await.unwrap(), 1);

        let shown = details(&app, event).await;
        assert_eq!(shown["crew_status"], "ASSIGNED", "{shown}");
        assert_eq!(shown["crew_id"], 4);
        assert_eq!(shown["crew"]["attempts"], 2);
        assert_eq!(crew.received_requests().await.unwrap().len(), 2);
        assert_eq!(
            outbox_rows(&app, DomainEventType::CrewAssigned, event)
                .await
                .len(),
            1
        );
    }
);

with_crew!(
    exhausted_retries_fail_the_crew_and_alert_admins,
    |app, crew| {
        crew_is_down(&crew, 100).await;
        let event = app.published_event(organizer(1), 10, "100", 10).await;
        let (status, body) = app
            .post(
                &crew_path(event),
                Some(organizer(1)),
                json!({"skills": ["diving"]}),
            )
            .await;
        assert_eq!(
            (status, body["crew_status"].as_str()),
            (200, Some("PENDING_RETRY"))
        );

        app.clock.advance(Duration::seconds(61));
        assert_eq!(app.services.crew.retry_crew(10).await.unwrap(), 1);

        let shown = details(&app, event).await;
        assert_eq!(shown["crew_status"], "FAILED", "{shown}");
        assert_eq!(shown["crew"]["status"], "FAILED");
        assert_eq!(shown["crew"]["attempts"], 2);
        assert_eq!(
            outbox_rows(&app, DomainEventType::CrewFailed, event)
                .await
                .len(),
            1
        );
        let alerts = outbox_rows(&app, DomainEventType::AdminAlert, event).await;
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0]["alert"], "crew_assignment_failed");
        // FAILED is final: later passes leave it alone.
        app.clock.advance(Duration::hours(2));
        assert_eq!(app.services.crew.retry_crew(10).await.unwrap(), 0);
    }
);

with_crew!(cancellation_releases_the_crew, |app, crew| {
    answer_crew(&crew, 12, "River team").await;
    Mock::given(method("DELETE"))
        .and(path_regex(r"^/api/v1/events/\d+/crew/12$"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&crew)
        .await;
    let event = app.published_event(organizer(1), 10, "100", 10).await;
    let (status, _) = app
        .post(
            &crew_path(event),
            Some(organizer(1)),
            json!({"skills": ["rafting"]}),
        )
        .await;
    assert_eq!(status, 200);

    let (status, body) = app
        .post(
            &format!("/api/v1/events/{event}/cancel"),
            Some(organizer(1)),
            json!({"reason": "storm"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(details(&app, event).await["crew_status"], "NONE");

    assert_eq!(app.services.crew.retry_crew(10).await.unwrap(), 1);
    let deletes: Vec<_> = crew
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "DELETE")
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(deletes, [format!("/api/v1/events/{event}/crew/12")]);
    // Released once: the next pass has nothing to do.
    assert_eq!(app.services.crew.retry_crew(10).await.unwrap(), 0);
});

with_crew!(permissions_and_bad_input, |app, crew| {
    answer_crew(&crew, 12, "River team").await;
    let event = app.published_event(organizer(1), 10, "100", 10).await;
    let body = json!({"skills": ["rafting"]});

    let (status, problem) = app.post(&crew_path(event), None, body.clone()).await;
    assert_eq!(status, 401, "{problem}");
    let (status, problem) = app
        .post(&crew_path(event), Some(user(1)), body.clone())
        .await;
    assert_eq!(status, 403, "{problem}");
    let (status, problem) = app
        .post(&crew_path(event), Some(organizer(2)), body.clone())
        .await;
    assert_eq!(status, 404, "{problem}");
    let (status, problem) = app
        .post(&crew_path(999_999), Some(admin()), body.clone())
        .await;
    assert_eq!(status, 404, "{problem}");

    for bad in [
        json!({}),
        json!({"skills": []}),
        json!({"crew_id": 0}),
        json!({"skills": ["  "]}),
        json!({"skills": "rafting"}),
        json!({"skills": ["rafting"], "extra": 1}),
    ] {
        let (status, problem) = app
            .post(&crew_path(event), Some(organizer(1)), bad.clone())
            .await;
        assert_eq!(status, 400, "{bad}: {problem}");
        assert!(problem["code"].is_string(), "{problem}");
    }
    assert!(
        crew.received_requests().await.unwrap().is_empty(),
        "refused requests never reach backend-crew"
    );

    // An admin may assign the crew of any event.
    let (status, body) = app.post(&crew_path(event), Some(admin()), body).await;
    assert_eq!(
        (status, body["crew_status"].as_str()),
        (200, Some("ASSIGNED")),
        "{body}"
    );
});

with_crew!(
    a_canceled_event_gets_no_crew_and_a_refusal_is_passed_on,
    |app, crew| {
        Mock::given(method("PUT"))
            .and(path_regex(r"^/api/v1/events/\d+/crew$"))
            .respond_with(
                ResponseTemplate::new(409).set_body_json(json!({"detail": "every crew is busy"})),
            )
            .mount(&crew)
            .await;
        let event = app.published_event(organizer(1), 10, "100", 10).await;
        let (status, problem) = app
            .post(
                &crew_path(event),
                Some(organizer(1)),
                json!({"skills": ["rafting"]}),
            )
            .await;
        assert_eq!(status, 409, "{problem}");
        assert_eq!(problem["code"], "NO_CREW_AVAILABLE");
        assert_eq!(details(&app, event).await["crew_status"], "NONE");

        let (status, _) = app
            .post(
                &format!("/api/v1/events/{event}/cancel"),
                Some(organizer(1)),
                json!({}),
            )
            .await;
        assert_eq!(status, 200);
        let (status, problem) = app
            .post(
                &crew_path(event),
                Some(organizer(1)),
                json!({"skills": ["rafting"]}),
            )
            .await;
        assert_eq!(status, 409, "{problem}");
        assert_eq!(problem["code"], "INVALID_TRANSITION");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_crew_service_requests_wait_pending_retry() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let event = app.published_event(organizer(1), 10, "100", 10).await;
    let (status, body) = app
        .post(&crew_path(event), Some(organizer(1)), json!({"crew_id": 3}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["crew_status"], "PENDING_RETRY");
    assert_eq!(body["crew"]["crew_id"], 3);
}
