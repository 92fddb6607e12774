//! One HTTP/1.1 keep-alive connection per worker, on hyper's low-level client
//! (`hyper::client::conn::http1`): no pool, no per-request allocation beyond the request
//! itself, so the generator leaves the CPU to the service it measures.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The service: where to connect and what to put in `Host` and before every path.
#[derive(Debug, Clone)]
pub struct Target {
    host: String,
    port: u16,
    authority: HeaderValue,
    /// A path prefix from the URL, without a trailing slash (usually empty).
    prefix: String,
}

impl Target {
    /// Parses `http://host[:port][/prefix]`.
    ///
    /// # Errors
    /// A readable message for another scheme or a URL without a host.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("--url: `{url}` is not a URL ({e})"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "--url: only http:// is supported (got {other}://); the generator talks to the service directly"
                ));
            }
            None => return Err(format!("--url: `{url}` has no scheme (http://…)")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("--url: `{url}` has no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = authority.port_u16().unwrap_or(80);
        Ok(Self {
            host,
            port,
            authority: HeaderValue::from_str(authority.as_str())
                .map_err(|_| format!("--url: `{url}` has an invalid host"))?,
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// A request to `path` (absolute, e.g. `/api/v1/events`) with `Host` set.
    ///
    /// # Errors
    /// When `path` is not a valid request target.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<Bytes>,
    ) -> Result<Request<Full<Bytes>>, String> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header(HOST, self.authority.clone());
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let body = match body {
            Some(b) => {
                builder =
                    builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                b
            }
            None => Bytes::new(),
        };
        builder
            .body(Full::new(body))
            .map_err(|e| format!("bad request to {path}: {e}"))
    }
}

/// An answer, read to its end (so the connection can carry the next request).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The TCP connection or the HTTP handshake failed.
    Connect(String),
    /// No complete answer within the timeout.
    Timeout,
    /// The connection broke while the request was under way.
    Transport(String),
}

impl Failure {
    /// A short stable key for counting failures.
    #[must_use]
    pub fn key(&self) -> String {
        match self {
            Self::Connect(m) => format!("connect: {m}"),
            Self::Timeout => "timeout".to_owned(),
            Self::Transport(m) => format!("transport: {m}"),
        }
    }
}

/// A worker's connection; reconnects after a failure or when the service closed it.
#[derive(Debug)]
pub struct Connection {
    target: Arc<Target>,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections opened, the first included.
    pub opened: u64,
}

impl Connection {
    #[must_use]
    pub const fn new(target: Arc<Target>, timeout: Duration) -> Self {
        Self {
            target,
            timeout,
            sender: None,
            opened: 0,
        }
    }

    #[must_use]
    pub fn target(&self) -> &Target {
        &self.target
    }

    async fn open(&mut self) -> Result<(), Failure> {
        let stream = TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .map_err(|e| Failure::Connect(e.to_string()))?;
        stream
            .set_nodelay(true)
            .map_err(|e| Failure::Connect(e.to_string()))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::Connect(e.to_string()))?;
        // Ends when the sender is dropped or the service closes the connection.
        tokio::spawn(async move {
            let _closed = connection.await;
        });
        self.sender = Some(sender);
        self.opened += 1;
        Ok(())
    }

    /// Sends one request and reads the whole answer, within the timeout (connecting included).
    ///
    /// # Errors
    /// A [`Failure`]; the connection is dropped and the next request opens a new one.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<Reply, Failure> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.exchange(request)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(failure)) => {
                self.sender = None;
                Err(failure)
            }
            Err(_elapsed) => {
                self.sender = None;
                Err(Failure::Timeout)
            }
        }
    }

    async fn exchange(&mut self, request: Request<Full<Bytes>>) -> Result<Reply, Failure> {
        // A kept-alive connection the service has closed meanwhile is renewed before the
        // request is sent, so that case is no failure.
        let usable = match self.sender.as_mut() {
            Some(sender) if !sender.is_closed() => sender.ready().await.is_ok(),
            _ => false,
        };
        if !usable {
            self.open().await?;
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err(Failure::Connect("no connection".to_owned()));
        };
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?
            .to_bytes();
        Ok(Reply {
            status: parts.status.as_u16(),
            content_type: parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn targets_parse_with_port_prefix_and_default_port() {
        let t = Target::parse("http://127.0.0.1:8102").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.prefix.as_str()),
            ("127.0.0.1", 8102, "")
        );
        let t = Target::parse("http://localhost/base/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.prefix.as_str()),
            ("localhost", 80, "/base")
        );
        let r = t.request(Method::GET, "/api/v1/events", &[], None).unwrap();
        assert_eq!(r.uri(), "/base/api/v1/events");
        assert_eq!(r.headers()[HOST], "localhost");
        let t = Target::parse("http://[::1]:9000").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9000));
    }

    #[test]
    fn other_schemes_and_hostless_urls_are_refused() {
        assert!(
            Target::parse("https://example.test")
                .unwrap_err()
                .contains("http://")
        );
        assert!(Target::parse("/api").unwrap_err().contains("no scheme"));
        assert!(Target::parse("not a url").is_err());
    }

    #[test]
    fn a_body_gets_the_json_content_type() {
        let t = Target::parse("http://127.0.0.1:1").unwrap();
        let r = t
            .request(Method::POST, "/x", &[], Some(Bytes::from_static(b"{}")))
            .unwrap();
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    }
}
