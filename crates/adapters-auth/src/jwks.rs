//! The issuer's signing keys: fetched from its JWKS (the URL configured, or the `jwks_uri`
//! of its OpenID Provider metadata, discovered with `openidconnect`), cached by `kid`,
//! refetched when a token names an unknown `kid` — at most once per `min_interval`, whatever
//! the traffic, so that a flood of forged `kid`s cannot hammer the issuer and an unreachable
//! issuer costs one timeout per interval.
//!
//! Every successful fetch is also written to the shared cache (Redis when configured,
//! [`SharedKeys`]); a fetch that fails adopts the copy found there when it is newer than the
//! keys in memory, so that an instance started while the issuer is down still validates the
//! tokens signed with the keys another instance (or its previous run) fetched. A fetch from
//! the issuer always replaces the shared copy.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse, IssuerUrl, JsonWebKeySetUrl};
use ports::AppError;

use crate::shared::{SharedCopy, SharedKeys};

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

/// Where the keys in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// Fetched from the issuer by this instance.
    Issuer,
    /// Read from the shared cache while the issuer could not be reached: the last JWKS that
    /// an instance fetched.
    SharedCache,
}

impl KeySource {
    /// `issuer` or `cache`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Issuer => "issuer",
            Self::SharedCache => "cache",
        }
    }
}

/// The state of the key cache, for readiness/health endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// Usable keys currently cached.
    pub cached_keys: usize,
    /// When the keys in use were fetched from the issuer (by this instance, or by the one
    /// that wrote the shared copy).
    pub fetched_at: Option<DateTime<Utc>>,
    /// Where the keys in use came from (`None`: no key yet).
    pub source: Option<KeySource>,
    /// Whether the last fetch attempt succeeded (`None`: never attempted).
    pub last_fetch_ok: Option<bool>,
    /// Why the last fetch failed, if it did.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Keys {
    keys: HashMap<String, Arc<CachedKey>>,
    fetched_at: Option<DateTime<Utc>>,
    source: Option<KeySource>,
    last_fetch_ok: Option<bool>,
    last_error: Option<String>,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    /// The `jwks_uri` found by discovery, kept until a fetch from it fails.
    discovered_jwks_url: Option<String>,
}

/// A JWKS as the issuer served it, and where from.
struct Fetched {
    jwks_uri: String,
    jwks: CoreJsonWebKeySet,
}

pub(crate) struct KeyStore {
    http: Result<Http, String>,
    issuer: String,
    jwks_url: Option<String>,
    min_interval: Duration,
    shared: Option<SharedKeys>,
    keys: RwLock<Keys>,
    /// Serializes fetches; held across the HTTP calls so concurrent misses wait for one fetch.
    fetch: tokio::sync::Mutex<FetchState>,
}

impl KeyStore {
    pub fn new(
        issuer: String,
        jwks_url: Option<String>,
        min_interval: Duration,
        timeout: Duration,
        shared: Option<SharedKeys>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map(Http)
            .map_err(|e| format!("cannot build the HTTP client for the JWKS: {e}"));
        if let Err(e) = &http {
            tracing::error!(error = %e, "JWT keys cannot be fetched");
        }
        Self {
            http,
            issuer,
            jwks_url,
            min_interval,
            shared,
            keys: RwLock::new(Keys::default()),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
        }
    }

    fn cached(&self, kid: &str) -> Option<Arc<CachedKey>> {
        self.keys
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
            .keys
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
        let fetched = self.download(state).await.and_then(|fetched| {
            let keys = signing_keys(&fetched.jwks);
            if keys.is_empty() {
                Err(format!(
                    "the JWKS at {} has no usable signing key",
                    fetched.jwks_uri
                ))
            } else {
                Ok((fetched, keys))
            }
        });
        let (fetched, keys) = match fetched {
            Ok(ok) => ok,
            Err(e) => {
                // The issuer may have moved its keys: discover again next time.
                state.discovered_jwks_url = None;
                self.record_failure(&e);
                self.adopt_shared_copy().await;
                return Err(e);
            }
        };
        let count = keys.len();
        let fetched_at = Utc::now();
        {
            let mut current = self.keys.write().unwrap_or_else(PoisonError::into_inner);
            current.keys = keys;
            current.fetched_at = Some(fetched_at);
            current.source = Some(KeySource::Issuer);
            current.last_fetch_ok = Some(true);
            current.last_error = None;
        }
        tracing::info!(keys = count, jwks_uri = %fetched.jwks_uri, "JWKS fetched");
        if let Some(shared) = &self.shared {
            shared
                .store(&SharedCopy {
                    issuer: self.issuer.clone(),
                    jwks_uri: fetched.jwks_uri,
                    fetched_at,
                    jwks: fetched.jwks,
                })
                .await;
        }
        Ok(count)
    }

