//! Wiring: configuration → adapters → use cases → HTTP server.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, middleware, web};
use adapters_auth::{AuthConfig, AuthHealth, Authenticator, JwtConfig};
use adapters_crew::{CrewHealth, HttpCrewConfig, HttpCrewDirectory, UnconfiguredCrewDirectory};
use adapters_http::observe::{AccessLog, AccessLogMode};
use adapters_http::{ApiState, HttpSettings, LogLevels, Observability};
use adapters_messaging::{AmqpConfig, AmqpPublisher, LoggingPublisher};
use adapters_payment::PaymentHealth;
use adapters_postgres::{DatabaseConfig, DatabaseHealth, SeaUnitOfWork};
use adapters_redis::{CacheBackend, CacheSettings, InMemoryCache, RedisConfig};
use anyhow::Context;
use application::clock::{Clock, SystemClock};
use application::ports::{
    Authenticate, Cache, CrewDirectory, HealthIndicator, MessagePublisher, PaymentGateways,
    TicketCodeGenerator, UnitOfWork,
};
use application::services::{
    AdminService, BatchSettings, BookingService, BrokerHealth, CategoryService, ConsistencyService,
    CrewService, EventService, FavoriteService, IdempotencyService, JobService, LoyaltyService,
    OutboxHealth, OutboxRelay, PaymentService, PromoCodeService, RateLimitSettings, RateLimits,
    ReadCache, ReadCacheSettings, RefundKick, ReminderService, RetentionService, RetentionSettings,
    RetryPolicy, ReviewService, SeatLimits, WaitlistService, WaitlistSettings,
};
use domain::Money;
use domain::booking_rules::BookingSettings;
use domain::crew::CrewRetryPolicy;
use domain::loyalty::LoyaltyProgram;
use domain::payment::RefundRetryPolicy;
use domain::percent::Percent;
use sea_orm::DatabaseConnection;

use crate::background::{Background, RelayLoop};
use crate::config::{Config, ConsistencyCheckMode};
use crate::grpc::GrpcServer;
use crate::jobs::{JobDeps, job_service};
use crate::tickets::RandomTicketCodes;

/// What tests (and only tests) replace.
#[derive(Default, Clone)]
pub struct Overrides {
    pub clock: Option<Arc<dyn Clock>>,
    /// Replaces the broker publisher chosen by `broker.url` (outage tests switch it).
    pub publisher: Option<Arc<dyn MessagePublisher>>,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("clock", &self.clock.is_some())
            .field("publisher", &self.publisher.is_some())
            .finish()
    }
}

/// The use cases and adapters of one running instance.
#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub uow: Arc<dyn UnitOfWork>,
    pub events: EventService,
    pub categories: CategoryService,
    pub crew: CrewService,
    pub bookings: BookingService,
    pub payments: PaymentService,
    pub favorites: FavoriteService,
    pub reviews: ReviewService,
    pub idempotency: IdempotencyService,
    pub promo_codes: PromoCodeService,
    pub loyalty: LoyaltyService,
    pub admin: AdminService,
    pub waitlist: WaitlistService,
    pub gateways: PaymentGateways,
    pub reminders: ReminderService,
    pub retention: RetentionService,
    pub jobs: JobService,
    pub consistency: ConsistencyService,
    /// Woken after a transaction that recorded refunds committed; the background task runs
    /// the process-refunds job then (instances running the scheduler only).
    pub refund_kicks: Arc<tokio::sync::Notify>,
    pub publisher: Arc<dyn MessagePublisher>,
    /// The AMQP publisher when `broker.url` is set (connected at start).
    pub amqp: Option<Arc<AmqpPublisher>>,
    pub relay: OutboxRelay,
    /// The cache and the rate limiter: Redis (with the in-memory fallback) when `redis.url`
    /// is set, in-memory otherwise.
    pub cache: CacheBackend,
    /// The catalog and details cache over `cache` (with an in-process layer when Redis is
    /// configured).
    pub read_cache: ReadCache,
    pub rate_limits: RateLimits,
    /// The backend-crew client when `services.crew.url` is set (the `crew` health component).
    pub crew_client: Option<Arc<HttpCrewDirectory>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("gateways", &self.gateways)
            .finish_non_exhaustive()
    }
}

