//! Crew assignment bookkeeping (PRODUCT.md §9): the states of one request to backend-crew and
//! the retry schedule used while backend-crew is unavailable.

use chrono::Duration;

use crate::Timestamp;

text_enum! {
    /// One assignment request to backend-crew, as the `crew_assignments` table keeps it.
    ///
    /// A RELEASED row with a `next_attempt_at` still has its crew to give back to backend-crew
    /// (the release call is retried like an assignment).
    CrewAssignmentStatus {
        Requested => "REQUESTED",
        Assigned => "ASSIGNED",
        PendingRetry => "PENDING_RETRY",
        Failed => "FAILED",
        Released => "RELEASED",
    }
}

/// When to try backend-crew again, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrewRetryPolicy {
    /// Attempts in all (the first, synchronous one included) before the assignment FAILS.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for CrewRetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            first_delay: Duration::minutes(1),
            max_delay: Duration::hours(1),
        }
    }
}

impl CrewRetryPolicy {
    /// Whether `attempts` failed attempts exhaust the policy.
    #[must_use]
    pub const fn exhausted(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }

    /// The wait after the `attempts`-th failed attempt (1 = the first): `first_delay`,
    /// doubled per further failure, capped at `max_delay`.
    #[must_use]
    pub fn delay_after(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(20);
        self.first_delay
            .checked_mul(1 << doublings)
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// When the next attempt is due after the `attempts`-th failure at `now`.
    #[must_use]
    pub fn next_attempt_at(&self, attempts: u32, now: Timestamp) -> Timestamp {
        now + self.delay_after(attempts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_the_cap() {
        let policy = CrewRetryPolicy {
            max_attempts: 10,
            first_delay: Duration::seconds(30),
            max_delay: Duration::minutes(3),
        };
        let delays: Vec<_> = (1..=5)
            .map(|a| policy.delay_after(a).num_seconds())
            .collect();
        assert_eq!(delays, [30, 60, 120, 180, 180]);
        assert_eq!(policy.delay_after(u32::MAX), Duration::minutes(3));
    }

    #[test]
    fn exhausted_at_max_attempts() {
        let policy = CrewRetryPolicy::default();
        assert!(!policy.exhausted(4));
        assert!(policy.exhausted(5));
    }

    #[test]
    fn status_text_round_trips() {
        for s in CrewAssignmentStatus::ALL {
            assert_eq!(s.as_str().parse::<CrewAssignmentStatus>().unwrap(), *s);
        }
    }
}
