//! The `diskSpace` health component of the embedded SQLite default: the free bytes of the
//! volume holding the database file (what an unprivileged process may still write), DOWN below
//! `management.disk_space_threshold_mb`. Not critical: readiness follows the database itself.

use std::path::{Path, PathBuf};
use std::time::Instant;

use application::ports::{ComponentHealth, HealthIndicator};

/// Free space of the directory holding the SQLite file.
#[derive(Debug, Clone)]
pub struct DiskSpaceHealth {
    directory: PathBuf,
    threshold_bytes: u64,
}

impl DiskSpaceHealth {
    /// `sqlite_path` is the database file (it need not exist yet); its directory is checked.
    #[must_use]
    pub fn new(sqlite_path: &str, threshold_bytes: u64) -> Self {
        let directory = Path::new(sqlite_path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Self {
            directory,
            threshold_bytes,
        }
    }
}

/// The file of a SQLite database URL (`sqlite://data/x.db?mode=rwc`, `sqlite:x.db`); `None`
/// for another database or an in-memory one.
#[must_use]
pub fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:") && !url.contains("mode=memory"))
        .then_some(path)
}

/// Bytes an unprivileged process may still write on the volume of `directory`.
fn free_bytes(directory: &Path) -> Result<u64, String> {
    let stats =
        rustix::fs::statvfs(directory).map_err(|e| format!("{}: {e}", directory.display()))?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

#[async_trait::async_trait]
impl HealthIndicator for DiskSpaceHealth {
    fn name(&self) -> &str {
        "diskSpace"
    }

    fn critical(&self) -> bool {
        false
    }

    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        let (up, detail) = match free_bytes(&self.directory) {
            Ok(free) => (
                free >= self.threshold_bytes,
                format!(
                    "{}: {free} bytes free, threshold {}",
                    self.directory.display(),
                    self.threshold_bytes
                ),
            ),
            Err(e) => (false, e),
        };
        ComponentHealth {
            up,
            latency: started.elapsed(),
            detail: Some(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_of_a_sqlite_url() {
        assert_eq!(
            sqlite_file("sqlite://./data/backend-event.db?mode=rwc"),
            Some("./data/backend-event.db")
        );
        assert_eq!(sqlite_file("sqlite:///tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_file("sqlite:x.db"), Some("x.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://file.db?mode=memory"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    #[tokio::test]
    async fn down_below_the_threshold_up_above_it() {
        let dir = std::env::temp_dir();
        let file = dir.join("backend-event.db");
        let free = free_bytes(&dir).unwrap();
        assert!(free > 0);
        let health = DiskSpaceHealth::new(file.to_str().unwrap(), 1)
            .check()
            .await;
        assert!(health.up, "{:?}", health.detail);
        assert!(health.detail.unwrap().contains("bytes free"));
        let health = DiskSpaceHealth::new(file.to_str().unwrap(), u64::MAX)
            .check()
            .await;
        assert!(!health.up);
        // a file name alone is in the working directory
        assert_eq!(
            DiskSpaceHealth::new("events.db", 1).directory,
            PathBuf::from(".")
        );
        // a directory that does not exist is DOWN, with the reason
        let health = DiskSpaceHealth::new("/nonexistent-dir/x/events.db", 1)
            .check()
            .await;
        assert!(!health.up);
        assert!(health.detail.unwrap().contains("nonexistent-dir"));
    }
}
