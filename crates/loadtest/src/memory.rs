//! `--service-pid`: the service's resident memory, sampled from `/proc/<pid>/status` (Linux)
//! while the load runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

/// How often the memory is sampled.
const INTERVAL: Duration = Duration::from_millis(200);

/// The service's memory during the load, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceMemory {
    pub pid: u32,
    pub samples: u64,
    /// The largest `VmRSS` sampled during the load.
    pub rss_max_kib: u64,
    /// `VmRSS` at the last sample.
    pub rss_last_kib: u64,
    /// `VmHWM`: the peak since the process started (setup and earlier runs included).
    pub hwm_kib: u64,
}

/// `VmRSS` and `VmHWM` (KiB) of a `/proc/<pid>/status` text.
#[must_use]
pub fn parse_status(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn read(pid: u32) -> Result<(u64, u64), String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("--service-pid: cannot read {path} ({e})"))?;
    parse_status(&text).ok_or_else(|| format!("--service-pid: no VmRSS/VmHWM in {path}"))
}

/// Samples `pid` until stopped.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    task: JoinHandle<ServiceMemory>,
}

impl Sampler {
    /// Starts sampling; fails at once when the process cannot be read.
    ///
    /// # Errors
    /// No such process, or no `/proc` (not Linux).
    pub fn start(pid: u32) -> Result<Self, String> {
        let (rss, hwm) = read(pid)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut memory = ServiceMemory {
                pid,
                samples: 1,
                rss_max_kib: rss,
                rss_last_kib: rss,
                hwm_kib: hwm,
            };
            while !flag.load(Ordering::Relaxed) {
                tokio::time::sleep(INTERVAL).await;
                // The service may have exited: the samples so far stand.
                let Ok((rss, hwm)) = read(pid) else { break };
                memory.samples += 1;
                memory.rss_max_kib = memory.rss_max_kib.max(rss);
                memory.rss_last_kib = rss;
                memory.hwm_kib = hwm;
            }
            memory
        });
        Ok(Self { stop, task })
    }

    /// Stops sampling and answers what was seen.
    ///
    /// # Errors
    /// When the sampling task died.
    pub async fn finish(self) -> Result<ServiceMemory, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.task
            .await
            .map_err(|e| format!("the memory sampler stopped abnormally: {e}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rss_and_peak_are_read_from_the_status_text() {
        let text = "Name:\tbackend-event\nVmPeak:\t  900000 kB\nVmHWM:\t   70292 kB\nVmRSS:\t   61234 kB\n";
        assert_eq!(parse_status(text), Some((61_234, 70_292)));
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[tokio::test]
    async fn this_process_can_be_sampled_and_a_missing_one_is_refused() {
        let sampler = Sampler::start(std::process::id()).unwrap();
        let memory = sampler.finish().await.unwrap();
        assert!(memory.samples >= 1);
        assert!(memory.rss_max_kib > 0 && memory.rss_max_kib >= memory.rss_last_kib);
        assert!(Sampler::start(u32::MAX).unwrap_err().contains("/proc/"));
    }
}
