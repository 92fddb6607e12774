//! The command line: `serve` (default), `migrate up|down [n] [--yes]|status`, `check
//! [--repair]`, `seed-demo`, `jobs run <name>`, `jobs list`, `healthcheck`.

use std::process::ExitCode;

use anyhow::Context;

use crate::app::{self, Overrides};
use crate::config::Config;
use crate::{build, healthcheck, seed, telemetry};

const USAGE: &str = "\
backend-event — the event and booking service of AquaStream

USAGE:
    backend-event [COMMAND]

COMMANDS:
    serve                 run the HTTP API and the gRPC service (default)
    migrate up            apply pending database migrations
    migrate down [N] [--yes]
                          roll back the last N migrations (default 1); the prod profile
                          refuses without --yes
    migrate status        list migrations and whether they are applied
    check [--repair]      check the stored invariants (seats, promo uses, payments, outbox);
                          --repair sets the seat counts that can be derived; exit 0 when
                          consistent (or all repaired), 1 when problems remain, 2 on error
    backup --to FILE      SQLite: an online copy of the database into FILE (VACUUM INTO);
                          PostgreSQL: use scripts/backup.sh (pg_dump)
    seed-demo             add a few categories and published events
    jobs run NAME         run one scheduled job now (expire-bookings, complete-events, …)
    jobs list             list the jobs and their schedules
    healthcheck           ask the service running here whether it is ready (exit 0) or not (1)
    help                  print this text
    version               print the version

CONFIGURATION:
    config/default.toml, config/<profile>.toml (APP_PROFILE=dev|stage|prod|test, default dev)
    and the environment: APP__SERVER__PORT=8080, DATABASE_URL=postgres://…, …
    With no configuration the service uses ./data/backend-event.db (SQLite), the sandbox
    payment gateway and trusted X-User-Id / X-User-Role headers.";

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve,
    MigrateUp,
    /// Steps, and whether `--yes` confirmed it.
    MigrateDown(u32, bool),
    MigrateStatus,
    /// `check`, `check --repair`.
    Check(bool),
    /// `backup --to FILE` (SQLite).
    Backup(String),
    SeedDemo,
    JobsRun(String),
    JobsList,
    Healthcheck,
    Help,
    Version,
}

/// Parses the arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Command, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let ["migrate", "down", rest @ ..] = args.as_slice() {
        return parse_migrate_down(rest);
    }
    match args.as_slice() {
        [] | ["serve"] => Ok(Command::Serve),
        ["migrate", "up"] => Ok(Command::MigrateUp),
        ["migrate", "status"] => Ok(Command::MigrateStatus),
        ["migrate", ..] => Err("migrate: expected `up`, `down [N]` or `status`".to_owned()),
        ["check"] => Ok(Command::Check(false)),
        ["check", "--repair"] => Ok(Command::Check(true)),
        ["check", ..] => Err("check: expected nothing or `--repair`".to_owned()),
        ["backup", "--to", file] => Ok(Command::Backup((*file).to_owned())),
        ["backup", ..] => Err("backup: expected `--to FILE`".to_owned()),
        ["seed-demo"] => Ok(Command::SeedDemo),
        ["jobs", "run", name] => Ok(Command::JobsRun((*name).to_owned())),
        ["jobs", "list"] => Ok(Command::JobsList),
        ["jobs", ..] => Err("jobs: expected `run NAME` or `list`".to_owned()),
        ["healthcheck"] => Ok(Command::Healthcheck),
        ["help" | "--help" | "-h"] => Ok(Command::Help),
        ["version" | "--version" | "-V"] => Ok(Command::Version),
        [other, ..] => Err(format!("unknown command `{other}`")),
    }
}

/// `migrate down [N] [--yes]` (the flag anywhere after `down`).
fn parse_migrate_down(rest: &[&str]) -> Result<Command, String> {
    let yes = rest.contains(&"--yes");
    let steps: Vec<&str> = rest.iter().copied().filter(|a| *a != "--yes").collect();
    let n = match steps.as_slice() {
        [] => 1,
        [n] => n
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("migrate down: `{n}` is not a positive number"))?,
        _ => return Err("migrate down: expected `[N] [--yes]`".to_owned()),
    };
    Ok(Command::MigrateDown(n, yes))
}

