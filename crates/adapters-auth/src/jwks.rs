//! The issuer's signing keys: fetched from its JWKS (the URL configured, or discovered from
//! the OpenID configuration), cached by `kid`, refetched when a token names an unknown `kid`
//! — at most once per `min_interval`, whatever the traffic, so that a flood of forged `kid`s
//! cannot hammer the issuer and an unreachable issuer costs one timeout per interval.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use ports::AppError;
use serde::Deserialize;

/// One verification key of the issuer.
pub(crate) struct CachedKey {
    pub key: DecodingKey,
    /// The `alg` the JWK is restricted to, if it says.
    pub alg: Option<Algorithm>,
}

/// The outcome of looking up a `kid`.
pub(crate) enum Lookup {
    Found(Arc<CachedKey>),
    /// The issuer answered (now or within the refetch interval) and does not know this key.
    Unknown,
    /// The key is not cached and the issuer could not be reached.
    Unavailable,
}

/// The state of the key cache, for readiness/health endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// Usable keys currently cached.
    pub cached_keys: usize,
    /// When the keys were last fetched successfully.
    pub fetched_at: Option<DateTime<Utc>>,
    /// Whether the last fetch attempt succeeded (`None`: never attempted).
    pub last_fetch_ok: Option<bool>,
    /// Why the last fetch failed, if it did.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<CachedKey>>,
    fetched_at: Option<DateTime<Utc>>,
    last_fetch_ok: Option<bool>,
    last_error: Option<String>,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    /// The `jwks_uri` found by discovery, kept until a fetch from it fails.
    discovered_jwks_url: Option<String>,
}

pub(crate) struct KeyStore {
    http: Result<reqwest::Client, String>,
    issuer: String,
    jwks_url: Option<String>,
    min_interval: Duration,
    cache: RwLock<Cache>,
    /// Serializes fetches; held across the HTTP calls so concurrent misses wait for one fetch.
    fetch: tokio::sync::Mutex<FetchState>,
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
    issuer: Option<String>,
}

#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

impl KeyStore {
    pub fn new(
        issuer: String,
        jwks_url: Option<String>,
        min_interval: Duration,
        timeout: Duration,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client for the JWKS: {e}"));
        if let Err(e) = &http {
            tracing::error!(error = %e, "JWT keys cannot be fetched");
        }
        Self {
            http,
            issuer,
            jwks_url,
            min_interval,
            cache: RwLock::new(Cache::default()),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
        }
    }

    fn cached(&self, kid: &str) -> Option<Arc<CachedKey>> {
        self.cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .get(kid)
            .cloned()
    }

