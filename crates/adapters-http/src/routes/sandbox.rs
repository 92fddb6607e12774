//! The sandbox payment page (PRODUCT.md §5), served only when the sandbox gateway is enabled
//! (dev and test profiles): `GET` shows the page, `POST {"outcome": "success" | "failure"}`
//! plays the customer, and the service applies the result as a webhook would.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use application::ports::SimulatedOutcome;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::problem::{ApiError, Problem};
use crate::state::ApiState;

/// What the customer does on the page.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxPayRequest {
    pub outcome: Outcome,
}

/// What the page answers: the payment's outcome and nothing else. Whoever holds the
/// reference (it is in the page's URL) learns no ticket code, booking or amount from it.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct SandboxPayResponse {
    /// The payment's status after the customer's action: COMPLETED or FAILED (or the status
    /// it already had).
    pub status: String,
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// The payment page: two buttons (its content security policy is set with the other
/// security headers, `security_headers`).
#[utoipa::path(
    get, path = "/sandbox/payments/{reference}", tag = "sandbox",
    params(("reference" = String, Path)),
    responses((status = 200, description = "An HTML page with Pay and Decline buttons", content_type = "text/html"))
)]
#[get("/sandbox/payments/{reference}")]
pub async fn sandbox_page(reference: web::Path<String>) -> HttpResponse {
    let r = escape(&reference);
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sandbox payment</title></head>\
         <body><h1>Sandbox payment {r}</h1><p>This is the test gateway: nothing is charged.</p>\
         <form method=\"post\"><input type=\"hidden\" name=\"outcome\" value=\"success\">\
         <button type=\"submit\">Pay</button></form>\
         <form method=\"post\"><input type=\"hidden\" name=\"outcome\" value=\"failure\">\
         <button type=\"submit\">Decline</button></form></body></html>"
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// Plays the customer paying (or declining); the service then applies the gateway's answer.
/// Accepts JSON or the page's form.
#[utoipa::path(
    post, path = "/sandbox/payments/{reference}", tag = "sandbox",
    params(("reference" = String, Path)),
    request_body = SandboxPayRequest,
    responses(
        (status = 200, description = "The payment's outcome only", body = SandboxPayResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/sandbox/payments/{reference}")]
pub async fn sandbox_pay(
    state: web::Data<ApiState>,
    req: HttpRequest,
    reference: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let outcome = if form {
        match std::str::from_utf8(&body).unwrap_or_default().trim() {
            "outcome=success" => Outcome::Success,
            "outcome=failure" => Outcome::Failure,
            _ => {
                return Err(application::AppError::invalid(
                    "outcome",
                    "must be success or failure",
                )
                .into());
            }
        }
    } else {
        serde_json::from_slice::<SandboxPayRequest>(&body)
            .map_err(|e| application::AppError::invalid("body", e.to_string()))?
            .outcome
    };
    let outcome = match outcome {
        Outcome::Success => SimulatedOutcome::Success,
        Outcome::Failure => SimulatedOutcome::Failure,
    };
    let view = state
        .payments
        .simulate("sandbox", &reference, outcome)
        .await?;
    Ok(HttpResponse::Ok().json(SandboxPayResponse {
        status: view.payment.status.as_str().to_owned(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(sandbox_page).service(sandbox_pay);
}
