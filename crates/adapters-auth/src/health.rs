//! The `auth` health component (when JWT validation is configured): the issuer's keys this
//! instance validates tokens with, and where they came from. Not critical: while no key is
//! known, reads go on as guests and writes with a token are refused (401), the rest of the
//! service works.

use std::time::Instant;

use async_trait::async_trait;
use ports::{ComponentHealth, HealthIndicator};

use crate::{Authenticator, KeyStatus};

/// Health of the issuer's keys; passive (reads the key cache, fetches nothing).
#[derive(Debug, Clone)]
pub struct AuthHealth(pub Authenticator);

#[async_trait]
impl HealthIndicator for AuthHealth {
    fn name(&self) -> &str {
        "auth"
    }

    fn critical(&self) -> bool {
        false
    }

    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        let (up, detail) = match self.0.key_status() {
            None => (true, "JWT validation not configured".to_owned()),
            Some(status) => (usable(&status), describe(&status)),
        };
        ComponentHealth {
            up,
            latency: started.elapsed(),
            detail: Some(detail),
        }
    }
}

/// Down only when the last fetch failed and no key is known: tokens cannot be checked.
fn usable(status: &KeyStatus) -> bool {
    status.cached_keys > 0 || status.last_fetch_ok != Some(false)
}

fn describe(status: &KeyStatus) -> String {
    let keys = match (status.source, status.fetched_at) {
        (Some(source), Some(at)) => format!(
            "{} keys from the {} (fetched {})",
            status.cached_keys,
            source.as_str(),
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        _ => "no key fetched yet".to_owned(),
    };
    match (&status.last_error, status.last_fetch_ok) {
        (Some(error), Some(false)) => format!("{keys}; issuer unreachable: {error}"),
        _ => keys,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeySource;
    use chrono::{TimeZone, Utc};

    fn status(keys: usize, source: Option<KeySource>, ok: Option<bool>) -> KeyStatus {
        KeyStatus {
            cached_keys: keys,
            fetched_at: source.map(|_| Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap()),
            source,
            last_fetch_ok: ok,
            last_error: (ok == Some(false)).then(|| "connection refused".to_owned()),
        }
    }

    #[test]
    fn the_detail_says_where_the_keys_came_from() {
        let fetched = status(2, Some(KeySource::Issuer), Some(true));
        assert!(usable(&fetched));
        assert_eq!(
            describe(&fetched),
            "2 keys from the issuer (fetched 2026-12-03T10:00:00Z)"
        );
        let shared = status(1, Some(KeySource::SharedCache), Some(false));
        assert!(usable(&shared));
        assert_eq!(
            describe(&shared),
            "1 keys from the cache (fetched 2026-12-03T10:00:00Z); issuer unreachable: connection refused"
        );
        let never = status(0, None, None);
        assert!(usable(&never));
        assert_eq!(describe(&never), "no key fetched yet");
        let down = status(0, None, Some(false));
        assert!(!usable(&down));
        assert_eq!(
            describe(&down),
            "no key fetched yet; issuer unreachable: connection refused"
        );
    }
}
