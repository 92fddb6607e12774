//! `loadtest`: the load generator of `docs/benchmarks.md`.
//!
//! Three scenarios against a running service, all through its REST API:
//! - `flash-sale`: creates and publishes `--events` events of `--seats` seats, then
//!   `--connections` workers book one seat each as a new user (a fresh UUID in the gateway's
//!   `X-User-Id`) until `--attempts` or `--duration` runs out; it reads the events back and
//!   checks that the `201` answers equal the seats taken, nothing is oversold, and every other
//!   answer is a `409` problem+json.
//! - `catalog`: guests read the first page of the catalog and event details (`--list-ratio`).
//! - `mixed`: a flash sale while `--read-connections` of the workers read the catalog.
//!
//! It prints throughput, latency percentiles and status counts and writes a JSON result;
//! with `--service-pid` it also samples the service's resident memory during the load.
//!
//! Choices, for a generator that shares two cores with the service and its database:
//! - HTTP: `hyper` 1's low-level HTTP/1.1 client (`hyper::client::conn::http1`) with one
//!   keep-alive connection per worker: no pool, no TLS, no middleware; request bodies are
//!   serialized once per event and only the `X-User-Id` header is made per request.
//! - Runtime: a current-thread tokio runtime by default (`--threads` for more).
//! - Latency: `hdrhistogram` (microseconds, 3 significant digits), one histogram per worker,
//!   merged at the end, so workers share no lock.
//! - A closed loop, like `wrk`: each worker sends its next request when the previous answer
//!   has arrived, so latencies are those of the requests sent (no coordinated-omission
//!   correction; the request rate is what the service sustains at that concurrency).
//! - Command line parsed by hand: no argument-parsing crate to compile for a dozen flags.
//! - `goose` was not taken: it brings its own HTTP stack (reqwest), a multi-threaded runtime
//!   and per-request bookkeeping far heavier than needed, and its checks are per request,
//!   while the flash-sale verdict compares the sum of answers with the state read back.

pub mod api;
pub mod checks;
pub mod cli;
pub mod client;
pub mod memory;
pub mod report;
pub mod run;
pub mod stats;

pub use cli::{Command, Options, Scenario};
pub use report::RunReport;
pub use run::run;