/// Opens the database the configuration names (creating `./data/` for the embedded default).
pub async fn open_database(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default();
        let parent = std::path::Path::new(path).parent();
        if let Some(parent) = parent.filter(|p| !p.as_os_str().is_empty())
            && !path.starts_with(":memory:")
        {
            std::fs::create_dir_all(parent).with_context(|| {
                format!("cannot create the database directory {}", parent.display())
            })?;
        }
    }
    let mut db = DatabaseConfig::new(url.clone());
    db.schema.clone_from(&config.database.schema);
    db.max_connections = config.database.max_connections;
    db.min_connections = config.database.min_connections;
    db.connect_timeout = Duration::from_secs(config.database.connect_timeout_seconds);
    db.acquire_timeout = Duration::from_secs(config.database.acquire_timeout_seconds);
    adapters_postgres::connect(&db)
        .await
        .with_context(|| format!("cannot open the database ({})", redact(&url)))
}

/// The URL without its password, for messages.
#[must_use]
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn loyalty_program(config: &Config) -> anyhow::Result<LoyaltyProgram> {
    let l = &config.app.loyalty;
    Ok(LoyaltyProgram {
        points_per_currency_unit: l.points_per_currency_unit,
        review_points: l.review_points,
        point_value: Money::from_decimal(l.point_value)
            .map_err(|e| anyhow::anyhow!("app.loyalty.point_value: {e}"))?,
        max_redeem_share: Percent::from_whole(l.max_redeem_share_percent)
            .map_err(|e| anyhow::anyhow!("app.loyalty.max_redeem_share_percent: {e}"))?,
    })
}

/// The `/actuator/health` components (and the gRPC health service's): which ones are
/// critical (readiness fails while they are down) is each indicator's say — only `db`.
/// `cache` is the Redis adapter's component (in-memory when no Redis is configured); `auth`
/// (the issuer's keys and where they came from) is there when JWT validation is configured.
fn health_components(
    config: &Config,
    db: &DatabaseConnection,
    services: &Services,
    auth: &Authenticator,
) -> Vec<Arc<dyn HealthIndicator>> {
    let mut health: Vec<Arc<dyn HealthIndicator>> = vec![
        Arc::new(DatabaseHealth::new(db.clone(), Duration::from_secs(2))),
        Arc::new(BrokerHealth(Arc::clone(&services.publisher))),
        Arc::new(OutboxHealth(services.relay.clone())),
        Arc::new(PaymentHealth::new(services.gateways.clone())),
        Arc::clone(&services.cache.health),
    ];
    if let Some(crew) = &services.crew_client {
        health.push(Arc::new(CrewHealth(Arc::clone(crew))));
    }
    if auth.key_status().is_some() {
        health.push(Arc::new(AuthHealth(auth.clone())));
    }
    let url = config.database_url();
    if let Some(file) = crate::disk_space::sqlite_file(&url) {
        health.push(Arc::new(crate::disk_space::DiskSpaceHealth::new(
            file,
            config
                .management
                .disk_space_threshold_mb
                .saturating_mul(1024 * 1024),
        )));
    }
    health
}

/// The directory the use cases call, and the HTTP client behind it when there is one (for
/// the `crew` health component).
type CrewWiring = (Arc<dyn CrewDirectory>, Option<Arc<HttpCrewDirectory>>);

/// backend-crew over HTTP when `services.crew.url` is set; otherwise a directory that is
/// always unavailable, so crew requests wait PENDING_RETRY.
fn crew_directory(config: &Config) -> anyhow::Result<CrewWiring> {
    let c = &config.services.crew;
    if c.url.trim().is_empty() {
        return Ok((Arc::new(UnconfiguredCrewDirectory), None));
    }
    let directory = HttpCrewDirectory::new(HttpCrewConfig {
        base_url: c.url.clone(),
        timeout: Duration::from_millis(c.timeout_ms),
        max_retries: c.max_retries,
        breaker_threshold: c.breaker_threshold,
        breaker_cooldown: Duration::from_secs(c.breaker_cooldown_seconds),
    })
    .map_err(|e| anyhow::anyhow!("services.crew.url: {e}"))?;
    let directory = Arc::new(directory);
    Ok((
        Arc::clone(&directory) as Arc<dyn CrewDirectory>,
        Some(directory),
    ))
}

