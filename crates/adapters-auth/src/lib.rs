//! Authentication (PRODUCT.md §1): who is calling, decided once for both inbound adapters.
//! [`Authenticator`] implements the `ports::Authenticate` port on
//! transport-neutral [`Credentials`]; bootstrap builds one and hands the same instance (and so
//! the same JWKS cache) to the REST extractor and to the gRPC service.
//!
//! Three sources, in this order:
//! 1. `Authorization: Bearer <jwt>` — an access token of the OIDC issuer (Keycloak), verified
//!    against the issuer's JWKS ([`JwtConfig`]). When the header is present it decides alone:
//!    any defect is a 401, the gateway headers are not consulted.
//! 2. Trusted gateway headers `X-User-Id` / `X-User-Role` — only when
//!    [`AuthConfig::gateway_headers`] is on *and* the connection comes from a trusted proxy
//!    ([`Credentials::via_trusted_proxy`], `server.trusted_proxies`); otherwise they are
//!    ignored, so nobody becomes ADMIN by sending them.
//! 3. Nothing → [`Actor::guest`].
//!
//! When the issuer cannot be reached and the token's key is not cached, a safe request
//! (GET/HEAD/OPTIONS) goes on as a guest so that public reads keep working, and a write is
//! refused with 401. Keys already cached keep validating while the issuer is down, and so do
//! the keys another instance fetched last ([`Authenticator::with_shared_cache`]: the JWKS is
//! shared through the `Cache` port, Redis when configured).
//!
//! The issuer's metadata is discovered with `openidconnect` (OpenID Connect Discovery 1.0);
//! access tokens are verified with `jsonwebtoken` (openidconnect verifies ID tokens only).
//! A verified token's actor is kept in memory by the token's hash until its `exp` or a short
//! TTL, so that a token is not verified again on every request.

mod gateway;
mod health;
mod jwks;
mod jwt;
mod shared;
mod token_cache;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
pub use jsonwebtoken::Algorithm;
use jsonwebtoken::AlgorithmFamily;
use ports::{Actor, AppError, Cache};
use ports::{Authenticate, Credentials};

pub use health::AuthHealth;
pub use jwks::{KeySource, KeyStatus};

use jwt::{JwtValidator, Rejection};

/// How callers authenticate.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// Bearer tokens of an OIDC issuer. `None`: every `Authorization` header is refused (401).
    pub jwt: Option<JwtConfig>,
    /// Trust `X-User-Id` / `X-User-Role` set by a gateway in front of the service, on
    /// connections from a trusted proxy only.
    pub gateway_headers: bool,
}

/// Validation of the issuer's access tokens.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The expected `iss`, e.g. `https://keycloak/realms/aquastream` (compared verbatim).
    pub issuer: String,
    /// Accepted `aud` values: a token must name at least one of them (default
    /// `["backend-event"]`; Keycloak needs an audience mapper for it).
    ///
    /// When emptied the `aud` claim is not checked; then only [`Self::authorized_parties`]
    /// tells this service's tokens from those of the realm's other clients.
    pub audiences: Vec<String>,
    /// Accepted `azp` (the client the token was issued to); when not empty a token must
    /// carry one of them, whatever its `aud`.
    pub authorized_parties: Vec<String>,
    /// The JWKS endpoint. `None`: discovered as `jwks_uri` of
    /// `{issuer}/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    /// Where the roles are: a dotted path into the claims (default `realm_access.roles`).
    /// Several paths may be given separated by commas
    /// (`realm_access.roles,resource_access.event-service.roles`); their roles are merged.
    /// The value may be an array of strings or one string of names separated by spaces or
    /// commas.
    pub roles_claim: String,
    /// Accepted signature algorithms (default `[RS256]`). HMAC algorithms are always removed
    /// (the keys are public) and `none` cannot be expressed. An empty list means the default.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp` / `nbf` (default 30 s).
    pub leeway: Duration,
    /// At most one JWKS fetch per this interval, whatever the number of unknown `kid`s seen
    /// (default 30 s).
    pub jwks_refresh_min_interval: Duration,
    /// Timeout of each request to the issuer (default 3 s).
    pub http_timeout: Duration,
    /// How long the JWKS written to the shared cache after each fetch lives there (default
    /// 24 h): an instance that cannot reach the issuer uses it meanwhile. Zero: not shared.
    pub jwks_cache_ttl: Duration,
    /// How long a verified token's actor is reused without verifying the token again (never
    /// past the token's `exp`; default 60 s). Zero: every request is verified.
    pub token_cache_ttl: Duration,
    /// Verified tokens remembered at most (default 10 000). Zero: no token cache.
    pub token_cache_max_entries: u64,
}

