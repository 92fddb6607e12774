//! GCRA (the generic cell rate algorithm), the arithmetic both limiters share: the in-process
//! one runs it here, the Redis one runs the same steps in one Lua script (`redis_limiter.rs`).
//!
//! The state of a key is its theoretical arrival time (`tat`, µs): when the allowance would be
//! whole again. A request is allowed while `tat + T − now ≤ T·limit` (T = `period / limit`), and
//! then moves `tat` forward by T. Time is in microseconds.

use std::time::Duration;

use ports::{RateDecision, RateLimit};

/// The result of one step: the decision and the key's new `tat` (`None` when refused, which
/// leaves the state as it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub decision: RateDecision,
    pub new_tat: Option<u64>,
}

/// One request at `now` for a key whose state is `tat` (`None`: never seen or expired).
#[must_use]
pub fn step(tat: Option<u64>, now: u64, limit: RateLimit) -> Step {
    step_n(tat, now, limit, 1)
}

/// `cost` requests at once (all or none): what a lease of `cost` tokens takes (`lease.rs`).
#[must_use]
pub fn step_n(tat: Option<u64>, now: u64, limit: RateLimit, cost: u32) -> Step {
    let emission = micros(limit.emission_interval()).max(1);
    let burst = emission.saturating_mul(u64::from(limit.limit.max(1)));
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat.saturating_add(emission.saturating_mul(u64::from(cost.max(1))));
    // allowed while new_tat − now ≤ burst
    let ahead = new_tat - now;
    if ahead > burst {
        return Step {
            decision: RateDecision {
                allowed: false,
                limit: limit.limit,
                remaining: 0,
                reset_after: from_micros(tat - now),
                retry_after: from_micros(ahead - burst),
            },
            new_tat: None,
        };
    }
    let remaining = (burst - ahead) / emission;
    Step {
        decision: RateDecision {
            allowed: true,
            limit: limit.limit,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_after: from_micros(ahead),
            retry_after: Duration::ZERO,
        },
        new_tat: Some(new_tat),
    }
}

#[must_use]
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[must_use]
pub const fn from_micros(us: u64) -> Duration {
    Duration::from_micros(us)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000_000;

    #[test]
    fn ten_a_minute_allows_ten_at_once_then_refuses_the_eleventh_for_six_seconds() {
        let limit = RateLimit::per_minute(10);
        let mut tat = None;
        let now = 1_000 * MINUTE;
        for i in 0..10 {
            let s = step(tat, now, limit);
            assert!(s.decision.allowed, "request {i}");
            assert_eq!(s.decision.remaining, 9 - i);
            tat = s.new_tat;
        }
        let refused = step(tat, now, limit);
        assert!(!refused.decision.allowed);
        assert_eq!(refused.new_tat, None);
        assert_eq!(refused.decision.retry_after, Duration::from_secs(6));
        assert_eq!(refused.decision.reset_after, Duration::from_secs(60));
        // six seconds later one request is allowed again, and only one
        let later = now + MINUTE / 10;
        let s = step(tat, later, limit);
        assert!(s.decision.allowed);
        assert_eq!(s.decision.remaining, 0);
        assert!(!step(s.new_tat, later, limit).decision.allowed);
    }

    #[test]
    fn an_idle_key_starts_whole_again() {
        let limit = RateLimit::per_minute(3);
        let s = step(Some(5 * MINUTE), 10 * MINUTE, limit);
        assert!(s.decision.allowed);
        assert_eq!(s.decision.remaining, 2);
    }
}
