//! The read cache of the public catalog and of event details (`docs/adr/0005-read-cache.md`).
//!
//! An entry is a finished response — the serialized body and its ETag — stored under a key
//! that carries the current *generation* of what it shows: one counter for the catalog and one
//! per event, kept in the shared [`Cache`] (Redis when configured). A write bumps the counters
//! after its transaction committed ([`ReadCache::tracking`] does it for every transaction), so
//! the next read of every instance builds a new key and misses; nothing is ever deleted.
//!
//! Two layers: a small in-process one (`near`) in front of the shared one, so a hot page costs
//! neither a network round trip nor a serialization; the generation numbers read from the
//! shared cache are trusted for `generation_ttl` (a bump made by this instance is seen by it
//! at once). Seat counts change on every booking, so they do not bump at once: the events are
//! marked and [`ReadCache::flush_seats`] (every `seat_flush_interval`) bumps them together.
//! A cached read therefore lags a write of another instance by at most `generation_ttl`, and
//! a seat change by at most `seat_flush_interval + generation_ttl`.
//!
//! Every entry also has a *stale* copy under a generation-less key (`stale_ttl`): it is what
//! is served, marked stale, while the database does not answer.

mod tracking;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use domain::{EventId, UserId};

use crate::ports::{Cache, UnitOfWork};

/// How long entries live and how fast invalidations travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCacheSettings {
    /// The TTL of an entry (`cache.ttl_seconds`).
    pub ttl: Duration,
    /// The TTL of the stale copy served while the database is down (`cache.stale_ttl_seconds`).
    pub stale_ttl: Duration,
    /// How long a generation number read from the shared cache is trusted
    /// (`cache.generation_ttl_ms`).
    pub generation_ttl: Duration,
    /// How often the events whose seats changed are invalidated (`cache.seat_flush_ms`);
    /// zero: at once, like any other change.
    pub seat_flush_interval: Duration,
}

impl Default for ReadCacheSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            stale_ttl: Duration::from_secs(3600),
            generation_ttl: Duration::from_millis(500),
            seat_flush_interval: Duration::from_millis(1000),
        }
    }
}

/// A shared view: what a response shows to every caller of its class.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum View {
    /// A catalog page as the public catalog shows it, per normalized filter set.
    Catalog(String),
    /// The details of an event as a caller who does not manage it sees them.
    Details(EventId),
}

impl View {
    /// The `cache` label of the metrics.
    #[must_use]
    pub const fn label(&self) -> &'static str {
        match self {
            Self::Catalog(_) => "catalog",
            Self::Details(_) => "details",
        }
    }

    const fn generation(&self) -> Generation {
        match self {
            Self::Catalog(_) => Generation::Catalog,
            Self::Details(id) => Generation::Event(*id),
        }
    }

    fn key(&self, generation: u64) -> String {
        match self {
            Self::Catalog(query) => format!("view:catalog:{generation}:{query}"),
            Self::Details(id) => format!("view:event:{}:{generation}", id.value()),
        }
    }

    fn stale_key(&self) -> String {
        match self {
            Self::Catalog(query) => format!("stale:catalog:{query}"),
            Self::Details(id) => format!("stale:event:{}", id.value()),
        }
    }
}

/// A generation counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Generation {
    Catalog,
    Event(EventId),
}

impl Generation {
    fn key(self) -> String {
        match self {
            Self::Catalog => "gen:catalog".to_owned(),
            Self::Event(id) => format!("gen:event:{}", id.value()),
        }
    }
}

/// A finished response: the body as sent and its ETag, with what decides who may get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedView {
    /// The `ETag` header value, quotes included.
    pub etag: Bytes,
    /// The JSON body.
    pub body: Bytes,
    /// The event's creator (details): the creator sees another view (inactive price options
    /// too), so they never get this entry.
    pub creator: Option<UserId>,
    /// Serving it counts a view of the event (details of a PUBLISHED event).
    pub counts_view: bool,
}

const FORMAT: u8 = 1;
const HAS_CREATOR: u8 = 1;
const COUNTS_VIEW: u8 = 2;

