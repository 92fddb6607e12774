//! Answering from the read cache (`application::services::ReadCache`): the catalog and event
//! details are serialized once and served as stored bytes with a precomputed ETag.
//!
//! Headers of these answers:
//! * `ETag`: a strong validator over the body (details: `"<version>-<hash>"`, so `If-Match`
//!   still names the version; the catalog: `"<hash>"`); `If-None-Match` (a list, weak tags,
//!   `*`) that matches answers 304 without a body.
//! * `Cache-Control: no-cache` on shared views (anyone may store them, but must revalidate:
//!   seat counts move); views personal to the caller keep the `no-store` of personal answers.
//! * `Cache-Status` (RFC 9211): `backend-event; hit`, `backend-event; fwd=miss`,
//!   `backend-event; fwd=bypass` (a personal view, never shared) or
//!   `backend-event; hit; detail=stale` — the last stored view served while the database does
//!   not answer.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use application::services::CachedView;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::problem::ApiError;

/// `Cache-Status` (RFC 9211).
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// How an answer relates to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// From the cache.
    Hit,
    /// Built now and stored.
    Miss,
    /// Personal to the caller: built now, never stored.
    Bypass,
    /// The last stored view, served while the database does not answer.
    Stale,
}

impl Served {
    const fn cache_status(self) -> &'static str {
        match self {
            Self::Hit => "backend-event; hit",
            Self::Miss => "backend-event; fwd=miss",
            Self::Bypass => "backend-event; fwd=bypass",
            Self::Stale => "backend-event; hit; detail=stale",
        }
    }
}

/// The strong ETag of `body`: 64 bits of its SHA-256, after the version when there is one.
#[must_use]
pub fn etag_of(version: Option<i64>, body: &[u8]) -> Bytes {
    let digest = Sha256::digest(body);
    let hash = hex::encode(&digest[..8]);
    Bytes::from(match version {
        Some(v) => format!("\"{v}-{hash}\""),
        None => format!("\"{hash}\""),
    })
}

/// The view of a freshly built response body.
///
/// # Errors
/// The body could not be serialized (a bug).
pub fn view_of(
    value: &impl serde::Serialize,
    version: Option<i64>,
) -> Result<CachedView, ApiError> {
    let body = serde_json::to_vec(value)
        .map_err(|e| application::AppError::internal(format!("serializing a response: {e}")))?;
    Ok(CachedView {
        etag: etag_of(version, &body),
        body: Bytes::from(body),
        creator: None,
        counts_view: false,
    })
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for GET).
fn matches(req: &HttpRequest, etag: &[u8]) -> bool {
    fn strip(t: &[u8]) -> &[u8] {
        t.strip_prefix(b"W/").unwrap_or(t)
    }
    let ours = strip(etag);
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .any(|tag| tag == b"*" || strip(tag) == ours)
}

/// 200 with the stored body, or 304 when the client has it already.
#[must_use]
pub fn respond(req: &HttpRequest, view: &CachedView, served: Served) -> HttpResponse {
    let not_modified = matches(req, &view.etag);
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    if let Ok(etag) = HeaderValue::from_maybe_shared(view.etag.clone()) {
        response.insert_header((header::ETAG, etag));
    }
    response.insert_header((
        CACHE_STATUS,
        HeaderValue::from_static(served.cache_status()),
    ));
    if served != Served::Bypass {
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")));
    }
    if not_modified {
        return response.finish();
    }
    response
        .content_type(header::ContentType::json())
        .body(view.body.clone())
}