    /// The key `kid`, fetching the JWKS again when it is not cached and the last fetch
    /// attempt is older than the minimum interval.
    pub async fn key(&self, kid: &str) -> Lookup {
        if let Some(key) = self.cached(kid) {
            return Lookup::Found(key);
        }
        let mut state = self.fetch.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.cached(kid) {
            return Lookup::Found(key);
        }
        let due = state
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.min_interval);
        if due {
            tracing::debug!(kid, "unknown key id: fetching the JWKS");
            let _ = self.fetch_locked(&mut state).await;
        }
        drop(state);
        if let Some(key) = self.cached(kid) {
            return Lookup::Found(key);
        }
        let last_ok = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .last_fetch_ok;
        if last_ok == Some(true) {
            Lookup::Unknown
        } else {
            Lookup::Unavailable
        }
    }

    /// Fetches now, ignoring the rate limit.
    pub async fn refresh(&self) -> Result<usize, AppError> {
        let mut state = self.fetch.lock().await;
        self.fetch_locked(&mut state).await.map_err(|e| {
            tracing::warn!(error = %e, "JWKS refresh failed");
            AppError::Unavailable {
                dependency: "identity provider",
            }
        })
    }

    async fn fetch_locked(&self, state: &mut FetchState) -> Result<usize, String> {
        state.last_attempt = Some(Instant::now());
        let result = self.download(state).await;
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(keys) => {
                let count = keys.len();
                tracing::info!(keys = count, "JWKS fetched");
                cache.keys = keys;
                cache.fetched_at = Some(Utc::now());
                cache.last_fetch_ok = Some(true);
                cache.last_error = None;
                Ok(count)
            }
            Err(e) => {
                tracing::warn!(error = %e, cached_keys = cache.keys.len(), "cannot fetch the JWKS; keeping the cached keys");
                cache.last_fetch_ok = Some(false);
                cache.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    async fn download(
        &self,
        state: &mut FetchState,
    ) -> Result<HashMap<String, Arc<CachedKey>>, String> {
        let http = self.http.as_ref().map_err(Clone::clone)?;
        let url = match (&self.jwks_url, &state.discovered_jwks_url) {
            (Some(url), _) | (None, Some(url)) => url.clone(),
            (None, None) => {
                let url = self.discover(http).await?;
                state.discovered_jwks_url = Some(url.clone());
                url
            }
        };
        let result = async {
            let set: RawJwkSet = get_json(http, &url).await?;
            let keys = parse_keys(set.keys);
            if keys.is_empty() {
                return Err(format!("the JWKS at {url} has no usable signing key"));
            }
            Ok(keys)
        }
        .await;
        if result.is_err() {
            // The issuer may have moved its keys: discover again next time.
            state.discovered_jwks_url = None;
        }
        result
    }

    async fn discover(&self, http: &reqwest::Client) -> Result<String, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = get_json(http, &url).await?;
        if let Some(advertised) = &discovery.issuer
            && advertised != &self.issuer
        {
            tracing::warn!(
                configured = %self.issuer,
                advertised = %advertised,
                "the OpenID configuration advertises another issuer than the one configured; tokens are checked against the configured one"
            );
        }
        Ok(discovery.jwks_uri)
    }

    pub fn status(&self) -> KeyStatus {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        KeyStatus {
            cached_keys: cache.keys.len(),
            fetched_at: cache.fetched_at,
            last_fetch_ok: cache.last_fetch_ok,
            last_error: cache.last_error.clone(),
        }
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    response
        .json::<T>()
        .await
        .map_err(|e| format!("GET {url}: bad JSON: {e}"))
}

/// The signing keys of a JWKS by `kid`. Keys that cannot be used to verify signatures
/// (encryption keys, symmetric keys, keys without `kid`, unsupported types) are skipped.
fn parse_keys(raw: Vec<serde_json::Value>) -> HashMap<String, Arc<CachedKey>> {
    let mut keys = HashMap::new();
    for value in raw {
        let jwk: Jwk = match serde_json::from_value(value) {
            Ok(jwk) => jwk,
            Err(e) => {
                tracing::debug!(error = %e, "skipping an unparsable JWK");
                continue;
            }
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if matches!(&jwk.common.public_key_use, Some(usage) if *usage != PublicKeyUse::Signature) {
            continue;
        }
        let alg = match jwk.common.key_algorithm.map(Algorithm::try_from) {
            None => None,
            Some(Ok(alg)) => Some(alg),
            // An encryption algorithm (RSA-OAEP…): not a signing key.
            Some(Err(_)) => continue,
        };
        if matches!(alg, Some(a) if a.family() == jsonwebtoken::AlgorithmFamily::Hmac) {
            continue;
        }
        match DecodingKey::from_jwk(&jwk) {
            Ok(key) if key.family() != jsonwebtoken::AlgorithmFamily::Hmac => {
                keys.insert(kid, Arc::new(CachedKey { key, alg }));
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(kid, error = %e, "skipping an unusable JWK"),
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_signing_keys_with_a_kid_are_kept() {
        let rsa = |kid: &str| {
            json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                   "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
                   "e": "AQAB"})
        };
        let keys = parse_keys(vec![
            rsa("a"),
            json!({"kty": "RSA", "use": "sig", "n": "AQAB", "e": "AQAB"}),
            json!({"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"}),
            json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
            json!({"kty": "weird", "kid": "w"}),
        ]);
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(keys["a"].alg, Some(Algorithm::RS256));
    }
}
