//! The command line: `loadtest <scenario> [options]`, parsed by hand (a dozen flags do not
//! need an argument-parsing crate on a two-core build machine).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// New users book one seat each of freshly created events; the sale is checked after.
    FlashSale,
    /// Guests read the catalog: the first page of the list and event details.
    Catalog,
    /// A flash sale while guests read the catalog.
    Mixed,
}

impl Scenario {
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::FlashSale => "flash-sale",
            Self::Catalog => "catalog",
            Self::Mixed => "mixed",
        }
    }

    const fn books(self) -> bool {
        matches!(self, Self::FlashSale | Self::Mixed)
    }

    const fn reads(self) -> bool {
        matches!(self, Self::Catalog | Self::Mixed)
    }
}

/// How long a run lasts when only `--attempts` bounds it: a safety cap, so that a slow service
/// never keeps the generator running unattended.
pub const ATTEMPTS_TIME_CAP: Duration = Duration::from_secs(600);
/// How long a run lasts when neither `--duration` nor `--attempts` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// The organizer that creates the events of a run (any UUID works; this one is recognisable).
pub const DEFAULT_ORGANIZER: Uuid = Uuid::from_u128(0x6c6f_6164_7465_4000_8000_0000_0000_0001);

/// Every option of a run, as parsed and defaulted; written into the JSON result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Options {
    pub scenario: Scenario,
    /// The service's base URL (`http://host:port`, optionally with a path prefix).
    pub url: String,
    /// Concurrent workers, one keep-alive connection each.
    pub connections: usize,
    /// Of `connections`, how many read the catalog in `mixed` (the rest book).
    pub read_connections: usize,
    /// The run stops after this long...
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// ...or after this many booking requests (flash-sale and mixed), whichever comes first.
    pub attempts: Option<u64>,
    /// Flash-sale events, the booking load spread evenly over them.
    pub events: usize,
    /// Capacity of each flash-sale event.
    pub seats: u32,
    /// Price of each flash-sale event ("0" with `--free`).
    pub price: String,
    /// Published events the catalog readers read.
    pub published: usize,
    /// Reuse the published events already in the catalog instead of creating `published` new.
    pub reuse: bool,
    /// Share of catalog reads that list the first page (the rest read one event's details).
    pub list_ratio: f64,
    /// Tokio worker threads of the generator (1 = a current-thread runtime).
    pub threads: usize,
    /// One request's limit; a request over it counts as an error and its connection is renewed.
    #[serde(serialize_with = "seconds")]
    pub timeout: Duration,
    /// The organizer (`X-User-Id`, role ORGANIZER) that creates the events.
    pub organizer: Uuid,
    /// Where the JSON result goes (default `target/loadtest/<scenario>-<timestamp>.json`).
    pub out: Option<PathBuf>,
    /// The service's process id: its resident memory is sampled during the load (Linux).
    pub service_pid: Option<u32>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Options {
    /// The defaults of `scenario`.
    #[must_use]
    pub fn new(scenario: Scenario) -> Self {
        Self {
            scenario,
            url: "http://127.0.0.1:8102".to_owned(),
            connections: 64,
            read_connections: 32,
            duration: DEFAULT_DURATION,
            attempts: None,
            events: 1,
            seats: 100_000,
            price: "10.00".to_owned(),
            published: 200,
            reuse: false,
            list_ratio: 0.2,
            threads: 1,
            timeout: Duration::from_secs(10),
            organizer: DEFAULT_ORGANIZER,
            out: None,
            service_pid: None,
        }
    }

    /// Connections that book (0 for `catalog`).
    #[must_use]
    pub const fn booking_connections(&self) -> usize {
        match self.scenario {
            Scenario::FlashSale => self.connections,
            Scenario::Catalog => 0,
            Scenario::Mixed => self.connections - self.read_connections,
        }
    }

    /// Connections that read the catalog (0 for `flash-sale`).
    #[must_use]
    pub const fn reading_connections(&self) -> usize {
        match self.scenario {
            Scenario::FlashSale => 0,
            Scenario::Catalog => self.connections,
            Scenario::Mixed => self.read_connections,
        }
    }

    /// Whether the run books / reads.
    #[must_use]
    pub const fn books(&self) -> bool {
        self.scenario.books()
    }

    #[must_use]
    pub const fn reads(&self) -> bool {
        self.scenario.reads()
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(Box<Options>),
    Help,
}

pub const USAGE: &str = "\
loadtest: load generator for backend-event (see docs/benchmarks.md)

USAGE:
    loadtest <flash-sale|catalog|mixed> [options]

COMMON OPTIONS:
    --url URL               base URL of the service          [http://127.0.0.1:8102]
    --connections C         concurrent workers, one connection each            [64]
    --duration D            stop after D (\"30\", \"30s\", \"500ms\", \"2m\")
                            [10s; 600s as a cap when only --attempts is given]
    --threads N             generator threads (1 = current-thread runtime)      [1]
    --timeout D             per-request limit                                  [10s]
    --organizer UUID        X-User-Id of the organizer that creates the events
    --out PATH              JSON result [target/loadtest/<scenario>-<timestamp>.json]
    --service-pid PID       sample the service's resident memory during the load

FLASH-SALE (and mixed):
    --attempts A            stop after A booking requests
    --events N              events, the load spread over them                   [1]
    --seats S               capacity of each event                         [100000]
    --price P               price of each event                             [10.00]
    --free                  price 0

CATALOG (and mixed):
    --published N           published events to read                          [200]
    --reuse                 reuse published events already in the catalog
    --list-ratio R          share of reads that list the first page (0..1)    [0.2]
    --read-connections R    mixed: connections that read (the rest book)     [C/2]
";

/// Parses the arguments after the program name.
///
/// # Errors
/// A readable message for an unknown scenario or option, a missing or malformed value, or
/// options that contradict each other.
pub fn parse<I, S>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    let Some(first) = args.next() else {
        return Err("a scenario is required: flash-sale, catalog or mixed".to_owned());
    };
    let scenario = match first.as_str() {
        "flash-sale" => Scenario::FlashSale,
        "catalog" => Scenario::Catalog,
        "mixed" => Scenario::Mixed,
        "-h" | "--help" | "help" => return Ok(Command::Help),
        other => {
            return Err(format!(
                "unknown scenario `{other}` (expected flash-sale, catalog or mixed)"
            ));
        }
    };
    let mut o = Options::new(scenario);
    let mut duration = None;
    let mut read_connections = None;
    let mut free = false;
    let mut price = None;
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value ({what})"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--url" => o.url = value("a URL")?.trim_end_matches('/').to_owned(),
            "--connections" | "-c" => o.connections = positive(&name, &value("a count")?)?,
            "--read-connections" => {
                read_connections = Some(number::<usize>(&name, &value("a count")?)?);
            }
            "--duration" | "-d" => duration = Some(parse_duration(&name, &value("a duration")?)?),
            "--attempts" => o.attempts = Some(positive(&name, &value("a count")?)?),
            "--events" => o.events = positive(&name, &value("a count")?)?,
            "--seats" => o.seats = positive(&name, &value("a count")?)?,
            "--price" => price = Some(value("an amount")?),
            "--free" => free = true,
            "--published" => o.published = positive(&name, &value("a count")?)?,
            "--reuse" => o.reuse = true,
            "--list-ratio" => {
                let r: f64 = number(&name, &value("a share from 0 to 1")?)?;
                if !(0.0..=1.0).contains(&r) {
                    return Err(format!("{name}: {r} is not between 0 and 1"));
                }
                o.list_ratio = r;
            }
            "--threads" => o.threads = positive(&name, &value("a count")?)?,
            "--timeout" => o.timeout = parse_duration(&name, &value("a duration")?)?,
            "--organizer" => {
                let v = value("a UUID")?;
                o.organizer =
                    Uuid::parse_str(&v).map_err(|_| format!("{name}: `{v}` is not a UUID"))?;
            }
            "--out" => o.out = Some(PathBuf::from(value("a path")?)),
            "--service-pid" => o.service_pid = Some(positive(&name, &value("a process id")?)?),
            other => return Err(format!("unknown option `{other}`")),
        }
        if inline.is_some() && matches!(name.as_str(), "--free" | "--reuse") {
            return Err(format!("{name} takes no value"));
        }
    }
    match (free, price) {
        (true, Some(_)) => return Err("--free and --price contradict each other".to_owned()),
        (true, None) => o.price = "0".to_owned(),
        (false, Some(p)) => o.price = p,
        (false, None) => {}
    }
    o.duration = match (duration, o.attempts) {
        (Some(d), _) => d,
        (None, Some(_)) if o.books() => ATTEMPTS_TIME_CAP,
        (None, _) => DEFAULT_DURATION,
    };
    if o.attempts.is_some() && !o.books() {
        return Err("--attempts counts booking requests: flash-sale or mixed only".to_owned());
    }
    o.read_connections = match (o.scenario, read_connections) {
        (Scenario::Mixed, Some(r)) if r == 0 || r >= o.connections => {
            return Err(format!(
                "--read-connections must leave both readers and bookers: 1 to {}",
                o.connections.saturating_sub(1)
            ));
        }
        (Scenario::Mixed, Some(r)) => r,
        (Scenario::Mixed, None) if o.connections < 2 => {
            return Err("mixed needs at least 2 connections (readers and bookers)".to_owned());
        }
        (Scenario::Mixed, None) => o.connections / 2,
        (_, Some(_)) => return Err("--read-connections applies to mixed only".to_owned()),
        (_, None) => 0,
    };
    Ok(Command::Run(Box::new(o)))
}

fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{name}: `{v}` is not a number"))
}

fn positive<T: std::str::FromStr + Default + PartialOrd>(name: &str, v: &str) -> Result<T, String> {
    let n: T = number(name, v)?;
    if n <= T::default() {
        return Err(format!("{name}: must be at least 1"));
    }
    Ok(n)
}

/// `30`, `30s`, `1.5s`, `500ms`, `2m`: a positive duration.
///
/// # Errors
/// A readable message naming the option.
pub fn parse_duration(name: &str, v: &str) -> Result<Duration, String> {
    let t = v.trim();
    let (number_part, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let n: f64 = number_part
        .trim()
        .parse()
        .map_err(|_| format!("{name}: `{v}` is not a duration (e.g. 30, 30s, 500ms, 2m)"))?;
    if !n.is_finite() || n <= 0.0 {
        return Err(format!("{name}: must be positive"));
    }
    Duration::try_from_secs_f64(n * scale).map_err(|_| format!("{name}: `{v}` is out of range"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse(args.iter().copied()).unwrap() {
            Command::Run(o) => *o,
            Command::Help => panic!("help"),
        }
    }

    #[test]
    fn defaults_of_a_flash_sale() {
        let o = run(&["flash-sale"]);
        assert_eq!(o.url, "http://127.0.0.1:8102");
        assert_eq!(o.connections, 64);
        assert_eq!(o.booking_connections(), 64);
        assert_eq!(o.reading_connections(), 0);
        assert_eq!(o.duration, DEFAULT_DURATION);
        assert_eq!(o.price, "10.00");
        assert_eq!(o.events, 1);
    }

    #[test]
    fn attempts_alone_get_the_time_cap_and_both_forms_of_values_parse() {
        let o = run(&[
            "flash-sale",
            "--attempts",
            "10000",
            "--seats=2000",
            "--free",
            "--url",
            "http://localhost:9000/",
            "-c",
            "8",
            "--service-pid",
            "4242",
        ]);
        assert_eq!(o.attempts, Some(10_000));
        assert_eq!(o.duration, ATTEMPTS_TIME_CAP);
        assert_eq!(o.seats, 2000);
        assert_eq!(o.price, "0");
        assert_eq!(o.url, "http://localhost:9000");
        assert_eq!(o.connections, 8);
        assert_eq!(o.service_pid, Some(4242));
    }

    #[test]
    fn mixed_splits_the_connections() {
        let o = run(&["mixed", "--connections", "10"]);
        assert_eq!((o.reading_connections(), o.booking_connections()), (5, 5));
        let o = run(&["mixed", "--connections", "10", "--read-connections", "3"]);
        assert_eq!((o.reading_connections(), o.booking_connections()), (3, 7));
    }

    #[test]
    fn contradictions_and_typos_are_refused_with_the_option_named() {
        let err = |args: &[&str]| parse(args.iter().copied()).unwrap_err();
        assert!(err(&["flash-sale", "--free", "--price", "5"]).contains("--free"));
        assert!(err(&["catalog", "--attempts", "5"]).contains("--attempts"));
        assert!(err(&["mixed", "-c", "4", "--read-connections", "4"]).contains("1 to 3"));
        assert!(err(&["flash-sale", "--read-connections", "4"]).contains("mixed only"));
        assert!(err(&["flash-sale", "--seats", "0"]).contains("--seats"));
        assert!(err(&["flash-sale", "--seats"]).contains("needs a value"));
        assert!(err(&["flash-sale", "--sets", "5"]).contains("--sets"));
        assert!(err(&["catalog", "--list-ratio", "1.5"]).contains("between 0 and 1"));
        assert!(err(&["flash-sale", "--free=yes"]).contains("no value"));
        assert!(err(&["launch"]).contains("unknown scenario"));
        assert!(err(&[]).contains("scenario is required"));
        assert_eq!(parse(["catalog", "--help"]).unwrap(), Command::Help);
    }

    #[test]
    fn durations_take_units() {
        let d = |v| parse_duration("--duration", v);
        assert_eq!(d("30").unwrap(), Duration::from_secs(30));
        assert_eq!(d("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(d("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(d("2m").unwrap(), Duration::from_secs(120));
        assert!(d("0").is_err());
        assert!(d("-1s").is_err());
        assert!(d("soon").is_err());
    }
}
