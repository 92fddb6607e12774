//! A run: set up through the API, drive the workers until the time or the attempts run out,
//! read the flash-sale events back and decide.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use hyper::Method;
use hyper::header::{HeaderName, HeaderValue};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::api::{Api, gateway_headers};
use crate::checks::{self, EventOutcome};
use crate::cli::Options;
use crate::client::{Connection, Failure, Target};
use crate::memory::Sampler;
use crate::report::{RunReport, Setup};
use crate::stats::{Expect, Recorder, classify};

/// Capacity and price of the events created for the catalog readers.
const CATALOG_SEATS: u32 = 100;
const CATALOG_PRICE: &str = "25.00";
/// After a failed connection attempt a worker waits this long before the next request, so
/// that a service that went away is not hammered with connects.
const CONNECT_BACKOFF: Duration = Duration::from_millis(20);
/// The first page of the catalog, as a guest's browser asks for it.
const LIST_PATH: &str = "/api/v1/events";
const BOOKINGS_PATH: &str = "/api/v1/bookings";

/// Runs the scenario of `options` against the service.
///
/// # Errors
/// A readable message when the service cannot be reached or the setup or the read-back fails
/// (the load itself never fails the run: what it saw is in the report and its checks).
pub async fn run(options: &Options) -> Result<RunReport, String> {
    let target = Arc::new(Target::parse(&options.url)?);
    let mut api = Api::new(
        Connection::new(Arc::clone(&target), options.timeout),
        options.organizer,
    );
    api.wait_until_up().await?;
    let started_at = Utc::now();

    // Setup, through the API.
    let setup_started = Instant::now();
    let mut sale_events = Vec::new();
    if options.books() {
        for i in 1..=options.events {
            let name = format!(
                "loadtest flash sale {i}/{} {}",
                options.events,
                started_at.format("%Y-%m-%d %H:%M:%S")
            );
            sale_events.push(
                api.create_published_event(&name, options.seats, &options.price, 30)
                    .await?,
            );
        }
    }
    let mut catalog_events = Vec::new();
    let mut catalog_created = 0;
    if options.reads() {
        if options.reuse {
            catalog_events = api.published_events(options.published).await?;
        }
        while catalog_events.len() < options.published {
            let n = catalog_events.len() + 1;
            let days = 1 + i64::try_from(n % 90).unwrap_or(0);
            let name = format!("loadtest catalog event {n}");
            catalog_events.push(
                api.create_published_event(&name, CATALOG_SEATS, CATALOG_PRICE, days)
                    .await?,
            );
            catalog_created += 1;
        }
    }
    let setup = Setup {
        sale_events: sale_events.clone(),
        catalog_events: catalog_events.len(),
        catalog_events_created: catalog_created,
        seconds: (setup_started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    };

    // The load.
    let sampler = options.service_pid.map(Sampler::start).transpose()?;
    let load_started = Instant::now();
    let deadline = load_started + options.duration;
    let stop_reading = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicU64::new(0));
    let bodies: Arc<[(i64, Bytes)]> = sale_events
        .iter()
        .map(|&id| {
            (
                id,
                Bytes::from(format!(r#"{{"event_id":{id},"quantity":1}}"#)),
            )
        })
        .collect();
    let bookers: Vec<JoinHandle<(Recorder, Instant)>> = (0..options.booking_connections())
        .map(|_| {
            let booker = Booker {
                conn: Connection::new(Arc::clone(&target), options.timeout),
                bodies: Arc::clone(&bodies),
                issued: Arc::clone(&issued),
                attempts: options.attempts,
                deadline,
            };
            tokio::spawn(booker.run())
        })
        .collect();
    // Details are read for the catalog's events and the sale's (people watch the sale page).
    let detail_paths: Arc<[String]> = catalog_events
        .iter()
        .chain(&sale_events)
        .map(|id| format!("/api/v1/events/{id}"))
        .collect();
    let readers: Vec<JoinHandle<(Recorder, Instant)>> = (0..options.reading_connections())
        .map(|i| {
            let reader = Reader {
                conn: Connection::new(Arc::clone(&target), options.timeout),
                detail_paths: Arc::clone(&detail_paths),
                list_ratio: options.list_ratio,
                deadline,
                stop: Arc::clone(&stop_reading),
                random: SplitMix64::new(seed(i)),
            };
            tokio::spawn(reader.run())
        })
        .collect();
    let bookings = if options.books() {
        let (recorder, finished) = gather(bookers).await?;
        // In `mixed`, the readers stop with the sale.
        stop_reading.store(true, Ordering::Relaxed);
        Some((recorder, finished))
    } else {
        None
    };
    let reads = if options.reads() {
        Some(gather(readers).await?)
    } else {
        None
    };
    let service_memory = match sampler {
        Some(sampler) => Some(sampler.finish().await?),
        None => None,
    };

    // The read-back and the verdicts.
    let mut streams = Vec::new();
    let mut events = Vec::new();
    let mut verdicts = Vec::new();
    if let Some((recorder, finished)) = bookings {
        let report = recorder.report(
            "bookings",
            options.booking_connections(),
            finished.saturating_duration_since(load_started),
        );
        for &id in &sale_events {
            let view = api.event(id).await?;
            let created = recorder.successes_by_event.get(&id).copied().unwrap_or(0);
            events.push(EventOutcome::new(
                id,
                view.max_participants,
                view.available_seats,
                created,
            ));
        }
        verdicts.extend(checks::flash_sale(&events, &report));
        streams.push(report);
    }
    if let Some((recorder, finished)) = reads {
        let report = recorder.report(
            "reads",
            options.reading_connections(),
            finished.saturating_duration_since(load_started),
        );
        verdicts.extend(checks::catalog(&report));
        streams.push(report);
    }
    Ok(RunReport {
        tool: "loadtest".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario: options.scenario.name().to_owned(),
        started_at,
        url: options.url.clone(),
        options: serde_json::to_value(options).map_err(|e| e.to_string())?,
        setup,
        passed: checks::all_passed(&verdicts),
        streams,
        events,
        service_memory,
        checks: verdicts,
    })
}

/// Merges the workers' records; answers them with the time the last worker finished.
async fn gather(
    workers: Vec<JoinHandle<(Recorder, Instant)>>,
) -> Result<(Recorder, Instant), String> {
    let mut all = Recorder::new();
    let mut last = Instant::now();
    let mut first = true;
    for worker in workers {
        let (recorder, finished) = worker
            .await
            .map_err(|e| format!("a worker stopped abnormally: {e}"))?;
        all.merge(&recorder);
        if first || finished > last {
            last = finished;
            first = false;
        }
    }
    Ok((all, last))
}

/// A worker that books: every request a new user booking one seat, the events in turn.
struct Booker {
    conn: Connection,
    bodies: Arc<[(i64, Bytes)]>,
    issued: Arc<AtomicU64>,
    attempts: Option<u64>,
    deadline: Instant,
}

impl Booker {
    async fn run(mut self) -> (Recorder, Instant) {
        let mut recorder = Recorder::new();
        let count = self.bodies.len() as u64;
        while Instant::now() < self.deadline && count > 0 {
            let n = self.issued.fetch_add(1, Ordering::Relaxed);
            if self.attempts.is_some_and(|a| n >= a) {
                break;
            }
            let Some((event, body)) = usize::try_from(n % count)
                .ok()
                .and_then(|i| self.bodies.get(i))
            else {
                break;
            };
            let headers = gateway_headers(Uuid::new_v4(), "USER");
            let Ok(request) = self.conn.target().request(
                Method::POST,
                BOOKINGS_PATH,
                &headers,
                Some(body.clone()),
            ) else {
                break;
            };
            send(
                &mut self.conn,
                request,
                Expect::Created,
                Some(*event),
                &mut recorder,
            )
            .await;
        }
        (recorder, Instant::now())
    }
}

/// A worker that reads the catalog as a guest: the first page or one event's details.
struct Reader {
    conn: Connection,
    detail_paths: Arc<[String]>,
    list_ratio: f64,
    deadline: Instant,
    stop: Arc<AtomicBool>,
    random: SplitMix64,
}

impl Reader {
    async fn run(mut self) -> (Recorder, Instant) {
        let mut recorder = Recorder::new();
        let no_headers: [(HeaderName, HeaderValue); 0] = [];
        while Instant::now() < self.deadline && !self.stop.load(Ordering::Relaxed) {
            let list = self.detail_paths.is_empty() || self.random.unit() < self.list_ratio;
            let path = if list {
                LIST_PATH
            } else {
                let i = self.random.below(self.detail_paths.len());
                self.detail_paths.get(i).map_or(LIST_PATH, String::as_str)
            };
            let Ok(request) = self
                .conn
                .target()
                .request(Method::GET, path, &no_headers, None)
            else {
                break;
            };
            send(&mut self.conn, request, Expect::Ok, None, &mut recorder).await;
        }
        (recorder, Instant::now())
    }
}

async fn send(
    conn: &mut Connection,
    request: hyper::Request<http_body_util::Full<Bytes>>,
    expect: Expect,
    event: Option<i64>,
    recorder: &mut Recorder,
) {
    let started = Instant::now();
    match conn.send(request).await {
        Ok(reply) => {
            let elapsed = started.elapsed();
            recorder.answered(classify(expect, &reply), reply.status, elapsed, event);
        }
        Err(failure) => {
            recorder.failed(&failure);
            if matches!(failure, Failure::Connect(_)) {
                tokio::time::sleep(CONNECT_BACKOFF).await;
            }
        }
    }
}

fn seed(worker: usize) -> u64 {
    let nanos = Utc::now().timestamp_subsec_nanos();
    (worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(nanos)
}

/// A small, fast generator for picking reads (SplitMix64; no cryptographic quality needed).
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    const fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n) (n > 0).
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_mix_follows_the_ratio() {
        let mut r = SplitMix64::new(7);
        let lists = (0..100_000).filter(|_| r.unit() < 0.2).count();
        assert!((19_000..21_000).contains(&lists), "{lists}");
        let mut seen = [0u32; 5];
        for _ in 0..10_000 {
            seen[r.below(5)] += 1;
        }
        assert!(
            seen.iter().all(|&n| (1_800..2_200).contains(&n)),
            "{seen:?}"
        );
    }
}
