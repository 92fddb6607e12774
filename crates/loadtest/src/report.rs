//! The result of a run: the JSON document written to `--out` and the text printed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::checks::{Check, EventOutcome};
use crate::memory::ServiceMemory;
use crate::stats::StreamReport;

/// What the setup created or found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// The flash-sale events (fresh for every run).
    pub sale_events: Vec<i64>,
    /// How many published events the catalog readers read.
    pub catalog_events: usize,
    /// Of those, how many this run created (the rest were reused).
    pub catalog_events_created: usize,
    pub seconds: f64,
}

/// Everything a run measured and decided, with the options it ran with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub tool: String,
    pub version: String,
    pub scenario: String,
    pub started_at: DateTime<Utc>,
    pub url: String,
    /// The parsed options, defaults included.
    pub options: serde_json::Value,
    pub setup: Setup,
    /// `bookings` and/or `reads`.
    pub streams: Vec<StreamReport>,
    /// The flash-sale events read back after the run.
    pub events: Vec<EventOutcome>,
    /// With `--service-pid`: the service's memory during the load.
    pub service_memory: Option<ServiceMemory>,
    pub checks: Vec<Check>,
    pub passed: bool,
}

impl RunReport {
    /// The stream called `name`.
    #[must_use]
    pub fn stream(&self, name: &str) -> Option<&StreamReport> {
        self.streams.iter().find(|s| s.name == name)
    }
}

/// `target/loadtest/<scenario>-<UTC timestamp>.json`, relative to the working directory.
#[must_use]
pub fn default_out_path(scenario: &str, started_at: DateTime<Utc>) -> PathBuf {
    Path::new("target").join("loadtest").join(format!(
        "{scenario}-{}.json",
        started_at.format("%Y%m%dT%H%M%SZ")
    ))
}

/// Writes the report as pretty JSON, creating the directory.
///
/// # Errors
/// When the directory or the file cannot be written.
pub fn write_json(report: &RunReport, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(path, json)
}

