//! The issuer's keys in the shared cache (the `Cache` port: Redis when configured, else the
//! instance's own memory): the last JWKS an instance fetched, so that an instance that starts
//! — or refetches — while the issuer is unreachable can still validate tokens.
//!
//! Only public keys are stored, under `auth:jwks:<sha-256 of the issuer>`; whoever can write
//! that key can make the service accept tokens it signs, so the cache must be trusted as much
//! as the service's own configuration (docs/security.md).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use openidconnect::core::CoreJsonWebKeySet;
use ports::Cache;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A JWKS as one instance fetched it from the issuer.
#[derive(Serialize, Deserialize)]
pub(crate) struct SharedCopy {
    /// The configured issuer it was fetched for (a copy naming another one is ignored).
    pub issuer: String,
    /// Where it was fetched from (configured or discovered).
    pub jwks_uri: String,
    pub fetched_at: DateTime<Utc>,
    /// The keys openidconnect understood (a JWKS document: `{"keys": [...]}`).
    pub jwks: CoreJsonWebKeySet,
}

/// Where the issuer's keys are shared, and for how long.
pub(crate) struct SharedKeys {
    cache: Arc<dyn Cache>,
    key: String,
    ttl: Duration,
}

impl SharedKeys {
    pub fn new(cache: Arc<dyn Cache>, issuer: &str, ttl: Duration) -> Self {
        Self {
            cache,
            key: key(issuer),
            ttl,
        }
    }

    /// Best effort: a cache that does not answer is logged, never an error of the fetch.
    pub async fn store(&self, copy: &SharedCopy) {
        let value = match serde_json::to_vec(copy) {
            Ok(value) => Bytes::from(value),
            Err(e) => {
                tracing::warn!(error = %e, "cannot serialize the JWKS for the shared cache");
                return;
            }
        };
        if let Err(e) = self.cache.put(&self.key, value, self.ttl).await {
            tracing::warn!(error = %e, "cannot share the JWKS through the cache");
        }
    }

    /// The copy for `issuer`, if the cache holds a readable one.
    pub async fn load(&self, issuer: &str) -> Option<SharedCopy> {
        let bytes = match self.cache.get(&self.key).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the shared JWKS");
                return None;
            }
        };
        match serde_json::from_slice::<SharedCopy>(&bytes) {
            Ok(copy) if copy.issuer == issuer => Some(copy),
            Ok(copy) => {
                tracing::warn!(
                    issuer,
                    shared_issuer = %copy.issuer,
                    "the shared JWKS is another issuer's; ignored"
                );
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "unreadable shared JWKS; ignored");
                None
            }
        }
    }
}

/// The cache key of `issuer`'s keys (hashed: an issuer URL may hold any character).
pub(crate) fn key(issuer: &str) -> String {
    format!(
        "auth:jwks:{}",
        hex::encode(Sha256::digest(issuer.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_the_issuer_only() {
        let a = key("https://issuer.test/realms/a");
        assert_eq!(a, key("https://issuer.test/realms/a"));
        assert_ne!(a, key("https://issuer.test/realms/b"));
        assert!(a.starts_with("auth:jwks:"), "{a}");
        assert_eq!(a.len(), "auth:jwks:".len() + 64);
    }
}
