//! The verdicts of a run: a flash sale sold exactly what it answered `201` for, nothing
//! beyond capacity, and refused everything else with a `409` problem+json; reads all answered.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::StreamReport;

/// A flash-sale event as read back after the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventOutcome {
    pub id: i64,
    /// `max_participants`.
    pub capacity: i64,
    /// `available_seats` after the run.
    pub available: i64,
    /// `capacity − available`.
    pub taken: i64,
    /// `201` answers for this event.
    pub created: u64,
}

impl EventOutcome {
    #[must_use]
    pub fn new(id: i64, capacity: i64, available: i64, created: u64) -> Self {
        Self {
            id,
            capacity,
            available,
            taken: capacity - available,
            created,
        }
    }
}

/// One verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

impl Check {
    fn new(name: impl Into<String>, passed: bool, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            passed,
            detail: detail.into(),
        }
    }
}

fn listed(counts: &BTreeMap<String, u64>) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{n} × {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The verdicts of a flash sale over `events`, from the booking stream's figures.
#[must_use]
pub fn flash_sale(events: &[EventOutcome], bookings: &StreamReport) -> Vec<Check> {
    let mut checks = Vec::new();
    for e in events {
        checks.push(Check::new(
            format!("event {}: 201 answers = seats taken", e.id),
            u64::try_from(e.taken).ok() == Some(e.created),
            format!(
                "{} × 201, {} seats taken (capacity {}, {} available)",
                e.created, e.taken, e.capacity, e.available
            ),
        ));
        let oversold = e.available < 0
            || e.taken > e.capacity
            || u64::try_from(e.capacity).map_or(true, |c| e.created > c);
        checks.push(Check::new(
            format!("event {}: not oversold", e.id),
            !oversold,
            format!(
                "available {} ≥ 0, {} booked ≤ capacity {}",
                e.available, e.created, e.capacity
            ),
        ));
    }
    let unexpected = bookings.unexpected_total();
    checks.push(Check::new(
        "every refusal is a 409 problem+json",
        unexpected == 0,
        if unexpected == 0 {
            format!(
                "{} refusals: {}",
                bookings.refusals_total(),
                if bookings.refusals.is_empty() {
                    "none".to_owned()
                } else {
                    listed(&bookings.refusals)
                }
            )
        } else {
            format!("also seen: {}", listed(&bookings.unexpected))
        },
    ));
    checks.push(no_failures(bookings));
    checks
}

/// The verdicts of the catalog reads: every read answered `200`.
#[must_use]
pub fn catalog(reads: &StreamReport) -> Vec<Check> {
    let unexpected = reads.unexpected_total();
    vec![
        Check::new(
            "every read answered 200",
            unexpected == 0,
            if unexpected == 0 {
                format!("{} × 200", reads.successes)
            } else {
                format!("also seen: {}", listed(&reads.unexpected))
            },
        ),
        no_failures(reads),
    ]
}

/// Every request of the stream got an answer: a lost answer also leaves the count of `201`s
/// unverifiable.
fn no_failures(stream: &StreamReport) -> Check {
    let failures = stream.failures_total();
    Check::new(
        format!("{}: every request answered", stream.name),
        failures == 0,
        if failures == 0 {
            "no connection failure or timeout".to_owned()
        } else {
            listed(&stream.failures)
        },
    )
}

/// Whether every check passed.
#[must_use]
pub fn all_passed(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.passed)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::client::Failure;
    use crate::stats::{Outcome, Recorder};

    fn bookings(created: u64, refused: u64) -> Recorder {
        let mut r = Recorder::new();
        for _ in 0..created {
            r.answered(Outcome::Success, 201, Duration::from_millis(1), Some(1));
        }
        for _ in 0..refused {
            r.answered(
                Outcome::Refused("SOLD_OUT".into()),
                409,
                Duration::from_millis(1),
                Some(1),
            );
        }
        r
    }

    fn report(r: &Recorder) -> StreamReport {
        r.report("bookings", 8, Duration::from_secs(1))
    }

    #[test]
    fn a_clean_sell_out_passes() {
        let r = bookings(50, 150);
        let checks = flash_sale(&[EventOutcome::new(1, 50, 0, 50)], &report(&r));
        assert!(all_passed(&checks), "{checks:#?}");
        assert_eq!(checks.len(), 4);
        assert!(
            checks[2].detail.contains("150 × SOLD_OUT"),
            "{}",
            checks[2].detail
        );
    }

    #[test]
    fn more_201s_than_seats_taken_fails_the_count() {
        let r = bookings(51, 0);
        let checks = flash_sale(&[EventOutcome::new(1, 60, 10, 51)], &report(&r));
        assert!(!checks[0].passed);
        assert!(checks[1].passed);
        assert!(!all_passed(&checks));
    }

    #[test]
    fn more_201s_than_capacity_is_oversold() {
        let r = bookings(51, 0);
        let checks = flash_sale(&[EventOutcome::new(1, 50, 0, 51)], &report(&r));
        assert!(!checks[1].passed, "{checks:#?}");
        let checks = flash_sale(&[EventOutcome::new(1, 50, -1, 51)], &report(&r));
        assert!(checks[0].passed && !checks[1].passed, "{checks:#?}");
    }

    #[test]
    fn anything_but_a_409_problem_fails_and_is_named() {
        let mut r = bookings(10, 0);
        r.answered(
            Outcome::Unexpected {
                key: "500 INTERNAL".into(),
                sample: String::new(),
            },
            500,
            Duration::from_millis(1),
            Some(1),
        );
        let checks = flash_sale(&[EventOutcome::new(1, 50, 40, 10)], &report(&r));
        let refusal = &checks[2];
        assert!(!refusal.passed);
        assert_eq!(refusal.detail, "also seen: 1 × 500 INTERNAL");
    }

    #[test]
    fn a_lost_answer_fails_the_run() {
        let mut r = bookings(10, 0);
        r.failed(&Failure::Timeout);
        let checks = flash_sale(&[EventOutcome::new(1, 50, 40, 10)], &report(&r));
        assert!(!checks[3].passed);
        assert_eq!(checks[3].detail, "1 × timeout");
    }

    #[test]
    fn each_event_is_checked_on_its_own() {
        let r = bookings(0, 0);
        let checks = flash_sale(
            &[
                EventOutcome::new(1, 10, 5, 5),
                EventOutcome::new(2, 10, 5, 4),
            ],
            &report(&r),
        );
        assert!(checks[0].passed && checks[1].passed);
        assert!(!checks[2].passed && checks[3].passed);
        assert!(checks[2].name.starts_with("event 2"));
    }

    #[test]
    fn reads_pass_only_when_all_answered_200() {
        let mut r = Recorder::new();
        r.answered(Outcome::Success, 200, Duration::from_millis(1), None);
        assert!(all_passed(&catalog(&r.report(
            "reads",
            1,
            Duration::from_secs(1)
        ))));
        r.answered(
            Outcome::Unexpected {
                key: "404 NOT_FOUND".into(),
                sample: String::new(),
            },
            404,
            Duration::from_millis(1),
            None,
        );
        let checks = catalog(&r.report("reads", 1, Duration::from_secs(1)));
        assert!(!checks[0].passed);
        assert_eq!(checks[0].detail, "also seen: 1 × 404 NOT_FOUND");
    }
}
