//! The `Caller` extractor: the request's [`RequestContext`] (actor, request id, client IP).
//!
//! Who the caller is is decided by the `Authenticate` port (the `adapters-auth` crate, the same
//! instance the gRPC service uses); this module only turns the request's headers into
//! transport-neutral [`Credentials`] and the outcome into a 401 problem.

use std::net::SocketAddr;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::http::header::HeaderMap;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use application::ports::{Authenticate, Credentials};
use application::{AppError, RequestContext};
use futures_util::future::{LocalBoxFuture, ready};

use crate::problem::ApiError;
use crate::request_id::RequestId;

/// The caller of a handler. A guest when no credentials were sent (handlers call the
/// `Actor::require_*` helpers); invalid credentials are refused here with 401 problem+json.
///
/// Needs a `web::Data<dyn Authenticate>` in the app data (missing → 500). The request id comes from
/// the [`RequestId`] extension, the client IP from `connection_info().realip_remote_addr()`
/// (which honours `Forwarded`/`X-Forwarded-For`; the port of a peer address is dropped).
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
        let client_ip = req.connection_info().realip_remote_addr().map(client_ip);
        let req = req.clone();
        Box::pin(async move {
            let actor = authenticator
                .authenticate(&credentials(req.headers()), safe_method)
                .await?;
            let context = RequestContext {
                actor,
                request_id,
                client_ip,
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
    }
}

/// `1.2.3.4:5678` → `1.2.3.4`, `[::1]:80` → `::1`; anything else as given.
fn client_ip(addr: &str) -> String {
    addr.parse::<SocketAddr>()
        .map_or_else(|_| addr.to_owned(), |socket| socket.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::client_ip;

    #[test]
    fn the_port_is_dropped() {
        assert_eq!(client_ip("10.0.0.7:51234"), "10.0.0.7");
        assert_eq!(client_ip("[::1]:80"), "::1");
        assert_eq!(client_ip("203.0.113.9"), "203.0.113.9");
    }
}
