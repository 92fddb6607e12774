//! The long-running tasks beside the HTTP server: the outbox relay loop and the job scheduler.
//! Both stop when [`Background::shutdown`] is called; the relay then makes one last pass so
//! what was committed before the stop is not left waiting for the next start.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use application::services::{EventService, JobSchedule, JobService, OutboxRelay, ReadCache};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// How the relay loop paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayLoop {
    pub poll_interval: Duration,
    pub batch_size: u32,
    /// The longest wait between passes while the broker is down.
    pub max_backoff: Duration,
}

/// Handles of the running background tasks. Dropping it stops them too (without waiting).
#[derive(Debug)]
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Default for Background {
    fn default() -> Self {
        Self {
            stop: watch::channel(false).0,
            tasks: Vec::new(),
        }
    }
}

impl Background {
    /// Starts the relay loop.
    pub fn spawn_relay(&mut self, relay: OutboxRelay, pacing: RelayLoop) {
        let stop = self.stop.subscribe();
        self.tasks
            .push(tokio::spawn(relay_loop(relay, pacing, stop)));
    }

    /// Starts one timer per scheduled job.
    pub fn spawn_scheduler(&mut self, jobs: &JobService) -> anyhow::Result<()> {
        for (name, schedule) in jobs.schedules() {
            let timer = match schedule {
                JobSchedule::Every(interval) => Timer::Every(interval),
                JobSchedule::Cron(expr) => Timer::Cron(Box::new(
                    croner::Cron::from_str(&expr)
                        .map_err(|e| anyhow::anyhow!("job {name}: cron `{expr}`: {e}"))?,
                )),
                JobSchedule::Manual => continue,
            };
            let stop = self.stop.subscribe();
            self.tasks
                .push(tokio::spawn(job_loop(jobs.clone(), name, timer, stop)));
        }
        Ok(())
    }

    /// Runs job `name` whenever `kicks` is notified (a cancellation recorded refunds), so the
    /// work does not wait for the job's next scheduled run. Kicks that arrive while a run is
    /// going on are folded into one more run.
    pub fn spawn_kicked(&mut self, jobs: JobService, name: &str, kicks: Arc<Notify>) {
        let mut stop = self.stop.subscribe();
        let name = name.to_owned();
        self.tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = kicks.notified() => {}
                    _ = stop.changed() => break,
                }
                if let Err(e) = jobs.run_scheduled(&name).await {
                    tracing::warn!(job = %name, error = %e, "kicked job run could not start or be recorded");
                }
            }
        }));
    }

    /// Invalidates the cached views of events whose seat counts changed, every
    /// `cache.seat_flush_ms` (nothing to do when 0: they are invalidated at once).
    pub fn spawn_seat_flush(&mut self, cache: ReadCache) {
        let interval = cache.settings().seat_flush_interval;
        if interval.is_zero() {
            return;
        }
        let mut stop = self.stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            while pause(interval, &mut stop).await {
                cache.flush_seats().await;
            }
        }));
    }

    /// Writes the counted event views every `interval`, and once more when stopped.
    pub fn spawn_view_flush(&mut self, events: EventService, interval: Duration) {
        let mut stop = self.stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            loop {
                let go_on = pause(interval, &mut stop).await;
                if let Err(e) = events.flush_views().await {
                    tracing::warn!(error = %e, "event views could not be written; kept for the next flush");
                }
                if !go_on {
                    break;
                }
            }
        }));
    }

    /// Stops every task and waits for them (the relay's last pass included).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Waits `wait`; `false` when the stop came first.
async fn pause(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        _ = stop.changed() => false,
    }
}

async fn relay_loop(relay: OutboxRelay, pacing: RelayLoop, mut stop: watch::Receiver<bool>) {
    let mut backoff = pacing.poll_interval;
    loop {
        let wait = match relay.run_once(pacing.batch_size).await {
            Ok(report) if report.broker_unavailable => {
                backoff = (backoff * 2).min(pacing.max_backoff);
                backoff
            }
            Ok(report) => {
                backoff = pacing.poll_interval;
                // a full batch: more is probably waiting
                if report.published + report.failed >= u64::from(pacing.batch_size) {
                    Duration::ZERO
                } else {
                    pacing.poll_interval
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "outbox relay pass failed");
                backoff = (backoff * 2).min(pacing.max_backoff);
                backoff
            }
        };
        if !pause(wait, &mut stop).await {
            break;
        }
    }
    match relay.run_once(pacing.batch_size).await {
        Ok(report) => tracing::info!(
            published = report.published,
            failed = report.failed,
            "outbox relay stopped after a last pass"
        ),
        Err(e) => tracing::warn!(error = %e, "outbox relay's last pass failed"),
    }
}

enum Timer {
    Every(Duration),
    Cron(Box<croner::Cron>),
}

impl Timer {
    /// How long until the next run (wall clock: schedules are about real time, not the
    /// business clock).
    fn next_wait(&self) -> Duration {
        self.next_wait_from(chrono::Utc::now())
    }

    fn next_wait_from(&self, now: chrono::DateTime<chrono::Utc>) -> Duration {
        match self {
            Self::Every(interval) => *interval,
            Self::Cron(cron) => cron
                .find_next_occurrence(&now, false)
                .ok()
                .and_then(|next| (next - now).to_std().ok())
                .unwrap_or(Duration::from_secs(3600)),
        }
    }
}

async fn job_loop(jobs: JobService, name: String, timer: Timer, mut stop: watch::Receiver<bool>) {
    while pause(timer.next_wait(), &mut stop).await {
        if let Err(e) = jobs.run_scheduled(&name).await {
            tracing::warn!(job = %name, error = %e, "job run could not start or be recorded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hourly_cron_waits_until_the_next_full_hour() {
        use chrono::TimeZone;
        let timer = Timer::Cron(Box::new(croner::Cron::from_str("0 0 * * * *").unwrap()));
        let at = |h, m, s| chrono::Utc.with_ymd_and_hms(2027, 3, 1, h, m, s).unwrap();
        assert_eq!(
            timer.next_wait_from(at(10, 15, 30)),
            Duration::from_secs(44 * 60 + 30)
        );
        assert_eq!(timer.next_wait_from(at(10, 59, 59)), Duration::from_secs(1));
        // on the hour: the run of this hour is the one happening now, the next is in an hour
        assert_eq!(
            timer.next_wait_from(at(11, 0, 0)),
            Duration::from_secs(3600)
        );
        assert_eq!(
            Timer::Every(Duration::from_secs(5)).next_wait(),
            Duration::from_secs(5)
        );
    }
}
