//! Configuration: `config/default.toml` → `config/<profile>.toml` → environment.
//!
//! The default and profile files are compiled in, so the binary runs with no files at all; a
//! `config/` directory next to the working directory (or `APP_CONFIG_DIR`) is layered on top.
//! Environment: `APP__SECTION__KEY` for every key, plus the seed's variables (`DATABASE_URL`,
//! `POSTGRES_*`, `*_SERVICE_URL`, `AMQP_URL`, `REDIS_URL`, `LOG_LEVEL`,
//! `AQUASTREAM_RATE_LIMIT_ENABLED`). Invalid values fail at
//! start with the key named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");
const PROFILES: &[(&str, &str)] = &[
    ("dev", include_str!("../../../config/dev.toml")),
    ("stage", include_str!("../../../config/stage.toml")),
    ("prod", include_str!("../../../config/prod.toml")),
    ("test", include_str!("../../../config/test.toml")),
];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The active profile (`dev`, `stage`, `prod`, `test`); set from `APP_PROFILE`.
    #[serde(default)]
    pub profile: String,
    pub server: ServerConfig,
    pub grpc: GrpcConfig,
    pub database: DatabaseSection,
    pub auth: AuthSection,
    pub app: AppSection,
    pub payments: PaymentsSection,
    pub services: ServicesSection,
    pub broker: BrokerSection,
    pub jobs: JobsSection,
    pub redis: RedisSection,
    pub cache: CacheSection,
    pub rate_limits: RateLimitsSection,
    pub logging: LoggingSection,
    pub management: ManagementSection,
    pub metrics: MetricsSection,
    pub otel: OtelSection,
    pub startup: StartupSection,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub public_base_url: String,
    pub max_body_bytes: usize,
    pub workers: usize,
    pub shutdown_timeout_seconds: u64,
    /// CIDR blocks of the proxies whose forwarding and gateway headers are believed.
    pub trusted_proxies: Vec<String>,
    /// Send `Strict-Transport-Security` (the service is reached over HTTPS only).
    pub hsts: bool,
    /// Serve `/api-docs/openapi.json` and `/docs` (on in dev and test, off elsewhere).
    pub api_docs: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    pub port: u16,
    pub health_interval_seconds: u64,
    /// A call running longer is cancelled (DEADLINE_EXCEEDED).
    pub request_timeout_seconds: u64,
    /// Calls served at once on one connection.
    pub max_concurrent_calls_per_connection: usize,
    /// Serve server reflection (dev and test; off elsewhere).
    pub reflection: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    pub url: String,
    pub sqlite_path: String,
    pub schema: String,
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout_seconds: u64,
    pub acquire_timeout_seconds: u64,
    pub run_migrations: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    pub gateway_headers: bool,
    #[serde(default)]
    pub jwt: Option<JwtSection>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSection {
    pub issuer: String,
    /// A token must name one of these in `aud` (empty: `aud` is not checked).
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
    /// When not empty, a token's `azp` must be one of these.
    #[serde(default)]
    pub authorized_parties: Vec<String>,
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// How long the JWKS each fetch writes to the shared cache lives there (0: not shared).
    #[serde(default = "default_jwks_cache_ttl")]
    pub jwks_cache_ttl_seconds: u64,
    /// How long a verified token is reused without verifying it again, never past its `exp`
    /// (0: every request is verified).
    #[serde(default = "default_token_cache_ttl")]
    pub token_cache_ttl_seconds: u64,
    /// Verified tokens remembered at most (0: no token cache).
    #[serde(default = "default_token_cache_max_entries")]
    pub token_cache_max_entries: u64,
}

fn default_audiences() -> Vec<String> {
    vec!["backend-event".to_owned()]
}

fn default_roles_claim() -> String {
    "realm_access.roles".to_owned()
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".to_owned()]
}

const fn default_leeway() -> u64 {
    30
}

const fn default_jwks_cache_ttl() -> u64 {
    24 * 60 * 60
}

const fn default_token_cache_ttl() -> u64 {
    60
}

const fn default_token_cache_max_entries() -> u64 {
    10_000
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    pub booking: BookingSection,
    pub waitlist: WaitlistSection,
    pub completion: CompletionSection,
    pub audit: AuditSection,
    pub idempotency: IdempotencySection,
    pub loyalty: LoyaltySection,
    pub views: ViewsSection,
}

/// Event detail views, counted in memory and written in batches.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ViewsSection {
    /// How often counted views are written (also on shutdown); a crash loses at most this
    /// long's views of the instance.
    pub flush_interval_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BookingSection {
    pub ttl_minutes: u32,
    pub expiration_check_interval_ms: u64,
    pub grace_period_minutes: u32,
    pub max_quantity: u32,
    /// Most seats one user holds in one event over its active bookings (seat hoarding).
    pub max_seats_per_user_per_event: u32,
    /// Most unpaid (PENDING_PAYMENT) seats one user holds over all events (seat hoarding).
    pub max_unpaid_seats_per_user: u32,
    pub batch: BookingBatchSection,
}

