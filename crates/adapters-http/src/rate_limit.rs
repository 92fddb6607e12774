//! Rate limits on REST (PRODUCT.md §13): a middleware that counts the limited routes against
//! [`RateLimits`] (app data; absent: nothing is limited) before the handler runs. Allowed
//! answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; refusals are
//! 429 problem+json `RATE_LIMITED` with `Retry-After` and the same headers.
//!
//! Client key: the user when the request is authenticated, else the client IP as resolved
//! through the trusted proxies; webhooks count per gateway, the sandbox page per IP.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use application::ports::RateDecision;
use application::services::{LimitKind, RateLimits};
use application::{AppError, RequestContext};

use crate::auth::{Caller, client_address};
use crate::problem::ApiError;

/// What a request is counted as, and under which key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Counted {
    /// Per client (user, else IP).
    Client(LimitKind),
    /// Payment webhooks, per gateway.
    Gateway(String),
    /// Per IP.
    Ip(LimitKind),
}

/// The limited routes (`/api/v1` and the `/api` alias).
fn classify(method: &Method, path: &str) -> Option<Counted> {
    if let Some(reference) = path.strip_prefix("/sandbox/payments/") {
        return (!reference.is_empty() && (method == Method::GET || method == Method::POST))
            .then_some(Counted::Ip(LimitKind::SandboxPage));
    }
    let api = path
        .strip_prefix("/api/v1")
        .or_else(|| path.strip_prefix("/api"))?;
    match (method, api) {
        (&Method::GET, "/events") => Some(Counted::Client(LimitKind::EventList)),
        (&Method::POST, "/bookings") => Some(Counted::Client(LimitKind::BookingCreate)),
        (&Method::POST, rest) => {
            if let Some(gateway) = rest.strip_prefix("/payments/webhook/") {
                return (!gateway.is_empty() && !gateway.contains('/'))
                    .then(|| Counted::Gateway(gateway.to_owned()));
            }
            let code = rest
                .strip_prefix("/promo-codes/")?
                .strip_suffix("/validate")?;
            (!code.is_empty() && !code.contains('/'))
                .then_some(Counted::Client(LimitKind::PromoValidate))
        }
        _ => None,
    }
}

/// Middleware: see the module documentation.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let counted = classify(req.method(), req.path());
    let limits = req
        .app_data::<web::Data<RateLimits>>()
        .filter(|l| l.settings().enabled)
        .cloned();
    let (Some(counted), Some(limits)) = (counted, limits) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let ip = |req: &ServiceRequest| {
        client_address(req.request()).map_or_else(|| "unknown".to_owned(), |c| c.ip.to_string())
    };
    let (kind, outcome) = match counted {
        Counted::Client(kind) => {
            let ctx = match req.extract::<Caller>().await {
                Ok(Caller(ctx)) => ctx,
                // Bad credentials: the handler answers 401; count the attempt by IP.
                Err(_) => {
                    let mut ctx = RequestContext::new(application::Actor::guest());
                    ctx.client_ip = Some(ip(&req));
                    ctx
                }
            };
            (kind, limits.check_client(kind, &ctx).await)
        }
        Counted::Gateway(gateway) => (
            LimitKind::Webhook,
            limits
                .check(LimitKind::Webhook, &format!("gateway:{gateway}"))
                .await,
        ),
        Counted::Ip(kind) => (kind, limits.check(kind, &format!("ip:{}", ip(&req))).await),
    };
    match outcome {
        Ok(decision) => {
            let mut response = next.call(req).await?;
            if let Some(decision) = decision {
                headers(response.headers_mut(), &decision);
            }
            Ok(response.map_into_left_body())
        }
        Err(err) => {
            let retry_after = match &err {
                AppError::RateLimited { retry_after } => *retry_after,
                _ => std::time::Duration::ZERO,
            };
            let mut response = ApiError(err).error_response();
            headers(
                response.headers_mut(),
                &RateDecision {
                    allowed: false,
                    limit: limits.settings().limit(kind).limit,
                    remaining: 0,
                    reset_after: retry_after,
                    retry_after,
                },
            );
            let (request, _) = req.into_parts();
            Ok(ServiceResponse::new(request, response).map_into_right_body())
        }
    }
}

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

fn headers(headers: &mut HeaderMap, decision: &RateDecision) {
    let reset = decision
        .reset_after
        .as_secs()
        .saturating_add(u64::from(decision.reset_after.subsec_nanos() > 0));
    headers.insert(LIMIT, HeaderValue::from(decision.limit));
    headers.insert(REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(RESET, HeaderValue::from(reset));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limited_routes_and_their_keys() {
        let c = |m: Method, p: &str| classify(&m, p);
        assert_eq!(
            c(Method::GET, "/api/v1/events"),
            Some(Counted::Client(LimitKind::EventList))
        );
        assert_eq!(
            c(Method::GET, "/api/events"),
            Some(Counted::Client(LimitKind::EventList))
        );
        assert_eq!(
            c(Method::POST, "/api/v1/events"),
            None,
            "create is not limited"
        );
        assert_eq!(c(Method::GET, "/api/v1/events/5"), None);
        assert_eq!(
            c(Method::POST, "/api/v1/bookings"),
            Some(Counted::Client(LimitKind::BookingCreate))
        );
        assert_eq!(c(Method::GET, "/api/v1/bookings"), None);
        assert_eq!(
            c(Method::POST, "/api/v1/promo-codes/SUMMER/validate"),
            Some(Counted::Client(LimitKind::PromoValidate))
        );
        assert_eq!(
            c(Method::POST, "/api/v1/payments/webhook/sandbox"),
            Some(Counted::Gateway("sandbox".to_owned()))
        );
        assert_eq!(c(Method::POST, "/api/v1/payments/webhook/"), None);
        assert_eq!(
            c(Method::GET, "/sandbox/payments/ref-1"),
            Some(Counted::Ip(LimitKind::SandboxPage))
        );
        assert_eq!(c(Method::GET, "/actuator/health"), None);
    }

    #[test]
    fn headers_round_the_reset_up_to_whole_seconds() {
        let mut map = HeaderMap::new();
        headers(
            &mut map,
            &RateDecision {
                allowed: true,
                limit: 100,
                remaining: 42,
                reset_after: std::time::Duration::from_millis(1500),
                retry_after: std::time::Duration::ZERO,
            },
        );
        assert_eq!(map.get("ratelimit-limit").unwrap(), "100");
        assert_eq!(map.get("ratelimit-remaining").unwrap(), "42");
        assert_eq!(map.get("ratelimit-reset").unwrap(), "2");
    }
}
