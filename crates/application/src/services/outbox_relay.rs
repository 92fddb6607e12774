//! The outbox relay: publishes committed domain events to the broker, in order, at least once.
//!
//! One pass (`run_once`) claims a small batch of due rows in a transaction (`claim_batch`
//! locks them with SKIP LOCKED, so concurrent relays — other instances — claim disjoint rows
//! and never publish one row at the same time), publishes them one by one in id order, marks
//! the confirmed ones sent and commits. The row locks are held while publishing; that is what
//! keeps a second relay away from them, and why batches stay small.
//!
//! A row whose publish fails gets `mark_failed` with an exponential backoff plus jitter, and
//! no later row of its aggregate is published in this pass (`claim_batch` then holds them back
//! until the failed row is sent), so one aggregate's events never overtake each other. When
//! the broker is unavailable the pass stops at the first failure: the rest would fail the same
//! way, and the driver (bootstrap) backs off before the next pass.
//!
//! A crash between the broker's confirm and the commit publishes a row again on the next pass:
//! delivery is at least once, and consumers dedupe by the envelope `id`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::Timestamp;

use crate::AppError;
use crate::clock::Clock;
use crate::outbox::OutboxRecord;
use crate::ports::{ComponentHealth, HealthIndicator, MessagePublisher, PublishError, UnitOfWork};

/// The retry delay after a failed publish: `base · 2^attempts`, capped, of which a random
/// half is jitter (so rows that failed together do not retry together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The delay before the next attempt of a row that has failed `attempts` times before
    /// (this failure excluded); `unit` in [0, 1) picks the jitter.
    #[must_use]
    pub fn delay(&self, attempts: u32, unit: f64) -> Duration {
        let exponential = self
            .base
            .checked_mul(1u32.checked_shl(attempts.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        let half = exponential / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// A random number in [0, 1) from the v4 UUID generator the crate already uses.
fn jitter_unit() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() >> 75; // 53 random bits
    #[allow(clippy::cast_precision_loss)] // 53 bits fit an f64 mantissa exactly
    let unit = bits as f64 / (1u64 << 53) as f64;
    unit
}

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayReport {
    pub published: u64,
    pub failed: u64,
    /// The pass stopped because the broker was unreachable: back off before the next one.
    pub broker_unavailable: bool,
}

/// Running totals of this instance's relay, readable without a lock (metrics-ready).
#[derive(Debug, Default)]
pub struct RelayMetrics {
    published: AtomicU64,
    failed: AtomicU64,
    passes: AtomicU64,
}

impl RelayMetrics {
    #[must_use]
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
    #[must_use]
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    #[must_use]
    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::Relaxed)
    }
}

/// The relay's state for health and metrics: this instance's totals and the shared backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayStatus {
    pub published_total: u64,
    pub failed_total: u64,
    /// Unsent rows (all instances).
    pub backlog: u64,
    /// Age of the oldest unsent row, in seconds.
    pub oldest_unsent_age_seconds: Option<i64>,
    pub broker_connected: bool,
}

#[derive(Clone)]
pub struct OutboxRelay {
    uow: Arc<dyn UnitOfWork>,
    publisher: Arc<dyn MessagePublisher>,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    metrics: Arc<RelayMetrics>,
}

