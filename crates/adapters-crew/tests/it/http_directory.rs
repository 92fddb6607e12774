//! The HTTP crew directory against a wiremock stand-in of backend-crew.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use adapters_crew::{HttpCrewConfig, HttpCrewDirectory, UnconfiguredCrewDirectory};
use chrono::{TimeZone, Utc};
use domain::{CrewId, EventId};
use ports::AppError;
use ports::{CrewAssignment, CrewDirectory, CrewRequest};
use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn config(server: &MockServer) -> HttpCrewConfig {
    HttpCrewConfig {
        base_url: server.uri(),
        timeout: Duration::from_secs(2),
        max_retries: 2,
        breaker_threshold: 5,
        breaker_cooldown: Duration::from_secs(30),
    }
}

fn request() -> CrewRequest {
    CrewRequest {
        event_id: EventId(7),
        crew_id: None,
        skills: vec!["rafting".into(), "first aid".into()],
        starts_at: Utc.with_ymd_and_hms(2027, 6, 1, 9, 0, 0).unwrap(),
        ends_at: None,
    }
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn assigns_with_the_documented_request() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/events/7/crew"))
        .and(body_json(json!({
            "crew_id": null,
            "skills": ["rafting", "first aid"],
            "starts_at": "2027-06-01T09:00:00Z",
            "ends_at": null,
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"crew_id": 12, "crew_name": "River team"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let crew = HttpCrewDirectory::new(config(&server)).unwrap();
    assert_eq!(
        crew.assign(&request()).await.unwrap(),
        CrewAssignment {
            crew_id: CrewId(12),
            crew_name: Some("River team".into()),
        }
    );
}

#[tokio::test]
async fn a_5xx_is_retried_and_the_next_answer_counts() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"crew_id": 3})))
        .mount(&server)
        .await;
    let crew = HttpCrewDirectory::new(config(&server)).unwrap();
    let assignment = crew.assign(&request()).await.unwrap();
    assert_eq!(assignment.crew_id, CrewId(3));
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_service_that_keeps_failing_is_unavailable_after_the_retries() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let crew = HttpCrewDirectory::new(config(&server)).unwrap();
    let err = crew.assign(&request()).await.unwrap_err();
    assert!(
        matches!(err, AppError::Unavailable { dependency: "crew" }),
        "{err:?}"
    );
    assert_eq!(
        requests(&server).await,
        3,
        "the first attempt and two retries"
    );
}

#[tokio::test]
async fn a_timeout_is_unavailable() {
    let server = MockServer::start().await;
    // An answer that would come far later than any run of this test takes.
    let answer_delay = Duration::from_secs(60);
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"crew_id": 3}))
                .set_delay(answer_delay),
        )
        .mount(&server)
        .await;
    let crew = HttpCrewDirectory::new(HttpCrewConfig {
        timeout: Duration::from_millis(100),
        max_retries: 1,
        ..config(&server)
    })
    .unwrap();
    let started = Instant::now();
    let err = crew.assign(&request()).await.unwrap_err();
    assert!(
        matches!(err, AppError::Unavailable { dependency: "crew" }),
        "{err:?}"
    );
    // Both attempts gave up instead of waiting for the answer.
    assert_eq!(
        requests(&server).await,
        2,
        "the first attempt and one retry"
    );
    assert!(started.elapsed() < answer_delay, "{:?}", started.elapsed());
}

#[tokio::test]
async fn answers_are_mapped_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/events/1/crew"))
        .respond_with(
            ResponseTemplate::new(409).set_body_json(json!({"detail": "every crew is busy"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/events/2/crew"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/events/3/crew"))
        .respond_with(ResponseTemplate::new(200).set_body_string("not json"))
        .mount(&server)
        .await;
    let crew = HttpCrewDirectory::new(config(&server)).unwrap();
    let ask = |id| CrewRequest {
        event_id: EventId(id),
        ..request()
    };
    let busy = crew.assign(&ask(1)).await.unwrap_err();
    assert_eq!(busy.code(), "NO_CREW_AVAILABLE");
    assert_eq!(busy.to_string(), "every crew is busy");
    assert!(matches!(
        crew.assign(&ask(2)).await.unwrap_err(),
        AppError::NotFound { entity: "crew" }
    ));
    assert!(matches!(
        crew.assign(&ask(3)).await.unwrap_err(),
        AppError::Unavailable { .. }
    ));
    assert_eq!(requests(&server).await, 3, "answers are not retried");
}

#[tokio::test]
async fn the_breaker_opens_and_fails_fast() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let crew = HttpCrewDirectory::new(HttpCrewConfig {
        max_retries: 0,
        breaker_threshold: 2,
        ..config(&server)
    })
    .unwrap();
    for _ in 0..2 {
        assert!(crew.assign(&request()).await.is_err());
    }
    assert!(crew.circuit_open());
    let err = crew.assign(&request()).await.unwrap_err();
    assert!(matches!(err, AppError::Unavailable { dependency: "crew" }));
    assert_eq!(requests(&server).await, 2, "an open circuit does not call");
}

#[tokio::test]
async fn release_deletes_and_an_unknown_crew_counts_as_released() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/events/7/crew/12"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/events/7/crew/13"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let crew = HttpCrewDirectory::new(config(&server)).unwrap();
    crew.release(EventId(7), CrewId(12)).await.unwrap();
    crew.release(EventId(7), CrewId(13)).await.unwrap();
}

#[tokio::test]
async fn the_unconfigured_directory_is_always_unavailable() {
    let crew = UnconfiguredCrewDirectory;
    assert!(matches!(
        crew.assign(&request()).await.unwrap_err(),
        AppError::Unavailable { dependency: "crew" }
    ));
    assert!(matches!(
        crew.release(EventId(1), CrewId(1)).await.unwrap_err(),
        AppError::Unavailable { dependency: "crew" }
    ));
}
