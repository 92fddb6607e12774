//! `/actuator/health` (details only for ADMIN), `/actuator/info`, the request id header.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::*;

on_both!(health_shows_details_only_to_admins, |app| {
    let (status, body) = app.get("/actuator/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "UP");
    assert!(body.get("components").is_none(), "{body}");

    let (_, body) = app.get("/actuator/health", Some(user(1))).await;
    assert!(body.get("components").is_none(), "{body}");

    let (status, body) = app.get("/actuator/health", Some(admin())).await;
    assert_eq!(status, 200);
    assert_eq!(body["components"]["db"]["status"], "UP", "{body}");
    assert!(body["components"]["db"]["latency_ms"].is_number(), "{body}");
});

on_both!(info_names_the_database_and_gateways, |app| {
    // Guests learn the name and version only.
    let (status, body) = app.get("/actuator/info", Some(user(1))).await;
    assert_eq!(status, 200);
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["name", "version"],
        "{body}"
    );
    // The crate version, or the image's build arguments (version, +git sha).
    assert_eq!(body["version"], bootstrap::build::version(), "{body}");
    let (status, body) = app.get("/actuator/info", Some(admin())).await;
    assert_eq!(status, 200);
    let expected = match app.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
    };
    assert_eq!(body["database"], expected);
    assert_eq!(body["profile"], "test");
    assert!(
        body["payment_gateways"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "sandbox")
    );
});

on_both!(request_id_is_echoed_or_generated, |app| {
    let r = app
        .req(reqwest::Method::GET, "/api/v1/events", None)
        .header("X-Request-Id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = app
        .req(reqwest::Method::GET, "/api/v1/events", None)
        .header("X-Request-Id", "<script>")
        .send()
        .await
        .unwrap();
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32, "{generated}");
    assert!(generated.chars().all(|c| c.is_ascii_hexdigit()));
});

on_both!(seed_paths_under_api_are_aliases_of_api_v1, |app| {
    let id = app.published_event(organizer(1), 5, "100.00", 10).await;
    let (s1, v1) = app.get(&format!("/api/v1/events/{id}"), None).await;
    let (s2, alias) = app.get(&format!("/api/events/{id}"), None).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(v1["id"], alias["id"]);
    assert_eq!(v1["name"], alias["name"]);
});
