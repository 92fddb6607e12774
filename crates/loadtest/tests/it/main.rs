//! The generator against the real service, started in-process (the binary's own wiring,
//! `bootstrap::start`) on an embedded SQLite database of its own: a tiny sell-out is counted
//! exactly and passes its checks, and a mixed run reads and books at once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use bootstrap::config::MapEnv;
use bootstrap::{Config, Overrides};
use loadtest::{Options, RunReport, Scenario};

/// The service on a free port of 127.0.0.1, with its own database directory.
struct Service {
    url: String,
    handle: actix_web::dev::ServerHandle,
    background: bootstrap::background::Background,
    _grpc: bootstrap::GrpcServer,
    dir: PathBuf,
}

impl Service {
    async fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("loadtest-it-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let env = MapEnv(vec![
            // The test profile: gateway headers trusted, scheduler and relay off, quiet logs.
            ("APP_PROFILE".into(), "test".into()),
            (
                "APP__DATABASE__SQLITE_PATH".into(),
                dir.join("event.db").display().to_string(),
            ),
        ]);
        let mut config = Config::load_from(&env, None).expect("test configuration");
        config.server.host = "127.0.0.1".to_owned();
        config.server.port = 0;
        config.grpc.port = 0;
        config.server.workers = 2;
        let running = bootstrap::start(&config, Overrides::default())
            .await
            .expect("the service starts");
        let url = format!("http://{}", running.http_addr);
        let handle = running.handle();
        tokio::spawn(running.server);
        Self {
            url,
            handle,
            background: running.background,
            _grpc: running.grpc,
            dir,
        }
    }

    async fn stop(self) {
        self.handle.stop(true).await;
        self.background.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn options(&self, scenario: Scenario) -> Options {
        let mut o = Options::new(scenario);
        o.url.clone_from(&self.url);
        o
    }
}

fn explain(report: &RunReport) -> String {
    loadtest::report::render_text(report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sell_out_of_50_seats_to_200_new_users_gives_exactly_50_bookings() {
    let service = Service::start().await;
    let mut options = service.options(Scenario::FlashSale);
    options.connections = 8;
    options.attempts = Some(200);
    options.seats = 50;
    options.duration = Duration::from_secs(60);
    // In-process: the service's memory is this process's.
    options.service_pid = Some(std::process::id());

    let report = loadtest::run(&options).await.expect("the run completes");

    assert!(report.passed, "{}", explain(&report));
    let bookings = report.stream("bookings").expect("a booking stream");
    assert_eq!(bookings.requests, 200, "{}", explain(&report));
    assert_eq!(bookings.successes, 50, "{}", explain(&report));
    assert_eq!(bookings.statuses.get("201"), Some(&50));
    assert_eq!(bookings.statuses.get("409"), Some(&150));
    assert_eq!(bookings.refusals.get("SOLD_OUT"), Some(&150));
    assert_eq!(bookings.latency_ms.count, 200);
    assert!(bookings.latency_ms.p50 > 0.0 && bookings.latency_ms.p99 <= bookings.latency_ms.max);
    assert_eq!(report.events.len(), 1);
    let event = report.events[0];
    assert_eq!(
        (event.capacity, event.available, event.taken, event.created),
        (50, 0, 50, 50)
    );
    assert!(report.checks.iter().all(|c| c.passed));
    let memory = report.service_memory.expect("memory sampled");
    assert!(memory.rss_max_kib > 0 && memory.samples >= 1);
    // The options the run used are part of the result.
    assert_eq!(report.options["attempts"], 200);
    assert_eq!(report.options["seats"], 50);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_run_books_two_events_while_reading_the_catalog() {
    let service = Service::start().await;
    let mut options = service.options(Scenario::Mixed);
    options.connections = 4;
    options.read_connections = 2;
    options.events = 2;
    options.seats = 1_000;
    options.price = "0".to_owned();
    options.published = 5;
    options.list_ratio = 0.5;
    options.duration = Duration::from_millis(1_500);

    let report = loadtest::run(&options).await.expect("the run completes");

    assert!(report.passed, "{}", explain(&report));
    assert_eq!(report.setup.catalog_events, 5);
    assert_eq!(report.setup.catalog_events_created, 5);
    let bookings = report.stream("bookings").expect("a booking stream");
    let reads = report.stream("reads").expect("a read stream");
    assert!(bookings.successes > 0, "{}", explain(&report));
    assert!(reads.successes > 0, "{}", explain(&report));
    assert_eq!(reads.successes, reads.requests, "{}", explain(&report));
    // The load was spread over both events, each counted on its own.
    assert_eq!(report.events.len(), 2);
    for event in &report.events {
        assert!(event.created > 0, "{}", explain(&report));
        assert_eq!(u64::try_from(event.taken).unwrap(), event.created);
    }

    // A second catalog run reuses what the first created.
    let mut again = service.options(Scenario::Catalog);
    again.connections = 2;
    again.published = 5;
    again.reuse = true;
    again.duration = Duration::from_millis(300);
    let report = loadtest::run(&again).await.expect("the run completes");
    assert!(report.passed, "{}", explain(&report));
    assert_eq!(
        report.setup.catalog_events_created,
        0,
        "{}",
        explain(&report)
    );
    service.stop().await;
}
