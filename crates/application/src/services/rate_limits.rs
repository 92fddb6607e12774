//! Rate limits (PRODUCT.md §13), the same for REST and gRPC: which limit a request counts
//! against and under which client key. The counting itself is the `RateLimiter` port (Redis
//! when configured, so instances share one budget; in-process otherwise).

use std::sync::Arc;

use crate::AppError;
use crate::actor::RequestContext;
use crate::ports::{RateDecision, RateLimit, RateLimiter};

/// The limited operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Creating a booking, per user.
    BookingCreate,
    /// The catalog, per client (user, else IP).
    EventList,
    /// Validating a promo code, per user (so codes cannot be probed).
    PromoValidate,
    /// Payment webhooks, per gateway: unauthenticated writes.
    Webhook,
    /// The sandbox payment page, per IP: unauthenticated.
    SandboxPage,
}

impl LimitKind {
    /// The `limit` label of `aquastream_rate_limited_total` and part of the key.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::BookingCreate => "booking_create",
            Self::EventList => "event_list",
            Self::PromoValidate => "promo_validate",
            Self::Webhook => "webhook",
            Self::SandboxPage => "sandbox_page",
        }
    }
}

/// `rate_limits.*`: requests a minute per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub booking_create_per_minute: u32,
    pub event_list_per_minute: u32,
    pub promo_validate_per_minute: u32,
    pub webhook_per_minute: u32,
    pub sandbox_page_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            booking_create_per_minute: 10,
            event_list_per_minute: 100,
            promo_validate_per_minute: 20,
            webhook_per_minute: 600,
            sandbox_page_per_minute: 30,
        }
    }
}

impl RateLimitSettings {
    #[must_use]
    pub const fn limit(&self, kind: LimitKind) -> RateLimit {
        RateLimit::per_minute(match kind {
            LimitKind::BookingCreate => self.booking_create_per_minute,
            LimitKind::EventList => self.event_list_per_minute,
            LimitKind::PromoValidate => self.promo_validate_per_minute,
            LimitKind::Webhook => self.webhook_per_minute,
            LimitKind::SandboxPage => self.sandbox_page_per_minute,
        })
    }
}

/// The limits of one instance; cloned into both inbound adapters.
#[derive(Clone)]
pub struct RateLimits {
    limiter: Option<Arc<dyn RateLimiter>>,
    settings: RateLimitSettings,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Default for RateLimits {
    /// Nothing is limited.
    fn default() -> Self {
        Self {
            limiter: None,
            settings: RateLimitSettings {
                enabled: false,
                ..RateLimitSettings::default()
            },
        }
    }
}

impl RateLimits {
    /// Limits counted by `limiter`; nothing is limited when `settings.enabled` is false.
    #[must_use]
    pub fn new(limiter: Arc<dyn RateLimiter>, settings: RateLimitSettings) -> Self {
        Self {
            limiter: settings.enabled.then_some(limiter),
            settings,
        }
    }

    /// Counts a request of `ctx`'s client (the user when authenticated, else the IP).
    ///
    /// # Errors
    /// [`AppError::RateLimited`] over the limit.
    pub async fn check_client(
        &self,
        kind: LimitKind,
        ctx: &RequestContext,
    ) -> Result<Option<RateDecision>, AppError> {
        if self.limiter.is_none() {
            return Ok(None);
        }
        let subject = match (ctx.actor.user_id(), ctx.client_ip.as_deref()) {
            (Some(user), _) => format!("user:{}", user.0),
            (None, Some(ip)) => format!("ip:{ip}"),
            (None, None) => "unknown".to_owned(),
        };
        self.check(kind, &subject).await
    }

    /// Counts a request of `subject` (`gateway:sandbox`, `ip:…`) against `kind`'s limit. A
    /// limiter failure lets the request through (logged): limits protect, they never take the
    /// service down.
    ///
    /// # Errors
    /// [`AppError::RateLimited`] over the limit.
    pub async fn check(
        &self,
        kind: LimitKind,
        subject: &str,
    ) -> Result<Option<RateDecision>, AppError> {
        let Some(limiter) = &self.limiter else {
            return Ok(None);
        };
        let name = kind.name();
        let mut key = String::with_capacity(4 + name.len() + subject.len());
        key.push_str("rl:");
        key.push_str(name);
        key.push(':');
        key.push_str(subject);
        match limiter.check(&key, self.settings.limit(kind)).await {
            Ok(decision) if decision.allowed => Ok(Some(decision)),
            Ok(decision) => {
                metrics::counter!("aquastream_rate_limited_total", "limit" => name).increment(1);
                Err(AppError::RateLimited {
                    retry_after: decision.retry_after,
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, limit = name, "rate limiter failed: request let through");
                Ok(None)
            }
        }
    }

    /// The configured limits.
    #[must_use]
    pub const fn settings(&self) -> &RateLimitSettings {
        &self.settings
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use domain::UserId;

    use super::*;
    use crate::actor::{Actor, Role};
    use crate::ports::cache::MockRateLimiter;

    fn decision(allowed: bool) -> RateDecision {
        RateDecision {
            allowed,
            limit: 10,
            remaining: 0,
            reset_after: Duration::from_secs(60),
            retry_after: if allowed {
                Duration::ZERO
            } else {
                Duration::from_secs(6)
            },
        }
    }

    #[tokio::test]
    async fn users_are_limited_by_id_guests_by_ip_and_refusals_carry_retry_after() {
        let mut limiter = MockRateLimiter::new();
        let user = UserId(uuid::Uuid::from_u128(7));
        limiter
            .expect_check()
            .withf(move |key, limit| {
                key == format!("rl:booking_create:user:{}", user.0) && limit.limit == 10
            })
            .returning(|_, _| Ok(decision(false)));
        limiter
            .expect_check()
            .withf(|key, limit| key == "rl:event_list:ip:203.0.113.9" && limit.limit == 100)
            .returning(|_, _| Ok(decision(true)));
        let limits = RateLimits::new(Arc::new(limiter), RateLimitSettings::default());

        let mut ctx = RequestContext::new(Actor::authenticated(user, [Role::User]));
        ctx.client_ip = Some("203.0.113.9".to_owned());
        let err = limits
            .check_client(LimitKind::BookingCreate, &ctx)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "RATE_LIMITED",);
        assert!(
            matches!(err, AppError::RateLimited { retry_after } if retry_after == Duration::from_secs(6))
        );

        let mut guest = RequestContext::new(Actor::guest());
        guest.client_ip = Some("203.0.113.9".to_owned());
        assert!(
            limits
                .check_client(LimitKind::EventList, &guest)
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn disabled_limits_never_ask_the_limiter() {
        let limiter = MockRateLimiter::new(); // any call would panic
        let settings = RateLimitSettings {
            enabled: false,
            ..RateLimitSettings::default()
        };
        let limits = RateLimits::new(Arc::new(limiter), settings);
        let ctx = RequestContext::new(Actor::guest());
        assert_eq!(
            limits
                .check_client(LimitKind::EventList, &ctx)
                .await
                .unwrap(),
            None
        );
    }
}