fn crew_retry_policy(config: &Config) -> CrewRetryPolicy {
    let c = &config.services.crew;
    let seconds = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
    CrewRetryPolicy {
        max_attempts: c.max_attempts,
        first_delay: seconds(c.retry_delay_seconds),
        max_delay: seconds(c.retry_max_delay_seconds),
    }
}

/// The broker sink: RabbitMQ when `broker.url` is set, the log otherwise.
fn publisher(
    config: &Config,
    overrides: &Overrides,
) -> (Arc<dyn MessagePublisher>, Option<Arc<AmqpPublisher>>) {
    if let Some(p) = &overrides.publisher {
        return (Arc::clone(p), None);
    }
    if config.broker.url.is_empty() {
        return (Arc::new(LoggingPublisher), None);
    }
    let amqp = Arc::new(AmqpPublisher::new(AmqpConfig::new(
        config.broker.url.clone(),
        config.broker.exchange.clone(),
    )));
    (Arc::clone(&amqp) as Arc<dyn MessagePublisher>, Some(amqp))
}

/// The cache backend `redis.url` selects (no connection is made here: an unreachable Redis is
/// served around, not fatal).
pub fn cache_backend(config: &Config) -> anyhow::Result<CacheBackend> {
    let settings = CacheSettings {
        memory_max_bytes: config.cache.memory_max_mb.saturating_mul(1024 * 1024),
        max_ttl: Duration::from_secs(config.cache.ttl_seconds),
        retry_interval: Duration::from_secs(config.redis.retry_interval_seconds),
        fallback_ttl: Duration::from_secs(config.cache.fallback_ttl_seconds),
    };
    let url = config.redis.url.trim();
    if url.is_empty() {
        return Ok(CacheBackend::in_memory(&settings));
    }
    let mut redis = RedisConfig::new(url);
    redis.key_prefix.clone_from(&config.redis.key_prefix);
    redis.connect_timeout = Duration::from_millis(config.redis.connect_timeout_ms);
    redis.command_timeout = Duration::from_millis(config.redis.command_timeout_ms);
    let backend = CacheBackend::redis(&redis, &settings)
        .map_err(|e| anyhow::anyhow!("redis.url ({}): {e}", redact(url)))?;
    tracing::info!(redis = %redact(url), "cache and rate limits in redis");
    Ok(backend)
}

/// The catalog and details cache: entries and generations in `backend.cache`; with Redis, an
/// in-process layer of `cache.memory_max_mb` in front of it.
fn read_cache(config: &Config, backend: &CacheBackend) -> ReadCache {
    let c = &config.cache;
    let settings = ReadCacheSettings {
        ttl: Duration::from_secs(c.ttl_seconds),
        stale_ttl: Duration::from_secs(c.stale_ttl_seconds),
        generation_ttl: Duration::from_millis(c.generation_ttl_ms),
        seat_flush_interval: Duration::from_millis(c.seat_flush_ms),
    };
    let near = backend.redis.as_ref().map(|_| {
        Arc::new(InMemoryCache::new(
            c.memory_max_mb.saturating_mul(1024 * 1024),
            settings.stale_ttl,
        )) as Arc<dyn Cache>
    });
    ReadCache::new(Arc::clone(&backend.cache), near, settings)
}

fn rate_limits(config: &Config, backend: &CacheBackend) -> RateLimits {
    let r = &config.rate_limits;
    RateLimits::new(
        Arc::clone(&backend.limiter),
        RateLimitSettings {
            enabled: r.enabled,
            booking_create_per_minute: r.booking_create_per_minute,
            event_list_per_minute: r.event_list_per_minute,
            promo_validate_per_minute: r.promo_validate_per_minute,
            webhook_per_minute: r.webhook_per_minute,
            sandbox_page_per_minute: r.sandbox_page_per_minute,
        },
    )
}