impl CachedView {
    /// The stored form: format, flags, creator (16 bytes, when present), ETag length (u16),
    /// ETag, body. Decoding slices it without copying.
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(4 + 16 + self.etag.len() + self.body.len());
        out.put_u8(FORMAT);
        let mut flags = 0;
        if self.creator.is_some() {
            flags |= HAS_CREATOR;
        }
        if self.counts_view {
            flags |= COUNTS_VIEW;
        }
        out.put_u8(flags);
        if let Some(creator) = self.creator {
            out.put_slice(creator.0.as_bytes());
        }
        out.put_u16(u16::try_from(self.etag.len()).unwrap_or(u16::MAX));
        out.put_slice(&self.etag);
        out.put_slice(&self.body);
        out.freeze()
    }

    /// The view `encode` wrote; `None` for anything else (another format, a truncated value).
    #[must_use]
    pub fn decode(stored: &Bytes) -> Option<Self> {
        let (&format, rest) = stored.split_first()?;
        let (&flags, mut rest) = rest.split_first()?;
        if format != FORMAT {
            return None;
        }
        let creator = if flags & HAS_CREATOR == 0 {
            None
        } else {
            let (id, after) = rest.split_first_chunk::<16>()?;
            rest = after;
            Some(UserId(uuid::Uuid::from_bytes(*id)))
        };
        let (len, rest) = rest.split_first_chunk::<2>()?;
        let etag_len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < etag_len {
            return None;
        }
        let etag_at = stored.len() - rest.len();
        Some(Self {
            etag: stored.slice(etag_at..etag_at + etag_len),
            body: stored.slice(etag_at + etag_len..),
            creator,
            counts_view: flags & COUNTS_VIEW != 0,
        })
    }
}

/// What a lookup found: the entry, or the key to store the freshly built one under (`None`:
/// the cache could not say which generation is current, so nothing is stored).
#[derive(Debug, Clone)]
pub struct Lookup {
    pub hit: Option<CachedView>,
    key: Option<String>,
}

/// The read cache of one instance; clones share it.
#[derive(Clone)]
pub struct ReadCache {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<dyn Cache>,
    /// `None` when `shared` is in-process already (no Redis configured).
    near: Option<Arc<dyn Cache>>,
    settings: ReadCacheSettings,
    /// Generation numbers and when they were read from `shared`.
    generations: RwLock<HashMap<Generation, (u64, Instant)>>,
    /// Events whose seat counts changed since the last [`ReadCache::flush_seats`].
    seats: Mutex<HashSet<EventId>>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("settings", &self.inner.settings)
            .field("near", &self.inner.near.is_some())
            .finish_non_exhaustive()
    }
}

/// Counts a lookup in `aquastream_cache_requests_total{cache, result}`.
fn count(view: &View, result: &'static str) {
    metrics::counter!("aquastream_cache_requests_total", "cache" => view.label(), "result" => result)
        .increment(1);
}

