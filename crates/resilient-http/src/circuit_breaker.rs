//! A small consecutive-failure circuit breaker for outbound calls (payment gateway, crew
//! service). It lives beside the retrying call that uses it, pure and I/O-free, so that every
//! outbound adapter shares one implementation without adapters depending on each other.
//!
//! Closed: calls pass; `threshold` failures in a row open it. Open: calls fail fast until the
//! cooldown has passed. Then one probe passes (half-open) while others still fail fast; the
//! probe's success closes the breaker, its failure opens it for another cooldown. Time is passed
//! in by the caller so the state machine is tested without sleeping.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct CircuitBreaker {
    /// What is called, for the log lines ("payment gateway", "crew service").
    name: &'static str,
    /// 0 disables the breaker.
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probe_in_flight: bool,
}

/// Leave to make one call; report its outcome with [`Permit::succeeded`] or [`Permit::failed`].
/// A permit dropped without an outcome (the call was cancelled) frees the probe slot.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    reported: bool,
}

impl CircuitBreaker {
    #[must_use]
    pub fn new(name: &'static str, threshold: u32, cooldown: Duration) -> Self {
        Self {
            name,
            threshold,
            cooldown,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A permit to call now, or `None` to fail fast.
    pub fn admit(&self, now: Instant) -> Option<Permit<'_>> {
        let mut state = self.lock();
        let probe = match state.open_until {
            None => false,
            Some(until) if now < until => return None,
            Some(_) if state.probe_in_flight => return None,
            Some(_) => {
                state.probe_in_flight = true;
                true
            }
        };
        Some(Permit {
            breaker: self,
            probe,
            reported: false,
        })
    }

    /// Whether calls currently fail fast (or wait for a probe's outcome).
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.lock().open_until.is_some()
    }
}

impl Permit<'_> {
    /// The dependency answered (whatever it answered): the breaker closes.
    pub fn succeeded(mut self) {
        self.reported = true;
        let mut state = self.breaker.lock();
        if state.open_until.is_some() {
            tracing::info!(dependency = self.breaker.name, "circuit closed");
        }
        *state = State::default();
    }

    /// The dependency was unavailable.
    pub fn failed(mut self, now: Instant) {
        self.reported = true;
        let breaker = self.breaker;
        let mut state = breaker.lock();
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        if self.probe {
            state.probe_in_flight = false;
        }
        let trips = breaker.threshold > 0
            && (self.probe || state.consecutive_failures >= breaker.threshold);
        if trips {
            state.open_until = Some(now + breaker.cooldown);
            tracing::warn!(
                dependency = breaker.name,
                failures = state.consecutive_failures,
                cooldown_ms = u64::try_from(breaker.cooldown.as_millis()).unwrap_or(u64::MAX),
                "circuit open"
            );
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported && self.probe {
            self.breaker.lock().probe_in_flight = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(30);

    fn fail(breaker: &CircuitBreaker, now: Instant) {
        breaker.admit(now).unwrap().failed(now);
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let breaker = CircuitBreaker::new("test", 3, COOLDOWN);
        let t0 = Instant::now();
        fail(&breaker, t0);
        fail(&breaker, t0);
        assert!(!breaker.is_open());
        assert!(breaker.admit(t0).is_some());
        fail(&breaker, t0);
        assert!(breaker.is_open());
        assert!(breaker.admit(t0).is_none());
        assert!(
            breaker
                .admit(t0 + COOLDOWN - Duration::from_millis(1))
                .is_none()
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = CircuitBreaker::new("test", 3, COOLDOWN);
        let t0 = Instant::now();
        fail(&breaker, t0);
        fail(&breaker, t0);
        breaker.admit(t0).unwrap().succeeded();
        fail(&breaker, t0);
        fail(&breaker, t0);
        assert!(!breaker.is_open());
    }

    #[test]
    fn after_the_cooldown_one_probe_passes_and_its_success_closes() {
        let breaker = CircuitBreaker::new("test", 1, COOLDOWN);
        let t0 = Instant::now();
        fail(&breaker, t0);
        let later = t0 + COOLDOWN;
        let probe = breaker.admit(later).unwrap();
        // Only one probe at a time.
        assert!(breaker.admit(later).is_none());
        probe.succeeded();
        assert!(!breaker.is_open());
        assert!(breaker.admit(later).is_some());
    }

    #[test]
    fn a_failed_probe_opens_for_another_cooldown() {
        let breaker = CircuitBreaker::new("test", 2, COOLDOWN);
        let t0 = Instant::now();
        fail(&breaker, t0);
        fail(&breaker, t0);
        let t1 = t0 + COOLDOWN;
        breaker.admit(t1).unwrap().failed(t1);
        assert!(breaker.admit(t1 + COOLDOWN / 2).is_none());
        assert!(breaker.admit(t1 + COOLDOWN).is_some());
    }

    #[test]
    fn a_cancelled_probe_frees_the_probe_slot() {
        let breaker = CircuitBreaker::new("test", 1, COOLDOWN);
        let t0 = Instant::now();
        fail(&breaker, t0);
        let later = t0 + COOLDOWN;
        drop(breaker.admit(later).unwrap());
        assert!(breaker.admit(later).is_some());
    }

    #[test]
    fn threshold_zero_never_opens() {
        let breaker = CircuitBreaker::new("test", 0, COOLDOWN);
        let t0 = Instant::now();
        for _ in 0..10 {
            fail(&breaker, t0);
        }
        assert!(breaker.admit(t0).is_some());
    }
}
