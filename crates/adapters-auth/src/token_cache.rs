//! The actors of recently validated tokens, in this instance's memory, so that a token sent
//! with every request of a session is verified (signature, claims) once per TTL rather than on
//! every request.
//!
//! Entries are keyed by the SHA-256 of the token (the token itself is never kept as a key) and
//! live until the token's `exp` or the TTL, whichever comes first — without the leeway that
//! verification grants: once `exp` has passed the token is verified again, and refused. The
//! cache is bounded (least recently used entries go first). It changes nothing about
//! revocation: a JWT stays valid until `exp` whatever the cache; the TTL only bounds how long a
//! token signed with a key the issuer has since withdrawn is still accepted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ports::Actor;
use sha2::{Digest, Sha256};

type TokenHash = [u8; 32];

#[derive(Clone, Copy)]
struct Entry {
    actor: Actor,
    /// The token's `exp` (seconds since the epoch).
    expires_at: u64,
}

pub(crate) struct TokenCache {
    entries: moka::sync::Cache<TokenHash, Entry>,
}

impl TokenCache {
    /// `None` when `ttl` or `max_entries` is zero (no cache).
    pub fn new(ttl: Duration, max_entries: u64) -> Option<Self> {
        (!ttl.is_zero() && max_entries > 0).then(|| Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
        })
    }

    pub fn get(&self, token: &str) -> Option<Actor> {
        self.get_at(&hash(token), now())
    }

    /// Remembers the actor of a token just verified, until its `exp`.
    pub fn insert(&self, token: &str, actor: Actor, expires_at: u64) {
        if expires_at > now() {
            self.entries
                .insert(hash(token), Entry { actor, expires_at });
        }
    }

    fn get_at(&self, hash: &TokenHash, now: u64) -> Option<Actor> {
        let entry = self.entries.get(hash)?;
        if entry.expires_at <= now {
            self.entries.invalidate(hash);
            return None;
        }
        Some(entry.actor)
    }
}

fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::UserId;
    use uuid::Uuid;

    fn actor() -> Actor {
        Actor::authenticated(UserId(Uuid::nil()), [ports::Role::Organizer])
    }

    #[test]
    fn an_entry_is_served_until_the_token_expires_and_never_after() {
        let cache = TokenCache::new(Duration::from_secs(60), 10).unwrap();
        let exp = now() + 30;
        cache.insert("a.b.c", actor(), exp);
        assert_eq!(cache.get("a.b.c"), Some(actor()));
        assert_eq!(cache.get("a.b.d"), None);
        let key = hash("a.b.c");
        assert_eq!(cache.get_at(&key, exp - 1), Some(actor()));
        assert_eq!(cache.get_at(&key, exp), None, "expired at exp");
        assert_eq!(cache.get("a.b.c"), None, "and removed");
    }

    #[test]
    fn an_expired_token_is_not_cached_and_a_zero_ttl_disables_the_cache() {
        let cache = TokenCache::new(Duration::from_secs(60), 10).unwrap();
        cache.insert("a.b.c", actor(), now());
        assert_eq!(cache.get("a.b.c"), None);
        assert!(TokenCache::new(Duration::ZERO, 10).is_none());
        assert!(TokenCache::new(Duration::from_secs(60), 0).is_none());
    }
}
