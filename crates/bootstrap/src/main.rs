//! `backend-event [serve | migrate up|down [n]|status | seed-demo | jobs run NAME | jobs list | healthcheck | help | version]`

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    bootstrap::cli::main(&args)
}
