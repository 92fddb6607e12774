//! `loadtest <flash-sale|catalog|mixed> [options]`: see the library's documentation and
//! `docs/benchmarks.md`. Exit code 0 when every check passed, 1 when one failed, 2 for a bad
//! command line, 3 when the run could not be made (service unreachable, setup refused).

use std::io::Write as _;
use std::process::ExitCode;

use loadtest::report::{default_out_path, render_text, write_json};
use loadtest::{Command, Options, cli};

fn say(out: &mut impl std::io::Write, text: &str) {
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn main() -> ExitCode {
    let mut stderr = std::io::stderr();
    let options = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            say(&mut std::io::stdout(), cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            say(
                &mut stderr,
                &format!("loadtest: {message}\n\n{}", cli::USAGE),
            );
            return ExitCode::from(2);
        }
    };
    match execute(&options) {
        Ok(passed) => {
            if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(message) => {
            say(&mut stderr, &format!("loadtest: {message}\n"));
            ExitCode::from(3)
        }
    }
}

fn execute(options: &Options) -> Result<bool, String> {
    let mut builder = if options.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(options.threads);
        b
    };
    let runtime = builder
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    say(
        &mut std::io::stderr(),
        &format!(
            "loadtest {}: {} connections against {} for at most {:.1} s{}…\n",
            options.scenario.name(),
            options.connections,
            options.url,
            options.duration.as_secs_f64(),
            options
                .attempts
                .map(|a| format!(" or {a} booking attempts"))
                .unwrap_or_default()
        ),
    );
    let report = runtime.block_on(loadtest::run(options))?;
    let path = options
        .out
        .clone()
        .unwrap_or_else(|| default_out_path(options.scenario.name(), report.started_at));
    let mut text = render_text(&report);
    match write_json(&report, &path) {
        Ok(()) => text.push_str(&format!("JSON result: {}\n", path.display())),
        Err(e) => text.push_str(&format!(
            "JSON result NOT written to {}: {e}\n",
            path.display()
        )),
    }
    let mut stdout = std::io::stdout().lock();
    say(&mut stdout, &text);
    let _ = stdout.flush();
    Ok(report.passed)
}