/// Placements of one event grouped into one transaction (`app.booking.batch`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BookingBatchSection {
    pub max_size: u32,
    pub max_wait_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WaitlistSection {
    pub notification_window_minutes: u32,
    pub cleanup_interval_minutes: u32,
    pub auto_process: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionSection {
    pub check_interval_cron: String,
    pub auto_complete: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    pub retain_days: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencySection {
    pub ttl_hours: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltySection {
    pub points_per_currency_unit: Decimal,
    pub review_points: u32,
    pub point_value: Decimal,
    pub max_redeem_share_percent: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsSection {
    pub default_gateway: String,
    /// Origins (`https://app.example`) a payment's `return_url` may point to.
    pub allowed_return_origins: Vec<String>,
    /// How far (seconds, either way) a webhook's signed timestamp may be from now; older or
    /// later webhooks are refused (replay protection).
    pub webhook_tolerance_seconds: u64,
    /// The gateways by name: `{ kind = "sandbox" | "http" | …, enabled = true, <the kind's
    /// settings> }`, built and checked by `adapters_payment::GatewayKinds`.
    pub gateways: BTreeMap<String, serde_json::Value>,
    pub refunds: RefundsSection,
}

/// Pending refunds, sent to the gateways by the process-refunds job after the transaction
/// that decided them committed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RefundsSection {
    /// Gateway calls in all before a refund that keeps meeting an unavailable gateway is
    /// FAILED (`admin.alert`); a refusal fails it at once.
    pub max_attempts: u32,
    /// The wait after the first unavailable answer, doubled each time, capped.
    pub retry_delay_seconds: u64,
    pub retry_max_delay_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesSection {
    pub crew: CrewEndpoint,
}

/// backend-crew (PRODUCT.md §9). An empty `url` means no crew service: crew requests wait
/// PENDING_RETRY until one is configured.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CrewEndpoint {
    pub url: String,
    /// Per call attempt.
    pub timeout_ms: u64,
    /// Immediate retries of a call that failed in transport.
    pub max_retries: u32,
    /// Attempts in all (the first included) before a crew request FAILS with an admin alert.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; doubled per further failure.
    pub retry_delay_seconds: u64,
    /// The longest wait between two attempts.
    pub retry_max_delay_seconds: u64,
    /// Consecutive unavailable calls that open the circuit (0 disables the breaker).
    pub breaker_threshold: u32,
    pub breaker_cooldown_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSection {
    pub url: String,
    pub exchange: String,
    /// Run the outbox relay in this instance.
    pub relay_enabled: bool,
    pub relay_poll_interval_ms: u64,
    pub relay_batch_size: u32,
    /// While the broker is down the relay waits longer between passes, up to this.
    pub relay_max_backoff_ms: u64,
    /// A row's retry delay: `retry_base_ms · 2^attempts` (half of it jitter), at most
    /// `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Sent outbox rows are deleted by the retention job after this many days.
    pub retain_sent_days: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSection {
    /// Run the scheduler in this instance (jobs can still be triggered over HTTP and the CLI).
    pub scheduler_enabled: bool,
    /// This instance's name in `job_runs`; empty = `HOSTNAME`, else `backend-event-<pid>`.
    pub instance: String,
    /// Items one run handles at most (the next run goes on).
    pub batch_size: u32,
    pub publish_scheduled_interval_seconds: u64,
    pub reminders_interval_seconds: u64,
    pub crew_retry_interval_seconds: u64,
    /// process-refunds: pending refunds and unreferenced payment intents.
    pub process_refunds_interval_seconds: u64,
    pub retention_interval_minutes: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// Empty = the in-process cache and rate limits.
    pub url: String,
    /// Put before every key (several services or environments may share one Redis).
    pub key_prefix: String,
    pub connect_timeout_ms: u64,
    /// One command's round trip; past it the call is served by the in-memory fallback.
    pub command_timeout_ms: u64,
    /// After a failure Redis is skipped this long before it is tried again.
    pub retry_interval_seconds: u64,
}

/// The read cache (PRODUCT.md §13 "Caching").
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// How long a cached entry lives at most.
    pub ttl_seconds: u64,
    /// The in-process cache's size (values and keys).
    pub memory_max_mb: u64,
    /// The TTL of entries cached in memory while a configured Redis is down.
    pub fallback_ttl_seconds: u64,
    /// The TTL of the stale copies of the catalog and details served while the database
    /// does not answer.
    pub stale_ttl_seconds: u64,
    /// How long an instance trusts a generation number read from the shared cache.
    pub generation_ttl_ms: u64,
    /// How often the events whose seat counts changed are invalidated.
    pub seat_flush_ms: u64,
}

/// Requests a minute per key (PRODUCT.md §13).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsSection {
    pub enabled: bool,
    /// Per user.
    pub booking_create_per_minute: u32,
    /// Per client: the user when authenticated, else the IP.
    pub event_list_per_minute: u32,
    /// Per user.
    pub promo_validate_per_minute: u32,
    /// Per payment gateway.
    pub webhook_per_minute: u32,
    /// Per IP.
    pub sandbox_page_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingSection {
    pub level: String,
    pub format: LogFormat,
    /// Access log: `all`, `errors` (answers ≥ 500) or `off`.
    pub access: String,
    /// Requests slower than this are logged whatever `access` says.
    pub slow_request_ms: u64,
}

/// OpenTelemetry traces.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtelSection {
    /// OTLP/gRPC collector (`http://otel-collector:4317`); empty = `OTEL_EXPORTER_OTLP_ENDPOINT`,
    /// and traces are off when neither is set.
    pub endpoint: String,
}

/// The management port: the actuator alone, without credentials, for scrapers and probes
/// inside the cluster.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementSection {
    /// 0 = off: the actuator is served on `server.port` only (metrics and loggers ADMIN-only).
    pub port: u16,
    /// The `diskSpace` health component (embedded SQLite) is DOWN when the volume of the
    /// database file has fewer free megabytes than this.
    pub disk_space_threshold_mb: u64,
}

/// Metrics recording.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// false: no recorder is installed, every `metrics::…!` call is a no-op and
    /// `/actuator/prometheus` answers 404 (to measure the recording's overhead).
    pub enabled: bool,
}

/// What the service does before it serves.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StartupSection {
    /// The consistency check at start (after the migrations).
    pub consistency_check: ConsistencyCheckMode,
}

