//! Logging: `tracing` to stdout, JSON (one object per line, with the fields of the current
//! span — the HTTP request span carries `request_id`, and `trace_id` when the caller sent a
//! `traceparent`) or human-readable.
//!
//! The filter sits behind a reload layer, so `/actuator/loggers` changes it in the running
//! process ([`RuntimeLevels`]).
//!
//! Traces: when an OTLP endpoint is configured (`otel.endpoint`, else the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT`), spans are exported over OTLP/gRPC (batched) and the W3C
//! trace context is read from incoming requests; otherwise no OpenTelemetry layer exists.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use adapters_http::LogLevels;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config::LogFormat;

/// The spans exported as traces: this service's own at INFO (the request, the publish, …),
/// whatever the log level.
const TRACE_FILTER: &str = "info";

/// Span targets that exist for the traces only: the use cases (`application::…`), the SQL
/// statements (`sea_orm::…`) and the outbound HTTP calls (`resilient_http::…`). The log lines never see them, so a line logged inside one still
/// carries the fields of the request's span (`request_id`, `trace_id`), and with traces off
/// they are disabled at their call sites (no cost).
const TRACE_ONLY_SPAN_TARGETS: &[&str] = &["application::", "sea_orm::", "resilient_http"];

fn is_trace_only_span(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.is_span()
        && TRACE_ONLY_SPAN_TARGETS
            .iter()
            .any(|prefix| metadata.target().starts_with(prefix))
}

/// The log layer's filter: the run-time level filter, minus the trace-only spans. Written out
/// (not `FilterExt::and`) so the level filter's max-level hint stays in force: without it a
/// level removed at run time kept its callsites enabled.
struct WithoutTraceOnlySpans<F>(F);

impl<S, F> tracing_subscriber::layer::Filter<S> for WithoutTraceOnlySpans<F>
where
    F: tracing_subscriber::layer::Filter<S>,
{
    fn enabled(
        &self,
        metadata: &tracing::Metadata<'_>,
        cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        !is_trace_only_span(metadata) && self.0.enabled(metadata, cx)
    }

    fn callsite_enabled(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if is_trace_only_span(metadata) {
            tracing::subscriber::Interest::never()
        } else {
            self.0.callsite_enabled(metadata)
        }
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.0.max_level_hint()
    }

    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        self.0.event_enabled(event, cx)
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        cx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.on_new_span(attrs, id, cx);
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        cx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.on_record(id, values, cx);
    }

    fn on_enter(&self, id: &tracing::span::Id, cx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_enter(id, cx);
    }

    fn on_exit(&self, id: &tracing::span::Id, cx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_exit(id, cx);
    }

    fn on_close(&self, id: tracing::span::Id, cx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_close(id, cx);
    }
}

/// The spans of SQL statements (sea-orm's `sea_orm.*` spans, with `db.system` and
/// `db.operation`) are exported only inside a traced operation (a request, a use case, a job
/// run): the outbox relay's polling and other background statements would otherwise make a
/// trace of their own every few hundred milliseconds.
#[derive(Debug, Clone, Copy)]
struct StatementsWithinATrace;

fn is_statement_span(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.is_span() && metadata.target().starts_with("sea_orm::")
}

impl<S> tracing_subscriber::layer::Filter<S> for StatementsWithinATrace
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn enabled(
        &self,
        metadata: &tracing::Metadata<'_>,
        cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        !is_statement_span(metadata) || cx.lookup_current().is_some()
    }

    fn callsite_enabled(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if is_statement_span(metadata) {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::always()
        }
    }

    /// Any level: combined with the trace filter (`and`), whose own hint then stays in force.
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
}

const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// The filter in force, kept as directives so one target can be changed alone.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Directives {
    root: String,
    targets: BTreeMap<String, String>,
    /// Directives this module does not take apart (span filters), kept as written.
    other: Vec<String>,
}

