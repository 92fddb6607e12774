//! Redis-backed adapters: shared cache and distributed rate limiter.