/// Rolling back drops tables and their rows: on the prod profile only with `--yes`.
fn check_down_allowed(profile: &str, yes: bool) -> anyhow::Result<()> {
    if profile == "prod" && !yes {
        anyhow::bail!(
            "migrate down drops tables and their data; on the prod profile add --yes to confirm"
        );
    }
    Ok(())
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
pub fn main(args: &[String]) -> ExitCode {
    let command = match parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("backend-event {}", build::version());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(78); // EX_CONFIG
        }
    };
    if command == Command::Healthcheck {
        return check_health(&config);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // inside the runtime: the OTLP exporter's gRPC client lives there
    let _levels = {
        let _entered = runtime.enter();
        telemetry::init_with_traces(
            &config.logging.level,
            config.logging.format,
            telemetry::otlp_endpoint(&config.otel.endpoint).as_deref(),
        )
    };
    if let Command::Check(repair) = command {
        return runtime.block_on(check(&config, repair));
    }
    match runtime.block_on(run(command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "backend-event stopped with an error"
            );
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)]
async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(config).await,
        Command::MigrateUp => {
            let db = app::open_database(&config).await?;
            adapters_postgres::migrate_up(&db)
                .await
                .context("migrate up")?;
            println!("migrations applied");
            Ok(())
        }
        Command::MigrateDown(n, yes) => {
            check_down_allowed(&config.profile, yes)?;
            let db = app::open_database(&config).await?;
            adapters_postgres::migrate_down(&db, Some(n))
                .await
                .context("migrate down")?;
            println!("rolled back {n} migration(s)");
            Ok(())
        }
        Command::MigrateStatus => {
            let db = app::open_database(&config).await?;
            for m in adapters_postgres::migration_status(&db).await? {
                println!(
                    "{} {}",
                    if m.applied { "[applied]" } else { "[pending]" },
                    m.name
                );
            }
            Ok(())
        }
        Command::Backup(file) => {
            let db = app::open_database(&config).await?;
            adapters_postgres::backup_sqlite(&db, std::path::Path::new(&file))
                .await
                .context("backup")?;
            println!("{file}");
            Ok(())
        }
        Command::SeedDemo => {
            let db = app::open_database(&config).await?;
            adapters_postgres::migrate_up(&db)
                .await
                .context("migrate up")?;
            let services = app::services(&config, db, &Overrides::default())?;
            let report = seed::seed_demo(&services).await?;
            println!("{report}");
            Ok(())
        }
        Command::JobsRun(name) => {
            let db = app::open_database(&config).await?;
            if config.database.run_migrations {
                adapters_postgres::migrate_up(&db)
                    .await
                    .context("migrate up")?;
            }
            let services = app::services(&config, db, &Overrides::default())?;
            if !services.jobs.names().contains(&name.as_str()) {
                anyhow::bail!(
                    "unknown job `{name}`; the jobs are: {}",
                    services.jobs.names().join(", ")
                );
            }
            let report = services.jobs.run_scheduled(&name).await?;
            println!(
                "{} {} processed={} duration_ms={}{}",
                report.job,
                report.outcome_text(),
                report.processed(),
                report.duration.as_millis(),
                report
                    .error()
                    .map(|e| format!(" error={e}"))
                    .unwrap_or_default()
            );
            if report.error().is_some() {
                anyhow::bail!("job {name} failed");
            }
            Ok(())
        }
        Command::JobsList => {
            let db = app::open_database(&config).await?;
            let services = app::services(&config, db, &Overrides::default())?;
            for (name, schedule) in services.jobs.schedules() {
                println!("{name}\t{schedule}");
            }
            Ok(())
        }
        Command::Help | Command::Version | Command::Healthcheck | Command::Check(_) => Ok(()),
    }
}

