//! What the workers record (latency histograms, status counts, refusals, failures) and the
//! summary a stream of requests turns into.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::client::{Failure, Reply};

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, 3 significant digits.
const HIGHEST_MICROS: u64 = 600_000_000;
/// At most this many examples of unexpected answers are kept per stream.
const MAX_SAMPLES: usize = 10;
/// An unexpected body is quoted up to this many characters.
const SAMPLE_CHARS: usize = 300;

/// What a stream of requests counts as success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Bookings: `201`; a `409` problem+json is a refusal (sold out…), anything else unexpected.
    Created,
    /// Reads: `200`; anything else unexpected.
    Ok,
}

/// One answer, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A `409` problem+json with its `code`.
    Refused(String),
    /// Anything else: a key to count it by and an example to show.
    Unexpected {
        key: String,
        sample: String,
    },
}

/// Whether the media type is `application/problem+json` (parameters allowed).
fn is_problem_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/problem+json"))
    })
}

/// The `code` of a problem document, if the body is one.
fn problem_code(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Problem {
        code: String,
    }
    serde_json::from_slice::<Problem>(body).ok().map(|p| p.code)
}

/// Judges an answer.
#[must_use]
pub fn classify(expect: Expect, reply: &Reply) -> Outcome {
    let success = match expect {
        Expect::Created => 201,
        Expect::Ok => 200,
    };
    if reply.status == success {
        return Outcome::Success;
    }
    let problem = is_problem_json(reply.content_type.as_deref());
    let code = if problem {
        problem_code(&reply.body)
    } else {
        None
    };
    if expect == Expect::Created
        && reply.status == 409
        && let Some(code) = &code
    {
        return Outcome::Refused(code.clone());
    }
    let key = match (&code, problem) {
        (Some(code), _) => format!("{} {code}", reply.status),
        (None, true) => format!("{} problem+json without a code", reply.status),
        (None, false) => format!(
            "{} {}",
            reply.status,
            reply.content_type.as_deref().unwrap_or("(no content type)")
        ),
    };
    let text = String::from_utf8_lossy(&reply.body);
    Outcome::Unexpected {
        key,
        sample: text.chars().take(SAMPLE_CHARS).collect(),
    }
}

/// What one worker recorded; merged into the stream's at the end.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Every answered request.
    latency: Histogram<u64>,
    /// Successful requests only.
    latency_success: Histogram<u64>,
    pub requests: u64,
    pub successes: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub refusals: BTreeMap<String, u64>,
    pub unexpected: BTreeMap<String, u64>,
    pub samples: Vec<String>,
    pub failures: BTreeMap<String, u64>,
    /// Successes per event id (bookings).
    pub successes_by_event: BTreeMap<i64, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

fn histogram() -> Histogram<u64> {
    // The bounds are constants that the library accepts (low ≥ 1, high ≥ 2·low, 3 digits).
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, HIGHEST_MICROS, 3).expect("valid histogram bounds")
}

impl Recorder {
    #[must_use]
    pub fn new() -> Self {
        Self {
            latency: histogram(),
            latency_success: histogram(),
            requests: 0,
            successes: 0,
            statuses: BTreeMap::new(),
            refusals: BTreeMap::new(),
            unexpected: BTreeMap::new(),
            samples: Vec::new(),
            failures: BTreeMap::new(),
            successes_by_event: BTreeMap::new(),
        }
    }

    /// Records an answer that took `elapsed`; `event` names the booked event, if any.
    pub fn answered(
        &mut self,
        outcome: Outcome,
        status: u16,
        elapsed: Duration,
        event: Option<i64>,
    ) {
        let micros = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.requests += 1;
        self.latency.saturating_record(micros);
        *self.statuses.entry(status).or_default() += 1;
        match outcome {
            Outcome::Success => {
                self.successes += 1;
                self.latency_success.saturating_record(micros);
                if let Some(event) = event {
                    *self.successes_by_event.entry(event).or_default() += 1;
                }
            }
            Outcome::Refused(code) => *self.refusals.entry(code).or_default() += 1,
            Outcome::Unexpected { key, sample } => {
                if self.samples.len() < MAX_SAMPLES && !self.unexpected.contains_key(&key) {
                    self.samples.push(format!("{key}: {sample}"));
                }
                *self.unexpected.entry(key).or_default() += 1;
            }
        }
    }

    /// Records a request that got no answer.
    pub fn failed(&mut self, failure: &Failure) {
        self.requests += 1;
        *self.failures.entry(failure.key()).or_default() += 1;
    }

