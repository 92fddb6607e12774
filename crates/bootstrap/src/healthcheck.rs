//! `backend-event healthcheck`: asks this machine's running service whether it is ready —
//! `GET /actuator/health/readiness` on the management port when one is configured, else on the
//! HTTP port — and exits 0 on a 2xx answer, 1 otherwise. For container health checks where no
//! shell or curl exists (the distroless image of `deploy/Dockerfile`).
//!
//! One HTTP/1.1 request over a plain TCP connection; only the status line is read.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Config;

/// The path probed: 503 while a critical component (the database) is down.
pub const PATH: &str = "/actuator/health/readiness";

/// Connecting, sending and reading the status line together take at most this long.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// Where the service of `config` answers on this machine: a wildcard `server.host` is reached
/// over the loopback; the management port when set, else `server.port`.
#[must_use]
pub fn target(config: &Config) -> (String, u16) {
    let host = match config.server.host.trim() {
        "" | "0.0.0.0" => "127.0.0.1".to_owned(),
        "::" | "[::]" => "::1".to_owned(),
        other => other
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    };
    let port = if config.management.port == 0 {
        config.server.port
    } else {
        config.management.port
    };
    (host, port)
}

/// The HTTP status of `GET PATH` on `host:port`, or why there is none.
pub async fn probe(host: &str, port: u16) -> Result<u16, String> {
    tokio::time::timeout(TIMEOUT, request(host, port))
        .await
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
}

async fn request(host: &str, port: u16) -> Result<u16, String> {
    let mut stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let request = format!(
        "GET {PATH} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: backend-event-healthcheck\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0_u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    status_of(&head)
}

/// The status code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
fn status_of(head: &[u8]) -> Result<u16, String> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => code
            .parse::<u16>()
            .map_err(|_| format!("not an HTTP status line: `{}`", line.trim())),
        _ => Err(format!("not an HTTP answer: `{}`", line.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_of_the_status_line() {
        assert_eq!(
            status_of(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n"),
            Ok(200)
        );
        assert_eq!(status_of(b"HTTP/1.1 503 Service Unavailable\r\n"), Ok(503));
        assert!(status_of(b"SSH-2.0-OpenSSH_9.2\r\n").is_err());
        assert!(status_of(b"HTTP/1.1 abc\r\n").is_err());
        assert!(status_of(b"").is_err());
    }

    #[test]
    fn probes_the_loopback_and_prefers_the_management_port() {
        let mut config = Config::load_from(&crate::config::MapEnv::default(), None).unwrap();
        assert_eq!(target(&config), ("127.0.0.1".to_owned(), 8102));
        config.server.host = "::".to_owned();
        config.management.port = 9190;
        assert_eq!(target(&config), ("::1".to_owned(), 9190));
        config.server.host = "10.1.2.3".to_owned();
        assert_eq!(target(&config).0, "10.1.2.3");
    }
}