impl ReadCache {
    /// `shared` holds the entries and the generation counters every instance sees; `near`, when
    /// given, is the in-process layer in front of it.
    #[must_use]
    pub fn new(
        shared: Arc<dyn Cache>,
        near: Option<Arc<dyn Cache>>,
        settings: ReadCacheSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                shared,
                near,
                settings,
                generations: RwLock::new(HashMap::new()),
                seats: Mutex::new(HashSet::new()),
            }),
        }
    }

    #[must_use]
    pub fn settings(&self) -> ReadCacheSettings {
        self.inner.settings
    }

    /// `uow` with invalidation after commit: every committed transaction bumps what its
    /// domain events and review changes say it changed (see `tracking`).
    #[must_use]
    pub fn tracking(&self, uow: Arc<dyn UnitOfWork>) -> Arc<dyn UnitOfWork> {
        Arc::new(tracking::TrackingUnitOfWork::new(uow, self.clone()))
    }

    /// The current generation of `g`: the trusted local copy, else the shared counter.
    /// `None` when neither is known (the shared cache failed and nothing was read before).
    async fn generation(&self, g: Generation) -> Option<u64> {
        let known = self
            .inner
            .generations
            .read()
            .ok()
            .and_then(|m| m.get(&g).copied());
        if let Some((value, read_at)) = known
            && read_at.elapsed() < self.inner.settings.generation_ttl
        {
            return Some(value);
        }
        match self.inner.shared.generation(&g.key()).await {
            Ok(value) => {
                self.remember(g, value);
                Some(value)
            }
            Err(e) => {
                tracing::debug!(error = %e, "generation unavailable: the last one read is used");
                known.map(|(value, _)| value)
            }
        }
    }

    fn remember(&self, g: Generation, value: u64) {
        if let Ok(mut m) = self.inner.generations.write() {
            m.insert(g, (value, Instant::now()));
        }
    }

    /// The entry of `view` at its current generation. Read the generation before the
    /// database, so that what is stored under it is never older than the key says.
    pub async fn get(&self, view: &View) -> Lookup {
        let Some(generation) = self.generation(view.generation()).await else {
            count(view, "miss");
            return Lookup {
                hit: None,
                key: None,
            };
        };
        let key = view.key(generation);
        if let Some(near) = &self.inner.near
            && let Ok(Some(stored)) = near.get(&key).await
            && let Some(hit) = CachedView::decode(&stored)
        {
            count(view, "hit");
            return Lookup {
                hit: Some(hit),
                key: Some(key),
            };
        }
        if let Ok(Some(stored)) = self.inner.shared.get(&key).await
            && let Some(hit) = CachedView::decode(&stored)
        {
            if let Some(near) = &self.inner.near {
                let _ = near.put(&key, stored, self.inner.settings.ttl).await;
            }
            count(view, "hit");
            return Lookup {
                hit: Some(hit),
                key: Some(key),
            };
        }
        count(view, "miss");
        Lookup {
            hit: None,
            key: Some(key),
        }
    }

    /// Stores the view built after `lookup` missed (and its stale copy).
    pub async fn put(&self, view: &View, lookup: &Lookup, entry: &CachedView) {
        let Some(key) = &lookup.key else {
            return;
        };
        let stored = entry.encode();
        let stale_key = view.stale_key();
        let s = self.inner.settings;
        if let Some(near) = &self.inner.near {
            let _ = near.put(key, stored.clone(), s.ttl).await;
            let _ = near.put(&stale_key, stored.clone(), s.stale_ttl).await;
        }
        let _ = self.inner.shared.put(key, stored.clone(), s.ttl).await;
        let _ = self.inner.shared.put(&stale_key, stored, s.stale_ttl).await;
    }

    /// The last entry stored for `view` whatever its generation, for when the database does
    /// not answer.
    pub async fn stale(&self, view: &View) -> Option<CachedView> {
        let key = view.stale_key();
        let mut found = None;
        if let Some(near) = &self.inner.near {
            found = near.get(&key).await.ok().flatten();
        }
        if found.is_none() {
            found = self.inner.shared.get(&key).await.ok().flatten();
        }
        let view_found = found.as_ref().and_then(CachedView::decode);
        if view_found.is_some() {
            count(view, "stale");
        }
        view_found
    }

    /// Invalidates the details of `events` and the catalog, now (after a commit).
    pub async fn invalidate(&self, events: &[EventId]) {
        for id in events {
            self.bump(Generation::Event(*id)).await;
        }
        self.bump(Generation::Catalog).await;
    }

    async fn bump(&self, g: Generation) {
        match self.inner.shared.bump(&g.key()).await {
            Ok(value) => self.remember(g, value),
            Err(e) => {
                // Forget the local copy so that the next read asks again.
                tracing::warn!(error = %e, "cache invalidation failed");
                if let Ok(mut m) = self.inner.generations.write() {
                    m.remove(&g);
                }
            }
        }
    }

    /// Marks the seat counts of `events` as changed; [`Self::flush_seats`] invalidates them.
    pub fn seats_changed(&self, events: impl IntoIterator<Item = EventId>) {
        if let Ok(mut seats) = self.inner.seats.lock() {
            seats.extend(events);
        }
    }

    /// Invalidates the events whose seats changed since the last call (and the catalog once);
    /// answers how many.
    pub async fn flush_seats(&self) -> usize {
        let events: Vec<EventId> = self
            .inner
            .seats
            .lock()
            .map(|mut s| s.drain().collect())
            .unwrap_or_default();
        if !events.is_empty() {
            self.invalidate(&events).await;
        }
        events.len()
    }
}

#[cfg(test)]
mod tests;
