//! Validation of the issuer's access tokens and mapping of their claims to an [`Actor`].

use std::collections::BTreeSet;
use std::sync::Arc;

use domain::UserId;
use jsonwebtoken::{Algorithm, AlgorithmFamily, Validation, decode, decode_header};
use ports::{Actor, AppError, Cache, Role};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::JwtConfig;
use super::jwks::{KeyStatus, KeyStore, Lookup};
use super::shared::SharedKeys;
use super::token_cache::TokenCache;

/// Why a token was not accepted.
pub(crate) enum Rejection {
    /// The token is not valid; the reason is for the debug log only.
    Invalid(String),
    /// Its key is not cached and the issuer cannot be reached: validity unknown.
    KeyUnavailable,
}

pub(crate) struct JwtValidator {
    issuer: String,
    audiences: Vec<String>,
    authorized_parties: Vec<String>,
    roles_claims: Vec<Vec<String>>,
    algorithms: Vec<Algorithm>,
    leeway_secs: u64,
    keys: KeyStore,
    tokens: Option<TokenCache>,
}

impl JwtValidator {
    /// `shared`: where the issuer's keys are shared with other instances (none when the
    /// configured TTL is zero).
    pub fn new(config: JwtConfig, shared: Option<Arc<dyn Cache>>) -> Self {
        let algorithms = config.effective_algorithms();
        if config.audiences.is_empty() && config.authorized_parties.is_empty() {
            tracing::warn!(
                issuer = %config.issuer,
                "JWT: neither audiences nor authorized parties configured; tokens of any client of the issuer are accepted"
            );
        }
        let roles_claims = config
            .roles_claim
            .split(',')
            .map(str::trim)
            .filter(|path| !path.is_empty())
            .map(|path| path.split('.').map(str::to_owned).collect())
            .collect();
        let shared = shared
            .filter(|_| !config.jwks_cache_ttl.is_zero())
            .map(|cache| SharedKeys::new(cache, &config.issuer, config.jwks_cache_ttl));
        Self {
            keys: KeyStore::new(
                config.issuer.clone(),
                config.jwks_url,
                config.jwks_refresh_min_interval,
                config.http_timeout,
                shared,
            ),
            tokens: TokenCache::new(config.token_cache_ttl, config.token_cache_max_entries),
            issuer: config.issuer,
            audiences: config.audiences,
            authorized_parties: config.authorized_parties,
            roles_claims,
            algorithms,
            leeway_secs: config.leeway.as_secs(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn key_status(&self) -> KeyStatus {
        self.keys.status()
    }

    pub async fn refresh_keys(&self) -> Result<usize, AppError> {
        self.keys.refresh().await
    }

    /// The actor of a valid token: from the token cache when this token was verified
    /// recently and has not expired, else verified now (and cached).
    pub async fn validate(&self, token: &str) -> Result<Actor, Rejection> {
        let Some(tokens) = &self.tokens else {
            return self.verify(token).await.map(|(actor, _)| actor);
        };
        if let Some(actor) = tokens.get(token) {
            return Ok(actor);
        }
        let (actor, expires_at) = self.verify(token).await?;
        tokens.insert(token, actor, expires_at);
        Ok(actor)
    }

    /// Checks the signature and the claims of a token: its actor and its `exp`.
    async fn verify(&self, token: &str) -> Result<(Actor, u64), Rejection> {
        let invalid = |reason: String| Rejection::Invalid(reason);
        // `alg: none` (or any name this library does not know) fails here.
        let header = decode_header(token).map_err(|e| invalid(format!("bad token header: {e}")))?;
        let alg = header.alg;
        if alg.family() == AlgorithmFamily::Hmac || !self.algorithms.contains(&alg) {
            return Err(invalid(format!("algorithm {alg:?} is not accepted")));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token header has no `kid`".to_owned()))?;
        let key = match self.keys.key(&kid).await {
            Lookup::Found(key) => key,
            Lookup::Unknown => return Err(invalid(format!("unknown key id {kid:?}"))),
            Lookup::Unavailable => return Err(Rejection::KeyUnavailable),
        };
        if key.key.family() != alg.family() || key.alg.is_some_and(|key_alg| key_alg != alg) {
            return Err(invalid(format!("key {kid:?} is not for {alg:?}")));
        }

        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.leeway = self.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        let mut required = vec!["exp", "iss", "sub"];
        if self.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.validate_aud = true;
            validation.set_audience(&self.audiences);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);

        let claims = decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| invalid(format!("token rejected: {e}")))?
            .claims;

        if let Some(Value::String(typ)) = claims.get("typ")
            && ["id", "refresh", "logout"].contains(&typ.to_ascii_lowercase().as_str())
        {
            return Err(invalid(format!("a {typ} token is not an access token")));
        }
        if !self.authorized_parties.is_empty() {
            let azp = claims.get("azp").and_then(Value::as_str);
            if !azp.is_some_and(|azp| self.authorized_parties.iter().any(|p| p == azp)) {
                return Err(invalid(format!("azp {azp:?} is not an authorized party")));
            }
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let user_id = Uuid::parse_str(sub)
            .map(UserId)
            .map_err(|_| invalid(format!("sub {sub:?} is not a UUID")))?;
        // Required and checked above: a number of seconds (fractions dropped).
        let expires_at = claims.get("exp").and_then(expiry).unwrap_or(0);
        Ok((
            Actor::authenticated(user_id, self.roles(&claims)),
            expires_at,
        ))
    }

    /// The known roles named at the configured claim paths; unknown names are ignored.
    fn roles(&self, claims: &Map<String, Value>) -> BTreeSet<Role> {
        let mut roles = BTreeSet::new();
        for path in &self.roles_claims {
            let Some(value) = lookup(claims, path) else {
                continue;
            };
            let names: Vec<&str> = match value {
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                Value::String(names) => names
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .collect(),
                _ => Vec::new(),
            };
            roles.extend(names.into_iter().filter_map(parse_role));
        }
        roles
    }
}

/// A role name from a token or a header, exactly as documented: `USER`, `ORGANIZER`, `ADMIN`
/// or their Keycloak forms `ROLE_USER`, `ROLE_ORGANIZER`, `ROLE_ADMIN`. Any other spelling
/// (`admin`, `Role_Admin`) is not a role: a gateway header naming it is refused (401), a
/// token's other roles (`offline_access`, …) are ignored.
pub(crate) fn parse_role(name: &str) -> Option<Role> {
    Role::parse(name)
}

/// A NumericDate as whole seconds.
fn expiry(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|secs| secs.is_finite() && *secs >= 0.0)
            .map(|secs| secs as u64)
    })
}