    /// Adds `other`'s records to these.
    pub fn merge(&mut self, other: &Self) {
        // Both histograms have the same bounds, so adding never fails; saturate if it would.
        let _ = self.latency.add(&other.latency);
        let _ = self.latency_success.add(&other.latency_success);
        self.requests += other.requests;
        self.successes += other.successes;
        add_counts(&mut self.statuses, &other.statuses);
        add_counts(&mut self.refusals, &other.refusals);
        add_counts(&mut self.unexpected, &other.unexpected);
        add_counts(&mut self.failures, &other.failures);
        add_counts(&mut self.successes_by_event, &other.successes_by_event);
        for sample in &other.samples {
            if self.samples.len() < MAX_SAMPLES && !self.samples.contains(sample) {
                self.samples.push(sample.clone());
            }
        }
    }

    /// The summary of a stream that ran for `elapsed`.
    #[must_use]
    pub fn report(&self, name: &str, connections: usize, elapsed: Duration) -> StreamReport {
        let seconds = elapsed.as_secs_f64();
        let per_second = |n: u64| {
            if seconds > 0.0 {
                round(n as f64 / seconds, 1)
            } else {
                0.0
            }
        };
        StreamReport {
            name: name.to_owned(),
            connections,
            elapsed_s: round(seconds, 3),
            requests: self.requests,
            successes: self.successes,
            successes_per_s: per_second(self.successes),
            requests_per_s: per_second(self.requests),
            latency_ms: Latency::of(&self.latency),
            success_latency_ms: Latency::of(&self.latency_success),
            statuses: self
                .statuses
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            refusals: self.refusals.clone(),
            unexpected: self.unexpected.clone(),
            unexpected_samples: self.samples.clone(),
            failures: self.failures.clone(),
        }
    }
}

