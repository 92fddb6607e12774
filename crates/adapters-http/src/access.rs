//! Who may call a route at all, decided before the request body is read.
//!
//! The use cases decide the fine-grained rules (the event's own organizer, the booking's
//! owner, …). This table states the coarse one — the least role that can ever use a route —
//! so that a caller who can never use it gets 401/403 before the body is parsed or validated
//! (a USER posting half an event learns nothing about what an event needs). A test checks that
//! every documented operation has an entry.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest};
use application::AppError;
use application::actor::Role;

use crate::auth::Caller;
use crate::problem::problem_response;

/// The least a caller must be to use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (catalog reads, webhooks checked by signature, health).
    Public,
    /// Any signed-in caller.
    User,
    /// ORGANIZER or ADMIN.
    Organizer,
    /// ADMIN only.
    Admin,
}

impl Access {
    fn admits(self, role: Role) -> bool {
        match self {
            Self::Public => true,
            Self::User => role != Role::Guest,
            Self::Organizer => matches!(role, Role::Organizer | Role::Admin),
            Self::Admin => role == Role::Admin,
        }
    }
}

/// Every documented operation: method, path template (as in the OpenAPI document), access.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/api/v1/events", Access::Public),
    ("POST", "/api/v1/events", Access::Organizer),
    ("GET", "/api/v1/events/{id}", Access::Public),
    ("PUT", "/api/v1/events/{id}", Access::Organizer),
    ("POST", "/api/v1/events/{id}/publish", Access::Organizer),
    ("POST", "/api/v1/events/{id}/cancel", Access::Organizer),
    ("GET", "/api/v1/events/{id}/stats", Access::Organizer),
    ("POST", "/api/v1/events/{id}/crew", Access::Organizer),
    ("GET", "/api/v1/categories", Access::Public),
    ("POST", "/api/v1/categories", Access::Admin),
    ("PUT", "/api/v1/categories/{id}", Access::Admin),
    ("POST", "/api/v1/bookings", Access::User),
    ("GET", "/api/v1/bookings", Access::User),
    ("GET", "/api/v1/bookings/{id}", Access::User),
    ("POST", "/api/v1/bookings/{id}/cancel", Access::User),
    ("POST", "/api/v1/payments", Access::User),
    ("POST", "/api/v1/payments/confirm", Access::User),
    ("POST", "/api/v1/payments/webhook/{gateway}", Access::Public),
    ("GET", "/api/v1/payments/{id}", Access::User),
    ("POST", "/api/v1/payments/{id}/refund", Access::User),
    ("GET", "/api/v1/events/{id}/price-options", Access::Public),
    (
        "POST",
        "/api/v1/events/{id}/price-options",
        Access::Organizer,
    ),
    (
        "PUT",
        "/api/v1/events/{id}/price-options/{option_id}",
        Access::Organizer,
    ),
    (
        "DELETE",
        "/api/v1/events/{id}/price-options/{option_id}",
        Access::Organizer,
    ),
    ("POST", "/api/v1/promo-codes", Access::Organizer),
    ("GET", "/api/v1/promo-codes", Access::Organizer),
    ("GET", "/api/v1/promo-codes/{id}", Access::Organizer),
    ("PUT", "/api/v1/promo-codes/{id}", Access::Organizer),
    ("DELETE", "/api/v1/promo-codes/{id}", Access::Organizer),
    ("POST", "/api/v1/promo-codes/{code}/validate", Access::User),
    ("GET", "/api/v1/loyalty", Access::User),
    ("GET", "/api/v1/admin/audit", Access::Admin),
    ("POST", "/api/v1/admin/events/bulk-cancel", Access::Admin),
    (
        "POST",
        "/api/v1/admin/events/bulk-reschedule",
        Access::Admin,
    ),
    ("GET", "/api/v1/admin/reports/popularity", Access::Admin),
    ("POST", "/api/v1/events/{id}/waitlist", Access::User),
    ("DELETE", "/api/v1/events/{id}/waitlist", Access::User),
    ("GET", "/api/v1/events/{id}/waitlist", Access::User),
    (
        "POST",
        "/api/v1/events/{id}/waitlist/process",
        Access::Organizer,
    ),
    ("POST", "/api/v1/favorites", Access::User),
    ("GET", "/api/v1/favorites", Access::User),
    ("DELETE", "/api/v1/favorites/{id}", Access::User),
    ("POST", "/api/v1/events/{id}/favorite", Access::User),
    ("DELETE", "/api/v1/events/{id}/favorite", Access::User),
    ("POST", "/api/v1/reviews", Access::User),
    ("GET", "/api/v1/reviews", Access::Public),
    ("GET", "/api/v1/reviews/{id}", Access::Public),
    ("PUT", "/api/v1/reviews/{id}", Access::User),
    ("POST", "/api/v1/reviews/{id}/replies", Access::Organizer),
    ("POST", "/api/v1/reviews/{id}/helpful", Access::User),
    ("POST", "/api/v1/reviews/{id}/moderate", Access::Admin),
    ("GET", "/api/v1/admin/reviews/moderation", Access::Admin),
    ("POST", "/api/v1/events/{id}/reviews", Access::User),
    ("GET", "/api/v1/events/{id}/reviews", Access::Public),
    ("GET", "/sandbox/payments/{reference}", Access::Public),
    ("POST", "/sandbox/payments/{reference}", Access::Public),
    ("GET", "/actuator/health", Access::Public),
    ("GET", "/actuator/health/readiness", Access::Public),
    ("GET", "/actuator/health/liveness", Access::Public),
    ("GET", "/actuator/info", Access::Public),
    ("GET", "/actuator/prometheus", Access::Admin),
    ("GET", "/actuator/metrics", Access::Admin),
    ("GET", "/actuator/loggers", Access::Admin),
    ("POST", "/actuator/loggers/{target}", Access::Admin),
    ("POST", "/internal/jobs/{name}", Access::Admin),
    ("GET", "/actuator/scheduledtasks", Access::Admin),
];