/// `startup.consistency_check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsistencyCheckMode {
    /// No check.
    Off,
    /// Problems are logged (WARN, one line each); the service starts.
    Warn,
    /// Problems are logged and the service refuses to start.
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A configuration problem, naming the key.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Where values come from: the process environment in production, a map in tests.
pub trait EnvSource {
    fn var(&self, name: &str) -> Option<String>;
    /// Every `(name, value)`, for the `APP__` prefix.
    fn vars(&self) -> Vec<(String, String)>;
}

/// The real environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }

    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars().collect()
    }
}

/// A fixed environment (tests).
#[derive(Debug, Clone, Default)]
pub struct MapEnv(pub Vec<(String, String)>);

impl EnvSource for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.trim().is_empty())
    }

    fn vars(&self) -> Vec<(String, String)> {
        self.0.clone()
    }
}

impl Config {
    /// Loads the configuration from the process environment and `config/`.
    pub fn load() -> Result<Self, ConfigError> {
        let dir =
            std::env::var("APP_CONFIG_DIR").map_or_else(|_| PathBuf::from("config"), PathBuf::from);
        Self::load_from(&ProcessEnv, Some(&dir))
    }

    /// Loads with an explicit environment and optional override directory.
    pub fn load_from(env: &dyn EnvSource, dir: Option<&Path>) -> Result<Self, ConfigError> {
        let profile = env
            .var("APP_PROFILE")
            .or_else(|| env.var("SPRING_PROFILES_ACTIVE"))
            .unwrap_or_else(|| "dev".to_owned())
            .trim()
            .to_ascii_lowercase();
        let Some((_, profile_toml)) = PROFILES.iter().find(|(name, _)| *name == profile) else {
            return Err(ConfigError(format!(
                "APP_PROFILE: unknown profile `{profile}` (expected one of: {})",
                PROFILES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };

        let mut figment = Figment::new()
            .merge(Toml::string(DEFAULT_TOML))
            .merge(Toml::string(profile_toml));
        if let Some(dir) = dir {
            figment = figment
                .merge(Toml::file(dir.join("default.toml")))
                .merge(Toml::file(dir.join(format!("{profile}.toml"))));
        }
        figment = figment.merge(Serialized::default("profile", &profile));
        for (key, value) in seed_variables(env) {
            figment = figment.merge(Serialized::default(&key, value));
        }
        // The seed's switch of the rate limits (a boolean, so spelled as TOML).
        if let Some(enabled) = env.var("AQUASTREAM_RATE_LIMIT_ENABLED") {
            figment = figment.merge(Serialized::default(
                "rate_limits.enabled",
                env_value(&enabled.to_ascii_lowercase()),
            ));
        }
        // `APP__SERVER__PORT=8080` → server.port; the environment wins over every file.
        for (key, value) in env.vars() {
            let Some(rest) = key.strip_prefix("APP__") else {
                continue;
            };
            let path = rest
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
                .join(".");
            if !path.is_empty() {
                figment = figment.merge(Serialized::default(&path, env_value(&value)));
            }
        }

        let config: Self = figment.extract().map_err(|e| ConfigError(describe(&e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, why: &str| Err(ConfigError(format!("{key}: {why}")));
        if self.server.port == 0 {
            return fail("server.port", "must be between 1 and 65535");
        }
        if self.grpc.port == 0 {
            return fail("grpc.port", "must be between 1 and 65535");
        }
        if !(1..=3600).contains(&self.grpc.request_timeout_seconds) {
            return fail("grpc.request_timeout_seconds", "must be between 1 and 3600");
        }
        if !(1..=10_000).contains(&self.grpc.max_concurrent_calls_per_connection) {
            return fail(
                "grpc.max_concurrent_calls_per_connection",
                "must be between 1 and 10000",
            );
        }
        if adapters_http::observe::AccessLogMode::parse(&self.logging.access).is_none() {
            return fail("logging.access", "must be all, errors or off");
        }
        if self.management.port != 0
            && (self.management.port == self.server.port || self.management.port == self.grpc.port)
        {
            return fail(
                "management.port",
                "must differ from server.port and grpc.port (0 = off)",
            );
        }
        if !(1..=3600).contains(&self.grpc.health_interval_seconds) {
            return fail("grpc.health_interval_seconds", "must be between 1 and 3600");
        }
        if !self.server.public_base_url.starts_with("http://")
            && !self.server.public_base_url.starts_with("https://")
        {
            return fail("server.public_base_url", "must be an http(s) URL");
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.server.max_body_bytes) {
            return fail("server.max_body_bytes", "must be between 1024 and 16777216");
        }
        let url = self.database.url.trim();
        if !url.is_empty()
            && !url.starts_with("postgres://")
            && !url.starts_with("postgresql://")
            && !url.starts_with("sqlite:")
        {
            return fail(
                "database.url",
                "must start with postgres://, postgresql:// or sqlite:",
            );
        }
        if self.database.max_connections == 0
            || self.database.min_connections > self.database.max_connections
        {
            return fail(
                "database.max_connections",
                "must be ≥ 1 and ≥ database.min_connections",
            );
        }
        let b = &self.app.booking;
        if !(1..=24 * 60).contains(&b.ttl_minutes) {
            return fail("app.booking.ttl_minutes", "must be between 1 and 1440");
        }
        if b.expiration_check_interval_ms < 1000 {
            return fail("app.booking.expiration_check_interval_ms", "must be ≥ 1000");
        }
        if !(1..=100).contains(&b.max_quantity) {
            return fail("app.booking.max_quantity", "must be between 1 and 100");
        }
        if b.max_seats_per_user_per_event == 0 {
            return fail("app.booking.max_seats_per_user_per_event", "must be ≥ 1");
        }
        if b.max_unpaid_seats_per_user == 0 {
            return fail("app.booking.max_unpaid_seats_per_user", "must be ≥ 1");
        }
        if !(1..=1000).contains(&b.batch.max_size) {
            return fail("app.booking.batch.max_size", "must be between 1 and 1000");
        }
        if b.batch.max_wait_ms > 1000 {
            return fail("app.booking.batch.max_wait_ms", "must be ≤ 1000");
        }
        if self.app.waitlist.notification_window_minutes == 0 {
            return fail("app.waitlist.notification_window_minutes", "must be ≥ 1");
        }
        if self.app.waitlist.cleanup_interval_minutes == 0 {
            return fail("app.waitlist.cleanup_interval_minutes", "must be ≥ 1");
        }
        if self
            .app
            .completion
            .check_interval_cron
            .split_whitespace()
            .count()
            != 6
        {
            return fail(
                "app.completion.check_interval_cron",
                "must have 6 fields (sec min hour day month weekday)",
            );
        }
        if let Err(e) = self
            .app
            .completion
            .check_interval_cron
            .parse::<croner::Cron>()
        {
            return fail("app.completion.check_interval_cron", &e.to_string());
        }
        let broker = &self.broker;
        if broker.relay_batch_size == 0 || broker.relay_batch_size > 1000 {
            return fail("broker.relay_batch_size", "must be between 1 and 1000");
        }
        if broker.relay_poll_interval_ms == 0 || broker.relay_max_backoff_ms == 0 {
            return fail(
                "broker.relay_poll_interval_ms",
                "and broker.relay_max_backoff_ms must be ≥ 1",
            );
        }
        if broker.retry_base_ms == 0 || broker.retry_max_ms < broker.retry_base_ms {
            return fail(
                "broker.retry_base_ms",
                "must be ≥ 1 and ≤ broker.retry_max_ms",
            );
        }
        if broker.retain_sent_days == 0 {
            return fail("broker.retain_sent_days", "must be ≥ 1");
        }
        if self.payments.refunds.max_attempts == 0 {
            return fail("payments.refunds.max_attempts", "must be ≥ 1");
        }
        if self.payments.refunds.retry_delay_seconds == 0
            || self.payments.refunds.retry_max_delay_seconds
                < self.payments.refunds.retry_delay_seconds
        {
            return fail(
                "payments.refunds.retry_delay_seconds",
                "must be ≥ 1 and ≤ payments.refunds.retry_max_delay_seconds",
            );
        }
        let jobs = &self.jobs;
        if jobs.batch_size == 0 {
            return fail("jobs.batch_size", "must be ≥ 1");
        }
        if jobs.publish_scheduled_interval_seconds == 0
            || jobs.reminders_interval_seconds == 0
            || jobs.crew_retry_interval_seconds == 0
            || jobs.process_refunds_interval_seconds == 0
            || jobs.retention_interval_minutes == 0
        {
            return fail("jobs", "every interval must be ≥ 1");
        }
        if !(1..=300).contains(&self.app.views.flush_interval_seconds) {
            return fail(
                "app.views.flush_interval_seconds",
                "must be between 1 and 300",
            );
        }
        if self.app.audit.retain_days == 0 {
            return fail("app.audit.retain_days", "must be ≥ 1");
        }
        if self.app.idempotency.ttl_hours < 24 {
            return fail(
                "app.idempotency.ttl_hours",
                "must be ≥ 24 (keys are kept at least a day)",
            );
        }
        let l = &self.app.loyalty;
        if l.points_per_currency_unit.is_sign_negative() {
            return fail(
                "app.loyalty.points_per_currency_unit",
                "must not be negative",
            );
        }
        if l.point_value.is_sign_negative() || l.point_value.scale() > 2 {
            return fail(
                "app.loyalty.point_value",
                "must be a non-negative amount with at most 2 decimals",
            );
        }
        if l.max_redeem_share_percent > 100 {
            return fail(
                "app.loyalty.max_redeem_share_percent",
                "must be between 0 and 100",
            );
        }
        if let Err(e) = self.payment_gateways() {
            return Err(ConfigError(e.0));
        }
        if !(1..=86_400).contains(&self.payments.webhook_tolerance_seconds) {
            return fail(
                "payments.webhook_tolerance_seconds",
                "must be between 1 and 86400",
            );
        }
        let crew = &self.services.crew;
        if crew.timeout_ms == 0 {
            return fail("services.crew.timeout_ms", "must be ≥ 1");
        }
        if crew.max_attempts == 0 {
            return fail("services.crew.max_attempts", "must be ≥ 1");
        }
        if crew.retry_delay_seconds == 0 || crew.retry_max_delay_seconds < crew.retry_delay_seconds
        {
            return fail(
                "services.crew.retry_delay_seconds",
                "must be ≥ 1 and not above services.crew.retry_max_delay_seconds",
            );
        }
        if crew.url.trim().is_empty() && self.profile == "prod" {
            tracing::warn!(
                "services.crew.url is empty: crew requests stay PENDING_RETRY (set CREW_SERVICE_URL)"
            );
        }
        if let Some(jwt) = &self.auth.jwt {
            if !jwt.issuer.starts_with("http://") && !jwt.issuer.starts_with("https://") {
                return fail("auth.jwt.issuer", "must be an http(s) URL");
            }
            for alg in &jwt.algorithms {
                if !matches!(
                    alg.as_str(),
                    "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384"
                ) {
                    return fail(
                        "auth.jwt.algorithms",
                        "only asymmetric algorithms (RS*, PS*, ES256, ES384) are accepted",
                    );
                }
            }
        }
        let redis = self.redis.url.trim();
        if !redis.is_empty() && !redis.starts_with("redis://") && !redis.starts_with("rediss://") {
            return fail(
                "redis.url",
                "must start with redis:// or rediss:// (empty = in-process)",
            );
        }
        if self.redis.connect_timeout_ms == 0 || self.redis.command_timeout_ms == 0 {
            return fail(
                "redis.connect_timeout_ms",
                "and redis.command_timeout_ms must be ≥ 1",
            );
        }
        if self.cache.ttl_seconds == 0 || self.cache.fallback_ttl_seconds == 0 {
            return fail(
                "cache.ttl_seconds",
                "and cache.fallback_ttl_seconds must be ≥ 1",
            );
        }
        if self.cache.memory_max_mb == 0 {
            return fail("cache.memory_max_mb", "must be ≥ 1");
        }
        if self.cache.stale_ttl_seconds < self.cache.ttl_seconds {
            return fail("cache.stale_ttl_seconds", "must be ≥ cache.ttl_seconds");
        }
        // Seat counts in cached reads lag by at most these two together (PRODUCT.md §13: 2 s).
        if self
            .cache
            .seat_flush_ms
            .saturating_add(self.cache.generation_ttl_ms)
            > 2000
        {
            return fail(
                "cache.seat_flush_ms",
                "and cache.generation_ttl_ms together must be at most 2000 (seat counts may lag ≤ 2 s)",
            );
        }
        let r = &self.rate_limits;
        for (key, value) in [
            ("booking_create_per_minute", r.booking_create_per_minute),
            ("event_list_per_minute", r.event_list_per_minute),
            ("promo_validate_per_minute", r.promo_validate_per_minute),
            ("webhook_per_minute", r.webhook_per_minute),
            ("sandbox_page_per_minute", r.sandbox_page_per_minute),
        ] {
            if value == 0 {
                return fail(&format!("rate_limits.{key}"), "must be ≥ 1");
            }
        }
        if let Err(e) = self.trusted_proxies() {
            return fail("server.trusted_proxies", &e);
        }
        if self.auth.gateway_headers && self.server.trusted_proxies.is_empty() {
            return fail(
                "auth.gateway_headers",
                "is on but server.trusted_proxies is empty: the headers would never be read",
            );
        }
        self.validate_deployment()?;
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.logging.level) {
            return Err(ConfigError(format!("logging.level: {e}")));
        }
        Ok(())
    }

    /// Outside `dev` and `test` the service faces real callers: refuse to start (exit 78,
    /// the key named) on the test gateway, on a webhook secret anyone could know (empty,
    /// shorter than 32 bytes or a value shipped in this repository), and when nobody could
    /// ever authenticate.
    fn validate_deployment(&self) -> Result<(), ConfigError> {
        if self.is_development() {
            return Ok(());
        }
        let fail = |key: &str, why: &str| {
            Err(ConfigError(format!(
                "{key}: {why} (profile `{}`)",
                self.profile
            )))
        };
        for (name, section) in &self.payments.gateways {
            let field = |field: &str| section.get(field).and_then(serde_json::Value::as_str);
            if section.get("enabled") == Some(&serde_json::Value::Bool(false)) {
                continue;
            }
            if field("kind") == Some("sandbox") {
                return fail(
                    &format!("payments.gateways.{name}.kind"),
                    "the sandbox gateway settles payments without money; it is for dev and test \
                     only (set payments.gateways.{name}.enabled = false)",
                );
            }
            // A gateway that signs its webhooks needs a secret of this deployment's own.
            if let Some(secret) = field("webhook_secret") {
                let key = format!("payments.gateways.{name}.webhook_secret");
                if SHIPPED_SECRETS.contains(&secret.trim()) {
                    return fail(
                        &key,
                        "is empty or a value shipped with the service; set a secret",
                    );
                }
                if secret.len() < MIN_SECRET_BYTES {
                    return fail(&key, "must be at least 32 bytes");
                }
            }
        }
        if self.auth.jwt.is_none() && !self.auth.gateway_headers {
            return fail(
                "auth.jwt",
                "no authentication is configured (set auth.jwt.issuer, or enable \
                 auth.gateway_headers with server.trusted_proxies)",
            );
        }
        Ok(())
    }

    /// The enabled gateways of `payments.gateways`, built, with `payments.default_gateway` as
    /// the default.
    ///
    /// # Errors
    /// The first problem, naming its key.
    pub fn payment_gateways(
        &self,
    ) -> Result<
        application::ports::payment_gateway::PaymentGateways,
        adapters_payment::InvalidGatewayConfig,
    > {
        adapters_payment::GatewayKinds::builtin().build_all(
            &self.payments.gateways,
            &self.payments.default_gateway,
            &adapters_payment::GatewayContext {
                public_base_url: self.server.public_base_url.clone(),
            },
        )
    }

    /// `server.trusted_proxies`, parsed.
    ///
    /// # Errors
    /// The entry that is not an address or CIDR block.
    pub fn trusted_proxies(&self) -> Result<application::ports::TrustedProxies, String> {
        application::ports::TrustedProxies::parse(&self.server.trusted_proxies)
    }

    /// `dev` and `test`: the profiles that may run with the sandbox and shipped secrets.
    #[must_use]
    pub fn is_development(&self) -> bool {
        matches!(self.profile.as_str(), "dev" | "test")
    }

    /// The database URL in effect: the configured one, or the embedded SQLite file.
    #[must_use]
    pub fn database_url(&self) -> String {
        let url = self.database.url.trim();
        if url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.database.sqlite_path)
        } else {
            url.to_owned()
        }
    }
}

/// Secrets that ship in this repository (or are no secret at all): never accepted outside
/// `dev`/`test`.
const SHIPPED_SECRETS: &[&str] = &["", "sandbox-webhook-secret"];

/// The shortest webhook secret accepted outside `dev`/`test` (256 bits).
const MIN_SECRET_BYTES: usize = 32;

/// Turns an environment string into the TOML value it spells, so `APP__SERVER__PORT=8080`
/// is a number and `APP__AUTH__GATEWAY_HEADERS=true` a boolean.
fn env_value(raw: &str) -> figment::value::Value {
    let raw = raw.trim();
    raw.parse::<figment::value::Value>()
        .unwrap_or_else(|_| figment::value::Value::from(raw.to_owned()))
}

/// The seed's environment variables, as configuration keys.
fn seed_variables(env: &dyn EnvSource) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(url) = env.var("DATABASE_URL") {
        out.push(("database.url".to_owned(), url));
    } else if let Some(db) = env.var("POSTGRES_DB") {
        let user = env
            .var("POSTGRES_USER")
            .unwrap_or_else(|| "postgres".to_owned());
        let password = env.var("POSTGRES_PASSWORD");
        let host = env
            .var("POSTGRES_HOST")
            .unwrap_or_else(|| "localhost".to_owned());
        let port = env
            .var("POSTGRES_PORT")
            .unwrap_or_else(|| "5432".to_owned());
        let credentials = match password {
            Some(p) => format!("{}:{}", encode(&user), encode(&p)),
            None => encode(&user),
        };
        out.push((
            "database.url".to_owned(),
            format!("postgres://{credentials}@{host}:{port}/{db}"),
        ));
    }
    for (var, key) in [
        ("PAYMENT_SERVICE_URL", "payments.gateways.http.url"),
        ("CREW_SERVICE_URL", "services.crew.url"),
        ("AMQP_URL", "broker.url"),
        ("REDIS_URL", "redis.url"),
        ("LOG_LEVEL", "logging.level"),
    ] {
        if let Some(value) = env.var(var) {
            let value = if var == "LOG_LEVEL" {
                value.to_ascii_lowercase()
            } else {
                value
            };
            out.push((key.to_owned(), value));
        }
    }
    out
}

/// Percent-encodes a URL userinfo part.
fn encode(part: &str) -> String {
    part.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// figment's message, which names the key (`invalid type: … for key "server.port"`).
fn describe(err: &figment::Error) -> String {
    err.clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            if key.is_empty() {
                e.kind.to_string()
            } else {
                format!("{key}: {}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = MapEnv(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        Config::load_from(&env, None)
    }

    #[test]
    fn no_configuration_is_the_embedded_dev_default() {
        let c = load(&[]).unwrap();
        assert_eq!(c.profile, "dev");
        assert_eq!(c.server.port, 8102);
        assert_eq!(c.grpc.port, 9102);
        assert_eq!(c.database_url(), "sqlite://data/backend-event.db?mode=rwc");
        assert!(c.auth.gateway_headers);
        assert_eq!(c.payment_gateways().unwrap().names(), ["http", "sandbox"]);
        assert_eq!(c.payments.default_gateway, "sandbox");
        assert_eq!(c.broker.url, "");
        assert_eq!(c.app.booking.ttl_minutes, 5, "dev profile of seed 002");
        assert_eq!(c.app.waitlist.notification_window_minutes, 10);
        assert_eq!(c.app.audit.retain_days, 90);
    }

    /// What prod needs at least: a webhook secret of its own and an issuer.
    const PROD_SECRETS: &[(&str, &str)] = &[
        (
            "APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET",
            "0123456789abcdef0123456789abcdef",
        ),
        (
            "APP__AUTH__JWT__ISSUER",
            "https://keycloak.example/realms/a",
        ),
    ];

    fn with(
        base: &[(&'static str, &'static str)],
        more: &[(&'static str, &'static str)],
    ) -> Vec<(&'static str, &'static str)> {
        base.iter().chain(more).copied().collect()
    }

    #[test]
    fn the_jwt_key_and_token_caches_have_defaults_and_can_be_turned_off() {
        let prod = [("APP_PROFILE", "prod")];
        let jwt = load(&with(PROD_SECRETS, &prod)).unwrap().auth.jwt.unwrap();
        assert_eq!(
            (
                jwt.jwks_cache_ttl_seconds,
                jwt.token_cache_ttl_seconds,
                jwt.token_cache_max_entries
            ),
            (86_400, 60, 10_000)
        );
        let off = [
            ("APP_PROFILE", "prod"),
            ("APP__AUTH__JWT__JWKS_CACHE_TTL_SECONDS", "0"),
            ("APP__AUTH__JWT__TOKEN_CACHE_TTL_SECONDS", "0"),
            ("APP__AUTH__JWT__TOKEN_CACHE_MAX_ENTRIES", "5"),
        ];
        let jwt = load(&with(PROD_SECRETS, &off)).unwrap().auth.jwt.unwrap();
        assert_eq!(
            (
                jwt.jwks_cache_ttl_seconds,
                jwt.token_cache_ttl_seconds,
                jwt.token_cache_max_entries
            ),
            (0, 0, 5)
        );
    }

    #[test]
    fn prod_profile_turns_off_gateway_headers_and_the_sandbox() {
        for var in ["APP_PROFILE", "SPRING_PROFILES_ACTIVE"] {
            let c = load(&with(PROD_SECRETS, &[(var, "prod")])).unwrap();
            assert_eq!(c.profile, "prod");
            assert!(!c.auth.gateway_headers);
            assert_eq!(c.payment_gateways().unwrap().names(), ["http"]);
            assert_eq!(c.payments.default_gateway, "http");
            assert_eq!(c.app.booking.ttl_minutes, 30);
        }
    }

    #[test]
    fn hole_3_outside_dev_and_test_unsafe_settings_refuse_to_start() {
        for profile in ["prod", "stage"] {
            let p = [("APP_PROFILE", profile)];
            assert!(load(&with(PROD_SECRETS, &p)).is_ok(), "{profile}");
            let cases: &[(&[(&str, &str)], &str)] = &[
                (
                    &[("APP__PAYMENTS__GATEWAYS__SANDBOX__ENABLED", "true")],
                    "payments.gateways.sandbox.kind",
                ),
                (
                    &[("APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET", "")],
                    "payments.gateways.http.webhook_secret",
                ),
                (
                    &[(
                        "APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET",
                        "short-secret",
                    )],
                    "payments.gateways.http.webhook_secret",
                ),
                (
                    &[(
                        "APP__PAYMENTS__GATEWAYS__HTTP__WEBHOOK_SECRET",
                        "sandbox-webhook-secret",
                    )],
                    "payments.gateways.http.webhook_secret",
                ),
            ];
            for (vars, key) in cases {
                let all = with(&with(PROD_SECRETS, &p), vars);
                let err = load(&all).unwrap_err().to_string();
                assert!(
                    err.contains(key),
                    "{profile} {vars:?}: `{err}` does not name {key}"
                );
            }
            // No issuer and no gateway headers: nobody could authenticate.
            let err = load(&[
                ("APP_PROFILE", profile),
                ("APP__AUTH__GATEWAY_HEADERS", "false"),
                (PROD_SECRETS[0].0, PROD_SECRETS[0].1),
            ])
            .unwrap_err()
            .to_string();
            assert!(err.contains("auth.jwt"), "{profile}: {err}");
        }
        // dev and test keep their conveniences.
        assert!(load(&[("APP_PROFILE", "dev")]).is_ok());
        assert!(load(&[("APP_PROFILE", "test")]).is_ok());
    }

    #[test]
    fn environment_overrides_files() {
        let c = load(&[
            ("APP__SERVER__PORT", "9000"),
            ("APP__GRPC__PORT", "9001"),
            ("APP__APP__BOOKING__TTL_MINUTES", "15"),
            ("APP__AUTH__GATEWAY_HEADERS", "false"),
            ("PAYMENT_SERVICE_URL", "http://payments:1"),
            ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            ("LOG_LEVEL", "DEBUG"),
        ])
        .unwrap();
        assert_eq!(c.server.port, 9000);
        assert_eq!(c.grpc.port, 9001);
        assert_eq!(c.app.booking.ttl_minutes, 15);
        assert!(!c.auth.gateway_headers);
        assert_eq!(
            c.payments.gateways["http"]["url"],
            serde_json::json!("http://payments:1")
        );
        assert_eq!(c.broker.url, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(c.logging.level, "debug");
    }

    #[test]
    fn redis_and_rate_limits_come_from_the_seed_variables_and_app_keys() {
        let c = load(&[]).unwrap();
        assert_eq!(c.redis.url, "", "in-process by default");
        assert!(c.rate_limits.enabled);
        assert_eq!(c.rate_limits.booking_create_per_minute, 10);
        assert_eq!(c.rate_limits.event_list_per_minute, 100);
        assert_eq!(c.rate_limits.promo_validate_per_minute, 20);
        assert_eq!(c.cache.ttl_seconds, 300);
        let c = load(&[
            ("REDIS_URL", "redis://cache:6379/0"),
            ("AQUASTREAM_RATE_LIMIT_ENABLED", "FALSE"),
            ("APP__RATE_LIMITS__BOOKING_CREATE_PER_MINUTE", "3"),
        ])
        .unwrap();
        assert_eq!(c.redis.url, "redis://cache:6379/0");
        assert!(!c.rate_limits.enabled);
        assert_eq!(c.rate_limits.booking_create_per_minute, 3);
        let c = load(&[("APP__RATE_LIMITS__ENABLED", "false")]).unwrap();
        assert!(!c.rate_limits.enabled);
    }

    #[test]
    fn database_url_and_the_seed_postgres_variables_select_postgresql() {
        let c = load(&[("DATABASE_URL", "postgres://u:p@db:5432/x")]).unwrap();
        assert_eq!(c.database_url(), "postgres://u:p@db:5432/x");
        let c = load(&[
            ("POSTGRES_USER", "aquastream"),
            ("POSTGRES_PASSWORD", "p@ss word"),
            ("POSTGRES_DB", "aquastream"),
            ("POSTGRES_HOST", "postgres"),
        ])
        .unwrap();
        assert_eq!(
            c.database_url(),
            "postgres://aquastream:p%40ss%20word@postgres:5432/aquastream"
        );
    }

    #[test]
    fn invalid_values_fail_naming_the_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("APP__SERVER__PORT", "abc")], "server.port"),
            (&[("APP__SERVER__PORT", "70000")], "server.port"),
            (&[("APP__SERVER__PORT", "0")], "server.port"),
            (
                &[("APP__APP__BOOKING__TTL_MINUTES", "0")],
                "app.booking.ttl_minutes",
            ),
            (
                &[("APP__APP__BOOKING__MAX_QUANTITY", "-1")],
                "app.booking.max_quantity",
            ),
            (
                &[("APP__APP__BOOKING__BATCH__MAX_SIZE", "0")],
                "app.booking.batch.max_size",
            ),
            (
                &[("APP__APP__BOOKING__BATCH__MAX_WAIT_MS", "5000")],
                "app.booking.batch.max_wait_ms",
            ),
            (&[("APP__SERVER__NOPE", "1")], "nope"),
            (&[("DATABASE_URL", "mysql://x")], "database.url"),
            (&[("APP_PROFILE", "qa")], "APP_PROFILE"),
            (
                &[("APP__PAYMENTS__DEFAULT_GATEWAY", "paypal")],
                "payments.default_gateway",
            ),
            (&[("APP__LOGGING__FORMAT", "xml")], "logging.format"),
            (&[("APP__LOGGING__ACCESS", "verbose")], "logging.access"),
            (&[("APP__MANAGEMENT__PORT", "8102")], "management.port"),
            (
                &[("APP__APP__LOYALTY__POINT_VALUE", "0.001")],
                "app.loyalty.point_value",
            ),
            (
                &[("APP__APP__COMPLETION__CHECK_INTERVAL_CRON", "hourly")],
                "check_interval_cron",
            ),
            (&[("REDIS_URL", "http://cache:6379")], "redis.url"),
            (
                &[("APP__RATE_LIMITS__EVENT_LIST_PER_MINUTE", "0")],
                "rate_limits.event_list_per_minute",
            ),
            (&[("APP__CACHE__TTL_SECONDS", "0")], "cache.ttl_seconds"),
            (
                &[("AQUASTREAM_RATE_LIMIT_ENABLED", "maybe")],
                "rate_limits.enabled",
            ),
        ];
        for (vars, key) in cases {
            let err = load(vars).unwrap_err().to_string();
            assert!(err.contains(key), "{vars:?}: `{err}` does not name {key}");
        }
    }
}

/// Every key of `config/default.toml` must be used by the service, not only accepted: a key
/// nothing reads (as `redis.url` once was) fails this test. "Read" means its field is accessed
/// (`.leaf`) in the wiring outside this file, or by one of the accessors below; validation
/// alone does not count.
#[cfg(test)]
mod every_key_is_read {
    use std::collections::BTreeMap;