impl JwtConfig {
    /// The defaults for `issuer`.
    #[must_use]
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: vec!["backend-event".to_owned()],
            authorized_parties: Vec::new(),
            jwks_url: None,
            roles_claim: "realm_access.roles".to_owned(),
            algorithms: vec![Algorithm::RS256],
            leeway: Duration::from_secs(30),
            jwks_refresh_min_interval: Duration::from_secs(30),
            http_timeout: Duration::from_secs(3),
            jwks_cache_ttl: Duration::from_secs(24 * 60 * 60),
            token_cache_ttl: Duration::from_secs(60),
            token_cache_max_entries: 10_000,
        }
    }

    /// The accepted algorithms, HMAC removed.
    fn effective_algorithms(&self) -> Vec<Algorithm> {
        if self.algorithms.is_empty() {
            return vec![Algorithm::RS256];
        }
        let algorithms: Vec<Algorithm> = self
            .algorithms
            .iter()
            .copied()
            .filter(|alg| alg.family() != AlgorithmFamily::Hmac)
            .collect();
        if algorithms.is_empty() {
            tracing::warn!(
                configured = ?self.algorithms,
                "only HMAC algorithms configured for JWT; they are never accepted, so every bearer token will be refused"
            );
        }
        algorithms
    }
}

/// Resolves the caller of a request. Cheap to clone (shares the JWKS cache).
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    jwt: Option<JwtValidator>,
    gateway_headers: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("jwt", &self.inner.jwt.as_ref().map(JwtValidator::issuer))
            .field("gateway_headers", &self.inner.gateway_headers)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// The issuer's keys are this instance's own: fetched by it, kept in its memory.
    #[must_use]
    pub fn new(config: AuthConfig) -> Self {
        Self::build(config, None)
    }

    /// The issuer's keys are also written to `cache` after each fetch, and read from it when
    /// the issuer cannot be reached (see [`JwtConfig::jwks_cache_ttl`]).
    #[must_use]
    pub fn with_shared_cache(config: AuthConfig, cache: Arc<dyn Cache>) -> Self {
        Self::build(config, Some(cache))
    }

    fn build(config: AuthConfig, shared: Option<Arc<dyn Cache>>) -> Self {
        if config.jwt.is_none() && !config.gateway_headers {
            tracing::warn!(
                "authentication: neither JWT nor gateway headers enabled; every caller is a guest"
            );
        }
        Self {
            inner: Arc::new(Inner {
                jwt: config.jwt.map(|jwt| JwtValidator::new(jwt, shared)),
                gateway_headers: config.gateway_headers,
            }),
        }
    }

    /// The rules of the crate documentation. `safe`: the request changes nothing (a caller
    /// whose token cannot be checked because the issuer is down is then a guest instead of
    /// being refused). Any credential that is present but not valid is
    /// [`AppError::Unauthenticated`]; the reason is logged at debug level only.
    async fn resolve(&self, credentials: &Credentials, safe: bool) -> Result<Actor, AppError> {
        match credentials.authorization.as_slice() {
            [] => {}
            [Some(value)] => return self.bearer(value, safe).await,
            [None] => return Err(reject("Authorization is not visible ASCII")),
            _ => return Err(reject("several Authorization headers")),
        }
        if self.inner.gateway_headers && credentials.via_trusted_proxy {
            match gateway::actor_from_headers(credentials) {
                Ok(Some(actor)) => return Ok(actor),
                Ok(None) => {}
                Err(reason) => return Err(reject(&reason)),
            }
        }
        Ok(Actor::guest())
    }

    async fn bearer(&self, value: &str, safe_method: bool) -> Result<Actor, AppError> {
        let token =
            bearer_token(value).ok_or_else(|| reject("Authorization is not `Bearer <token>`"))?;
        let Some(jwt) = &self.inner.jwt else {
            return Err(reject(
                "bearer token received but JWT validation is not configured",
            ));
        };
        match jwt.validate(token).await {
            Ok(actor) => Ok(actor),
            Err(Rejection::Invalid(reason)) => Err(reject(&reason)),
            Err(Rejection::KeyUnavailable) if safe_method => {
                tracing::debug!(
                    "token key not cached and the issuer is unreachable: safe request served as guest"
                );
                Ok(Actor::guest())
            }
            Err(Rejection::KeyUnavailable) => Err(reject(
                "token key not cached and the issuer is unreachable: write refused",
            )),
        }
    }

    /// The state of the JWKS cache, for readiness/health (`None` when JWT is not configured;
    /// [`AuthHealth`] reports it).
    #[must_use]
    pub fn key_status(&self) -> Option<KeyStatus> {
        self.inner.jwt.as_ref().map(JwtValidator::key_status)
    }

    /// Fetches the issuer's keys now (at startup, or from a health check), ignoring the
    /// refetch rate limit. Returns the number of usable keys. `Ok(0)` when JWT is not
    /// configured.
    ///
    /// # Errors
    /// [`AppError::Unavailable`] when the issuer or its JWKS cannot be fetched; cached keys
    /// are kept.
    pub async fn refresh_keys(&self) -> Result<usize, AppError> {
        match &self.inner.jwt {
            Some(jwt) => jwt.refresh_keys().await,
            None => Ok(0),
        }
    }
}

