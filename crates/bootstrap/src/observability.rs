//! Metrics: the Prometheus recorder behind the `metrics` facade, and what is read at scrape
//! time — database pool, outbox, process, seats of the events in sale.
//!
//! The recorder is installed once per process (the facade is global) and rendered by
//! `/actuator/prometheus` (no HTTP listener of its own; `docs/adr/0004-metrics.md`).

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use adapters_http::MetricsSource;
use application::PageRequest;
use application::clock::Clock;
use application::ports::UnitOfWork;
use application::ports::events::{EventQuery, EventSort};
use application::services::OutboxRelay;
use domain::event::EventStatus;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::DatabaseConnection;

/// The most events `aquastream_seats_available` reports: the soonest-starting events in sale
/// (PUBLISHED, not started). Bounds the series a scrape can produce.
pub const SEATS_EVENTS_LIMIT: u32 = 100;

/// Latency buckets (seconds) of every `*_seconds` histogram: 1 ms … 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Job durations reach minutes.
const JOB_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0];

struct Installed {
    handle: PrometheusHandle,
    started: Instant,
    started_at: SystemTime,
}

static RECORDER: OnceLock<Option<Installed>> = OnceLock::new();

/// Installs the Prometheus recorder (first call in the process; later calls share it).
/// `None` when another recorder was installed first.
fn installed() -> Option<&'static Installed> {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("aquastream_job_duration_seconds".to_owned()),
                    JOB_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Suffix("_seconds".to_owned()),
                        LATENCY_BUCKETS,
                    )
                });
            let handle = match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => handle,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    return None;
                }
            };
            adapters_postgres::observability::register_business_counters();
            describe();
            Some(Installed {
                handle,
                started: Instant::now(),
                started_at: SystemTime::now(),
            })
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        adapters_http::observe::REQUEST_DURATION,
        Unit::Seconds,
        "HTTP requests by route template, method and status"
    );
    describe_gauge!(
        adapters_http::observe::ACTIVE_REQUESTS,
        "HTTP requests in flight"
    );
    describe_histogram!(
        adapters_grpc::metrics::REQUEST_DURATION,
        Unit::Seconds,
        "gRPC calls by service, method and code"
    );
    describe_counter!(
        adapters_postgres::observability::BOOKINGS_CREATED,
        "Bookings created (committed)"
    );
    describe_counter!(
        adapters_postgres::observability::PAYMENTS,
        "Payments by outcome: succeeded, failed, refunded"
    );
    describe_gauge!(
        adapters_postgres::observability::REFUNDS_AMOUNT,
        "Refunded money in currency units (only grows)"
    );
    describe_histogram!(
        adapters_postgres::observability::DB_BEGIN_SECONDS,
        Unit::Seconds,
        "Acquiring a pooled connection and beginning a transaction"
    );
}

/// What a scrape reads besides the facade's series.
pub struct Scrape {
    pub db: DatabaseConnection,
    pub max_connections: u32,
    pub relay: OutboxRelay,
    pub uow: Arc<dyn UnitOfWork>,
    pub clock: Arc<dyn Clock>,
    pub version: &'static str,
    pub profile: String,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape").finish_non_exhaustive()
    }
}

/// The metrics source of the actuator, or `None` when no recorder could be installed.
#[must_use]
pub fn metrics_source(scrape: Scrape) -> Option<Arc<dyn MetricsSource>> {
    installed()?;
    Some(Arc::new(scrape))
}

#[async_trait::async_trait]
impl MetricsSource for Scrape {
    async fn render(&self) -> String {
        let Some(installed) = installed() else {
            return String::new();
        };
        adapters_postgres::observability::record_pool_gauges(&self.db, self.max_connections);
        self.record_outbox().await;
        record_process(installed, self.version, &self.profile);
        installed.handle.run_upkeep();
        let mut text = installed.handle.render();
        self.append_seats(&mut text).await;
        text
    }
}

impl Scrape {
    async fn record_outbox(&self) {
        match self.relay.status().await {
            Ok(status) => {
                #[allow(clippy::cast_precision_loss)] // counts far below 2^52
                {
                    metrics::gauge!("aquastream_outbox_backlog").set(status.backlog as f64);
                    metrics::gauge!("aquastream_outbox_oldest_age_seconds")
                        .set(status.oldest_unsent_age_seconds.unwrap_or(0).max(0) as f64);
                }
                metrics::counter!("aquastream_outbox_published_total")
                    .absolute(status.published_total);
                metrics::counter!("aquastream_outbox_failed_total").absolute(status.failed_total);
                metrics::gauge!("aquastream_broker_connected").set(if status.broker_connected {
                    1.0
                } else {
                    0.0
                });
            }
            Err(e) => tracing::debug!(error = %e, "outbox status not read for the metrics"),
        }
    }

    /// `aquastream_seats_available{event_id}` of the events in sale (PUBLISHED, not started),
    /// at most [`SEATS_EVENTS_LIMIT`] of them, the soonest first; written here rather than
    /// through the facade so that an event leaving the sale leaves the output at once.
    async fn append_seats(&self, text: &mut String) {
        let Ok(page) = PageRequest::new(Some(0), Some(i64::from(SEATS_EVENTS_LIMIT))) else {
            return;
        };
        let query = EventQuery {
            statuses: vec![EventStatus::Published],
            start_from: Some(self.clock.now()),
            sort: EventSort::StartDate,
            page,
            ..EventQuery::default()
        };
        let found = match self.uow.begin().await {
            Ok(tx) => tx.events().search(&query).await,
            Err(e) => Err(e),
        };
        let listings = match found {
            Ok(page) => page.items,
            Err(e) => {
                tracing::debug!(error = %e, "events in sale not read for the metrics");
                return;
            }
        };
        let _ = writeln!(
            text,
            "# HELP aquastream_seats_available Seats left of the events in sale (the {SEATS_EVENTS_LIMIT} soonest)\n# TYPE aquastream_seats_available gauge"
        );
        for listing in listings {
            let event = &listing.event;
            let _ = writeln!(
                text,
                "aquastream_seats_available{{event_id=\"{}\"}} {}",
                event.id.value(),
                event.seats.available()
            );
        }
    }
}

/// Process metrics from `/proc` (Linux; elsewhere only uptime and build info).
fn record_process(installed: &Installed, version: &'static str, profile: &str) {
    let start = installed
        .started_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    metrics::gauge!("process_start_time_seconds").set(start.as_secs_f64());
    metrics::gauge!("aquastream_uptime_seconds").set(installed.started.elapsed().as_secs_f64());
    metrics::gauge!("aquastream_build_info", "version" => version, "profile" => profile.to_owned())
        .set(1.0);
    if let Some(rss) = resident_bytes() {
        metrics::gauge!("process_resident_memory_bytes").set(rss);
    }
    if let Some(cpu) = cpu_seconds() {
        metrics::gauge!("process_cpu_seconds_total").set(cpu);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("process_open_fds").set(fds.count() as f64);
    }
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn resident_bytes() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// User + system CPU time of `/proc/self/stat`, in seconds (the kernel reports it in
/// USER_HZ ticks, 100 per second on Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the command name may contain spaces: fields are counted after its closing parenthesis
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_figures_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_bytes().is_some_and(|b| b > 0.0));
            assert!(cpu_seconds().is_some_and(|s| s >= 0.0));
        }
    }
}
