//! The `Caller` extractor: the request's [`RequestContext`] (actor, request id, client IP).
//!
//! Who the caller is is decided by the `Authenticate` port (the `adapters-auth` crate, the same
//! instance the gRPC service uses); this module only turns the request's headers into
//! transport-neutral [`Credentials`] and the outcome into a 401 problem.

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::http::header::HeaderMap;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use application::ports::{Authenticate, ClientAddress, Credentials, TrustedProxies};
use application::{AppError, RequestContext};
use futures_util::future::{LocalBoxFuture, ready};

use crate::problem::ApiError;
use crate::request_id::RequestId;

/// The caller of a handler. A guest when no credentials were sent (handlers call the
/// `Actor::require_*` helpers); invalid credentials are refused here with 401 problem+json.
///
/// Needs a `web::Data<dyn Authenticate>` in the app data (missing → 500). The request id comes from
/// the [`RequestId`] extension, the client IP from [`client_address`] (forwarding headers only
/// from trusted proxies).
/// The result is memoized in the request, so several extractors authenticate once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub RequestContext);

/// The resolved context, stored in the request extensions.
#[derive(Clone)]
struct Resolved(RequestContext);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        if let Some(Resolved(context)) = req.extensions().get::<Resolved>() {
            return Box::pin(ready(Ok(Self(context.clone()))));
        }
        let Some(authenticator) = req.app_data::<web::Data<dyn Authenticate>>().cloned() else {
            return Box::pin(ready(Err(ApiError(AppError::internal(
                "no web::Data<dyn Authenticate> registered in the app data",
            )))));
        };
        let safe_method = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
        let client = client_address(req);
        let req = req.clone();
        Box::pin(async move {
            let mut credentials = credentials(req.headers());
            credentials.via_trusted_proxy = client.is_some_and(|c| c.via_trusted_proxy);
            let actor = authenticator
                .authenticate(&credentials, safe_method)
                .await?;
            let context = RequestContext {
                actor,
                request_id,
                client_ip: client.map(|c| c.ip.to_string()),
            };
            req.extensions_mut().insert(Resolved(context.clone()));
            Ok(Self(context))
        })
    }
}

/// The credential headers of an HTTP request.
fn credentials(headers: &HeaderMap) -> Credentials {
    let values = |name| {
        headers
            .get_all(name)
            .map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    };
    Credentials {
        authorization: values(Credentials::AUTHORIZATION),
        user_id: values(Credentials::USER_ID),
        user_role: values(Credentials::USER_ROLE),
        via_trusted_proxy: false,
    }
}

/// The client of `req`: the socket peer, or what a trusted proxy forwarded for
/// (`X-Forwarded-For`, see [`TrustedProxies::resolve`]). The proxies come from a
/// `web::Data<TrustedProxies>` in the app data (none registered: nobody is trusted). `None`
/// when the peer is unknown (a request built in a unit test). The one place REST decides who
/// the client is: the audit trail and rate limits use it.
#[must_use]
pub fn client_address(req: &HttpRequest) -> Option<ClientAddress> {
    let peer = req.peer_addr()?.ip();
    let forwarded: Vec<&str> = req
        .headers()
        .get_all(X_FORWARDED_FOR)
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(match req.app_data::<web::Data<TrustedProxies>>() {
        Some(proxies) => proxies.resolve(peer, &forwarded),
        None => TrustedProxies::default().resolve(peer, &forwarded),
    })
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use actix_web::test::TestRequest;

    use super::*;

    fn peer(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn hole_7_forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxies = web::Data::new(TrustedProxies::parse(&["10.0.0.0/8"]).unwrap());
        let spoofed = TestRequest::get()
            .peer_addr(peer("203.0.113.9:5000"))
            .insert_header((X_FORWARDED_FOR, "6.6.6.6"))
            .app_data(proxies.clone())
            .to_http_request();
        let client = client_address(&spoofed).unwrap();
        assert_eq!(client.ip.to_string(), "203.0.113.9");
        assert!(!client.via_trusted_proxy);

        let proxied = TestRequest::get()
            .peer_addr(peer("10.1.1.1:5000"))
            .insert_header((X_FORWARDED_FOR, "6.6.6.6, 198.51.100.4"))
            .app_data(proxies)
            .to_http_request();
        let client = client_address(&proxied).unwrap();
        assert_eq!(client.ip.to_string(), "198.51.100.4");
        assert!(client.via_trusted_proxy);

        let no_table = TestRequest::get()
            .peer_addr(peer("10.1.1.1:5000"))
            .insert_header((X_FORWARDED_FOR, "6.6.6.6"))
            .to_http_request();
        assert_eq!(
            client_address(&no_table).unwrap().ip.to_string(),
            "10.1.1.1"
        );
    }
}
