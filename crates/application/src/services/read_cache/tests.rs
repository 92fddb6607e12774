use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::json;

use super::tracking::Changes;
use super::*;
use crate::outbox::{DomainEventType, OutboxMessage};
use crate::ports::CacheError;
use crate::services::test_support::{FakeTx, uow_with};

/// A shared cache in a map: what several instances' `ReadCache`s share in these tests.
#[derive(Default)]
struct MapCache {
    entries: Mutex<HashMap<String, Bytes>>,
    generations: Mutex<HashMap<String, u64>>,
    gets: Mutex<u32>,
}

#[async_trait]
impl Cache for MapCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        *self.gets.lock().unwrap() += 1;
        Ok(self.entries.lock().unwrap().get(key).cloned())
    }
    async fn put(&self, key: &str, value: Bytes, _ttl: Duration) -> Result<(), CacheError> {
        self.entries.lock().unwrap().insert(key.to_owned(), value);
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.entries.lock().unwrap().remove(key);
        Ok(())
    }
    async fn generation(&self, key: &str) -> Result<u64, CacheError> {
        Ok(*self
            .generations
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_insert(1))
    }
    async fn bump(&self, key: &str) -> Result<u64, CacheError> {
        let mut g = self.generations.lock().unwrap();
        let v = g.entry(key.to_owned()).or_insert(1);
        *v += 1;
        Ok(*v)
    }
}

fn entry(body: &str) -> CachedView {
    CachedView {
        etag: Bytes::from(format!("\"{}\"", body.len())),
        body: Bytes::from(body.to_owned()),
        creator: None,
        counts_view: false,
    }
}

fn settings(generation_ttl: Duration) -> ReadCacheSettings {
    ReadCacheSettings {
        generation_ttl,
        ..ReadCacheSettings::default()
    }
}

#[test]
fn a_view_survives_its_stored_form_and_a_foreign_value_is_refused() {
    let view = CachedView {
        etag: Bytes::from_static(b"\"3-abc\""),
        body: Bytes::from_static(b"{\"id\":1}"),
        creator: Some(UserId(uuid::Uuid::from_u128(42))),
        counts_view: true,
    };
    assert_eq!(CachedView::decode(&view.encode()), Some(view.clone()));
    let plain = entry("{}");
    assert_eq!(CachedView::decode(&plain.encode()), Some(plain));
    let stored = view.encode();
    assert_eq!(CachedView::decode(&stored.slice(..20)), None);
    assert_eq!(
        CachedView::decode(&Bytes::from_static(b"{\"json\":1}")),
        None
    );
}

#[tokio::test]
async fn a_stored_view_is_served_until_its_event_is_invalidated() {
    let shared = Arc::new(MapCache::default());
    let cache = ReadCache::new(shared.clone(), None, settings(Duration::from_secs(60)));
    let details = View::Details(EventId(7));
    let catalog = View::Catalog("page=0".to_owned());

    let first = cache.get(&details).await;
    assert!(first.hit.is_none());
    cache.put(&details, &first, &entry("v1")).await;
    let listed = cache.get(&catalog).await;
    cache.put(&catalog, &listed, &entry("list v1")).await;
    assert_eq!(cache.get(&details).await.hit, Some(entry("v1")));
    assert_eq!(cache.get(&catalog).await.hit, Some(entry("list v1")));

    // another event's change: this event's details stay, the catalog goes
    cache.invalidate(&[EventId(8)]).await;
    assert_eq!(cache.get(&details).await.hit, Some(entry("v1")));
    assert!(cache.get(&catalog).await.hit.is_none());

    cache.invalidate(&[EventId(7)]).await;
    let after = cache.get(&details).await;
    assert!(after.hit.is_none(), "the writer's own next read misses");
    // the stale copy is the last one stored, whatever the generation
    assert_eq!(cache.stale(&details).await, Some(entry("v1")));
    cache.put(&details, &after, &entry("v2")).await;
    assert_eq!(cache.stale(&details).await, Some(entry("v2")));
}

