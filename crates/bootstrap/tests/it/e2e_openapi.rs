//! The OpenAPI document as served: valid OpenAPI 3 JSON with both security schemes and the
//! problem schema, Swagger UI at `/docs/`, and every documented operation routed (docs ⊆
//! routes). `crates/adapters-http/tests/route_coverage.rs` checks the other way round.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::admin;

const METHODS: [(&str, Method); 5] = [
    ("get", Method::GET),
    ("post", Method::POST),
    ("put", Method::PUT),
    ("patch", Method::PATCH),
    ("delete", Method::DELETE),
];

/// `/api/v1/events/{id}` → `/api/v1/events/1`, `{gateway}` → `sandbox`, `{reference}` → `x`,
/// `{code}` (a promo code) → `SOME-CODE`.
/// `{name}` (a job) → `publish-scheduled-events`, `{target}` (a log target) → `sqlx::query`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{id}" | "{option_id}" => "1",
            "{code}" => "SOME-CODE",
            "{gateway}" => "sandbox",
            "{reference}" => "x",
            "{name}" => "publish-scheduled-events",
            "{target}" => "sqlx::query",
            s if s.starts_with('{') => panic!("no value for the path parameter {s} of {path}"),
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Calls `url` as ADMIN (`{}` as the body of a write); answers (status, problem code or "").
async fn call(app: &crate::support::TestApp, method: Method, url: &str) -> (u16, String) {
    let mut request = app.req(method.clone(), url, Some(admin()));
    if method != Method::GET {
        request = request.json(&json!({}));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value =
        serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

on_both!(
    the_document_is_served_and_every_documented_operation_is_routed,
    |app| {
        let response = app
            .req(Method::GET, "/api-docs/openapi.json", None)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let doc: Value = serde_json::from_str(&response.text().await.unwrap()).expect("valid JSON");

        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
            "openapi: {}",
            doc["openapi"]
        );
        assert!(doc["info"]["title"].is_string());
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["type"], "http", "{schemes}");
        assert_eq!(schemes["bearer"]["scheme"], "bearer", "{schemes}");
        assert_eq!(schemes["gateway"]["type"], "apiKey", "{schemes}");
        assert_eq!(schemes["gateway"]["in"], "header", "{schemes}");
        assert_eq!(schemes["gateway"]["name"], "X-User-Id", "{schemes}");
        let problem = &doc["components"]["schemas"]["Problem"];
        for field in ["type", "title", "status", "detail", "code", "errors"] {
            assert!(
                problem["properties"][field].is_object(),
                "Problem.{field} missing: {problem}"
            );
        }

        // Swagger UI.
        let response = app.req(Method::GET, "/docs/", None).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .to_lowercase()
                .contains("<html")
        );

        // docs ⊆ routes: every documented (method, path) reaches a handler.
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.len() >= 15, "{} paths", paths.len());
        let mut operations = 0;
        let mut unrouted = Vec::new();
        for (path, item) in paths {
            for (name, method) in METHODS {
                if item.get(name).is_none() {
                    continue;
                }
                operations += 1;
                let url = concrete(path);
                // The `/api` alias serves the same resources as `/api/v1`.
                let alias = url
                    .strip_prefix("/api/v1/")
                    .map(|rest| format!("/api/{rest}"));
                for url in std::iter::once(url.clone()).chain(alias) {
                    let (status, code) = call(&app, method.clone(), &url).await;
                    eprintln!("{method} {url} → {status} {code}");
                    if matches!(code.as_str(), "ROUTE_NOT_FOUND" | "METHOD_NOT_ALLOWED")
                        || status >= 500
                    {
                        unrouted.push(format!("{method} {path} ({url} → {status} {code})"));
                    }
                }
            }
        }
        // The check can see a missing route.
        let (status, code) = call(&app, Method::GET, "/api/v1/events/1/nothing").await;
        assert_eq!((status, code.as_str()), (404, "ROUTE_NOT_FOUND"));
        let (status, code) = call(&app, Method::DELETE, "/api/v1/events/1").await;
        assert_eq!((status, code.as_str()), (405, "METHOD_NOT_ALLOWED"));
        assert!(
            unrouted.is_empty(),
            "documented but not routed (or 5xx):\n{}",
            unrouted.join("\n")
        );
        assert!(operations >= 20, "{operations} operations");
    }
);