/// The access of the route `method path` (the `/api` alias counts as `/api/v1`); `None` for
/// an unknown route (answered 404 later). When several templates match, the one with the most
/// literal segments wins (`/payments/confirm` before `/payments/{id}`).
#[must_use]
pub fn required(method: &Method, path: &str) -> Option<Access> {
    let path = match path.strip_prefix("/api/") {
        Some(rest) if !rest.starts_with("v1/") => format!("/api/v1/{rest}"),
        _ => path.to_owned(),
    };
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES
        .iter()
        .filter(|(m, _, _)| *m == method.as_str())
        .filter_map(|(_, template, access)| {
            let pattern: Vec<&str> = template.split('/').collect();
            let matches = pattern.len() == segments.len()
                && pattern.iter().zip(&segments).all(|(p, s)| {
                    if p.starts_with('{') {
                        !s.is_empty()
                    } else {
                        p == s
                    }
                });
            matches.then(|| {
                (
                    pattern.iter().filter(|p| !p.starts_with('{')).count(),
                    *access,
                )
            })
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, access)| access)
}

/// Middleware: resolves the caller (invalid credentials → 401) and refuses a caller whose role
/// can never use the route (guest → 401, wrong role → 403) before the handler's extractors
/// read the body. The resolved caller is memoized in the request, so handlers do not
/// authenticate twice.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let access = required(req.method(), req.path()).unwrap_or(Access::Public);
    if access != Access::Public {
        let refusal = match Caller::extract(req.request()).await {
            Err(e) => Some(e.0),
            Ok(Caller(ctx)) if access.admits(ctx.actor.role()) => None,
            Ok(Caller(ctx)) if ctx.actor.role() == Role::Guest => Some(AppError::Unauthenticated),
            Ok(_) => Some(AppError::Forbidden {
                reason: "this operation is not available to the caller's role",
            }),
        };
        if let Some(err) = refusal {
            let response = problem_response(&err);
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_operation_has_an_access_and_no_entry_is_stale() {
        let doc = crate::openapi::document();
        let mut documented = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (present, method) in [
                (item.get.is_some(), "GET"),
                (item.post.is_some(), "POST"),
                (item.put.is_some(), "PUT"),
                (item.patch.is_some(), "PATCH"),
                (item.delete.is_some(), "DELETE"),
            ] {
                if present {
                    documented.push((method.to_owned(), path.clone()));
                }
            }
        }
        for (method, path) in &documented {
            assert!(
                ROUTES.iter().any(|(m, p, _)| m == method && p == path),
                "{method} {path} has no entry in access::ROUTES"
            );
        }
        for (m, p, _) in ROUTES {
            assert!(
                documented.iter().any(|(dm, dp)| dm == m && dp == p),
                "{m} {p} in access::ROUTES is not a documented operation"
            );
        }
    }

    #[test]
    fn the_most_literal_template_wins_and_the_alias_counts() {
        assert_eq!(
            required(&Method::POST, "/api/v1/payments/confirm"),
            Some(Access::User)
        );
        assert_eq!(
            required(&Method::POST, "/api/events"),
            Some(Access::Organizer)
        );
        assert_eq!(
            required(&Method::POST, "/api/v1/admin/events/bulk-cancel"),
            Some(Access::Admin)
        );
        assert_eq!(required(&Method::GET, "/api/v1/nothing"), None);
        assert!(!Access::Organizer.admits(Role::User));
        assert!(Access::Organizer.admits(Role::Admin));
        assert!(!Access::User.admits(Role::Guest));
    }
}
