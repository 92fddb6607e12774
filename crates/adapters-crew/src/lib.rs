//! CrewDirectory over HTTP (backend-crew) with timeout, retry and circuit breaker.