fn refund_retry_policy(config: &Config) -> RefundRetryPolicy {
    let r = &config.payments.refunds;
    let seconds = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
    RefundRetryPolicy {
        max_attempts: r.max_attempts,
        first_delay: seconds(r.retry_delay_seconds),
        max_delay: seconds(r.retry_max_delay_seconds),
    }
}

fn retention_settings(config: &Config) -> RetentionSettings {
    RetentionSettings {
        audit: chrono::Duration::days(i64::from(config.app.audit.retain_days)),
        bookings: chrono::Duration::days(365),
        sent_outbox: chrono::Duration::days(i64::from(config.broker.retain_sent_days)),
        batch: config.jobs.batch_size,
        max_batches: 100,
    }
}

/// Builds every use case over an open database.
pub fn services(
    config: &Config,
    db: DatabaseConnection,
    overrides: &Overrides,
) -> anyhow::Result<Services> {
    let clock: Arc<dyn Clock> = overrides
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));
    let cache = cache_backend(config)?;
    let read_cache = read_cache(config, &cache);
    // Every committed transaction invalidates the cached views it changed.
    let uow: Arc<dyn UnitOfWork> = read_cache.tracking(Arc::new(
        SeaUnitOfWork::new(db.clone()).with_clock(Arc::clone(&clock)),
    ));
    let tickets: Arc<dyn TicketCodeGenerator> = Arc::new(RandomTicketCodes);
    let settings = BookingSettings {
        ttl: chrono::Duration::minutes(i64::from(config.app.booking.ttl_minutes)),
        grace: chrono::Duration::minutes(i64::from(config.app.booking.grace_period_minutes)),
        max_quantity: config.app.booking.max_quantity,
    };
    let loyalty = loyalty_program(config)?;
    let gateways = config
        .payment_gateways()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let waitlist = WaitlistSettings {
        notification_window: chrono::Duration::minutes(i64::from(
            config.app.waitlist.notification_window_minutes,
        )),
        auto_process: config.app.waitlist.auto_process,
        max_quantity: config.app.booking.max_quantity,
    };
    let events = EventService::new(Arc::clone(&uow), Arc::clone(&clock)).with_waitlist(waitlist);
    let refund_kicks = Arc::new(tokio::sync::Notify::new());
    let kick: RefundKick = {
        let notify = Arc::clone(&refund_kicks);
        Arc::new(move || notify.notify_one())
    };
    let bookings = BookingService::new(
        Arc::clone(&uow),
        Arc::clone(&clock),
        gateways.clone(),
        Arc::clone(&tickets),
        settings,
        loyalty,
    )
    .with_waitlist(waitlist)
    .with_refund_kick(Arc::clone(&kick))
    .with_seat_limits(SeatLimits {
        per_user_per_event: u64::from(config.app.booking.max_seats_per_user_per_event),
        unpaid_per_user: u64::from(config.app.booking.max_unpaid_seats_per_user),
    })
    .with_batching(BatchSettings {
        max_size: usize::try_from(config.app.booking.batch.max_size).unwrap_or(1),
        max_wait: std::time::Duration::from_millis(config.app.booking.batch.max_wait_ms),
    });
    let payments = PaymentService::new(
        Arc::clone(&uow),
        Arc::clone(&clock),
        gateways.clone(),
        Arc::clone(&tickets),
        settings,
        loyalty,
    )
    .with_waitlist(waitlist)
    .with_refund_kick(kick)
    .with_refund_retry(refund_retry_policy(config))
    .with_allowed_return_origins(config.payments.allowed_return_origins.clone())
    .with_webhook_tolerance_seconds(config.payments.webhook_tolerance_seconds);
    let waitlist_service = WaitlistService::new(Arc::clone(&uow), Arc::clone(&clock), waitlist);
    let (crew_directory, crew_client) = crew_directory(config)?;
    let crew = CrewService::new(
        Arc::clone(&uow),
        Arc::clone(&clock),
        crew_directory,
        crew_retry_policy(config),
    );
    let reminders = ReminderService::new(Arc::clone(&uow), Arc::clone(&clock));
    let retention = RetentionService::new(
        Arc::clone(&uow),
        Arc::clone(&clock),
        retention_settings(config),
    );
    let jobs = job_service(
        config,
        JobDeps {
            uow: Arc::clone(&uow),
            clock: Arc::clone(&clock),
            events: events.clone(),
            bookings: bookings.clone(),
            waitlist: waitlist_service.clone(),
            crew: crew.clone(),
            payments: payments.clone(),
            reminders: reminders.clone(),
            retention: retention.clone(),
        },
        db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite,
    );
    let (publisher, amqp) = publisher(config, overrides);
    let rate_limits = rate_limits(config, &cache);
    let relay = OutboxRelay::new(
        Arc::clone(&uow),
        Arc::clone(&publisher),
        Arc::clone(&clock),
        RetryPolicy {
            base: Duration::from_millis(config.broker.retry_base_ms),
            max: Duration::from_millis(config.broker.retry_max_ms),
        },
    );
    Ok(Services {
        admin: AdminService::new(
            Arc::clone(&uow),
            Arc::clone(&clock),
            events.clone(),
            bookings.clone(),
        ),
        promo_codes: PromoCodeService::new(
            Arc::clone(&uow),
            Arc::clone(&clock),
            settings.max_quantity,
        ),
        loyalty: LoyaltyService::new(Arc::clone(&uow), loyalty),
        events,
        categories: CategoryService::new(Arc::clone(&uow), Arc::clone(&clock)),
        crew,
        bookings,
        payments,
        waitlist: waitlist_service,
        favorites: FavoriteService::new(Arc::clone(&uow), Arc::clone(&clock)),
        reviews: ReviewService::new(Arc::clone(&uow), Arc::clone(&clock), loyalty),
        idempotency: IdempotencyService::new(
            Arc::clone(&uow),
            Arc::clone(&clock),
            chrono::Duration::hours(i64::from(config.app.idempotency.ttl_hours)),
        ),
        reminders,
        retention,
        jobs,
        consistency: ConsistencyService::new(
            Arc::clone(&uow),
            Arc::clone(&clock),
            chrono::Duration::days(i64::from(config.broker.retain_sent_days)),
        ),
        refund_kicks,
        publisher,
        amqp,
        relay,
        cache,
        read_cache,
        rate_limits,
        gateways,
        crew_client,
        db,
        clock,
        uow,
    })
}