/// `check [--repair]`: one line per finding on stdout, then a summary; exit 0 when nothing is
/// left (consistent, or everything found repaired), 1 when problems remain, 2 when the check
/// could not run.
#[allow(clippy::print_stdout, clippy::print_stderr)]
async fn check(config: &Config, repair: bool) -> ExitCode {
    let report = async {
        let db = app::open_database(config).await?;
        let services = app::services(config, db, &Overrides::default())?;
        services
            .consistency
            .check(repair)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
    .await;
    match report {
        Ok(report) => {
            for line in report.lines() {
                println!("{line}");
            }
            let problems = report.problems();
            match (problems, report.repaired.len()) {
                (0, 0) => println!("consistent"),
                (0, n) => println!("consistent after repairing {n} event(s)"),
                (p, n) => println!("{p} problem(s) left, {n} event(s) repaired"),
            }
            if problems == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: the consistency check could not run: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `healthcheck`: one readiness request to the service on this machine, no logging set up (a
/// container runtime runs it every few seconds).
#[allow(clippy::print_stdout, clippy::print_stderr)]
fn check_health(config: &Config) -> ExitCode {
    let (host, port) = healthcheck::target(config);
    let answer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
        .and_then(|runtime| runtime.block_on(healthcheck::probe(&host, port)));
    match answer {
        Ok(status) if (200..300).contains(&status) => {
            println!("ready: {status} from {host}:{port}{}", healthcheck::PATH);
            ExitCode::SUCCESS
        }
        Ok(status) => {
            eprintln!(
                "not ready: {status} from {host}:{port}{}",
                healthcheck::PATH
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("not ready: {host}:{port}{}: {e}", healthcheck::PATH);
            ExitCode::FAILURE
        }
    }
}

/// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish
/// (up to `server.shutdown_timeout_seconds`), stops the scheduler and the outbox relay (which
/// makes one last pass) and exits.
async fn serve(config: Config) -> anyhow::Result<()> {
    let running = app::start(&config, Overrides::default()).await?;
    tracing::info!(
        address = %running.http_addr,
        grpc_address = %running.grpc.addr,
        profile = %config.profile,
        database = %app::redact(&config.database_url()),
        "backend-event listening"
    );
    let handle = running.handle();
    let background = running.background;
    let server = tokio::spawn(running.server);
    shutdown_signal().await;
    tracing::info!("shutdown requested: finishing in-flight requests");
    let grace = std::time::Duration::from_secs(config.server.shutdown_timeout_seconds);
    let management = running.management.map(|m| m.handle);
    let stop_management = async {
        if let Some(management) = management {
            management.stop(true).await;
        }
    };
    let (_, grpc, ()) = tokio::join!(handle.stop(true), running.grpc.stop(grace), stop_management);
    let served = server.await.context("server task");
    background.shutdown().await;
    telemetry::flush_traces();
    served?.context("server")?;
    grpc?;
    tracing::info!("backend-event stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(parse(&args(&[])), Ok(Command::Serve));
        assert_eq!(parse(&args(&["serve"])), Ok(Command::Serve));
        assert_eq!(parse(&args(&["migrate", "up"])), Ok(Command::MigrateUp));
        assert_eq!(
            parse(&args(&["migrate", "down"])),
            Ok(Command::MigrateDown(1, false))
        );
        assert_eq!(
            parse(&args(&["migrate", "down", "3"])),
            Ok(Command::MigrateDown(3, false))
        );
        assert_eq!(
            parse(&args(&["migrate", "down", "--yes"])),
            Ok(Command::MigrateDown(1, true))
        );
        assert_eq!(
            parse(&args(&["migrate", "down", "2", "--yes"])),
            Ok(Command::MigrateDown(2, true))
        );
        assert_eq!(
            parse(&args(&["migrate", "status"])),
            Ok(Command::MigrateStatus)
        );
        assert_eq!(parse(&args(&["seed-demo"])), Ok(Command::SeedDemo));
        assert_eq!(parse(&args(&["check"])), Ok(Command::Check(false)));
        assert_eq!(
            parse(&args(&["backup", "--to", "x.db"])),
            Ok(Command::Backup("x.db".to_owned()))
        );
        assert_eq!(
            parse(&args(&["check", "--repair"])),
            Ok(Command::Check(true))
        );
        assert_eq!(
            parse(&args(&["jobs", "run", "complete-events"])),
            Ok(Command::JobsRun("complete-events".to_owned()))
        );
        assert_eq!(parse(&args(&["jobs", "list"])), Ok(Command::JobsList));
        assert_eq!(parse(&args(&["healthcheck"])), Ok(Command::Healthcheck));
    }

    #[test]
    fn refuses_bad_commands() {
        assert!(parse(&args(&["migrate", "down", "0"])).is_err());
        assert!(parse(&args(&["migrate", "down", "x"])).is_err());
        assert!(parse(&args(&["migrate", "down", "1", "2"])).is_err());
        assert!(parse(&args(&["migrate", "sideways"])).is_err());
        assert!(parse(&args(&["launch"])).is_err());
        assert!(parse(&args(&["check", "--fix"])).is_err());
        assert!(parse(&args(&["backup"])).is_err());
        assert!(parse(&args(&["jobs", "run"])).is_err());
        assert!(parse(&args(&["jobs", "stop", "x"])).is_err());
        assert!(parse(&args(&["healthcheck", "now"])).is_err());
    }

    #[test]
    fn prod_rolls_back_only_with_yes() {
        assert!(check_down_allowed("prod", false).is_err());
        assert!(check_down_allowed("prod", true).is_ok());
        assert!(check_down_allowed("stage", false).is_ok());
        assert!(check_down_allowed("dev", false).is_ok());
    }
}