fn counts<K: std::fmt::Display>(map: &std::collections::BTreeMap<K, u64>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report as printed at the end of a run.
#[must_use]
pub fn render_text(r: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "loadtest {} against {}", r.scenario, r.url);
    let _ = writeln!(
        out,
        "setup: {} flash-sale event(s) {:?}, {} catalog event(s) ({} created), {:.2} s",
        r.setup.sale_events.len(),
        r.setup.sale_events,
        r.setup.catalog_events,
        r.setup.catalog_events_created,
        r.setup.seconds
    );
    for s in &r.streams {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}: {} connections, {:.2} s",
            s.name, s.connections, s.elapsed_s
        );
        let _ = writeln!(
            out,
            "  successful  {:>9}  {:>10.1}/s",
            s.successes, s.successes_per_s
        );
        let _ = writeln!(
            out,
            "  requests    {:>9}  {:>10.1}/s",
            s.requests, s.requests_per_s
        );
        for (label, l) in [
            ("all", &s.latency_ms),
            ("successful", &s.success_latency_ms),
        ] {
            let _ = writeln!(
                out,
                "  latency ms ({label}): p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}",
                l.p50, l.p90, l.p99, l.max, l.mean
            );
        }
        let _ = writeln!(out, "  statuses    {}", counts(&s.statuses));
        if !s.refusals.is_empty() {
            let _ = writeln!(out, "  refusals    {}", counts(&s.refusals));
        }
        let _ = writeln!(out, "  unexpected  {}", counts(&s.unexpected));
        for sample in &s.unexpected_samples {
            let _ = writeln!(out, "    e.g. {sample}");
        }
        let _ = writeln!(out, "  errors      {}", counts(&s.failures));
    }
    if !r.events.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "events after the run:");
        for e in &r.events {
            let _ = writeln!(
                out,
                "  event {}: capacity {}, available {}, taken {}, 201 answers {}",
                e.id, e.capacity, e.available, e.taken, e.created
            );
        }
    }
    if let Some(m) = &r.service_memory {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "service (pid {}) memory during the load: RSS max {:.1} MiB, last {:.1} MiB ({} samples); peak since its start {:.1} MiB",
            m.pid,
            m.rss_max_kib as f64 / 1024.0,
            m.rss_last_kib as f64 / 1024.0,
            m.samples,
            m.hwm_kib as f64 / 1024.0
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "checks:");
    for c in &r.checks {
        let mark = if c.passed { "ok  " } else { "FAIL" };
        let _ = writeln!(out, "  [{mark}] {}: {}", c.name, c.detail);
    }
    let _ = writeln!(
        out,
        "result: {}",
        if r.passed { "PASSED" } else { "FAILED" }
    );
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::checks;
    use crate::cli::{Options, Scenario};
    use crate::stats::{Outcome, Recorder};

    fn sample() -> RunReport {
        let mut r = Recorder::new();
        for ms in [3, 5, 8] {
            r.answered(Outcome::Success, 201, Duration::from_millis(ms), Some(42));
        }
        r.answered(
            Outcome::Refused("SOLD_OUT".into()),
            409,
            Duration::from_millis(1),
            Some(42),
        );
        let bookings = r.report("bookings", 8, Duration::from_secs(2));
        let events = vec![EventOutcome::new(42, 3, 0, 3)];
        let checks = checks::flash_sale(&events, &bookings);
        RunReport {
            tool: "loadtest".into(),
            version: "0.1.0".into(),
            scenario: "flash-sale".into(),
            started_at: Utc.with_ymd_and_hms(2026, 12, 3, 13, 15, 0).unwrap(),
            url: "http://127.0.0.1:8102".into(),
            options: serde_json::to_value(Options::new(Scenario::FlashSale)).unwrap(),
            setup: Setup {
                sale_events: vec![42],
                catalog_events: 0,
                catalog_events_created: 0,
                seconds: 0.1,
            },
            passed: checks::all_passed(&checks),
            streams: vec![bookings],
            events,
            service_memory: Some(ServiceMemory {
                pid: 7,
                samples: 3,
                rss_max_kib: 40_960,
                rss_last_kib: 30_720,
                hwm_kib: 51_200,
            }),
            checks,
        }
    }

    #[test]
    fn the_json_result_holds_the_figures_and_the_options() {
        let report = sample();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["scenario"], "flash-sale");
        assert_eq!(json["options"]["scenario"], "flash-sale");
        assert_eq!(json["options"]["connections"], 64);
        assert_eq!(json["options"]["duration"], 10.0);
        assert_eq!(json["streams"][0]["successes"], 3);
        assert_eq!(json["streams"][0]["successes_per_s"], 1.5);
        assert_eq!(json["streams"][0]["requests_per_s"], 2.0);
        assert_eq!(json["streams"][0]["statuses"]["201"], 3);
        assert_eq!(json["streams"][0]["refusals"]["SOLD_OUT"], 1);
        let max = json["streams"][0]["latency_ms"]["max"].as_f64().unwrap();
        assert!((max - 8.0).abs() < 0.01, "{max}");
        assert_eq!(json["events"][0]["taken"], 3);
        assert_eq!(json["service_memory"]["rss_max_kib"], 40_960);
        assert_eq!(json["passed"], true);
        let back: RunReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn the_result_file_is_written_where_asked() {
        let dir = std::env::temp_dir().join(format!("loadtest-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("nested").join("run.json");
        write_json(&sample(), &path).unwrap();
        let back: RunReport = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(back, sample());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_default_path_names_the_scenario_and_the_time() {
        let at = Utc.with_ymd_and_hms(2026, 12, 3, 13, 15, 0).unwrap();
        assert_eq!(
            default_out_path("mixed", at),
            Path::new("target/loadtest/mixed-20261203T131500Z.json")
        );
    }

    #[test]
    fn the_text_shows_throughput_latency_statuses_and_verdicts() {
        let text = render_text(&sample());
        assert!(
            text.contains("successful          3         1.5/s"),
            "{text}"
        );
        assert!(text.contains("p99 8.00"), "{text}");
        assert!(text.contains("statuses    201: 3, 409: 1"), "{text}");
        assert!(text.contains("refusals    SOLD_OUT: 1"), "{text}");
        assert!(
            text.contains("[ok  ] event 42: 201 answers = seats taken"),
            "{text}"
        );
        assert!(
            text.contains("RSS max 40.0 MiB, last 30.0 MiB (3 samples)"),
            "{text}"
        );
        assert!(text.ends_with("result: PASSED\n"), "{text}");
    }
}