    fn record_failure(&self, error: &str) {
        let mut current = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        tracing::warn!(
            error,
            cached_keys = current.keys.len(),
            "cannot fetch the JWKS; keeping the cached keys"
        );
        current.last_fetch_ok = Some(false);
        current.last_error = Some(error.to_owned());
    }

    /// After a failed fetch: the shared copy replaces the keys in memory when it is newer
    /// (another instance fetched since, or this one has no key yet).
    async fn adopt_shared_copy(&self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let Some(copy) = shared.load(&self.issuer).await else {
            return;
        };
        let keys = signing_keys(&copy.jwks);
        if keys.is_empty() {
            return;
        }
        let mut current = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        if current.fetched_at.is_some_and(|at| at >= copy.fetched_at) {
            return;
        }
        tracing::info!(
            keys = keys.len(),
            fetched_at = %copy.fetched_at,
            jwks_uri = %copy.jwks_uri,
            "issuer unreachable: using the JWKS of the shared cache"
        );
        current.keys = keys;
        current.fetched_at = Some(copy.fetched_at);
        current.source = Some(KeySource::SharedCache);
    }

    async fn download(&self, state: &mut FetchState) -> Result<Fetched, String> {
        let http = self.http.as_ref().map_err(Clone::clone)?;
        match (&self.jwks_url, &state.discovered_jwks_url) {
            (Some(url), _) | (None, Some(url)) => fetch_jwks(http, url).await,
            (None, None) => {
                let fetched = self.discover(http).await?;
                state.discovered_jwks_url = Some(fetched.jwks_uri.clone());
                Ok(fetched)
            }
        }
    }

    /// The issuer's metadata (`{issuer}/.well-known/openid-configuration`) and the JWKS it
    /// names, by `openidconnect`: the document must be JSON with every field OpenID Connect
    /// Discovery 1.0 requires (`jwks_uri` among them) and name exactly the configured issuer.
    async fn discover(&self, http: &Http) -> Result<Fetched, String> {
        let issuer = IssuerUrl::new(self.issuer.clone())
            .map_err(|e| format!("the issuer {:?} is not a URL: {e}", self.issuer))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, http)
            .await
            .map_err(|e| format!("OpenID discovery of {}: {}", self.issuer, describe(&e)))?;
        Ok(Fetched {
            jwks_uri: metadata.jwks_uri().to_string(),
            jwks: CoreJsonWebKeySet::new(metadata.jwks().keys().clone()),
        })
    }

    pub fn status(&self) -> KeyStatus {
        let current = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        KeyStatus {
            cached_keys: current.keys.len(),
            fetched_at: current.fetched_at,
            source: current.source,
            last_fetch_ok: current.last_fetch_ok,
            last_error: current.last_error.clone(),
        }
    }
}

async fn fetch_jwks(http: &Http, url: &str) -> Result<Fetched, String> {
    let jwks_uri = JsonWebKeySetUrl::new(url.to_owned())
        .map_err(|e| format!("the JWKS URL {url:?} is not a URL: {e}"))?;
    let jwks = CoreJsonWebKeySet::fetch_async(&jwks_uri, http)
        .await
        .map_err(|e| format!("GET {url}: {}", describe(&e)))?;
    Ok(Fetched {
        jwks_uri: url.to_owned(),
        jwks,
    })
}

/// An error and its sources, `: `-separated (openidconnect's errors say what failed, their
/// sources why).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// openidconnect's HTTP seam over the service's own reqwest client (its `reqwest` feature
/// would bring another major version of reqwest and of its TLS stack). Redirects, timeouts and
/// TLS are the client's.
struct Http(reqwest::Client);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.0.execute(request.try_into()?).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            let mut answer = HttpResponse::new(body.to_vec());
            *answer.status_mut() = status;
            *answer.headers_mut() = headers;
            Ok(answer)
        })
    }
}

/// The keys of a JWKS that can verify signatures, by `kid` (see [`parse_keys`]).
pub(crate) fn signing_keys(jwks: &CoreJsonWebKeySet) -> HashMap<String, Arc<CachedKey>> {
    parse_keys(
        jwks.keys()
            .iter()
            .filter_map(|key| serde_json::to_value(key).ok())
            .collect(),
    )
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
