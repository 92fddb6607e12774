//! Where the test Redis is, a fresh key prefix per test, and a TCP proxy that can cut Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use adapters_redis::{RedisClient, RedisConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// `host:port` of a `redis://` URL.
fn address(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// The Redis config of one test, or `None` (SKIPPED) when no Redis answers.
pub fn config(test: &str) -> Option<RedisConfig> {
    let url = redis_url();
    if std::net::TcpStream::connect_timeout(
        &address(&url).parse().expect("TEST_REDIS_URL host:port"),
        Duration::from_secs(1),
    )
    .is_err()
    {
        assert!(
            !std::env::var("EVENT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1"),
            "Redis at {url} is required but does not answer"
        );
        eprintln!("SKIPPED (no Redis at {url})");
        return None;
    }
    let mut config = RedisConfig::new(url);
    config.key_prefix = format!("test:{test}:{}:", uuid::Uuid::new_v4().simple());
    Some(config)
}

pub fn client(config: &RedisConfig) -> Arc<RedisClient> {
    Arc::new(RedisClient::new(config).unwrap())
}

/// A TCP proxy in front of Redis that the test can cut (every connection closed, new ones
/// refused) and restore.
pub struct Proxy {
    pub url: String,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target_url: &str) -> Self {
        let target = address(target_url);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (up, links) = (Arc::clone(&up), Arc::clone(&links));
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let target = target.clone();
                    links.lock().await.push(tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    }));
                }
            })
        };
        Self {
            url: format!("redis://127.0.0.1:{port}"),
            up,
            links,
            _accept: accept,
        }
    }

    pub async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