fn add_counts<K: Ord + Clone>(into: &mut BTreeMap<K, u64>, from: &BTreeMap<K, u64>) {
    for (k, n) in from {
        *into.entry(k.clone()).or_default() += n;
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// A latency distribution in milliseconds (recorded in microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// The summary of a histogram of microseconds (all zero when it is empty).
    #[must_use]
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |micros: u64| round(micros as f64 / 1000.0, 3);
        if h.is_empty() {
            return Self {
                count: 0,
                mean: 0.0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                max: 0.0,
            };
        }
        Self {
            count: h.len(),
            mean: round(h.mean() / 1000.0, 3),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// The figures of one stream of requests (the bookings, or the catalog reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamReport {
    pub name: String,
    pub connections: usize,
    pub elapsed_s: f64,
    /// Requests sent, answered or not.
    pub requests: u64,
    /// `201` for bookings, `200` for reads.
    pub successes: u64,
    pub successes_per_s: f64,
    pub requests_per_s: f64,
    /// Every answered request.
    pub latency_ms: Latency,
    /// Successful requests only.
    pub success_latency_ms: Latency,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<String, u64>,
    /// `409` problem+json answers by `code` (bookings).
    pub refusals: BTreeMap<String, u64>,
    /// Other answers by status and code or media type.
    pub unexpected: BTreeMap<String, u64>,
    pub unexpected_samples: Vec<String>,
    /// Requests without an answer (connect, timeout, transport), by kind.
    pub failures: BTreeMap<String, u64>,
}

impl StreamReport {
    #[must_use]
    pub fn unexpected_total(&self) -> u64 {
        self.unexpected.values().sum()
    }

    #[must_use]
    pub fn failures_total(&self) -> u64 {
        self.failures.values().sum()
    }

    #[must_use]
    pub fn refusals_total(&self) -> u64 {
        self.refusals.values().sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;

    use super::*;

    fn reply(status: u16, content_type: Option<&str>, body: &str) -> Reply {
        Reply {
            status,
            content_type: content_type.map(str::to_owned),
            body: Bytes::from(body.to_owned()),
        }
    }

    const PROBLEM: Option<&str> = Some("application/problem+json");

    #[test]
    fn answers_are_judged_by_status_media_type_and_code() {
        assert_eq!(
            classify(Expect::Created, &reply(201, None, "")),
            Outcome::Success
        );
        assert_eq!(
            classify(
                Expect::Created,
                &reply(409, PROBLEM, r#"{"code":"SOLD_OUT","status":409}"#)
            ),
            Outcome::Refused("SOLD_OUT".into())
        );
        assert_eq!(
            classify(
                Expect::Created,
                &reply(
                    409,
                    Some("Application/Problem+JSON; charset=utf-8"),
                    r#"{"code":"ALREADY_BOOKED"}"#
                )
            ),
            Outcome::Refused("ALREADY_BOOKED".into())
        );
        let Outcome::Unexpected { key, .. } = classify(
            Expect::Created,
            &reply(409, Some("application/json"), r#"{"code":"SOLD_OUT"}"#),
        ) else {
            unreachable!("a 409 that is not problem+json is unexpected")
        };
        assert_eq!(key, "409 application/json");
        let Outcome::Unexpected { key, sample } = classify(
            Expect::Created,
            &reply(500, PROBLEM, r#"{"code":"INTERNAL"}"#),
        ) else {
            unreachable!("a 500 is unexpected")
        };
        assert_eq!(key, "500 INTERNAL");
        assert!(sample.contains("INTERNAL"));
        let Outcome::Unexpected { key, .. } =
            classify(Expect::Created, &reply(502, None, "bad gateway"))
        else {
            unreachable!()
        };
        assert_eq!(key, "502 (no content type)");
        assert_eq!(
            classify(Expect::Ok, &reply(200, None, "")),
            Outcome::Success
        );
        assert!(matches!(
            classify(Expect::Ok, &reply(409, PROBLEM, r#"{"code":"SOLD_OUT"}"#)),
            Outcome::Unexpected { .. }
        ));
    }

    #[test]
    fn percentiles_come_from_the_recorded_latencies() {
        let mut r = Recorder::new();
        for ms in 1..=100u64 {
            r.answered(Outcome::Success, 201, Duration::from_millis(ms), Some(7));
        }
        let s = r.report("bookings", 4, Duration::from_secs(2));
        assert_eq!(s.requests, 100);
        assert_eq!(s.successes, 100);
        assert!((s.successes_per_s - 50.0).abs() < f64::EPSILON);
        assert_eq!(s.latency_ms.count, 100);
        // 3 significant digits: within 0.1 % of the exact percentile.
        assert!(
            (s.latency_ms.p50 - 50.0).abs() <= 0.05,
            "{:?}",
            s.latency_ms
        );
        assert!(
            (s.latency_ms.p90 - 90.0).abs() <= 0.09,
            "{:?}",
            s.latency_ms
        );
        assert!((s.latency_ms.p99 - 99.0).abs() <= 0.1, "{:?}", s.latency_ms);
        assert!(
            (s.latency_ms.max - 100.0).abs() <= 0.1,
            "{:?}",
            s.latency_ms
        );
        assert!(
            (s.latency_ms.mean - 50.5).abs() <= 0.1,
            "{:?}",
            s.latency_ms
        );
        assert_eq!(s.statuses["201"], 100);
    }

    #[test]
    fn an_empty_stream_summarises_to_zeros() {
        let s = Recorder::new().report("reads", 0, Duration::ZERO);
        assert_eq!(s.latency_ms.count, 0);
        assert!(s.latency_ms.p99.abs() < f64::EPSILON);
        assert!(s.requests_per_s.abs() < f64::EPSILON);
    }

    #[test]
    fn workers_merge_into_one_stream() {
        let mut a = Recorder::new();
        a.answered(Outcome::Success, 201, Duration::from_millis(2), Some(1));
        a.answered(
            Outcome::Refused("SOLD_OUT".into()),
            409,
            Duration::from_millis(1),
            Some(1),
        );
        let mut b = Recorder::new();
        b.answered(Outcome::Success, 201, Duration::from_millis(4), Some(2));
        b.answered(
            Outcome::Unexpected {
                key: "500 INTERNAL".into(),
                sample: "{}".into(),
            },
            500,
            Duration::from_millis(3),
            Some(2),
        );
        b.failed(&Failure::Timeout);
        a.merge(&b);
        let s = a.report("bookings", 2, Duration::from_secs(1));
        assert_eq!(s.requests, 5);
        assert_eq!(s.successes, 2);
        assert_eq!(s.latency_ms.count, 4);
        assert_eq!(s.success_latency_ms.count, 2);
        assert_eq!(s.refusals_total(), 1);
        assert_eq!(s.unexpected_total(), 1);
        assert_eq!(s.failures_total(), 1);
        assert_eq!(s.failures["timeout"], 1);
        assert_eq!(s.unexpected_samples, vec!["500 INTERNAL: {}".to_owned()]);
        assert_eq!(a.successes_by_event, BTreeMap::from([(1, 1), (2, 1)]));
        assert_eq!(
            s.statuses,
            BTreeMap::from([("201".into(), 2), ("409".into(), 1), ("500".into(), 1)])
        );
    }
}