impl std::fmt::Debug for OutboxRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxRelay")
            .field("retry", &self.retry)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl OutboxRelay {
    #[must_use]
    pub fn new(
        uow: Arc<dyn UnitOfWork>,
        publisher: Arc<dyn MessagePublisher>,
        clock: Arc<dyn Clock>,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            uow,
            publisher,
            clock,
            retry,
            metrics: Arc::new(RelayMetrics::default()),
        }
    }

    #[must_use]
    pub fn metrics(&self) -> Arc<RelayMetrics> {
        Arc::clone(&self.metrics)
    }

    /// One pass over at most `limit` due rows.
    pub async fn run_once(&self, limit: u32) -> Result<RelayReport, AppError> {
        let tx = self.uow.begin().await?;
        let now = self.clock.now();
        let batch = tx.outbox().claim_batch(now, limit).await?;
        let mut report = RelayReport::default();
        let mut sent = Vec::with_capacity(batch.len());
        let mut held_back: HashSet<(&str, &str)> = HashSet::new();
        for record in &batch {
            let aggregate = (
                record.message.aggregate_type.as_str(),
                record.message.aggregate_id.as_str(),
            );
            if held_back.contains(&aggregate) {
                continue;
            }
            match self.publisher.publish(record).await {
                Ok(()) => {
                    sent.push(record.id);
                    report.published += 1;
                }
                Err(error) => {
                    report.failed += 1;
                    held_back.insert(aggregate);
                    let retry_at = self.retry_at(record, now);
                    tracing::warn!(
                        message_id = record.id,
                        routing_key = record.message.event_type.as_str(),
                        attempts = record.attempts + 1,
                        %retry_at,
                        error = %error,
                        "outbox publish failed"
                    );
                    tx.outbox()
                        .mark_failed(record.id, &error.to_string(), retry_at)
                        .await?;
                    if matches!(error, PublishError::Unavailable(_)) {
                        report.broker_unavailable = true;
                        break;
                    }
                }
            }
        }
        tx.outbox().mark_sent(&sent, self.clock.now()).await?;
        tx.commit().await?;
        self.metrics
            .published
            .fetch_add(report.published, Ordering::Relaxed);
        self.metrics
            .failed
            .fetch_add(report.failed, Ordering::Relaxed);
        self.metrics.passes.fetch_add(1, Ordering::Relaxed);
        Ok(report)
    }

    fn retry_at(&self, record: &OutboxRecord, now: Timestamp) -> Timestamp {
        let delay = self.retry.delay(record.attempts, jitter_unit());
        now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
    }

    /// Totals, backlog and lag.
    pub async fn status(&self) -> Result<RelayStatus, AppError> {
        let tx = self.uow.begin().await?;
        let stats = tx.outbox().stats().await?;
        drop(tx);
        let now = self.clock.now();
        Ok(RelayStatus {
            published_total: self.metrics.published(),
            failed_total: self.metrics.failed(),
            backlog: stats.unsent,
            oldest_unsent_age_seconds: stats
                .oldest_unsent_at
                .map(|at| (now - at).num_seconds().max(0)),
            broker_connected: self.publisher.is_connected().await,
        })
    }
}

/// `/actuator/health` component `outbox`: never fails readiness (rows wait safely), shows the
/// backlog and lag to admins.
#[derive(Debug, Clone)]
pub struct OutboxHealth(pub OutboxRelay);

#[async_trait]
impl HealthIndicator for OutboxHealth {
    fn name(&self) -> &str {
        "outbox"
    }

    fn critical(&self) -> bool {
        false
    }

    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        match self.0.status().await {
            Ok(s) => ComponentHealth {
                up: true,
                latency: started.elapsed(),
                detail: Some(format!(
                    "backlog={} oldest_unsent_age_seconds={} published_total={} failed_total={}",
                    s.backlog,
                    s.oldest_unsent_age_seconds
                        .map_or_else(|| "-".to_owned(), |a| a.to_string()),
                    s.published_total,
                    s.failed_total
                )),
            },
            Err(e) => ComponentHealth {
                up: false,
                latency: started.elapsed(),
                detail: Some(e.to_string()),
            },
        }
    }
}

/// `/actuator/health` component `broker`: whether the publisher holds a live connection. Not
/// critical: the service keeps taking requests while the broker is down (the outbox fills).
#[derive(Clone)]
pub struct BrokerHealth(pub Arc<dyn MessagePublisher>);

impl std::fmt::Debug for BrokerHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrokerHealth")
    }
}

#[async_trait]
impl HealthIndicator for BrokerHealth {
    fn name(&self) -> &str {
        "broker"
    }

    fn critical(&self) -> bool {
        false
    }

    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        let up = self.0.is_connected().await;
        ComponentHealth {
            up,
            latency: started.elapsed(),
            detail: (!up).then(|| "not connected (reconnects on the next publish)".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;

    use chrono::TimeZone;
    use mockall::predicate::eq;

    use super::*;
    use crate::clock::ManualClock;
    use crate::outbox::{DomainEventType, OutboxMessage};
    use crate::ports::messaging::MockMessagePublisher;
    use crate::services::test_support::{FakeTx, uow_with};

    fn at() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2027, 5, 1, 9, 0, 0).unwrap()
    }

    fn row(id: i64, aggregate: i64, attempts: u32) -> OutboxRecord {
        OutboxRecord {
            id,
            message: OutboxMessage::new(
                DomainEventType::BookingCreated,
                "booking",
                aggregate,
                id,
                serde_json::json!({}),
                at(),
            ),
            attempts,
            created_at: at(),
            traceparent: None,
        }
    }

    fn relay(tx: FakeTx, publisher: MockMessagePublisher) -> OutboxRelay {
        OutboxRelay::new(
            Arc::new(uow_with(vec![tx])),
            Arc::new(publisher),
            Arc::new(ManualClock::new(at())),
            RetryPolicy::default(),
        )
    }

