//! Response headers that keep browsers and caches from misusing answers: no MIME sniffing, no
//! framing, no referrer leaks, a content security policy (a strict one for JSON, one that lets
//! the HTML pages work), `Cache-Control: no-store` on anything personal, and HSTS when the
//! service is reached over HTTPS only (`server.hsts`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};

/// What the middleware adds beyond the fixed headers; registered as app data (absent: HSTS off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecurityHeaders {
    /// Send `Strict-Transport-Security` (only behind HTTPS).
    pub hsts: bool,
}

const HSTS: &str = "max-age=31536000; includeSubDomains";
/// JSON answers load nothing and may not be framed.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
/// Swagger UI: its own scripts and styles, the document from this origin.
const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                        script-src 'self'; object-src 'none'; frame-ancestors 'none'";
/// The sandbox payment page: two forms posting to itself.
const SANDBOX_CSP: &str = "default-src 'none'; form-action 'self'; frame-ancestors 'none'";

/// Middleware: adds the headers to every response (a handler's own `Cache-Control` or CSP
/// is kept).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let hsts = req
        .app_data::<web::Data<SecurityHeaders>>()
        .is_some_and(|s| s.hsts);
    let path = req.path().to_owned();
    // A request with credentials gets a personal answer; the sandbox page is reached with a
    // payment's reference.
    let personal = req.headers().contains_key(header::AUTHORIZATION)
        || req.headers().contains_key("x-user-id")
        || path.starts_with("/sandbox/");
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    let csp = if path.starts_with("/docs") {
        DOCS_CSP
    } else if path.starts_with("/sandbox/") {
        SANDBOX_CSP
    } else {
        API_CSP
    };
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    if personal && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if hsts {
        headers.insert(
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static(HSTS),
        );
    }
    Ok(response)
}
