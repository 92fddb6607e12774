//! The `backend-event` binary. Wiring, configuration and the HTTP/gRPC servers arrive with the
//! bootstrap issue; until then the binary says so instead of pretending to serve.

use std::process::ExitCode;

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    eprintln!(
        "backend-event {}: the service is not yet runnable — this build contains the domain model \
         and the application ports only. Run the test suite with scripts/test.sh.",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