    use figment::value::{Dict, Value};

    use super::*;

    /// Keys this file itself turns into what the service uses.
    const READ_HERE: &[(&str, &str)] = &[
        ("database.url", "database_url()"),
        ("database.sqlite_path", "database_url()"),
        ("server.trusted_proxies", "trusted_proxies()"),
        ("server.public_base_url", "payment_gateways()"),
        ("payments.default_gateway", "payment_gateways()"),
    ];

    fn flatten(prefix: &str, dict: &Dict, out: &mut BTreeMap<String, String>) {
        for (key, value) in dict {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                Value::Dict(_, inner) => flatten(&path, inner, out),
                _ => {
                    out.insert(path, key.clone());
                }
            }
        }
    }

    fn wiring_sources() -> String {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut text = String::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "config.rs")
            {
                text.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
        text
    }

    fn accessed(sources: &str, leaf: &str) -> bool {
        let needle = format!(".{leaf}");
        sources.match_indices(&needle).any(|(at, _)| {
            sources[at + needle.len()..]
                .chars()
                .next()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'))
        })
    }

    #[test]
    fn every_key_in_default_toml_is_read_by_the_code() {
        let dict: Dict = Figment::from(Toml::string(DEFAULT_TOML)).extract().unwrap();
        let mut keys = BTreeMap::new();
        flatten("", &dict, &mut keys);
        assert!(keys.len() > 50, "{keys:?}");
        let sources = wiring_sources();
        let unread: Vec<&String> = keys
            .iter()
            .filter(|(path, leaf)| {
                !READ_HERE.iter().any(|(k, _)| k == path)
                    && !path.starts_with("payments.gateways.")
                    && !accessed(&sources, leaf)
            })
            .map(|(path, _)| path)
            .collect();
        assert!(
            unread.is_empty(),
            "keys of config/default.toml nothing reads: {unread:?}"
        );
    }