impl Directives {
    fn parse(text: &str) -> Self {
        let mut parsed = Self {
            root: "info".to_owned(),
            targets: BTreeMap::new(),
            other: Vec::new(),
        };
        for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                None if LEVELS.contains(&directive.to_ascii_lowercase().as_str()) => {
                    parsed.root = directive.to_ascii_lowercase();
                }
                Some((target, level))
                    if valid_target(target)
                        && LEVELS.contains(&level.to_ascii_lowercase().as_str()) =>
                {
                    parsed
                        .targets
                        .insert(target.to_owned(), level.to_ascii_lowercase());
                }
                _ => parsed.other.push(directive.to_owned()),
            }
        }
        parsed
    }

    fn render(&self) -> String {
        std::iter::once(self.root.clone())
            .chain(self.other.iter().cloned())
            .chain(self.targets.iter().map(|(t, l)| format!("{t}={l}")))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn valid_target(target: &str) -> bool {
    !target.is_empty()
        && target.len() <= 200
        && target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-'))
}

/// The log filter of this process, changeable at run time.
pub struct RuntimeLevels {
    handle: reload::Handle<EnvFilter, Registry>,
    directives: Mutex<Directives>,
}

impl std::fmt::Debug for RuntimeLevels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeLevels").finish_non_exhaustive()
    }
}

impl LogLevels for RuntimeLevels {
    fn levels(&self) -> Vec<(String, String)> {
        let d = self
            .directives
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::iter::once(("ROOT".to_owned(), d.root.clone()))
            .chain(d.targets.iter().map(|(t, l)| (t.clone(), l.clone())))
            .collect()
    }

    fn set(&self, target: &str, level: Option<&str>) -> Result<(), String> {
        let level = level.map(str::to_ascii_lowercase);
        if let Some(level) = &level
            && !LEVELS.contains(&level.as_str())
        {
            return Err(format!(
                "unknown level `{level}`: one of {}",
                LEVELS.join(", ")
            ));
        }
        let mut d = self
            .directives
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = d.clone();
        match (target, level) {
            ("ROOT", Some(level)) => next.root = level,
            ("ROOT", None) => return Err("ROOT always has a level".to_owned()),
            (target, _) if !valid_target(target) => {
                return Err(format!(
                    "`{target}` is not a log target (letters, digits, `_`, `-`, `::`)"
                ));
            }
            (target, Some(level)) => {
                next.targets.insert(target.to_owned(), level);
            }
            (target, None) => {
                next.targets.remove(target);
            }
        }
        let filter = EnvFilter::try_new(next.render()).map_err(|e| e.to_string())?;
        self.handle.reload(filter).map_err(|e| e.to_string())?;
        *d = next;
        Ok(())
    }
}

static INSTALLED: OnceLock<Option<Arc<RuntimeLevels>>> = OnceLock::new();
static TRACER_PROVIDER: OnceLock<opentelemetry_sdk::trace::SdkTracerProvider> = OnceLock::new();

/// The OTLP endpoint traces go to: `otel.endpoint`, else `OTEL_EXPORTER_OTLP_ENDPOINT`.
#[must_use]
pub fn otlp_endpoint(configured: &str) -> Option<String> {
    let configured = configured.trim();
    if !configured.is_empty() {
        return Some(configured.to_owned());
    }
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// The OTLP exporter and its provider (must run inside the tokio runtime: the tonic client
/// lives there).
fn tracer_provider(endpoint: &str) -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
    {
        Ok(exporter) => exporter,
        Err(e) => {
            // the subscriber is not installed yet
            #[allow(clippy::print_stderr)]
            {
                eprintln!("warning: OTLP exporter not started ({endpoint}): {e}");
            }
            return None;
        }
    };
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("backend-event");
    }
    Some(
        opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build(),
    )
}

/// Sends the spans still buffered (tests; shutdown).
pub fn flush_traces() {
    if let Some(provider) = TRACER_PROVIDER.get() {
        let _ = provider.force_flush();
    }
}