#[tokio::test]
async fn another_instance_sees_an_invalidation_once_its_generation_is_no_longer_trusted() {
    let shared = Arc::new(MapCache::default());
    let writer = ReadCache::new(shared.clone(), None, settings(Duration::from_secs(60)));
    let trusting = ReadCache::new(shared.clone(), None, settings(Duration::from_secs(60)));
    let asking = ReadCache::new(shared.clone(), None, settings(Duration::ZERO));
    let view = View::Details(EventId(1));
    let lookup = writer.get(&view).await;
    writer.put(&view, &lookup, &entry("old")).await;
    assert!(trusting.get(&view).await.hit.is_some());
    assert!(asking.get(&view).await.hit.is_some());

    writer.invalidate(&[EventId(1)]).await;
    assert!(asking.get(&view).await.hit.is_none());
    assert!(
        trusting.get(&view).await.hit.is_some(),
        "within generation_ttl the old generation is still trusted"
    );
}

#[tokio::test]
async fn the_near_layer_answers_repeated_reads_without_the_shared_cache() {
    let shared = Arc::new(MapCache::default());
    let near: Arc<dyn Cache> = Arc::new(MapCache::default());
    let cache = ReadCache::new(
        shared.clone(),
        Some(near),
        settings(Duration::from_secs(60)),
    );
    let view = View::Catalog(String::new());
    let lookup = cache.get(&view).await;
    cache.put(&view, &lookup, &entry("page")).await;
    let gets = *shared.gets.lock().unwrap();
    for _ in 0..10 {
        assert!(cache.get(&view).await.hit.is_some());
    }
    assert_eq!(*shared.gets.lock().unwrap(), gets);
}

#[tokio::test]
async fn seat_changes_wait_for_the_flush_and_invalidate_once() {
    let shared = Arc::new(MapCache::default());
    let cache = ReadCache::new(shared.clone(), None, settings(Duration::from_secs(60)));
    let view = View::Details(EventId(3));
    let lookup = cache.get(&view).await;
    cache.put(&view, &lookup, &entry("5 seats")).await;
    cache.seats_changed([EventId(3), EventId(3), EventId(4)]);
    assert!(cache.get(&view).await.hit.is_some(), "not before the flush");
    assert_eq!(cache.flush_seats().await, 2);
    assert!(cache.get(&view).await.hit.is_none());
    assert_eq!(cache.flush_seats().await, 0);
    assert_eq!(shared.generations.lock().unwrap()["gen:catalog"], 2);
}

fn message(
    kind: DomainEventType,
    aggregate: &str,
    id: i64,
    payload: serde_json::Value,
) -> OutboxMessage {
    OutboxMessage::new(kind, aggregate, id, 1, payload, Utc::now())
}

#[test]
fn domain_events_say_what_changed() {
    let mut changes = Changes::default();
    changes.saw(&message(
        DomainEventType::EventUpdated,
        "event",
        5,
        json!({}),
    ));
    changes.saw(&message(
        DomainEventType::BookingCreated,
        "booking",
        90,
        json!({"event_id": 6}),
    ));
    changes.saw(&message(DomainEventType::AdminAlert, "job", 1, json!({})));
    assert_eq!(changes.events, BTreeSet::from([EventId(5)]));
    assert_eq!(changes.seats, BTreeSet::from([EventId(6)]));
}

#[tokio::test]
async fn a_committed_transaction_invalidates_and_a_dropped_one_does_not() {
    let shared = Arc::new(MapCache::default());
    let cache = ReadCache::new(shared.clone(), None, settings(Duration::from_secs(60)));
    let view = View::Details(EventId(5));
    let lookup = cache.get(&view).await;
    cache.put(&view, &lookup, &entry("before")).await;

    let with_update = || {
        let mut tx = FakeTx::new(Arc::new(AtomicBool::new(false)));
        tx.outbox.expect_enqueue().returning(|_| Ok(()));
        tx
    };
    let uow = cache.tracking(Arc::new(uow_with(vec![with_update(), with_update()])));
    let update = message(DomainEventType::EventUpdated, "event", 5, json!({}));

    let tx = uow.begin().await.unwrap();
    tx.outbox().enqueue(update.clone()).await.unwrap();
    drop(tx);
    assert!(
        cache.get(&view).await.hit.is_some(),
        "rolled back: nothing changed"
    );

    let tx = uow.begin().await.unwrap();
    tx.outbox().enqueue(update).await.unwrap();
    tx.commit().await.unwrap();
    assert!(cache.get(&view).await.hit.is_none());
}