    /// A publisher that answers each id with the given result and records the order.
    fn publisher(
        answers: Vec<(i64, Result<(), PublishError>)>,
        seen: Arc<Mutex<Vec<i64>>>,
    ) -> MockMessagePublisher {
        let mut p = MockMessagePublisher::new();
        p.expect_publish().returning(move |r| {
            seen.lock().unwrap().push(r.id);
            answers
                .iter()
                .find(|(id, _)| *id == r.id)
                .map_or(Ok(()), |(_, a)| a.clone())
        });
        p
    }

    #[tokio::test]
    async fn publishes_in_order_and_marks_only_confirmed_rows_sent() {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        tx.outbox
            .expect_claim_batch()
            .with(eq(at()), eq(10))
            .returning(|_, _| Ok(vec![row(1, 7, 0), row(2, 8, 0), row(3, 7, 0), row(4, 9, 0)]));
        // row 2 is rejected: it is retried later, the other aggregates go on
        tx.outbox
            .expect_mark_failed()
            .withf(|id, error, retry_at| {
                *id == 2
                    && error.contains("nack")
                    && *retry_at >= at() + chrono::Duration::milliseconds(500)
                    && *retry_at <= at() + chrono::Duration::seconds(1)
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        tx.outbox
            .expect_mark_sent()
            .withf(|ids, _| ids == [1, 3, 4])
            .times(1)
            .returning(|_, _| Ok(()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let p = publisher(
            vec![(2, Err(PublishError::Rejected("nack".into())))],
            Arc::clone(&seen),
        );
        let relay = relay(tx, p);
        let report = relay.run_once(10).await.unwrap();
        assert_eq!(
            report,
            RelayReport {
                published: 3,
                failed: 1,
                broker_unavailable: false
            }
        );
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3, 4]);
        assert!(committed.load(Ordering::SeqCst));
        assert_eq!(relay.metrics().published(), 3);
        assert_eq!(relay.metrics().failed(), 1);
    }

    #[tokio::test]
    async fn a_failed_row_holds_back_the_rest_of_its_aggregate() {
        let mut tx = FakeTx::new(Arc::new(AtomicBool::new(false)));
        tx.outbox
            .expect_claim_batch()
            .returning(|_, _| Ok(vec![row(1, 7, 2), row(2, 8, 0), row(3, 7, 0)]));
        tx.outbox
            .expect_mark_failed()
            .withf(|id, _, retry_at| {
                // third failure: 4 s, half of it jitter
                *id == 1
                    && *retry_at >= at() + chrono::Duration::seconds(2)
                    && *retry_at <= at() + chrono::Duration::seconds(4)
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        tx.outbox
            .expect_mark_sent()
            .withf(|ids, _| ids == [2])
            .times(1)
            .returning(|_, _| Ok(()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let p = publisher(
            vec![(1, Err(PublishError::Rejected("returned".into())))],
            Arc::clone(&seen),
        );
        let report = relay(tx, p).run_once(10).await.unwrap();
        assert_eq!((report.published, report.failed), (1, 1));
        assert_eq!(*seen.lock().unwrap(), [1, 2], "row 3 must wait for row 1");
    }

    #[tokio::test]
    async fn an_unavailable_broker_stops_the_pass() {
        let mut tx = FakeTx::new(Arc::new(AtomicBool::new(false)));
        tx.outbox
            .expect_claim_batch()
            .returning(|_, _| Ok(vec![row(1, 7, 0), row(2, 8, 0), row(3, 9, 0)]));
        tx.outbox
            .expect_mark_failed()
            .withf(|id, _, _| *id == 2)
            .times(1)
            .returning(|_, _, _| Ok(()));
        tx.outbox
            .expect_mark_sent()
            .withf(|ids, _| ids == [1])
            .times(1)
            .returning(|_, _| Ok(()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let p = publisher(
            vec![(2, Err(PublishError::Unavailable("refused".into())))],
            Arc::clone(&seen),
        );
        let report = relay(tx, p).run_once(10).await.unwrap();
        assert!(report.broker_unavailable);
        assert_eq!(*seen.lock().unwrap(), [1, 2]);
    }

    #[test]
    fn the_retry_delay_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, 0.0), Duration::from_millis(500));
        assert_eq!(p.delay(0, 1.0), Duration::from_secs(1));
        assert_eq!(p.delay(3, 1.0), Duration::from_secs(8));
        assert_eq!(p.delay(20, 1.0), Duration::from_secs(300));
        assert_eq!(p.delay(u32::MAX, 0.0), Duration::from_secs(150));
        let u = jitter_unit();
        assert!((0.0..1.0).contains(&u));
    }
}