fn lookup<'a>(claims: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(claims.get(first)?, |value, segment| value.get(segment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validator(roles_claim: &str) -> JwtValidator {
        let mut config = JwtConfig::new("https://issuer");
        roles_claim.clone_into(&mut config.roles_claim);
        JwtValidator::new(config, None)
    }

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn roles_come_from_the_configured_paths() {
        let claims = claims(json!({
            "realm_access": {"roles": ["offline_access", "ROLE_ORGANIZER", "uma_authorization"]},
            "resource_access": {"event-service": {"roles": ["ROLE_ADMIN"]}},
            "scope_roles": "USER  weird,ORGANIZER",
        }));
        let realm = validator("realm_access.roles");
        assert_eq!(
            realm.roles(&claims).into_iter().collect::<Vec<_>>(),
            vec![Role::Organizer]
        );
        let both = validator("realm_access.roles, resource_access.event-service.roles");
        assert_eq!(
            both.roles(&claims).into_iter().collect::<Vec<_>>(),
            vec![Role::Organizer, Role::Admin]
        );
        let string = validator("scope_roles");
        assert_eq!(
            string.roles(&claims).into_iter().collect::<Vec<_>>(),
            vec![Role::User, Role::Organizer]
        );
        assert!(validator("missing.path").roles(&claims).is_empty());
        assert!(validator("realm_access").roles(&claims).is_empty());
    }

    #[tokio::test]
    async fn a_cached_token_is_not_verified_again() {
        let validator = validator("realm_access.roles");
        let actor = Actor::authenticated(UserId(Uuid::nil()), [Role::Admin]);
        // Not even a JWT: only the cache can accept it.
        let token = "not.a.jwt";
        let tokens = validator.tokens.as_ref().unwrap();
        assert!(matches!(
            validator.validate(token).await,
            Err(Rejection::Invalid(_))
        ));
        tokens.insert(token, actor, crate::token_cache::now() + 60);
        assert!(matches!(validator.validate(token).await, Ok(a) if a == actor));
        // Expiry in the cache: token_cache's tests.

        let mut config = JwtConfig::new("https://issuer");
        config.token_cache_ttl = std::time::Duration::ZERO;
        assert!(JwtValidator::new(config, None).tokens.is_none());
    }

    #[test]
    fn role_names_are_case_insensitive_with_optional_prefix() {
        assert_eq!(parse_role("ROLE_ORGANIZER"), Some(Role::Organizer));
        assert_eq!(parse_role("ADMIN"), Some(Role::Admin));
        assert_eq!(parse_role("Role_Organizer"), None, "role names are exact");
        assert_eq!(parse_role("admin"), None, "role names are exact");
        assert_eq!(parse_role("GUEST"), None);
        assert_eq!(parse_role("ROLE_"), None);
    }
}