fn auth_config(config: &Config) -> anyhow::Result<AuthConfig> {
    let jwt = match &config.auth.jwt {
        None => None,
        Some(j) => {
            let mut jwt = JwtConfig::new(j.issuer.clone());
            jwt.audiences.clone_from(&j.audiences);
            jwt.authorized_parties.clone_from(&j.authorized_parties);
            jwt.jwks_url.clone_from(&j.jwks_url);
            jwt.roles_claim.clone_from(&j.roles_claim);
            jwt.algorithms = j
                .algorithms
                .iter()
                .map(|a| {
                    a.parse()
                        .map_err(|_| anyhow::anyhow!("auth.jwt.algorithms: unknown algorithm {a}"))
                })
                .collect::<anyhow::Result<_>>()?;
            jwt.leeway = Duration::from_secs(j.leeway_seconds);
            jwt.jwks_cache_ttl = Duration::from_secs(j.jwks_cache_ttl_seconds);
            jwt.token_cache_ttl = Duration::from_secs(j.token_cache_ttl_seconds);
            jwt.token_cache_max_entries = j.token_cache_max_entries;
            Some(jwt)
        }
    };
    Ok(AuthConfig {
        jwt,
        gateway_headers: config.auth.gateway_headers,
    })
}

/// A started HTTP server, the gRPC server beside it and the background tasks (outbox relay,
/// job scheduler).
pub struct Running {
    pub http_addr: SocketAddr,
    pub server: Server,
    /// Already serving (at `grpc.addr`); stops when dropped.
    pub grpc: GrpcServer,
    /// The management port's server when `management.port` is set (already serving; stop it
    /// with its handle).
    pub management: Option<ManagementServer>,
    pub services: Services,
    /// Stop with `background.shutdown()` after the server stopped.
    pub background: Background,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("http_addr", &self.http_addr)
            .field("grpc_addr", &self.grpc.addr)
            .finish_non_exhaustive()
    }
}