/// Installs the global subscriber; a second call (tests) keeps the first. The answer changes
/// the filter at run time; `None` when another subscriber was installed first. With an OTLP
/// endpoint, call it inside the tokio runtime.
pub fn init(level: &str, format: LogFormat) -> Option<Arc<RuntimeLevels>> {
    init_with_traces(level, format, None)
}

/// [`init`], exporting traces to `otlp_endpoint` when given.
pub fn init_with_traces(
    level: &str,
    format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> Option<Arc<RuntimeLevels>> {
    INSTALLED
        .get_or_init(|| {
            let mut directives = Directives::parse(level);
            let filter = EnvFilter::try_new(directives.render()).unwrap_or_else(|_| {
                directives = Directives::parse("info");
                EnvFilter::new("info")
            });
            let (filter, handle) = reload::Layer::new(filter);
            // the log filter applies to the log lines only; spans exported as traces have
            // their own (TRACE_FILTER), so a quiet log does not empty the traces
            let logs: Box<dyn Layer<Registry> + Send + Sync> = match format {
                LogFormat::Json => tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .flatten_event(true)
                    .with_span_events(FmtSpan::NONE)
                    .with_target(true)
                    .boxed(),
                LogFormat::Pretty => tracing_subscriber::fmt::layer()
                    .with_span_events(FmtSpan::NONE)
                    .with_target(true)
                    .boxed(),
            };
            let otel = otlp_endpoint.and_then(tracer_provider).map(|provider| {
                use opentelemetry::trace::TracerProvider as _;
                let tracer = provider.tracer("backend-event");
                let _ = TRACER_PROVIDER.set(provider);
                opentelemetry::global::set_text_map_propagator(
                    opentelemetry_sdk::propagation::TraceContextPropagator::new(),
                );
                adapters_http::observe::enable_trace_context();
                adapters_grpc::metrics::enable_trace_context();
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(EnvFilter::new(TRACE_FILTER).and(StatementsWithinATrace))
            });
            tracing_subscriber::registry()
                .with(logs.with_filter(WithoutTraceOnlySpans(filter)))
                .with(otel)
                .try_init()
                .ok()?;
            Some(Arc::new(RuntimeLevels {
                handle,
                directives: Mutex::new(directives),
            }))
        })
        .clone()
}

/// The run-time filter, when this process installed the subscriber.
#[must_use]
pub fn runtime_levels() -> Option<Arc<RuntimeLevels>> {
    INSTALLED.get().cloned().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_split_into_root_targets_and_the_rest() {
        let d = Directives::parse("backend_event=debug, warn,sqlx::query=TRACE,[span]=info");
        assert_eq!(d.root, "warn");
        assert_eq!(
            d.targets.get("backend_event").map(String::as_str),
            Some("debug")
        );
        assert_eq!(
            d.targets.get("sqlx::query").map(String::as_str),
            Some("trace")
        );
        assert_eq!(d.other, ["[span]=info"]);
        assert_eq!(
            d.render(),
            "warn,[span]=info,backend_event=debug,sqlx::query=trace"
        );
    }

    #[test]
    fn the_running_filter_changes_one_target_at_a_time() {
        let (_layer, handle) = reload::Layer::<EnvFilter, Registry>::new(EnvFilter::new("info"));
        let levels = RuntimeLevels {
            handle,
            directives: Mutex::new(Directives::parse("info")),
        };
        levels.set("sqlx::query", Some("debug")).unwrap();
        levels.set("ROOT", Some("WARN")).unwrap();
        assert_eq!(
            levels.levels(),
            [
                ("ROOT".to_owned(), "warn".to_owned()),
                ("sqlx::query".to_owned(), "debug".to_owned())
            ]
        );
        assert!(levels.set("sqlx::query", Some("loud")).is_err());
        assert!(levels.set("a b", Some("info")).is_err());
        assert!(levels.set("ROOT", None).is_err());
        levels.set("sqlx::query", None).unwrap();
        assert_eq!(levels.levels().len(), 1);
    }
}