#[async_trait]
impl Authenticate for Authenticator {
    async fn authenticate(
        &self,
        credentials: &Credentials,
        read_only: bool,
    ) -> Result<Actor, AppError> {
        self.resolve(credentials, read_only).await
    }
}

fn reject(reason: &str) -> AppError {
    tracing::debug!(reason, "credentials rejected");
    AppError::Unauthenticated
}

/// The token of `Bearer <token>`: scheme case-insensitive (RFC 7235), one space, a non-empty
/// b64token (RFC 6750).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.chars().all(b64token))
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_must_be_exactly_scheme_space_token() {
        let ok = |s: &'static str| bearer_token(s).map(str::to_owned);
        assert_eq!(ok("Bearer a.b.c"), Some("a.b.c".to_owned()));
        assert_eq!(ok("bearer a.b-_c"), Some("a.b-_c".to_owned()));
        assert_eq!(ok("Bearer"), None);
        assert_eq!(ok("Bearer "), None);
        assert_eq!(ok("Bearer  a.b.c"), None);
        assert_eq!(ok("Bearer a.b.c extra"), None);
        assert_eq!(ok("Basic dXNlcjpwYXNz"), None);
        assert_eq!(ok("Token a.b.c"), None);
    }

    fn gateway(id: &str, role: &str) -> Credentials {
        Credentials {
            user_id: vec![Some(id.to_owned())],
            user_role: vec![Some(role.to_owned())],
            via_trusted_proxy: true,
            ..Credentials::default()
        }
    }

    const ID: &str = "11111111-1111-4111-8111-111111111111";

    #[tokio::test]
    async fn the_port_applies_the_rules_of_the_headers() {
        let trusting = Authenticator::new(AuthConfig {
            jwt: None,
            gateway_headers: true,
        });
        let port: &dyn Authenticate = &trusting;
        let actor = port
            .authenticate(&gateway(ID, "ORGANIZER"), false)
            .await
            .unwrap();
        assert_eq!(actor.user_id().map(|u| u.to_string()).as_deref(), Some(ID));
        assert_eq!(actor.role(), ports::Role::Organizer);
        let guest = port
            .authenticate(&Credentials::default(), false)
            .await
            .unwrap();
        assert_eq!(guest, Actor::guest());

        let refused = [
            gateway("not-a-uuid", "USER"),
            gateway(ID, "EMPEROR"),
            gateway(ID, "admin"),
            gateway(ID, "Role_Admin"),
            Credentials {
                user_id: vec![None],
                ..Credentials::default()
            },
            Credentials {
                user_id: vec![Some(ID.to_owned()), Some(ID.to_owned())],
                ..Credentials::default()
            },
            Credentials {
                authorization: vec![Some("Bearer a.b.c".to_owned())],
                ..gateway(ID, "ADMIN")
            },
            Credentials {
                authorization: vec![Some("Bearer a".to_owned()), Some("Bearer b".to_owned())],
                ..Credentials::default()
            },
            Credentials {
                authorization: vec![None],
                ..Credentials::default()
            },
        ];
        for mut credentials in refused {
            // From the trusted gateway: refused for what the headers say, not for where from.
            credentials.via_trusted_proxy = true;
            let result = port.authenticate(&credentials, true).await;
            assert!(
                matches!(result, Err(AppError::Unauthenticated)),
                "{credentials:?} → {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn gateway_headers_are_ignored_unless_trusted() {
        let closed = Authenticator::new(AuthConfig::default());
        let actor = Authenticate::authenticate(&closed, &gateway(ID, "ADMIN"), false)
            .await
            .unwrap();
        assert_eq!(actor, Actor::guest());
    }

    #[tokio::test]
    async fn hole_7_gateway_headers_from_an_untrusted_peer_are_ignored() {
        let trusting = Authenticator::new(AuthConfig {
            jwt: None,
            gateway_headers: true,
        });
        let direct = Credentials {
            via_trusted_proxy: false,
            ..gateway(ID, "ADMIN")
        };
        let actor = Authenticate::authenticate(&trusting, &direct, false)
            .await
            .unwrap();
        assert_eq!(actor, Actor::guest());
    }

    #[test]
    fn hmac_algorithms_are_never_accepted() {
        let mut config = JwtConfig::new("https://issuer");
        config.algorithms = vec![Algorithm::HS256, Algorithm::RS256, Algorithm::HS512];
        assert_eq!(config.effective_algorithms(), vec![Algorithm::RS256]);
        config.algorithms = vec![Algorithm::HS256];
        assert!(config.effective_algorithms().is_empty());
        config.algorithms = vec![];
        assert_eq!(config.effective_algorithms(), vec![Algorithm::RS256]);
    }
}