impl Running {
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }
}

/// Opens the database, migrates when configured, wires everything, binds the HTTP port
/// (port 0 picks a free one) and starts the gRPC server. The returned HTTP server must be
/// awaited or spawned.
pub async fn start(config: &Config, overrides: Overrides) -> anyhow::Result<Running> {
    let db = open_database(config).await?;
    if config.database.run_migrations {
        adapters_postgres::migrate_up(&db)
            .await
            .context("cannot apply the database migrations")?;
    }
    let services = services(config, db.clone(), &overrides)?;
    startup_consistency_check(config, &services).await?;
    if let Some(amqp) = &services.amqp {
        // declares the exchange now; when the broker is down the relay connects later
        match amqp.connect().await {
            Ok(()) => tracing::info!(exchange = %config.broker.exchange, "connected to the broker"),
            Err(e) => {
                tracing::warn!(error = %e, "broker unavailable at start: events wait in the outbox")
            }
        }
    }
    // One authenticator (one JWKS cache, one token cache) for both edges; the issuer's keys
    // are shared with the other instances through the cache (Redis when configured).
    let auth =
        Authenticator::with_shared_cache(auth_config(config)?, Arc::clone(&services.cache.cache));
    let health = health_components(config, &db, &services, &auth);
    let grpc_health = health.clone();
    let trusted_proxies = config
        .trusted_proxies()
        .map_err(|e| anyhow::anyhow!("server.trusted_proxies: {e}"))?;
    let state = ApiState {
        events: services.events.clone(),
        categories: services.categories.clone(),
        crew: services.crew.clone(),
        bookings: services.bookings.clone(),
        payments: services.payments.clone(),
        favorites: services.favorites.clone(),
        reviews: services.reviews.clone(),
        idempotency: services.idempotency.clone(),
        promo_codes: services.promo_codes.clone(),
        loyalty: services.loyalty.clone(),
        admin: services.admin.clone(),
        waitlist: services.waitlist.clone(),
        jobs: services.jobs.clone(),
        read_cache: services.read_cache.clone(),
        health,
        rate_limits: services.rate_limits.clone(),
        info: adapters_http::actuator::InfoResponse {
            name: "backend-event".to_owned(),
            version: crate::build::version().to_owned(),
            profile: config.profile.clone(),
            database: if config.database_url().starts_with("sqlite:") {
                "sqlite".to_owned()
            } else {
                "postgresql".to_owned()
            },
            payment_gateways: services
                .gateways
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        },
        settings: HttpSettings {
            max_body_bytes: config.server.max_body_bytes,
            sandbox_enabled: services.gateways.get("sandbox").is_ok(),
            trusted_proxies: trusted_proxies.clone(),
            hsts: config.server.hsts,
            api_docs: config.server.api_docs,
            access_log: AccessLog {
                mode: AccessLogMode::parse(&config.logging.access).unwrap_or_default(),
                slow_request: Duration::from_millis(config.logging.slow_request_ms),
            },
        },
        observability: Observability {
            // `metrics.enabled = false`: no recorder at all (the facade's calls are no-ops)
            metrics: config
                .metrics
                .enabled
                .then(|| {
                    crate::observability::metrics_source(crate::observability::Scrape {
                        db: db.clone(),
                        max_connections: config.database.max_connections,
                        relay: services.relay.clone(),
                        uow: Arc::clone(&services.uow),
                        clock: Arc::clone(&services.clock),
                        version: crate::build::version(),
                        profile: config.profile.clone(),
                    })
                })
                .flatten(),
            log_levels: crate::telemetry::runtime_levels().map(|l| l as Arc<dyn LogLevels>),
        },
    };
    let authenticator: Arc<dyn Authenticate> = Arc::new(auth);
    let use_cases = adapters_grpc::UseCases {
        events: services.events.clone(),
        bookings: services.bookings.clone(),
        payments: services.payments.clone(),
        favorites: services.favorites.clone(),
        reviews: services.reviews.clone(),
        crew: services.crew.clone(),
    };
    let grpc = crate::grpc::start(
        config,
        use_cases,
        Arc::clone(&authenticator),
        trusted_proxies,
        grpc_health,
        services.rate_limits.clone(),
    )
    .await?;
    let listener = TcpListener::bind((config.server.host.as_str(), config.server.port))
        .with_context(|| {
            format!(
                "server.port: cannot listen on {}:{}",
                config.server.host, config.server.port
            )
        })?;
    let http_addr = listener.local_addr()?;
    let management = start_management(config, &state, &authenticator)?;
    let routes = adapters_http::configure(state, authenticator);
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::from_fn(adapters_http::rate_limit::middleware))
            .wrap(middleware::from_fn(adapters_http::access::middleware))
            .wrap(middleware::from_fn(
                adapters_http::security_headers::middleware,
            ))
            .wrap(middleware::from_fn(adapters_http::observe::middleware))
            .configure(routes.clone())
            .default_service(web::to(adapters_http::extract::not_found))
    })
    .shutdown_timeout(config.server.shutdown_timeout_seconds)
    .disable_signals();
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    let server = server.listen(listener)?.run();
    let mut background = Background::default();
    background.spawn_seat_flush(services.read_cache.clone());
    background.spawn_view_flush(
        services.events.clone(),
        Duration::from_secs(config.app.views.flush_interval_seconds),
    );
    if config.broker.relay_enabled {
        background.spawn_relay(
            services.relay.clone(),
            RelayLoop {
                poll_interval: Duration::from_millis(config.broker.relay_poll_interval_ms),
                batch_size: config.broker.relay_batch_size,
                max_backoff: Duration::from_millis(config.broker.relay_max_backoff_ms),
            },
        );
    }
    if config.jobs.scheduler_enabled {
        background.spawn_scheduler(&services.jobs)?;
        background.spawn_kicked(
            services.jobs.clone(),
            crate::jobs::PROCESS_REFUNDS,
            Arc::clone(&services.refund_kicks),
        );
    }
    Ok(Running {
        http_addr,
        server,
        grpc,
        management,
        services,
        background,
    })
}