    /// The gateways' sections are read by their kinds (`deny_unknown_fields`): every gateway
    /// of default.toml, switched on, builds, so each of its keys is one its kind takes.
    #[test]
    fn every_gateway_section_in_default_toml_builds() {
        let mut config = load_default_with_every_gateway_enabled();
        let names: Vec<String> = config.payments.gateways.keys().cloned().collect();
        assert!(names.len() >= 2, "{names:?}");
        for name in names {
            config.payments.default_gateway.clone_from(&name);
            let built = config.payment_gateways().unwrap();
            assert_eq!(built.names().len(), config.payments.gateways.len());
        }
        // …and a key no kind takes would not.
        let http = config.payments.gateways.get_mut("http").unwrap();
        http["resilience"]["nope"] = serde_json::json!(1);
        assert!(config.payment_gateways().is_err());
    }

    fn load_default_with_every_gateway_enabled() -> Config {
        let mut config: Config = Figment::from(Toml::string(DEFAULT_TOML))
            .merge(Serialized::default("profile", "dev"))
            .extract()
            .unwrap();
        for section in config.payments.gateways.values_mut() {
            section["enabled"] = serde_json::json!(true);
        }
        config
    }

    #[test]
    fn the_check_finds_a_key_nobody_reads() {
        let sources = "let x = config.redis.url; let y = c.port_number;";
        assert!(accessed(sources, "url"));
        assert!(
            !accessed(sources, "port"),
            "a prefix of another name is not a read"
        );
        assert!(!accessed(sources, "key_prefix"));
    }
}