/// `startup.consistency_check`: logs what the check finds, and with `fail` refuses to start
/// when it finds anything.
async fn startup_consistency_check(config: &Config, services: &Services) -> anyhow::Result<()> {
    let mode = config.startup.consistency_check;
    if mode == ConsistencyCheckMode::Off {
        return Ok(());
    }
    let report = services
        .consistency
        .check(false)
        .await
        .map_err(|e| anyhow::anyhow!("the consistency check at start failed: {e}"))?;
    for line in report.lines() {
        tracing::warn!(problem = %line, "consistency check");
    }
    let problems = report.problems();
    if problems == 0 {
        tracing::info!("consistency check: consistent");
    } else if mode == ConsistencyCheckMode::Fail {
        anyhow::bail!(
            "the consistency check found {problems} problem(s) and startup.consistency_check is \
             fail; see `backend-event check` (and `check --repair`)"
        );
    }
    Ok(())
}

/// The management port's server (`management.port`), already serving; `None` when off.
fn start_management(
    config: &Config,
    state: &ApiState,
    authenticator: &Arc<dyn Authenticate>,
) -> anyhow::Result<Option<ManagementServer>> {
    if config.management.port == 0 {
        return Ok(None);
    }
    let listener = TcpListener::bind((config.server.host.as_str(), config.management.port))
        .with_context(|| {
            format!(
                "management.port: cannot listen on {}:{}",
                config.server.host, config.management.port
            )
        })?;
    let addr = listener.local_addr()?;
    let routes = adapters_http::configure_management(state.clone(), Arc::clone(authenticator));
    let server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::from_fn(adapters_http::observe::middleware))
            .configure(routes.clone())
            .default_service(web::to(adapters_http::extract::not_found))
    })
    .workers(1)
    .shutdown_timeout(config.server.shutdown_timeout_seconds)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(Some(ManagementServer { addr, handle }))
}

/// The running management server.
#[derive(Clone)]
pub struct ManagementServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
}

impl std::fmt::Debug for ManagementServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
